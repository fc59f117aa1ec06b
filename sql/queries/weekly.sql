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
-- Raw trips with an end in the given fine cells and exactly inside the box (edges included).
SELECT date_trunc('week', ts)::date AS week, count(*) AS trips
  FROM trips
 WHERE ts >= CAST(:date_from AS timestamp) AND ts < CAST(:date_to AS timestamp) + interval '1 day'
   AND ((o_cell = ANY(CAST(:o_cells AS bigint[]))
         AND ST_X(origin) BETWEEN :west AND :east AND ST_Y(origin) BETWEEN :south AND :north)
     OR (d_cell = ANY(CAST(:d_cells AS bigint[]))
         AND ST_X(destination) BETWEEN :west AND :east AND ST_Y(destination) BETWEEN :south AND :north))
 GROUP BY 1
