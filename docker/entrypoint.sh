#!/bin/sh
# The app container: wait for the database, apply the schema as its owner, load the sample when
# nothing is stored (as the loader), then serve the dashboard. A command given instead runs as the
# loader, without the sample: `docker compose run --rm app python -m core ingest /drop/trips.csv.gz`.
set -eu

: "${DATABASE_URL:?DATABASE_URL (the owner of the schema) is required}"
LOADER_DATABASE_URL="${LOADER_DATABASE_URL:-$DATABASE_URL}"

echo "entrypoint: waiting for the database" >&2
python - <<'PY'
import sys, time
import psycopg2
from core.db import psycopg_dsn

deadline = time.monotonic() + 120
while True:
    try:
        psycopg2.connect(psycopg_dsn(), connect_timeout=3).close()
        break
    except psycopg2.OperationalError as e:
        if time.monotonic() > deadline:
            sys.exit(f"entrypoint: the database is not reachable: {e}")
        time.sleep(2)
PY

python -m core migrate

if [ "$#" -gt 0 ]; then
  DATABASE_URL="$LOADER_DATABASE_URL" exec "$@"
fi
if [ "${TRIPS_LOAD_SAMPLE:-true}" = "true" ]; then
  DATABASE_URL="$LOADER_DATABASE_URL" python -m core load-sample-if-empty data/trips.csv
fi
exec streamlit run dashboard/app.py --server.port 8501 --server.address 0.0.0.0
