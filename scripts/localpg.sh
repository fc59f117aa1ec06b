#!/usr/bin/env bash
# The project's own PostgreSQL 15 + PostGIS cluster, under .pgdata/ (git-ignored).
# Listens only on a Unix socket in .pgdata/run, so it never clashes with another server's port.
#   scripts/localpg.sh start   install PostGIS if missing, initdb once, start (idempotent)
#   scripts/localpg.sh stop    stop the cluster
#   scripts/localpg.sh url     print the DATABASE_URL of this cluster
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="$ROOT/.pgdata/data"
RUN="$ROOT/.pgdata/run"
LOG="$ROOT/.pgdata/server.log"
DB=trips

need_packages() {
  local bindir
  bindir=$(pg_config --bindir 2>/dev/null || true)
  [ -x /usr/lib/postgresql/15/bin/initdb ] || return 0
  [ -f /usr/share/postgresql/15/extension/postgis.control ] || return 0
  return 1
}

install_packages() {
  echo "localpg: installing postgresql-15 and postgresql-15-postgis-3 (Debian packages)" >&2
  local SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-15-postgis-3 >/dev/null
}

BIN=/usr/lib/postgresql/15/bin

as_owner() {
  # PostgreSQL refuses to run as root: as root, the cluster belongs to the 'postgres' user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

make_reachable() {
  # The postgres user must be able to walk down to .pgdata (a clone under /root is not, by default).
  [ "$(id -u)" = 0 ] || return 0
  local d="$ROOT"
  while [ "$d" != "/" ]; do
    if ! runuser -u postgres -- test -x "$d"; then
      echo "localpg: granting search (o+x) on $d so the postgres user can reach .pgdata" >&2
      chmod o+x "$d"
    fi
    d=$(dirname "$d")
  done
}

start() {
  if need_packages; then install_packages; fi
  mkdir -p "$ROOT/.pgdata"
  make_reachable
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$ROOT/.pgdata"; fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$DATA/postgresql.conf" <<CONF
# trips dashboard: local cluster tuned for bulk loads on a small machine
listen_addresses = ''
unix_socket_directories = '$RUN'
wal_level = minimal
max_wal_senders = 0
synchronous_commit = on
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
checkpoint_timeout = 15min
max_parallel_workers_per_gather = 2
jit = off
CONF
  fi
  as_owner mkdir -p "$RUN"
  if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
  fi
  if ! "$BIN/psql" -h "$RUN" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
    "$BIN/createdb" -h "$RUN" -U postgres "$DB"
  fi
}

stop() {
  if [ -f "$DATA/PG_VERSION" ]; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

url() { echo "postgresql+psycopg2://postgres@/$DB?host=$RUN"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
