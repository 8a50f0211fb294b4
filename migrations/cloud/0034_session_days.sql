-- The console at a tenant's real size (hundreds of sites, a million sessions a month): a daily
-- roll-up of guest sessions, and indexes for the dashboard's revenue and voucher-stock figures
-- and the list of guests online, so a page reads thousands of rows, not every session.

-- A tenant's time zone as AT TIME ZONE takes it: its own when PostgreSQL knows it, else UTC (an
-- unknown or empty name must not make a session's insert fail).
CREATE FUNCTION zone_or_utc(p_zone TEXT) RETURNS TEXT
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
    AS $$
BEGIN
    IF p_zone IS NULL OR p_zone = '' THEN
        RETURN 'UTC';
    END IF;
    PERFORM now() AT TIME ZONE p_zone;
    RETURN p_zone;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN 'UTC';
END
$$;
GRANT EXECUTE ON FUNCTION zone_or_utc(TEXT) TO hotspot_app;

-- Sessions started per site and day, the day in the tenant's time zone (zone_or_utc). Kept by
-- the statement triggers below in the same transaction as the sessions themselves: inserted
-- sessions are added, deleted ones taken away, and an update that moves a session's start,
-- site or tenant moves its count. A change of the tenant's time zone recounts the tenant's days.
-- Dropping or detaching a month's partition (retention) leaves that month's days here.
CREATE TABLE hotspot_session_days (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    day DATE NOT NULL,
    sessions BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, hotspot_id),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_hotspot_session_days_hotspot ON hotspot_session_days (hotspot_id, day);

-- Runs with the caller's rights: it writes only rows of the tenants whose sessions the caller
-- has just written, so row-level security holds as it did for the sessions. Rows are written in
-- key order, so two transactions counting the same days cannot deadlock on them.
CREATE FUNCTION hotspot_session_days_count() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO public.hotspot_session_days AS d (tenant_id, hotspot_id, day, sessions)
        SELECT n.tenant_id, n.hotspot_id, (n.start_time AT TIME ZONE z.zone)::date, count(*)
        FROM new_rows n
        JOIN (SELECT t.id, public.zone_or_utc(
                  (SELECT x.timezone FROM public.tenants x WHERE x.id = t.id)) AS zone
              FROM (SELECT DISTINCT tenant_id AS id FROM new_rows) t) z ON z.id = n.tenant_id
        GROUP BY 1, 2, 3
        ORDER BY 1, 3, 2
        ON CONFLICT (tenant_id, day, hotspot_id)
            DO UPDATE SET sessions = d.sessions + EXCLUDED.sessions;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE public.hotspot_session_days d SET sessions = d.sessions - g.n
        FROM (SELECT o.tenant_id, o.hotspot_id, (o.start_time AT TIME ZONE z.zone)::date AS day,
                     count(*) AS n
              FROM old_rows o
              JOIN (SELECT t.id, public.zone_or_utc(
                        (SELECT x.timezone FROM public.tenants x WHERE x.id = t.id)) AS zone
                    FROM (SELECT DISTINCT tenant_id AS id FROM old_rows) t) z
                ON z.id = o.tenant_id
              GROUP BY 1, 2, 3) g
        WHERE d.tenant_id = g.tenant_id AND d.day = g.day AND d.hotspot_id = g.hotspot_id;
    ELSE
        -- An update moves counts only when it changes a session's start, site or tenant: the
        -- rows before and after cancel out everywhere else, and nothing is written.
        WITH z AS (
            SELECT t.id, public.zone_or_utc(
                       (SELECT x.timezone FROM public.tenants x WHERE x.id = t.id)) AS zone
            FROM (SELECT tenant_id AS id FROM new_rows UNION SELECT tenant_id FROM old_rows) t
        ), g AS (
            SELECT c.tenant_id, c.hotspot_id, (c.start_time AT TIME ZONE z.zone)::date AS day,
                   sum(c.n) AS n
            FROM (SELECT tenant_id, hotspot_id, start_time, 1 AS n FROM new_rows
                  UNION ALL
                  SELECT tenant_id, hotspot_id, start_time, -1 FROM old_rows) c
            JOIN z ON z.id = c.tenant_id
            GROUP BY 1, 2, 3
            HAVING sum(c.n) <> 0
        ), taken AS (
            UPDATE public.hotspot_session_days d SET sessions = d.sessions + g.n
            FROM g
            WHERE g.n < 0
              AND d.tenant_id = g.tenant_id AND d.day = g.day AND d.hotspot_id = g.hotspot_id
        )
        INSERT INTO public.hotspot_session_days AS d (tenant_id, hotspot_id, day, sessions)
        SELECT tenant_id, hotspot_id, day, n FROM g WHERE n > 0
        ORDER BY tenant_id, day, hotspot_id
        ON CONFLICT (tenant_id, day, hotspot_id)
            DO UPDATE SET sessions = d.sessions + EXCLUDED.sessions;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER hotspot_session_days_insert AFTER INSERT ON hotspot_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_session_days_count();
CREATE TRIGGER hotspot_session_days_delete AFTER DELETE ON hotspot_sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_session_days_count();
CREATE TRIGGER hotspot_session_days_update AFTER UPDATE ON hotspot_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_session_days_count();

-- A tenant's days are counted in its time zone: when that changes, count them again.
CREATE FUNCTION hotspot_session_days_recount() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    z TEXT := public.zone_or_utc(NEW.timezone);
BEGIN
    DELETE FROM public.hotspot_session_days WHERE tenant_id = NEW.id;
    INSERT INTO public.hotspot_session_days (tenant_id, hotspot_id, day, sessions)
    SELECT s.tenant_id, s.hotspot_id, (s.start_time AT TIME ZONE z)::date, count(*)
    FROM public.hotspot_sessions s
    WHERE s.tenant_id = NEW.id
    GROUP BY 1, 2, 3;
    RETURN NULL;
END
$$;
CREATE TRIGGER hotspot_session_days_zone AFTER UPDATE OF timezone ON tenants
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION hotspot_session_days_recount();

-- The sessions already there (the triggers above hold the table's lock from here to the end of
-- this migration's transaction, so no session is counted twice or missed).
INSERT INTO hotspot_session_days (tenant_id, hotspot_id, day, sessions)
SELECT s.tenant_id, s.hotspot_id, (s.start_time AT TIME ZONE z.zone)::date, count(*)
FROM hotspot_sessions s
JOIN (SELECT id, zone_or_utc(timezone) AS zone FROM tenants) z ON z.id = s.tenant_id
GROUP BY 1, 2, 3;

-- Revenue by day: paid purchases by their settlement, used vouchers by their use (the dashboard
-- leaves out vouchers a purchase issued, found by the purchases' voucher_id), read from the
-- indexes alone.
CREATE INDEX idx_hotspot_purchases_paid ON hotspot_purchases (tenant_id, settled_at)
    INCLUDE (amount) WHERE status = 'paid';
CREATE INDEX idx_hotspot_purchases_voucher ON hotspot_purchases (tenant_id, voucher_id)
    WHERE voucher_id IS NOT NULL;
CREATE INDEX idx_hotspot_vouchers_used ON hotspot_vouchers (tenant_id, used_at)
    INCLUDE (price, id) WHERE is_used;
-- Voucher stock: unused, unrevoked vouchers per package.
CREATE INDEX idx_hotspot_vouchers_stock ON hotspot_vouchers (tenant_id, service_package_id)
    INCLUDE (expiry_date) WHERE NOT is_used AND revoked_at IS NULL;

-- The console's guests online now, newest first across every site, keyset-paged: the top of
-- this index instead of every live session's row fetched and sorted.
CREATE INDEX idx_hotspot_sessions_active_tenant_recent ON hotspot_sessions
    (tenant_id, start_time DESC, id DESC) WHERE session_status = 'active';

SELECT hotspot_secure_tables();
