-- Compaction keeps the top fine groups of each datasource as well (flow_top.level 0,
-- datasource_id > 0, all regions), with their hourly totals: fine groups of one datasource (or
-- several, summed) are read, not counted from the raw trips (4.0 s for one datasource at 10M).
-- Lists kept before have none: they are used only once a compaction has kept some
-- (groups_kept_state), so nothing needs clearing here.
COMMENT ON COLUMN flow_top.level IS
    '0 fine (everything, one region with all datasources, or one datasource with all regions), 1 medium, 2 coarse';
