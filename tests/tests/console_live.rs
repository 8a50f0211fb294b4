//! The console's live operations in headless Chromium, against a real hotspotd: the demo tenant
//! on hotspot-cloud with the Daraja simulator, a hotspotd claimed to its first site (syncing every
//! second, the recording firewall standing for nftables), and a guest at 127.0.0.1 whose phone
//! the operators' API registers as a device.
//!
//! The guest logs in with a voucher over HTTP; the operator finds the live session on the guests
//! page and on the site's page, extends it and kicks it from the site's page (landing back
//! there each time); the extension and the kick reach PostgreSQL at once and the router on its
//! next pull (its SQLite and its portal's status answer). The guest then buys a package with
//! M-Pesa on the portal (the simulator answering for Safaricom); the operator finds the purchase
//! with its receipt number on the payments page, then blocks the phone with a reason on the
//! devices page: PostgreSQL keeps the reason, the router ends the paid session and its portal
//! shows the guest the reason. Screenshots go to `target/tmp/console-live-screenshots/`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use hotspot_system_tests::browser::Browser;
use hotspot_system_tests::stack::{Db, PaymentsCloud, Router};
use serde_json::{Value, json};

const OPERATOR: &str = "operator@demo.hotspot.test";
const PASSWORD: &str = "console-live-pass";
/// A demo voucher of the first site (one hour).
const VOUCHER: &str = "DEM2VW3HKA";
/// A number the simulator pays for (its last four digits choose success), and as M-Pesa
/// writes it back.
const PHONE: &str = "0712 345 678";
const MSISDN: &str = "254712345678";
const REASON: &str = "Shares the paid voucher with strangers";
/// How long a change may take to reach the router. The router pulls every second, but the cloud
/// delivers only changes older than the oldest transaction still writing anywhere on the
/// PostgreSQL server (`sync_horizon()`), so another database's long transaction on a shared
/// test server holds every pull back until it ends.
const PULL_SECS: u64 = 120;

/// Where the screenshots go (kept as test artifacts under the target directory).
fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("console-live-screenshots")
        .join(format!("{name}.png"))
}

/// One HTTP/1.1 exchange with 127.0.0.1:`port` (the guest's address): status and body.
fn http(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(port: u16, path: &str) -> (u16, String) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

fn post(port: u16, path: &str, content_type: &str, extra: &str, body: &str) -> (u16, String) {
    http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
             {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// The portal's form token for this address.
fn portal_token(port: u16) -> String {
    let (_, body) = get(port, "/");
    let at = body.find("name=\"token\" value=\"").expect("a form token") + 20;
    body[at..at + 32].to_owned()
}

/// The operators' API as a script would use it: JSON in, JSON out.
fn api(port: u16, path: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let (status, text) = post(port, path, "application/json", &auth, &body.to_string());
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Polls `ok` every 200 ms; after `secs` seconds panics naming `what`, with the logs.
fn wait(logs: &dyn Fn() -> String, what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {secs} s{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls the page until `script` returns true; panics with the page's text after `secs`.
fn wait_in_page(browser: &Browser, what: &str, secs: u64, script: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while browser.script(script) != Value::Bool(true) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {secs} s at {}: {}",
            browser.url(),
            browser.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The visible text of the table row holding the element `selector`.
fn row_text(browser: &Browser, selector: &str) -> String {
    let script = format!(
        "const e = document.querySelector({selector:?}); return e ? e.closest('tr').innerText : ''"
    );
    browser
        .script(&script)
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_operator_kicks_a_live_guest_blocks_the_device_and_finds_the_payment() {
    let Some(db) = Db::new("console_live") else {
        return;
    };
    let Some(browser) = Browser::start() else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let stack = PaymentsCloud::start_with(
        &db,
        &logs.path().join("cloud.log"),
        &[
            ("HOTSPOT_DEMO_PASSWORD", PASSWORD.to_owned()),
            // Plain HTTP on loopback: cookies without Secure, as in development.
            ("HOTSPOT_CONSOLE_INSECURE_COOKIES", "1".to_owned()),
        ],
    );
    let base = format!("http://127.0.0.1:{}", stack.port);
    let router = Router::claim(&db, stack.port, "[sync]\ninterval_seconds = 1\n");
    let _edge = router.start();
    let portal = router.portal_port;
    let site = router.hotspot.clone();
    let site_name = db.query(&format!("SELECT name FROM hotspots WHERE id = '{site}'"));
    let mac = Router::MAC;
    // The portal's form token for the guest's address (good for an hour at least).
    let token = portal_token(portal);
    let logs_of = || {
        format!(
            "\ncloud: {}\nhotspotd: {}\nthe router's access list: {:?}, vouchers: {:?}, \
             sessions: {:?}\ntransactions writing for more than 5 s on the server: {:?}",
            std::fs::read_to_string(logs.path().join("cloud.log")).unwrap_or_default(),
            std::fs::read_to_string(router.log()).unwrap_or_default(),
            router.query(
                "SELECT group_concat(mac_address || ' ' || is_blocked || ' ' || id) FROM access_list"
            ),
            router.query("SELECT CAST(count(*) AS TEXT) FROM vouchers"),
            router.query(
                "SELECT group_concat(mac_address || ' ' || session_status || ' ' \
                 || coalesce(end_reason, '')) FROM sessions"
            ),
            // The cloud's pulls deliver only changes older than the oldest transaction still
            // writing anywhere on the PostgreSQL server: one held open stalls every router.
            db.query(
                "SELECT string_agg(datname || ' ' || state || ' for ' \
                 || date_trunc('second', now() - xact_start), '; ') \
                 FROM pg_stat_activity WHERE backend_xid IS NOT NULL \
                 AND xact_start < now() - interval '5 seconds'"
            ),
        )
    };

    // The guest's phone registered at the site through the operators' API (the console has no
    // form for it yet), without auto-connect: the guest still logs in with a voucher.
    let (status, login) = api(
        stack.port,
        "/api/v1/auth/login",
        None,
        &json!({"email": OPERATOR, "password": PASSWORD}),
    );
    assert_eq!(status, 200, "{login}");
    let bearer = login["token"].as_str().unwrap().to_owned();
    let client = db.query(&format!(
        "SELECT client_id FROM client_hotspot_access WHERE hotspot_id = '{site}' LIMIT 1"
    ));
    let (status, device) = api(
        stack.port,
        "/api/v1/access",
        Some(&bearer),
        &json!({"client_id": client, "hotspot_id": site, "mac_address": mac,
                "device_name": "Guest phone", "auto_connect": false}),
    );
    assert_eq!(status, 201, "{device}");
    let device = device["id"].as_str().unwrap().to_owned();
    wait(
        &logs_of,
        "the device and the voucher pulled to the router",
        PULL_SECS,
        || {
            router
                .query(&format!(
                    "SELECT id FROM access_list WHERE id = '{device}' AND is_blocked = 0"
                ))
                .is_some()
                && router
                    .query(&format!(
                        "SELECT id FROM vouchers WHERE voucher_code = '{VOUCHER}'"
                    ))
                    .is_some()
        },
    );

    // The guest logs in with the voucher over HTTP; the session reaches PostgreSQL.
    let (status, body) = post(
        portal,
        "/login",
        "application/x-www-form-urlencoded",
        "",
        &format!("code={VOUCHER}&token={token}"),
    );
    assert!(
        status == 303 || status == 200,
        "{status} {body}{}",
        logs_of()
    );
    let session = router
        .query(&format!(
            "SELECT id FROM sessions WHERE mac_address = '{mac}' AND session_status = 'active'"
        ))
        .expect("the guest is online on the router");
    assert_eq!(get(portal, "/status").0, 200, "the portal says online");
    let ends_at: i64 = router
        .query(&format!(
            "SELECT CAST(ends_at AS TEXT) FROM sessions WHERE id = '{session}'"
        ))
        .unwrap()
        .parse()
        .unwrap();
    wait(&logs_of, "the session pushed to the cloud", 30, || {
        db.count(&format!(
            "SELECT count(*) FROM hotspot_sessions WHERE id = '{session}' \
             AND session_status = 'active' AND voucher_code = '{VOUCHER}'"
        )) == 1
    });

    // The operator signs in.
    browser.goto(&format!("{base}/console/"));
    assert!(
        browser.url().ends_with("/console/signin"),
        "{}",
        browser.url()
    );
    browser.type_into("input[name=email]", OPERATOR);
    browser.type_into("input[name=password]", PASSWORD);
    browser.click("form[action='/console/signin'] button[type=submit]");
    browser
        .wait_for_text("Guests online now", Duration::from_secs(15))
        .unwrap();
    browser.set_size(1280, 900);

    // The guests page lists the live session: site, phone, voucher, with its actions.
    let kick = format!("form[action='/console/sessions/{session}/kick']");
    let extend = format!("form[action='/console/sessions/{session}/extend']");
    browser.goto(&format!("{base}/console/sessions"));
    wait_in_page(
        &browser,
        "the session on the guests page",
        10,
        &format!("return !!document.querySelector(\"#sessions {kick}\")"),
    );
    let row = row_text(&browser, &kick);
    for part in [site_name.as_str(), mac, "voucher", VOUCHER] {
        assert!(
            row.to_ascii_lowercase()
                .contains(&part.to_ascii_lowercase()),
            "{part:?} not in {row:?}"
        );
    }
    browser.screenshot(&shot("guests"));

    // The site's page lists it too, with Kick and Extend; its forms fit a phone's width.
    let site_page = format!("{base}/console/sites/{site}");
    browser.goto(&site_page);
    wait_in_page(
        &browser,
        "the session on the site's page",
        10,
        &format!(
            "return !!document.querySelector(\"#site-sessions {kick}\") \
             && !!document.querySelector(\"#site-sessions {extend}\")"
        ),
    );
    let row = row_text(&browser, &kick);
    assert!(row.contains(mac), "{row:?}");
    browser.set_size(360, 740);
    browser.script("document.querySelector('#site-sessions').scrollIntoView()");
    let fits = "return document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(browser.script(fits), true, "the site page overflows 360 px");
    let unlabelled = "return [...document.querySelectorAll('input:not([type=hidden]),select')]\
        .filter(e => !e.closest('label') && !e.labels.length).length";
    assert_eq!(browser.script(unlabelled), 0, "an input without a label");
    browser.screenshot(&shot("site-360"));
    browser.set_size(1280, 900);

    // Extend by 30 minutes from the site's page: back on it; PostgreSQL at once, the router's
    // session end moved on its next pull.
    browser.type_into(&format!("{extend} input[name=minutes]"), "30");
    browser.click(&format!("{extend} button[type=submit]"));
    wait(&logs_of, "the extension stored", 15, || {
        db.count(&format!(
            "SELECT count(*) FROM hotspot_sessions WHERE id = '{session}' AND added_minutes = 30"
        )) == 1
    });
    wait_in_page(
        &browser,
        "back on the site's page after extending",
        10,
        &format!(
            "return location.pathname === '/console/sites/{site}' \
             && !!document.querySelector(\"#site-sessions {kick}\")"
        ),
    );
    wait(
        &logs_of,
        "the extension applied by the router",
        PULL_SECS,
        || {
            router
                .query(&format!(
                    "SELECT id FROM sessions WHERE id = '{session}' AND session_status = 'active' \
                 AND ends_at = {}",
                    ends_at + 30 * 60
                ))
                .is_some()
        },
    );
    browser.script("document.querySelector('#site-sessions').scrollIntoView()");
    browser.screenshot(&shot("site-extended"));

    // Kick from the site's page: back on it without the guest; the session is over in
    // PostgreSQL at once and on the router after its next pull.
    browser.click(&format!("{kick} button[type=submit]"));
    wait_in_page(
        &browser,
        "back on the site's page without the guest",
        15,
        &format!(
            "return location.pathname === '/console/sites/{site}' \
             && !!document.querySelector('#site-status') && !document.querySelector(\"{kick}\")"
        ),
    );
    assert_eq!(
        db.query(&format!(
            "SELECT session_status FROM hotspot_sessions WHERE id = '{session}'"
        )),
        "terminated"
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM hotspot_session_kicks WHERE session_id = '{session}'"
        )),
        1
    );
    wait(
        &logs_of,
        "the kick applied by the router",
        PULL_SECS,
        || {
            router
            .query(&format!(
                "SELECT end_reason FROM sessions WHERE id = '{session}' AND session_status = 'ended'"
            ))
            .as_deref()
            == Some("kick")
        },
    );
    assert_eq!(
        get(portal, "/status").0,
        303,
        "the portal no longer says online"
    );
    browser.screenshot(&shot("site-kicked"));
    browser.goto(&format!("{base}/console/sessions"));
    browser
        .wait_for_text("Guests online", Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        browser.script(&format!("return !!document.querySelector(\"{kick}\")")),
        false,
        "the guests page still lists the kicked session"
    );

    // The guest buys a package with M-Pesa on the portal (in the same Chromium, at the guest's
    // address); the simulator pays and calls back with a receipt number.
    browser.goto(&router.portal());
    browser
        .wait_for_text("Buy with M-Pesa", Duration::from_secs(10))
        .unwrap_or_else(|t| panic!("no packages on the portal: {t}"));
    browser.type_into("#phone", PHONE);
    browser.click("form[action='/buy'] button");
    browser
        .wait_for_text("You are online", Duration::from_secs(45))
        .unwrap_or_else(|t| panic!("the purchase: {t}{}", logs_of()));
    let paid = format!(
        "FROM hotspot_purchases WHERE hotspot_id = '{site}' AND phone_number = '{MSISDN}' \
         AND status = 'paid'"
    );
    wait(&logs_of, "the purchase paid with its receipt", 30, || {
        !db.query(&format!(
            "SELECT coalesce(max(mpesa_receipt_number), '') {paid}"
        ))
        .is_empty()
    });
    let receipt = db.query(&format!("SELECT mpesa_receipt_number {paid}"));
    let paid_session = router
        .query(&format!(
            "SELECT id FROM sessions WHERE mac_address = '{mac}' AND session_status = 'active'"
        ))
        .expect("the buyer is online on the router");
    wait(&logs_of, "the paid session pushed to the cloud", 30, || {
        db.count(&format!(
            "SELECT count(*) FROM hotspot_sessions WHERE id = '{paid_session}' \
             AND session_status = 'active'"
        )) == 1
    });

    // Payments, filtered to the site through the form: the purchase with its receipt.
    browser.goto(&format!("{base}/console/payments"));
    browser
        .wait_for_text("Payments", Duration::from_secs(10))
        .unwrap();
    browser.script(&format!(
        "document.querySelector('select[name=hotspot_id]').value = '{site}'"
    ));
    browser.click("form.filters button[type=submit]");
    wait_in_page(
        &browser,
        "the purchase on the payments page",
        10,
        &format!(
            "return location.search.includes('hotspot_id={site}') \
             && !!document.querySelector('#payments') \
             && document.querySelector('#payments').innerText.includes('{receipt}')"
        ),
    );
    let rows = browser.script(
        "return [...document.querySelectorAll('#payments tbody tr')].map(r => r.innerText)",
    );
    let rows: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap_or_default())
        .collect();
    assert_eq!(rows.len(), 1, "one purchase at the site: {rows:?}");
    for part in [receipt.as_str(), MSISDN, "paid", site_name.as_str()] {
        assert!(rows[0].contains(part), "{part:?} not in {:?}", rows[0]);
    }
    browser.screenshot(&shot("payments"));

    // Block the phone with a reason on the devices page: PostgreSQL at once; the router ends
    // the paid session on its next pull and its portal tells the guest why.
    browser.goto(&format!("{base}/console/devices"));
    let block = format!("form[action='/console/devices/{device}/block']");
    wait_in_page(
        &browser,
        "the device on the devices page",
        10,
        &format!("return !!document.querySelector(\"#devices {block}\")"),
    );
    assert!(row_text(&browser, &block).contains(mac));
    browser.type_into(&format!("{block} input[name=reason]"), REASON);
    browser.click(&format!("{block} button[type=submit]"));
    let unblock = format!("form[action='/console/devices/{device}/unblock']");
    wait_in_page(
        &browser,
        "the device shown blocked",
        15,
        &format!("return !!document.querySelector(\"#devices {unblock}\")"),
    );
    assert!(row_text(&browser, &unblock).contains(REASON));
    browser.screenshot(&shot("devices-blocked"));
    assert_eq!(
        db.query(&format!(
            "SELECT is_blocked || '|' || blocked_reason FROM client_hotspot_access \
             WHERE id = '{device}'"
        )),
        format!("true|{REASON}")
    );
    wait(
        &logs_of,
        "the block applied by the router",
        PULL_SECS,
        || {
            router
            .query(&format!(
                "SELECT blocked_reason FROM access_list WHERE id = '{device}' AND is_blocked = 1"
            ))
            .as_deref()
            == Some(REASON)
        },
    );
    wait(
        &logs_of,
        "the paid session ended by the block",
        PULL_SECS,
        || {
            router
                .query(&format!(
                    "SELECT end_reason FROM sessions WHERE id = '{paid_session}' \
                 AND session_status = 'ended'"
                ))
                .as_deref()
                == Some("blocked")
        },
    );
    wait(
        &logs_of,
        "the session's end pushed to the cloud",
        30,
        || {
            db.count(&format!(
                "SELECT count(*) FROM hotspot_sessions WHERE id = '{paid_session}' \
             AND session_status <> 'active'"
            )) == 1
        },
    );
    assert_eq!(get(portal, "/status").0, 303);
    // Another voucher does not let the blocked phone in.
    let (status, body) = post(
        portal,
        "/login",
        "application/x-www-form-urlencoded",
        "",
        &format!("code=DEM3VW4HKB&token={token}"),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(REASON), "{body}");
    browser.goto(&router.portal());
    let seen = browser
        .wait_for_text("This device is blocked", Duration::from_secs(10))
        .unwrap();
    assert!(seen.contains(REASON), "{seen}");
    browser.screenshot(&shot("portal-blocked"));
}
