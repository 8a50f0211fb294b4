-- Seed 000's database functions and triggers.
--
-- All but generate_voucher_code() run with the caller's rights: under row-level security they
-- act on the transaction's tenant only. The scheduled jobs call them once per tenant, with
-- app.tenant_id set (tenants come from platform_list_tenants()).

-- A fresh voucher code: 10 characters of the unambiguous alphabet (no 0 O 1 I L U), drawn
-- uniformly by rejection sampling from pgcrypto's CSPRNG. The same alphabet and length as
-- hotspot_shared::voucher (ALPHABET, CODE_LEN) on the routers.
-- SECURITY DEFINER: codes are unique across tenants, and only the owner can see every tenant's
-- codes. It returns a code that does NOT exist, so it reveals nothing about other tenants.
CREATE FUNCTION generate_voucher_code() RETURNS VARCHAR
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    alphabet CONSTANT TEXT := '23456789ABCDEFGHJKMNPQRSTVWXYZ';
    code_len CONSTANT INTEGER := 10;
    code TEXT;
    random BYTEA;
    b INTEGER;
BEGIN
    FOR attempt IN 1 .. 100 LOOP
        code := '';
        WHILE length(code) < code_len LOOP
            random := public.gen_random_bytes(2 * code_len);
            FOR i IN 0 .. 2 * code_len - 1 LOOP
                b := get_byte(random, i);
                -- 240 = 8 × 30: larger bytes would favour the first characters.
                IF b < 240 THEN
                    code := code || substr(alphabet, b % 30 + 1, 1);
                    EXIT WHEN length(code) = code_len;
                END IF;
            END LOOP;
        END LOOP;
        IF NOT EXISTS (SELECT 1 FROM public.hotspot_vouchers WHERE voucher_code = code) THEN
            RETURN code;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'could not find an unused voucher code in 100 attempts';
END
$$;
REVOKE ALL ON FUNCTION generate_voucher_code() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION generate_voucher_code() TO hotspot_app;

-- Ends the active hotspot sessions whose time is up, and returns how many it ended. A session's
-- end is the earliest of: its voucher's duration after the session started (time-based
-- vouchers), its voucher's expiry date, and p_max_session after it started (no session is open
-- forever, e.g. when a router stopped reporting). end_time is that moment, not the time the job
-- happened to run.
CREATE FUNCTION end_expired_sessions(p_max_session INTERVAL DEFAULT interval '24 hours')
RETURNS INTEGER
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    n INTEGER;
BEGIN
    WITH due AS (
        SELECT s.id,
               GREATEST(s.start_time, LEAST(
                   CASE WHEN v.voucher_type = 'time_based' AND v.duration_minutes IS NOT NULL
                        THEN s.start_time + make_interval(mins => v.duration_minutes) END,
                   v.expiry_date,
                   s.start_time + p_max_session)) AS ends_at
        FROM hotspot_sessions s
        LEFT JOIN hotspot_vouchers v
               ON v.voucher_code = s.voucher_code AND v.tenant_id = s.tenant_id
        WHERE s.session_status = 'active'
    )
    UPDATE hotspot_sessions s
    SET session_status = 'expired',
        end_time = due.ends_at,
        duration_minutes = floor(extract(epoch FROM due.ends_at - s.start_time) / 60)::INTEGER
    FROM due
    WHERE s.id = due.id AND due.ends_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Inventory item ids by category: NH-000001 (network hardware), CPE-, INF-, CON-, LR-.
CREATE SEQUENCE inventory_item_seq;

CREATE FUNCTION generate_inventory_item_id() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF NEW.item_id IS NULL OR NEW.item_id = '' THEN
        NEW.item_id := CASE NEW.category
                           WHEN 'Network Hardware' THEN 'NH'
                           WHEN 'CPE' THEN 'CPE'
                           WHEN 'Infrastructure' THEN 'INF'
                           WHEN 'Consumable' THEN 'CON'
                           WHEN 'Logical Resource' THEN 'LR'
                           ELSE 'ITM'
                       END
                       || '-' || lpad(nextval('public.inventory_item_seq')::TEXT, 6, '0');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER trigger_generate_inventory_item_id BEFORE INSERT ON inventory_items
    FOR EACH ROW EXECUTE FUNCTION generate_inventory_item_id();

-- Every insert and meaningful update of an inventory item leaves a line in inventory_history,
-- attributed to the transaction's user (app.user_id) when that is a user of the tenant.
CREATE FUNCTION log_inventory_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    who UUID;
    act TEXT;
    det TEXT;
BEGIN
    SELECT u.id INTO who FROM users u
    WHERE u.id = app_current_user() AND u.tenant_id = NEW.tenant_id;

    IF TG_OP = 'INSERT' THEN
        act := 'Created';
        det := format('Item %s (%s, %s) added with status %s',
                      NEW.item_id, NEW.category, NEW.type, NEW.status);
    ELSIF NEW.assigned_customer_id IS DISTINCT FROM OLD.assigned_customer_id THEN
        IF NEW.assigned_customer_id IS NULL THEN
            act := 'Unassigned';
            det := format('Item %s unassigned from client %s', NEW.item_id, OLD.assigned_customer_id);
        ELSE
            act := 'Assigned';
            det := format('Item %s assigned to client %s', NEW.item_id, NEW.assigned_customer_id);
        END IF;
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        act := 'Status Changed';
        det := format('Status changed from %s to %s', OLD.status, NEW.status);
    ELSIF NEW.location IS DISTINCT FROM OLD.location THEN
        act := 'Moved';
        det := format('Location changed from %s to %s',
                      coalesce(OLD.location, 'none'), coalesce(NEW.location, 'none'));
    ELSIF (to_jsonb(NEW) - 'updated_at') = (to_jsonb(OLD) - 'updated_at') THEN
        RETURN NULL; -- nothing changed
    ELSE
        act := 'Updated';
        det := format('Item %s details updated', NEW.item_id);
    END IF;

    INSERT INTO inventory_history (tenant_id, inventory_item_id, action, details, performed_by)
    VALUES (NEW.tenant_id, NEW.id, act, det, who);
    RETURN NULL;
END
$$;
CREATE TRIGGER trigger_log_inventory_change AFTER INSERT OR UPDATE ON inventory_items
    FOR EACH ROW EXECUTE FUNCTION log_inventory_change();

-- The length of one paid period for a client's subscription type.
CREATE FUNCTION subscription_period(p_type VARCHAR) RETURNS INTERVAL
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT CASE p_type
                   WHEN 'daily' THEN interval '1 day'
                   WHEN 'weekly' THEN interval '7 days'
                   WHEN 'quarterly' THEN interval '3 months'
                   WHEN 'yearly' THEN interval '1 year'
                   ELSE interval '1 month'
               END
    $$;

-- Renews a client's subscription from their wallet. With enough balance: debits the rate (a
-- wallet_transactions row), extends the subscription by one period from its end (or from now if
-- it already lapsed), reactivates a suspended client and unblocks the devices suspension blocked.
-- Without: changes nothing. Returns a JSON report: {"success": bool, ...}.
CREATE FUNCTION process_subscription_renewal(p_client_id UUID) RETURNS JSONB
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    c clients%ROWTYPE;
    rate NUMERIC(10,2);
    starts TIMESTAMPTZ;
    ends TIMESTAMPTZ;
BEGIN
    SELECT * INTO c FROM clients WHERE id = p_client_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('success', false, 'error', 'client_not_found');
    END IF;

    rate := NULLIF(c.monthly_rate, 0);
    IF rate IS NULL THEN
        SELECT NULLIF(p.monthly_rate, 0) INTO rate FROM service_packages p
        WHERE p.id = c.service_package_id AND p.tenant_id = c.tenant_id;
    END IF;
    IF rate IS NULL THEN
        RETURN jsonb_build_object('success', false, 'error', 'no_renewal_rate',
                                  'client_id', c.id);
    END IF;

    IF c.wallet_balance < rate THEN
        RETURN jsonb_build_object('success', false, 'error', 'insufficient_balance',
                                  'client_id', c.id, 'wallet_balance', c.wallet_balance,
                                  'required', rate, 'shortfall', rate - c.wallet_balance);
    END IF;

    starts := GREATEST(coalesce(c.subscription_end_date, now()), now());
    ends := starts + subscription_period(c.subscription_type);

    UPDATE clients
    SET wallet_balance = wallet_balance - rate,
        subscription_start_date = starts,
        subscription_end_date = ends,
        status = 'active',
        suspended_at = NULL,
        suspension_reason = NULL,
        renewal_reminder_sent_at = NULL
    WHERE id = c.id;

    INSERT INTO wallet_transactions (tenant_id, client_id, transaction_type, amount, description,
                                     reference_number)
    VALUES (c.tenant_id, c.id, 'debit', rate,
            format('Subscription renewal %s to %s', to_char(starts, 'YYYY-MM-DD'),
                   to_char(ends, 'YYYY-MM-DD')),
            'RENEWAL-' || to_char(starts, 'YYYYMMDD') || '-' || left(c.id::TEXT, 8));

    UPDATE client_hotspot_access
    SET is_blocked = false, blocked_reason = NULL
    WHERE client_id = c.id AND is_blocked AND blocked_reason = 'subscription suspended';

    RETURN jsonb_build_object('success', true, 'client_id', c.id, 'amount', rate,
                              'wallet_balance', c.wallet_balance - rate,
                              'subscription_start_date', starts,
                              'subscription_end_date', ends);
END
$$;

-- Renewal reminders: for every active client whose subscription ends within p_within, reports
-- the balance against the rate, and notifies the client's portal user once per period when the
-- wallet will not cover the renewal.
CREATE FUNCTION check_wallet_based_renewals(p_within INTERVAL DEFAULT interval '3 days')
RETURNS TABLE (client_id UUID, subscription_end_date TIMESTAMPTZ, wallet_balance NUMERIC,
               renewal_amount NUMERIC, sufficient_balance BOOLEAN, reminded BOOLEAN)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    r RECORD;
BEGIN
    FOR r IN
        SELECT c.id, c.tenant_id, c.user_id, c.subscription_end_date AS ends, c.wallet_balance AS bal,
               coalesce(NULLIF(c.monthly_rate, 0), p.monthly_rate, 0) AS rate,
               c.renewal_reminder_sent_at AS reminded_at
        FROM clients c
        LEFT JOIN service_packages p ON p.id = c.service_package_id AND p.tenant_id = c.tenant_id
        WHERE c.status = 'active' AND c.deleted_at IS NULL
          AND c.subscription_end_date IS NOT NULL
          AND c.subscription_end_date <= now() + p_within
        ORDER BY c.subscription_end_date
        FOR UPDATE OF c
    LOOP
        client_id := r.id;
        subscription_end_date := r.ends;
        wallet_balance := r.bal;
        renewal_amount := r.rate;
        sufficient_balance := r.bal >= r.rate;
        reminded := false;
        IF NOT sufficient_balance
           AND (r.reminded_at IS NULL OR r.reminded_at < r.ends - p_within) THEN
            IF r.user_id IS NOT NULL THEN
                INSERT INTO notifications (tenant_id, user_id, title, message, type,
                                           related_entity_type, related_entity_id, action_url)
                VALUES (r.tenant_id, r.user_id, 'Subscription renewal due',
                        format('Your subscription ends on %s. Renewal costs KES %s and your wallet '
                               'holds KES %s: please top up KES %s.',
                               to_char(r.ends, 'YYYY-MM-DD'), r.rate, r.bal, r.rate - r.bal),
                        'renewal', 'client', r.id, '/wallet');
            END IF;
            UPDATE clients SET renewal_reminder_sent_at = now() WHERE id = r.id;
            reminded := true;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Automatic renewals: every auto-renewing active client whose subscription has ended is renewed
-- from the wallet (process_subscription_renewal) or, when the balance is short, suspended: status
-- 'suspended', registered hotspot devices blocked, a network event and a notification recorded.
-- Returns {"renewed": n, "suspended": m}.
CREATE FUNCTION handle_automatic_renewals() RETURNS JSONB
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    r RECORD;
    result JSONB;
    renewed INTEGER := 0;
    suspended INTEGER := 0;
BEGIN
    FOR r IN
        SELECT c.id, c.tenant_id, c.user_id FROM clients c
        WHERE c.auto_renewal AND c.status = 'active' AND c.deleted_at IS NULL
          AND c.subscription_end_date IS NOT NULL AND c.subscription_end_date <= now()
        ORDER BY c.subscription_end_date
    LOOP
        result := process_subscription_renewal(r.id);
        IF (result ->> 'success')::BOOLEAN THEN
            renewed := renewed + 1;
        ELSE
            UPDATE clients
            SET status = 'suspended', suspended_at = now(),
                suspension_reason = 'Insufficient wallet balance for renewal'
            WHERE id = r.id;
            UPDATE client_hotspot_access
            SET is_blocked = true, blocked_reason = 'subscription suspended'
            WHERE client_id = r.id AND NOT is_blocked;
            INSERT INTO network_events (tenant_id, client_id, event_type, event_data, triggered_by)
            VALUES (r.tenant_id, r.id, 'suspend', result, 'system');
            IF r.user_id IS NOT NULL THEN
                INSERT INTO notifications (tenant_id, user_id, title, message, type,
                                           related_entity_type, related_entity_id, action_url)
                VALUES (r.tenant_id, r.user_id, 'Service suspended',
                        'Your subscription could not be renewed: your wallet balance is too '
                        'low. Top up to restore service.',
                        'renewal', 'client', r.id, '/wallet');
            END IF;
            suspended := suspended + 1;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('renewed', renewed, 'suspended', suspended);
END
$$;

-- A new internal message notifies its recipient.
CREATE FUNCTION notify_message_recipient() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    INSERT INTO notifications (tenant_id, user_id, title, message, type, related_entity_type,
                               related_entity_id, action_url)
    VALUES (NEW.tenant_id, NEW.recipient_id, 'New message: ' || left(NEW.subject, 200),
            left(NEW.content, 280), 'message', 'internal_message', NEW.id,
            '/messages/' || NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER trigger_notify_message_recipient AFTER INSERT ON internal_messages
    FOR EACH ROW EXECUTE FUNCTION notify_message_recipient();

SELECT hotspot_secure_tables();
