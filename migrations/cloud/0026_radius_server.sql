-- The cloud's own RADIUS server (cloud/src/radius). It shares these tables with any FreeRADIUS
-- pointed at the database (docs/freeradius.md): nothing here changes what the stock queries read.
--
-- nas gains what the server needs per client:
-- - require_ma defaults to 'yes' (BlastRADIUS, CVE-2024-3596): an Access-Request without
--   Message-Authenticator from such a NAS is dropped. 'auto' (FreeRADIUS's meaning) requires it
--   once the NAS has sent one; 'no' is for old firmware only.
-- - coa_port: where the NAS listens for CoA and Disconnect (RFC 5176: 3799; older RouterOS 1700).
-- - hotspot_id: the site a NAS serves, when it is one; vouchers bound to another hotspot are
--   refused there. A NAS with none accepts any voucher of its tenant.
-- - tls_fingerprint: SHA-256 (hex) of the client certificate a NAS presents over RadSec
--   (RFC 6614); such a NAS is known by its certificate wherever it connects from, and its
--   nasname need not be an address.
ALTER TABLE nas ALTER COLUMN require_ma SET DEFAULT 'yes';
ALTER TABLE nas ADD COLUMN coa_port INTEGER NOT NULL DEFAULT 3799
    CHECK (coa_port BETWEEN 1 AND 65535);
ALTER TABLE nas ADD COLUMN hotspot_id UUID;
ALTER TABLE nas ADD FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id)
    ON DELETE SET NULL (hotspot_id);
ALTER TABLE nas ADD COLUMN tls_fingerprint CHAR(64) UNIQUE
    CHECK (tls_fingerprint ~ '^[0-9a-f]{64}$');

-- Every NAS of every tenant, for the server's in-memory client table (refreshed on the
-- notification below, never per packet). SECURITY DEFINER: the server learns a packet's tenant
-- from this table, before any tenant is set.
CREATE FUNCTION radius_clients()
RETURNS TABLE (nas_id INTEGER, tenant_id UUID, nasname VARCHAR, shortname VARCHAR, type VARCHAR,
               secret VARCHAR, require_ma VARCHAR, limit_proxy_state VARCHAR, coa_port INTEGER,
               hotspot_id UUID, tls_fingerprint CHAR(64))
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT n.id, n.tenant_id, n.nasname, n.shortname, n.type, n.secret, n.require_ma,
               n.limit_proxy_state, n.coa_port, n.hotspot_id, n.tls_fingerprint
        FROM public.nas n
    $$;
REVOKE ALL ON FUNCTION radius_clients() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_clients() TO hotspot_app;

CREATE FUNCTION nas_notify_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    PERFORM pg_notify('hotspot_nas_changed', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER nas_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nas
    FOR EACH STATEMENT EXECUTE FUNCTION nas_notify_change();

-- A PPPoE username names one live subscriber of a tenant (the server authenticates by it).
CREATE UNIQUE INDEX idx_subscribers_pppoe_username ON subscribers(tenant_id, pppoe_username)
    WHERE pppoe_username IS NOT NULL AND deleted_at IS NULL;

-- Open sessions by user within a tenant: Simultaneous-Use and max_devices are counted on it.
CREATE INDEX idx_radacct_open_user ON radacct(tenant_id, username) WHERE acctstoptime IS NULL;

-- What an Access-Request needs of the FreeRADIUS tables, for one user of one tenant, in one
-- call: the user's radcheck (source 0) and radreply (1) rows, its groups' radgroupcheck (2) and
-- radgroupreply (3) rows in priority order, and a row (9) when the device (Calling-Station-Id)
-- is blocked at the NAS's hotspot. SECURITY DEFINER and scoped to the tenant given, which the
-- server takes from the NAS that sent the packet: one round trip per login instead of a
-- transaction and five queries. PL/pgSQL, so each connection plans the query once.
CREATE FUNCTION radius_authorize(p_tenant UUID, p_username TEXT, p_mac TEXT, p_hotspot UUID)
RETURNS TABLE (source SMALLINT, groupname TEXT, attribute TEXT, op TEXT, value TEXT)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
    #variable_conflict use_column
    BEGIN
        RETURN QUERY SELECT x.s, x.g, x.a, x.o, x.v FROM (
            SELECT 0::int2 AS s, ''::text AS g, c.attribute::text AS a, c.op::text AS o,
                   c.value::text AS v, 0 AS p, c.id AS i
            FROM public.radcheck c WHERE c.tenant_id = p_tenant AND c.username = p_username
            UNION ALL
            SELECT 1::int2, '', r.attribute, r.op, r.value, 0, r.id
            FROM public.radreply r WHERE r.tenant_id = p_tenant AND r.username = p_username
            UNION ALL
            SELECT 2::int2, g.groupname, c.attribute, c.op, c.value, g.priority, c.id
            FROM public.radusergroup g
            JOIN public.radgroupcheck c ON c.tenant_id = g.tenant_id AND c.groupname = g.groupname
            WHERE g.tenant_id = p_tenant AND g.username = p_username
            UNION ALL
            SELECT 3::int2, g.groupname, r.attribute, r.op, r.value, g.priority, r.id
            FROM public.radusergroup g
            JOIN public.radgroupreply r ON r.tenant_id = g.tenant_id AND r.groupname = g.groupname
            WHERE g.tenant_id = p_tenant AND g.username = p_username
            UNION ALL
            (SELECT 9::int2, '', 'Blocked', '', COALESCE(a.blocked_reason, ''), 0, 0
             FROM public.client_hotspot_access a
             WHERE p_mac IS NOT NULL AND a.tenant_id = p_tenant
               AND a.mac_address IN (lower(p_mac), upper(p_mac)) AND a.is_blocked
               AND (p_hotspot IS NULL OR a.hotspot_id = p_hotspot)
             LIMIT 1)
        ) x
        ORDER BY x.s, x.p, x.i;
    END
    $$;
REVOKE ALL ON FUNCTION radius_authorize(UUID, TEXT, TEXT, UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_authorize(UUID, TEXT, TEXT, UUID) TO hotspot_app;

-- Open sessions of a user within a tenant (Simultaneous-Use), other than one from the device
-- p_mac (upper case, colon-separated): a stale session of the same device is not a second use.
CREATE FUNCTION radius_open_sessions(p_tenant UUID, p_username TEXT, p_mac TEXT)
RETURNS BIGINT
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
    BEGIN
        RETURN (SELECT count(*) FROM public.radacct
                WHERE tenant_id = p_tenant AND username = p_username AND acctstoptime IS NULL
                  AND (p_mac IS NULL
                       OR upper(replace(callingstationid, '-', ':')) IS DISTINCT FROM p_mac));
    END
    $$;
REVOKE ALL ON FUNCTION radius_open_sessions(UUID, TEXT, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_open_sessions(UUID, TEXT, TEXT) TO hotspot_app;

-- A voucher's RADIUS sessions by the Class its Access-Accept gave (hotspot:voucher:<id>), so
-- its data is counted whatever spelling of the code the guest typed.
CREATE INDEX idx_radacct_class ON radacct(class) WHERE class IS NOT NULL;
CREATE INDEX idx_radacct_history_class ON radacct_history(class) WHERE class IS NOT NULL;

-- The subscriber of a RADIUS username, which radacct's insert trigger looks up for every
-- accounting Start: as PL/pgSQL its query is planned once per connection instead of on every
-- call (a SQL function with its own search_path is never inlined). Same result as before.
CREATE OR REPLACE FUNCTION radius_subscriber_of(p_tenant UUID, p_username VARCHAR) RETURNS UUID
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
    BEGIN
        RETURN (SELECT c.subscriber_id FROM public.radcheck c
                WHERE c.tenant_id = p_tenant AND c.username = p_username
                  AND c.subscriber_id IS NOT NULL
                LIMIT 1);
    END
    $$;

-- Room on each page of radacct for a session's next version: an Interim-Update changes no
-- indexed column, so with free space on the page PostgreSQL updates it in place (a HOT update,
-- no index entries), which is most of the table's writes.
ALTER TABLE radacct SET (fillfactor = 70);

-- Sessions whose NAS stopped reporting (rebooted without Accounting-On, lost its Stop): open
-- radacct rows not updated for three interim intervals plus a minute (the row's own acctinterval
-- when its NAS has sent interim updates, else p_interval seconds) are closed at their last
-- update with the cause 'Stale-Session'. Such rows otherwise block Simultaneous-Use and PPPoE
-- logins for good. Platform maintenance across tenants, run by the server's sweeper under an
-- advisory lock: SECURITY DEFINER. Returns the number closed.
CREATE FUNCTION radacct_close_stale(p_interval INTEGER DEFAULT 300)
RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    n BIGINT;
BEGIN
    UPDATE public.radacct
    SET acctstoptime = COALESCE(acctupdatetime, acctstarttime, now()),
        acctsessiontime = GREATEST(0, EXTRACT(EPOCH FROM
            COALESCE(acctupdatetime, acctstarttime, now()) - COALESCE(acctstarttime, now())))::bigint,
        acctterminatecause = 'Stale-Session'
    WHERE acctstoptime IS NULL
      AND COALESCE(acctupdatetime, acctstarttime) < now() - make_interval(
            secs => 3 * GREATEST(60, COALESCE(NULLIF(acctinterval, 0), p_interval)) + 60);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION radacct_close_stale(INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radacct_close_stale(INTEGER) TO hotspot_app;
