-- One BRIN of (job_id, hour, region_id) per level of flow_counts, in place of three (sql/07 by job,
-- sql/18 by hour and by region). A BRIN costs every row COPYed at ingest its own upkeep even when
-- the row's page range is not summarised yet (a look-up of the range map per row): 1M summary rows
-- COPYed into a table of five integer columns took 330-340 ms with no index, 480-545 ms with one
-- BRIN of three columns, 805-845 ms with three BRINs of one column each (psql, Dec 6). A BRIN of
-- several columns answers a condition on any of them as a BRIN of that column alone would, range
-- by range; ranges of 8 pages, as those by hour and region were (the job's ranges were 128 pages:
-- finer ranges skip more of the compacted rows, at a few kB more of index).
DROP INDEX flow_counts_job;
DROP INDEX flow_counts_medium_hour, flow_counts_medium_region, flow_counts_coarse_hour, flow_counts_coarse_region;
CREATE INDEX flow_counts_medium_brin ON flow_counts_medium USING brin (job_id, hour, region_id)
  WITH (pages_per_range = 8);
CREATE INDEX flow_counts_coarse_brin ON flow_counts_coarse USING brin (job_id, hour, region_id)
  WITH (pages_per_range = 8);
