-- The flow rows of one job: after compaction the kept top groups (sql/06_flow_top.sql) are
-- merged at query time with the rows of the jobs completed since (sql/queries/groups.sql,
-- groups_kept_and_new). Each job's rows are inserted together and compaction rewrites each key
-- under the newest job id folded into it, so a BRIN on job_id skips the compacted rows for jobs
-- numbered after them; it costs almost nothing at ingest (pages past the last summarised range
-- are not indexed until VACUUM summarises them).
CREATE INDEX flow_counts_job ON flow_counts USING brin (job_id);
