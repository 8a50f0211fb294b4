-- A site's own portal branding, over its tenant's (0041): an estate and a campus under one
-- tenant each show their own title, welcome text, colour, phone or logo.
--
-- 1. hotspot_branding holds at most one row per hotspot. Every field is nullable: NULL inherits
--    the tenant's (portal_branding), so a site may override only its title, or only its logo.
--    The checks are 0041's. A row with every field NULL overrides nothing; the service clears a
--    site's override that way rather than deleting the row, so `version` keeps growing (the
--    routers take a branding only when its version is above the one they show, and the version
--    a router is sent is the tenant's plus the site's).
-- 2. Each insert or update logs a 'branding' change for that hotspot only (hotspot_id = the site,
--    the site's id as the entity), so only its router pulls it; compaction keeps the last one.

CREATE TABLE hotspot_branding (
    hotspot_id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    title VARCHAR(64) CHECK (length(btrim(title)) BETWEEN 1 AND 64),
    welcome VARCHAR(280) CHECK (length(btrim(welcome)) BETWEEN 1 AND 280),
    accent_color VARCHAR(7) CHECK (accent_color ~ '^#[0-9a-f]{6}$'),
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
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, updated_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (updated_by)
);

-- As in 0041, with a site's branding logged for that site alone.
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
        WHEN 'hotspot_branding' THEN
            INSERT INTO sync_changes (tenant_id, hotspot_id, entity, entity_id)
            VALUES (r.tenant_id, r.hotspot_id, 'branding', r.hotspot_id);
    END CASE;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_log AFTER INSERT OR UPDATE ON hotspot_branding
    FOR EACH ROW EXECUTE FUNCTION sync_log_change();

SELECT hotspot_secure_tables();
