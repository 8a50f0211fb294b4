-- An operator's extension of a live hotspot session (more minutes, more data), carried to the
-- site's router like a kick.
--
-- 1. hotspot_sessions counts what operators added: added_minutes and added_data_mb, the
--    session's allowance beyond what its voucher, plan or device granted.
-- 2. hotspot_session_extensions holds each extension until the router has it: the edge's change
--    pull reads it through the change log (entity 'extend', logged on insert) and sets
--    delivered_at. A router applies each extension once, by its id, however often it is pulled.

ALTER TABLE hotspot_sessions
    ADD COLUMN added_minutes INTEGER NOT NULL DEFAULT 0 CHECK (added_minutes >= 0),
    ADD COLUMN added_data_mb INTEGER NOT NULL DEFAULT 0 CHECK (added_data_mb >= 0);

CREATE TABLE hotspot_session_extensions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    session_id UUID NOT NULL,
    session_start TIMESTAMPTZ NOT NULL,
    mac_address VARCHAR(17) NOT NULL,
    minutes INTEGER CHECK (minutes > 0),
    data_mb INTEGER CHECK (data_mb > 0),
    requested_by UUID,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at TIMESTAMPTZ,
    CHECK (minutes IS NOT NULL OR data_mb IS NOT NULL),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, requested_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (requested_by)
);
CREATE INDEX idx_hotspot_session_extensions_session ON hotspot_session_extensions(tenant_id,
    session_id);
CREATE INDEX idx_hotspot_session_extensions_pending ON hotspot_session_extensions(tenant_id,
    hotspot_id, requested_at) WHERE delivered_at IS NULL;

ALTER TABLE sync_changes DROP CONSTRAINT sync_changes_entity_check;
ALTER TABLE sync_changes ADD CONSTRAINT sync_changes_entity_check
    CHECK (entity IN ('plan', 'voucher', 'access', 'setting', 'kick', 'extend'));

-- As in 0025, with the extensions logged for their hotspot (the session's MAC as the key).
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
    END CASE;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_log AFTER INSERT ON hotspot_session_extensions
    FOR EACH ROW EXECUTE FUNCTION sync_log_change();

SELECT hotspot_secure_tables();
