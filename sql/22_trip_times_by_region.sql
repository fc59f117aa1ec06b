-- trip_times in (region, datasource, time) order within each compaction's run, and one BRIN over
-- the three: a region's or a datasource's trips over a period, counted raw (a region's or a
-- datasource's groups over a date range, fine groups of a region and a datasource), are read
-- from their own stretch of pages, not from every trip of the period. A period of all regions
-- still lies in one stretch per region and datasource of each run. At 10M (psql, a copy of
-- trip_times each way): a region's medium groups over a year 670 -> 361 ms, a datasource's
-- 915 -> 561 ms, fine groups of a region and a datasource 843 -> 491 ms; every trip of 15
-- days (the days counted around month lists) 14 -> 19 ms.
--
-- The rows already copied are put in this order once (a sort of the whole table: seconds at 10M,
-- minutes at 100M); compaction appends each new run in it (sql/queries/compact.sql).
CREATE TEMPORARY TABLE trip_times_before ON COMMIT DROP AS SELECT * FROM trip_times;
TRUNCATE trip_times;
DROP INDEX trip_times_ts;
INSERT INTO trip_times (ts, o_cell, d_cell, region_id, datasource_id)
SELECT ts, o_cell, d_cell, region_id, datasource_id FROM trip_times_before
 ORDER BY region_id, datasource_id, ts;
CREATE INDEX trip_times_region_datasource_ts ON trip_times
 USING brin (region_id, datasource_id, ts) WITH (pages_per_range = 16);
