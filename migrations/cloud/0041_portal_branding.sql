-- A tenant's portal branding (title, welcome text, accent colour, support phone, logo), set by
-- its administrators and carried to every router of the tenant by the change pull.
--
-- 1. portal_branding holds one row per tenant. The checks repeat the service's (the edge's
--    `[branding]` rules: lengths, `#rrggbb`, a phone number; a PNG or JPEG logo of at most
--    32 KiB), so no path can store what a router would refuse. `version` grows with each change.
-- 2. Each insert or update logs a change for every hotspot of the tenant (entity 'branding',
--    hotspot NULL, the tenant's id as the entity); compaction keeps the last one.

CREATE TABLE portal_branding (
    tenant_id UUID PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    title VARCHAR(64) NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 64),
    welcome VARCHAR(280) NOT NULL CHECK (length(btrim(welcome)) BETWEEN 1 AND 280),
    accent_color VARCHAR(7) NOT NULL CHECK (accent_color ~ '^#[0-9a-f]{6}$'),
    support_phone VARCHAR(20) CHECK (support_phone ~ '^[0-9 +-]{1,20}$'),
    logo BYTEA CHECK (octet_length(logo) BETWEEN 1 AND 32768),
    logo_type VARCHAR(16) CHECK (logo_type IN ('image/png', 'image/jpeg')),
    logo_width INTEGER CHECK (logo_width BETWEEN 1 AND 4096),
    logo_height INTEGER CHECK (logo_height BETWEEN 1 AND 4096),
    logo_sha256 BYTEA CHECK (octet_length(logo_sha256) = 32),
    version BIGINT NOT NULL DEFAULT 1 CHECK (version > 0),
    updated_by UUID,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((logo IS NULL) = (logo_type IS NULL) AND (logo IS NULL) = (logo_width IS NULL)
           AND (logo IS NULL) = (logo_height IS NULL) AND (logo IS NULL) = (logo_sha256 IS NULL)),
    FOREIGN KEY (tenant_id, updated_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (updated_by)
);

ALTER TABLE sync_changes DROP CONSTRAINT sync_changes_entity_check;
ALTER TABLE sync_changes ADD CONSTRAINT sync_changes_entity_check
    CHECK (entity IN ('plan', 'voucher', 'access', 'setting', 'kick', 'extend', 'branding'));

-- As in 0039, with the branding logged for every hotspot of its tenant.
CREATE OR REPLACE FUNCTION sync_log_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    r RECORD;
    kind VARCHAR(16);
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    CASE TG_TABLE_NAME
        WHEN 'service_packages' THEN
            IF r.package_type = 'hotspot' OR (TG_OP = 'UPDATE' AND OLD.package_type = 'hotspot') THEN
                INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id)
                VALUES (r.tenant_id, NULL, 'plan', r.id);
            END IF;
        WHEN 'hotspot_vouchers', 'client_hotspot_access' THEN
            kind := CASE TG_TABLE_NAME WHEN 'hotspot_vouchers' THEN 'voucher' ELSE 'access' END;
            IF TG_OP = 'UPDATE' AND OLD.hotspot_id IS DISTINCT FROM NEW.hotspot_id THEN
                INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id)
                VALUES (OLD.tenant_id, OLD.hotspot_id, kind, OLD.id);
            END IF;
            INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id)
            VALUES (r.tenant_id, r.hotspot_id, kind, r.id);
        WHEN 'hotspot_settings' THEN
            INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id, entity_key)
            VALUES (r.tenant_id, r.hotspot_id, 'setting', r.id, r.key);
        WHEN 'hotspot_session_kicks' THEN
            INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id, entity_key)
            VALUES (r.tenant_id, r.hotspot_id, 'kick', r.id, r.mac_address);
        WHEN 'hotspot_session_extensions' THEN
            INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id, entity_key)
            VALUES (r.tenant_id, r.hotspot_id, 'extend', r.id, r.mac_address);
        WHEN 'portal_branding' THEN
            INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id)
            VALUES (r.tenant_id, NULL, 'branding', r.tenant_id);
    END CASE;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_log AFTER INSERT OR UPDATE ON portal_branding
    FOR EACH ROW EXECUTE FUNCTION sync_log_change();

SELECT hotspot_secure_tables();
