-- Each kept list (flow_top) as one row: its groups' origin cells, destination cells, buckets and
-- trips as four arrays, in the list's order (trips descending, then o_cell, d_cell, bucket),
-- instead of one row per group. A list is always written and read whole (sql/queries/compact.sql
-- compact_keep, sql/queries/groups.sql groups_kept_and_new), so a row per group only cost room:
-- at 1M trips 7.3M rows, 895 MB of heap and 772 MB of btree (14 times the trips' heap), mostly
-- the month lists; as arrays the lists are compressed out of line (TOAST) and their key is a
-- primary key of one row a list. Reading a list unnests its arrays.
--
-- First the compaction lock (7314, sql/queries/compact.sql compact_lock): a compaction under way
-- writes rows of the old shape. Like sql/22, the rewrite is not MVCC-safe: a transaction whose
-- snapshot is older than this one's commit reads the new table as empty.
SELECT pg_advisory_xact_lock(7314);
LOCK TABLE flow_top IN ACCESS EXCLUSIVE MODE;
CREATE TABLE flow_top_lists (
    level         smallint NOT NULL,
    bucket_hours  smallint NOT NULL,
    region_id     smallint NOT NULL,   -- 0: all regions
    datasource_id smallint NOT NULL,   -- 0: all datasources
    days          smallint NOT NULL,   -- 0: all, 1: weekdays, 2: weekend
    month         date     NOT NULL,   -- the month's first day; '-infinity': all dates
    o_cells       bigint[]   NOT NULL,
    d_cells       bigint[]   NOT NULL,
    buckets       smallint[] NOT NULL,
    trips         bigint[]   NOT NULL,
    PRIMARY KEY (level, bucket_hours, region_id, datasource_id, days, month)
);
INSERT INTO flow_top_lists
SELECT level, bucket_hours, region_id, datasource_id, days, month,
       array_agg(o_cell ORDER BY trips DESC, o_cell, d_cell, bucket),
       array_agg(d_cell ORDER BY trips DESC, o_cell, d_cell, bucket),
       array_agg(bucket ORDER BY trips DESC, o_cell, d_cell, bucket),
       array_agg(trips ORDER BY trips DESC, o_cell, d_cell, bucket)
  FROM flow_top
 GROUP BY level, bucket_hours, region_id, datasource_id, days, month;
DROP TABLE flow_top;
ALTER TABLE flow_top_lists RENAME TO flow_top;
ALTER TABLE flow_top RENAME CONSTRAINT flow_top_lists_pkey TO flow_top_pkey;
COMMENT ON COLUMN flow_top.level IS '0 fine, 1 medium, 2 coarse';
GRANT SELECT ON flow_top TO trips_reader, trips_loader;  -- as sql/04_roles.sql grants every table
ANALYZE flow_top;
