-- Compaction also keeps the top groups of fine cells (flow_top.level 0), for all regions and all
-- datasources (region_id 0, datasource_id 0) only: all days, weekdays and weekend, every bucket
-- size, with the hourly totals (flow_top_hours). flow_counts has no fine level (fine cells barely
-- compress), so compaction counts them once from the raw trips (sql/queries/compact.sql), and
-- the jobs completed since are added from their own raw rows (sql/queries/groups.sql).
COMMENT ON COLUMN flow_top.level IS '0 fine (all regions and datasources only), 1 medium, 2 coarse';

-- Lists kept before have no fine groups, and a missing list reads as no trips at all: they are not
-- used until the next compaction (answers aggregate meanwhile).
DELETE FROM compaction_state;
