-- Medium and coarse groups that the kept lists cannot answer aggregate flow_counts. With some hours
-- of the day, or a region, only a part of a level's rows matches: compaction rewrites the rows in
-- (hour, region, cells) order (sql/queries/compact.sql) and these BRINs find that part. At 10M
-- (medium rows compacted, psql): 7-9h in 3-hour buckets 330 -> 250 ms, two datasources at 7-9h
-- 265 -> 172 ms, a region and a datasource 205 -> 128 ms; without such a filter, no change.
-- Each job's own rows, added at ingest, fill the pages compaction's VACUUM freed (widening those
-- ranges' summaries) or lie past the summarised ranges (read whole); either way they are read as
-- before. Compaction summarises every range afresh, since summaries only widen; its rows too
-- refill freed pages first, so the order holds per stretch of pages, not across the whole table.
CREATE INDEX flow_counts_medium_hour ON flow_counts_medium USING brin (hour) WITH (pages_per_range = 8);
CREATE INDEX flow_counts_medium_region ON flow_counts_medium USING brin (region_id) WITH (pages_per_range = 8);
CREATE INDEX flow_counts_coarse_hour ON flow_counts_coarse USING brin (hour) WITH (pages_per_range = 8);
CREATE INDEX flow_counts_coarse_region ON flow_counts_coarse USING brin (region_id) WITH (pages_per_range = 8);
