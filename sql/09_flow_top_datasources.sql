-- Compaction also keeps the top groups of each datasource (all regions), with their totals:
-- flow_top, flow_top_totals and flow_top_hours get the datasource (0: all datasources, the rows
-- kept so far).
ALTER TABLE flow_top ADD COLUMN datasource_id smallint NOT NULL DEFAULT 0;
DROP INDEX flow_top_order;
CREATE INDEX flow_top_order
    ON flow_top (level, bucket_hours, region_id, datasource_id, days, trips DESC, o_cell, d_cell, bucket);

ALTER TABLE flow_top_totals ADD COLUMN datasource_id smallint NOT NULL DEFAULT 0;
ALTER TABLE flow_top_totals DROP CONSTRAINT flow_top_totals_pkey,
    ADD PRIMARY KEY (level, bucket_hours, region_id, datasource_id, days);

ALTER TABLE flow_top_hours ADD COLUMN datasource_id smallint NOT NULL DEFAULT 0;
ALTER TABLE flow_top_hours DROP CONSTRAINT flow_top_hours_pkey,
    ADD PRIMARY KEY (level, region_id, datasource_id, days, hour);

-- Lists kept before have no datasource's own lists, and a missing list reads as a datasource with
-- no trips: they are not used until the next compaction (answers aggregate meanwhile).
DELETE FROM compaction_state;
