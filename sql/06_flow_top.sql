-- Groups kept by compaction, for the filters the dashboard offers first: for each grid level
-- (1 medium, 2 coarse), bucket size, region (0: all regions) and days (0 all, 1 weekdays,
-- 2 weekend), the top 5000 groups by trips (ties in the order of the live query) and the totals
-- over all groups. Built in compaction's transaction from the summary it has just compacted, for
-- the jobs listed in compaction_state; while no other job has completed since, these answers
-- (the dashboard's default view, a region, weekdays or weekend) read these rows instead of
-- aggregating flow rows.
CREATE TABLE flow_top (
    level        smallint NOT NULL,
    bucket_hours smallint NOT NULL,
    region_id    smallint NOT NULL,   -- 0: all regions
    days         smallint NOT NULL,   -- 0: all, 1: weekdays, 2: weekend
    o_cell       bigint   NOT NULL,
    d_cell       bigint   NOT NULL,
    bucket       smallint NOT NULL,
    trips        bigint   NOT NULL
);
CREATE INDEX flow_top_order ON flow_top (level, bucket_hours, region_id, days, trips DESC, o_cell, d_cell, bucket);

CREATE TABLE flow_top_totals (
    level        smallint NOT NULL,
    bucket_hours smallint NOT NULL,
    region_id    smallint NOT NULL,
    days         smallint NOT NULL,
    total_trips  bigint   NOT NULL,
    total_groups bigint   NOT NULL,
    PRIMARY KEY (level, bucket_hours, region_id, days)
);

-- One row: the completed jobs whose summary rows the last compaction folded (and flow_top counts).
CREATE TABLE compaction_state (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    folded_jobs  bigint[] NOT NULL,
    compacted_at timestamptz NOT NULL
);
