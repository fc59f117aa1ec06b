-- Every summary recounted from the raw trips, in the summaries' own shape (tests compare them).

-- name: daily_counts
SELECT region_id, datasource_id, ts::date AS day, count(*) AS trips
  FROM trips GROUP BY 1, 2, 3

-- name: region_datasources
SELECT region_id, datasource_id, count(*) AS trips, min(ts) AS first_ts, max(ts) AS last_ts,
       least(min(grid_parent(o_cell, 1::smallint) / 100000), min(grid_parent(d_cell, 1::smallint) / 100000)) AS cx0,
       least(min(grid_parent(o_cell, 1::smallint) % 100000), min(grid_parent(d_cell, 1::smallint) % 100000)) AS cy0,
       greatest(max(grid_parent(o_cell, 1::smallint) / 100000), max(grid_parent(d_cell, 1::smallint) / 100000)) AS cx1,
       greatest(max(grid_parent(o_cell, 1::smallint) % 100000), max(grid_parent(d_cell, 1::smallint) % 100000)) AS cy1
  FROM trips GROUP BY 1, 2

-- name: flow_counts
SELECT l.level, region_id, datasource_id, extract(isodow FROM ts) >= 6 AS weekend,
       extract(hour FROM ts)::int AS hour,
       grid_parent(o_cell, l.level) AS o_cell, grid_parent(d_cell, l.level) AS d_cell, count(*) AS trips
  FROM trips CROSS JOIN (VALUES (1::smallint), (2::smallint)) l(level)
 GROUP BY 1, 2, 3, 4, 5, 6, 7

-- name: area_days
-- cells computed exactly (numeric), as core/grid.py does for coordinates of up to 9 decimals;
-- longitude 180 and latitude 90 in the last column and row
SELECT e.endpoint, least(floor((ST_X(e.p)::numeric + 180) / 0.02)::int, 17999) AS cx,
       least(floor((ST_Y(e.p)::numeric + 90) / 0.02)::int, 8999) AS cy,
       ts::date AS day, count(*) AS trips
  FROM trips CROSS JOIN LATERAL (VALUES (0, origin), (1, destination)) e(endpoint, p)
 GROUP BY 1, 2, 3, 4
