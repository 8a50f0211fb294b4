-- The console dashboard's revenue and voucher stock as roll-ups kept by triggers, as the
-- sessions per day are (0034): a page reads a few hundred rows instead of summing a month of
-- purchases and vouchers and counting every unused voucher.
--
-- Every trigger here runs with the caller's rights: it writes only roll-up rows of the tenants
-- whose purchases or vouchers the caller has just written, so row-level security holds as it
-- does for them. Changes are added as deltas (the roll-up row is read again under its lock by
-- each writer), so two transactions writing at once both count; rows are written in key order,
-- so they cannot deadlock on them.

-- Revenue per site and day, the day in the tenant's time zone (zone_or_utc), exactly as the
-- dashboard defined it from the raw rows:
-- - a purchase counts its amount while it is paid, on the day of its settlement (pending and
--   failed purchases count nothing, nor a paid one without a settlement time);
-- - a voucher counts its price while it is used (with a time of use), on the day of its use,
--   and only while no purchase names it (voucher_id): a voucher sold through a purchase is
--   counted once, as the purchase, whatever the purchase's status.
-- A change of the tenant's time zone counts the tenant's days again.
CREATE TABLE hotspot_revenue_days (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hotspot_id UUID NOT NULL,
    day DATE NOT NULL,
    amount NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, hotspot_id),
    FOREIGN KEY (tenant_id, hotspot_id) REFERENCES hotspots (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_hotspot_revenue_days_hotspot ON hotspot_revenue_days (hotspot_id, day);

-- Adds amounts to the revenue roll-up: element i of each array is one change (a tenant, a site,
-- the moment that dates it, a signed amount). Days are taken in each tenant's zone, changes of
-- one row summed, and rows written in key order. A site that is no longer there (being deleted,
-- its roll-up rows going with it) is skipped.
CREATE FUNCTION hotspot_revenue_days_add(p_tenant UUID[], p_hotspot UUID[], p_at TIMESTAMPTZ[],
                                         p_amount NUMERIC[]) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, public
    AS $$
    WITH c AS (
        SELECT * FROM unnest(p_tenant, p_hotspot, p_at, p_amount) AS c (tenant_id, hotspot_id, at, n)
    ), z AS (
        SELECT t.id, public.zone_or_utc(x.timezone) AS zone
        FROM (SELECT DISTINCT tenant_id AS id FROM c) t
        JOIN public.tenants x ON x.id = t.id
    )
    INSERT INTO public.hotspot_revenue_days AS d (tenant_id, hotspot_id, day, amount)
    SELECT c.tenant_id, c.hotspot_id, (c.at AT TIME ZONE z.zone)::date, sum(c.n)
    FROM c
    JOIN z ON z.id = c.tenant_id
    JOIN public.hotspots h ON h.tenant_id = c.tenant_id AND h.id = c.hotspot_id
    GROUP BY 1, 2, 3
    HAVING sum(c.n) <> 0
    ORDER BY 1, 3, 2
    ON CONFLICT (tenant_id, day, hotspot_id) DO UPDATE SET amount = d.amount + EXCLUDED.amount;
$$;
GRANT EXECUTE ON FUNCTION hotspot_revenue_days_add(UUID[], UUID[], TIMESTAMPTZ[], NUMERIC[])
    TO hotspot_app;

-- Purchases: a paid purchase's amount comes and goes with its status, settlement, amount or
-- site; a purchase that starts (or stops) naming a voucher takes that voucher's price out (or
-- back) when no other purchase names it. The purchases' state before the statement is the
-- table now without the rows the statement wrote, plus the rows as they were.
CREATE FUNCTION hotspot_revenue_days_purchases() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    rev_tenant UUID[]; rev_hotspot UUID[]; rev_at TIMESTAMPTZ[]; rev_amount NUMERIC[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(c.tenant_id), array_agg(c.hotspot_id), array_agg(c.at), array_agg(c.n)
        INTO rev_tenant, rev_hotspot, rev_at, rev_amount
        FROM (SELECT p.tenant_id, p.hotspot_id, p.settled_at AS at, p.amount AS n
              FROM new_rows p
              WHERE p.status = 'paid' AND p.settled_at IS NOT NULL
              UNION ALL
              -- Vouchers counted until now, named from now on.
              SELECT v.tenant_id, v.hotspot_id, v.used_at, -v.price
              FROM public.hotspot_vouchers v
              WHERE (v.tenant_id, v.id) IN (SELECT tenant_id, voucher_id FROM new_rows)
                AND v.is_used AND v.used_at IS NOT NULL AND v.price IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM public.hotspot_purchases p
                                WHERE p.tenant_id = v.tenant_id AND p.voucher_id = v.id
                                  AND p.id NOT IN (SELECT id FROM new_rows))) c;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(c.tenant_id), array_agg(c.hotspot_id), array_agg(c.at), array_agg(c.n)
        INTO rev_tenant, rev_hotspot, rev_at, rev_amount
        FROM (SELECT p.tenant_id, p.hotspot_id, p.settled_at AS at, -p.amount AS n
              FROM old_rows p
              WHERE p.status = 'paid' AND p.settled_at IS NOT NULL
              UNION ALL
              -- Vouchers named until now and by no purchase any more.
              SELECT v.tenant_id, v.hotspot_id, v.used_at, v.price
              FROM public.hotspot_vouchers v
              WHERE (v.tenant_id, v.id) IN (SELECT tenant_id, voucher_id FROM old_rows)
                AND v.is_used AND v.used_at IS NOT NULL AND v.price IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM public.hotspot_purchases p
                                WHERE p.tenant_id = v.tenant_id AND p.voucher_id = v.id)) c;
    ELSE
        -- Only the rows whose counted columns changed (the payment poller's updates of its
        -- next query time change none, and write nothing here).
        WITH ch AS (
            SELECT o.id AS old_id, o.tenant_id AS old_tenant, o.hotspot_id AS old_hotspot,
                   o.status AS old_status, o.settled_at AS old_settled, o.amount AS old_amount,
                   o.voucher_id AS old_voucher,
                   n.id AS new_id, n.tenant_id AS new_tenant, n.hotspot_id AS new_hotspot,
                   n.status AS new_status, n.settled_at AS new_settled, n.amount AS new_amount,
                   n.voucher_id AS new_voucher
            FROM old_rows o
            FULL JOIN new_rows n ON n.id = o.id
            WHERE (o.tenant_id, o.hotspot_id, o.status, o.settled_at, o.amount, o.voucher_id)
                  IS DISTINCT FROM
                  (n.tenant_id, n.hotspot_id, n.status, n.settled_at, n.amount, n.voucher_id)
        ), vs AS (
            SELECT old_tenant AS tenant_id, old_voucher AS id FROM ch WHERE old_voucher IS NOT NULL
            UNION
            SELECT new_tenant, new_voucher FROM ch WHERE new_voucher IS NOT NULL
        )
        SELECT array_agg(c.tenant_id), array_agg(c.hotspot_id), array_agg(c.at), array_agg(c.n)
        INTO rev_tenant, rev_hotspot, rev_at, rev_amount
        FROM (SELECT new_tenant AS tenant_id, new_hotspot AS hotspot_id, new_settled AS at,
                     new_amount AS n
              FROM ch
              WHERE new_status = 'paid' AND new_settled IS NOT NULL
              UNION ALL
              SELECT old_tenant, old_hotspot, old_settled, -old_amount
              FROM ch
              WHERE old_status = 'paid' AND old_settled IS NOT NULL
              UNION ALL
              SELECT v.tenant_id, v.hotspot_id, v.used_at,
                     v.price * ((NOT named_after)::int - (NOT named_before)::int)
              FROM public.hotspot_vouchers v
              JOIN vs ON vs.tenant_id = v.tenant_id AND vs.id = v.id
              CROSS JOIN LATERAL (
                  SELECT EXISTS (SELECT 1 FROM public.hotspot_purchases p
                                 WHERE p.tenant_id = v.tenant_id AND p.voucher_id = v.id)
                             AS named_after,
                         EXISTS (SELECT 1 FROM public.hotspot_purchases p
                                 WHERE p.tenant_id = v.tenant_id AND p.voucher_id = v.id
                                   AND p.id NOT IN (SELECT new_id FROM ch
                                                    WHERE new_id IS NOT NULL))
                         OR EXISTS (SELECT 1 FROM ch
                                    WHERE ch.old_tenant = v.tenant_id
                                      AND ch.old_voucher = v.id) AS named_before) k
              WHERE v.is_used AND v.used_at IS NOT NULL AND v.price IS NOT NULL
                AND named_after <> named_before) c;
    END IF;
    IF rev_tenant IS NOT NULL THEN
        PERFORM public.hotspot_revenue_days_add(rev_tenant, rev_hotspot, rev_at, rev_amount);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER hotspot_revenue_days_insert AFTER INSERT ON hotspot_purchases
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_revenue_days_purchases();
CREATE TRIGGER hotspot_revenue_days_delete AFTER DELETE ON hotspot_purchases
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_revenue_days_purchases();
CREATE TRIGGER hotspot_revenue_days_update AFTER UPDATE ON hotspot_purchases
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_revenue_days_purchases();

-- Voucher stock: unused, unrevoked vouchers per tenant, package (none for a voucher without
-- one, or whose package was deleted) and the UTC day the voucher expires on ('infinity' for
-- none). The dashboard adds the days after today and counts today's expiring vouchers, which
-- expire while it is looked at, from the vouchers themselves (idx_hotspot_vouchers_expiring).
CREATE TABLE hotspot_voucher_stock (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    service_package_id UUID,
    expires_on DATE NOT NULL,
    vouchers BIGINT NOT NULL DEFAULT 0,
    UNIQUE NULLS NOT DISTINCT (tenant_id, service_package_id, expires_on)
);
CREATE INDEX idx_hotspot_vouchers_expiring ON hotspot_vouchers (tenant_id, expiry_date)
    INCLUDE (service_package_id) WHERE NOT is_used AND revoked_at IS NULL;

-- Adds counts to the stock, as hotspot_revenue_days_add does to revenue (a voucher's expiry is
-- its moment; a tenant being deleted is skipped).
CREATE FUNCTION hotspot_voucher_stock_add(p_tenant UUID[], p_package UUID[],
                                          p_expiry TIMESTAMPTZ[], p_n BIGINT[]) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, public
    AS $$
    INSERT INTO public.hotspot_voucher_stock AS s (tenant_id, service_package_id, expires_on,
                                                   vouchers)
    SELECT c.tenant_id, c.package_id,
           coalesce((c.expiry AT TIME ZONE 'UTC')::date, 'infinity'::date), sum(c.n)
    FROM unnest(p_tenant, p_package, p_expiry, p_n) AS c (tenant_id, package_id, expiry, n)
    WHERE EXISTS (SELECT 1 FROM public.tenants x WHERE x.id = c.tenant_id)
    GROUP BY 1, 2, 3
    HAVING sum(c.n) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, service_package_id, expires_on)
        DO UPDATE SET vouchers = s.vouchers + EXCLUDED.vouchers;
$$;
GRANT EXECUTE ON FUNCTION hotspot_voucher_stock_add(UUID[], UUID[], TIMESTAMPTZ[], BIGINT[])
    TO hotspot_app;

-- Vouchers inserted and updated: revenue of the used ones no purchase names, stock of the
-- unused unrevoked ones. (Which purchases name a voucher does not change in a voucher's
-- statement, so it is read as it is now for both sides.)
CREATE FUNCTION hotspot_voucher_rollups() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    rev_tenant UUID[]; rev_hotspot UUID[]; rev_at TIMESTAMPTZ[]; rev_amount NUMERIC[];
    stock_tenant UUID[]; stock_package UUID[]; stock_expiry TIMESTAMPTZ[]; stock_n BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(v.tenant_id), array_agg(v.hotspot_id), array_agg(v.used_at),
               array_agg(v.price)
        INTO rev_tenant, rev_hotspot, rev_at, rev_amount
        FROM new_rows v
        WHERE v.is_used AND v.used_at IS NOT NULL AND v.price IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM public.hotspot_purchases p
                          WHERE p.tenant_id = v.tenant_id AND p.voucher_id = v.id);
        SELECT array_agg(v.tenant_id), array_agg(v.service_package_id), array_agg(v.expiry_date),
               array_agg(1::bigint)
        INTO stock_tenant, stock_package, stock_expiry, stock_n
        FROM new_rows v
        WHERE NOT v.is_used AND v.revoked_at IS NULL;
    ELSE
        -- Only the rows whose counted columns changed (a voucher's other columns, or a used
        -- voucher's redemption details, write nothing here).
        WITH ch AS (
            SELECT o.id AS old_id, o.tenant_id AS old_tenant, o.hotspot_id AS old_hotspot,
                   o.is_used AS old_used, o.used_at AS old_used_at, o.price AS old_price,
                   o.revoked_at AS old_revoked, o.service_package_id AS old_package,
                   o.expiry_date AS old_expiry,
                   n.id AS new_id, n.tenant_id AS new_tenant, n.hotspot_id AS new_hotspot,
                   n.is_used AS new_used, n.used_at AS new_used_at, n.price AS new_price,
                   n.revoked_at AS new_revoked, n.service_package_id AS new_package,
                   n.expiry_date AS new_expiry
            FROM old_rows o
            FULL JOIN new_rows n ON n.id = o.id
            WHERE (o.tenant_id, o.hotspot_id, o.is_used, o.used_at, o.price, o.revoked_at,
                   o.service_package_id, o.expiry_date)
                  IS DISTINCT FROM
                  (n.tenant_id, n.hotspot_id, n.is_used, n.used_at, n.price, n.revoked_at,
                   n.service_package_id, n.expiry_date)
        ), counted AS (
            SELECT new_tenant AS tenant_id, new_hotspot AS hotspot_id, new_used_at AS at,
                   new_price AS n, new_id AS id
            FROM ch
            WHERE new_used AND new_used_at IS NOT NULL AND new_price IS NOT NULL
            UNION ALL
            SELECT old_tenant, old_hotspot, old_used_at, -old_price, old_id
            FROM ch
            WHERE old_used AND old_used_at IS NOT NULL AND old_price IS NOT NULL
        ), stock AS (
            SELECT new_tenant AS tenant_id, new_package AS package_id, new_expiry AS expiry,
                   1::bigint AS n
            FROM ch
            WHERE NOT new_used AND new_revoked IS NULL
            UNION ALL
            SELECT old_tenant, old_package, old_expiry, -1
            FROM ch
            WHERE NOT old_used AND old_revoked IS NULL
        ), r AS (
            SELECT array_agg(c.tenant_id) AS t, array_agg(c.hotspot_id) AS h,
                   array_agg(c.at) AS a, array_agg(c.n) AS n
            FROM counted c
            WHERE NOT EXISTS (SELECT 1 FROM public.hotspot_purchases p
                              WHERE p.tenant_id = c.tenant_id AND p.voucher_id = c.id)
        ), s AS (
            SELECT array_agg(tenant_id) AS t, array_agg(package_id) AS p,
                   array_agg(expiry) AS e, array_agg(n) AS n
            FROM stock
        )
        SELECT r.t, r.h, r.a, r.n, s.t, s.p, s.e, s.n
        INTO rev_tenant, rev_hotspot, rev_at, rev_amount,
             stock_tenant, stock_package, stock_expiry, stock_n
        FROM r, s;
    END IF;
    IF rev_tenant IS NOT NULL THEN
        PERFORM public.hotspot_revenue_days_add(rev_tenant, rev_hotspot, rev_at, rev_amount);
    END IF;
    IF stock_tenant IS NOT NULL THEN
        PERFORM public.hotspot_voucher_stock_add(stock_tenant, stock_package, stock_expiry,
                                                 stock_n);
    END IF;
    RETURN NULL;
END
$$;

-- Vouchers deleted: row by row and before the delete, while the purchases that name the voucher
-- still do (deleting it sets their voucher_id to NULL before a statement trigger would run).
CREATE FUNCTION hotspot_voucher_rollups_delete() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF OLD.is_used AND OLD.used_at IS NOT NULL AND OLD.price IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM public.hotspot_purchases p
                       WHERE p.tenant_id = OLD.tenant_id AND p.voucher_id = OLD.id) THEN
        PERFORM public.hotspot_revenue_days_add(ARRAY[OLD.tenant_id], ARRAY[OLD.hotspot_id],
                                                ARRAY[OLD.used_at], ARRAY[-OLD.price]);
    END IF;
    IF NOT OLD.is_used AND OLD.revoked_at IS NULL THEN
        PERFORM public.hotspot_voucher_stock_add(ARRAY[OLD.tenant_id],
                                                 ARRAY[OLD.service_package_id],
                                                 ARRAY[OLD.expiry_date], ARRAY[-1::bigint]);
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER hotspot_voucher_rollups_insert AFTER INSERT ON hotspot_vouchers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_voucher_rollups();
CREATE TRIGGER hotspot_voucher_rollups_update AFTER UPDATE ON hotspot_vouchers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_voucher_rollups();
CREATE TRIGGER hotspot_voucher_rollups_delete BEFORE DELETE ON hotspot_vouchers
    FOR EACH ROW EXECUTE FUNCTION hotspot_voucher_rollups_delete();

-- A tenant's revenue is counted by days of its time zone: count them again when it changes.
CREATE FUNCTION hotspot_revenue_days_recount(p_tenant UUID) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, public
    AS $$
    DELETE FROM public.hotspot_revenue_days WHERE tenant_id = p_tenant;
    INSERT INTO public.hotspot_revenue_days (tenant_id, hotspot_id, day, amount)
    SELECT m.tenant_id, m.hotspot_id, (m.at AT TIME ZONE z.zone)::date, sum(m.n)
    FROM (SELECT p.tenant_id, p.hotspot_id, p.settled_at AS at, p.amount AS n
          FROM public.hotspot_purchases p
          WHERE p.tenant_id = p_tenant AND p.status = 'paid' AND p.settled_at IS NOT NULL
          UNION ALL
          SELECT v.tenant_id, v.hotspot_id, v.used_at, v.price
          FROM public.hotspot_vouchers v
          WHERE v.tenant_id = p_tenant
            AND v.is_used AND v.used_at IS NOT NULL AND v.price IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM public.hotspot_purchases p
                            WHERE p.tenant_id = v.tenant_id AND p.voucher_id = v.id)) m
    JOIN (SELECT x.id, public.zone_or_utc(x.timezone) AS zone FROM public.tenants x
          WHERE x.id = p_tenant) z ON z.id = m.tenant_id
    GROUP BY 1, 2, 3;
$$;

CREATE FUNCTION hotspot_revenue_days_zone() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    PERFORM public.hotspot_revenue_days_recount(NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER hotspot_revenue_days_zone AFTER UPDATE OF timezone ON tenants
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION hotspot_revenue_days_zone();

-- The rows already there (the triggers above hold their tables' locks from here to the end of
-- this migration's transaction, so nothing is counted twice or missed).
INSERT INTO hotspot_revenue_days (tenant_id, hotspot_id, day, amount)
SELECT m.tenant_id, m.hotspot_id, (m.at AT TIME ZONE z.zone)::date, sum(m.n)
FROM (SELECT p.tenant_id, p.hotspot_id, p.settled_at AS at, p.amount AS n
      FROM hotspot_purchases p
      WHERE p.status = 'paid' AND p.settled_at IS NOT NULL
      UNION ALL
      SELECT v.tenant_id, v.hotspot_id, v.used_at, v.price
      FROM hotspot_vouchers v
      WHERE v.is_used AND v.used_at IS NOT NULL AND v.price IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM hotspot_purchases p
                        WHERE p.tenant_id = v.tenant_id AND p.voucher_id = v.id)) m
JOIN (SELECT id, zone_or_utc(timezone) AS zone FROM tenants) z ON z.id = m.tenant_id
GROUP BY 1, 2, 3;

INSERT INTO hotspot_voucher_stock (tenant_id, service_package_id, expires_on, vouchers)
SELECT tenant_id, service_package_id,
       coalesce((expiry_date AT TIME ZONE 'UTC')::date, 'infinity'::date), count(*)
FROM hotspot_vouchers
WHERE NOT is_used AND revoked_at IS NULL
GROUP BY 1, 2, 3;

SELECT hotspot_secure_tables();
