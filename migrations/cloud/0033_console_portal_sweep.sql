-- The operators' console: each site's portal address (printed voucher cards carry a QR code of a
-- link to it with the voucher's code filled in), and the sweep of expired console sign-ins.

-- The address guests' browsers reach the site's captive portal at (hotspotd's portal.base_url);
-- NULL means hotspotd's default, http://192.168.1.1:2050/.
ALTER TABLE hotspots ADD COLUMN portal_url TEXT
    CHECK (portal_url IS NULL OR (length(portal_url) <= 255
                                  AND portal_url ~ '^https?://[^[:space:]"''<>\\]+$'));

-- console_sessions_sweep(limit): deletes at most p_limit console sessions that expired more than
-- a day ago (of every tenant, hence SECURITY DEFINER); returns how many. An expired session
-- already opens nothing; this only keeps the table from growing with abandoned sign-ins.
CREATE FUNCTION console_sessions_sweep(p_limit INTEGER)
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
    DELETE FROM public.console_sessions
    WHERE id IN (SELECT id FROM public.console_sessions
                 WHERE expires_at < now() - interval '1 day'
                 ORDER BY expires_at LIMIT p_limit
                 FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION console_sessions_sweep(INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION console_sessions_sweep(INTEGER) TO hotspot_app;
