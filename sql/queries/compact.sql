-- Compaction of the summaries: each job adds its own rows (insert only, so loaders never wait on
-- each other), which leaves one row per key per job. Compaction folds every committed row of a
-- summary into one row per key, under the newest job id among them; every query sums, so the
-- answers do not change. Each statement reads one snapshot: rows of a job that commits meanwhile
-- are left as they are. Run by the owner (python -m core compact), e.g. nightly.

-- name: compact_lock
-- One compaction at a time: taken before the compaction's transaction (a REPEATABLE READ snapshot
-- taken while waiting would predate the previous compaction's commit, and its deletes would fail).
SELECT pg_advisory_lock(7314)

-- name: compact_unlock
SELECT pg_advisory_unlock(7314)

-- name: compaction_scratch
-- What a compaction will write, to check the disk before an hour's work: the trips it counts the
-- fine groups of (every completed job), those it copies into trip_times (:jobs, trip_times_missing),
-- and where the server keeps its files (NULL unless this user may see it: superusers, members of
-- pg_read_all_settings).
SELECT (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS data_directory,
       coalesce(sum(rows_loaded), 0)::bigint AS trips,
       coalesce(sum(rows_loaded) FILTER (WHERE job_id = ANY(CAST(:jobs AS int[]))), 0)::bigint AS uncopied
  FROM jobs WHERE status = 'completed'

-- name: compact_work_mem
-- Room to aggregate in memory, for this transaction only.
SELECT set_config('work_mem', '256MB', true)

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
 ORDER BY level, hour, region_id, o_cell, d_cell  -- hours and regions on few pages (sql/18, sql/30)

-- name: compact_area_days
WITH gone AS (DELETE FROM area_days RETURNING *)
INSERT INTO area_days (job_id, endpoint, cx, cy, day, trips)
SELECT max(job_id), endpoint, cx, cy, day, sum(trips)
  FROM gone GROUP BY endpoint, cx, cy, day
 ORDER BY endpoint, cx, cy, day

-- name: trip_times_missing
-- Completed jobs whose trips are not yet in trip_times (sql/17_trip_times.sql): every one of them
-- the first time; the query below names them as constants, so that only their partitions are read.
SELECT coalesce(array_agg(job_id ORDER BY job_id), '{}') FROM jobs
 WHERE status = 'completed' AND job_id NOT IN (SELECT job_id FROM trip_times_jobs)

-- name: compact_trip_times
-- Their trips, in (month, region, datasource, time) order, appended as one run (a period's rows
-- of a region and datasource then lie in one stretch a month per compaction: sql/22), the jobs,
-- once, and the trips' pairs of medium cells by day.
INSERT INTO trip_times (ts, o_cell, d_cell, region_id, datasource_id)
SELECT ts, o_cell, d_cell, region_id, datasource_id
  FROM trips WHERE job_id = ANY(CAST(:jobs AS int[]))
 ORDER BY date_trunc('month', ts), region_id, datasource_id, ts;
INSERT INTO trip_times_jobs (job_id) SELECT unnest(CAST(:jobs AS int[]));
-- Their trips by origin and destination medium cell and day (sql/25_pair_days.sql), one run.
INSERT INTO pair_days (o_medium, d_medium, day, trips)
SELECT grid_parent(o_cell, 1::smallint), grid_parent(d_cell, 1::smallint), ts::date, count(*)
  FROM trips WHERE job_id = ANY(CAST(:jobs AS int[]))
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- BRIN summarises new pages only when asked: unsummarised ranges are read whole by every query.
SELECT brin_summarize_new_values('trip_times_region_datasource_ts'::regclass)

-- name: compact_vacuum
-- After the commit (VACUUM runs outside a transaction): reclaim the deleted rows, fresh statistics.
VACUUM ANALYZE daily_counts, region_datasources, flow_counts, area_days, flow_top, flow_top_totals,
               flow_top_hours, list_month_counts, trip_times, trip_times_jobs, pair_days

-- name: compact_resummarize
-- The BRIN on area_days (sql/11) still summarises the rows compaction deleted: summaries only
-- widen, and the pages VACUUM freed fill with later jobs' rows. Each range is summarised afresh
-- (a REINDEX CONCURRENTLY would wait for every open transaction, a waiting compaction's too).
-- Queries stay exact meanwhile: a range without a summary is read whole.
-- The same for flow_counts' BRINs by job, hour and region (sql/30).
SELECT count(brin_desummarize_range(index, blk))
  FROM (VALUES ('area_days_cell'::regclass, 'area_days'::regclass, 4),  -- 4, 8: pages_per_range
               ('flow_counts_medium_brin', 'flow_counts_medium', 8),
               ('flow_counts_coarse_brin', 'flow_counts_coarse', 8)) i (index, heap, per)
 CROSS JOIN LATERAL generate_series(0, pg_relation_size(heap) / current_setting('block_size')::int, per) AS blk;
SELECT brin_summarize_new_values(index)
  FROM (VALUES ('area_days_cell'::regclass), ('flow_counts_medium_brin'), ('flow_counts_coarse_brin')) i (index)

-- name: summary_rows
SELECT (SELECT count(*) FROM daily_counts) AS daily_counts,
       (SELECT count(*) FROM region_datasources) AS region_datasources,
       (SELECT count(*) FROM flow_counts) AS flow_counts,
       (SELECT count(*) FROM area_days) AS area_days

-- name: compaction_new_jobs
-- Completed jobs whose rows the last compaction did not fold (all of them before the first).
SELECT count(*) AS new_jobs FROM jobs_since_compaction

-- name: compaction_due
-- The trips of completed jobs folded by the last compaction, and of those completed since;
-- whether a folded job's trips are missing from trip_times (a database compacted before
-- sql/17_trip_times.sql: the next compaction copies them, even with nothing to fold); and whether
-- trips were folded but no month has its lists of fine cells, or of a datasource (compacted before
-- sql/21_flow_top_months.sql, before it kept fine cells' month lists, Dec 5, or those of each region
-- and datasource, Dec 6: the next compaction makes them, even with nothing to fold; every datasource
-- keeps its lists, so a month with trips has some), or the month counts of the lists of all dates
-- of buckets over an hour or of a datasource (sql/31, sql/32), or the totals of each bucket of
-- buckets over an hour (sql/33), or fine cells' month lists of buckets over an hour (Dec 7); and
-- whether the lists of all dates lack those totals (lists_missing: the next compaction keeps every
-- list again, even with nothing to fold).
SELECT completed - new AS folded_trips, new AS new_trips,
       EXISTS (SELECT FROM folded_jobs_uncopied) AS uncopied,  -- (sql/29)
       completed > new AND (NOT EXISTS (SELECT FROM flow_top_totals WHERE level = 0 AND month > '-infinity')
                            OR NOT EXISTS (SELECT FROM flow_top_totals
                                            WHERE level = 1 AND month > '-infinity' AND datasource_id > 0)
                            OR NOT EXISTS (SELECT FROM list_month_counts WHERE bucket_hours > 1)
                            OR NOT EXISTS (SELECT FROM list_month_counts WHERE datasource_id > 0)
                            OR NOT EXISTS (SELECT FROM flow_top_hours WHERE bucket_hours > 1 AND month > '-infinity')
                            OR NOT EXISTS (SELECT FROM flow_top_totals
                                            WHERE level = 0 AND bucket_hours > 1 AND month > '-infinity'))
           AS months_missing,
       completed > new AND NOT EXISTS (SELECT FROM flow_top_hours WHERE bucket_hours > 1 AND month = '-infinity')
           AS lists_missing
  FROM (SELECT coalesce(sum(rows_loaded), 0)::bigint AS completed FROM jobs WHERE status = 'completed') c,
       (SELECT coalesce(sum(rows_loaded), 0)::bigint AS new FROM jobs_since_compaction) n

-- name: compact_flow_top_clear
DELETE FROM flow_top;
DELETE FROM flow_top_totals;
DELETE FROM flow_top_hours;
DELETE FROM list_month_counts

-- name: compact_level_hours
-- The groups of one level per hour of the day, of each region (side 1) and of each datasource
-- (side 2), and how many of their trips on a weekend: what the kept lists of that level are made
-- from (compact_context, for everything, each region and each datasource, in each bucket size).
-- Emptied by TRUNCATE for each level: a table created in this transaction is truncated in place,
-- its disk space freed at once, whereas a dropped one keeps its files until the commit (at 100M
-- copies of the fine groups ran the disk full, docs/SCALE.md). Its index is dropped once
-- truncated, then built in bulk after the rows are in (compact_level_index).
CREATE TEMP TABLE IF NOT EXISTS level_hours (
    side int, id smallint, o_cell bigint, d_cell bigint, hour int, trips int, weekend_trips int
) ON COMMIT DROP;
TRUNCATE pg_temp.level_hours;
DROP INDEX IF EXISTS pg_temp.level_hours_side_id

-- name: compact_level_index
-- Each region's and datasource's rows of level_hours found by its index; the statistics tell the
-- planner that all regions together (side 1) are half the table.
CREATE INDEX level_hours_side_id ON pg_temp.level_hours (side, id);
ANALYZE pg_temp.level_hours

-- name: compact_fine_hours
-- Fine cells: counted from the raw trips (flow_counts has no fine level), once per compaction,
-- as groups_from_trips counts them, in one pass (two grouping sets). Read from trip_times, which
-- compact_trip_times has just brought up to every completed job of this snapshot: the same trips,
-- in half the bytes.
INSERT INTO pg_temp.level_hours (side, id, o_cell, d_cell, hour, trips, weekend_trips)
SELECT CASE WHEN GROUPING(region_id) = 0 THEN 1 ELSE 2 END AS side,
       coalesce(region_id, datasource_id) AS id,
       o_cell, d_cell, hour::int AS hour, count(*)::int AS trips,
       (count(*) FILTER (WHERE weekend))::int AS weekend_trips
  FROM trip_times
 GROUP BY GROUPING SETS ((region_id, o_cell, d_cell, hour), (datasource_id, o_cell, d_cell, hour))

-- name: compact_summary_hours
-- Medium and coarse cells (:level 1, 2): from flow_counts, just folded, as groups_from_summary
-- sums them, in one pass over the level's partition (two grouping sets). Each list used to be a
-- query of its own over the whole partition (flow_counts has no index by region or datasource):
-- 36 for each region and datasource.
INSERT INTO pg_temp.level_hours (side, id, o_cell, d_cell, hour, trips, weekend_trips)
SELECT CASE WHEN GROUPING(region_id) = 0 THEN 1 ELSE 2 END AS side,
       coalesce(region_id, datasource_id) AS id,
       o_cell, d_cell, hour::int AS hour, sum(trips::int)::int AS trips,
       coalesce(sum(trips::int) FILTER (WHERE weekend), 0)::int AS weekend_trips
  FROM flow_counts
 WHERE level = :level
 GROUP BY GROUPING SETS ((region_id, o_cell, d_cell, hour), (datasource_id, o_cell, d_cell, hour))

-- name: compact_keep_days
-- The three lists of one context (the query put in place of "context": each group's o_cell,
-- d_cell, bucket, trips and weekend_trips), for all days, weekdays and weekend (flow_top.days 0,
-- 1, 2), written on the server with their totals, of all dates (:month NULL) or of a month: the
-- top groups in the live order (groups_from_trips), and the totals of each bucket (flow_top_hours,
-- of 1-hour buckets only before sql/33). The context is read once for all of them (until Dec 6 once for each
-- list and once more for the hours, each a statement of its own: at 10M, cutting the 36 lists of
-- fine 2-hour buckets took 25.8 s, and 13.0 s so, the same lists). An empty list keeps nothing
-- (it reads as no trips). (One row a list, its groups as arrays in the list's order:
-- sql/28_flow_top_arrays.sql.)
WITH g AS MATERIALIZED (
    SELECT o_cell, d_cell, bucket, trips, weekend_trips FROM ({context}) context
), d (days, weekend) AS (
    VALUES (0, NULL::boolean), (1, false), (2, true)
), top AS MATERIALIZED (
    SELECT d.days, x.o_cell, x.d_cell, x.bucket, x.trips
      FROM d, LATERAL (
          SELECT o_cell, d_cell, bucket, trips
            FROM (SELECT o_cell, d_cell, bucket,
                         CASE WHEN d.weekend IS NULL THEN trips
                              WHEN d.weekend THEN weekend_trips
                              ELSE trips - weekend_trips END AS trips
                    FROM g) day_groups
           WHERE trips > 0
           ORDER BY trips DESC, o_cell, d_cell, bucket
           LIMIT :limit) x
), buckets AS MATERIALIZED (
    -- each bucket's trips and groups (with trips) for all days, weekdays and weekend; a group is
    -- in one bucket, so the list's totals are these summed
    SELECT b.bucket, t.days, t.trips, t.groups
      FROM (SELECT bucket,
                   sum(trips) AS all_trips, count(*) FILTER (WHERE trips > 0) AS all_groups,
                   sum(trips - weekend_trips) AS weekday_trips, count(*) FILTER (WHERE trips > weekend_trips) AS weekday_groups,
                   sum(weekend_trips) AS weekend_trips, count(*) FILTER (WHERE weekend_trips > 0) AS weekend_groups
              FROM g
             GROUP BY bucket) b,
           LATERAL (VALUES (0, all_trips, all_groups), (1, weekday_trips, weekday_groups),
                           (2, weekend_trips, weekend_groups)) t (days, trips, groups)
     WHERE t.groups > 0
), kept AS (
    INSERT INTO flow_top (level, bucket_hours, region_id, datasource_id, days, month, o_cells, d_cells, buckets, trips)
    SELECT :level, :bucket_hours, :region_id, :datasource_id, days, coalesce(CAST(:month AS date), '-infinity'),
           array_agg(o_cell ORDER BY trips DESC, o_cell, d_cell, bucket),
           array_agg(d_cell ORDER BY trips DESC, o_cell, d_cell, bucket),
           array_agg(bucket ORDER BY trips DESC, o_cell, d_cell, bucket),
           array_agg(trips ORDER BY trips DESC, o_cell, d_cell, bucket)
      FROM top
     GROUP BY days
), hours AS (  -- (each bucket's by its first hour: sql/33)
    INSERT INTO flow_top_hours (level, bucket_hours, region_id, datasource_id, days, month, hour, total_trips, total_groups)
    SELECT :level, :bucket_hours, :region_id, :datasource_id, days, coalesce(CAST(:month AS date), '-infinity'),
           bucket * :bucket_hours, trips, groups
      FROM buckets
)
INSERT INTO flow_top_totals (level, bucket_hours, region_id, datasource_id, days, month, total_trips, total_groups)
SELECT :level, :bucket_hours, :region_id, :datasource_id, days, coalesce(CAST(:month AS date), '-infinity'),
       sum(trips)::bigint, sum(groups)::bigint
  FROM buckets
 GROUP BY days

-- name: compact_context
-- The groups of everything (:region_id and :datasource_id 0: the regions' groups summed, since
-- every trip has one region), one region or one datasource, of the level compact_level_hours
-- counted, in :bucket_hours buckets. A region's or a datasource's 1-hour groups are its rows as
-- they are. (Until Dec 6 each bucket size's groups were first copied into a table of their own
-- and indexed: at 10M, 29 s of the 50 s that each bucket size of fine cells took.)
SELECT o_cell, d_cell, hour AS bucket, trips, weekend_trips FROM pg_temp.level_hours
 WHERE :bucket_hours = 1 AND :region_id + :datasource_id > 0
   AND (side, id) = (CASE WHEN :region_id > 0 THEN 1 ELSE 2 END, :region_id + :datasource_id)
 UNION ALL
SELECT o_cell, d_cell, hour / :bucket_hours, sum(trips)::int, sum(weekend_trips)::int FROM pg_temp.level_hours
 WHERE NOT (:bucket_hours = 1 AND :region_id + :datasource_id > 0)
   AND side = CASE WHEN :datasource_id > 0 THEN 2 ELSE 1 END
   AND (:region_id + :datasource_id = 0 OR id = :region_id + :datasource_id)
 GROUP BY 1, 2, 3

-- name: compact_month_context
-- The month's groups (compact_month_hours) of :level and :bucket_hours, of everything
-- (:region_id and :datasource_id 0), one region or one datasource (medium and coarse cells).
SELECT o_cell, d_cell, hour / :bucket_hours AS bucket, sum(trips)::bigint AS trips,
       sum(weekend_trips)::bigint AS weekend_trips
  FROM pg_temp.month_hours
 WHERE (side, id, level) = (CASE WHEN :region_id > 0 THEN 1 WHEN :datasource_id > 0 THEN 2 ELSE 0 END,
                            :region_id + :datasource_id, :level)
 GROUP BY 1, 2, 3

-- name: compact_months
-- The months that have trips (every completed job's trips are in trip_times by now).
SELECT DISTINCT date_trunc('month', day)::date FROM daily_counts ORDER BY 1

-- name: compact_month_hours
-- The groups of one month's trips (:month, its first day) per hour of the day, and how many of
-- them on a weekend, as groups_from_trips counts them: in fine cells of everything (side 0), of
-- each region that keeps lists (:regions, side 1) and of each datasource (side 2), in one pass over
-- the month's trips (three grouping sets); then medium ones from the fine ones, and coarse ones
-- from the medium ones (a cell is the parent of the smaller ones in it). The month lists
-- (sql/21_flow_top_months.sql; fine cells for 1-hour buckets only, and only of everything:
-- core/groups.py MONTH_LISTS) and the month counts of the lists of all dates (sql/31, sql/32) are
-- made from them, each found by the index.
CREATE TEMP TABLE IF NOT EXISTS month_hours (
    side int, id smallint, level smallint, o_cell bigint, d_cell bigint, hour int, trips int, weekend_trips int
) ON COMMIT DROP;
TRUNCATE pg_temp.month_hours;
DROP INDEX IF EXISTS pg_temp.month_hours_context;
INSERT INTO pg_temp.month_hours (side, id, level, o_cell, d_cell, hour, trips, weekend_trips)
SELECT CASE WHEN GROUPING(region_id) = 0 THEN 1 WHEN GROUPING(datasource_id) = 0 THEN 2 ELSE 0 END,
       coalesce(region_id, datasource_id, 0), 0, o_cell, d_cell, hour, count(*), count(*) FILTER (WHERE weekend)
  FROM trip_times
 WHERE ts >= CAST(:month AS date) AND ts < CAST(:month AS date) + interval '1 month'
 GROUP BY GROUPING SETS ((o_cell, d_cell, hour), (region_id, o_cell, d_cell, hour), (datasource_id, o_cell, d_cell, hour))
HAVING GROUPING(region_id) = 1 OR region_id = ANY(CAST(:regions AS int[]));
INSERT INTO pg_temp.month_hours (side, id, level, o_cell, d_cell, hour, trips, weekend_trips)
SELECT side, id, 1, grid_parent(o_cell, 1::smallint), grid_parent(d_cell, 1::smallint), hour, sum(trips), sum(weekend_trips)
  FROM pg_temp.month_hours WHERE level = 0
 GROUP BY 1, 2, 4, 5, 6;
INSERT INTO pg_temp.month_hours (side, id, level, o_cell, d_cell, hour, trips, weekend_trips)
SELECT side, id, 2, grid_parent(o_cell, 1::smallint), grid_parent(d_cell, 1::smallint), hour, sum(trips), sum(weekend_trips)
  FROM pg_temp.month_hours WHERE level = 1
 GROUP BY 1, 2, 4, 5, 6;
CREATE INDEX month_hours_context ON pg_temp.month_hours (side, id, level);
ANALYZE pg_temp.month_hours

-- name: compact_list_month_counts
-- The counts of the groups of the lists of all dates of one context (:region_id, :datasource_id:
-- everything, a region or a datasource, as in flow_top), :level and :bucket_hours (all days,
-- weekdays and weekend, one row each; kept first, in the same transaction) on their days from the
-- first month through :month, in each list's order (sql/31_list_month_counts.sql, sql/32): those
-- through the month before (compaction writes the months in order) plus the month's own
-- (pg_temp.month_hours of that context, its hours summed into the buckets). One unnest zips a
-- list's arrays with those of the month before, entry by entry (a join by position was planned
-- as a nested loop over this transaction's new rows: 8 minutes instead of 47 s at 1M trips).
WITH h AS (
    SELECT o_cell, d_cell, hour / :bucket_hours AS bucket, sum(trips) AS trips, sum(weekend_trips) AS weekend_trips
      FROM pg_temp.month_hours
     WHERE (side, id, level) = (CASE WHEN :region_id > 0 THEN 1 WHEN :datasource_id > 0 THEN 2 ELSE 0 END,
                                :region_id + :datasource_id, :level)
     GROUP BY 1, 2, 3
)
INSERT INTO list_month_counts (level, bucket_hours, region_id, datasource_id, days, month, trips)
SELECT :level, :bucket_hours, :region_id, :datasource_id, t.days, :month,
       array_agg(coalesce(g.trips, 0) + coalesce(CASE t.days WHEN 0 THEN h.trips
                                                             WHEN 1 THEN h.trips - h.weekend_trips
                                                             ELSE h.weekend_trips END, 0) ORDER BY g.i)
  FROM flow_top t
  LEFT JOIN LATERAL (SELECT c.trips FROM list_month_counts c
                      WHERE (c.level, c.bucket_hours, c.region_id, c.datasource_id, c.days)
                            = (:level, :bucket_hours, :region_id, :datasource_id, t.days)
                        AND c.month < :month
                      ORDER BY c.month DESC LIMIT 1) before ON true
 CROSS JOIN LATERAL unnest(t.o_cells, t.d_cells, t.buckets, before.trips) WITH ORDINALITY
                    AS g (o_cell, d_cell, bucket, trips, i)
  LEFT JOIN h ON (h.o_cell, h.d_cell, h.bucket) = (g.o_cell, g.d_cell, g.bucket)
 WHERE (t.level, t.bucket_hours, t.region_id, t.datasource_id, t.month)
       = (:level, :bucket_hours, :region_id, :datasource_id, '-infinity')
 GROUP BY t.days  -- (no list: no row)

-- name: compact_month_lists_clear
-- The month lists, before a compaction with nothing to fold makes them again (a database
-- compacted before there were any, or before those of fine cells or of each region and
-- datasource: compaction_due).
DELETE FROM flow_top WHERE month > '-infinity';
DELETE FROM flow_top_totals WHERE month > '-infinity';
DELETE FROM flow_top_hours WHERE month > '-infinity';
DELETE FROM list_month_counts

-- name: compact_regions
-- The regions whose lists are kept: those with at least :min_trips trips (TRIPS_LIST_MIN_TRIPS). A
-- smaller region's groups are counted from its trips, one stretch of trip_times a month
-- (core/groups.py), in milliseconds, and its lists would cost up to 36 rows per trip (each list of
-- a small region keeps every group, and a fine group is about one trip): with hundreds of small
-- regions, gigabytes and minutes of compaction for a few hundred thousand trips. (Datasources keep
-- theirs whatever their size: a datasource's trips lie in one stretch per region a month, no
-- quick read; and datasources are few.)
SELECT region_id FROM region_datasources GROUP BY region_id HAVING sum(trips) >= :min_trips ORDER BY region_id

-- name: compact_datasources
SELECT datasource_id FROM datasources ORDER BY datasource_id

-- name: compact_state
-- The jobs folded: every job completed in this transaction's snapshot (its rows and its state
-- commit together, so these are exactly the jobs whose rows were folded).
INSERT INTO compaction_state (folded_jobs, compacted_at)
SELECT coalesce(array_agg(job_id ORDER BY job_id), '{}'), clock_timestamp()
  FROM jobs WHERE status = 'completed'
ON CONFLICT (one) DO UPDATE SET folded_jobs = excluded.folded_jobs, compacted_at = excluded.compacted_at
