-- The month counts of sql/31_list_month_counts.sql of more lists of all dates: of every bucket size
-- (core.groups.BUCKET_HOURS), not of 1-hour buckets only (a date range's fine groups in 3-hour
-- buckets were counted from the period's trips: at 10M trips, 0.35-3.7 s over a quarter or more),
-- and of each region and datasource that keeps lists (1-hour buckets; region_id, datasource_id as
-- in flow_top: 0 for all). Those lists of everything keep as many groups as the 1-hour ones
-- (core.groups.PROOF_TOP_FACTOR) from the next compaction on. The rows kept so far are of
-- everything's 1-hour buckets; the next compaction counts the others (compaction_due,
-- sql/queries/compact.sql).
ALTER TABLE list_month_counts ADD COLUMN bucket_hours smallint NOT NULL DEFAULT 1,
                              ADD COLUMN region_id smallint NOT NULL DEFAULT 0,
                              ADD COLUMN datasource_id smallint NOT NULL DEFAULT 0;
ALTER TABLE list_month_counts ALTER COLUMN bucket_hours DROP DEFAULT,
                              ALTER COLUMN region_id DROP DEFAULT,
                              ALTER COLUMN datasource_id DROP DEFAULT;
ALTER TABLE list_month_counts DROP CONSTRAINT list_month_counts_pkey,
                              ADD PRIMARY KEY (level, bucket_hours, region_id, datasource_id, days, month);
