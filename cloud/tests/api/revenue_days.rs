//! The dashboard's roll-ups of revenue (`hotspot_revenue_days`) and voucher stock
//! (`hotspot_voucher_stock`), migration 0040: kept equal to the figures computed from the raw
//! purchases and vouchers (the dashboard's definition: paid purchases by settlement day, used
//! vouchers no purchase names by day of use, in the tenant's time zone; unused unrevoked vouchers
//! per package and expiry day) through inserts, status changes, purchases that later name a
//! voucher or name another, deletes on both sides, a package deleted, a time zone change and a
//! site deleted, by the service role under row-level security.

use crate::helpers::{begin_as, migrated_db, seed_tenant};

/// Rows of one text column, as the owner (every tenant).
async fn texts(owner: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    owner
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

/// Asserts that both roll-ups' non-zero rows equal a fresh computation from the raw rows.
async fn assert_same(owner: &tokio_postgres::Client, what: &str) {
    let rolled = texts(
        owner,
        "SELECT concat_ws(' ', tenant_id, hotspot_id, day, trim_scale(amount))
         FROM hotspot_revenue_days WHERE amount <> 0 ORDER BY 1",
    )
    .await;
    let computed = texts(
        owner,
        "SELECT concat_ws(' ', tenant_id, hotspot_id, day, trim_scale(sum(n)))
         FROM (SELECT p.tenant_id, p.hotspot_id,
                      (p.settled_at AT TIME ZONE zone_or_utc(t.timezone))::date AS day,
                      p.amount AS n
               FROM hotspot_purchases p JOIN tenants t ON t.id = p.tenant_id
               WHERE p.status = 'paid' AND p.settled_at IS NOT NULL
             UNION ALL
               SELECT v.tenant_id, v.hotspot_id,
                      (v.used_at AT TIME ZONE zone_or_utc(t.timezone))::date, v.price
               FROM hotspot_vouchers v JOIN tenants t ON t.id = v.tenant_id
               WHERE v.is_used AND v.used_at IS NOT NULL AND v.price IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM hotspot_purchases p WHERE p.voucher_id = v.id)) m
         GROUP BY tenant_id, hotspot_id, day HAVING sum(n) <> 0 ORDER BY 1",
    )
    .await;
    assert!(!computed.is_empty(), "{what}: no revenue");
    assert_eq!(rolled, computed, "{what}: revenue");
    let rolled = texts(
        owner,
        "SELECT concat_ws(' ', tenant_id, coalesce(service_package_id::text, '-'), expires_on,
                          vouchers)
         FROM hotspot_voucher_stock WHERE vouchers <> 0 ORDER BY 1",
    )
    .await;
    let computed = texts(
        owner,
        "SELECT concat_ws(' ', tenant_id, coalesce(service_package_id::text, '-'), expires_on,
                          count(*))
         FROM (SELECT tenant_id, service_package_id,
                      coalesce((expiry_date AT TIME ZONE 'UTC')::date, 'infinity') AS expires_on
               FROM hotspot_vouchers WHERE NOT is_used AND revoked_at IS NULL) v
         GROUP BY tenant_id, service_package_id, expires_on ORDER BY 1",
    )
    .await;
    assert!(!computed.is_empty(), "{what}: no stock");
    assert_eq!(rolled, computed, "{what}: stock");
}

/// Tenant A's revenue per day as its service sees it.
async fn days_of(tx: &tokio_postgres::Transaction<'_>) -> Vec<(String, String)> {
    tx.query(
        "SELECT day::text, trim_scale(sum(amount))::text FROM hotspot_revenue_days
         GROUP BY day HAVING sum(amount) <> 0 ORDER BY day",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn revenue_and_stock_follow_every_change_to_purchases_and_vouchers() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    // A in Nairobi (midnight is 21:00 UTC), with a second site and a package to sell.
    owner
        .execute(
            "WITH t AS (UPDATE tenants SET timezone = 'Africa/Nairobi' WHERE id = $1 RETURNING id),
                  h AS (INSERT INTO hotspots (tenant_id, name, location, ssid)
                        SELECT id, 'Stage', 'Nairobi', 'Stage' FROM t)
             INSERT INTO service_packages (tenant_id, name, package_type, connection_type,
                                           download_mbps, upload_mbps, price, duration_minutes)
             SELECT id, 'One hour', 'hotspot', 'hotspot', 5, 2, 20, 60 FROM t",
            &[&a],
        )
        .await
        .unwrap();
    let mut app = db.connect().await;

    // Ten vouchers in one statement over A's two sites: v1-v5 used either side of Nairobi's
    // midnight (v1-v3 on the 20th, v4-v5 on the 21st), v6-v10 unused, some without an expiry,
    // the even ones of the package; then five purchases: p1 paid naming v1, p2 pending naming
    // v2, p3 failed naming v6, p4 pending naming none, p5 paid naming v3 (settled on the 21st).
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    tx.batch_execute(
        "INSERT INTO hotspot_vouchers (id, tenant_id, hotspot_id, voucher_code, duration_minutes,
                                       price, is_used, used_at, expiry_date, service_package_id)
         SELECT md5('v' || g)::uuid, s.tenant_id, s.ids[1 + g % 2], 'RV' || g, 60, 10 * g,
                g <= 5,
                CASE WHEN g <= 5
                     THEN timestamptz '2026-11-20 20:00:00+00' + g * interval '15 minutes' END,
                CASE WHEN g % 3 <> 0
                     THEN timestamptz '2027-01-01 00:00:00+00' + g * interval '5 hours' END,
                CASE WHEN g % 2 = 0
                     THEN (SELECT id FROM service_packages WHERE name = 'One hour') END
         FROM (SELECT tenant_id, array_agg(id ORDER BY name) AS ids FROM hotspots
               GROUP BY tenant_id) s,
              generate_series(1, 10) g;
         INSERT INTO hotspot_purchases (id, tenant_id, hotspot_id, request_id, package_name,
                                        amount, phone_number, client_mac, status,
                                        failure_reason, voucher_id, settled_at,
                                        callback_token_hash)
         SELECT md5('p' || g)::uuid, v.tenant_id, v.hotspot_id, gen_random_uuid(), 'One hour',
                100 * g, '25470000000' || g, 'AA:BB:CC:00:02:01', x.status,
                CASE WHEN x.status = 'failed' THEN 'cancelled' END,
                CASE WHEN g <> 4 THEN v.id END,
                CASE WHEN x.status = 'paid'
                     THEN timestamptz '2026-11-20 20:50:00+00' + (g / 5) * interval '20 minutes'
                END,
                digest('rp' || g, 'sha256')
         FROM (VALUES (1, 1, 'paid'), (2, 2, 'pending'), (3, 6, 'failed'), (4, 1, 'pending'),
                      (5, 3, 'paid')) x (g, voucher, status)
         JOIN hotspot_vouchers v ON v.id = md5('v' || x.voucher)::uuid;",
    )
    .await
    .unwrap();
    // p1's 100 on the 20th; v4 and v5 (40 and 50) and p5's 500 on the 21st. v1-v3 are named.
    assert_eq!(
        days_of(&tx).await,
        pairs(&[("2026-11-20", "100"), ("2026-11-21", "590")])
    );
    tx.commit().await.unwrap();
    assert_same(&owner, "inserts").await;

    // Status changes and purchases naming vouchers later: p2 paid (its voucher stays named);
    // p4 failed, then naming v4; p5 moved from v3 to v5 (v3 counted again) and p6 naming v5 as
    // well; v7 used, v8 revoked; v1's price changed (named: nothing moves) and v3's use moved
    // across midnight. The poller's update of p1 changes no counted column.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    tx.batch_execute(
        "UPDATE hotspot_purchases SET status = 'paid', settled_at = '2026-11-21 09:00:00+00'
         WHERE id = md5('p2')::uuid;
         UPDATE hotspot_purchases SET status = 'failed', failure_reason = 'timeout'
         WHERE id = md5('p4')::uuid;
         UPDATE hotspot_purchases SET voucher_id = md5('v4')::uuid WHERE id = md5('p4')::uuid;
         UPDATE hotspot_purchases SET voucher_id = md5('v5')::uuid WHERE id = md5('p5')::uuid;
         INSERT INTO hotspot_purchases (id, tenant_id, hotspot_id, request_id, package_name,
                                        amount, phone_number, client_mac, status,
                                        failure_reason, voucher_id, callback_token_hash)
         SELECT md5('p6')::uuid, tenant_id, hotspot_id, gen_random_uuid(), 'One hour', 600,
                '254700000006', 'AA:BB:CC:00:02:01', 'failed', 'cancelled', id,
                digest('rp6', 'sha256')
         FROM hotspot_vouchers WHERE id = md5('v5')::uuid;
         UPDATE hotspot_vouchers SET is_used = true, used_at = '2026-11-22 10:00:00+00'
         WHERE id = md5('v7')::uuid;
         UPDATE hotspot_vouchers SET revoked_at = now() WHERE id = md5('v8')::uuid;
         UPDATE hotspot_vouchers SET price = 15 WHERE id = md5('v1')::uuid;
         UPDATE hotspot_vouchers SET used_at = '2026-11-20 22:00:00+00'
         WHERE id = md5('v3')::uuid;
         UPDATE hotspot_purchases SET next_query_at = now() + interval '1 minute';",
    )
    .await
    .unwrap();
    // p1 100 on the 20th; v3 30, p2 200 and p5 500 on the 21st; v7 70 on the 22nd.
    assert_eq!(
        days_of(&tx).await,
        pairs(&[
            ("2026-11-20", "100"),
            ("2026-11-21", "730"),
            ("2026-11-22", "70")
        ])
    );
    tx.commit().await.unwrap();
    assert_same(&owner, "status changes and vouchers named").await;

    // Deletes: p6 (v5 still named by p5), then p5 failed and deleted (v5 counted again); v4,
    // named by p4 (which lets go of it), v3 (counted) and v9 (in stock) deleted; the package
    // deleted (its vouchers' stock moves to no package).
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    tx.batch_execute(
        "DELETE FROM hotspot_purchases WHERE id = md5('p6')::uuid;
         UPDATE hotspot_purchases SET status = 'failed', failure_reason = 'cancelled'
         WHERE id = md5('p5')::uuid;
         DELETE FROM hotspot_purchases WHERE id = md5('p5')::uuid;
         DELETE FROM hotspot_vouchers
         WHERE id IN (md5('v4')::uuid, md5('v3')::uuid, md5('v9')::uuid);
         DELETE FROM service_packages WHERE name = 'One hour';",
    )
    .await
    .unwrap();
    // p1 100 on the 20th; p2 200 and v5 50 on the 21st; v7 70 on the 22nd.
    assert_eq!(
        days_of(&tx).await,
        pairs(&[
            ("2026-11-20", "100"),
            ("2026-11-21", "250"),
            ("2026-11-22", "70")
        ])
    );
    tx.commit().await.unwrap();
    assert_same(&owner, "deletes").await;

    // B's service sees none of A's rows and cannot change them.
    let tx = begin_as(&mut app, "hotspot_app", Some(&b.to_string()), None).await;
    for sql in [
        "UPDATE hotspot_revenue_days SET amount = 0 WHERE tenant_id = $1",
        "UPDATE hotspot_voucher_stock SET vouchers = 0 WHERE tenant_id = $1",
    ] {
        assert_eq!(tx.execute(sql, &[&a]).await.unwrap(), 0, "{sql}");
    }
    let seen: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM hotspot_revenue_days)
                  + (SELECT count(*) FROM hotspot_voucher_stock WHERE tenant_id <> $1)",
            &[&b],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
    tx.commit().await.unwrap();

    // A new time zone counts A's days again in it.
    owner
        .execute("UPDATE tenants SET timezone = 'UTC' WHERE id = $1", &[&a])
        .await
        .unwrap();
    assert_same(&owner, "time zone changed").await;
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    // In UTC: p1 (20:50) and v5 (21:15) on the 20th, p2 on the 21st, v7 on the 22nd.
    assert_eq!(
        days_of(&tx).await,
        pairs(&[
            ("2026-11-20", "150"),
            ("2026-11-21", "200"),
            ("2026-11-22", "70")
        ])
    );
    tx.commit().await.unwrap();

    // A site deleted takes its purchases, vouchers and roll-up rows, and the rest still agree.
    owner
        .execute(
            "DELETE FROM hotspots WHERE tenant_id = $1 AND name = 'Stage'",
            &[&a],
        )
        .await
        .unwrap();
    assert_same(&owner, "a site deleted").await;
}
