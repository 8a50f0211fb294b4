//! The daily roll-up of sessions (`hotspot_session_days`, migration 0034) that the console's
//! dashboard charts: kept equal to a count of `hotspot_sessions` by site and day in the tenant's
//! time zone through inserts, upserts, updates that move a session's start, deletes and a change
//! of time zone, by the service role under row-level security.

use crate::helpers::{begin_as, migrated_db, seed_tenant};

/// The roll-up's non-zero rows and a fresh count of the sessions, both sorted, as the owner.
async fn both(owner: &tokio_postgres::Client) -> (Vec<String>, Vec<String>) {
    let rows = |sql: &'static str| async move {
        owner
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    let rolled = rows(
        "SELECT concat_ws(' ', tenant_id, hotspot_id, day, sessions) FROM hotspot_session_days
         WHERE sessions <> 0 ORDER BY 1",
    )
    .await;
    let counted = rows(
        "SELECT concat_ws(' ', tenant_id, hotspot_id, day, count(*))
         FROM (SELECT s.tenant_id, s.hotspot_id,
                      (s.start_time AT TIME ZONE zone_or_utc(t.timezone))::date AS day
               FROM hotspot_sessions s JOIN tenants t ON t.id = s.tenant_id) x
         GROUP BY tenant_id, hotspot_id, day ORDER BY 1",
    )
    .await;
    (rolled, counted)
}

async fn assert_same(owner: &tokio_postgres::Client, what: &str) {
    let (rolled, counted) = both(owner).await;
    assert!(!counted.is_empty(), "{what}: no sessions");
    assert_eq!(rolled, counted, "{what}");
}

#[tokio::test]
async fn the_daily_counts_follow_every_change_to_the_sessions() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    owner
        .execute(
            "UPDATE tenants SET timezone = 'Africa/Nairobi' WHERE id = $1",
            &[&a],
        )
        .await
        .unwrap();
    assert_same(&owner, "the fixtures' sessions").await;

    // The service, as tenant A: sessions on either side of Nairobi's midnight (21:00 UTC),
    // in one statement, then the sync's upsert of one of them and of a new one.
    let mut app = db.connect().await;
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    tx.batch_execute(
        "INSERT INTO hotspot_sessions (id, tenant_id, hotspot_id, mac_address, start_time)
         SELECT md5('s' || g)::uuid, h.tenant_id, h.id, 'AA:BB:CC:00:01:01',
                timestamptz '2026-11-20 20:30:00+00' + g * interval '20 minutes'
         FROM hotspots h, generate_series(1, 6) g;
         INSERT INTO hotspot_sessions (id, tenant_id, hotspot_id, mac_address, start_time)
         SELECT id, tenant_id, hotspot_id, mac_address, start_time FROM hotspot_sessions
         WHERE id = md5('s1')::uuid
         UNION ALL
         SELECT md5('s7')::uuid, tenant_id, hotspot_id, mac_address, '2026-11-25 10:00:00+00'
         FROM hotspot_sessions WHERE id = md5('s1')::uuid
         ON CONFLICT (id, start_time) DO UPDATE SET data_used_mb = 5;",
    )
    .await
    .unwrap();
    // A's service sees its own days only, both sides of midnight counted apart.
    let days: Vec<(chrono::NaiveDate, i64)> = tx
        .query(
            "SELECT day, sessions FROM hotspot_session_days
             WHERE day BETWEEN '2026-11-20' AND '2026-11-25' ORDER BY day",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    assert_eq!(
        days,
        vec![
            (day("2026-11-20"), 1),
            (day("2026-11-21"), 5),
            (day("2026-11-25"), 1)
        ]
    );
    let tenants: i64 = tx
        .query_one(
            "SELECT count(DISTINCT tenant_id) FROM hotspot_session_days",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tenants, 1);
    tx.commit().await.unwrap();
    assert_same(&owner, "inserts and an upsert").await;

    // An update that changes no start, site or tenant writes nothing to the roll-up.
    let before: Vec<String> = owner
        .query(
            "SELECT xmin::text FROM hotspot_session_days ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    tx.execute(
        "UPDATE hotspot_sessions SET session_status = 'ended', end_time = start_time + interval '1 hour'",
        &[],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let after: Vec<String> = owner
        .query(
            "SELECT xmin::text FROM hotspot_session_days ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(before, after);

    // Moving a start (as RADIUS accounting does), across midnight and into another month's
    // partition; then deleting some.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    tx.batch_execute(
        "UPDATE hotspot_sessions SET start_time = start_time - interval '3 hours',
                                     end_time = NULL
         WHERE id IN (md5('s2')::uuid, md5('s3')::uuid);
         UPDATE hotspot_sessions SET start_time = '2026-12-02 08:00:00+00', end_time = NULL
         WHERE id = md5('s4')::uuid;
         DELETE FROM hotspot_sessions WHERE id IN (md5('s5')::uuid, md5('s7')::uuid);",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_same(&owner, "moved and deleted").await;

    // B's service cannot touch A's days.
    let tx = begin_as(&mut app, "hotspot_app", Some(&b.to_string()), None).await;
    let n = tx
        .execute(
            "UPDATE hotspot_session_days SET sessions = 0 WHERE tenant_id = $1",
            &[&a],
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    tx.commit().await.unwrap();

    // A new time zone counts A's days again in it; an unknown one counts in UTC and breaks
    // nothing.
    owner
        .execute("UPDATE tenants SET timezone = 'UTC' WHERE id = $1", &[&a])
        .await
        .unwrap();
    assert_same(&owner, "time zone changed").await;
    owner
        .execute(
            "UPDATE tenants SET timezone = 'Mars/Olympus' WHERE id = $1",
            &[&a],
        )
        .await
        .unwrap();
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    tx.execute(
        "INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, start_time)
         SELECT tenant_id, id, 'AA:BB:CC:00:01:02', '2026-11-20 23:30:00+00' FROM hotspots",
        &[],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_same(&owner, "an unknown time zone").await;

    // A site deleted takes its sessions and its days.
    owner
        .execute("DELETE FROM hotspots WHERE tenant_id = $1", &[&a])
        .await
        .unwrap();
    let left: i64 = owner
        .query_one(
            "SELECT count(*) FROM hotspot_session_days WHERE tenant_id = $1",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert_same(&owner, "a site deleted").await;
}
