-- The cell of a level (0 fine, 1 medium, 2 coarse) of a trip end stored with its fine and medium
-- cells (trip_times, sql/23): the one place that says which stored column serves which level, for
-- the queries that count trip_times' rows (sql/queries/groups.sql). With a constant level the
-- planner inlines it and folds the CASE to one column (coarse: the medium cell's parent).
CREATE FUNCTION grid_cell(fine_cell bigint, medium_cell integer, level smallint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE level WHEN 0 THEN fine_cell WHEN 1 THEN medium_cell ELSE grid_parent(medium_cell, 1::smallint) END
$$;
