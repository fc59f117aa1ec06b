-- The completed jobs whose summary rows compaction folded but whose trips are not in trip_times (a
-- database compacted before sql/17_trip_times.sql): the next compaction copies them, even with
-- nothing to fold (sql/queries/compact.sql compaction_due), and until then no date range is read
-- from the month lists, whose days around come from trip_times (sql/queries/groups.sql
-- groups_kept_state). One definition for both.
CREATE VIEW folded_jobs_uncopied AS
SELECT job_id
  FROM jobs
 WHERE status = 'completed'
   AND job_id NOT IN (SELECT job_id FROM jobs_since_compaction)
   AND job_id NOT IN (SELECT job_id FROM trip_times_jobs);
GRANT SELECT ON folded_jobs_uncopied TO trips_reader, trips_loader;  -- as sql/04_roles.sql grants every table
