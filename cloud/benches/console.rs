//! Benchmark of the operators' console against a real PostgreSQL, on a database of its own: the
//! latency percentiles of each of the console's pages, as a signed-in operator's browser asks
//! for them, on a tenant of 200 sites, 100,000 vouchers, 1,000,000 guest sessions (2,000 of them
//! live), 20,000 M-Pesa purchases, 5,000 paybill (C2B) payments (500 unmatched), 10,000 clients
//! (50,000 wallet transactions), 20,000 support tickets (60,000 replies), 300 staff accounts
//! and 300 NAS entries.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p hotspot-cloud --bench console`
//! Optional: BENCH_REQUESTS (requests per page, default 200), BENCH_CONCURRENCY (browsers asking
//! at once, default 1), BENCH_SESSIONS (default 1,000,000).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotspot_cloud::api::{ApiState, secrets::SecretsKey};
use hotspot_cloud::{AppState, db};

use common::{env_or, url_of};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("hotspot_bench_{}", uuid::Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let result = run(&admin_url, &name).await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    result
}

async fn run(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let requests = env_or("BENCH_REQUESTS", 200) as usize;
    let concurrency = env_or("BENCH_CONCURRENCY", 1).max(1) as usize;
    let sessions = env_or("BENCH_SESSIONS", 1_000_000) as i64;
    let mut config: tokio_postgres::Config = admin_url.parse()?;
    config.dbname(name);
    let (owner, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let pool = db::pool(&url_of(&config), 16)?;
    db::migrate(&pool).await?;

    let password = "bench-password";
    let hash = db::demo::hash_password(password)?;
    let t0 = Instant::now();
    let tenant: uuid::Uuid = owner
        .query_one(
            "WITH t AS (INSERT INTO tenants (name, slug, status, timezone)
                        VALUES ('Bench', 'bench', 'active', 'Africa/Nairobi')
                        RETURNING id),
                  u AS (INSERT INTO users (tenant_id, email, password_hash, roles)
                        SELECT id, 'bench@example.test', $1, '[\"tenant_admin\"]' FROM t),
                  h AS (INSERT INTO hotspots (tenant_id, name, location, ssid)
                        SELECT t.id, 'Site ' || lpad(g::text, 3, '0'), 'Nairobi', 'Site-' || g
                        FROM t, generate_series(1, 200) g)
             SELECT id FROM t",
            &[&hash],
        )
        .await?
        .get(0);
    // Each site's router, heard from within the last 20 minutes (about half online).
    // 100,000 vouchers (30,000 used), 1,000,000 sessions over 30 days (2,000 live, 10 a site),
    // 20,000 paid purchases.
    owner
        .batch_execute(&format!(
            "SET app.tenant_id = '{tenant}';
             WITH h AS (SELECT id, row_number() OVER (ORDER BY name) AS n FROM hotspots)
             INSERT INTO hotspot_devices (tenant_id, hotspot_id, claimed_at, token_hash,
                                          software_version, hostname, last_seen_at)
             SELECT '{tenant}', h.id, now(), digest(h.id::text, 'sha256'), '0.1.0',
                    'router-' || h.n, now() - (h.n % 20) * interval '1 minute'
             FROM h;
             INSERT INTO service_packages (tenant_id, name, package_type, connection_type,
                 download_mbps, upload_mbps, price, duration_minutes)
             VALUES ('{tenant}', 'One hour', 'hotspot', 'hotspot', 5, 2, 20, 60),
                    ('{tenant}', 'One day', 'hotspot', 'hotspot', 5, 2, 50, 1440);
             CREATE TEMP TABLE site_no AS
                 SELECT id, (row_number() OVER (ORDER BY name) - 1)::int AS n FROM hotspots;
             INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes,
                 price, expiry_date, is_used, used_at, service_package_id, batch_id, created_at)
             SELECT '{tenant}', s.id, 'B' || lpad(g::text, 7, '0'), 60, 20,
                    now() + interval '60 days', g <= 30000,
                    CASE WHEN g <= 30000 THEN now() - (g % 30) * interval '1 day' END,
                    (SELECT id FROM service_packages WHERE name = 'One hour'),
                    md5('batch' || (g / 100))::uuid,
                    now() - (g % 30) * interval '1 day' - g * interval '1 second'
             FROM generate_series(1, 100000) g JOIN site_no s ON s.n = g % 200;
             INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, session_type,
                                           start_time, end_time, session_status, data_used_mb,
                                           voucher_code)
             SELECT '{tenant}', s.id,
                    upper(substr(m.h, 1, 2) || ':' || substr(m.h, 3, 2) || ':' ||
                          substr(m.h, 5, 2) || ':' || substr(m.h, 7, 2) || ':' ||
                          substr(m.h, 9, 2) || ':' || substr(m.h, 11, 2)),
                    'voucher',
                    now() - (g % 43200) * interval '1 minute',
                    CASE WHEN g <= 2000 THEN NULL
                         ELSE now() - (g % 43200) * interval '1 minute' + interval '30 minutes' END,
                    CASE WHEN g <= 2000 THEN 'active' ELSE 'ended' END,
                    g % 500,
                    'B' || lpad((g % 30000 + 1)::text, 7, '0')
             FROM generate_series(1, {sessions}) g
             CROSS JOIN LATERAL (SELECT md5(g::text) AS h) m
             JOIN site_no s ON s.n = g % 200;
             INSERT INTO hotspot_purchases (tenant_id, hotspot_id, request_id, package_name, amount,
                 phone_number, client_mac, status, mpesa_receipt_number, callback_token_hash,
                 voucher_id, settled_at, settled_by, created_at)
             SELECT '{tenant}', v.hotspot_id, gen_random_uuid(), 'One hour', 20,
                    '2547' || lpad(g::text, 8, '0'), 'AA:BB:CC:00:00:01', 'paid',
                    'R' || lpad(g::text, 9, '0'), digest('p' || g, 'sha256'), v.id,
                    v.used_at, 'callback', v.used_at
             FROM generate_series(1, 20000) g
             JOIN hotspot_vouchers v ON v.voucher_code = 'B' || lpad(g::text, 7, '0');
             INSERT INTO clients (tenant_id, name, phone, status, wallet_balance, created_at)
             SELECT '{tenant}', 'Client ' || lpad(g::text, 5, '0'),
                    '2547' || lpad((50000000 + g)::text, 8, '0'),
                    (ARRAY['active', 'suspended', 'pending'])[g % 3 + 1], g % 2000,
                    now() - g * interval '1 minute'
             FROM generate_series(1, 10000) g;
             CREATE TEMP TABLE client_no AS
                 SELECT id, (row_number() OVER (ORDER BY name) - 1)::int AS n FROM clients;
             INSERT INTO wallet_transactions (tenant_id, client_id, transaction_type, amount,
                 description, created_at)
             SELECT '{tenant}', c.id, 'credit', 100, 'Top-up', now() - g * interval '1 minute'
             FROM generate_series(1, 50000) g JOIN client_no c ON c.n = g % 10000;
             INSERT INTO support_tickets (tenant_id, ticket_number, client_id, title, description,
                 status, priority, created_at)
             SELECT '{tenant}', 'TCK-' || g, c.id, 'Slow internet ' || g, 'It is slow.',
                    (ARRAY['open', 'in_progress', 'pending', 'resolved', 'closed'])[g % 5 + 1],
                    (ARRAY['low', 'medium', 'high', 'urgent'])[g % 4 + 1],
                    now() - g * interval '1 minute'
             FROM generate_series(1, 20000) g JOIN client_no c ON c.n = g % 10000;
             INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, content, created_at)
             SELECT '{tenant}', t.id, (SELECT id FROM users), 'Looking into it.',
                    t.created_at + r * interval '1 minute'
             FROM support_tickets t CROSS JOIN generate_series(1, 3) r;
             INSERT INTO mpesa_c2b_payments (tenant_id, trans_id, amount, bill_ref_number,
                 applied_to, client_id, created_at)
             SELECT '{tenant}', 'C' || lpad(g::text, 9, '0'), 100, c.n::text,
                    CASE WHEN g % 10 = 0 THEN 'unmatched' ELSE 'wallet' END,
                    CASE WHEN g % 10 = 0 THEN NULL ELSE c.id END,
                    now() - g * interval '1 minute'
             FROM generate_series(1, 5000) g JOIN client_no c ON c.n = g % 10000;
             INSERT INTO mpesa_callbacks (tenant_id, kind, reference, body, processed_at, outcome)
             SELECT '{tenant}', 'c2b_confirmation', trans_id,
                    jsonb_build_object('MSISDN', '254722' || right(trans_id, 6)), now(), applied_to
             FROM mpesa_c2b_payments;
             INSERT INTO users (tenant_id, email, full_name, password_hash, roles, last_login_at)
             SELECT '{tenant}', 'staff' || lpad(g::text, 3, '0') || '@example.test',
                    'Staff ' || lpad(g::text, 3, '0'), '!',
                    (ARRAY['[\"noc_engineer\"]', '[\"support_agent\"]',
                           '[\"field_tech\"]'])[g % 3 + 1]::jsonb,
                    now() - g * interval '1 hour'
             FROM generate_series(1, 300) g;
             CREATE TEMP TABLE staff_no AS
                 SELECT id, (row_number() OVER (ORDER BY email) - 1)::int AS n FROM users
                 WHERE email LIKE 'staff%';
             INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content,
                 is_read, sent_at)
             SELECT '{tenant}',
                    CASE WHEN g % 2 = 0 THEN s.id ELSE a.id END,
                    CASE WHEN g % 2 = 0 THEN a.id ELSE s.id END,
                    'Shift note ' || g, 'Tower ' || g % 200 || ' checked.', g % 3 <> 0,
                    now() - g * interval '1 minute'
             FROM generate_series(1, 20000) g JOIN staff_no s ON s.n = g % 300
             CROSS JOIN (SELECT id FROM users WHERE email = 'bench@example.test') a;
             INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content,
                 sent_at)
             SELECT '{tenant}', s.id, r.id, 'Between staff ' || g, 'Not the admin''s.',
                    now() - g * interval '1 minute'
             FROM generate_series(1, 20000) g JOIN staff_no s ON s.n = g % 300
             JOIN staff_no r ON r.n = (g + 1) % 300;
             INSERT INTO nas (tenant_id, nasname, shortname, type, secret, hotspot_id)
             SELECT '{tenant}', '10.20.' || (g / 250) || '.' || (g % 250 + 1),
                    'nas-' || lpad(g::text, 3, '0'), 'mikrotik', md5('nas' || g), s.id
             FROM generate_series(1, 300) g JOIN site_no s ON s.n = g % 200;
             RESET app.tenant_id;"
        ))
        .await?;
    // As autovacuum would leave them: statistics, and the visibility map that lets the
    // dashboard's figures be read from indexes alone.
    owner.batch_execute("VACUUM ANALYZE").await?;
    let counts = owner
        .query_one(
            "SELECT (SELECT count(*) FROM hotspots), (SELECT count(*) FROM hotspot_vouchers),
                    (SELECT count(*) FROM hotspot_sessions),
                    (SELECT count(*) FROM hotspot_sessions WHERE session_status = 'active'),
                    (SELECT count(*) FROM hotspot_purchases),
                    (SELECT count(*) FROM clients), (SELECT count(*) FROM support_tickets),
                    (SELECT count(*) FROM mpesa_c2b_payments)",
            &[],
        )
        .await?;
    println!(
        "data: {} sites, {} vouchers, {} sessions ({} live), {} purchases, {} clients, {} tickets, \
         {} C2B payments (loaded in {:.1} s)",
        counts.get::<_, i64>(0),
        counts.get::<_, i64>(1),
        counts.get::<_, i64>(2),
        counts.get::<_, i64>(3),
        counts.get::<_, i64>(4),
        counts.get::<_, i64>(5),
        counts.get::<_, i64>(6),
        counts.get::<_, i64>(7),
        t0.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = AppState {
        pool: pool.clone(),
        api: ApiState::new(SecretsKey::from_bytes([7; 32])),
        payments: hotspot_cloud::payments::Payments::disabled(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hotspot_cloud::serve(state, listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://{addr}");
    let cookie = sign_in(&http, &base, "bench@example.test", password).await?;

    let second_site: uuid::Uuid = owner
        .query_one(
            "SELECT id FROM hotspots ORDER BY name OFFSET 1 LIMIT 1",
            &[],
        )
        .await?
        .get(0);
    // A client with its wallet transactions and tickets, and one of its tickets with replies.
    let a_client: uuid::Uuid = owner
        .query_one("SELECT id FROM clients WHERE name = 'Client 05000'", &[])
        .await?
        .get(0);
    let a_ticket: uuid::Uuid = owner
        .query_one(
            "SELECT id FROM support_tickets WHERE client_id = $1 LIMIT 1",
            &[&a_client],
        )
        .await?
        .get(0);
    // A message the administrator received, with its thread.
    let a_message: uuid::Uuid = owner
        .query_one(
            "SELECT m.id FROM internal_messages m JOIN users u ON u.id = m.recipient_id
             WHERE u.email = 'bench@example.test' ORDER BY m.sent_at DESC LIMIT 1 OFFSET 500",
            &[],
        )
        .await?
        .get(0);
    // Session history's date range: ten days, ending ten days ago, in the tenant's zone.
    let range = owner
        .query_one(
            "SELECT to_char((now() AT TIME ZONE 'Africa/Nairobi')::date - 20, 'YYYY-MM-DD'),
                    to_char((now() AT TIME ZONE 'Africa/Nairobi')::date - 10, 'YYYY-MM-DD')",
            &[],
        )
        .await?;
    let (from, to): (String, String) = (range.get(0), range.get(1));
    // Each page, with what its body must show (checked on the first answer), so that a page
    // answering with an empty list is not measured as a fast one.
    let pages: Vec<(String, &[&str])> = vec![
        ("/console/".to_owned(), &[]),
        ("/console/sites".to_owned(), &["Site 001"]),
        ("/console/vouchers".to_owned(), &[]),
        (
            format!("/console/vouchers?hotspot_id={second_site}&batch_id=&status=unused"),
            &[],
        ),
        ("/console/sessions".to_owned(), &[]),
        // As an administrator: with the site's own branding form.
        (
            format!("/console/sites/{second_site}"),
            &["id=\"site-branding-form\""],
        ),
        ("/console/sessions/history".to_owned(), &[]),
        (
            format!("/console/sessions/history?hotspot_id=&mac=&status=&from={from}&to={to}"),
            &[],
        ),
        ("/console/devices".to_owned(), &[]),
        ("/console/payments".to_owned(), &[]),
        (
            "/console/payments?status=paid&from=2000-01-01".to_owned(),
            &[],
        ),
        ("/console/payments/c2b".to_owned(), &["C000000001"]),
        (
            "/console/payments/c2b?applied_to=unmatched".to_owned(),
            &["C000000010"],
        ),
        // A receipt; an account number typed; the payer's number of the oldest payment (the
        // worst case: the confirmation of every payment is read before the page is full).
        (
            "/console/payments/c2b?q=C000004000".to_owned(),
            &["C000004000"],
        ),
        ("/console/payments/c2b?q=4321".to_owned(), &["C000004321"]),
        (
            "/console/payments/c2b?q=0722005000".to_owned(),
            &["C000005000"],
        ),
        ("/console/clients".to_owned(), &[]),
        ("/console/clients?q=0750001234".to_owned(), &[]),
        (format!("/console/clients/{a_client}"), &[]),
        ("/console/tickets".to_owned(), &[]),
        ("/console/tickets?status=open".to_owned(), &[]),
        (format!("/console/tickets/{a_ticket}"), &[]),
        // 20,000 messages to or from the administrator among 40,000 of the tenant's staff.
        ("/console/messages".to_owned(), &["Shift note 1<"]),
        ("/console/messages?show=unread".to_owned(), &["Shift note"]),
        (format!("/console/messages/{a_message}"), &["Shift note"]),
        // 301 accounts and 300 NAS entries, a page of each; then the accounts searched.
        (
            "/console/settings".to_owned(),
            &[
                "bench@example.test",
                "id=\"users-next\"",
                "nas-001",
                "id=\"nas-next\"",
            ],
        ),
        (
            "/console/settings?uq=staff12".to_owned(),
            &["staff120@example.test", "staff129@example.test"],
        ),
    ];
    println!(
        "each page {requests} times, {concurrency} at once (after 5 to warm up); \
         latency as the browser sees it"
    );
    let mut worst: f64 = 0.0;
    for (path, shows) in pages {
        let url = Arc::new(format!("{base}{path}"));
        let body = get(&http, &url, &cookie).await?;
        for s in shows {
            anyhow::ensure!(body.contains(s), "{path} does not show {s:?}");
        }
        for _ in 0..4 {
            get(&http, &url, &cookie).await?;
        }
        let per_task = requests.div_ceil(concurrency);
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (http, url, cookie) = (http.clone(), url.clone(), cookie.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let t = Instant::now();
                    get(&http, &url, &cookie).await?;
                    lat.push(t.elapsed());
                }
                anyhow::Ok(lat)
            }));
        }
        let mut lat: Vec<Duration> = Vec::new();
        for t in tasks {
            lat.extend(t.await??);
        }
        lat.sort();
        let pct = |p: f64| {
            lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0
        };
        worst = worst.max(pct(0.99));
        println!(
            "{path:<72} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            pct(0.50),
            pct(0.99),
            lat[lat.len() - 1].as_secs_f64() * 1000.0
        );
    }
    println!("worst p99: {worst:.2} ms (target 100 ms)");
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average (1, 5, 15 min) at the end: {}", load.trim());
    }
    let _ = stop.send(());
    pool.close();
    Ok(())
}

/// Signs in through the form; returns the Cookie header of the session.
async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let form = http.get(format!("{base}/console/signin")).send().await?;
    let pre = cookie_of(&form, "hs_console_pre")?;
    let body = form.text().await?;
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or_else(|| anyhow::anyhow!("no csrf field on the sign-in page"))?
        .to_owned();
    let done = http
        .post(format!("{base}/console/signin"))
        .header("cookie", format!("hs_console_pre={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&email={}&password={}",
            urlencode(&csrf),
            urlencode(email),
            urlencode(password)
        ))
        .send()
        .await?;
    anyhow::ensure!(
        done.status().as_u16() == 303,
        "sign-in answered {}",
        done.status()
    );
    Ok(format!("hs_console={}", cookie_of(&done, "hs_console")?))
}

fn cookie_of(resp: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .ok_or_else(|| anyhow::anyhow!("no {name} cookie"))
}

/// The page's body; an error unless it answered with success.
async fn get(http: &reqwest::Client, url: &str, cookie: &str) -> anyhow::Result<String> {
    let resp = http.get(url).header("cookie", cookie).send().await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "{url} answered {}",
        resp.status()
    );
    Ok(resp.text().await?)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
