-- Trips by origin medium cell, destination medium cell and day, for the trips in trip_times (kept
-- by compaction with them: same jobs, same transaction). A box's weekly average by either end
-- counts the trips with an end in a medium cell wholly inside the box from the summaries, by
-- origin + by destination (area_days) - both ends (these rows), and reads raw rows only for the
-- trips with no end inside such a cell (core/weekly.py). Before, it subtracted every trip with
-- both ends in the box, counted from the raw rows: a 10 km box in central Prague at 10M trips
-- read 1.6M rows for it (the whole answer 565-582 ms); its pairs of inner cells are 106k rows
-- here for 887k trips (docs/SCALE.md, "Either end of a box").
--
-- Compaction appends the rows of each run of jobs it copies into trip_times (compact_trip_times);
-- a key may then have one row per run. Rows are in key order within a run; the btree finds the
-- pairs of a box's inner cells. About 3.8M rows (274 MB with the index) at 10M trips.
--
-- Filled here once from trip_times, after any compaction under way (its lock, 7314: sql/22).
SELECT pg_advisory_xact_lock(7314);
CREATE TABLE pair_days (
    o_medium integer NOT NULL,  -- grid_parent(o_cell, 1), as trip_times.o_medium
    d_medium integer NOT NULL,
    day      date    NOT NULL,  -- the trips' local date
    trips    integer NOT NULL
);
INSERT INTO pair_days (o_medium, d_medium, day, trips)
SELECT o_medium, d_medium, ts::date, count(*) FROM trip_times
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
CREATE INDEX pair_days_cells ON pair_days (o_medium, d_medium, day);
-- The interior is also a filter on the cells' columns and rows (id / 100000, id % 100000): without
-- statistics of those expressions the planner took a region's extent (1.7M rows read, 865k kept)
-- for 1 row and sorted them to sum by day (430 ms); with them it sums in each worker (157 ms).
CREATE STATISTICS pair_days_cells_xy ON (o_medium % 100000), (d_medium / 100000), (d_medium % 100000) FROM pair_days;
ANALYZE pair_days;
