-- A client suspended by any path (the console's edit form, the generic API, the renewal job)
-- is suspended the same way: when, why, and with their registered devices blocked.
--
-- 1. Before an update that makes a client suspended, suspended_at is set to now() unless the
--    same update sets it; suspension_reason keeps what the update gave. An update that ends the
--    suspension clears both.
-- 2. After it, the client's registered devices that are not blocked already are blocked with
--    the reason the renewal job uses ('subscription suspended'); ending the suspension unblocks
--    exactly those (a device blocked for another reason stays blocked). The devices' changes
--    reach the routers through their own sync trigger.

CREATE FUNCTION clients_suspension_times() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.status = 'suspended' AND OLD.status IS DISTINCT FROM 'suspended' THEN
        IF NEW.suspended_at IS NOT DISTINCT FROM OLD.suspended_at THEN
            NEW.suspended_at := now();
        END IF;
    ELSIF NEW.status IS DISTINCT FROM 'suspended' AND OLD.status = 'suspended' THEN
        NEW.suspended_at := NULL;
        NEW.suspension_reason := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER clients_suspension_times BEFORE UPDATE OF status ON clients
    FOR EACH ROW EXECUTE FUNCTION clients_suspension_times();

CREATE FUNCTION clients_suspension_devices() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.status = 'suspended' THEN
        UPDATE client_hotspot_access
        SET is_blocked = true, blocked_reason = 'subscription suspended'
        WHERE tenant_id = NEW.tenant_id AND client_id = NEW.id AND NOT is_blocked;
    ELSE
        UPDATE client_hotspot_access
        SET is_blocked = false, blocked_reason = NULL
        WHERE tenant_id = NEW.tenant_id AND client_id = NEW.id AND is_blocked
          AND blocked_reason = 'subscription suspended';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_suspension_devices AFTER UPDATE OF status ON clients
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       AND (OLD.status = 'suspended' OR NEW.status = 'suspended'))
    EXECUTE FUNCTION clients_suspension_devices();
