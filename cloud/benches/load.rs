//! Load test of the operators' API and the sync endpoint together, at fixed offered rates (an
//! open loop: requests go out on a clock, not when the last answered), for a bounded time. Every
//! 10 s it prints what was offered, answered, refused or failed, the 99th percentile latency and
//! the process's resident memory (the service and the load generator share the process).
//!
//! Defaults are twice the rates of the other benches (`docs/api.md`: 310 requests/s listing
//! active sessions; `docs/sync.md`: about 6,000 events/s of ingest, 12 pushes of 500 events a
//! second) for 600 s:
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p hotspot-cloud --bench load`
//! Optional: BENCH_SECONDS (600), LOAD_API_RATE (620 requests/s), LOAD_PUSH_RATE (24 pushes/s of
//! 500 events), BENCH_POOL (16), LOAD_TIMEOUT_MS (5000: an answer later than that is an error).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use hotspot_cloud::api::{ApiState, secrets::SecretsKey};
use hotspot_cloud::{AppState, db};
use serde_json::{Value, json};

use common::{env_or, url_of};

const PUSH: &str = include_str!("../../shared/fixtures/sync/push_request.json");

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

/// Counters of one kind of request over a window.
#[derive(Default)]
struct Window {
    offered: AtomicU64,
    ok: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    /// Latencies of the window's answers, in microseconds.
    lat: std::sync::Mutex<Vec<u64>>,
}

impl Window {
    fn take(&self) -> (u64, u64, u64, u64, f64) {
        let mut lat = std::mem::take(&mut *self.lat.lock().unwrap());
        lat.sort_unstable();
        let p99 = lat
            .get((lat.len() * 99 / 100).min(lat.len().saturating_sub(1)))
            .map_or(f64::NAN, |us| *us as f64 / 1000.0);
        (
            self.offered.swap(0, Ordering::Relaxed),
            self.ok.swap(0, Ordering::Relaxed),
            self.refused.swap(0, Ordering::Relaxed),
            self.failed.swap(0, Ordering::Relaxed),
            p99,
        )
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Sends `make()` requests at `rate` a second until `deadline`, each counted in `w`.
fn drive(
    rate: u64,
    deadline: Instant,
    timeout: Duration,
    w: Arc<Window>,
    make: impl Fn() -> reqwest::RequestBuilder + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if rate == 0 {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        while Instant::now() < deadline {
            tick.tick().await;
            w.offered.fetch_add(1, Ordering::Relaxed);
            let (req, w) = (make(), Arc::clone(&w));
            tokio::spawn(async move {
                let t = Instant::now();
                match tokio::time::timeout(timeout, req.send()).await {
                    Ok(Ok(r)) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        w.ok.fetch_add(1, Ordering::Relaxed);
                        w.lat.lock().unwrap().push(t.elapsed().as_micros() as u64);
                    }
                    Ok(Ok(r)) if r.status().is_client_error() => {
                        w.refused.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        w.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    })
}

async fn run(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let seconds = env_or("BENCH_SECONDS", 600);
    let api_rate = env_or("LOAD_API_RATE", 620);
    let push_rate = env_or("LOAD_PUSH_RATE", 24);
    let pool_size = env_or("BENCH_POOL", 16) as usize;
    let timeout = Duration::from_millis(env_or("LOAD_TIMEOUT_MS", 5000));

    let mut config: tokio_postgres::Config = admin_url.parse()?;
    config.dbname(name);
    let (owner, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let pool = db::pool(&url_of(&config), pool_size)?;
    db::migrate(&pool).await?;

    // One tenant, one hotspot with 1,000 active sessions among 10,000.
    let password = "bench-password";
    let hash = db::demo::hash_password(password)?;
    let row = owner
        .query_one(
            "WITH t AS (INSERT INTO tenants (name, slug, status) VALUES ('Load', 'load', 'active')
                        RETURNING id),
                  u AS (INSERT INTO users (tenant_id, email, password_hash, roles)
                        SELECT id, 'load@example.test', $1, '[\"tenant_admin\"]' FROM t)
             INSERT INTO hotspots (tenant_id, name, location, ssid)
             SELECT id, 'Site 1', 'Nairobi', 'Site-1' FROM t RETURNING id, tenant_id",
            &[&hash],
        )
        .await?;
    let (hotspot, tenant): (uuid::Uuid, uuid::Uuid) = (row.get(0), row.get(1));
    owner
        .batch_execute(&format!(
            "SET app.tenant_id = '{tenant}';
             INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, start_time,
                                           end_time, session_status, data_used_mb)
             SELECT '{tenant}', '{hotspot}',
                    upper(substr(md5(g::text), 1, 2) || ':' || substr(md5(g::text), 3, 2) || ':' ||
                          substr(md5(g::text), 5, 2) || ':' || substr(md5(g::text), 7, 2) || ':' ||
                          substr(md5(g::text), 9, 2) || ':' || substr(md5(g::text), 11, 2)),
                    now() - (g % 43200) * interval '1 minute',
                    CASE WHEN g % 10 = 0 THEN NULL
                         ELSE now() - (g % 43200) * interval '1 minute' + interval '30 minutes' END,
                    CASE WHEN g % 10 = 0 THEN 'active' ELSE 'ended' END,
                    g % 500
             FROM generate_series(1, 10000) g;
             RESET app.tenant_id;
             ANALYZE hotspot_sessions;"
        ))
        .await?;

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
    let http = hotspot_cloud::mpesa::client::http_client()?;
    let base = format!("http://{addr}");
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "load@example.test", "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login failed: {login}"))?
        .to_owned();
    let code = hotspot_cloud::sync::device::create_claim_code(
        &pool,
        tenant,
        hotspot,
        None,
        Utc::now() + chrono::Duration::hours(1),
    )
    .await
    .map_err(|e| anyhow::anyhow!("claim code: {e}"))?;
    let claimed: Value = http
        .post(format!("{base}/sync/v1/claim"))
        .json(&json!({"code": code.code, "hostname": "load-router", "version": "0.1.0"}))
        .send()
        .await?
        .json()
        .await?;
    let device = claimed["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("claim failed: {claimed}"))?
        .to_owned();

    // A push of 500 events: the fixture's session and MAC events with fresh ids each time.
    let fixture: Value = serde_json::from_str(PUSH)?;
    let template: Vec<Value> = fixture["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "mac_seen" || e["kind"] == "session_updated")
        .cloned()
        .collect();
    let sent = fixture["sent"].clone();
    let push_body = move || {
        let events: Vec<Value> = (0..500)
            .map(|i| {
                let mut e = template[i % template.len()].clone();
                e["id"] = json!(uuid::Uuid::new_v4());
                e
            })
            .collect();
        serde_json::to_vec(&json!({"version": 1, "sent": sent, "events": events}))
            .unwrap_or_default()
    };

    println!(
        "offered: {api_rate} API requests/s (active sessions, limit 50) and {push_rate} pushes/s \
         of 500 events, for {seconds} s; RSS at start {:.1} MiB",
        rss_mib()
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (api, sync) = (Arc::new(Window::default()), Arc::new(Window::default()));
    let url = format!("{base}/api/v1/hotspots/{hotspot}/sessions/active?limit=50");
    let (h1, h2) = (http.clone(), http.clone());
    let a = drive(api_rate, deadline, timeout, Arc::clone(&api), move || {
        h1.get(&url).bearer_auth(&token)
    });
    let push_url = format!("{base}/sync/v1/events");
    let s = drive(push_rate, deadline, timeout, Arc::clone(&sync), move || {
        h2.post(&push_url)
            .bearer_auth(&device)
            .header("content-type", "application/json")
            .body(push_body())
    });
    let start = Instant::now();
    let mut totals = [0u64; 6];
    while Instant::now() < deadline + timeout {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (ao, aok, are, afa, ap) = api.take();
        let (so, sok, sre, sfa, sp) = sync.take();
        for (t, v) in totals.iter_mut().zip([aok, are, afa, sok, sre, sfa]) {
            *t += v;
        }
        println!(
            "{:>4.0} s  api: offered {ao}, ok {aok}, 4xx {are}, failed {afa}, p99 {ap:.0} ms | \
             sync: offered {so}, ok {sok}, 4xx {sre}, failed {sfa}, p99 {sp:.0} ms | RSS {:.1} MiB",
            start.elapsed().as_secs_f64(),
            rss_mib()
        );
    }
    let _ = (a.await, s.await);
    println!(
        "total: api ok {}, 4xx {}, failed {}; sync ok {} ({} events), 4xx {}, failed {}",
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        totals[3] * 500,
        totals[4],
        totals[5]
    );
    let _ = stop.send(());
    Ok(())
}
