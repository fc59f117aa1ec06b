-- Each trip in trip_times also carries its hour of the day, whether it is on a weekend, and its
-- medium cells, computed once when compaction copies it (stored generated columns), not by every
-- query that counts raw trips (groups over a date range, fine groups, the days around month lists;
-- compaction's fine and month groups). Per row, date_part and grid_parent cost more than the hash
-- aggregation itself: a region's medium groups over a year at 10M (832k trips, one core) took
-- 305-372 ms computed, 170-177 ms from these columns, side by side (docs/SCALE.md, "Raw reads with
-- stored hours and cells"). The row grows from 28 to 40 bytes of data (52 -> 64 with its header).
-- Coarse cells are the medium cells' parents: grid_parent(o_medium, 1).
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
