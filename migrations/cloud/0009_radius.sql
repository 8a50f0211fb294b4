-- RADIUS: seed 004's radcheck, radreply, radacct and nas, plus the tables FreeRADIUS 3.x's stock
-- PostgreSQL queries also read or write (radusergroup, radgroupcheck, radgroupreply, radpostauth).
-- docs/freeradius.md says how to point a FreeRADIUS at this database and why radacct is built so.
--
-- FreeRADIUS's stock queries carry no tenant:
-- - a NAS address belongs to one tenant (nas.nasname is unique across tenants), and radacct takes
--   its tenant_id from the nas row of its nasipaddress (BEFORE INSERT trigger);
-- - a RADIUS username (and group name) belongs to one tenant (exclusion constraints below), so
--   authorize queries by username alone cannot mix tenants, and radpostauth takes its tenant from
--   the username;
-- - FreeRADIUS connects as a member of hotspot_radius, which has its own narrow policies and
--   grants on these tables only.

CREATE TABLE nas (
    id SERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    nasname VARCHAR(128) NOT NULL,
    shortname VARCHAR(32) NOT NULL,
    type VARCHAR(30) DEFAULT 'other',
    secret VARCHAR(60) NOT NULL,
    ports INTEGER,
    server VARCHAR(64),
    community VARCHAR(50),
    description VARCHAR(200),
    -- FreeRADIUS 3.2's BlastRADIUS settings (columns of its own nas schema).
    require_ma VARCHAR(4) NOT NULL DEFAULT 'auto' CHECK (require_ma IN ('yes', 'no', 'auto')),
    limit_proxy_state VARCHAR(4) NOT NULL DEFAULT 'auto'
        CHECK (limit_proxy_state IN ('yes', 'no', 'auto')),
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    created_by UUID,
    updated_by UUID,
    UNIQUE (tenant_id, nasname),
    -- One tenant per NAS address: accounting rows are attributed by it.
    UNIQUE (nasname)
);
CREATE INDEX idx_nas_tenant ON nas(tenant_id);
CREATE INDEX idx_nas_name ON nas(nasname);

CREATE TABLE radcheck (
    id SERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    subscriber_id UUID,
    username VARCHAR(64) NOT NULL,
    attribute VARCHAR(64) NOT NULL,
    op VARCHAR(2) NOT NULL DEFAULT ':=',
    value VARCHAR(253) NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    created_by UUID,
    updated_by UUID,
    FOREIGN KEY (tenant_id, subscriber_id) REFERENCES subscribers (tenant_id, id) ON DELETE CASCADE,
    EXCLUDE USING gist (username WITH =, tenant_id WITH <>)
);
CREATE INDEX idx_radcheck_username ON radcheck(username);
CREATE INDEX idx_radcheck_tenant ON radcheck(tenant_id);
CREATE INDEX idx_radcheck_subscriber ON radcheck(subscriber_id);
CREATE UNIQUE INDEX idx_radcheck_unique ON radcheck(tenant_id, username, attribute);

CREATE TABLE radreply (
    id SERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    subscriber_id UUID,
    username VARCHAR(64) NOT NULL,
    attribute VARCHAR(64) NOT NULL,
    op VARCHAR(2) NOT NULL DEFAULT ':=',
    value VARCHAR(253) NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    created_by UUID,
    updated_by UUID,
    FOREIGN KEY (tenant_id, subscriber_id) REFERENCES subscribers (tenant_id, id) ON DELETE CASCADE,
    EXCLUDE USING gist (username WITH =, tenant_id WITH <>)
);
CREATE INDEX idx_radreply_username ON radreply(username);
CREATE INDEX idx_radreply_tenant ON radreply(tenant_id);
CREATE INDEX idx_radreply_subscriber ON radreply(subscriber_id);

-- Groups (FreeRADIUS reads them on every authorize unless read_groups = no). Plans map to groups:
-- a bandwidth profile's reply attributes live once in radgroupreply.
CREATE TABLE radusergroup (
    id SERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    username VARCHAR(64) NOT NULL,
    groupname VARCHAR(64) NOT NULL,
    priority INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    EXCLUDE USING gist (username WITH =, tenant_id WITH <>)
);
CREATE INDEX idx_radusergroup_username ON radusergroup(username);
CREATE INDEX idx_radusergroup_tenant ON radusergroup(tenant_id);

CREATE TABLE radgroupcheck (
    id SERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    groupname VARCHAR(64) NOT NULL,
    attribute VARCHAR(64) NOT NULL,
    op VARCHAR(2) NOT NULL DEFAULT '==',
    value VARCHAR(253) NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    EXCLUDE USING gist (groupname WITH =, tenant_id WITH <>)
);
CREATE INDEX idx_radgroupcheck_groupname ON radgroupcheck(groupname);
CREATE INDEX idx_radgroupcheck_tenant ON radgroupcheck(tenant_id);

CREATE TABLE radgroupreply (
    id SERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    groupname VARCHAR(64) NOT NULL,
    attribute VARCHAR(64) NOT NULL,
    op VARCHAR(2) NOT NULL DEFAULT '=',
    value VARCHAR(253) NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    EXCLUDE USING gist (groupname WITH =, tenant_id WITH <>)
);
CREATE INDEX idx_radgroupreply_groupname ON radgroupreply(groupname);
CREATE INDEX idx_radgroupreply_tenant ON radgroupreply(tenant_id);

-- radacct: open and recently closed sessions, the table FreeRADIUS writes. Not partitioned, so
-- that `UNIQUE (acctuniqueid)` (the target of FreeRADIUS's ON CONFLICT) can exist. Closed
-- sessions move to the monthly-partitioned radacct_history (radacct_archive()). Columns as seed
-- 004 plus `realm` (in FreeRADIUS's column list); nasportid and the connect-info columns are text
-- as in FreeRADIUS's own schema (seed 004's VARCHAR(15)/(50) would reject real NAS-Port-Id and
-- Connect-Info values, and with them the accounting packet).
CREATE TABLE radacct (
    radacctid BIGSERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    subscriber_id UUID,
    acctsessionid VARCHAR(64) NOT NULL,
    acctuniqueid VARCHAR(32) NOT NULL,
    username VARCHAR(64) NOT NULL,
    realm VARCHAR(64),
    nasipaddress INET NOT NULL,
    nasportid TEXT,
    nasporttype VARCHAR(32),
    acctstarttime TIMESTAMPTZ,
    acctupdatetime TIMESTAMPTZ,
    acctstoptime TIMESTAMPTZ,
    acctsessiontime BIGINT,
    acctauthentic VARCHAR(32),
    connectinfo_start TEXT,
    connectinfo_stop TEXT,
    acctinputoctets BIGINT DEFAULT 0,
    acctoutputoctets BIGINT DEFAULT 0,
    acctinputgigawords INTEGER DEFAULT 0,
    acctoutputgigawords INTEGER DEFAULT 0,
    acctterminatecause VARCHAR(32),
    servicetype VARCHAR(32),
    framedprotocol VARCHAR(32),
    framedipaddress INET,
    framedipv6address INET,
    framedipv6prefix VARCHAR(45),
    framedinterfaceid VARCHAR(44),
    delegatedipv6prefix VARCHAR(45),
    calledstationid VARCHAR(50),
    callingstationid VARCHAR(50),
    acctinterval INTEGER,
    acctstartdelay BIGINT,
    acctstopdelay BIGINT,
    class VARCHAR(64),
    framedmtu INTEGER,
    xascendsessionsvrkey VARCHAR(10),
    UNIQUE (acctuniqueid),
    FOREIGN KEY (tenant_id, subscriber_id) REFERENCES subscribers (tenant_id, id)
        ON DELETE SET NULL (subscriber_id)
);
CREATE INDEX idx_radacct_username ON radacct(username);
CREATE INDEX idx_radacct_tenant ON radacct(tenant_id);
CREATE INDEX idx_radacct_subscriber ON radacct(subscriber_id);
CREATE INDEX idx_radacct_sessionid ON radacct(acctsessionid);
CREATE INDEX idx_radacct_start ON radacct(acctstarttime);
CREATE INDEX idx_radacct_stop ON radacct(acctstoptime);
CREATE INDEX idx_radacct_nasip ON radacct(nasipaddress);
CREATE INDEX idx_radacct_active ON radacct(username, nasipaddress) WHERE acctstoptime IS NULL;
CREATE INDEX idx_radacct_active_sessions ON radacct(tenant_id, acctsessionid)
    WHERE acctstoptime IS NULL;

-- radacct_history: closed sessions, partitioned by the month of acctstoptime (UTC). A closed
-- session's stop time never changes, so a month's partition stops receiving rows soon after the
-- month ends and can be detached, archived or dropped whole. The default partition takes any row
-- whose month has no partition yet: moving accounting never fails for want of a partition.
CREATE TABLE radacct_history (LIKE radacct) PARTITION BY RANGE (acctstoptime);
ALTER TABLE radacct_history ALTER COLUMN acctstoptime SET NOT NULL;
ALTER TABLE radacct_history ADD PRIMARY KEY (radacctid, acctstoptime);
ALTER TABLE radacct_history ADD FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;
CREATE INDEX idx_radacct_history_tenant ON radacct_history(tenant_id, acctstoptime);
CREATE INDEX idx_radacct_history_username ON radacct_history(username);
CREATE INDEX idx_radacct_history_uniqueid ON radacct_history(acctuniqueid);
CREATE INDEX idx_radacct_history_subscriber ON radacct_history(subscriber_id);
CREATE TABLE radacct_history_default PARTITION OF radacct_history DEFAULT;

-- Post-auth log (FreeRADIUS's `post-auth` query: username, pass, reply, authdate[, class]).
-- nasipaddress is optional: a site's own post-auth query may pass it.
CREATE TABLE radpostauth (
    id BIGSERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    username VARCHAR(253) NOT NULL,
    pass VARCHAR(128),
    reply VARCHAR(32),
    authdate TIMESTAMPTZ NOT NULL DEFAULT now(),
    class VARCHAR(64),
    nasipaddress INET
);
CREATE INDEX idx_radpostauth_tenant ON radpostauth(tenant_id, authdate);
CREATE INDEX idx_radpostauth_username ON radpostauth(username);

-- Global (no tenant): attempts with a username that belongs to no tenant (guessing, typos,
-- retired vouchers). Kept for the platform's security monitoring; no tenant may read it.
CREATE TABLE radpostauth_unknown (
    id BIGSERIAL PRIMARY KEY,
    username VARCHAR(253) NOT NULL,
    reply VARCHAR(32),
    authdate TIMESTAMPTZ NOT NULL DEFAULT now(),
    nasipaddress INET
);
CREATE INDEX idx_radpostauth_unknown_authdate ON radpostauth_unknown(authdate);

-- ---------------------------------------------------------------------------------------------
-- NAS lookup. SECURITY DEFINER because the RADIUS side learns the tenant from the NAS: before the
-- lookup no tenant is set, and RLS would hide every nas row. It returns the one NAS registered at
-- exactly that address and nothing else.
CREATE FUNCTION nas_lookup(p_address INET)
RETURNS TABLE (nas_id INTEGER, tenant_id UUID, shortname VARCHAR, type VARCHAR, secret VARCHAR,
               server VARCHAR)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT n.id, n.tenant_id, n.shortname, n.type, n.secret, n.server
        FROM public.nas n
        WHERE n.nasname = host(p_address)
    $$;
REVOKE ALL ON FUNCTION nas_lookup(INET) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nas_lookup(INET) TO hotspot_app, hotspot_radius;

-- radacct rows from FreeRADIUS carry no tenant: take it from the NAS (and the subscriber from the
-- username's radcheck row). An unknown NAS is refused with a clear message: FreeRADIUS should not
-- have accepted its packet, and no tenant can own the row.
CREATE FUNCTION radacct_set_tenant() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF NEW.tenant_id IS NULL THEN
        SELECT l.tenant_id INTO NEW.tenant_id FROM nas_lookup(NEW.nasipaddress) l;
        IF NEW.tenant_id IS NULL THEN
            RAISE EXCEPTION 'no nas row for NAS address %', host(NEW.nasipaddress)
                USING ERRCODE = 'foreign_key_violation',
                      HINT = 'Register the NAS (table nas, nasname = its address) for its tenant.';
        END IF;
    END IF;
    IF NEW.subscriber_id IS NULL THEN
        NEW.subscriber_id := radius_subscriber_of(NEW.tenant_id, NEW.username);
    END IF;
    RETURN NEW;
END
$$;

-- The subscriber owning a RADIUS username within a tenant (NULL for vouchers and unknowns).
-- SECURITY DEFINER so the RADIUS role needs no access to subscribers; scoped to the tenant given.
CREATE FUNCTION radius_subscriber_of(p_tenant UUID, p_username VARCHAR) RETURNS UUID
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT c.subscriber_id FROM public.radcheck c
        WHERE c.tenant_id = p_tenant AND c.username = p_username AND c.subscriber_id IS NOT NULL
        LIMIT 1
    $$;
REVOKE ALL ON FUNCTION radius_subscriber_of(UUID, VARCHAR) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_subscriber_of(UUID, VARCHAR) TO hotspot_app, hotspot_radius;

CREATE TRIGGER radacct_set_tenant BEFORE INSERT ON radacct
    FOR EACH ROW EXECUTE FUNCTION radacct_set_tenant();

-- radpostauth rows carry a username and, with a custom query, a NAS address. The tenant is the
-- NAS's, else the username's (radcheck, then vouchers). A username of no tenant goes to the
-- platform's radpostauth_unknown instead (the insert reports 0 rows, which FreeRADIUS accepts).
-- SECURITY DEFINER: it reads every tenant's usernames and writes the platform table, neither of
-- which the RADIUS role may do itself.
CREATE FUNCTION radpostauth_set_tenant() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF NEW.tenant_id IS NULL AND NEW.nasipaddress IS NOT NULL THEN
        SELECT l.tenant_id INTO NEW.tenant_id FROM nas_lookup(NEW.nasipaddress) l;
    END IF;
    IF NEW.tenant_id IS NULL THEN
        SELECT c.tenant_id INTO NEW.tenant_id FROM public.radcheck c
        WHERE c.username = NEW.username LIMIT 1;
    END IF;
    IF NEW.tenant_id IS NULL THEN
        SELECT v.tenant_id INTO NEW.tenant_id FROM public.hotspot_vouchers v
        WHERE v.voucher_code = NEW.username;
    END IF;
    IF NEW.tenant_id IS NULL THEN
        INSERT INTO public.radpostauth_unknown (username, reply, authdate, nasipaddress)
        VALUES (NEW.username, NEW.reply, NEW.authdate, NEW.nasipaddress);
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION radpostauth_set_tenant() FROM PUBLIC;
CREATE TRIGGER radpostauth_set_tenant BEFORE INSERT ON radpostauth
    FOR EACH ROW EXECUTE FUNCTION radpostauth_set_tenant();

-- ---------------------------------------------------------------------------------------------
-- Monthly partitions of radacct_history.
--
-- radacct_create_partitions(n, from): the partitions of radacct_history for the month of `from`
-- and the n months after it (create_monthly_partitions()). Run by the scheduled jobs daily.
CREATE FUNCTION radacct_create_partitions(p_months_ahead INTEGER DEFAULT 3,
                                          p_from TIMESTAMPTZ DEFAULT now())
RETURNS INTEGER
    LANGUAGE sql
    SET search_path = pg_catalog, public
    AS $$ SELECT public.create_monthly_partitions('public.radacct_history', p_months_ahead, p_from) $$;
REVOKE ALL ON FUNCTION radacct_create_partitions(INTEGER, TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radacct_create_partitions(INTEGER, TIMESTAMPTZ) TO hotspot_app;

-- radacct_archive(before): moves sessions closed before `before` (default: a day ago, so that a
-- late duplicate Stop still finds its row in radacct) from radacct into radacct_history.
-- Returns the number moved. Platform maintenance across all tenants: SECURITY DEFINER.
CREATE FUNCTION radacct_archive(p_closed_before TIMESTAMPTZ DEFAULT now() - interval '1 day')
RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    n BIGINT;
BEGIN
    WITH moved AS (
        DELETE FROM public.radacct
        WHERE acctstoptime IS NOT NULL AND acctstoptime < p_closed_before
        RETURNING *
    )
    INSERT INTO public.radacct_history SELECT * FROM moved;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION radacct_archive(TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radacct_archive(TIMESTAMPTZ) TO hotspot_app;

SELECT hotspot_secure_tables();
SELECT radacct_create_partitions(3);

-- ---------------------------------------------------------------------------------------------
-- The FreeRADIUS role: exactly what the stock queries need, across tenants (FreeRADIUS serves
-- every tenant's NAS). Permissive policies for this role only, beside tenant_isolation.
GRANT USAGE ON SCHEMA public TO hotspot_radius;
GRANT SELECT ON nas, radcheck, radreply, radusergroup, radgroupcheck, radgroupreply
    TO hotspot_radius;
GRANT SELECT, INSERT, UPDATE ON radacct TO hotspot_radius;
GRANT INSERT ON radpostauth TO hotspot_radius;
GRANT USAGE ON SEQUENCE radacct_radacctid_seq, radpostauth_id_seq TO hotspot_radius;

CREATE POLICY radius_server_reads ON nas FOR SELECT TO hotspot_radius USING (true);
CREATE POLICY radius_server_reads ON radcheck FOR SELECT TO hotspot_radius USING (true);
CREATE POLICY radius_server_reads ON radreply FOR SELECT TO hotspot_radius USING (true);
CREATE POLICY radius_server_reads ON radusergroup FOR SELECT TO hotspot_radius USING (true);
CREATE POLICY radius_server_reads ON radgroupcheck FOR SELECT TO hotspot_radius USING (true);
CREATE POLICY radius_server_reads ON radgroupreply FOR SELECT TO hotspot_radius USING (true);
-- Accounting: any session, but a row's tenant is always its NAS's tenant.
CREATE POLICY radius_server_reads ON radacct FOR SELECT TO hotspot_radius USING (true);
CREATE POLICY radius_server_writes ON radacct FOR INSERT TO hotspot_radius
    WITH CHECK (tenant_id = (SELECT l.tenant_id FROM nas_lookup(nasipaddress) l));
CREATE POLICY radius_server_updates ON radacct FOR UPDATE TO hotspot_radius
    USING (true)
    WITH CHECK (tenant_id = (SELECT l.tenant_id FROM nas_lookup(nasipaddress) l));
CREATE POLICY radius_server_writes ON radpostauth FOR INSERT TO hotspot_radius WITH CHECK (true);
