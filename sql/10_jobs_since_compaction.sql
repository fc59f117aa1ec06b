-- The completed jobs whose summary rows the last compaction did not fold (every completed job
-- before the first compaction): what compaction would fold next, and what the kept top groups are
-- missing (sql/queries/groups.sql adds their rows, compact.sql decides whether compaction is due).
-- NOT IN over a subquery is hashed: it stays linear in the number of jobs.
CREATE VIEW jobs_since_compaction AS
SELECT job_id, rows_loaded
  FROM jobs
 WHERE status = 'completed'
   AND job_id NOT IN (SELECT unnest(folded_jobs) FROM compaction_state);
