-- trip_times in (month, region, datasource, time) order within each compaction's run, and one
-- BRIN over region, datasource and time: a region's or a datasource's trips over a period, counted
-- raw (a region's or a datasource's groups over a date range, fine groups of a region and a
-- datasource), are read from their own stretches of pages (one a month), not from every trip of
-- the period. A period of all regions lies in one stretch per region and datasource of each month.
-- Months first keep time correlated with the pages: the planner estimates a BRIN scan by the best
-- correlation of the columns asked, and rows in (region, datasource, time) order alone made it
-- read a period of all regions (the days around month lists) by a scan of the whole table at
-- 100M (3.1 -> 28.7 s). Measured side by side at 10M (docs/SCALE.md, "Raw reads of a region or a
-- datasource"): a region's medium groups over a year 780-876 -> 398-486 ms, a datasource's
-- 1,058-1,212 -> 717-872 ms, a period of all regions a few ms slower.
--
-- The rows already copied are put in this order once: a sort of the whole table in this
-- transaction (3 min 35 s at 100M), during which date ranges and fine groups wait; at its peak it
-- takes about three times trip_times' size on disk (the old table, the sort's files, the new
-- one: some 17 GB at 100M). Compaction appends each new run in this order
-- (sql/queries/compact.sql compact_trip_times).
--
-- First the compaction lock (7314, sql/queries/compact.sql compact_lock): a compaction under way has copied trips
-- into trip_times that the copy below would not see, and one that starts later must see the new
-- table. Like CLUSTER, the rewrite is not MVCC-safe: a transaction whose snapshot is older than
-- this one's commit reads the new table as empty (the dashboard's snapshots last one answer).
SELECT pg_advisory_xact_lock(7314);
LOCK TABLE trip_times, trip_times_jobs IN ACCESS EXCLUSIVE MODE;
ALTER TABLE trip_times RENAME TO trip_times_by_time;
CREATE TABLE trip_times (LIKE trip_times_by_time);
INSERT INTO trip_times (ts, o_cell, d_cell, region_id, datasource_id)
SELECT ts, o_cell, d_cell, region_id, datasource_id FROM trip_times_by_time
 ORDER BY date_trunc('month', ts), region_id, datasource_id, ts;
DROP TABLE trip_times_by_time;
CREATE INDEX trip_times_region_datasource_ts ON trip_times
 USING brin (region_id, datasource_id, ts) WITH (pages_per_range = 16);
GRANT SELECT ON trip_times TO trips_reader, trips_loader;  -- as sql/04_roles.sql grants every table
ANALYZE trip_times;  -- the correlations the planner costs the BRIN by
