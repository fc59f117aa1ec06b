-- cheap_mobile_regions listed its regions in the database's collation: "Beta" after "alpha" on
-- an en_US server, before it on the project's own C.UTF-8 cluster. sql/03 now orders them in byte
-- order, as the ties of the first question (sql/12); this gives older databases the same view.
CREATE OR REPLACE VIEW cheap_mobile_regions AS
SELECT r.name AS region
  FROM region_datasources s
  JOIN regions r USING (region_id)
  JOIN datasources d USING (datasource_id)
 WHERE d.name = 'cheap_mobile' AND s.trips > 0
 GROUP BY r.name
 ORDER BY r.name COLLATE "C";
