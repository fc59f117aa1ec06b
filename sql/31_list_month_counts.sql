-- The counts of the groups of each kept list of all dates of everything (flow_top month
-- '-infinity', 1-hour buckets, all regions and datasources; all days, weekdays, weekend) of each
-- level in core.groups.MONTH_COUNT_LEVELS, from the first month with trips through each month, on
-- the list's days: one row a month with trips, an array in the list's order (its i-th entry counts
-- the list's i-th group). Compaction writes them with the lists they follow, in the same
-- transaction (sql/queries/compact.sql compact_list_month_counts).
--
-- The counts of a range of whole months are then one row's arrays less another's (the month
-- before the first), whatever the number of months; the days around them are counted from
-- trip_times for the list's groups only (sql/queries/groups.sql groups_month_counts). These are
-- exact counts of every group that may rank: a group missing from the list counts at most the
-- list's least count over all dates, so in any period. At 10M trips the fine groups of a year were
-- the twelve month lists summed and 19,822 of their groups recounted from the year's 3.8M rows of
-- trip_times (555 ms). A database compacted before these rows existed gets them at its next
-- compaction (compaction_due).
CREATE TABLE list_month_counts (
    level  smallint NOT NULL,   -- 0 fine, 1 medium, 2 coarse
    days   smallint NOT NULL,   -- the list's: 0 all, 1 weekdays, 2 weekend (flow_top.days)
    month  date     NOT NULL,   -- the month's first day
    trips  bigint[] NOT NULL,   -- the list's groups' trips on its days from the first month through this one
    PRIMARY KEY (level, days, month)
);
GRANT SELECT ON list_month_counts TO trips_reader, trips_loader;  -- as sql/04_roles.sql grants every table
