#!/usr/bin/env bash
# The database users of the trips dashboard (see sql/04_roles.sql for what each may do).
# Idempotent. Run by the postgis container on its first start (/docker-entrypoint-initdb.d) and by
# `make roles` on the local cluster. Connects with psql as an administrator (PGHOST, PGPORT,
# PGUSER, PGPASSWORD as usual; PGUSER defaults to POSTGRES_USER, then postgres).
#
#   TRIPS_DB                         database (default: POSTGRES_DB, then trips)
#   TRIPS_OWNER_USER / _PASSWORD     optional: a non-superuser owner for the migrations; it is made
#                                    the owner of the database (and so of its public schema)
#   TRIPS_LOADER_USER / _PASSWORD    login user of the group trips_loader (default trips_ingest)
#   TRIPS_READER_USER / _PASSWORD    login user of the group trips_reader (default trips_dashboard)
#   TRIPS_READER_STATEMENT_TIMEOUT   statement_timeout of the reader (default 30s)
# An empty password leaves the user without one (fine with trust or peer authentication only).
set -euo pipefail

export PGUSER="${PGUSER:-${POSTGRES_USER:-postgres}}"
db="${TRIPS_DB:-${POSTGRES_DB:-trips}}"

psql -v ON_ERROR_STOP=1 --no-psqlrc -q -d "$db" \
  -v owner="${TRIPS_OWNER_USER:-}" -v owner_pw="${TRIPS_OWNER_PASSWORD:-}" \
  -v loader="${TRIPS_LOADER_USER:-trips_ingest}" -v loader_pw="${TRIPS_LOADER_PASSWORD:-}" \
  -v reader="${TRIPS_READER_USER:-trips_dashboard}" -v reader_pw="${TRIPS_READER_PASSWORD:-}" \
  -v timeout="${TRIPS_READER_STATEMENT_TIMEOUT:-30s}" -v db="$db" <<'SQL'
SET client_min_messages = warning;
-- The group roles (sql/04_roles.sql creates them too, whichever comes first).
SELECT format('CREATE ROLE %I NOLOGIN', r) FROM unnest(ARRAY['trips_loader', 'trips_reader']) r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec

-- Login users: created when missing, password (re)set when given.
SELECT format('CREATE ROLE %I LOGIN', u) FROM unnest(ARRAY[:'owner', :'loader', :'reader']) u
 WHERE u <> '' AND NOT EXISTS (SELECT FROM pg_roles WHERE rolname = u) \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', u, pw)
  FROM (VALUES (:'owner', :'owner_pw'), (:'loader', :'loader_pw'), (:'reader', :'reader_pw')) v(u, pw)
 WHERE u <> '' AND pw <> '' \gexec
SELECT format('GRANT trips_loader TO %I', :'loader') \gexec
SELECT format('GRANT trips_reader TO %I', :'reader') \gexec
-- Settings of a role are not inherited through membership: the reader's own timeout.
SELECT format('ALTER ROLE %I SET statement_timeout = %L', :'reader', :'timeout') \gexec

-- The owner of the migrations owns the database, hence its public schema (PostgreSQL 15).
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'owner') WHERE :'owner' <> '' \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO trips_loader, trips_reader', :'db') \gexec
SQL
echo "trips roles: ready in database $db" >&2
