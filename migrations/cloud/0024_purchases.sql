-- Guest purchases paid by M-Pesa STK push (flow 2, protocol `hotspot_shared::purchase`), and the
-- inbox of what Daraja posts back.
--
-- A purchase is asked for by a router for one guest (phone, MAC) and one hotspot package. The
-- callback URL of its push carries a random per-purchase token; only the token's SHA-256 is kept,
-- so a copy of the database does not let anyone forge callbacks.
CREATE TABLE hotspot_purchases (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    device_id UUID,
    -- The router's idempotency key: the same request_id answers the same purchase.
    request_id UUID NOT NULL,
    service_package_id UUID,
    package_name VARCHAR(255) NOT NULL,
    -- Whole shillings as charged (M-Pesa takes no cents).
    amount NUMERIC(12,2) NOT NULL CHECK (amount >= 1 AND amount = trunc(amount)),
    currency VARCHAR(3) NOT NULL DEFAULT 'KES',
    phone_number VARCHAR(20) NOT NULL,
    client_mac VARCHAR(17) NOT NULL,
    client_ip INET,
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'paid', 'failed')),
    -- PaymentFailure in snake_case when failed.
    failure_reason VARCHAR(32),
    result_code VARCHAR(20),
    result_desc TEXT,
    merchant_request_id VARCHAR(255),
    checkout_request_id VARCHAR(255) UNIQUE,
    mpesa_receipt_number VARCHAR(255) UNIQUE,
    callback_token_hash BYTEA NOT NULL UNIQUE CHECK (octet_length(callback_token_hash) = 32),
    -- Set when a callback disagreed with the purchase (wrong amount, a receipt seen before): an
    -- operator should look; the payment state is left to the STK query.
    review_reason TEXT,
    push_sent_at TIMESTAMPTZ,
    next_query_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    query_attempts INTEGER NOT NULL DEFAULT 0,
    settled_at TIMESTAMPTZ,
    settled_by VARCHAR(20) CHECK (settled_by IN ('callback', 'query', 'timeout', 'push')),
    client_id UUID,
    voucher_id UUID,
    payment_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (hotspot_id, request_id),
    CHECK (status <> 'failed' OR failure_reason IS NOT NULL),
    CHECK (status <> 'paid' OR voucher_id IS NOT NULL),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, service_package_id) REFERENCES service_packages (tenant_id, id)
        ON DELETE SET NULL (service_package_id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
        ON DELETE SET NULL (client_id),
    FOREIGN KEY (tenant_id, voucher_id) REFERENCES hotspot_vouchers (tenant_id, id)
        ON DELETE SET NULL (voucher_id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES billing_payments (tenant_id, id)
        ON DELETE SET NULL (payment_id)
);
-- Never two open pushes for the same guest, package and hotspot (a double tap with a new
-- request_id answers the purchase already under way).
CREATE UNIQUE INDEX idx_hotspot_purchases_one_pending
    ON hotspot_purchases (hotspot_id, phone_number, service_package_id)
    WHERE status = 'pending';
-- The reconciliation job's queue.
CREATE INDEX idx_hotspot_purchases_due ON hotspot_purchases (tenant_id, next_query_at)
    WHERE status = 'pending';
CREATE INDEX idx_hotspot_purchases_tenant ON hotspot_purchases (tenant_id, created_at);

-- What Daraja posted (STK callbacks, C2B confirmations), stored before it is acted on: the answer
-- to Daraja goes out at once and the row is processed after, by the request's own task or, if
-- that died, by the jobs loop. Only bodies that parsed and carried a valid token are stored.
CREATE TABLE mpesa_callbacks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind VARCHAR(20) NOT NULL CHECK (kind IN ('stk', 'c2b_confirmation')),
    purchase_id UUID,
    -- CheckoutRequestID (STK) or TransID (C2B).
    reference VARCHAR(255) NOT NULL,
    body JSONB NOT NULL,
    source_ip INET,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at TIMESTAMPTZ,
    -- What processing did: applied, duplicate, amount_mismatch, unknown, error: …
    outcome TEXT,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, purchase_id) REFERENCES hotspot_purchases (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX idx_mpesa_callbacks_unprocessed ON mpesa_callbacks (tenant_id, received_at)
    WHERE processed_at IS NULL;

-- C2B payments (paybill/till paid from the phone's menu), once per TransID.
CREATE TABLE mpesa_c2b_payments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    trans_id VARCHAR(40) NOT NULL UNIQUE,
    amount NUMERIC(12,2) NOT NULL CHECK (amount > 0),
    bill_ref_number VARCHAR(100),
    business_short_code VARCHAR(20),
    -- What it bought: a voucher (BillRefNumber named a package) or a wallet credit (a client).
    applied_to VARCHAR(20) NOT NULL CHECK (applied_to IN ('voucher', 'wallet', 'unmatched')),
    client_id UUID,
    voucher_id UUID,
    payment_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
        ON DELETE SET NULL (client_id),
    FOREIGN KEY (tenant_id, voucher_id) REFERENCES hotspot_vouchers (tenant_id, id)
        ON DELETE SET NULL (voucher_id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES billing_payments (tenant_id, id)
        ON DELETE SET NULL (payment_id)
);

SELECT hotspot_secure_tables();

-- An STK callback arrives with no tenant. Given the SHA-256 of the token in its URL, returns the
-- purchase it was made for and its tenant (nothing for an unknown token); the caller then sets
-- app.tenant_id and works under RLS.
CREATE FUNCTION purchase_by_callback_token(p_token_hash BYTEA)
RETURNS TABLE (tenant_id UUID, purchase_id UUID, callback_token_hash BYTEA)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT p.tenant_id, p.id, p.callback_token_hash
        FROM public.hotspot_purchases p
        WHERE p.callback_token_hash = p_token_hash
    $$;
REVOKE ALL ON FUNCTION purchase_by_callback_token(BYTEA) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purchase_by_callback_token(BYTEA) TO hotspot_app;

-- C2B validation and confirmation arrive with no tenant. Given the SHA-256 of the tenant's
-- callback token (mpesa_settings.callback_token_hash), returns the tenant.
CREATE FUNCTION tenant_by_mpesa_token(p_token_hash BYTEA)
RETURNS TABLE (tenant_id UUID, callback_token_hash BYTEA)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT s.tenant_id, s.callback_token_hash
        FROM public.mpesa_settings s
        WHERE s.callback_token_hash = p_token_hash AND coalesce(s.is_active, true)
    $$;
REVOKE ALL ON FUNCTION tenant_by_mpesa_token(BYTEA) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenant_by_mpesa_token(BYTEA) TO hotspot_app;

-- The payments job works tenant by tenant; this names the tenants that have work (a push due for
-- a query, a callback not processed), and nothing else about them.
CREATE FUNCTION payments_due_tenants()
RETURNS TABLE (tenant_id UUID)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT p.tenant_id FROM public.hotspot_purchases p
        WHERE p.status = 'pending' AND p.next_query_at <= now()
        UNION
        SELECT c.tenant_id FROM public.mpesa_callbacks c WHERE c.processed_at IS NULL
    $$;
REVOKE ALL ON FUNCTION payments_due_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments_due_tenants() TO hotspot_app;
