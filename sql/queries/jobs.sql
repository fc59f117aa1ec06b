-- Ingest jobs: creation, state changes, progress, listing. Every change is announced on the
-- channel trip_jobs (payload: {"job_id": N, "status": "..."}), so pages and CLIs follow jobs
-- without polling.

-- name: job_create
INSERT INTO jobs (file_name, file_size, max_bad_rows, forced, source)
VALUES (:file_name, :file_size, :max_bad_rows, :forced, :source)
RETURNING job_id

-- name: job_lock
-- Held by the session of the process running the job, for as long as it lives: a queued or
-- running job whose lock nobody holds belongs to a process that died.
SELECT pg_advisory_lock(7313, :job_id::int)

-- name: job_event
INSERT INTO job_events (job_id, status, message) VALUES (:job_id, :status, :message)

-- name: job_notify
SELECT pg_notify('trip_jobs', json_build_object('job_id', :job_id::bigint, 'status', :status::text)::text)

-- name: job_start
UPDATE jobs SET status = 'running', phase = 'hashing', started_at = clock_timestamp(), updated_at = clock_timestamp()
 WHERE job_id = :job_id AND status = 'queued'
RETURNING job_id

-- name: job_set_hash
UPDATE jobs SET sha256 = :sha256, content_sha256 = :content_sha256, phase = 'reading', updated_at = clock_timestamp()
 WHERE job_id = :job_id

-- name: job_find_loaded
-- The earliest completed job with the same bytes, or the same CSV text (sql/20_content_sha256.sql),
-- and whether its bytes were the same.
SELECT job_id, coalesce(sha256 = :sha256, false) AS same_bytes FROM jobs
 WHERE (sha256 = :sha256 OR content_sha256 = :content_sha256) AND status = 'completed' AND job_id <> :job_id
 ORDER BY job_id LIMIT 1

-- name: job_progress
UPDATE jobs
   SET phase = :phase, bytes_read = :bytes_read, rows_read = :rows_read,
       rows_loaded = :rows_loaded, rows_rejected = :rows_rejected, updated_at = clock_timestamp()
 WHERE job_id = :job_id AND status = 'running'
RETURNING cancel_requested

-- name: job_finish
-- The final state. For a completed job this runs in the loading transaction, so the rows and
-- the state become visible together. A job already marked interrupted or cancelled keeps that,
-- and one asked to stop (job_cancel) is not completed, however late the request came: the
-- worker then rolls back.
UPDATE jobs
   SET status = :status, phase = NULL, rows_read = :rows_read, rows_loaded = :rows_loaded,
       rows_rejected = :rows_rejected, bytes_read = :bytes_read, error = :error,
       duplicate_of = :duplicate_of, updated_at = clock_timestamp(), finished_at = clock_timestamp(),
       content_sha256 = coalesce(:content_sha256, content_sha256)  -- gzip: its text's, hashed while loading
 WHERE job_id = :job_id AND status IN ('queued', 'running')
   AND NOT (cancel_requested AND :status = 'completed')
RETURNING job_id

-- name: job_summarize_new_rows
-- After a job commits: summarise the BRIN ranges its area_days rows filled (sql/11), which
-- queries read in full until then. Best effort: it waits at most 0.5 s for a VACUUM holding the
-- table, under deadlock_timeout (1 s), past which waiting would cancel an autovacuum of area_days
-- (the next job's summarising, or VACUUM, does what is left).
SET LOCAL lock_timeout = '500ms';
SELECT summarize_area_days();

-- name: job_cancel
-- A queued job is cancelled at once; a running one is asked to stop (its worker rolls back, and
-- its final write, job_finish, refuses to complete a job asked to stop). One UPDATE: a job that
-- starts meanwhile is re-read once it has, and asked to stop as a running job.
UPDATE jobs
   SET cancel_requested = true, updated_at = clock_timestamp(),
       status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
       finished_at = CASE WHEN status = 'queued' THEN clock_timestamp() ELSE finished_at END,
       error = CASE WHEN status = 'queued' THEN 'cancelled before it started; nothing was loaded' ELSE error END
 WHERE job_id = :job_id AND status IN ('queued', 'running')
RETURNING job_id, status::text

-- name: forget_unused_names
-- Names left by files that loaded nothing (sql/14_forget_unused_names.sql); the count forgotten,
-- or -1 when the tables were busy.
SELECT forget_unused_names()

-- name: jobs_reap_interrupted
-- Jobs whose process died (killed, crashed, lost its database session): nobody holds their lock.
UPDATE jobs
   SET status = 'interrupted', phase = NULL, finished_at = clock_timestamp(), updated_at = clock_timestamp(), rows_loaded = 0,
       error = 'the process running this job stopped before it finished (killed, crashed or '
               'disconnected from the database); nothing of the file was loaded. Ingest it again.'
 WHERE status IN ('queued', 'running')
   AND NOT EXISTS (
       SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.classid = 7313::oid
          AND l.objid = jobs.job_id::oid AND l.objsubid = 2 AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
RETURNING job_id

-- name: job_get
SELECT job_id, status::text AS status, file_name, file_size, sha256, max_bad_rows, forced, phase,
       bytes_read, rows_read, rows_loaded, rows_rejected, duplicate_of,
       (SELECT d.file_name FROM jobs d WHERE d.job_id = jobs.duplicate_of) AS duplicate_of_file,
       error, cancel_requested, source, created_at, started_at, updated_at, finished_at
  FROM jobs WHERE job_id = :job_id

-- name: jobs_list
-- The newest :limit jobs and every job still queued or running, however old (a long load must
-- not drop out of a list while many small files are loaded after it), newest first.
SELECT job_id, status::text AS status, file_name, file_size, sha256, max_bad_rows, forced, phase,
       bytes_read, rows_read, rows_loaded, rows_rejected, duplicate_of,
       (SELECT d.file_name FROM jobs d WHERE d.job_id = jobs.duplicate_of) AS duplicate_of_file,
       error, cancel_requested, source, created_at, started_at, updated_at, finished_at
  FROM jobs
 WHERE job_id >= (SELECT min(job_id) FROM (SELECT job_id FROM jobs ORDER BY job_id DESC LIMIT :limit) newest)
    OR status IN ('queued', 'running')
 ORDER BY job_id DESC

-- name: job_rejects
SELECT line, column_name, reason, message, raw
  FROM rejects WHERE job_id = :job_id ORDER BY line LIMIT :limit

-- name: dimension_regions_upsert
-- Only names not stored yet: ON CONFLICT alone would draw an id from the (smallint) sequence for
-- every name of every file, and run out of ids after a few thousand files.
INSERT INTO regions (name)
SELECT n FROM unnest(:names ::text[]) n WHERE NOT EXISTS (SELECT FROM regions WHERE name = n)
    ON CONFLICT (name) DO NOTHING

-- name: dimension_regions_ids
SELECT name, region_id FROM regions WHERE name = ANY(:names ::text[])

-- name: dimension_datasources_upsert
-- Only names not stored yet: ON CONFLICT alone would draw an id from the (smallint) sequence for
-- every name of every file, and run out of ids after a few thousand files.
INSERT INTO datasources (name)
SELECT n FROM unnest(:names ::text[]) n WHERE NOT EXISTS (SELECT FROM datasources WHERE name = n)
    ON CONFLICT (name) DO NOTHING

-- name: dimension_datasources_ids
SELECT name, datasource_id FROM datasources WHERE name = ANY(:names ::text[])
