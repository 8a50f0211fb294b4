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
ALTER TABLE nas ALTER COLUMN require_ma SET DEFAULT 'yes';
ALTER TABLE nas ADD COLUMN coa_port INTEGER NOT NULL DEFAULT 3799
    CHECK (coa_port BETWEEN 1 AND 65535);
ALTER TABLE nas ADD COLUMN hotspot_id UUID;
ALTER TABLE nas ADD FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id)
    ON DELETE SET NULL (hotspot_id);

-- Every NAS of every tenant, for the server's in-memory client table (refreshed on the
-- notification below, never per packet). SECURITY DEFINER: the server learns a packet's tenant
-- from this table, before any tenant is set.
CREATE FUNCTION radius_clients()
RETURNS TABLE (nas_id INTEGER, tenant_id UUID, nasname VARCHAR, shortname VARCHAR, type VARCHAR,
               secret VARCHAR, require_ma VARCHAR, limit_proxy_state VARCHAR, coa_port INTEGER,
               hotspot_id UUID)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT n.id, n.tenant_id, n.nasname, n.shortname, n.type, n.secret, n.require_ma,
               n.limit_proxy_state, n.coa_port, n.hotspot_id
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
