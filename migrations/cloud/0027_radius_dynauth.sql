-- Dynamic authorization (RFC 5176) toward operators' NAS devices, and RADIUS voucher sessions
-- beside the edge's in hotspot_sessions.
--
-- radius_dynauth: every Disconnect-Request and CoA-Request the cloud sends, and what came of it.
-- A row is 'pending' while the request is retransmitted, then 'ack', 'nak' (with the NAS's
-- Error-Cause) or 'timeout'. A session counts as ended only once its Disconnect was ACKed: until
-- then it stays live (a NAK or a silent NAS leaves the guest online, and the operator sees so).
-- The NAS's own Stop closes the radacct row with its final counters; a NAS that ACKs but never
-- sends Stop has its row closed by the server's sweeper (radius_close_disconnected()).
CREATE TABLE radius_dynauth (
    id BIGSERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- The NAS it went to (no foreign key: the record outlives a NAS removed later).
    nas_id INTEGER,
    -- The session (no foreign key: closed sessions move to radacct_history).
    radacctid BIGINT NOT NULL,
    acctuniqueid VARCHAR(32) NOT NULL,
    username VARCHAR(64) NOT NULL,
    kind VARCHAR(10) NOT NULL CHECK (kind IN ('disconnect', 'coa')),
    -- Why: an operator's action, or the server enforcing a voucher's or subscriber's limits.
    reason VARCHAR(20) NOT NULL
        CHECK (reason IN ('operator', 'quota', 'expired', 'top_up', 'throttle')),
    -- What a CoA changes ({"up_kbps", "down_kbps", "session_timeout", "total_bytes"}).
    changes JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- Where it was sent (the NAS's address and CoA port at the time).
    target VARCHAR(64) NOT NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'ack', 'nak', 'timeout')),
    error_cause INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    requested_by UUID,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    answered_at TIMESTAMPTZ,
    CHECK (status = 'pending' OR answered_at IS NOT NULL)
);
CREATE INDEX idx_radius_dynauth_session ON radius_dynauth(acctuniqueid);
CREATE INDEX idx_radius_dynauth_tenant ON radius_dynauth(tenant_id, requested_at DESC);

-- Bytes a subscriber moved this calendar month (UTC) on operators' NAS devices: its sessions
-- open now or closed this month, by the Class its Access-Accept gave (hotspot:subscriber:<id>)
-- or the subscriber radacct's trigger found from radcheck.
CREATE FUNCTION radius_subscriber_month_bytes(p_tenant UUID, p_subscriber UUID) RETURNS FLOAT8
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT COALESCE(sum(u.o), 0)::float8 FROM (
            SELECT a.acctinputoctets + a.acctoutputoctets AS o FROM public.radacct a
            WHERE a.tenant_id = p_tenant
              AND (a.class = 'hotspot:subscriber:' || p_subscriber
                   OR a.subscriber_id = p_subscriber)
              AND (a.acctstoptime IS NULL OR a.acctstoptime >= date_trunc('month', now()))
            UNION ALL
            SELECT h.acctinputoctets + h.acctoutputoctets FROM public.radacct_history h
            WHERE h.tenant_id = p_tenant
              AND (h.class = 'hotspot:subscriber:' || p_subscriber
                   OR h.subscriber_id = p_subscriber)
              AND h.acctstoptime >= date_trunc('month', now())) u
    $$;
REVOKE ALL ON FUNCTION radius_subscriber_month_bytes(UUID, UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_subscriber_month_bytes(UUID, UUID) TO hotspot_app;

-- Open sessions of subscribers whose bandwidth profile caps their month, with the cap and what
-- they used (the larger of the subscriber's own counter and this month's accounting), for the
-- enforcement pass. Sessions with a Disconnect pending or ACKed are left out.
CREATE FUNCTION radius_capped_sessions()
RETURNS TABLE (tenant_id UUID, radacctid BIGINT, cap_bytes FLOAT8, used_bytes FLOAT8)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT r.tenant_id, r.radacctid, bp.monthly_data_cap_gb::float8 * 1073741824,
               GREATEST(COALESCE(s.monthly_data_usage_gb, 0)::float8 * 1073741824,
                        public.radius_subscriber_month_bytes(s.tenant_id, s.id))
        FROM public.radacct r
        JOIN public.subscribers s
          ON s.tenant_id = r.tenant_id
         AND (s.id = r.subscriber_id OR s.id::text = substr(r.class, 20))
        JOIN public.bandwidth_profiles bp
          ON bp.tenant_id = s.tenant_id AND bp.id = s.bandwidth_profile_id
        WHERE r.acctstoptime IS NULL
          AND (r.subscriber_id IS NOT NULL OR r.class LIKE 'hotspot:subscriber:%')
          AND bp.monthly_data_cap_gb IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM public.radius_dynauth d
                          WHERE d.acctuniqueid = r.acctuniqueid AND d.kind = 'disconnect'
                            AND d.status IN ('pending', 'ack'))
    $$;
REVOKE ALL ON FUNCTION radius_capped_sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_capped_sessions() TO hotspot_app;

-- RADIUS voucher sessions in hotspot_sessions, beside the edge's, so the operators' API and
-- analytics show both. radius_session is the radacct row's acctuniqueid; such rows are kept by
-- the trigger below (whoever writes radacct: this server or a FreeRADIUS sharing the database)
-- and are left out where voucher data is summed from hotspot_sessions (radacct counts it).
ALTER TABLE hotspot_sessions ADD COLUMN radius_session VARCHAR(32);
-- A voucher's sessions, which its usage sums at every RADIUS login and enforcement pass.
CREATE INDEX idx_hotspot_sessions_voucher ON hotspot_sessions(voucher_code)
    WHERE voucher_code IS NOT NULL;

-- Simultaneous-Use and max_devices: a session whose Disconnect the NAS ACKed is over, even
-- before its Stop arrives.
CREATE OR REPLACE FUNCTION radius_open_sessions(p_tenant UUID, p_username TEXT, p_mac TEXT)
RETURNS BIGINT
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
    BEGIN
        RETURN (SELECT count(*) FROM public.radacct r
                WHERE r.tenant_id = p_tenant AND r.username = p_username
                  AND r.acctstoptime IS NULL
                  AND (p_mac IS NULL
                       OR upper(replace(r.callingstationid, '-', ':')) IS DISTINCT FROM p_mac)
                  AND NOT EXISTS (SELECT 1 FROM public.radius_dynauth d
                                  WHERE d.acctuniqueid = r.acctuniqueid
                                    AND d.kind = 'disconnect' AND d.status = 'ack'));
    END
    $$;

-- A NAS that ACKed a Disconnect but sent no Stop within two minutes: its session is closed at the
-- ACK with the cause 'Admin-Reset' (the counters are the last interim update's). Platform
-- maintenance across tenants, run by the sweeper: SECURITY DEFINER. Returns the number closed.
CREATE FUNCTION radius_close_disconnected() RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    n BIGINT;
BEGIN
    UPDATE public.radacct r
    SET acctstoptime = GREATEST(d.answered_at, r.acctstarttime),
        acctsessiontime = GREATEST(0, EXTRACT(EPOCH FROM d.answered_at - r.acctstarttime))::bigint,
        acctterminatecause = 'Admin-Reset'
    FROM public.radius_dynauth d
    WHERE d.acctuniqueid = r.acctuniqueid AND d.tenant_id = r.tenant_id
      AND d.kind = 'disconnect' AND d.status = 'ack'
      AND d.answered_at < now() - interval '2 minutes'
      AND r.acctstoptime IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION radius_close_disconnected() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_close_disconnected() TO hotspot_app;

-- Open voucher sessions of every tenant with what their voucher allows and has used, for the
-- enforcement pass that disconnects a session once its voucher is used up or expired (its
-- devices share the voucher's data, which no one NAS can count). Sessions with a Disconnect
-- pending or ACKed are left out. Cross-tenant maintenance: SECURITY DEFINER, read only.
CREATE FUNCTION radius_voucher_sessions()
RETURNS TABLE (tenant_id UUID, radacctid BIGINT, voucher_id UUID, duration_minutes INTEGER,
               data_limit_mb INTEGER, expiry_date BIGINT, used_at BIGINT, used_bytes FLOAT8)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT r.tenant_id, r.radacctid, v.id, v.duration_minutes, v.data_limit_mb,
               EXTRACT(EPOCH FROM v.expiry_date)::int8, EXTRACT(EPOCH FROM v.used_at)::int8,
               (SELECT COALESCE(sum(s.data_used_mb), 0) FROM public.hotspot_sessions s
                WHERE s.voucher_code = v.voucher_code AND s.radius_session IS NULL)::float8
                   * 1048576
               + (SELECT COALESCE(sum(u.acctinputoctets + u.acctoutputoctets), 0) FROM (
                    SELECT a.acctinputoctets, a.acctoutputoctets FROM public.radacct a
                    WHERE a.class = r.class
                    UNION ALL SELECT h.acctinputoctets, h.acctoutputoctets
                    FROM public.radacct_history h WHERE h.class = r.class) u)::float8
        FROM public.radacct r
        JOIN public.hotspot_vouchers v
          ON v.tenant_id = r.tenant_id AND v.id::text = substr(r.class, 17)
        WHERE r.acctstoptime IS NULL AND r.class LIKE 'hotspot:voucher:%'
          AND NOT EXISTS (SELECT 1 FROM public.radius_dynauth d
                          WHERE d.acctuniqueid = r.acctuniqueid AND d.kind = 'disconnect'
                            AND d.status IN ('pending', 'ack'))
    $$;
REVOKE ALL ON FUNCTION radius_voucher_sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_voucher_sessions() TO hotspot_app;


-- Sessions on operators' NAS devices end by their accounting, not by this estimate.
CREATE OR REPLACE FUNCTION end_expired_sessions(p_max_session INTERVAL DEFAULT interval '24 hours')
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
        WHERE s.session_status = 'active' AND s.radius_session IS NULL
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

CREATE FUNCTION radacct_mirror_session() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    v_hotspot UUID;
    v_code VARCHAR;
    sid UUID := md5(NEW.acctuniqueid)::uuid;
    hex TEXT := upper(regexp_replace(COALESCE(NEW.callingstationid, ''), '[^0-9A-Fa-f]', '', 'g'));
    mac TEXT;
    started TIMESTAMPTZ := COALESCE(NEW.acctstarttime, NEW.acctupdatetime, now());
    ended TIMESTAMPTZ;
    state TEXT;
BEGIN
    IF length(hex) <> 12 THEN
        RETURN NULL;
    END IF;
    mac := substr(hex, 1, 2) || ':' || substr(hex, 3, 2) || ':' || substr(hex, 5, 2) || ':'
        || substr(hex, 7, 2) || ':' || substr(hex, 9, 2) || ':' || substr(hex, 11, 2);
    SELECT v.hotspot_id, v.voucher_code INTO v_hotspot, v_code
    FROM public.hotspot_vouchers v
    WHERE v.tenant_id = NEW.tenant_id AND v.id::text = substr(NEW.class, 17);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NEW.acctstoptime IS NOT NULL THEN
        ended := GREATEST(NEW.acctstoptime, started);
    END IF;
    state := CASE
        WHEN NEW.acctstoptime IS NULL THEN 'active'
        WHEN NEW.acctterminatecause IN ('Admin-Reset', 'Admin-Reboot') THEN 'terminated'
        WHEN NEW.acctterminatecause IN ('Session-Timeout', 'Idle-Timeout') THEN 'expired'
        ELSE 'ended' END;
    UPDATE public.hotspot_sessions s
    SET start_time = started, end_time = ended, session_status = state,
        duration_minutes = (EXTRACT(EPOCH FROM COALESCE(ended, NEW.acctupdatetime, started)
                                    - started) / 60)::int,
        data_used_mb = round((COALESCE(NEW.acctinputoctets, 0) + COALESCE(NEW.acctoutputoctets, 0))
                             / 1048576.0, 3),
        ip_address = COALESCE(NEW.framedipaddress, s.ip_address)
    WHERE s.id = sid AND s.tenant_id = NEW.tenant_id;
    IF NOT FOUND THEN
        INSERT INTO public.hotspot_sessions
            (id, tenant_id, hotspot_id, mac_address, session_type, start_time, end_time,
             duration_minutes, data_used_mb, session_status, ip_address, voucher_code,
             radius_session)
        VALUES (sid, NEW.tenant_id, v_hotspot, mac, 'voucher', started, ended,
                (EXTRACT(EPOCH FROM COALESCE(ended, started) - started) / 60)::int,
                round((COALESCE(NEW.acctinputoctets, 0) + COALESCE(NEW.acctoutputoctets, 0))
                      / 1048576.0, 3),
                state, NEW.framedipaddress, v_code, NEW.acctuniqueid);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION radacct_mirror_session() FROM PUBLIC;
CREATE TRIGGER radacct_mirror_session AFTER INSERT OR UPDATE ON radacct
    FOR EACH ROW WHEN (NEW.class LIKE 'hotspot:voucher:%')
    EXECUTE FUNCTION radacct_mirror_session();

SELECT hotspot_secure_tables();

-- radpostauth keeps no password: FreeRADIUS's stock post-auth query writes what the user typed,
-- wrong passwords included (a near miss of the real one, or the password of another account).
-- The column stays for the stock query; what it is given is dropped.
CREATE FUNCTION radpostauth_forget_password() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    NEW.pass := NULL;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION radpostauth_forget_password() FROM PUBLIC;
CREATE TRIGGER radpostauth_forget_password BEFORE INSERT OR UPDATE ON radpostauth
    FOR EACH ROW EXECUTE FUNCTION radpostauth_forget_password();
UPDATE radpostauth SET pass = NULL WHERE pass IS NOT NULL;
