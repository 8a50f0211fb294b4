-- The operators' API: sign-in tokens, the lookups that run before a tenant is known, platform
-- administration of tenants, and operator kicks of hotspot sessions for the edge to carry out.

-- Bearer tokens of signed-in users. Only the SHA-256 of a token is stored; a token ends at
-- expires_at or when revoked (sign-out).
CREATE TABLE api_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    user_agent TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_api_tokens_user ON api_tokens(tenant_id, user_id) WHERE revoked_at IS NULL;

-- An operator's kick of a hotspot session. The session row is marked terminated at once; the
-- kick itself waits here until the site's router has applied it: the edge's change pull reads
-- the rows of its hotspot with delivered_at IS NULL (oldest first) and acknowledges them by
-- setting delivered_at.
CREATE TABLE hotspot_session_kicks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    session_id UUID NOT NULL,
    session_start TIMESTAMPTZ NOT NULL,
    mac_address VARCHAR(17) NOT NULL,
    reason TEXT,
    requested_by UUID,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at TIMESTAMPTZ,
    UNIQUE (session_id, session_start),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, requested_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (requested_by)
);
CREATE INDEX idx_hotspot_session_kicks_pending ON hotspot_session_kicks(tenant_id, hotspot_id,
    requested_at) WHERE delivered_at IS NULL;

SELECT hotspot_secure_tables();

-- Sign-in happens before the tenant is known. Given an e-mail address (and optionally the
-- tenant's slug, needed when one address has accounts at several tenants), returns the active
-- accounts it names with what checking the password and second factor needs. Nothing else.
CREATE FUNCTION api_login_lookup(p_email TEXT, p_tenant_slug TEXT)
RETURNS TABLE (user_id UUID, tenant_id UUID, password_hash VARCHAR, mfa_enabled BOOLEAN,
               mfa_secret VARCHAR)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT u.id, u.tenant_id, u.password_hash, coalesce(u.mfa_enabled, false), u.mfa_secret
        FROM public.users u
        JOIN public.tenants t ON t.id = u.tenant_id
        WHERE lower(u.email) = lower(p_email)
          AND (p_tenant_slug IS NULL OR t.slug = p_tenant_slug)
          AND u.deleted_at IS NULL AND coalesce(u.is_active, true)
          AND t.deleted_at IS NULL AND t.status NOT IN ('suspended', 'cancelled', 'inactive')
        ORDER BY u.created_at, u.id
        LIMIT 2
    $$;
REVOKE ALL ON FUNCTION api_login_lookup(TEXT, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_login_lookup(TEXT, TEXT) TO hotspot_app;

-- A bearer token is presented before its tenant is known. Given its SHA-256, returns the token,
-- its user and tenant, the user's roles and the token's expiry (the caller refuses expired and
-- revoked tokens, and then continues under RLS with app.tenant_id set).
CREATE FUNCTION api_token_lookup(p_token_hash BYTEA)
RETURNS TABLE (token_id UUID, user_id UUID, tenant_id UUID, roles JSONB, expires_at TIMESTAMPTZ,
               revoked BOOLEAN)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT k.id, k.user_id, k.tenant_id, coalesce(u.roles, '[]'::jsonb), k.expires_at,
               k.revoked_at IS NOT NULL
        FROM public.api_tokens k
        JOIN public.users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
        JOIN public.tenants t ON t.id = k.tenant_id
        WHERE k.token_hash = p_token_hash
          AND u.deleted_at IS NULL AND coalesce(u.is_active, true)
          AND t.deleted_at IS NULL AND t.status NOT IN ('suspended', 'cancelled', 'inactive')
    $$;
REVOKE ALL ON FUNCTION api_token_lookup(BYTEA) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_token_lookup(BYTEA) TO hotspot_app;

-- Whether the transaction's user is a platform administrator (the role `platform_admin` in
-- users.roles). The platform functions below check it themselves, so the service's own role
-- checks are not the only guard.
CREATE FUNCTION app_is_platform_admin() RETURNS BOOLEAN
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM public.users u
            WHERE u.id = public.app_current_user() AND u.tenant_id = public.app_current_tenant()
              AND u.deleted_at IS NULL AND coalesce(u.is_active, true)
              AND u.roles ? 'platform_admin')
    $$;
REVOKE ALL ON FUNCTION app_is_platform_admin() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_is_platform_admin() TO hotspot_app;

-- Platform administration: one tenant's row, a new tenant, a tenant's status.
CREATE FUNCTION platform_get_tenant(p_id UUID)
RETURNS SETOF tenants
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF NOT public.app_is_platform_admin() THEN
        RAISE EXCEPTION 'platform administrators only' USING ERRCODE = '42501';
    END IF;
    RETURN QUERY SELECT * FROM public.tenants t WHERE t.id = p_id AND t.deleted_at IS NULL;
END
$$;
REVOKE ALL ON FUNCTION platform_get_tenant(UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_get_tenant(UUID) TO hotspot_app;

CREATE FUNCTION platform_create_tenant(p_name TEXT, p_slug TEXT, p_email TEXT, p_status TEXT,
                                       p_plan_type TEXT)
RETURNS SETOF tenants
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF NOT public.app_is_platform_admin() THEN
        RAISE EXCEPTION 'platform administrators only' USING ERRCODE = '42501';
    END IF;
    RETURN QUERY
        INSERT INTO public.tenants (name, slug, email, status, plan_type, created_by)
        VALUES (p_name, p_slug, p_email, coalesce(p_status, 'trial'),
                coalesce(p_plan_type, 'free'), public.app_current_user())
        RETURNING *;
END
$$;
REVOKE ALL ON FUNCTION platform_create_tenant(TEXT, TEXT, TEXT, TEXT, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_create_tenant(TEXT, TEXT, TEXT, TEXT, TEXT) TO hotspot_app;

CREATE FUNCTION platform_set_tenant_status(p_id UUID, p_status TEXT)
RETURNS SETOF tenants
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF NOT public.app_is_platform_admin() THEN
        RAISE EXCEPTION 'platform administrators only' USING ERRCODE = '42501';
    END IF;
    RETURN QUERY
        UPDATE public.tenants t SET status = p_status, updated_by = public.app_current_user()
        WHERE t.id = p_id AND t.deleted_at IS NULL
        RETURNING *;
END
$$;
REVOKE ALL ON FUNCTION platform_set_tenant_status(UUID, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_set_tenant_status(UUID, TEXT) TO hotspot_app;
