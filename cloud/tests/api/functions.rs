//! Seed 000's database functions and triggers, run as the service would run them: as
//! `hotspot_app` with the tenant set.

use std::collections::HashSet;

use hotspot_shared::voucher::{ALPHABET, CODE_LEN};
use uuid::Uuid;

use crate::helpers::{begin_as, migrated_db, seed_tenant};

#[tokio::test]
async fn voucher_codes_use_the_shared_alphabet_and_length_and_are_unique() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let mut app = db.connect().await;
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), None).await;
    let mut codes = HashSet::new();
    let mut seen_chars = HashSet::new();
    for _ in 0..300 {
        let code: String = tx
            .query_one("SELECT generate_voucher_code()", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(code.len(), CODE_LEN, "{code}");
        for c in code.bytes() {
            assert!(
                ALPHABET.contains(&c),
                "{code}: {} not in the alphabet",
                c as char
            );
            seen_chars.insert(c);
        }
        assert!(codes.insert(code.clone()), "duplicate {code}");
    }
    // 3,000 uniform draws over 30 characters: every character shows up.
    assert_eq!(seen_chars.len(), ALPHABET.len());
    // A generated code is accepted by the vouchers table (VARCHAR(20), unique).
    let hotspot: Uuid = tx
        .query_one("SELECT id FROM hotspots LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    tx.execute(
        "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes)
         VALUES ($1, $2, generate_voucher_code(), 30)",
        &[&a, &hotspot],
    )
    .await
    .unwrap();
}

/// Inserts an active session that started `age_minutes` ago, with an optional voucher.
async fn session(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: Uuid,
    hotspot: Uuid,
    age_minutes: i32,
    voucher: Option<&str>,
) -> Uuid {
    tx.query_one(
        "INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, voucher_code,
                                       session_type, start_time)
         VALUES ($1, $2, 'AA:BB:CC:11:22:33', $3, 'voucher',
                 now() - make_interval(mins => $4))
         RETURNING id",
        &[&tenant, &hotspot, &voucher, &age_minutes],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn end_expired_sessions_ends_only_sessions_whose_time_is_up() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let b = seed_tenant(&owner, 2).await;
    // The fixtures' own sessions (voucher "Vt1"/"Vt2", 60 minutes, just started) stay active.
    let mut app = db.connect().await;
    let a_text = a.to_string();
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let hotspot: Uuid = tx
        .query_one("SELECT id FROM hotspots", &[])
        .await
        .unwrap()
        .get(0);
    tx.batch_execute(&format!(
        "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes)
         VALUES ('{a}', '{hotspot}', 'HOUR1', 60), ('{a}', '{hotspot}', 'DAY1', 1440);
         INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes,
                                       expiry_date)
         VALUES ('{a}', '{hotspot}', 'EXPIRED1', 600, now() - interval '5 minutes');"
    ))
    .await
    .unwrap();
    let fresh = session(&tx, a, hotspot, 30, Some("HOUR1")).await;
    let over = session(&tx, a, hotspot, 90, Some("HOUR1")).await;
    let day_pass = session(&tx, a, hotspot, 600, Some("DAY1")).await;
    let voucher_expired = session(&tx, a, hotspot, 20, Some("EXPIRED1")).await;
    let no_voucher_recent = session(&tx, a, hotspot, 120, None).await;
    let no_voucher_stale = session(&tx, a, hotspot, 25 * 60, None).await;
    tx.commit().await.unwrap();

    // Tenant B has a session long past any limit: not A's job to end it.
    let b_stale: Uuid = owner
        .query_one(
            "INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, start_time)
             SELECT $1, id, 'AA:BB:CC:44:55:66', now() - interval '3 days'
             FROM hotspots WHERE tenant_id = $1 RETURNING id",
            &[&b],
        )
        .await
        .unwrap()
        .get(0);

    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let ended: i32 = tx
        .query_one("SELECT end_expired_sessions()", &[])
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();
    assert_eq!(ended, 3);

    let state = |id: Uuid| {
        let owner = &owner;
        async move {
            let row = owner
                .query_one(
                    "SELECT session_status, end_time IS NOT NULL,
                            duration_minutes,
                            extract(epoch FROM end_time - start_time)::int / 60
                     FROM hotspot_sessions WHERE id = $1",
                    &[&id],
                )
                .await
                .unwrap();
            (
                row.get::<_, String>(0),
                row.get::<_, bool>(1),
                row.get::<_, Option<i32>>(2),
                row.get::<_, Option<i32>>(3),
            )
        }
    };
    assert_eq!(state(fresh).await.0, "active");
    assert_eq!(state(day_pass).await.0, "active");
    assert_eq!(state(no_voucher_recent).await.0, "active");
    // Ended at the moment its time ran out, not when the job ran.
    assert_eq!(
        state(over).await,
        ("expired".into(), true, Some(60), Some(60))
    );
    assert_eq!(
        state(no_voucher_stale).await,
        ("expired".into(), true, Some(24 * 60), Some(24 * 60))
    );
    let (status, ended_at, minutes, _) = state(voucher_expired).await;
    assert_eq!((status.as_str(), ended_at), ("expired", true));
    assert!(minutes.unwrap() <= 20, "{minutes:?}");
    assert_eq!(state(b_stale).await.0, "active");

    // Running again finds nothing more.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let again: i32 = tx
        .query_one("SELECT end_expired_sessions()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, 0);
}

#[tokio::test]
async fn inventory_items_get_ids_by_category_and_every_change_is_logged() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let admin: Uuid = owner
        .query_one(
            "SELECT id FROM users WHERE tenant_id = $1 AND role = 'isp_admin'",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    let client: Uuid = owner
        .query_one("SELECT id FROM clients WHERE tenant_id = $1", &[&a])
        .await
        .unwrap()
        .get(0);
    let mut app = db.connect().await;
    let tx = begin_as(&mut app, "hotspot_app", Some(&a.to_string()), Some(admin)).await;
    let mut ids = Vec::new();
    for category in [
        "Network Hardware",
        "CPE",
        "Infrastructure",
        "Consumable",
        "Logical Resource",
    ] {
        let row = tx
            .query_one(
                "INSERT INTO inventory_items (tenant_id, category, type) VALUES ($1, $2, 'x')
                 RETURNING id, item_id",
                &[&a, &category],
            )
            .await
            .unwrap();
        ids.push((row.get::<_, Uuid>(0), row.get::<_, String>(1)));
    }
    let prefixes: Vec<&str> = ids
        .iter()
        .map(|(_, item)| item.split('-').next().unwrap())
        .collect();
    assert_eq!(prefixes, ["NH", "CPE", "INF", "CON", "LR"]);
    let numbers: Vec<u32> = ids
        .iter()
        .map(|(_, item)| item.split('-').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[1] > w[0]), "{numbers:?}");
    assert!(
        ids.iter()
            .all(|(_, item)| item.split('-').nth(1).unwrap().len() == 6)
    );
    // An id given by the operator is kept.
    let kept: String = tx
        .query_one(
            "INSERT INTO inventory_items (tenant_id, item_id, category, type)
             VALUES ($1, 'CUSTOM-1', 'CPE', 'x') RETURNING item_id",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, "CUSTOM-1");

    let (item, _) = &ids[1];
    tx.execute(
        "UPDATE inventory_items SET status = 'Deployed' WHERE id = $1",
        &[item],
    )
    .await
    .unwrap();
    tx.execute(
        "UPDATE inventory_items SET assigned_customer_id = $2 WHERE id = $1",
        &[item, &client],
    )
    .await
    .unwrap();
    // Nothing changed: nothing logged.
    tx.execute(
        "UPDATE inventory_items SET status = status WHERE id = $1",
        &[item],
    )
    .await
    .unwrap();
    tx.execute(
        "UPDATE inventory_items SET notes = 'n' WHERE id = $1",
        &[item],
    )
    .await
    .unwrap();
    let history: Vec<(String, String, Option<Uuid>)> = tx
        .query(
            "SELECT action, details, performed_by FROM inventory_history
             WHERE inventory_item_id = $1 ORDER BY created_at, id",
            &[item],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let actions: Vec<&str> = history.iter().map(|h| h.0.as_str()).collect();
    // created_at is the transaction time for all: compare as a set plus count.
    assert_eq!(history.len(), 4, "{history:?}");
    for expected in ["Created", "Status Changed", "Assigned", "Updated"] {
        assert!(actions.contains(&expected), "{actions:?}");
    }
    assert!(history.iter().all(|h| h.2 == Some(admin)));
    assert!(
        history
            .iter()
            .any(|h| h.1 == "Status changed from In Stock to Deployed"),
        "{history:?}"
    );
}

/// A client of tenant `t` with a wallet and an ended (or ending) subscription.
async fn renewal_client(
    owner: &tokio_postgres::Client,
    t: Uuid,
    wallet: &str,
    ends_in: &str,
) -> Uuid {
    owner
        .query_one(
            &format!(
                "INSERT INTO clients (tenant_id, user_id, name, phone, status, monthly_rate,
                                      wallet_balance, subscription_type, subscription_end_date)
                 SELECT $1, (SELECT id FROM users WHERE tenant_id = $1 AND role = 'support'),
                        'Renewing', '254722000000', 'active', 1000, {wallet}, 'monthly',
                        now() + interval '{ends_in}'
                 RETURNING id"
            ),
            &[&t],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn renewals_debit_the_wallet_when_it_covers_the_rate_and_suspend_when_not() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let rich = renewal_client(&owner, a, "2500", "-1 hour").await;
    let poor = renewal_client(&owner, a, "400", "-1 hour").await;
    let not_due = renewal_client(&owner, a, "0", "5 days").await;
    let hotspot: Uuid = owner
        .query_one("SELECT id FROM hotspots WHERE tenant_id = $1", &[&a])
        .await
        .unwrap()
        .get(0);
    owner
        .execute(
            "INSERT INTO client_hotspot_access (tenant_id, client_id, hotspot_id, mac_address)
             VALUES ($1, $2, $3, 'AA:BB:CC:DD:EE:01')",
            &[&a, &poor, &hotspot],
        )
        .await
        .unwrap();

    let mut app = db.connect().await;
    let a_text = a.to_string();

    // Directly: too little balance changes nothing.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let report: serde_json::Value = tx
        .query_one("SELECT process_subscription_renewal($1)", &[&poor])
        .await
        .unwrap()
        .get(0);
    assert_eq!(report["success"], false);
    assert_eq!(report["error"], "insufficient_balance");
    assert_eq!(report["shortfall"].as_f64(), Some(600.0));
    tx.commit().await.unwrap();

    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let report: serde_json::Value = tx
        .query_one("SELECT handle_automatic_renewals()", &[])
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();
    assert_eq!(report, serde_json::json!({"renewed": 1, "suspended": 1}));

    let row = owner
        .query_one(
            "SELECT wallet_balance::float8, status,
                    subscription_end_date BETWEEN now() + interval '1 month' - interval '1 minute'
                                              AND now() + interval '1 month' + interval '1 minute'
             FROM clients WHERE id = $1",
            &[&rich],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, f64>(0), 1500.0);
    assert_eq!(row.get::<_, String>(1), "active");
    assert!(row.get::<_, bool>(2), "renewed for one month from now");
    let debits: Vec<f64> = owner
        .query(
            "SELECT amount::float8 FROM wallet_transactions
             WHERE client_id = $1 AND transaction_type = 'debit'",
            &[&rich],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(debits, vec![1000.0]);

    let row = owner
        .query_one(
            "SELECT c.wallet_balance::float8, c.status,
                    (SELECT bool_and(is_blocked) FROM client_hotspot_access WHERE client_id = c.id),
                    (SELECT count(*) FROM network_events
                     WHERE client_id = c.id AND event_type = 'suspend'),
                    (SELECT count(*) FROM notifications
                     WHERE related_entity_id = c.id AND title = 'Service suspended'),
                    (SELECT count(*) FROM wallet_transactions WHERE client_id = c.id)
             FROM clients c WHERE c.id = $1",
            &[&poor],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, f64>(0), 400.0, "nothing debited");
    assert_eq!(row.get::<_, String>(1), "suspended");
    assert_eq!(row.get::<_, Option<bool>>(2), Some(true), "devices blocked");
    assert_eq!(row.get::<_, i64>(3), 1);
    assert_eq!(row.get::<_, i64>(4), 1);
    assert_eq!(row.get::<_, i64>(5), 0);

    let untouched: String = owner
        .query_one("SELECT status FROM clients WHERE id = $1", &[&not_due])
        .await
        .unwrap()
        .get(0);
    assert_eq!(untouched, "active");

    // A top-up, then a renewal: service back, devices unblocked.
    owner
        .execute(
            "UPDATE clients SET wallet_balance = wallet_balance + 1000 WHERE id = $1",
            &[&poor],
        )
        .await
        .unwrap();
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let report: serde_json::Value = tx
        .query_one("SELECT process_subscription_renewal($1)", &[&poor])
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();
    assert_eq!(report["success"], true, "{report}");
    let row = owner
        .query_one(
            "SELECT c.status, c.wallet_balance::float8,
                    (SELECT bool_or(is_blocked) FROM client_hotspot_access WHERE client_id = c.id)
             FROM clients c WHERE c.id = $1",
            &[&poor],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "active");
    assert_eq!(row.get::<_, f64>(1), 400.0);
    assert_eq!(row.get::<_, Option<bool>>(2), Some(false));

    // Another tenant's client is out of reach.
    let b = seed_tenant(&owner, 2).await;
    let b_client = renewal_client(&owner, b, "5000", "-1 hour").await;
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let report: serde_json::Value = tx
        .query_one("SELECT process_subscription_renewal($1)", &[&b_client])
        .await
        .unwrap()
        .get(0);
    assert_eq!(report["error"], "client_not_found");
}

#[tokio::test]
async fn renewal_reminders_go_once_per_period_to_clients_whose_wallet_falls_short() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let short = renewal_client(&owner, a, "300", "2 days").await;
    let covered = renewal_client(&owner, a, "1000", "1 day").await;
    let _later = renewal_client(&owner, a, "0", "20 days").await;
    let mut app = db.connect().await;
    let a_text = a.to_string();

    let mut run = Vec::new();
    for _ in 0..2 {
        let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
        let rows: Vec<(Uuid, bool, bool)> = tx
            .query(
                "SELECT client_id, sufficient_balance, reminded FROM check_wallet_based_renewals()",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        tx.commit().await.unwrap();
        run.push(rows);
    }
    // Ordered by end date; the fixture's client (ends in 10 days) and `later` are not due.
    assert_eq!(run[0], vec![(covered, true, false), (short, false, true)]);
    assert_eq!(run[1], vec![(covered, true, false), (short, false, false)]);
    let notes: i64 = owner
        .query_one(
            "SELECT count(*) FROM notifications WHERE related_entity_id = $1 AND type = 'renewal'",
            &[&short],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(notes, 1);
}

#[tokio::test]
async fn a_new_message_notifies_its_recipient_and_updated_at_follows_changes() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let users: Vec<Uuid> = owner
        .query(
            "SELECT id FROM users WHERE tenant_id = $1 ORDER BY email",
            &[&a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (admin, staff) = (users[0], users[1]);
    let mut app = db.connect().await;
    let a_text = a.to_string();
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), Some(staff)).await;
    let msg: Uuid = tx
        .query_one(
            "INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content)
             VALUES ($1, $2, $3, 'Tower 4 is down', 'Please check the sector') RETURNING id",
            &[&a, &staff, &admin],
        )
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();

    // The recipient sees it; the sender does not get a notification of their own message.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), Some(admin)).await;
    let rows = tx
        .query(
            "SELECT title, type, related_entity_id FROM notifications WHERE related_entity_id = $1",
            &[&msg],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "New message: Tower 4 is down");
    assert_eq!(rows[0].get::<_, String>(1), "message");
    drop(tx);
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), Some(staff)).await;
    let n = tx
        .query(
            "SELECT 1 FROM notifications WHERE related_entity_id = $1",
            &[&msg],
        )
        .await
        .unwrap()
        .len();
    assert_eq!(n, 0);
    drop(tx);

    owner
        .execute(
            "UPDATE hotspots SET updated_at = now() - interval '1 day' WHERE tenant_id = $1",
            &[&a],
        )
        .await
        .unwrap();
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let fresh: bool = tx
        .query_one(
            "UPDATE hotspots SET ssid = 'Renamed' RETURNING updated_at > now() - interval '1 minute'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(fresh);
}

#[tokio::test]
async fn sessions_are_kept_in_monthly_partitions() {
    let db = migrated_db().await;
    let owner = db.connect().await;
    let a = seed_tenant(&owner, 1).await;
    let mut app = db.connect().await;
    let a_text = a.to_string();
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    // A router back after months offline pushes an old session: the default partition takes it.
    let old: Uuid = tx
        .query_one(
            "INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, start_time, end_time,
                                           session_status)
             SELECT $1, id, 'AA:BB:CC:77:88:99', timestamptz '2025-03-10 08:00:00+00',
                    timestamptz '2025-03-10 09:00:00+00', 'ended'
             FROM hotspots RETURNING id",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    let partition_of = |sql_id: Uuid| {
        format!("SELECT tableoid::regclass::text FROM hotspot_sessions WHERE id = '{sql_id}'")
    };
    let place: String = tx.query_one(&partition_of(old), &[]).await.unwrap().get(0);
    assert_eq!(place, "hotspot_sessions_default");
    // The current month has its partition already.
    let current: String = tx
        .query_one(
            "SELECT tableoid::regclass::text FROM hotspot_sessions
             WHERE tenant_id = $1 AND mac_address = 'AA:BB:CC:00:00:01'",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    let expected: String = tx
        .query_one(
            "SELECT 'hotspot_sessions_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(current, expected);

    let created: i32 = tx
        .query_one(
            "SELECT create_monthly_partitions('hotspot_sessions', 0, timestamptz '2025-03-01')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 1);
    let place: String = tx.query_one(&partition_of(old), &[]).await.unwrap().get(0);
    assert_eq!(place, "hotspot_sessions_2025_03");
    tx.commit().await.unwrap();

    // Only the month-partitioned tables are accepted.
    let tx = begin_as(&mut app, "hotspot_app", Some(&a_text), None).await;
    let err = tx
        .query_one("SELECT create_monthly_partitions('clients', 1)", &[])
        .await
        .unwrap_err();
    assert!(
        err.as_db_error()
            .is_some_and(|e| e.message().contains("not a table partitioned by month")),
        "{err}"
    );
}
