-- The two bonus questions, as views (SELECT * FROM ... in psql). They read the summary
-- region_datasources (kept current at ingest), which holds per job, region and datasource the trip
-- count and the first and last trip (so a region and datasource may have several rows); the
-- equivalent over raw trips is given in each comment.

-- 1. For each of the two regions with the most trips, the datasource of its latest trip.
--    Ties: regions with equal counts by name; datasources whose latest trips share the same
--    datetime by datasource name. Names compare in byte order (COLLATE "C": "Beta" before
--    "alpha"), whatever the server's collation, so every server gives the same answer.
--    Raw equivalent: SELECT DISTINCT ON (region_id) ... FROM trips ORDER BY region_id, ts DESC.
CREATE VIEW latest_datasource_of_top_regions AS
WITH top AS (
    SELECT s.region_id, sum(s.trips) AS trips
      FROM region_datasources s JOIN regions r USING (region_id)
     GROUP BY s.region_id, r.name
     ORDER BY sum(s.trips) DESC, r.name COLLATE "C"
     LIMIT 2
)
SELECT DISTINCT ON (top.trips, r.name COLLATE "C")
       r.name AS region, d.name AS datasource, s.last_ts AS datetime, top.trips
  FROM top
  JOIN region_datasources s USING (region_id)
  JOIN regions r USING (region_id)
  JOIN datasources d USING (datasource_id)
 ORDER BY top.trips DESC, r.name COLLATE "C", s.last_ts DESC, d.name COLLATE "C";

-- 2. The regions in which the datasource cheap_mobile appears.
--    Raw equivalent: SELECT DISTINCT region_id FROM trips WHERE datasource_id = <cheap_mobile>.
--    In byte order of the names, like the ties above.
CREATE VIEW cheap_mobile_regions AS
SELECT r.name AS region
  FROM region_datasources s
  JOIN regions r USING (region_id)
  JOIN datasources d USING (datasource_id)
 WHERE d.name = 'cheap_mobile' AND s.trips > 0
 GROUP BY r.name
 ORDER BY r.name COLLATE "C";
