-- grid_within: whether a cell (any level: column * 100000 + row) lies in columns x0..x1 and rows
-- y0..y1, for the box's interior tests on fine cells' medium parents (sql/queries/weekly.sql);
-- inlined by the planner like grid_parent. Its own file: it was first written into
-- 25_pair_days.sql after that file had been applied, so databases migrated before lacked it.
CREATE OR REPLACE FUNCTION grid_within(cell bigint, x0 integer, x1 integer, y0 integer, y1 integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT cell / 100000 BETWEEN x0 AND x1 AND cell % 100000 BETWEEN y0 AND y1
$$;
