-- Per hour of the day, the totals of the 1-hour groups that compaction keeps (flow_top with
-- bucket_hours = 1): with them, kept answers filtered by hours of the day have exact totals (one
-- bucket is one hour, so the groups of different hours are different groups and add up).
CREATE TABLE flow_top_hours (
    level        smallint NOT NULL,
    region_id    smallint NOT NULL,   -- 0: all regions
    days         smallint NOT NULL,   -- 0: all, 1: weekdays, 2: weekend
    hour         smallint NOT NULL,
    total_trips  bigint   NOT NULL,
    total_groups bigint   NOT NULL,
    PRIMARY KEY (level, region_id, days, hour)
);

-- Lists kept before this table existed have no hourly totals: they are not used until the next
-- compaction (answers aggregate meanwhile).
DELETE FROM compaction_state;
