-- Region and datasource names are added in their own short transactions while a file is read
-- (core/ingest/load.py), so that concurrent loads never wait on each other. A file that then
-- fails, is cancelled or whose process dies leaves its new names behind, and with them ids of
-- the smallint identities: failed files with many names could leave no ids for good ones.
-- forget_unused_names() deletes the names that no completed job uses (none in
-- region_datasources) and sets each identity back to the highest id still in use (ids below it
-- stay unused). It does nothing while any job is queued or running (such a job may hold ids of
-- names it has not written anywhere yet), or when it cannot lock both tables within a second:
-- once it holds them, a job starting meanwhile waits to look its names up.
CREATE FUNCTION forget_unused_names() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '1s' AS $$
DECLARE
    forgotten integer := 0;
    n integer;
BEGIN
    BEGIN
        LOCK TABLE regions, datasources IN ACCESS EXCLUSIVE MODE;
    EXCEPTION WHEN lock_not_available THEN
        RETURN 0;
    END;
    IF EXISTS (SELECT FROM jobs WHERE status IN ('queued', 'running')) THEN
        RETURN 0;
    END IF;
    DELETE FROM regions r WHERE NOT EXISTS (SELECT FROM region_datasources s WHERE s.region_id = r.region_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    forgotten := forgotten + n;
    DELETE FROM datasources d
     WHERE NOT EXISTS (SELECT FROM region_datasources s WHERE s.datasource_id = d.datasource_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    forgotten := forgotten + n;
    IF forgotten > 0 THEN  -- setval(seq, 1, false): the next id is 1; setval(seq, m): it is m + 1
        PERFORM setval(pg_get_serial_sequence('regions', 'region_id'), coalesce(max(region_id), 1), max(region_id) IS NOT NULL)
           FROM regions;
        PERFORM setval(pg_get_serial_sequence('datasources', 'datasource_id'), coalesce(max(datasource_id), 1),
                       max(datasource_id) IS NOT NULL)
           FROM datasources;
    END IF;
    RETURN forgotten;
END $$;

REVOKE EXECUTE ON FUNCTION forget_unused_names() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forget_unused_names() TO trips_loader;
