-- Least privilege. Three kinds of database users:
--   owner         runs the migrations and owns every object (the user of DATABASE_URL);
--   trips_loader  adds data and manages jobs: ingest (CLI, worker, the dashboard's uploads),
--                 cancel, reap; it owns nothing, so it cannot DROP, ALTER or TRUNCATE anything;
--   trips_reader  reads only, with a statement_timeout: the dashboard's queries.
-- trips_loader and trips_reader are NOLOGIN group roles. The users that log in are created by the
-- deployment (docker/initdb/20-trips-roles.sh, also `make roles`), members of these groups, with
-- their passwords from the environment; role settings such as statement_timeout are not inherited
-- through membership, so that script sets the reader's timeout on its login user as well.

-- Roles are cluster-wide: create them when missing (several databases of one server may migrate
-- at once, hence the exception handlers). Creating them needs CREATEROLE; an owner without it
-- relies on the deployment script having created them first.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'trips_loader') THEN
        BEGIN
            CREATE ROLE trips_loader NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'trips_reader') THEN
        BEGIN
            CREATE ROLE trips_reader NOLOGIN;
            ALTER ROLE trips_reader SET statement_timeout = '30s';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END $$;

-- Nobody but the owner creates objects (the default since PostgreSQL 15; explicit for servers
-- upgraded from older versions).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO trips_loader, trips_reader;

-- Reading: every table and view, now and in later migrations (default privileges of the owner).
GRANT SELECT ON ALL TABLES IN SCHEMA public TO trips_reader, trips_loader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO trips_reader, trips_loader;

-- Loading: insert-only summaries and dimensions, jobs and their events and rejects.
GRANT INSERT, UPDATE ON jobs TO trips_loader;
GRANT INSERT ON job_events, rejects, regions, datasources TO trips_loader;
GRANT INSERT ON daily_counts, region_datasources, flow_counts, area_days TO trips_loader;

-- A job's partition: created and attached by the owner's functions (SECURITY DEFINER), so the
-- loader needs no CREATE on the schema and no ownership of trips. The loader may COPY into the new
-- table only until it is attached.
-- create_job_partition: a fresh, unindexed table for one job's rows; COPY goes here first.
-- attach_job_partition: index the job's table in bulk (far cheaper than index upkeep during COPY)
-- and attach it to trips (the CHECK constraint spares the validation scan). The job's summary
-- rows come with it (core/ingest/rollup.py counts them while parsing).
CREATE OR REPLACE FUNCTION create_job_partition(p_job bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    t text := 'trips_p' || p_job;
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE trips INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', t);
    EXECUTE format('GRANT INSERT ON %I TO trips_loader', t);
    RETURN t;
END $$;

CREATE OR REPLACE FUNCTION attach_job_partition(p_job bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    t text := 'trips_p' || p_job;
BEGIN
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (job_id = %s)', t, t || '_job', p_job);
    EXECUTE format('CREATE INDEX %I ON %I (o_cell, ts)', t || '_o_cell', t);
    EXECUTE format('CREATE INDEX %I ON %I (d_cell, ts)', t || '_d_cell', t);
    EXECUTE format('CREATE INDEX %I ON %I USING brin (ts)', t || '_ts', t);
    EXECUTE format('ALTER TABLE trips ATTACH PARTITION %I FOR VALUES IN (%s)', t, p_job);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, t || '_job');
    EXECUTE format('REVOKE INSERT ON %I FROM trips_loader', t);
END $$;

-- Functions are executable by PUBLIC by default: these two only by the loader (and the owner).
REVOKE EXECUTE ON FUNCTION create_job_partition(bigint), attach_job_partition(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_job_partition(bigint), attach_job_partition(bigint) TO trips_loader;
