-- Schema of the trips dashboard.
--
-- Raw trips are partitioned by the job that loaded them: each file is COPYed into a fresh table
-- with no index (fast, minimal WAL), indexed in bulk, then attached, all in the job's transaction.
-- Summaries are kept current in that same transaction, so they always equal the raw rows.
--
-- The grid: cells are squares of latitude/longitude, nested 4 x 4 (see core/grid.py):
--   fine   = 0.005 deg (about 0.56 km north-south)
--   medium = 0.02 deg  (about 2.2 km)
--   coarse = 0.08 deg  (about 8.9 km)
-- A cell id is ix * 100000 + iy with ix = floor((lon + 180) / size), iy = floor((lat + 90) / size).

-- Jobs ---------------------------------------------------------------------------------------

CREATE TYPE job_status AS ENUM (
    'queued', 'running', 'completed', 'failed', 'duplicate', 'interrupted', 'cancelled'
);
COMMENT ON TYPE job_status IS
    'queued: waiting for a worker; running: being read and loaded; completed: all good rows visible; '
    'failed: nothing loaded (bad file, too many bad rows, database error); duplicate: same bytes '
    'as an earlier completed job, nothing loaded; interrupted: the process running it died, nothing '
    'loaded; cancelled: stopped on request, nothing loaded.';

CREATE TABLE jobs (
    job_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status          job_status NOT NULL DEFAULT 'queued',
    file_name       text NOT NULL,
    file_size       bigint,
    sha256          text,
    max_bad_rows    text NOT NULL DEFAULT '1%',
    forced          boolean NOT NULL DEFAULT false,
    phase           text,                 -- what a running job is doing: reading, indexing, summarising
    bytes_read      bigint NOT NULL DEFAULT 0,
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_loaded     bigint NOT NULL DEFAULT 0,
    rows_rejected   bigint NOT NULL DEFAULT 0,
    duplicate_of    bigint REFERENCES jobs (job_id),
    error           text,
    cancel_requested boolean NOT NULL DEFAULT false,
    source          text NOT NULL DEFAULT 'cli', -- cli or dashboard
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
COMMENT ON COLUMN jobs.bytes_read IS 'bytes of the file (compressed, as stored) read so far';

-- The same bytes load once: a second completed job with the same sha256 is refused
-- (the loader reports it as a duplicate), unless forced.
CREATE UNIQUE INDEX jobs_sha256_loaded_once ON jobs (sha256)
    WHERE status = 'completed' AND NOT forced;
CREATE INDEX jobs_status ON jobs (status) WHERE status IN ('queued', 'running');

CREATE TABLE job_events (
    job_id  bigint NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    status  job_status NOT NULL,
    message text
);
CREATE INDEX job_events_job ON job_events (job_id, at);

-- Rows refused by validation, with the physical line of the file where the record starts.
CREATE TABLE rejects (
    job_id      bigint NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    line        bigint NOT NULL,
    column_name text,
    reason      text NOT NULL,   -- a code: field_count, invalid_point, out_of_range, ...
    message     text NOT NULL,   -- a sentence for people
    raw         text             -- the record as read (truncated to 1000 characters)
);
CREATE INDEX rejects_job_line ON rejects (job_id, line);

-- Dimensions ---------------------------------------------------------------------------------

CREATE TABLE regions (
    region_id smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name      text NOT NULL UNIQUE
);

CREATE TABLE datasources (
    datasource_id smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE
);

-- Raw trips ----------------------------------------------------------------------------------

CREATE TABLE trips (
    job_id        integer  NOT NULL,
    region_id     smallint NOT NULL,
    datasource_id smallint NOT NULL,
    ts            timestamp NOT NULL,              -- local wall-clock time, as written in the file
    origin        geometry(Point, 4326) NOT NULL,
    destination   geometry(Point, 4326) NOT NULL,
    o_cell        bigint   NOT NULL,               -- fine grid cell of the origin
    d_cell        bigint   NOT NULL                -- fine grid cell of the destination
) PARTITION BY LIST (job_id);

-- Exact bounding-box counts read raw rows only in the cells along the box's edges.
CREATE INDEX trips_o_cell ON trips (o_cell, ts);
CREATE INDEX trips_d_cell ON trips (d_cell, ts);
-- Date-filtered groups read the raw rows of the period.
CREATE INDEX trips_ts ON trips USING brin (ts);

-- Summaries, kept current at ingest in the loading transaction -------------------------------

-- Summaries, kept current at ingest in the loading transaction. Each job adds its own rows
-- (insert only: no upserts, no lock contention between loaders, and a job's rows are easy to
-- find); queries sum over jobs. A table per question, shaped for it.

-- Trips per region, datasource and day: weekly averages by region (a few rows per day).
CREATE TABLE daily_counts (
    job_id        integer  NOT NULL,
    region_id     smallint NOT NULL,
    datasource_id smallint NOT NULL,
    day           date     NOT NULL,
    trips         bigint   NOT NULL
);

-- First and last trip per region and datasource: stats and the bonus questions.
CREATE TABLE region_datasources (
    job_id        integer  NOT NULL,
    region_id     smallint NOT NULL,
    datasource_id smallint NOT NULL,
    trips         bigint   NOT NULL,
    first_ts      timestamp NOT NULL,
    last_ts       timestamp NOT NULL
);

-- Origin-destination flows per grid level, without the date: similar-trip groups.
-- level: 1 medium, 2 coarse. Fine cells barely compress (about one row per trip), so fine groups
-- are counted from the raw trips instead. Partitioned by level: a query reads one level only.
CREATE TABLE flow_counts (
    job_id        integer  NOT NULL,
    level         smallint NOT NULL,
    region_id     smallint NOT NULL,
    datasource_id smallint NOT NULL,
    weekend       boolean  NOT NULL,
    hour          smallint NOT NULL,
    o_cell        bigint   NOT NULL,
    d_cell        bigint   NOT NULL,
    trips         bigint   NOT NULL
) PARTITION BY LIST (level);
CREATE TABLE flow_counts_medium PARTITION OF flow_counts FOR VALUES IN (1);
CREATE TABLE flow_counts_coarse PARTITION OF flow_counts FOR VALUES IN (2);

-- Trips per medium cell and day, by origin (endpoint 0) and by destination (endpoint 1):
-- the whole cells inside a bounding box.
CREATE TABLE area_days (
    job_id   integer  NOT NULL,
    endpoint smallint NOT NULL,
    cx       integer  NOT NULL,   -- medium cell column: floor((lon + 180) / 0.02)
    cy       integer  NOT NULL,   -- medium cell row:    floor((lat + 90) / 0.02)
    day      date     NOT NULL,
    trips    bigint   NOT NULL
);
CREATE INDEX area_days_cell ON area_days (endpoint, cx, cy);

-- Loading a job's partition: create_job_partition and attach_job_partition are defined with the
-- roles they serve, in 04_roles.sql.

-- The cell containing a fine cell at a coarser level (0 fine, 1 medium, 2 coarse).
CREATE FUNCTION grid_parent(fine_cell bigint, level smallint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (fine_cell / 100000 / (1 << (2 * level))) * 100000
         + (fine_cell % 100000) / (1 << (2 * level))
$$;
