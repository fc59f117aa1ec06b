-- trip_times in (month, region, datasource, time) order within each compaction's run, and one
-- BRIN over region, datasource and time: a region's or a datasource's trips over a period, counted
-- raw (a region's or a datasource's groups over a date range, fine groups of a region and a
-- datasource), are read from their own stretches of pages (one a month), not from every trip of
-- the period. A period of all regions lies in one stretch per region and datasource of each month.
-- Months first keep time correlated with the pages: the planner estimates a BRIN scan by the best
-- correlation of the columns asked, and rows in (region, datasource, time) order alone made it
-- read a period of all regions (the days around month lists) by a scan of the whole table at
-- 100M (3.1 -> 28.7 s).
--
-- At 10M (psql, copies of trip_times each way, quiet): a region's medium groups over a year
-- 670 -> 361 ms, a datasource's 915 -> 561 ms, fine groups of a region and a datasource 843 ->
-- 491 ms; months first or not, the same within the noise (interleaved runs).
--
-- The rows already copied are put in this order once (a sort of the whole table: 3 min 35 s at
-- 100M); compaction appends each new run in it (sql/queries/compact.sql compact_trip_times).
CREATE TEMPORARY TABLE trip_times_before ON COMMIT DROP AS SELECT * FROM trip_times;
TRUNCATE trip_times;
DROP INDEX trip_times_ts;
INSERT INTO trip_times (ts, o_cell, d_cell, region_id, datasource_id)
SELECT ts, o_cell, d_cell, region_id, datasource_id FROM trip_times_before
 ORDER BY date_trunc('month', ts), region_id, datasource_id, ts;
CREATE INDEX trip_times_region_datasource_ts ON trip_times
 USING brin (region_id, datasource_id, ts) WITH (pages_per_range = 16);
