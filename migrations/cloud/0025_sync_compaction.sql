-- The change log, kept honest and small.
--
-- 1. A voucher or access entry moved to another hotspot is logged for the hotspot it left as well
--    as the one it joined: the first hotspot's router pulls it, finds it no longer its own and
--    deletes it. (Before, only the new hotspot was logged and the old router kept the entity.)
-- 2. An index for compaction (`cloud/src/sync/compact.rs`): a change row followed by a later one
--    for the same entity and hotspot tells a router nothing the later one does not, since a pull
--    answers each entity's current state, so the hourly job removes it, tenant by tenant under
--    row-level security. Plans keep every row (a tenant has few), so a plan's first row still
--    comes before the vouchers that name it.

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
    END CASE;
    RETURN NULL;
END
$$;

CREATE INDEX idx_sync_changes_entity ON sync_changes (tenant_id, entity_id, xid, id);

SELECT hotspot_secure_tables();
