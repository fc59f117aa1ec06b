-- Each region's extent, kept with its trips per job and datasource: the medium grid cells
-- (core/grid.py: cx = floor((lon + 180) / 0.02), cy = floor((lat + 90) / 0.02)) spanned by its
-- trips' origins and destinations. The page frames a region's map and box preset with it; read
-- from here it costs one small scan instead of one over every medium flow row (1.2 s at 10M
-- trips, more with every file until compacted).
ALTER TABLE region_datasources
    ADD COLUMN cx0 integer,   -- westmost medium cell column of an origin or destination
    ADD COLUMN cy0 integer,   -- southmost row
    ADD COLUMN cx1 integer,   -- eastmost column
    ADD COLUMN cy1 integer;   -- northmost row

-- Rows loaded before this migration: from their medium flow rows (the same job, region and
-- datasource), once.
UPDATE region_datasources s
   SET cx0 = f.cx0, cy0 = f.cy0, cx1 = f.cx1, cy1 = f.cy1
  FROM (SELECT job_id, region_id, datasource_id,
               least(min(o_cell / 100000), min(d_cell / 100000))::int AS cx0,
               least(min(o_cell % 100000), min(d_cell % 100000))::int AS cy0,
               greatest(max(o_cell / 100000), max(d_cell / 100000))::int AS cx1,
               greatest(max(o_cell % 100000), max(d_cell % 100000))::int AS cy1
          FROM flow_counts WHERE level = 1
         GROUP BY 1, 2, 3) f
 WHERE (s.job_id, s.region_id, s.datasource_id) = (f.job_id, f.region_id, f.datasource_id);
