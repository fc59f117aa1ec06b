-- Region and datasource names are added in their own short transactions while a file is read
-- (core/ingest/load.py), so that concurrent loads never wait on each other. A file that then
-- fails, is cancelled or whose process dies leaves its new names behind, and ids drawn from the
-- smallint identities (also by an insert that failed for want of ids): failed files with many
-- names could leave no ids for good ones. forget_unused_names() deletes the names that no
-- completed job uses (none in region_datasources) and sets each identity back to the highest id
-- still in use (ids below it stay unused). It does nothing while any job is queued or running
-- (such a job may hold ids of names it has not written anywhere yet), when there is nothing to
-- do (0), or when it cannot lock both tables within a second (-1). The EXCLUSIVE lock lets readers on;
-- a job starting meanwhile waits at its first name insert (ROW EXCLUSIVE), which it runs before
-- it looks any name up, and then sees the names as they are after this.
CREATE FUNCTION forget_unused_names() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '1s' AS $$
DECLARE
    forgotten integer := 0;
    n integer;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN 0;  -- the checks below must see what was committed before the lock was taken
    END IF;
    IF EXISTS (SELECT FROM jobs WHERE status IN ('queued', 'running'))
       OR NOT (EXISTS (SELECT FROM regions r WHERE NOT EXISTS (SELECT FROM region_datasources s WHERE s.region_id = r.region_id))
               OR EXISTS (SELECT FROM datasources d
                           WHERE NOT EXISTS (SELECT FROM region_datasources s WHERE s.datasource_id = d.datasource_id))
               -- ids drawn past the highest in use (the last id drawn: last_value once is_called)
               OR (SELECT last_value - (NOT is_called)::int FROM regions_region_id_seq)
                  > coalesce((SELECT max(region_id) FROM regions), 0)
               OR (SELECT last_value - (NOT is_called)::int FROM datasources_datasource_id_seq)
                  > coalesce((SELECT max(datasource_id) FROM datasources), 0)) THEN
        RETURN 0;  -- a job is under way, or nothing to forget: no lock taken
    END IF;
    BEGIN
        LOCK TABLE regions, datasources IN EXCLUSIVE MODE;
    EXCEPTION WHEN lock_not_available THEN
        RETURN -1;  -- busy (a long insert, an autovacuum of the table): the caller may try again
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
    -- setval(seq, 1, false): the next id is 1; setval(seq, m): it is m + 1
    PERFORM setval('regions_region_id_seq', coalesce(max(region_id), 1), max(region_id) IS NOT NULL) FROM regions;
    PERFORM setval('datasources_datasource_id_seq', coalesce(max(datasource_id), 1), max(datasource_id) IS NOT NULL)
       FROM datasources;
    RETURN forgotten;
END $$;

REVOKE EXECUTE ON FUNCTION forget_unused_names() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forget_unused_names() TO trips_loader;
