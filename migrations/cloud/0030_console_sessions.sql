-- The operators' console (/console/): sign-in sessions kept on the server. The browser holds a
-- random session id in an HttpOnly cookie; only its SHA-256 is stored here. A session is
-- `mfa_pending` between a right password and a right one-time code (it then opens no page and
-- lasts minutes); a completed sign-in replaces it with a new id. Sign-out deletes the row, sign
-- out everywhere deletes all of the user's rows.
CREATE TABLE console_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    session_hash BYTEA NOT NULL UNIQUE CHECK (octet_length(session_hash) = 32),
    mfa_pending BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_console_sessions_user ON console_sessions(tenant_id, user_id);
CREATE INDEX idx_console_sessions_expiry ON console_sessions(expires_at);

SELECT hotspot_secure_tables();

-- A console request carries its session id before its tenant is known. Given the id's SHA-256,
-- returns the session, its user and tenant, the user's roles, e-mail and name, and whether it is
-- still valid (the caller refuses the rest and continues under RLS with app.tenant_id set).
-- Disabled users and suspended tenants have no sessions that work.
CREATE FUNCTION console_session_lookup(p_session_hash BYTEA)
RETURNS TABLE (session_id UUID, user_id UUID, tenant_id UUID, roles JSONB, email VARCHAR,
               full_name VARCHAR, mfa_pending BOOLEAN, expired BOOLEAN)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT s.id, s.user_id, s.tenant_id, coalesce(u.roles, '[]'::jsonb), u.email,
               u.full_name, s.mfa_pending, s.expires_at <= now()
        FROM public.console_sessions s
        JOIN public.users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id
        JOIN public.tenants t ON t.id = s.tenant_id
        WHERE s.session_hash = p_session_hash
          AND u.deleted_at IS NULL AND coalesce(u.is_active, true)
          AND t.deleted_at IS NULL AND t.status NOT IN ('suspended', 'cancelled', 'inactive')
    $$;
REVOKE ALL ON FUNCTION console_session_lookup(BYTEA) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION console_session_lookup(BYTEA) TO hotspot_app;
