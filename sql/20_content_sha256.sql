-- The same data loads once, compressed or not: a gzip of a file already loaded (or the plain text
-- of a loaded .gz) was a new file, since its bytes differ, and its trips counted twice. Each job
-- also records the SHA-256 of its CSV text (content_sha256: of the decompressed bytes for gzip,
-- the file's own sha256 otherwise), and a second completed job with the same text is refused as a
-- duplicate too (unless forced), as one with the same bytes is (jobs_sha256_loaded_once).
ALTER TABLE jobs ADD COLUMN content_sha256 text;
COMMENT ON COLUMN jobs.content_sha256 IS
    'sha256 of the CSV text: of the decompressed bytes for gzip, else equal to sha256; NULL when the gzip data is damaged';
-- Jobs from before: their bytes' hash (for a .gz the text's hash is unknown; a later copy of the
-- same text in another form is then not recognised).
UPDATE jobs SET content_sha256 = sha256 WHERE content_sha256 IS NULL AND sha256 IS NOT NULL;
CREATE UNIQUE INDEX jobs_content_loaded_once ON jobs (content_sha256)
    WHERE status = 'completed' AND NOT forced;
COMMENT ON TYPE job_status IS
    'queued: waiting for a worker; running: being read and loaded; completed: all good rows visible; '
    'failed: nothing loaded (bad file, too many bad rows, database error); duplicate: same bytes, or '
    'the same CSV text gzip-compressed or not, as an earlier completed job, nothing loaded; '
    'interrupted: the process running it died, nothing loaded; cancelled: stopped on request, nothing loaded.';
