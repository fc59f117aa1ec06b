-- Weekly averages for an area. Weeks are ISO weeks (Monday to Sunday); each query returns trips
-- per week start, for the weeks that have trips; Python fills in the zero weeks.

-- name: data_period
-- The default period: the first to the last trip in the database, all regions together.
SELECT min(first_ts)::date AS date_from, max(last_ts)::date AS date_to FROM region_datasources

-- name: weekly_region
SELECT date_trunc('week', day)::date AS week, sum(trips)::bigint AS trips
  FROM daily_counts
 WHERE region_id = (SELECT region_id FROM regions WHERE name = :region)
   AND day BETWEEN :date_from AND :date_to
 GROUP BY 1

-- name: weekly_box_cells
-- Whole medium cells well inside the box (interior), from area_days. Summed by day first:
-- date_trunc of a date (as timestamptz) costs more than the sum (a region's extent at 10M, 217k
-- rows: 90 -> 45 ms).
SELECT date_trunc('week', day)::date AS week, sum(trips)::bigint AS trips
  FROM (SELECT day, sum(trips) AS trips
          FROM area_days
         WHERE endpoint = :endpoint
           AND cx BETWEEN :ix0 AND :ix1 AND cy BETWEEN :iy0 AND :iy1
           AND day BETWEEN :date_from AND :date_to
         GROUP BY day) AS days
 GROUP BY 1

-- name: box_candidate_cells
-- Medium cells with trip ends (of :endpoint) in the period that may hold points of the box,
-- outside its interior: their trips are counted from the raw rows.
SELECT DISTINCT cx, cy
  FROM area_days
 WHERE endpoint = :endpoint
   AND cx BETWEEN :cx0 AND :cx1 AND cy BETWEEN :cy0 AND :cy1
   AND NOT (cx BETWEEN :ix0 AND :ix1 AND cy BETWEEN :iy0 AND :iy1)
   AND day BETWEEN :date_from AND :date_to

-- name: weekly_box_trips
-- Raw trips whose end (:endpoint: 0 origin, 1 destination; a constant, which the planner folds)
-- lies in the given fine cells (those the box's edges cross) and exactly inside the box (edges
-- included): the only rows whose coordinates are read.
SELECT date_trunc('week', ts)::date AS week, count(*) AS trips
  FROM trips
 WHERE ts >= CAST(:date_from AS timestamp) AND ts < CAST(:date_to AS timestamp) + interval '1 day'
   AND CASE :endpoint
       WHEN 0 THEN o_cell = ANY(CAST(:cells AS bigint[]))
                   AND ST_X(origin) BETWEEN :west AND :east AND ST_Y(origin) BETWEEN :south AND :north
       ELSE d_cell = ANY(CAST(:cells AS bigint[]))
            AND ST_X(destination) BETWEEN :west AND :east AND ST_Y(destination) BETWEEN :south AND :north
       END
 GROUP BY 1

-- name: weekly_box_origin_cells
-- Trips starting in fine cells wholly inside the box (in medium cells that are not): counted
-- from the index on (o_cell, ts) alone (an index-only scan once the partition is vacuumed).
SELECT date_trunc('week', ts)::date AS week, count(*) AS trips
  FROM trips
 WHERE o_cell = ANY(CAST(:cells AS bigint[]))
   AND ts >= CAST(:date_from AS timestamp) AND ts < CAST(:date_to AS timestamp) + interval '1 day'
 GROUP BY 1

-- name: weekly_box_destination_cells
-- The same for trips ending in fine cells wholly inside the box, from the index on (d_cell, ts).
SELECT date_trunc('week', ts)::date AS week, count(*) AS trips
  FROM trips
 WHERE d_cell = ANY(CAST(:cells AS bigint[]))
   AND ts >= CAST(:date_from AS timestamp) AND ts < CAST(:date_to AS timestamp) + interval '1 day'
 GROUP BY 1

-- name: weekly_box_both_inside
-- For --by either: trips with both ends in the interior (medium cells wholly inside the box,
-- :ix0..:ix1 x :iy0..:iy1), subtracted once from those by origin + by destination there. Those
-- compaction has counted, from pair_days; the raw trips of the jobs it has not (:raw_jobs,
-- trip_times_missing; constants, so only their partitions are read). :cells (the interior's medium
-- cells) and :fine_cells (its fine cells) let the indexes find them, NULL when too many.
-- pair_days' rows are tested by the expressions its statistics are on (sql/25), not grid_within.
-- Summed by day first, as above (106k rows: 78 -> 54 ms).
SELECT date_trunc('week', day)::date AS week, sum(trips)::bigint AS trips
  FROM (SELECT day, sum(trips) AS trips
          FROM (SELECT day, trips FROM pair_days
                 WHERE o_medium BETWEEN :ix0 * 100000 + :iy0 AND :ix1 * 100000 + :iy1
                   AND (CAST(:cells AS int[]) IS NULL
                        OR (o_medium = ANY(CAST(:cells AS int[])) AND d_medium = ANY(CAST(:cells AS int[]))))
                   AND o_medium % 100000 BETWEEN :iy0 AND :iy1
                   AND d_medium / 100000 BETWEEN :ix0 AND :ix1 AND d_medium % 100000 BETWEEN :iy0 AND :iy1
                   AND day BETWEEN :date_from AND :date_to
                UNION ALL
                SELECT ts::date, 1 FROM trips
                 WHERE job_id = ANY(CAST(:raw_jobs AS int[]))
                   AND ts >= CAST(:date_from AS timestamp) AND ts < CAST(:date_to AS timestamp) + interval '1 day'
                   AND (CAST(:fine_cells AS bigint[]) IS NULL
                        OR (o_cell = ANY(CAST(:fine_cells AS bigint[])) AND d_cell = ANY(CAST(:fine_cells AS bigint[]))))
                   AND grid_within(grid_parent(o_cell, 1::smallint), :ix0, :ix1, :iy0, :iy1)
                   AND grid_within(grid_parent(d_cell, 1::smallint), :ix0, :ix1, :iy0, :iy1)) AS inside
         GROUP BY day) AS days
 GROUP BY 1

-- name: weekly_box_either_rest
-- For --by either: trips with no end in the interior (above) and an end in the box. Such an end
-- lies in a fine cell of the ring around the interior that may hold a point of the box (:ring;
-- NULL when too many to be worth it: a scan); it is in the box by its cell when the cell lies
-- wholly inside (:whole, those of the ring), else by its coordinates.
SELECT date_trunc('week', ts)::date AS week, count(*) AS trips
  FROM trips
 WHERE ts >= CAST(:date_from AS timestamp) AND ts < CAST(:date_to AS timestamp) + interval '1 day'
   AND (CAST(:ring AS bigint[]) IS NULL
        OR o_cell = ANY(CAST(:ring AS bigint[])) OR d_cell = ANY(CAST(:ring AS bigint[])))
   AND NOT grid_within(grid_parent(o_cell, 1::smallint), :ix0, :ix1, :iy0, :iy1)
   AND NOT grid_within(grid_parent(d_cell, 1::smallint), :ix0, :ix1, :iy0, :iy1)
   AND (o_cell = ANY(CAST(:whole AS bigint[]))
        OR ((CAST(:ring AS bigint[]) IS NULL OR o_cell = ANY(CAST(:ring AS bigint[])))
            AND ST_X(origin) BETWEEN :west AND :east AND ST_Y(origin) BETWEEN :south AND :north)
        OR d_cell = ANY(CAST(:whole AS bigint[]))
        OR ((CAST(:ring AS bigint[]) IS NULL OR d_cell = ANY(CAST(:ring AS bigint[])))
            AND ST_X(destination) BETWEEN :west AND :east AND ST_Y(destination) BETWEEN :south AND :north))
 GROUP BY 1
