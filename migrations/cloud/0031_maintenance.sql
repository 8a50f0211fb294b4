-- The maintenance job's functions (cloud/src/db/maintenance.rs): closed RADIUS sessions moved to
-- radacct_history in bounded batches, and monthly partitions past their retention dropped.

-- radacct_archive(before, limit): moves at most p_limit sessions closed before p_closed_before,
-- oldest first, from radacct into radacct_history; returns how many. In batches, so a backlog
-- never becomes one long transaction holding locks on the table every NAS writes.
CREATE FUNCTION radacct_archive(p_closed_before TIMESTAMPTZ, p_limit INTEGER)
RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    n BIGINT;
BEGIN
    IF p_limit < 1 OR p_limit > 100000 THEN
        RAISE EXCEPTION 'batch size must be between 1 and 100000, not %', p_limit;
    END IF;
    WITH picked AS (
        SELECT radacctid FROM public.radacct
        WHERE acctstoptime IS NOT NULL AND acctstoptime < p_closed_before
        ORDER BY acctstoptime
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), moved AS (
        DELETE FROM public.radacct r USING picked WHERE r.radacctid = picked.radacctid
        RETURNING r.*
    )
    INSERT INTO public.radacct_history SELECT * FROM moved;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION radacct_archive(TIMESTAMPTZ, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radacct_archive(TIMESTAMPTZ, INTEGER) TO hotspot_app;

-- drop_monthly_partitions(parent, keep): detaches and drops the monthly partitions of
-- hotspot_sessions or radacct_history (named <parent>_YYYY_MM by create_monthly_partitions)
-- whose whole month lies more than p_keep_months months before the current UTC month; returns
-- their names. A partition's rows go with it: this is the retention policy. p_keep_months 0 keeps
-- everything. The default partition is never dropped.
CREATE FUNCTION drop_monthly_partitions(p_parent REGCLASS, p_keep_months INTEGER)
RETURNS SETOF TEXT
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    parent TEXT;
    cutoff TIMESTAMP;
    part RECORD;
BEGIN
    SELECT c.relname INTO parent FROM pg_class c WHERE c.oid = p_parent;
    IF parent IS NULL OR parent NOT IN ('hotspot_sessions', 'radacct_history') THEN
        RAISE EXCEPTION '% is not a table partitioned by month', p_parent;
    END IF;
    IF p_keep_months < 0 OR p_keep_months > 1200 THEN
        RAISE EXCEPTION 'months to keep must be between 0 and 1200, not %', p_keep_months;
    END IF;
    IF p_keep_months = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('create_monthly_partitions:' || parent));
    -- UTC calendar, as the partitions' bounds.
    cutoff := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => p_keep_months);
    FOR part IN
        SELECT c.oid::regclass AS rel, c.relname AS name
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = p_parent
          AND c.relname ~ ('^' || parent || '_[0-9]{4}_[0-9]{2}$')
          AND to_date(right(c.relname, 7), 'YYYY_MM') + interval '1 month' <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', p_parent, part.rel);
        EXECUTE format('DROP TABLE %s', part.rel);
        RETURN NEXT part.name;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION drop_monthly_partitions(REGCLASS, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drop_monthly_partitions(REGCLASS, INTEGER) TO hotspot_app;
