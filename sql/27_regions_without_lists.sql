-- The regions whose trips compaction folded without keeping their lists of top groups, per level
-- (0 fine, 1 medium, 2 coarse): regions with fewer than TRIPS_LIST_MIN_TRIPS trips
-- (sql/queries/compact.sql compact_regions), or lists missing since a compaction by an earlier
-- version. Such a region's groups are counted from its trips: a missing list would read as no
-- trips (sql/queries/groups.sql groups_kept_state, unlisted_regions_read).
CREATE VIEW regions_without_lists AS
SELECT r.region_id, r.name, l.level
  FROM regions r
 CROSS JOIN (VALUES (0::smallint), (1::smallint), (2::smallint)) l (level)
 WHERE EXISTS (SELECT FROM region_datasources s
                WHERE s.region_id = r.region_id
                  AND s.job_id NOT IN (SELECT job_id FROM jobs_since_compaction))
   AND NOT EXISTS (SELECT FROM flow_top_totals t
                    WHERE t.level = l.level AND t.region_id = r.region_id AND t.datasource_id = 0
                      AND t.month = '-infinity');
GRANT SELECT ON regions_without_lists TO trips_reader, trips_loader;  -- as sql/04_roles.sql grants every table
