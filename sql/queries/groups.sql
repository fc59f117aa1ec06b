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

-- name: groups_parallel_setup
-- For this transaction only, counting raw trips: parallel workers cost less to start than the
-- default 1000 assumes on a server whose data is in memory. Since trip_times stores hours and
-- cells (sql/23) a region's year at 10M (832k trips) was planned on one core: 342-344 ms, against
-- 293-305 ms with two workers, side by side (a week: 45-47 -> 53-57 ms; at 100M both were parallel
-- already; docs/SCALE.md).
SELECT set_config('parallel_setup_cost', '100', true)

-- name: filter_ids
-- The ids of the regions and of the datasources named (none for unknown names; NULL: all), for
-- every groups query: constants, which the planner matches against the BRINs by region (sql/18, sql/30)
-- and by region and datasource (sql/22).
SELECT CASE WHEN CAST(:regions AS text[]) IS NOT NULL
            THEN coalesce((SELECT array_agg(region_id::int ORDER BY region_id) FROM regions
                            WHERE name = ANY(CAST(:regions AS text[]))), '{}') END AS region_ids,
       CASE WHEN CAST(:datasources AS text[]) IS NOT NULL
            THEN coalesce((SELECT array_agg(datasource_id::int ORDER BY datasource_id) FROM datasources
                            WHERE name = ANY(CAST(:datasources AS text[]))), '{}') END AS datasource_ids

-- name: groups_from_summary
-- Medium and coarse cells without a date filter: from flow_counts (one level partition); the
-- regions and datasources as their ids (:region_ids, :datasource_ids, from filter_ids).
WITH g AS MATERIALIZED (
    SELECT o_cell, d_cell, hour / :bucket_hours AS bucket, sum(trips::int)::bigint AS trips
      FROM flow_counts
     WHERE level = :level
       AND (CAST(:region_ids AS int[]) IS NULL OR region_id = ANY(CAST(:region_ids AS int[])))
       AND (CAST(:datasource_ids AS int[]) IS NULL OR datasource_id = ANY(CAST(:datasource_ids AS int[])))
       AND (CAST(:weekend AS boolean) IS NULL OR weekend = CAST(:weekend AS boolean))
       AND (CAST(:hours AS int[]) IS NULL OR hour = ANY(CAST(:hours AS int[])))
     GROUP BY 1, 2, 3
), t AS MATERIALIZED (  -- once, whatever the plan of g
    SELECT sum(trips)::bigint AS total_trips, count(*) AS total_groups FROM g
)
SELECT o_cell, d_cell, bucket, trips, total_trips, total_groups
  FROM g, t
 ORDER BY trips DESC, o_cell, d_cell, bucket
 LIMIT :limit

-- name: groups_from_trips
-- Fine cells, or a date range: from the raw trips (fine cell ids are stored per trip end), those
-- compaction copied in (month, region, datasource, time) order (trip_times: a period of a region
-- and a datasource lies in one stretch a month per compaction, sql/22) and those of the jobs completed since
-- (:raw_jobs, constants: only their partitions are read); regions and datasources as their ids
-- (:region_ids, :datasource_ids, from filter_ids). trip_times' hours, weekend flags and medium cells
-- are stored (sql/23), the cells of :level read through grid_cell (sql/24).
WITH g AS (
    SELECT o_cell, d_cell, hour / :bucket_hours AS bucket, count(*) AS trips
      FROM (SELECT ts, grid_cell(o_cell, o_medium, CAST(:level AS smallint)) AS o_cell,
                   grid_cell(d_cell, d_medium, CAST(:level AS smallint)) AS d_cell,
                   hour, weekend, region_id, datasource_id
              FROM trip_times
            UNION ALL
            SELECT ts, grid_parent(o_cell, CAST(:level AS smallint)), grid_parent(d_cell, CAST(:level AS smallint)),
                   date_part('hour', ts)::smallint, date_part('isodow', ts) >= 6,  -- (extract: numeric, slower)
                   region_id, datasource_id
              FROM trips
             WHERE job_id = ANY(CAST(:raw_jobs AS int[]))) AS t
     WHERE (CAST(:region_ids AS int[]) IS NULL OR region_id = ANY(CAST(:region_ids AS int[])))
       AND (CAST(:datasource_ids AS int[]) IS NULL OR datasource_id = ANY(CAST(:datasource_ids AS int[])))
       AND ts >= coalesce(CAST(:date_from AS timestamp), '-infinity')
       AND ts < coalesce(CAST(:date_to AS timestamp) + interval '1 day', 'infinity')
       AND (CAST(:weekend AS boolean) IS NULL OR weekend = CAST(:weekend AS boolean))
       AND (CAST(:hours AS int[]) IS NULL OR hour = ANY(CAST(:hours AS int[])))
       -- only the groups of these origin and destination cells (:o_cells, :d_cells; NULL: all):
       -- a few groups recounted (core/groups.py)
       AND (CAST(:o_cells AS bigint[]) IS NULL OR o_cell = ANY(CAST(:o_cells AS bigint[])))
       AND (CAST(:d_cells AS bigint[]) IS NULL OR d_cell = ANY(CAST(:d_cells AS bigint[])))
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
-- lists (level 0) are used only when there is the list of everything, and with datasources named,
-- lists of datasources: a compaction by a version from before sql/15 keeps no fine lists, one from
-- before sql/19 none of a datasource, one from before sql/21 no month lists (:months: the months
-- whose lists are asked for, of :bucket_hours), one from before Dec 5 none of fine cells' months
-- (before Dec 7 none of their buckets over an hour), one from before
-- Dec 6 none of a region's or datasource's months (it keeps those of every datasource, so one
-- stands for all), one from before sql/33 no totals of each bucket of buckets over an hour, and a missing list
-- reads as no trips (with any trip folded, the fine lists of its datasource have a totals row, and
-- each month that has trips its lists of each level; without, the raw trips answer as quickly).
-- A region named that has trips folded and no lists (compaction keeps none of a region with fewer
-- than TRIPS_LIST_MIN_TRIPS trips, a version from before sql/16 none of fine cells) is listed in
-- unlisted_regions: its trips are counted.
SELECT EXISTS (SELECT FROM compaction_state)
       AND (:level > 0 OR (EXISTS (SELECT FROM flow_top_totals WHERE level = 0 AND region_id = 0 AND datasource_id = 0
                                                                 AND month = '-infinity')
                           AND (CAST(:datasources AS text[]) IS NULL
                                OR EXISTS (SELECT FROM flow_top_totals WHERE level = 0 AND datasource_id > 0))))
       AND (CAST(:months AS date[]) IS NULL
            OR EXISTS (SELECT FROM flow_top_totals
                        WHERE level = :level AND bucket_hours = :bucket_hours AND month > '-infinity'
                          AND (datasource_id > 0 OR (CAST(:regions AS text[]) IS NULL AND CAST(:datasources AS text[]) IS NULL)))
               -- the days around the months are read from trip_times: every folded job's trips there (sql/29)
               AND NOT EXISTS (SELECT FROM folded_jobs_uncopied))
       -- hours of the day in buckets of :bucket_totals hours (1: none, or 1-hour buckets): their
       -- totals, kept since sql/33, of the lists of all dates and (:months) of each month
       AND (:bucket_totals = 1
            OR (EXISTS (SELECT FROM flow_top_hours
                         WHERE level = :level AND bucket_hours = :bucket_totals AND month = '-infinity')
                AND (CAST(:months AS date[]) IS NULL
                     OR EXISTS (SELECT FROM flow_top_hours
                                 WHERE level = :level AND bucket_hours = :bucket_totals AND month > '-infinity'))))
       AS compacted,
       -- the regions named whose trips were folded without lists (sql/27_regions_without_lists.sql):
       -- their trips are counted (groups_kept_and_new), not read as an empty list
       (SELECT coalesce(array_agg(region_id::int ORDER BY region_id), '{}') FROM regions_without_lists
         WHERE name = ANY(CAST(:regions AS text[])) AND level = :level) AS unlisted_regions,
       coalesce((SELECT array_agg(job_id ORDER BY job_id) FROM jobs_since_compaction), '{}') AS new_jobs,
       (SELECT coalesce(sum(rows_loaded), 0) FROM jobs_since_compaction)::bigint AS new_trips

-- name: unlisted_regions_read
-- Whether a region named has trips folded by compaction but no kept lists (it had fewer than
-- TRIPS_LIST_MIN_TRIPS: sql/27_regions_without_lists.sql), and if so the most raw trips
-- groups_from_trips reads for the regions named: theirs, and every trip of the jobs not yet in
-- trip_times (:raw_jobs); NULL when every region named has its lists (or no folded trips).
SELECT CASE WHEN EXISTS (SELECT FROM regions_without_lists
                          WHERE name = ANY(CAST(:regions AS text[])) AND level = :level)
       THEN (SELECT coalesce(sum(s.trips), 0) FROM region_datasources s JOIN regions r USING (region_id)
              WHERE r.name = ANY(CAST(:regions AS text[])))::bigint
            + (SELECT coalesce(sum(rows_loaded), 0) FROM jobs WHERE job_id = ANY(CAST(:raw_jobs AS int[])))::bigint
       END

-- name: raw_trips_read
-- The most raw trips groups_from_trips reads: those of the period (and of the regions and
-- datasources named) in trip_times, and every trip of the jobs not yet there (:raw_jobs; none:
-- every trip of the period, which core/groups.py weighs against a region's month lists); or
-- groups_kept_and_new, with months read from their lists: only the days counted around them
-- (:edge_from, :edge_to; core/groups.py MonthPlan).
-- (daily_counts' rows of a job are its own until compaction folds them, and compaction copies
-- every job it folds into trip_times first.)
SELECT (SELECT coalesce(sum(trips), 0) FROM daily_counts
         WHERE CASE WHEN CAST(:edge_from AS date[]) IS NULL
                    THEN day >= coalesce(CAST(:date_from AS date), '-infinity')
                         AND day <= coalesce(CAST(:date_to AS date), 'infinity')
                    ELSE EXISTS (SELECT FROM unnest(CAST(:edge_from AS date[]), CAST(:edge_to AS date[])) e (lo, hi)
                                  WHERE day BETWEEN e.lo AND e.hi) END
           AND (CAST(:region_ids AS int[]) IS NULL OR region_id = ANY(CAST(:region_ids AS int[])))
           AND (CAST(:datasource_ids AS int[]) IS NULL OR datasource_id = ANY(CAST(:datasource_ids AS int[])))
           AND job_id NOT IN (SELECT unnest(CAST(:raw_jobs AS int[]))))::bigint  -- hashed: many jobs stay cheap
     + (SELECT coalesce(sum(rows_loaded), 0) FROM jobs WHERE job_id = ANY(CAST(:raw_jobs AS int[])))::bigint

-- name: groups_kept_and_new
-- The top groups as compaction kept them (sql/06_flow_top.sql; fine cells: sql/15, sql/16, sql/19),
-- in the live order: the list of all regions and datasources, or those of each region named, or of
-- each datasource named (sql/09; :region_ids, :datasource_ids, from filter_ids), of each month
-- of a date range (:months, sql/21; of everything, or of each region or datasource named, medium
-- and coarse cells; :partial: the month is only partly in the range; the days
-- counted from trip_times are added, or those of a partial month outside the range taken out:
-- :edge_from, :edge_to, :edge_sign; core/groups.py MonthPlan); :days 0 all, 1 weekdays, 2 weekend; some
-- hours of the day that are whole buckets (:hours; the totals are then those of their buckets,
-- sql/08_flow_top_hours.sql, sql/33). The lists are summed per group, with the flow rows of the jobs
-- completed since compaction (:new_jobs) added in, and the trips of the regions named that have no
-- lists (:unlisted_regions; each reads as an empty, complete list of its own): the least each group
-- counts (trips). A list that
-- keeps every group that passes the filter (kept_groups = total_groups, "complete") knows every
-- count; a group missing from one that does not counted at most its least count (kept_min) there,
-- and nothing if its cells lie outside the area of that list's trips (region_datasources' extents):
-- so each group also has the most it may count (most). core/groups.py takes the top :limit as
-- exact when each of them is exact and no other group can reach the last of them: a group seen
-- here (those past the answer whose most reaches its last are returned after it) or in no list
-- and no new job (unseen_max; with one list such a group comes after the list among equals).
WITH lists AS (
    SELECT r.region_id, d.datasource_id, mo.month, mo.part,
           1::bigint << (row_number() OVER (ORDER BY r.region_id, d.datasource_id, mo.month) - 1)::int AS list  -- one bit each (core/groups.py: at most 63)
      FROM (SELECT 0::smallint AS region_id WHERE CAST(:region_ids AS int[]) IS NULL
            UNION ALL
            SELECT unnest(CAST(:region_ids AS int[]))::smallint) r,
           (SELECT 0::smallint AS datasource_id WHERE CAST(:datasource_ids AS int[]) IS NULL
            UNION ALL
            SELECT unnest(CAST(:datasource_ids AS int[]))::smallint) d,
           (SELECT '-infinity'::date AS month, false AS part WHERE CAST(:months AS date[]) IS NULL
            UNION ALL
            SELECT * FROM unnest(CAST(:months AS date[]), CAST(:partial AS boolean[]))) mo
), k AS (
    SELECT lists.list, g.o_cell, g.d_cell, g.bucket, g.trips
      FROM flow_top t JOIN lists USING (region_id, datasource_id, month)
     -- (sql/28) the list's first :kept_top groups: the lists of all dates with 1-hour buckets, and
     -- everything's of any, keep more, for the answers counted for their groups (core/compact.py _long_list)
     CROSS JOIN LATERAL unnest(t.o_cells[1:CAST(:kept_top AS int)], t.d_cells[1:CAST(:kept_top AS int)],
                               t.buckets[1:CAST(:kept_top AS int)], t.trips[1:CAST(:kept_top AS int)])
                     AS g (o_cell, d_cell, bucket, trips)
     WHERE t.level = :level AND t.bucket_hours = :bucket_hours AND t.days = :days
       -- (hours: whole buckets, core.groups.whole_buckets; a bucket is asked when its first hour is)
       AND (CAST(:hours AS int[]) IS NULL OR g.bucket * :bucket_hours = ANY(CAST(:hours AS int[])))
), l AS (   -- kept_min: the least count of the list as read (of any hour: no less safe with hours asked)
    SELECT lists.list, lists.part,
           coalesce((SELECT t.trips[least(cardinality(t.trips), CAST(:kept_top AS int))] FROM flow_top t  -- (descending: the last)
                      WHERE t.level = :level AND t.bucket_hours = :bucket_hours AND t.days = :days
                        AND t.region_id = lists.region_id AND t.datasource_id = lists.datasource_id
                        AND t.month = lists.month), 0) AS kept_min,
           coalesce(kc.kept_groups, 0) AS kept_groups,
           tot.total_trips, tot.total_groups, ext.*
      FROM lists
      LEFT JOIN (SELECT list, count(*) AS kept_groups FROM k GROUP BY list) kc USING (list)  -- one pass over k
     CROSS JOIN LATERAL (
            SELECT coalesce(sum(total_trips), 0)::bigint AS total_trips, coalesce(sum(total_groups), 0)::bigint AS total_groups
              FROM (SELECT t.total_trips, t.total_groups
                      FROM flow_top_totals t
                     WHERE CAST(:hours AS int[]) IS NULL
                       AND t.level = :level AND t.bucket_hours = :bucket_hours AND t.region_id = lists.region_id
                       AND t.datasource_id = lists.datasource_id AND t.days = :days AND t.month = lists.month
                    UNION ALL
                    SELECT t.total_trips, t.total_groups
                      FROM flow_top_hours t  -- (each bucket's by its first hour, sql/33)
                     WHERE t.level = :level AND t.bucket_hours = :bucket_hours AND t.region_id = lists.region_id
                       AND t.datasource_id = lists.datasource_id AND t.days = :days AND t.month = lists.month
                       AND t.hour = ANY(CAST(:hours AS int[]))) totals) tot
     CROSS JOIN LATERAL (  -- in fine cell columns and rows (every row has one since sql/05; else: the whole world)
            SELECT min(coalesce(s.cx0, -1)) * 4 AS x0, max(coalesce(s.cx1, 18000)) * 4 + 3 AS x1,
                   min(coalesce(s.cy0, -1)) * 4 AS y0, max(coalesce(s.cy1, 9000)) * 4 + 3 AS y1
              FROM region_datasources s
             WHERE lists.region_id IN (0, s.region_id) AND lists.datasource_id IN (0, s.datasource_id)) ext
), n AS (
    SELECT o_cell, d_cell, (hour / :bucket_hours)::smallint AS bucket, sum(trips)::bigint AS trips
      FROM (-- medium and coarse, no date range: the new jobs' flow rows
            SELECT o_cell, d_cell, hour, trips::int AS trips, region_id, datasource_id, weekend
              FROM flow_counts
             WHERE :level > 0 AND CAST(:months AS date[]) IS NULL AND cardinality(CAST(:new_jobs AS int[])) > 0
               AND level = :level AND job_id = ANY(CAST(:new_jobs AS int[]))
            UNION ALL
            -- fine, or a date range: the new jobs' raw trips (their partitions only)
            SELECT grid_parent(o_cell, CAST(:level AS smallint)), grid_parent(d_cell, CAST(:level AS smallint)),
                   date_part('hour', ts)::int, 1, region_id, datasource_id, date_part('isodow', ts) >= 6
              FROM trips
             WHERE (:level = 0 OR CAST(:months AS date[]) IS NOT NULL) AND cardinality(CAST(:new_jobs AS int[])) > 0
               AND job_id = ANY(CAST(:new_jobs AS int[]))
               AND ts >= coalesce(CAST(:date_from AS timestamp), '-infinity')
               AND ts < coalesce(CAST(:date_to AS timestamp) + interval '1 day', 'infinity')
            UNION ALL
            -- the regions named that have no lists (:unlisted_regions, from groups_kept_state;
            -- their lists read as empty and complete): every trip of theirs folded, from trip_times
            -- (a region's trips lie in one stretch a month); those of the new jobs come above
            SELECT grid_cell(o_cell, o_medium, CAST(:level AS smallint)),
                   grid_cell(d_cell, d_medium, CAST(:level AS smallint)),
                   hour, 1, region_id, datasource_id, weekend
              FROM trip_times
             WHERE cardinality(CAST(:unlisted_regions AS int[])) > 0
               AND region_id = ANY(CAST(:unlisted_regions AS int[]))
               AND ts >= coalesce(CAST(:date_from AS timestamp), '-infinity')
               AND ts < coalesce(CAST(:date_to AS timestamp) + interval '1 day', 'infinity')
            UNION ALL
            -- a date range: the days around its months, in trip_times, added (sign 1), or those of
            -- a partial month outside the range taken out of its list (-1): at most two stretches,
            -- in date order (core/groups.py MonthPlan), read in one scan (a join to the list of
            -- stretches read them one after the other, about 10 % slower); hours, weekend flags and
            -- medium cells stored (sql/23), as in groups_from_trips
            SELECT grid_cell(o_cell, o_medium, CAST(:level AS smallint)),
                   grid_cell(d_cell, d_medium, CAST(:level AS smallint)),
                   hour,
                   CASE WHEN ts < (CAST(:edge_to AS date[]))[1] + 1 THEN (CAST(:edge_sign AS int[]))[1]
                        ELSE (CAST(:edge_sign AS int[]))[2] END,
                   region_id, datasource_id, weekend
              FROM trip_times
             WHERE CAST(:edge_from AS date[]) IS NOT NULL
               AND (ts >= (CAST(:edge_from AS date[]))[1] AND ts < (CAST(:edge_to AS date[]))[1] + 1
                    OR ts >= (CAST(:edge_from AS date[]))[2] AND ts < (CAST(:edge_to AS date[]))[2] + 1)
            ) new_rows  -- (no edges, or none at all: not planned as a scan)
     WHERE (CAST(:region_ids AS int[]) IS NULL OR region_id = ANY(CAST(:region_ids AS int[])))
       AND (CAST(:datasource_ids AS int[]) IS NULL OR datasource_id = ANY(CAST(:datasource_ids AS int[])))
       AND (CAST(:weekend AS boolean) IS NULL OR weekend = CAST(:weekend AS boolean))
       AND (CAST(:hours AS int[]) IS NULL OR hour = ANY(CAST(:hours AS int[])))
     GROUP BY 1, 2, 3
), m AS (
    SELECT o_cell, d_cell, bucket, coalesce(kept.trips, 0) + coalesce(n.trips, 0) AS trips,
           coalesce(n.trips, 0) AS new_trips, coalesce(kept.listed, 0) AS listed   -- the lists that hold it
      FROM (SELECT o_cell, d_cell, bucket, sum(trips)::bigint AS trips, bit_or(list) AS listed
              FROM k GROUP BY 1, 2, 3) kept
      FULL JOIN n USING (o_cell, d_cell, bucket)
), un AS (  -- a group in no list: at most the least counts of one list and of those that meet it
    SELECT coalesce(max(a.kept_min + (SELECT coalesce(sum(b.kept_min), 0)::bigint FROM l b
                                       WHERE b.list <> a.list AND b.kept_groups < b.total_groups
                                         AND a.x0 <= b.x1 AND b.x0 <= a.x1 AND a.y0 <= b.y1 AND b.y0 <= a.y1)), 0) AS unseen_max
      FROM l a WHERE a.kept_groups < a.total_groups
), near AS (  -- the groups that can rank among the answer: at most the lists' least counts below the last
    SELECT m.*
      FROM m, un,
           (SELECT coalesce(sum(kept_min) FILTER (WHERE kept_groups < total_groups), 0) AS most_extra FROM l) e,
           (SELECT min(trips) AS trips
              FROM (SELECT trips FROM m ORDER BY trips DESC, o_cell, d_cell, bucket LIMIT :limit) answer) last
     WHERE m.trips + e.most_extra >= last.trips
       -- none when a group in no list may count more than the last: no proof then, nor any
       -- recount (at 1M, fine groups of a year: 66,893 groups weighed and returned for nothing)
       AND (last.trips >= un.unseen_max OR un.unseen_max = 0)
), u AS (
    SELECT m.*, row_number() OVER (ORDER BY m.trips DESC, m.o_cell, m.d_cell, m.bucket) AS rank,
           m.trips + coalesce((
               SELECT sum(l.kept_min)::bigint FROM l
                WHERE l.kept_groups < l.total_groups AND m.listed & l.list = 0
                  AND (m.o_cell / 100000) << (2 * :level) <= l.x1 AND ((m.o_cell / 100000 + 1) << (2 * :level)) > l.x0
                  AND (m.o_cell % 100000) << (2 * :level) <= l.y1 AND ((m.o_cell % 100000 + 1) << (2 * :level)) > l.y0
                  AND (m.d_cell / 100000) << (2 * :level) <= l.x1 AND ((m.d_cell / 100000 + 1) << (2 * :level)) > l.x0
                  AND (m.d_cell % 100000) << (2 * :level) <= l.y1 AND ((m.d_cell % 100000 + 1) << (2 * :level)) > l.y0
           ), 0) AS most
      FROM near m
), x AS (
    SELECT (SELECT count(*) FROM l) AS lists,
           (SELECT bool_or(part) FROM l) AS partial,
           (SELECT bool_or(kept_groups < total_groups) FROM l) AS incomplete,
           -- a list with more groups than its totals count: totals missing (never, as compaction
           -- writes them together; the answer is then counted, not read)
           (SELECT coalesce(bool_or(kept_groups > total_groups), false) FROM l) AS inconsistent,
           ((SELECT coalesce(sum(total_trips), 0) FROM l) + seen.new_trips)::bigint AS total_trips,
           seen.groups AS seen_groups, seen.unlisted AS unlisted_groups,
           (SELECT coalesce(sum(total_groups), 0) FROM l)::bigint AS listed_groups_sum,
           -- (a partial month's groups are not all the range's)
           (SELECT coalesce(max(total_groups) FILTER (WHERE NOT part), 0) FROM l) AS listed_groups_max,
           -- any two lists whose trips' areas meet may count the same group
           NOT EXISTS (SELECT FROM l a JOIN l b ON a.list < b.list
                        WHERE a.x0 <= b.x1 AND b.x0 <= a.x1 AND a.y0 <= b.y1 AND b.y0 <= a.y1)
           AND NOT EXISTS (SELECT FROM l WHERE part) AS disjoint,
           (SELECT unseen_max FROM un) AS unseen_max
      FROM (-- (a group's count here is the least it has: days taken out of a partial month's list
            -- may leave it at none)
            SELECT count(*) FILTER (WHERE trips > 0) AS groups, count(*) FILTER (WHERE listed = 0 AND trips > 0) AS unlisted,
                   coalesce(sum(new_trips), 0) AS new_trips FROM m) seen
)
SELECT top.o_cell, top.d_cell, top.bucket, top.trips, top.most, top.rank, x.*
  FROM x
  LEFT JOIN LATERAL (SELECT * FROM u WHERE rank <= :limit AND trips > 0
                     UNION ALL  -- the groups past the answer that may reach its last (core/groups.py recounts them)
                     SELECT * FROM u WHERE rank > :limit AND most >= (SELECT trips FROM u WHERE rank = :limit)) top ON true
 ORDER BY top.rank

-- name: group_recount
-- The exact trips of one group (origin and destination cells of :level, as their fine cells
-- :o_fine and :d_fine, constants the planner weighs against the cell indexes' statistics; bucket
-- :bucket) under the filters, counted from the raw trips of every completed job, folded or not,
-- through the trips' cell indexes: where the kept lists know a group that may rank in the answer
-- only within a range (it is missing from some of the lists summed), core/groups.py recounts it
-- instead of counting every trip. At 10M trips a medium group of a busy Prague cell over a year
-- read its origin cell's 71k trips of the year (16-57 ms warm).
SELECT count(*)
  FROM trips t
 WHERE t.o_cell = ANY(CAST(:o_fine AS bigint[]))
   AND t.d_cell = ANY(CAST(:d_fine AS bigint[]))
   AND t.ts >= coalesce(CAST(:date_from AS timestamp), '-infinity')
   AND t.ts < coalesce(CAST(:date_to AS timestamp) + interval '1 day', 'infinity')
   AND date_part('hour', t.ts)::int / :bucket_hours = :bucket
   AND (CAST(:region_ids AS int[]) IS NULL OR t.region_id = ANY(CAST(:region_ids AS int[])))
   AND (CAST(:datasource_ids AS int[]) IS NULL OR t.datasource_id = ANY(CAST(:datasource_ids AS int[])))
   AND (CAST(:weekend AS boolean) IS NULL OR (date_part('isodow', t.ts) >= 6) = CAST(:weekend AS boolean))
   AND (CAST(:hours AS int[]) IS NULL OR date_part('hour', t.ts)::int = ANY(CAST(:hours AS int[])))

-- name: fine_months_hopeful
-- Whether the summed fine lists of the months of a date range (:months; all regions and
-- datasources, :bucket_hours, :days) may prove its top :limit groups, before the try itself
-- (groups_kept_and_new, which also counts the days around the months and the jobs loaded since):
-- their :limit-th group, summed over the lists alone, must count more than a group in none of
-- them may (the sum of the least counts of those that do not keep every group). Fine groups are
-- even: at 1.35M trips a year's 1,000th group counted less than the 12 months' least counts (12),
-- and the failed try cost 0.4-0.5 s more than counting. (A guess, not a proof: the try decides.)
SELECT coalesce((SELECT min(trips)
                   FROM (SELECT sum(g.trips) AS trips
                           FROM flow_top t
                          CROSS JOIN LATERAL unnest(t.o_cells, t.d_cells, t.buckets, t.trips) AS g (o_cell, d_cell, bucket, trips)
                          WHERE t.level = 0 AND t.bucket_hours = :bucket_hours AND t.days = :days AND t.region_id = 0
                            AND t.datasource_id = 0 AND t.month = ANY(CAST(:months AS date[]))
                          GROUP BY g.o_cell, g.d_cell, g.bucket
                          ORDER BY 1 DESC
                          LIMIT :limit) top), 0)
       > (SELECT coalesce(sum(t.trips[cardinality(t.trips)]), 0)
            FROM flow_top t
            JOIN flow_top_totals s USING (level, bucket_hours, region_id, datasource_id, days, month)
           WHERE t.level = 0 AND t.bucket_hours = :bucket_hours AND t.days = :days AND t.region_id = 0
             AND t.datasource_id = 0 AND t.month = ANY(CAST(:months AS date[]))
             AND cardinality(t.trips) < s.total_groups)

-- name: superset_lists
-- For the answers counted from the trips (core/groups_within.py): the kept lists of all days
-- (month -infinity; :level, :bucket_hours, :days) of everything, of each region named and of each
-- datasource named. The answer's trips of a region (or a datasource) named are among that
-- region's trips of every datasource, day and hour, so a group's count in the answer's part of
-- each list is at most its count in that list, and at most the list's least count (kept_min) if
-- it is missing from it. With each list: whether it keeps every group (complete), how many groups
-- it has (total_groups, all hours: at least the answer's part of it has), its :limit-th count in
-- the hours asked (limit_th, a guess with buckets partly asked; NULL when it has fewer), and the
-- share of its trips in the answer's
-- regions, datasources and period (daily_counts, all days and hours), for a guess of the answer's
-- :limit-th count before the try.
WITH p AS (  -- trips by region and datasource: all, and in the period (one pass over daily_counts)
    SELECT region_id, datasource_id, sum(trips) AS trips,
           sum(trips) FILTER (WHERE day >= coalesce(CAST(:date_from AS date), '-infinity')
                                AND day <= coalesce(CAST(:date_to AS date), 'infinity')) AS period
      FROM daily_counts
     GROUP BY 1, 2
)
SELECT t.region_id, t.datasource_id,
       coalesce(t.trips[cardinality(t.trips)], 0) AS kept_min,
       cardinality(t.trips) = s.total_groups AS complete, s.total_groups,
       -- the same of the list's first :kept_top groups (lists of 1-hour buckets, and everything's
       -- of any, keep more: core/compact.py _long_list; the fewer groups, the quicker the count)
       coalesce(t.trips[least(cardinality(t.trips), CAST(:kept_top AS int))], 0) AS short_kept_min,
       least(cardinality(t.trips), CAST(:kept_top AS int)) = s.total_groups AS short_complete,
       -- (a bucket with only some of its hours asked: its count times their share of its hours)
       (SELECT g.trips * a.asked / :bucket_hours
          FROM unnest(t.trips, t.buckets) AS g (trips, bucket)
         CROSS JOIN LATERAL (SELECT CASE WHEN CAST(:hours AS int[]) IS NULL THEN :bucket_hours
                                         ELSE (SELECT count(*) FROM unnest(CAST(:hours AS int[])) h
                                                WHERE h / :bucket_hours = g.bucket) END::float8 AS asked) a
         WHERE a.asked > 0
         ORDER BY 1 DESC OFFSET :limit - 1 LIMIT 1) AS limit_th,
       (SELECT coalesce(sum(p.period) FILTER (WHERE (CAST(:region_ids AS int[]) IS NULL OR p.region_id = ANY(CAST(:region_ids AS int[])))
                                                AND (CAST(:datasource_ids AS int[]) IS NULL
                                                     OR p.datasource_id = ANY(CAST(:datasource_ids AS int[])))), 0)::float8
               / greatest(sum(p.trips), 1)
          FROM p
         WHERE t.region_id IN (0, p.region_id) AND t.datasource_id IN (0, p.datasource_id)) AS share
  FROM flow_top t
  JOIN flow_top_totals s USING (level, bucket_hours, region_id, datasource_id, days, month)
 WHERE t.level = :level AND t.bucket_hours = :bucket_hours AND t.days = :days AND t.month = '-infinity'
   AND ((t.region_id = 0 AND t.datasource_id = 0)
     OR (t.datasource_id = 0 AND t.region_id = ANY(CAST(:region_ids AS int[])))
     OR (t.region_id = 0 AND t.datasource_id = ANY(CAST(:datasource_ids AS int[]))))

-- name: groups_within_list
-- The trips of the answer (its regions, datasources, period, days and hours), counted from
-- trip_times only for the groups of some kept lists (those of everything, of regions or of
-- datasources: :list_regions, :list_datasources, pairwise; superset_lists); the trips of every
-- other group are counted together, in the row of NULL cells. A hash join with the lists' groups
-- instead of a hash aggregation of every group: at 10M trips, the fine groups of Prague and
-- cheap_mobile (726k trips, 347k groups) 0.2 s against 0.8 s.
WITH k AS (
    SELECT DISTINCT g.o_cell, g.d_cell, g.bucket  -- (a group may be in several lists)
      FROM flow_top t
      JOIN unnest(CAST(:list_regions AS int[]), CAST(:list_datasources AS int[])) AS l (region_id, datasource_id)
        ON t.region_id = l.region_id AND t.datasource_id = l.datasource_id
     -- (sql/28) each list's first :list_len groups (superset_lists: short_kept_min), or all (NULL)
     CROSS JOIN LATERAL (SELECT coalesce(CAST(:list_len AS int), cardinality(t.trips)) AS n) len
     CROSS JOIN LATERAL unnest(t.o_cells[1:len.n], t.d_cells[1:len.n], t.buckets[1:len.n]) AS g (o_cell, d_cell, bucket)
     WHERE t.level = :level AND t.bucket_hours = :bucket_hours AND t.days = :days AND t.month = '-infinity'
)
SELECT k.o_cell, k.d_cell, k.bucket, count(*) AS trips
  FROM trip_times t
  LEFT JOIN k ON k.o_cell = grid_cell(t.o_cell, t.o_medium, CAST(:level AS smallint))
             AND k.d_cell = grid_cell(t.d_cell, t.d_medium, CAST(:level AS smallint))
             AND k.bucket = t.hour / :bucket_hours
 WHERE (CAST(:region_ids AS int[]) IS NULL OR t.region_id = ANY(CAST(:region_ids AS int[])))
   AND (CAST(:datasource_ids AS int[]) IS NULL OR t.datasource_id = ANY(CAST(:datasource_ids AS int[])))
   AND t.ts >= coalesce(CAST(:date_from AS timestamp), '-infinity')
   AND t.ts < coalesce(CAST(:date_to AS timestamp) + interval '1 day', 'infinity')
   AND (CAST(:weekend AS boolean) IS NULL OR t.weekend = CAST(:weekend AS boolean))
   AND (CAST(:hours AS int[]) IS NULL OR t.hour = ANY(CAST(:hours AS int[])))
 GROUP BY 1, 2, 3

-- name: groups_merge_joins
-- For the rest of this transaction (:on 'off' or 'on'): groups_month_counts joins the trips of the
-- days around the months (300k at 10M trips over 16 Jun-15 Jan) to the list's groups (20,000),
-- whose number the planner cannot see in its arrays (it guesses 270): it sorted both for a merge
-- join, 425 ms, where hashing the list takes 160 ms (EXPLAIN ANALYZE, Dec 6).
SELECT set_config('enable_mergejoin', :on, true)

-- name: groups_month_counts
-- A date range's top :limit groups of :level and :bucket_hours (of everything, or of the region
-- :list_region or the datasource :list_datasource, 0 for all; :days, :weekend; :hours, whole
-- buckets of them only), counted for the groups of that context's list of all dates of that bucket
-- size on :days: their
-- counts through the range's last whole month less those through the month before its first
-- (:months, contiguous; list_month_counts, sql/31, sql/32), and the days around them (:edge_from,
-- :edge_to, :edge_sign as in groups_kept_and_new: at most two stretches) counted from trip_times
-- for those groups only, every other trip of those days counted together. With the answer's
-- totals: trips (the months' list totals, of all hours or of :hours, and the days around), trips in
-- the list's groups, groups of the list with trips, and the list's least count, whether it keeps
-- every group and how many groups there are over all dates, for core/groups_months.py's proof.
-- counts_kept: whether compaction counted the list's months (not a version before sql/31).
WITH list AS (  -- the list's groups with their counts through the last month and the month before the first
    SELECT g.o_cell, g.d_cell, g.bucket, g.i, coalesce(g.last, 0) - coalesce(g.before, 0) AS months_trips
      FROM flow_top t
      LEFT JOIN LATERAL (SELECT c.trips FROM list_month_counts c
                          WHERE (c.level, c.bucket_hours, c.region_id, c.datasource_id, c.days)
                                = (:level, :bucket_hours, :list_region, :list_datasource, :days)
                            AND c.month <= (CAST(:months AS date[]))[cardinality(CAST(:months AS date[]))]
                          ORDER BY c.month DESC LIMIT 1) last ON true
      LEFT JOIN LATERAL (SELECT c.trips FROM list_month_counts c
                          WHERE (c.level, c.bucket_hours, c.region_id, c.datasource_id, c.days)
                                = (:level, :bucket_hours, :list_region, :list_datasource, :days)
                            AND c.month < (CAST(:months AS date[]))[1]
                          ORDER BY c.month DESC LIMIT 1) before ON true
     -- (one unnest zips the arrays entry by entry)
     CROSS JOIN LATERAL unnest(t.o_cells, t.d_cells, t.buckets, last.trips, before.trips) WITH ORDINALITY
                        AS g (o_cell, d_cell, bucket, last, before, i)
     WHERE (t.level, t.bucket_hours, t.region_id, t.datasource_id, t.days, t.month)
           = (:level, :bucket_hours, :list_region, :list_datasource, :days, '-infinity')
), edges AS (  -- (one scan of both stretches, as in groups_kept_and_new)
    SELECT list.i,
           sum(CASE WHEN t.ts < (CAST(:edge_to AS date[]))[1] + 1 THEN (CAST(:edge_sign AS int[]))[1]
                    ELSE (CAST(:edge_sign AS int[]))[2] END) AS trips
      FROM trip_times t
      LEFT JOIN list ON list.o_cell = grid_cell(t.o_cell, t.o_medium, CAST(:level AS smallint))
                    AND list.d_cell = grid_cell(t.d_cell, t.d_medium, CAST(:level AS smallint))
                    AND list.bucket = t.hour / :bucket_hours
     WHERE cardinality(CAST(:edge_from AS date[])) > 0
       AND (t.ts >= (CAST(:edge_from AS date[]))[1] AND t.ts < (CAST(:edge_to AS date[]))[1] + 1
            OR t.ts >= (CAST(:edge_from AS date[]))[2] AND t.ts < (CAST(:edge_to AS date[]))[2] + 1)
       AND (:list_region = 0 OR t.region_id = :list_region)
       AND (:list_datasource = 0 OR t.datasource_id = :list_datasource)
       AND (CAST(:weekend AS boolean) IS NULL OR t.weekend = CAST(:weekend AS boolean))
       AND (CAST(:hours AS int[]) IS NULL OR t.hour = ANY(CAST(:hours AS int[])))
     GROUP BY list.i
), counted AS (
    SELECT list.o_cell, list.d_cell, list.bucket, (list.months_trips + coalesce(edges.trips, 0))::bigint AS trips
      FROM list
      LEFT JOIN edges USING (i)
     WHERE CAST(:hours AS int[]) IS NULL OR list.bucket * :bucket_hours = ANY(CAST(:hours AS int[]))  -- (whole buckets)
), x AS MATERIALIZED (  -- (once: pulled up into the join below, its list's arrays were read again for each row)
    SELECT EXISTS (SELECT FROM list_month_counts
                    WHERE (level, bucket_hours, region_id, datasource_id, days)
                          = (:level, :bucket_hours, :list_region, :list_datasource, :days)) AS counts_kept,
           -- (the months' totals of their medium lists of 1-hour buckets, kept for every context:
           -- the same trips at every level and bucket size)
           (coalesce((SELECT sum(s.total_trips) FROM flow_top_totals s
                       WHERE CAST(:hours AS int[]) IS NULL
                         AND (s.level, s.bucket_hours, s.region_id, s.datasource_id, s.days)
                             = (1, 1, :list_region, :list_datasource, :days)
                         AND s.month = ANY(CAST(:months AS date[]))), 0)
            + coalesce((SELECT sum(s.total_trips) FROM flow_top_hours s
                         WHERE (s.level, s.bucket_hours, s.region_id, s.datasource_id, s.days)
                               = (1, 1, :list_region, :list_datasource, :days)
                           AND s.month = ANY(CAST(:months AS date[])) AND s.hour = ANY(CAST(:hours AS int[]))), 0)
            + coalesce((SELECT sum(trips) FROM edges), 0))::bigint AS total_trips,
           (SELECT coalesce(sum(trips), 0) FROM counted)::bigint AS list_trips,
           (SELECT count(*) FROM counted WHERE trips > 0) AS list_groups,
           t.trips[cardinality(t.trips)] AS kept_min,
           cardinality(t.trips) = s.total_groups AS complete, s.total_groups AS all_groups
      FROM flow_top t
      JOIN flow_top_totals s USING (level, bucket_hours, region_id, datasource_id, days, month)
     WHERE (t.level, t.bucket_hours, t.region_id, t.datasource_id, t.days, t.month)
           = (:level, :bucket_hours, :list_region, :list_datasource, :days, '-infinity')
)
SELECT x.*, top.o_cell, top.d_cell, top.bucket, top.trips
  FROM x
  LEFT JOIN LATERAL (SELECT * FROM counted WHERE trips > 0
                      ORDER BY trips DESC, o_cell, d_cell, bucket LIMIT :limit) top ON true
 ORDER BY top.trips DESC, top.o_cell, top.d_cell, top.bucket

-- name: groups_hours_summed
-- Hours of the day that are not whole buckets (7-9 h in 3-hour buckets), or that the kept lists
-- of their bucket size did not prove, of all dates: the 1-hour list of all dates of one context
-- (:list_region, :list_datasource; 0: all) and :days, its groups in the hours asked (bucket: the
-- hour), with its least count (kept_min) and whether it keeps every group (complete);
-- core/groups_hours.py sums them by bucket. No row but the first (NULL cells) when the context
-- keeps no list.
WITH list AS MATERIALIZED (
    SELECT t.o_cells, t.d_cells, t.buckets, t.trips, t.trips[cardinality(t.trips)] AS kept_min,
           cardinality(t.trips) = s.total_groups AS complete
      FROM flow_top t
      JOIN flow_top_totals s USING (level, bucket_hours, region_id, datasource_id, days, month)
     WHERE (t.level, t.bucket_hours, t.region_id, t.datasource_id, t.days, t.month)
           = (:level, 1, :list_region, :list_datasource, :days, '-infinity')
), x AS MATERIALIZED (  -- (once: in the projection of each group's row, the list's arrays were read
                        -- again for each, 0.3 s at 10M)
    SELECT kept_min, complete FROM list
)
SELECT x.kept_min, x.complete, g.o_cell, g.d_cell, g.bucket, g.trips
  FROM (SELECT 1) one
  LEFT JOIN x ON true
  LEFT JOIN (SELECT g.*
               FROM list
              CROSS JOIN LATERAL unnest(list.o_cells, list.d_cells, list.buckets, list.trips) AS g (o_cell, d_cell, bucket, trips)
              WHERE g.bucket = ANY(CAST(:hours AS int[]))) g ON true

-- name: groups_hours_totals
-- The trips and groups of each hour asked (:hours) of the 1-hour list of all dates of one context
-- (flow_top_hours; as groups_hours_summed): the answer's trips, and the bounds of its groups (a
-- bucket has at least as many as its busiest hour asked, at most their sum).
SELECT hour, total_trips, total_groups
  FROM flow_top_hours
 WHERE (level, bucket_hours, region_id, datasource_id, days, month)
       = (:level, 1, :list_region, :list_datasource, :days, '-infinity')
   AND hour = ANY(CAST(:hours AS int[]))
