-- Compaction keeps the top fine groups of each region as well (flow_top.level 0, region_id > 0,
-- all datasources), with their hourly totals: fine groups of one region are read, not counted
-- from the raw trips.
COMMENT ON COLUMN flow_top.level IS '0 fine (all datasources only: all regions or one), 1 medium, 2 coarse';

-- Lists kept before have no fine lists of a region, and a missing list reads as a region without
-- trips: they are not used until the next compaction (answers aggregate meanwhile).
DELETE FROM compaction_state;
