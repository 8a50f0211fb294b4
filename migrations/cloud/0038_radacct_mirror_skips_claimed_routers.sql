-- Double reporting (docs/edge-radius.md): a hotspotd router claimed by the cloud and also a NAS of
-- the cloud's RADIUS server reports each RADIUS session twice, as an edge session through sync
-- and as radacct. The edge's report is the one that counts (MAC, rates, limits, site), so the
-- mirror of radacct into hotspot_sessions skips sessions of such a NAS; radacct itself keeps
-- them (Simultaneous-Use, billing, the RADIUS operators' views).
--
-- nas.device_id names the claimed router a NAS row is (same tenant: the key is composite; the
-- link goes when the device is deleted). A NAS counts as a claimed router while that device
-- holds a credential (token) that is not revoked; a revoked router's sessions are mirrored again.
-- The radacct row's NAS is the nas row at its nasipaddress (NAS-IP-Address, else the source
-- address), as everywhere else.
ALTER TABLE nas ADD COLUMN device_id UUID;
ALTER TABLE nas ADD FOREIGN KEY (tenant_id, device_id) REFERENCES hotspot_devices (tenant_id, id)
    ON DELETE SET NULL (device_id);
CREATE UNIQUE INDEX idx_nas_device ON nas (tenant_id, device_id) WHERE device_id IS NOT NULL;

CREATE OR REPLACE FUNCTION radacct_mirror_session() RETURNS trigger
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
    -- A session of a claimed router of this tenant is reported by the router itself (sync):
    -- no second row. One mirrored before the link is still followed to its end above.
    IF NOT FOUND AND NOT EXISTS (
        SELECT 1
        FROM public.nas n
        JOIN public.hotspot_devices d ON d.tenant_id = n.tenant_id AND d.id = n.device_id
        WHERE n.tenant_id = NEW.tenant_id AND n.nasname = host(NEW.nasipaddress)
          AND d.token_hash IS NOT NULL AND d.revoked_at IS NULL
    ) THEN
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
