-- Keeps the change log from growing with every edit. A pull answers each entity's current state,
-- so a change row followed by a later one for the same entity and the same hotspot tells a router
-- nothing the later one does not: it can go. A kick's row goes once the kick is older than the
-- hour it is delivered for. What stays is about one row per entity ever synced (a deletion's row
-- stays, for routers that still hold the entity).
--
-- Only rows below the pull horizon are compared, so a row is never removed in favour of one a
-- pull cannot see yet.

CREATE INDEX idx_sync_changes_entity ON sync_changes (tenant_id, entity_id, xid, id);

CREATE FUNCTION sync_compact_changes(max_rows INTEGER)
RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    horizon XID8 := pg_snapshot_xmin(pg_current_snapshot());
    removed BIGINT;
BEGIN
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be positive';
    END IF;
    WITH doomed AS (
        SELECT c.tenant_id, c.id
        FROM public.sync_changes c
        WHERE c.xid < horizon
          AND ((c.entity = 'kick' AND c.changed_at < now() - interval '1 hour')
               OR EXISTS (
                   SELECT 1 FROM public.sync_changes l
                   WHERE l.tenant_id = c.tenant_id
                     AND l.entity_id = c.entity_id
                     AND l.entity = c.entity
                     AND l.hotspot_id IS NOT DISTINCT FROM c.hotspot_id
                     AND (l.xid, l.id) > (c.xid, c.id)
                     AND l.xid < horizon))
        LIMIT max_rows
    )
    DELETE FROM public.sync_changes s
    USING doomed d
    WHERE s.tenant_id = d.tenant_id AND s.id = d.id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
REVOKE ALL ON FUNCTION sync_compact_changes(INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sync_compact_changes(INTEGER) TO hotspot_app;
