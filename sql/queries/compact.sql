-- Compaction of the summaries: each job adds its own rows (insert only, so loaders never wait on
-- each other), which leaves one row per key per job. Compaction folds every committed row of a
-- summary into one row per key, under the newest job id among them; every query sums, so the
-- answers do not change. Each statement reads one snapshot: rows of a job that commits meanwhile
-- are left as they are. Run by the owner (python -m core compact), e.g. nightly.

-- name: compact_lock
-- One compaction at a time; room to aggregate in memory, for this transaction only.
SELECT pg_advisory_xact_lock(7314), set_config('work_mem', '256MB', true)

-- name: compact_daily_counts
WITH gone AS (DELETE FROM daily_counts RETURNING *)
INSERT INTO daily_counts (job_id, region_id, datasource_id, day, trips)
SELECT max(job_id), region_id, datasource_id, day, sum(trips)
  FROM gone GROUP BY region_id, datasource_id, day

-- name: compact_region_datasources
WITH gone AS (DELETE FROM region_datasources RETURNING *)
INSERT INTO region_datasources (job_id, region_id, datasource_id, trips, first_ts, last_ts, cx0, cy0, cx1, cy1)
SELECT max(job_id), region_id, datasource_id, sum(trips), min(first_ts), max(last_ts),
       min(cx0), min(cy0), max(cx1), max(cy1)
  FROM gone GROUP BY region_id, datasource_id

-- name: compact_flow_counts
WITH gone AS (DELETE FROM flow_counts RETURNING *)
INSERT INTO flow_counts (job_id, level, region_id, datasource_id, weekend, hour, o_cell, d_cell, trips)
SELECT max(job_id), level, region_id, datasource_id, weekend, hour, o_cell, d_cell, sum(trips)
  FROM gone GROUP BY level, region_id, datasource_id, weekend, hour, o_cell, d_cell
 ORDER BY level, o_cell, d_cell

-- name: compact_area_days
WITH gone AS (DELETE FROM area_days RETURNING *)
INSERT INTO area_days (job_id, endpoint, cx, cy, day, trips)
SELECT max(job_id), endpoint, cx, cy, day, sum(trips)
  FROM gone GROUP BY endpoint, cx, cy, day
 ORDER BY endpoint, cx, cy, day

-- name: compact_vacuum
-- After the commit (VACUUM runs outside a transaction): reclaim the deleted rows, fresh statistics.
VACUUM ANALYZE daily_counts, region_datasources, flow_counts, area_days

-- name: summary_rows
SELECT (SELECT count(*) FROM daily_counts) AS daily_counts,
       (SELECT count(*) FROM region_datasources) AS region_datasources,
       (SELECT count(*) FROM flow_counts) AS flow_counts,
       (SELECT count(*) FROM area_days) AS area_days
