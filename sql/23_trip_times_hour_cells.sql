-- Each trip in trip_times also carries its hour of the day, whether it is on a weekend, and its
-- medium cells, computed once when compaction copies it (stored generated columns), not by every
-- query that counts raw trips (groups over a date range, fine groups, the days around month lists;
-- compaction's fine and month groups). Per row, date_part and grid_parent cost about as much as the
-- hash aggregation: a region's medium groups over a year at 10M (a copy of its 832k trips, one
-- core) took 305-372 ms computed, 170-177 ms from these columns; through the facade a datasource's
-- year went 702 -> 616 ms, 16 Jun - 15 Jan 296 -> 245 ms, and compaction's count of the fine groups
-- 30.4 -> 20.2 s (docs/SCALE.md, "Raw reads with stored hours and cells"). Rows grow by 8 bytes
-- with alignment (575 -> 651 MB at 10M). Coarse cells are the medium cells' parents:
-- grid_parent(o_medium, 1).
--
-- Adding them rewrites trip_times once, in place and in the same row order (seconds per 10M
-- trips), after any compaction under way (its lock, 7314: sql/22). Like sql/22, the rewrite is
-- not MVCC-safe: a transaction whose snapshot is older than this one's commit reads the table
-- as empty (the dashboard's snapshots last one answer).
SELECT pg_advisory_xact_lock(7314);
ALTER TABLE trip_times
    ADD COLUMN hour     smallint GENERATED ALWAYS AS (date_part('hour', ts)::smallint) STORED,
    ADD COLUMN weekend  boolean  GENERATED ALWAYS AS (date_part('isodow', ts) >= 6) STORED,
    ADD COLUMN o_medium integer  GENERATED ALWAYS AS (grid_parent(o_cell, 1::smallint)::integer) STORED,
    ADD COLUMN d_medium integer  GENERATED ALWAYS AS (grid_parent(d_cell, 1::smallint)::integer) STORED;
ANALYZE trip_times;
