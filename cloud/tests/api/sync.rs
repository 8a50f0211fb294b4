//! Router provisioning and edge sync over HTTP against PostgreSQL.

use std::io::Write;

use chrono::{Duration, Utc};
use hotspot_cloud::sync::device;
use hotspot_shared::sync::{Change, EdgeAction, PullResponse, PushRequest, PushResponse};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, seed_tenant, spawn_app};

const PUSH_FIXTURE: &str = include_str!("../../../shared/fixtures/sync/push_request.json");
const FIXTURE_VOUCHER: &str = "K7QXM3PZ9A";

struct Site {
    tenant: Uuid,
    hotspot: Uuid,
    token: String,
}

/// A tenant from the fixture, with a router claimed over HTTP.
async fn site(app: &TestApp, owner: &tokio_postgres::Client, n: u8) -> Site {
    let tenant = seed_tenant(owner, n).await;
    let hotspot: Uuid = owner
        .query_one("SELECT id FROM hotspots WHERE tenant_id = $1", &[&tenant])
        .await
        .unwrap()
        .get(0);
    let token = claim_router(app, tenant, hotspot).await;
    Site {
        tenant,
        hotspot,
        token,
    }
}

/// Claims a router for `hotspot` over HTTP; returns its token.
pub async fn claim_router(app: &TestApp, tenant: Uuid, hotspot: Uuid) -> String {
    let code = device::create_claim_code(
        &app.pool,
        tenant,
        hotspot,
        None,
        Utc::now() + Duration::hours(1),
    )
    .await
    .unwrap();
    let resp = http()
        .post(app.url("/sync/v1/claim"))
        .json(&json!({"code": code.code.to_lowercase(), "hostname": "cafe-router", "version": "0.1.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let claimed: device::ClaimResponse = resp.json().await.unwrap();
    assert_eq!(claimed.hotspot_id, hotspot);
    claimed.token
}

fn http() -> reqwest::Client {
    hotspot_cloud::mpesa::client::http_client().unwrap()
}

async fn push_json(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let resp = http()
        .post(app.url("/sync/v1/events"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn pull(app: &TestApp, token: &str, cursor: Option<&str>, limit: usize) -> PullResponse {
    let mut url = format!("{}?limit={limit}", app.url("/sync/v1/changes"));
    if let Some(c) = cursor {
        url.push_str(&format!("&cursor={c}"));
    }
    let resp = http().get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Rows the sync writes, counted, so tests can show a refused request changed nothing.
async fn footprint(owner: &tokio_postgres::Client) -> Vec<i64> {
    let mut out = Vec::new();
    for t in [
        "edge_events",
        "hotspot_sessions",
        "hotspot_voucher_redemptions",
        "hotspot_analytics",
        "hotspot_device_health",
    ] {
        out.push(
            owner
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .await
                .unwrap()
                .get(0),
        );
    }
    out
}

#[tokio::test]
async fn a_claim_code_works_once_and_only_hashes_are_kept() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let s = site(&app, &owner, 1).await;
    let row = owner
        .query_one(
            "SELECT token_hash, claim_code_hash, hostname FROM hotspot_devices
             WHERE tenant_id = $1 AND claimed_at IS NOT NULL",
            &[&s.tenant],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<u8>>(0), device::hash(&s.token));
    assert!(row.get::<_, Option<Vec<u8>>>(1).is_none(), "code burnt");
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some("cafe-router")
    );

    // Used, wrong and expired codes are all refused.
    let expired = device::create_claim_code(
        &app.pool,
        s.tenant,
        s.hotspot,
        None,
        Utc::now() - Duration::minutes(1),
    )
    .await
    .unwrap();
    for code in [expired.code.as_str(), "ABCD-EFGH-JKMN", "nonsense"] {
        let resp = http()
            .post(app.url("/sync/v1/claim"))
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{code}");
    }
}

#[tokio::test]
async fn the_fixture_batch_lands_once_however_often_it_is_sent() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let s = site(&app, &owner, 1).await;
    owner
        .execute(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes, max_devices)
             VALUES ($1, $2, $3, 60, 1)",
            &[&s.tenant, &s.hotspot, &FIXTURE_VOUCHER],
        )
        .await
        .unwrap();
    let push: PushRequest = serde_json::from_str(PUSH_FIXTURE).unwrap();
    let body = serde_json::to_value(&push).unwrap();
    let (status, first) = push_json(&app, &s.token, &body).await;
    assert_eq!(status, 200, "{first}");
    let first: PushResponse = serde_json::from_value(first).unwrap();
    assert_eq!((first.accepted, first.duplicates), (7, 0));
    assert!(first.actions.is_empty());
    let after_first = footprint(&owner).await;

    let session = owner
        .query_one(
            "SELECT session_status, data_used_mb::float8, duration_minutes, voucher_code, hotspot_id
             FROM hotspot_sessions WHERE id = '5d3f2b8a-1c4e-4f6a-8b9d-0e1f2a3b4c5d'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(session.get::<_, String>(0), "expired");
    assert_eq!(session.get::<_, f64>(1), 108.0);
    assert_eq!(session.get::<_, i32>(2), 60);
    assert_eq!(session.get::<_, String>(3), FIXTURE_VOUCHER);
    assert_eq!(session.get::<_, Uuid>(4), s.hotspot);
    let voucher = owner
        .query_one(
            "SELECT is_used, used_by_mac FROM hotspot_vouchers WHERE voucher_code = $1",
            &[&FIXTURE_VOUCHER],
        )
        .await
        .unwrap();
    assert!(voucher.get::<_, bool>(0));
    assert_eq!(voucher.get::<_, String>(1), "da:a1:19:2b:3c:4d");
    let analytics: i32 = owner
        .query_one(
            "SELECT total_sessions FROM hotspot_analytics WHERE hotspot_id = $1 AND date = '2026-11-22'",
            &[&s.hotspot],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(analytics, 214);
    // The router's health report is kept as a sample (the console's router health graph).
    let health = owner
        .query_one(
            "SELECT hotspot_id, uptime_s, clients_online, outbox_len FROM hotspot_device_health
             WHERE hotspot_id = $1 AND outbox_len = 7",
            &[&s.hotspot],
        )
        .await
        .unwrap();
    assert_eq!(health.get::<_, Uuid>(0), s.hotspot);
    assert_eq!(
        (
            health.get::<_, i64>(1),
            health.get::<_, i32>(2),
            health.get::<_, i32>(3)
        ),
        (7250, 12, 7)
    );

    // The same batch again, gzip this time: all duplicates, nothing changes.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    let resp = http()
        .post(app.url("/sync/v1/events"))
        .bearer_auth(&s.token)
        .header("content-encoding", "gzip")
        .header("content-type", "application/json")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let again: PushResponse = resp.json().await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 7));
    assert_eq!(footprint(&owner).await, after_first);
}

#[tokio::test]
async fn bad_credentials_and_bad_batches_change_nothing() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let a = site(&app, &owner, 1).await;
    let b = site(&app, &owner, 2).await;
    let good =
        serde_json::to_value(serde_json::from_str::<PushRequest>(PUSH_FIXTURE).unwrap()).unwrap();
    let before = footprint(&owner).await;

    for token in ["", "hsd_wrong", "token-t1", &format!("{}x", a.token)] {
        assert_eq!(push_json(&app, token, &good).await.0, 401, "{token:?}");
    }
    let resp = http()
        .get(app.url("/sync/v1/changes"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "no token");

    let mut v2 = good.clone();
    v2["version"] = 2.into();
    assert_eq!(push_json(&app, &a.token, &v2).await.0, 400);
    let mut broken = good.clone();
    broken["events"][0]["data"]["mac"] = "not-a-mac".into();
    assert_eq!(push_json(&app, &a.token, &broken).await.0, 422);
    let mut bad_date = good.clone();
    bad_date["events"][5]["data"]["date"] = "22/11/2026".into();
    assert_eq!(push_json(&app, &a.token, &bad_date).await.0, 422);
    let mut many = good.clone();
    let one = good["events"][4].clone();
    many["events"] = Value::Array(
        (0..501)
            .map(|i| {
                let mut e = one.clone();
                e["id"] = Uuid::from_u128(i).to_string().into();
                e
            })
            .collect(),
    );
    assert_eq!(push_json(&app, &a.token, &many).await.0, 413);
    let huge = vec![b' '; hotspot_shared::sync::MAX_PUSH_BYTES + 1];
    let resp = http()
        .post(app.url("/sync/v1/events"))
        .bearer_auth(&a.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        footprint(&owner).await,
        before,
        "refused requests wrote nothing"
    );

    // A revoked router is refused; another tenant's router cannot reach A's sessions.
    let (status, _) = push_json(&app, &a.token, &good).await;
    assert_eq!(status, 200);
    let b_device: Uuid = owner
        .query_one(
            "SELECT id FROM hotspot_devices WHERE tenant_id = $1 AND claimed_at IS NOT NULL",
            &[&b.tenant],
        )
        .await
        .unwrap()
        .get(0);
    assert!(device::revoke(&app.pool, b.tenant, b_device).await.unwrap());
    assert_eq!(push_json(&app, &b.token, &good).await.0, 401);
    let status: String = owner
        .query_one("SELECT session_status FROM hotspot_sessions WHERE id = '5d3f2b8a-1c4e-4f6a-8b9d-0e1f2a3b4c5d'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "expired");
}

#[tokio::test]
async fn an_offline_redemption_past_max_devices_is_refused_with_a_reason() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let s = site(&app, &owner, 1).await;
    owner
        .execute(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes, max_devices)
             VALUES ($1, $2, 'SHARE23456', 60, 1)",
            &[&s.tenant, &s.hotspot],
        )
        .await
        .unwrap();
    let clock = json!({"boot_id": Uuid::nil(), "uptime_ms": 10, "wall_ms": 1_795_000_000_000i64, "wall_trusted": true});
    let redeem = |mac: &str| {
        json!({"version": 1, "sent": clock, "events": [{
            "id": Uuid::new_v4(), "at": clock, "kind": "voucher_redeemed",
            "data": {"voucher_code": "SHARE23456", "mac": mac, "session_id": Uuid::from_u128(mac.len() as u128 + mac.as_bytes()[16] as u128)}
        }]})
    };
    let (_, first) = push_json(&app, &s.token, &redeem("02:00:00:00:00:01")).await;
    assert_eq!(first["actions"], json!([]));
    let (_, same) = push_json(&app, &s.token, &redeem("02:00:00:00:00:01")).await;
    assert_eq!(same["actions"], json!([]), "the same device again is fine");
    let (_, second) = push_json(&app, &s.token, &redeem("02:00:00:00:00:02")).await;
    let second: PushResponse = serde_json::from_value(second).unwrap();
    match &second.actions[..] {
        [EdgeAction::EndSession { message, .. }] => {
            assert_eq!(message, "This voucher is already in use on 1 device.")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn pulls_deliver_every_change_once_in_pages_and_never_skip_a_late_commit() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let a = site(&app, &owner, 1).await;
    let b = site(&app, &owner, 2).await;
    owner
        .execute(
            "INSERT INTO service_packages (tenant_id, name, package_type, download_mbps, upload_mbps, price, duration_minutes)
             VALUES ($1, '1 hour', 'hotspot', 5, 2, 20, 60)",
            &[&a.tenant],
        )
        .await
        .unwrap();

    // Everything so far, one change a page. Changes of transactions still running anywhere in the
    // cluster (other tests) wait for them to finish, so pull until all kinds have come.
    let (all, cursor) = drain(&app, &a.token, None, 1, |all| {
        all.len() >= 5 && all.iter().any(|c| matches!(c, Change::PlanUpsert(_)))
    })
    .await;
    let kinds: Vec<&str> = all
        .iter()
        .map(|c| match c {
            Change::PlanUpsert(_) => "plan",
            Change::VoucherUpsert(_) => "voucher",
            Change::AccessUpsert(_) => "access",
            Change::Setting { .. } => "setting",
            Change::Kick { .. } => "kick",
            _ => "delete",
        })
        .collect();
    for k in ["plan", "voucher", "access", "setting", "kick"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?} {all:?}");
    }
    let codes: Vec<&str> = all
        .iter()
        .filter_map(|c| {
            if let Change::VoucherUpsert(v) = c {
                Some(v.code.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(codes, ["Vt1"], "only this hotspot's vouchers");
    let empty = pull(&app, &a.token, Some(&cursor), 100).await;
    assert!(empty.changes.is_empty() && !empty.more);

    // A transaction that started first but commits last is delivered on a later pull. Its
    // voucher expires on another day than Vt1, so the two writers count into different rows
    // of the voucher stock roll-up (0040) and the delete does not wait for this transaction.
    let mut slow = app.owner().await;
    let tx = slow.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes, expiry_date) VALUES ($1, $2, 'LATE234567', 30, now() + interval '30 days')",
        &[&a.tenant, &a.hotspot],
    )
    .await
    .unwrap();
    owner
        .execute(
            "DELETE FROM hotspot_vouchers WHERE voucher_code = 'Vt1'",
            &[],
        )
        .await
        .unwrap();
    let page = pull(&app, &a.token, Some(&empty.cursor), 100).await;
    assert!(
        page.changes.is_empty(),
        "nothing past an open transaction yet: {:?}",
        page.changes
    );
    tx.commit().await.unwrap();
    let (changes, _) = drain(&app, &a.token, Some(page.cursor), 100, |c| c.len() >= 2).await;
    let got: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::VoucherUpsert(v) => format!("upsert {}", v.code),
            Change::VoucherDelete { .. } => "delete".to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(got, ["upsert LATE234567", "delete"]);

    // The other tenant's router sees none of it.
    let theirs = pull(&app, &b.token, None, 1000).await;
    assert!(
        theirs
            .changes
            .iter()
            .all(|c| !matches!(c, Change::VoucherUpsert(v) if v.code != "Vt2"))
    );
    assert!(
        !theirs
            .changes
            .iter()
            .any(|c| matches!(c, Change::PlanUpsert(_)))
    );

    let bad = http()
        .get(format!("{}?cursor=c1.x", app.url("/sync/v1/changes")))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn a_rotated_token_replaces_the_old_one() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let s = site(&app, &owner, 1).await;
    let resp = http()
        .post(app.url("/sync/v1/rotate"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let new: Value = resp.json().await.unwrap();
    let new = new["token"].as_str().unwrap();
    assert_eq!(pull_status(&app, &s.token).await, 401);
    assert_eq!(pull_status(&app, new).await, 200);
}

/// Pulls page after page until `done` says the changes gathered are complete (bounded: 10 s).
async fn drain(
    app: &TestApp,
    token: &str,
    mut cursor: Option<String>,
    limit: usize,
    done: impl Fn(&[Change]) -> bool,
) -> (Vec<Change>, String) {
    // Bounded by time, not by pulls: the transactions of other tests running in the same cluster
    // hold the pull horizon back, for longer on a loaded machine.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut all = Vec::new();
    while std::time::Instant::now() < deadline {
        let page = pull(app, token, cursor.as_deref(), limit).await;
        all.extend(page.changes);
        cursor = Some(page.cursor);
        if !page.more {
            if done(&all) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
    (all, cursor.unwrap_or_default())
}

async fn pull_status(app: &TestApp, token: &str) -> u16 {
    http()
        .get(app.url("/sync/v1/changes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn log_rows(owner: &tokio_postgres::Client) -> i64 {
    owner
        .query_one("SELECT count(*) FROM sync_changes", &[])
        .await
        .unwrap()
        .get(0)
}

/// The change log's rows for the voucher with `code`.
async fn voucher_log_rows(owner: &tokio_postgres::Client, code: &str) -> i64 {
    owner
        .query_one(
            "SELECT count(*) FROM sync_changes c JOIN hotspot_vouchers v ON v.id = c.entity_id
             WHERE v.voucher_code = $1",
            &[&code],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn compaction_keeps_one_row_per_entity_and_routers_still_see_every_change() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let s = site(&app, &owner, 1).await;
    let other: Uuid = owner
        .query_one(
            "INSERT INTO hotspots (tenant_id, name, location, ssid)
             VALUES ($1, 'Second stage', 'Town', 'Stage-WiFi') RETURNING id",
            &[&s.tenant],
        )
        .await
        .unwrap()
        .get(0);
    owner
        .execute(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes)
             VALUES ($1, $2, 'MOVE234567', 10)",
            &[&s.tenant, &s.hotspot],
        )
        .await
        .unwrap();
    // A router that is up to date, the voucher to be moved included, before the edits below.
    let (_, before) = drain(&app, &s.token, None, 500, |all| {
        all.iter()
            .any(|c| matches!(c, Change::VoucherUpsert(v) if v.code == "MOVE234567"))
    })
    .await;
    // One voucher made and edited four times; the other moved to the second hotspot; an old
    // kick.
    owner
        .batch_execute(&format!(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes)
             VALUES ('{t}', '{h}', 'EDIT234567', 10);
             UPDATE hotspot_vouchers SET duration_minutes = 20 WHERE voucher_code = 'EDIT234567';
             UPDATE hotspot_vouchers SET duration_minutes = 30 WHERE voucher_code = 'EDIT234567';
             UPDATE hotspot_vouchers SET duration_minutes = 40 WHERE voucher_code = 'EDIT234567';
             UPDATE hotspot_vouchers SET duration_minutes = 50 WHERE voucher_code = 'EDIT234567';
             UPDATE hotspot_vouchers SET hotspot_id = '{o}' WHERE voucher_code = 'MOVE234567';
             INSERT INTO service_packages (tenant_id, name, package_type, download_mbps,
                                           upload_mbps, price, duration_minutes)
             VALUES ('{t}', 'Compact pass', 'hotspot', 5, 2, 20, 60);
             UPDATE service_packages SET price = 25 WHERE name = 'Compact pass';
             INSERT INTO hotspot_session_kicks (tenant_id, hotspot_id, session_id, session_start,
                                                mac_address, requested_at)
             VALUES ('{t}', '{h}', gen_random_uuid(), now(), '02:00:00:00:00:77',
                     now() - interval '2 hours');
             UPDATE sync_changes SET changed_at = now() - interval '2 hours'
             WHERE entity = 'kick' AND entity_key = '02:00:00:00:00:77';",
            t = s.tenant,
            h = s.hotspot,
            o = other,
        ))
        .await
        .unwrap();
    assert_eq!(voucher_log_rows(&owner, "EDIT234567").await, 5);
    // Made, then moved: a row for the hotspot it left and one for the hotspot it joined.
    assert_eq!(voucher_log_rows(&owner, "MOVE234567").await, 3);
    let at_start = log_rows(&owner).await;

    // Rows newer than a transaction still open anywhere in the cluster (other tests) wait for it,
    // so compact until the edited voucher is down to one row (bounded: 60 s, for a loaded machine).
    let mut removed = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        removed += hotspot_cloud::sync::compact::run_once(&app.pool)
            .await
            .unwrap();
        if voucher_log_rows(&owner, "EDIT234567").await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        voucher_log_rows(&owner, "EDIT234567").await,
        1,
        "only the last edit's row stays"
    );
    assert_eq!(
        voucher_log_rows(&owner, "MOVE234567").await,
        2,
        "a move keeps the last row for each hotspot: the first one's router must hear it went"
    );
    let old_kicks: i64 = owner
        .query_one(
            "SELECT count(*) FROM sync_changes WHERE entity_key = '02:00:00:00:00:77'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(old_kicks, 0, "a kick past its hour is gone");
    let plan_rows: i64 = owner
        .query_one(
            "SELECT count(*) FROM sync_changes c JOIN service_packages p ON p.id = c.entity_id
             WHERE p.name = 'Compact pass'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        plan_rows, 2,
        "a plan keeps its first row, ahead of its vouchers"
    );
    assert!(removed >= 5, "removed {removed}");
    assert_eq!(log_rows(&owner).await, at_start - removed as i64);

    // The router that was up to date hears the last state of each, and that the moved one left.
    let (changes, _) = drain(&app, &s.token, Some(before), 500, |c| c.len() >= 2).await;
    let edited = changes.iter().find_map(|c| match c {
        Change::VoucherUpsert(v) if v.code == "EDIT234567" => Some(v.duration_minutes),
        _ => None,
    });
    assert_eq!(edited, Some(Some(50)), "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::VoucherDelete { .. })),
        "the moved voucher is deleted on the first hotspot's router: {changes:?}"
    );
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::VoucherUpsert(v) if v.code == "MOVE234567")),
        "{changes:?}"
    );
    assert!(
        !changes.iter().any(|c| matches!(c, Change::Kick { .. })),
        "{changes:?}"
    );
    // A new router gets the current state too.
    let (fresh, _) = drain(&app, &s.token, None, 500, |all| {
        all.iter()
            .any(|c| matches!(c, Change::VoucherUpsert(v) if v.code == "EDIT234567"))
    })
    .await;
    assert!(
        fresh
            .iter()
            .any(|c| matches!(c, Change::VoucherUpsert(v) if v.code == "EDIT234567" && v.duration_minutes == Some(50)))
    );
    // Nothing more to remove.
    assert_eq!(
        hotspot_cloud::sync::compact::run_once(&app.pool)
            .await
            .unwrap(),
        0
    );
}

/// The database drops the service's connections again and again while a router pushes (a
/// primary restarting, a failover): every push is answered 200, after retrying on a new
/// connection where needed, and the batch lands once.
#[tokio::test]
async fn pushes_ride_out_lost_database_connections_and_land_once() {
    let app = spawn_app().await;
    let owner = app.owner().await;
    let s = site(&app, &owner, 7).await;
    owner
        .execute(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes, max_devices)
             VALUES ($1, $2, $3, 60, 1)",
            &[&s.tenant, &s.hotspot, &FIXTURE_VOUCHER],
        )
        .await
        .unwrap();
    let before = footprint(&owner).await;
    let body =
        serde_json::to_value(serde_json::from_str::<PushRequest>(PUSH_FIXTURE).unwrap()).unwrap();
    let db_name: String = owner
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    // Terminates every other connection to the database every 30 ms for a while.
    let killer = {
        let owner = app.owner().await;
        tokio::spawn(async move {
            let mut killed = 0i64;
            for _ in 0..60 {
                killed += owner
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&db_name],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0);
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            }
            killed
        })
    };
    let mut accepted = 0;
    for _ in 0..15 {
        let (status, v) = push_json(&app, &s.token, &body).await;
        assert_eq!(status, 200, "{v}");
        accepted += v["accepted"].as_u64().unwrap();
    }
    let killed = killer.await.unwrap();
    assert!(killed > 0, "connections were really dropped");
    // Seven new events at most: a commit whose answer the killed connection never delivered
    // is retried and then reported as duplicates, which the router treats the same.
    assert!(accepted <= 7, "{accepted}");
    // A new connection: the killer closed the first one too.
    let owner = app.owner().await;
    let after = footprint(&owner).await;
    assert_eq!(after[0] - before[0], 7, "seven events stored, none twice");
}
