-- The console shows every time, and reads every date a form names, in the tenant's time zone.
-- The session lookup (0030) also answers that zone, as zone_or_utc() gives it (UTC for none or
-- a name PostgreSQL does not know), so a page sets it for its transaction without another read.

DROP FUNCTION console_session_lookup(BYTEA);

CREATE FUNCTION console_session_lookup(p_session_hash BYTEA)
RETURNS TABLE (session_id UUID, user_id UUID, tenant_id UUID, roles JSONB, email VARCHAR,
               full_name VARCHAR, mfa_pending BOOLEAN, expired BOOLEAN, time_zone TEXT)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT s.id, s.user_id, s.tenant_id, coalesce(u.roles, '[]'::jsonb), u.email,
               u.full_name, s.mfa_pending, s.expires_at <= now(), public.zone_or_utc(t.timezone)
        FROM public.console_sessions s
        JOIN public.users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id
        JOIN public.tenants t ON t.id = s.tenant_id
        WHERE s.session_hash = p_session_hash
          AND u.deleted_at IS NULL AND coalesce(u.is_active, true)
          AND t.deleted_at IS NULL AND t.status NOT IN ('suspended', 'cancelled', 'inactive')
    $$;
REVOKE ALL ON FUNCTION console_session_lookup(BYTEA) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION console_session_lookup(BYTEA) TO hotspot_app;
