//! `hotspot-cloud seed --demo`: the demo tenant loads, loads again without change, is usable by
//! the service role, and fills the console's dashboard.

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use hotspot_cloud::db::demo::{self, DEMO_CLIENT, DEMO_HOTSPOT, DEMO_TENANT};

use crate::helpers::{begin_as, migrated_db, spawn_app};

/// The tables of the demo's 30 days of trade.
const TRADE: [&str; 7] = [
    "hotspot_devices",
    "hotspot_sessions",
    "hotspot_purchases",
    "hotspot_session_days",
    "hotspot_vouchers",
    "hotspot_revenue_days",
    "hotspot_voucher_stock",
];

/// Rows of the demo tenant per table, counted by the owner, then a digest of each trade table's
/// rows (all but the routers' last contact, which a second run stamps again).
async fn census(client: &tokio_postgres::Client) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in TRADE {
        let digest: String = client
            .query_one(
                &format!(
                    "SELECT coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '')
                     FROM (SELECT to_jsonb(t) - 'last_seen_at' - 'updated_at' AS x
                           FROM {t} t WHERE tenant_id = $1) y"
                ),
                &[&DEMO_TENANT],
            )
            .await
            .unwrap()
            .get(0);
        out.push((format!("{t} {digest}"), 0));
    }
    for t in [
        "users",
        "service_packages",
        "billing_products",
        "billing_subscription_plans",
        "billing_prices",
        "hotspots",
        "hotspot_vouchers",
        "clients",
        "client_hotspot_access",
        "mpesa_settings",
    ] {
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {t} WHERE tenant_id = $1"),
                &[&DEMO_TENANT],
            )
            .await
            .unwrap()
            .get(0);
        out.push((t.to_owned(), n));
    }
    out
}

#[tokio::test]
async fn the_demo_tenant_loads_once_and_works() {
    let db = migrated_db().await;
    let pool = db.pool();
    let first = demo::seed_demo(&pool, "correct horse").await.unwrap();
    assert!(first.created);
    let owner = db.connect().await;
    let after_first = census(&owner).await;
    let expected = [
        ("users", 1),
        ("service_packages", 4),
        ("billing_products", 1),
        ("billing_subscription_plans", 1),
        ("billing_prices", 1),
        ("hotspots", 1),
        ("hotspot_vouchers", 5),
        ("clients", 1),
        ("client_hotspot_access", 2),
        ("mpesa_settings", 1),
    ];
    let counts: Vec<(String, i64)> = after_first
        .iter()
        .filter(|(t, _)| !t.contains(' '))
        .cloned()
        .collect();
    // Beside the first hotspot, the four trading sites; beside the five known vouchers, those
    // the trade used and the printed stock.
    let at_least: Vec<(String, i64)> = expected
        .iter()
        .map(|(t, n)| {
            let more = match *t {
                "hotspots" => 4,
                "hotspot_vouchers" => 1000,
                _ => 0,
            };
            (t.to_string(), n + more)
        })
        .collect();
    for ((t, n), (_, min)) in counts.iter().zip(&at_least) {
        if *t == "hotspots" {
            assert_eq!(n, min, "{t}");
        } else {
            assert!(n >= min, "{t}: {n} < {min}");
        }
    }

    let second = demo::seed_demo(&pool, "another password").await.unwrap();
    assert!(!second.created);
    assert_eq!(census(&owner).await, after_first);

    // The first hotspot (the one a router is claimed to) is still the first made, and has no
    // router, session or payment of the demo's: those a real router brings are its only ones.
    let first: uuid::Uuid = owner
        .query_one("SELECT id FROM hotspots ORDER BY created_at LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, DEMO_HOTSPOT);
    for t in ["hotspot_devices", "hotspot_sessions", "hotspot_purchases"] {
        let n: i64 = owner
            .query_one(
                &format!("SELECT count(*) FROM {t} WHERE hotspot_id = $1"),
                &[&DEMO_HOTSPOT],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{t} at the first hotspot");
    }
    // The trade hangs together: every paid purchase issued a used voucher with its receipt,
    // every session used a voucher of its site, and the receipts are unique.
    let loose: i64 = owner
        .query_one(
            "SELECT (SELECT count(*) FROM hotspot_purchases p
                     LEFT JOIN hotspot_vouchers v ON v.id = p.voucher_id
                     WHERE v.id IS NULL OR NOT v.is_used
                        OR v.mpesa_receipt_number IS DISTINCT FROM p.mpesa_receipt_number)
                  + (SELECT count(*) FROM hotspot_sessions s
                     LEFT JOIN hotspot_vouchers v
                            ON v.voucher_code = s.voucher_code AND v.hotspot_id = s.hotspot_id
                     WHERE v.id IS NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(loose, 0);

    // The operator's password is an argon2 hash of the first password (not replaced).
    let hash: String = owner
        .query_one(
            "SELECT password_hash FROM users WHERE tenant_id = $1 AND email = $2",
            &[&DEMO_TENANT, &demo::DEMO_OPERATOR_EMAIL],
        )
        .await
        .unwrap()
        .get(0);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let parsed = PasswordHash::new(&hash).unwrap();
    assert!(
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"another password", &parsed)
            .is_err()
    );

    // The service sees it as the demo tenant: the client's devices auto-connect at the hotspot,
    // and the vouchers are unused and of the shared alphabet.
    let mut app = db.connect().await;
    let tx = begin_as(
        &mut app,
        "hotspot_app",
        Some(&DEMO_TENANT.to_string()),
        None,
    )
    .await;
    let macs: Vec<String> = tx
        .query(
            "SELECT mac_address FROM client_hotspot_access
             WHERE client_id = $1 AND hotspot_id = $2 AND auto_connect AND NOT is_blocked
             ORDER BY mac_address",
            &[&DEMO_CLIENT, &DEMO_HOTSPOT],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(macs, demo::DEMO_DEVICES);
    let codes: Vec<String> = tx
        .query(
            "SELECT voucher_code FROM hotspot_vouchers WHERE NOT is_used AND hotspot_id = $1
             ORDER BY voucher_code",
            &[&DEMO_HOTSPOT],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(codes, demo::DEMO_VOUCHERS);
    let all: Vec<String> = tx
        .query("SELECT voucher_code FROM hotspot_vouchers", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for code in &all {
        assert_eq!(code.len(), hotspot_shared::voucher::CODE_LEN);
        assert!(
            code.bytes()
                .all(|c| hotspot_shared::voucher::ALPHABET.contains(&c)),
            "{code}"
        );
    }
}

#[tokio::test]
async fn the_demo_tenant_gets_the_simulators_sandbox_credentials_sealed() {
    use hotspot_cloud::api::business::open_mpesa_secret;
    use hotspot_cloud::api::secrets::SecretsKey;
    let db = migrated_db().await;
    let pool = db.pool();
    demo::seed_demo(&pool, "correct horse").await.unwrap();
    let key = SecretsKey::from_bytes([9; 32]);
    for _ in 0..2 {
        demo::seed_demo_mpesa(&pool, &key).await.unwrap();
    }
    let owner = db.connect().await;
    let r = owner
        .query_one(
            "SELECT shortcode, environment, passkey, consumer_key, consumer_secret
             FROM mpesa_settings WHERE tenant_id = $1",
            &[&DEMO_TENANT],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "174379");
    assert_eq!(r.get::<_, String>(1), "sandbox");
    let open = |col: &str, i: usize| open_mpesa_secret(&key, col, &r.get::<_, String>(i)).unwrap();
    assert_eq!(open("passkey", 2), demo::SANDBOX_PASSKEY);
    assert_eq!(open("consumer_key", 3), "sim-key");
    assert_eq!(open("consumer_secret", 4), "sim-secret");
    assert!(
        !r.get::<_, String>(4).contains("sim-secret"),
        "sealed at rest"
    );
}

/// The value of the first `<div class="value…" id="{id}">…</div>` of a page.
fn value_by_id<'a>(page: &'a str, id: &str) -> &'a str {
    page.split(&format!("id=\"{id}\">"))
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("no {id} on the dashboard"))
}

/// Shillings or a count as shown ("KES 1,250", "7") as a number.
fn figure(text: &str) -> i64 {
    text.chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("not a figure: {text}"))
}

#[tokio::test]
async fn the_demo_fills_the_dashboard() {
    let app = spawn_app().await;
    demo::seed_demo(&app.pool, "demo pass 1").await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Sign in through the console's form, as the demo operator.
    let form = http.get(app.url("/console/signin")).send().await.unwrap();
    let cookie = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next()?.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
            .unwrap_or_else(|| panic!("no {name} cookie"))
    };
    let pre = cookie(&form, "hs_console_pre");
    let body = form.text().await.unwrap();
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let done = http
        .post(app.url("/console/signin"))
        .header("cookie", format!("hs_console_pre={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&email={}&password=demo+pass+1",
            csrf.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>(),
            demo::DEMO_OPERATOR_EMAIL.replace('@', "%40")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 303);
    let session = cookie(&done, "hs_console");
    let page = http
        .get(app.url("/console/"))
        .header("cookie", format!("hs_console={session}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // Money: the week and the month (the two figures after today's) are never zero; today's
    // only in the first half hour of the day in Nairobi, before any guest of the day.
    let money: Vec<i64> = page
        .split("<div class=\"value\"")
        .skip(1)
        .filter_map(|r| r.split_once('>')?.1.split('<').next())
        .filter(|v| v.starts_with("KES"))
        .map(figure)
        .collect();
    assert_eq!(money.len(), 3, "today, 7 days, this month");
    assert!(money[1] > 0 && money[1] >= money[0], "{money:?}");
    let owner = app.owner().await;
    let early: bool = owner
        .query_one(
            "SELECT (now() AT TIME ZONE 'Africa/Nairobi')::time < '00:30'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(early || money[0] > 0, "{money:?}");
    let month_started: bool = owner
        .query_one(
            "SELECT extract(day FROM now() AT TIME ZONE 'Africa/Nairobi') > 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!month_started || money[2] > 0, "{money:?}");
    // Guests online now, three sites online (the simulated routers), two offline (the first
    // hotspot, not yet claimed, and the site whose router went quiet two days ago).
    assert!(figure(value_by_id(&page, "guests-now")) >= 4);
    assert_eq!(figure(value_by_id(&page, "sites-online")), 3);
    assert_eq!(figure(value_by_id(&page, "sites-offline")), 2);
    // Thirty days of sessions and of revenue charted (today's bar may still be empty).
    for class in ["bar", "bar2"] {
        let days = page
            .split(&format!("<rect class=\"{class}\""))
            .skip(1)
            .filter(|r| !r.split('>').next().unwrap_or("").contains("height=\"0\""))
            .count();
        assert!(days >= 29, "{class}: {days} days with a bar");
    }
    // Vouchers in stock for the hour and day packages.
    let stock = page.split("id=\"voucher-stock\"").nth(1).unwrap();
    assert!(stock.contains("1 Hour") && stock.contains("1 Day"));
}
