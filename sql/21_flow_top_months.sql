-- Compaction keeps the top groups of each month as well (flow_top.month, the first day of the
-- month; '-infinity': no date range), for medium and coarse cells, all regions and datasources,
-- all days, weekdays and weekend, every bucket size, with the totals of each hour for 1-hour
-- buckets (flow_top_hours.month). Groups over a date range are then the lists
-- of the whole months it takes in, summed as the lists of several regions are (with the same proof
-- that the answer is exact: sql/queries/groups.sql, groups_kept_and_new), with the trips of the
-- days before and after those months counted from trip_times, and those of the jobs completed
-- since from their own partitions. A year of 10M trips read 4M raw trips (1.8 s); it reads twelve
-- lists instead. Lists kept before have no month lists: they are used only once a compaction has
-- kept some (groups_kept_state), so nothing needs clearing here.
ALTER TABLE flow_top ADD COLUMN month date NOT NULL DEFAULT '-infinity';
DROP INDEX flow_top_order;
CREATE INDEX flow_top_order
    ON flow_top (level, bucket_hours, region_id, datasource_id, days, month, trips DESC, o_cell, d_cell, bucket);

ALTER TABLE flow_top_totals ADD COLUMN month date NOT NULL DEFAULT '-infinity';
ALTER TABLE flow_top_totals DROP CONSTRAINT flow_top_totals_pkey,
    ADD PRIMARY KEY (level, bucket_hours, region_id, datasource_id, days, month);

ALTER TABLE flow_top_hours ADD COLUMN month date NOT NULL DEFAULT '-infinity';
ALTER TABLE flow_top_hours DROP CONSTRAINT flow_top_hours_pkey,
    ADD PRIMARY KEY (level, region_id, datasource_id, days, month, hour);
