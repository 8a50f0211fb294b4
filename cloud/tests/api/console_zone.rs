//! The console reads and shows every time in the tenant's time zone: the site list and a site's
//! page, guests online, session history and its date filter, payments, the accounts list. A
//! zone of +5:45 (Kathmandu) makes a time read in UTC, or in another zone, show.

use uuid::Uuid;

use crate::console::{Browser, paid_purchase, site_id};
use crate::operators::Api;

/// 2026-03-10 23:30 UTC, which is 2026-03-11 05:15 in Kathmandu.
const LATE: &str = "2026-03-10 23:30:00+00";
/// 2026-03-10 12:00 UTC, which is 2026-03-10 17:45 in Kathmandu.
const NOON: &str = "2026-03-10 12:00:00+00";

async fn set_zone(api: &Api, tenant: Uuid, zone: &str) {
    api.owner
        .execute(
            "UPDATE tenants SET timezone = $2 WHERE id = $1",
            &[&tenant, &zone],
        )
        .await
        .unwrap();
}

async fn session(api: &Api, site: Uuid, mac: &str, status: &str, start: &str) {
    api.owner
        .execute(
            "INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, session_status,
                 start_time, end_time)
             VALUES ((SELECT tenant_id FROM hotspots WHERE id = $1), $1, $2, $3::text,
                     $4::text::timestamptz,
                     CASE WHEN $3::text = 'active' THEN NULL
                          ELSE $4::text::timestamptz + interval '1 hour' END)",
            &[&site, &mac, &status, &start],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn every_page_shows_its_times_in_the_tenants_zone() {
    let api = Api::new().await;
    let admin = api.user(api.a, "admin@a.test", &["tenant_admin"]).await;
    set_zone(&api, api.a, "Asia/Kathmandu").await;
    let site = site_id(&api, api.a).await;
    api.owner
        .execute(
            "INSERT INTO hotspot_devices (tenant_id, hotspot_id, hostname, last_seen_at)
             VALUES ((SELECT tenant_id FROM hotspots WHERE id = $1), $1, 'router-z',
                     $2::text::timestamptz)",
            &[&site, &LATE],
        )
        .await
        .unwrap();
    session(&api, site, "aa:bb:cc:20:00:01", "active", LATE).await;
    session(&api, site, "aa:bb:cc:20:00:02", "ended", LATE).await;
    session(&api, site, "aa:bb:cc:20:00:03", "ended", NOON).await;

    let mut b = Browser::new(&api);
    b.sign_in("admin@a.test").await;
    // (after signing in, which sets it to now)
    api.owner
        .execute(
            "UPDATE users SET last_login_at = $2::text::timestamptz WHERE id = $1",
            &[&admin, &NOON],
        )
        .await
        .unwrap();
    let sites = b.get("/console/sites").await;
    assert!(sites.body.contains("Asia/Kathmandu"), "the zone is named");
    assert!(sites.body.contains("2026-03-11 05:15"), "last seen");
    let page = b.get(&format!("/console/sites/{site}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("2026-03-11 05:15"), "last seen");
    assert!(
        !page.body.contains("2026-03-10 23:30"),
        "a guest's start in UTC beside a last-seen in the tenant's zone"
    );
    let live = b.get("/console/sessions").await;
    assert!(live.body.contains("2026-03-11 05:15") && !live.body.contains("2026-03-10 23:30"));
    let history = b.get("/console/sessions/history").await;
    assert!(history.body.contains("2026-03-11 06:15"), "an end");
    assert!(history.body.contains("2026-03-10 17:45"));
    assert!(
        !history.body.contains("2026-03-10 23:30") && !history.body.contains("2026-03-10 12:00")
    );
    let settings = b.get("/console/settings").await;
    assert!(settings.body.contains("2026-03-10 17:45"), "a last sign-in");

    // A day named in a filter is the tenant's day: 05:15 on the 11th is in it, 17:45 on the
    // 10th is not (in UTC both are on the 10th).
    let from = b.get("/console/sessions/history?from=2026-03-11").await;
    assert!(from.body.contains("aa:bb:cc:20:00:02"));
    assert!(!from.body.contains("aa:bb:cc:20:00:03"));
    let to = b.get("/console/sessions/history?to=2026-03-11").await;
    assert!(to.body.contains("aa:bb:cc:20:00:03"));
    assert!(!to.body.contains("aa:bb:cc:20:00:02"));

    // Payments: the list's time and its day filter.
    paid_purchase(&api, api.a, "RCPTZONE01", None).await;
    api.owner
        .execute(
            "UPDATE hotspot_purchases SET created_at = $2::text::timestamptz
             WHERE tenant_id = $1",
            &[&api.a, &LATE],
        )
        .await
        .unwrap();
    let payments = b.get("/console/payments").await;
    assert!(
        payments.body.contains("2026-03-11 05:15"),
        "{}",
        payments.body
    );
    let that_day = b
        .get("/console/payments?from=2026-03-11&to=2026-03-12")
        .await;
    assert!(that_day.body.contains("2026-03-11 05:15"));
    let day_before = b
        .get("/console/payments?from=2026-03-10&to=2026-03-11")
        .await;
    assert!(!day_before.body.contains("2026-03-11 05:15"));
}

#[tokio::test]
async fn a_zone_postgresql_does_not_know_reads_as_utc_and_breaks_no_page() {
    let api = Api::new().await;
    api.user(api.a, "admin@a.test", &["tenant_admin"]).await;
    set_zone(&api, api.a, "Mars/Olympus_Mons").await;
    let site = site_id(&api, api.a).await;
    session(&api, site, "aa:bb:cc:20:00:04", "active", LATE).await;
    let mut b = Browser::new(&api);
    b.sign_in("admin@a.test").await;
    for path in [
        "/console/".to_owned(),
        "/console/sites".to_owned(),
        format!("/console/sites/{site}"),
        "/console/sessions".to_owned(),
        "/console/sessions/history?from=2026-03-10".to_owned(),
        "/console/payments".to_owned(),
        "/console/clients".to_owned(),
        "/console/tickets".to_owned(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(
            page.body.contains(">Times are in the time zone UTC<"),
            "{path}"
        );
    }
    let live = b.get("/console/sessions").await;
    assert!(live.body.contains("2026-03-10 23:30"));
}
