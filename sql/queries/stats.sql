-- Totals for the header of the page and `python -m core stats`; all from summaries.

-- name: stats_totals
SELECT coalesce(sum(trips), 0)::bigint AS trips,
       count(DISTINCT region_id) AS regions,
       count(DISTINCT datasource_id) AS datasources,
       min(first_ts) AS first_datetime,
       max(last_ts) AS last_datetime
  FROM region_datasources

-- name: region_totals
SELECT r.name AS region, sum(s.trips)::bigint AS trips, min(s.first_ts) AS first_datetime,
       max(s.last_ts) AS last_datetime
  FROM region_datasources s JOIN regions r USING (region_id)
 GROUP BY r.name ORDER BY trips DESC, r.name COLLATE "C"

-- name: datasource_totals
SELECT d.name AS datasource, sum(s.trips)::bigint AS trips
  FROM region_datasources s JOIN datasources d USING (datasource_id)
 GROUP BY d.name ORDER BY trips DESC, d.name COLLATE "C"

-- name: hour_totals
SELECT hour, sum(trips)::bigint AS trips FROM flow_counts WHERE level = 2 GROUP BY hour ORDER BY hour

-- name: origin_cells
-- Trips by the cell of their origin, of every date: where trips start, drawn faintly under the
-- maps (area_days, summed over its days and jobs). Medium cells (level 1), or coarse ones (level 2)
-- when there are more than :most medium ones (trips spread over a continent); at most :most cells,
-- the busiest. Rows loaded before Dec 4 may have a cell past the grid's east or north edge (longitude
-- 180, latitude 90): it is the last column or row, as core.grid puts them now.
WITH medium AS (
    SELECT least(cx, 17999) AS cx, least(cy, 8999) AS cy, sum(trips)::bigint AS trips
      FROM area_days WHERE endpoint = 0
     GROUP BY 1, 2
), many AS (SELECT count(*) > :most AS yes FROM medium)
SELECT 1 AS level, cx, cy, trips FROM medium WHERE NOT (SELECT yes FROM many)
 UNION ALL
SELECT 2, cx / 4, cy / 4, sum(trips)::bigint FROM medium WHERE (SELECT yes FROM many) GROUP BY 2, 3
 ORDER BY trips DESC, cx, cy
 LIMIT :most

-- name: region_extents
-- Each region's extent in medium grid cells (origins and destinations), for box presets.
SELECT r.name AS region, min(s.cx0) AS ix0, min(s.cy0) AS iy0, max(s.cx1) AS ix1, max(s.cy1) AS iy1
  FROM region_datasources s JOIN regions r USING (region_id)
 GROUP BY r.name ORDER BY r.name COLLATE "C"

-- name: data_version
-- Changes whenever a job completes: the cache key of every answer (the database's identity
-- included, so that answers of two databases never mix). The count of completed jobs, not their
-- highest id: jobs complete in any order (an earlier upload may finish after a later file).
SELECT (SELECT system_identifier FROM pg_control_system()) || ':' || current_database() || ':'
       || count(*) || ':' || coalesce(max(job_id), 0) AS version
  FROM jobs WHERE status = 'completed'
