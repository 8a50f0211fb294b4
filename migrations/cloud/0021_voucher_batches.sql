-- Vouchers made through the operators' API: which batch a voucher was generated in (to print
-- that batch's cards) and its revocation. A revoked voucher also gets expiry_date = now(), so a
-- router that only checks expiry refuses it too.
ALTER TABLE hotspot_vouchers
    ADD COLUMN batch_id UUID,
    ADD COLUMN revoked_at TIMESTAMPTZ,
    ADD COLUMN revoked_by UUID;
ALTER TABLE hotspot_vouchers
    ADD CONSTRAINT hotspot_vouchers_revoked_by_fkey FOREIGN KEY (tenant_id, revoked_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (revoked_by);
CREATE INDEX idx_hotspot_vouchers_batch ON hotspot_vouchers(tenant_id, batch_id)
    WHERE batch_id IS NOT NULL;
CREATE INDEX idx_hotspot_vouchers_created ON hotspot_vouchers(tenant_id, created_at, id);

SELECT hotspot_secure_tables();
