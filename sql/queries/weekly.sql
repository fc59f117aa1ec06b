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
-- Whole medium cells well inside the box (interior), from area_days.
SELECT date_trunc('week', day)::date AS week, sum(trips)::bigint AS trips
  FROM area_days
 WHERE endpoint = :endpoint
   AND cx BETWEEN :ix0 AND :ix1 AND cy BETWEEN :iy0 AND :iy1
   AND day BETWEEN :date_from AND :date_to
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
-- Raw trips with an end in the given fine cells (those the box's edges cross) and exactly inside
-- the box (edges included): the only rows whose coordinates are read.
SELECT date_trunc('week', ts)::date AS week, count(*) AS trips
  FROM trips
 WHERE ts >= CAST(:date_from AS timestamp) AND ts < CAST(:date_to AS timestamp) + interval '1 day'
   AND ((o_cell = ANY(CAST(:o_cells AS bigint[]))
         AND ST_X(origin) BETWEEN :west AND :east AND ST_Y(origin) BETWEEN :south AND :north)
     OR (d_cell = ANY(CAST(:d_cells AS bigint[]))
         AND ST_X(destination) BETWEEN :west AND :east AND ST_Y(destination) BETWEEN :south AND :north))
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

-- name: weekly_box_both_ends
-- Trips with both ends in the box, subtracted once for --by either (by origin + by destination -
-- both). The cell lists (fine cells that may hold a point of the box) narrow the search, NULL when
-- too long to be worth it; an end in a fine cell wholly inside the box (:whole) is in it without
-- reading its coordinates.
SELECT date_trunc('week', ts)::date AS week, count(*) AS trips
  FROM trips
 WHERE ts >= CAST(:date_from AS timestamp) AND ts < CAST(:date_to AS timestamp) + interval '1 day'
   AND (CAST(:o_cells AS bigint[]) IS NULL OR o_cell = ANY(CAST(:o_cells AS bigint[])))
   AND (CAST(:d_cells AS bigint[]) IS NULL OR d_cell = ANY(CAST(:d_cells AS bigint[])))
   AND (o_cell = ANY(CAST(:whole AS bigint[]))
        OR (ST_X(origin) BETWEEN :west AND :east AND ST_Y(origin) BETWEEN :south AND :north))
   AND (d_cell = ANY(CAST(:whole AS bigint[]))
        OR (ST_X(destination) BETWEEN :west AND :east AND ST_Y(destination) BETWEEN :south AND :north))
 GROUP BY 1
