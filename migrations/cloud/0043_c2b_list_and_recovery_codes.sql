-- The console's C2B list: newest first, keyset-paged per tenant, each payment with the payer's
-- number from its stored confirmation (found by TransID).
CREATE INDEX idx_mpesa_c2b_payments_listed
    ON mpesa_c2b_payments (tenant_id, created_at DESC, id DESC);
CREATE INDEX idx_mpesa_callbacks_reference ON mpesa_callbacks (tenant_id, kind, reference);

-- One-time recovery codes of an operator's second factor, issued when it is turned on (and
-- again on request): a code signs in once instead of a TOTP code. Only each code's argon2 hash
-- is kept, found by the code's first group (`lookup`, not secret); `used_at` marks it spent.
CREATE TABLE user_recovery_codes (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    lookup VARCHAR(10) NOT NULL,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (user_id, lookup),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

SELECT hotspot_secure_tables();

-- The console's tickets list: newest first, keyset-paged per tenant (a sort of every ticket
-- before).
CREATE INDEX idx_support_tickets_listed ON support_tickets (tenant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
