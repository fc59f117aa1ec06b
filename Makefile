# The trips analytics dashboard. Quick start: `make run` (the app), `make test` (the suite).
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONUNBUFFERED := 1
# apt-get as root, or through sudo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup venv db roles browser run test bench loadtest stop clean

setup: venv db  ## shared, idempotent: virtualenv + a PostGIS with the schema applied

venv: .venv/.installed
.venv/.installed: requirements.txt
	@command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }
	@python3 -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "installing python3-venv"; $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -r requirements.txt
	touch $@

db: venv  ## use DATABASE_URL if set, else start the project's own cluster under .pgdata/
	@if [ -z "$$DATABASE_URL" ]; then scripts/localpg.sh start; fi
	$(PY) -m core migrate
	@if [ -z "$$DATABASE_URL" ]; then $(MAKE) --no-print-directory roles; fi

roles:  ## the loader and reader login users on the local cluster (docker/initdb/20-trips-roles.sh)
	PATH="/usr/lib/postgresql/15/bin:$$PATH" PGHOST="$(CURDIR)/.pgdata/run" PGUSER=postgres TRIPS_DB=trips \
	  docker/initdb/20-trips-roles.sh

browser:  ## Debian's Chromium, for the end-to-end tests (Playwright drives it)
	@command -v chromium >/dev/null || { echo "installing chromium (Debian package)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: setup  ## apply the schema, load the sample when empty, serve http://localhost:8501
	$(PY) -m core load-sample-if-empty data/trips.csv
	@if [ -z "$$DATABASE_URL" ]; then \
	  export LOADER_DATABASE_URL="postgresql+psycopg2://trips_ingest@/trips?host=$(CURDIR)/.pgdata/run" \
	         READER_DATABASE_URL="postgresql+psycopg2://trips_dashboard@/trips?host=$(CURDIR)/.pgdata/run"; fi; \
	echo "$(PY) -m streamlit run dashboard/app.py --server.port 8501"; \
	$(PY) -m streamlit run dashboard/app.py --server.port 8501

test: setup browser  ## the whole suite, on throwaway databases (and Chromium for the browser test)
	$(PY) -m pytest -q tests

bench: setup  ## benchmarks: ingest, then every query answer vs raw SQL (BENCH_ROWS sets the size; docs/SCALE.md)
	$(PY) -m bench.run
	$(PY) -m bench.queries

loadtest: setup  ## dashboard sessions during a large ingest: latency percentiles (LOADTEST_ROWS, docs/LOADTEST.md)
	$(PY) -m bench.load

stop:  ## stop the project's own cluster
	scripts/localpg.sh stop
