-- The console's C2B list: newest first, keyset-paged per tenant, each payment with the payer's
-- number from its stored confirmation (found by TransID).
CREATE INDEX idx_mpesa_c2b_payments_listed
    ON mpesa_c2b_payments (tenant_id, created_at DESC, id DESC);
CREATE INDEX idx_mpesa_callbacks_reference ON mpesa_callbacks (tenant_id, kind, reference);
