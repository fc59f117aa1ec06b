-- The totals of each bucket of every bucket size (core.groups.BUCKET_HOURS), not of each hour of
-- 1-hour buckets only: with them, kept answers filtered by hours of the day that are whole buckets
-- (6-8 h in 3-hour buckets) have exact totals too, and are read from the kept lists (a group is in
-- one bucket, so the groups of different buckets add up; at 10M trips, fine 3-hour groups of
-- 6-8 h were counted from the trips: 0.53 s). hour is the bucket's first hour, so that one
-- filter (hour = ANY(hours asked)) reads the buckets of whole-bucket hours of any size. The rows
-- kept so far are of 1-hour buckets; the next compaction writes the others (compaction_due,
-- sql/queries/compact.sql), and until then such answers are counted as before (groups_kept_state).
ALTER TABLE flow_top_hours ADD COLUMN bucket_hours smallint NOT NULL DEFAULT 1;
ALTER TABLE flow_top_hours ALTER COLUMN bucket_hours DROP DEFAULT;
ALTER TABLE flow_top_hours DROP CONSTRAINT flow_top_hours_pkey,
                           ADD PRIMARY KEY (level, bucket_hours, region_id, datasource_id, days, month, hour);
