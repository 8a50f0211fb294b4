-- The few steps that must cross tenants, each a narrow SECURITY DEFINER function: it runs with
-- the owner's rights (the owner is not subject to the service role's RLS), does exactly one
-- lookup or change, takes hashed secrets where secrets are involved, and has a fixed search_path
-- so a caller cannot substitute objects. EXECUTE is granted to the service role only.
-- (nas_lookup, radius_subscriber_of, radpostauth_set_tenant, generate_voucher_code and the
-- radacct partition functions are the others; docs/schema.md lists them all.)

-- A router presents its device token before the service knows its tenant. Given the token's
-- SHA-256, returns the device, its tenant and hotspot, unless revoked; the caller then sets
-- app.tenant_id and continues under RLS.
CREATE FUNCTION device_token_lookup(p_token_hash BYTEA)
RETURNS TABLE (device_id UUID, tenant_id UUID, hotspot_id UUID)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT d.id, d.tenant_id, d.hotspot_id
        FROM public.hotspot_devices d
        JOIN public.tenants t ON t.id = d.tenant_id
        WHERE d.token_hash = p_token_hash
          AND d.revoked_at IS NULL
          AND t.deleted_at IS NULL AND t.status NOT IN ('suspended', 'cancelled', 'inactive')
    $$;
REVOKE ALL ON FUNCTION device_token_lookup(BYTEA) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION device_token_lookup(BYTEA) TO hotspot_app;

-- A router claims its hotspot with the one-time claim code (flow 6), again before any tenant is
-- known. Given the claim code's SHA-256 and the SHA-256 of the token the service just generated:
-- if the code is unclaimed and unexpired, stores the token hash, burns the code, and returns the
-- device, tenant and hotspot. A second claim with the same code returns nothing.
CREATE FUNCTION device_claim(p_claim_code_hash BYTEA, p_token_hash BYTEA)
RETURNS TABLE (device_id UUID, tenant_id UUID, hotspot_id UUID)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        UPDATE public.hotspot_devices d
        SET token_hash = p_token_hash, claim_code_hash = NULL, claimed_at = now(),
            claim_expires_at = NULL
        WHERE d.claim_code_hash = p_claim_code_hash
          AND d.claimed_at IS NULL AND d.revoked_at IS NULL
          AND (d.claim_expires_at IS NULL OR d.claim_expires_at > now())
        RETURNING d.id, d.tenant_id, d.hotspot_id
    $$;
REVOKE ALL ON FUNCTION device_claim(BYTEA, BYTEA) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION device_claim(BYTEA, BYTEA) TO hotspot_app;

-- Safaricom's M-Pesa callback is unsigned and arrives with no tenant. Its URL carries the
-- tenant's callback token; its body the CheckoutRequestID of the STK push. Returns the tenant and
-- the payment only when both belong together (the token alone names a tenant, the checkout id
-- alone is not secret). The caller then sets app.tenant_id and records the result under RLS.
CREATE FUNCTION payment_callback_lookup(p_callback_token TEXT, p_checkout_request_id TEXT)
RETURNS TABLE (tenant_id UUID, payment_id UUID, status VARCHAR)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT p.tenant_id, p.id, p.status
        FROM public.mpesa_settings s
        JOIN public.billing_payments p ON p.tenant_id = s.tenant_id
        WHERE s.callback_token_hash = public.digest(p_callback_token, 'sha256')
          AND p.checkout_request_id = p_checkout_request_id
    $$;
REVOKE ALL ON FUNCTION payment_callback_lookup(TEXT, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payment_callback_lookup(TEXT, TEXT) TO hotspot_app;

-- Platform administration and the scheduled jobs need the list of tenants (the jobs then work
-- tenant by tenant with app.tenant_id set). Returns identification and status only; nothing of
-- a tenant's data. The API exposes it to platform administrators alone.
CREATE FUNCTION platform_list_tenants()
RETURNS TABLE (id UUID, name VARCHAR, slug VARCHAR, status VARCHAR, created_at TIMESTAMPTZ)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT t.id, t.name, t.slug, t.status, t.created_at
        FROM public.tenants t
        WHERE t.deleted_at IS NULL
        ORDER BY t.created_at, t.id
    $$;
REVOKE ALL ON FUNCTION platform_list_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_list_tenants() TO hotspot_app;

-- The other functions of the schema are ordinary (caller's rights); only the service role needs
-- them, and the security definer ones above must not be callable by PUBLIC.
REVOKE ALL ON FUNCTION hotspot_secure_tables() FROM PUBLIC;
