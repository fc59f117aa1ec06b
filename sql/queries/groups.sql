-- Similar-trip groups: trips whose origins share a cell, whose destinations share a cell and
-- whose times of day share a bucket. Filters left NULL do not filter. Each row carries the
-- total over every group (total_trips) and how many groups there are, before the LIMIT.
-- Both totals count every group, so the cost is one hash aggregation of every matching row. In
-- the summary query the sums are of int4 into an int8 (no numeric state per group; one summary
-- row counts one job's trips, far below 2^31), the totals come from one pass over the groups,
-- and the top N from a top-N heap sort. docs/SCALE.md has the plans.

-- name: groups_work_mem
-- For this transaction only: room for the hash table of every group (about 1M medium groups at
-- 10M trips) so that it does not spill to disk in batches.
SELECT set_config('work_mem', :work_mem, true)

-- name: groups_from_summary
-- Medium and coarse cells without a date filter: from flow_counts (one level partition).
WITH g AS MATERIALIZED (
    SELECT o_cell, d_cell, hour / :bucket_hours AS bucket, sum(trips::int)::bigint AS trips
      FROM flow_counts
     WHERE level = :level
       AND (CAST(:regions AS text[]) IS NULL
            OR region_id IN (SELECT region_id FROM regions WHERE name = ANY(CAST(:regions AS text[]))))
       AND (CAST(:datasources AS text[]) IS NULL
            OR datasource_id IN (SELECT datasource_id FROM datasources WHERE name = ANY(CAST(:datasources AS text[]))))
       AND (CAST(:weekend AS boolean) IS NULL OR weekend = CAST(:weekend AS boolean))
       AND (CAST(:hours AS int[]) IS NULL OR hour = ANY(CAST(:hours AS int[])))
     GROUP BY 1, 2, 3
), t AS (
    SELECT sum(trips)::bigint AS total_trips, count(*) AS total_groups FROM g
)
SELECT o_cell, d_cell, bucket, trips, total_trips, total_groups
  FROM g, t
 ORDER BY trips DESC, o_cell, d_cell, bucket
 LIMIT :limit

-- name: groups_from_trips
-- Fine cells, or a date range: from the raw trips (fine cell ids are stored per trip end).
WITH g AS (
    SELECT grid_parent(o_cell, CAST(:level AS smallint)) AS o_cell,
           grid_parent(d_cell, CAST(:level AS smallint)) AS d_cell,
           extract(hour FROM ts)::int / :bucket_hours AS bucket, count(*) AS trips
      FROM trips
     WHERE (CAST(:regions AS text[]) IS NULL
            OR region_id IN (SELECT region_id FROM regions WHERE name = ANY(CAST(:regions AS text[]))))
       AND (CAST(:datasources AS text[]) IS NULL
            OR datasource_id IN (SELECT datasource_id FROM datasources WHERE name = ANY(CAST(:datasources AS text[]))))
       AND ts >= coalesce(CAST(:date_from AS timestamp), '-infinity')
       AND ts < coalesce(CAST(:date_to AS timestamp) + interval '1 day', 'infinity')
       AND (CAST(:weekend AS boolean) IS NULL OR (extract(isodow FROM ts) >= 6) = CAST(:weekend AS boolean))
       AND (CAST(:hours AS int[]) IS NULL OR extract(hour FROM ts)::int = ANY(CAST(:hours AS int[])))
     GROUP BY 1, 2, 3
)
SELECT o_cell, d_cell, bucket, trips,
       sum(trips) OVER ()::bigint AS total_trips, count(*) OVER () AS total_groups
  FROM g
 ORDER BY trips DESC, o_cell, d_cell, bucket
 LIMIT :limit

-- name: groups_kept_state
-- Whether compaction has kept top groups (flow_top) of :level, the completed jobs it has not
-- folded (their rows are merged with the kept ones: groups_kept_and_new) and their trips. Fine
-- lists (level 0) are used only when there are lists of regions: a compaction by a version from
-- before sql/15 keeps no fine lists, one from before sql/16 none of a region, and a missing list
-- reads as no trips (with any trip folded, the fine lists of its region have a totals row;
-- without, the raw trips answer as quickly).
SELECT EXISTS (SELECT FROM compaction_state)
       AND (:level > 0 OR EXISTS (SELECT FROM flow_top_totals WHERE level = 0 AND region_id > 0)) AS compacted,
       coalesce((SELECT array_agg(job_id ORDER BY job_id) FROM jobs_since_compaction), '{}') AS new_jobs,
       (SELECT coalesce(sum(rows_loaded), 0) FROM jobs_since_compaction)::bigint AS new_trips

-- name: trips_stored
SELECT coalesce(sum(trips), 0)::bigint FROM region_datasources

-- name: groups_kept_and_new
-- The top groups as compaction kept them (sql/06_flow_top.sql; fine cells: sql/15, sql/16), in the live order, for all
-- regions (:region NULL) or one (none at all if it does not exist), all datasources
-- (:datasource NULL) or one (sql/09), :days 0 all, 1 weekdays, 2 weekend, and with 1-hour buckets only, some hours of the day (:hours; the totals are then
-- those of these hours, sql/08_flow_top_hours.sql); with the flow rows of the jobs completed since
-- compaction (:new_jobs) added in. A kept group's count is then exact. Any other group counted at
-- most kept_min trips (the least count of the whole list) before and comes after the list among
-- equals, plus its new trips (at most unkept_max): when the list keeps every group that passes the
-- filter (kept_groups = kept_total_groups) every count is exact; otherwise the top :limit kept
-- groups are the exact answer when no new job added to a group outside the list, or when the last
-- of them counts more than kept_min + unkept_max (core/groups.py checks, and aggregates when not).
WITH ctx AS (
    SELECT CASE WHEN CAST(:region AS text) IS NULL THEN 0
                ELSE (SELECT region_id FROM regions WHERE name = CAST(:region AS text)) END AS region_id,
           CASE WHEN CAST(:datasource AS text) IS NULL THEN 0
                ELSE (SELECT datasource_id FROM datasources WHERE name = CAST(:datasource AS text)) END AS datasource_id
), kept_list AS (
    SELECT t.o_cell, t.d_cell, t.bucket, t.trips
      FROM flow_top t, ctx
     WHERE t.level = :level AND t.bucket_hours = :bucket_hours AND t.region_id = ctx.region_id
       AND t.datasource_id = ctx.datasource_id AND t.days = :days
), k AS (
    SELECT * FROM kept_list WHERE CAST(:hours AS int[]) IS NULL OR bucket = ANY(CAST(:hours AS int[]))
), s AS (
    SELECT coalesce(sum(total_trips), 0)::bigint AS total_trips, coalesce(sum(total_groups), 0)::bigint AS total_groups
      FROM (SELECT t.total_trips, t.total_groups
              FROM flow_top_totals t, ctx
             WHERE CAST(:hours AS int[]) IS NULL
               AND t.level = :level AND t.bucket_hours = :bucket_hours AND t.region_id = ctx.region_id
               AND t.datasource_id = ctx.datasource_id AND t.days = :days
            UNION ALL
            SELECT t.total_trips, t.total_groups
              FROM flow_top_hours t, ctx
             WHERE t.level = :level AND t.region_id = ctx.region_id AND t.datasource_id = ctx.datasource_id
               AND t.days = :days AND t.hour = ANY(CAST(:hours AS int[]))) totals
), n AS (
    SELECT o_cell, d_cell, (hour / :bucket_hours)::smallint AS bucket, sum(trips)::bigint AS trips
      FROM (-- medium and coarse: the new jobs' flow rows
            SELECT o_cell, d_cell, hour, trips::int AS trips, region_id, datasource_id, weekend
              FROM flow_counts
             WHERE :level > 0 AND level = :level AND job_id = ANY(CAST(:new_jobs AS int[]))
            UNION ALL
            -- fine: the new jobs' raw trips (their partitions only)
            SELECT o_cell, d_cell, extract(hour FROM ts)::int, 1, region_id, datasource_id,
                   extract(isodow FROM ts) >= 6
              FROM trips
             WHERE :level = 0 AND job_id = ANY(CAST(:new_jobs AS int[]))) new_rows
     WHERE cardinality(CAST(:new_jobs AS int[])) > 0   -- none: no scan at all
       AND (CAST(:region AS text) IS NULL OR region_id = (SELECT region_id FROM ctx))
       AND (CAST(:datasource AS text) IS NULL OR datasource_id = (SELECT datasource_id FROM ctx))
       AND (CAST(:weekend AS boolean) IS NULL OR weekend = CAST(:weekend AS boolean))
       AND (CAST(:hours AS int[]) IS NULL OR hour = ANY(CAST(:hours AS int[])))
     GROUP BY 1, 2, 3
), m AS (
    SELECT o_cell, d_cell, bucket, coalesce(k.trips, 0) + coalesce(n.trips, 0) AS trips,
           k.trips IS NOT NULL AS kept, coalesce(n.trips, 0) AS new_trips
      FROM k FULL JOIN n USING (o_cell, d_cell, bucket)
), x AS (
    SELECT (SELECT count(*) FROM k) AS kept_groups, coalesce((SELECT min(trips) FROM kept_list), 0) AS kept_min,
           coalesce(max(trips) FILTER (WHERE NOT kept), 0) AS unkept_max,
           count(*) FILTER (WHERE NOT kept) AS unkept_groups, coalesce(sum(new_trips), 0)::bigint AS new_trips
      FROM m
)
SELECT top.o_cell, top.d_cell, top.bucket, top.trips, s.total_trips + x.new_trips AS total_trips,
       s.total_groups AS kept_total_groups, x.kept_groups, x.kept_min, x.unkept_max, x.unkept_groups
  FROM s CROSS JOIN x
  LEFT JOIN LATERAL (SELECT * FROM m
                      WHERE m.kept OR x.kept_groups = s.total_groups
                      ORDER BY m.trips DESC, m.o_cell, m.d_cell, m.bucket
                      LIMIT :limit) top ON true   -- one row of NULLs when no group qualifies
 ORDER BY top.trips DESC, top.o_cell, top.d_cell, top.bucket
