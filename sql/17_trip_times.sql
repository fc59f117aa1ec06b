-- Trips in time order: groups over a date range (and every group counted from the raw trips) read
-- only the period's rows, from a table half as wide as trips.
--
-- trips keeps each job's rows in origin cell order (a box's edge cells are read from few pages), so
-- a period's rows lie on every page of it: a week of 10M trips took as long as the whole table
-- (460 ms). Compaction copies the trips of the jobs completed since into trip_times, sorted by
-- time (8 s for 10M trips), and records those jobs in trip_times_jobs in the same transaction;
-- a query reads trip_times plus the raw trips of the jobs not yet copied.
CREATE TABLE trip_times (
    ts            timestamp NOT NULL,   -- as trips.ts
    o_cell        bigint    NOT NULL,   -- fine grid cells, as in trips
    d_cell        bigint    NOT NULL,
    region_id     smallint  NOT NULL,
    datasource_id smallint  NOT NULL
);
CREATE INDEX trip_times_ts ON trip_times USING brin (ts) WITH (pages_per_range = 16);

-- The jobs whose trips are in trip_times (every one of them, once).
CREATE TABLE trip_times_jobs (
    job_id integer PRIMARY KEY
);
