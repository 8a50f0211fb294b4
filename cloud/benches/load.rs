//! Load test of the operators' API and the sync endpoint together, at fixed offered rates (an
//! open loop: requests go out on a clock, not when the last answered), for a bounded time,
//! against the real `hotspot-cloud serve` in a process of its own (so its memory is its own).
//! Every 10 s it prints, per kind of request, what was offered, answered, shed (503) or failed,
//! the latency p50/p99 of the answers, the pool's waiting requests and the service's resident
//! memory (sampled every second); at the end the totals, errors by kind, and RSS start/max/end.
//!
//! Defaults are twice the rates of the other benches (`docs/api.md`: 310 requests/s listing
//! active sessions; `docs/sync.md`: about 6,000 events/s of ingest, 12 pushes of 500 events a
//! second) for 600 s:
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p hotspot-cloud --bench load`
//! Optional: BENCH_SECONDS (600), LOAD_API_RATE (620 requests/s), LOAD_PUSH_RATE (24 pushes/s of
//! 500 events), BENCH_POOL (16), LOAD_TIMEOUT_MS (5000: an API request not answered by then
//! counts as a timeout), LOAD_SYNC_TIMEOUT_MS (60000: the same for a push; a router's sync client
//! waits 60 s, edge/src/sync/client.rs).
//! The service reads its own settings from the environment too (`HOTSPOT_MAX_IN_FLIGHT`,
//! `HOTSPOT_DB_WAIT_MS`; docs/api.md).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use hotspot_cloud::db;
use serde_json::{Value, json};

use common::env_or;
use common::server::{BenchDb, Server, rss_mib};

const PUSH: &str = include_str!("../../shared/fixtures/sync/push_request.json");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bench_db = BenchDb::create().await?;
    let result = run(&bench_db).await;
    bench_db.drop_now().await?;
    result
}

/// What became of one kind of request.
#[derive(Default)]
struct Tally {
    offered: AtomicU64,
    ok: AtomicU64,
    /// 503 (shed at the door, or no database connection in time).
    shed: AtomicU64,
    /// Any other 5xx.
    server_error: AtomicU64,
    /// 4xx (none expected).
    client_error: AtomicU64,
    /// No answer within LOAD_TIMEOUT_MS.
    timeout: AtomicU64,
    /// Connection refused, reset, or a body that did not arrive.
    failed: AtomicU64,
    /// Latencies of successful answers, microseconds.
    ok_us: Mutex<Vec<u32>>,
    /// Latencies of 503 answers, microseconds.
    shed_us: Mutex<Vec<u32>>,
    /// Requests sent and not yet settled (answered, timed out or failed).
    pending: AtomicU64,
    /// Why requests failed (the transport error's text, its source chain), with counts.
    causes: Mutex<std::collections::BTreeMap<String, u64>>,
}

/// Counts of one window (or of the whole run).
#[derive(Default, Clone)]
struct Counts {
    offered: u64,
    ok: u64,
    shed: u64,
    server_error: u64,
    client_error: u64,
    timeout: u64,
    failed: u64,
    ok_us: Vec<u32>,
    shed_us: Vec<u32>,
}

impl Tally {
    fn take(&self) -> Counts {
        let t = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        Counts {
            offered: t(&self.offered),
            ok: t(&self.ok),
            shed: t(&self.shed),
            server_error: t(&self.server_error),
            client_error: t(&self.client_error),
            timeout: t(&self.timeout),
            failed: t(&self.failed),
            ok_us: std::mem::take(&mut *self.ok_us.lock().unwrap()),
            shed_us: std::mem::take(&mut *self.shed_us.lock().unwrap()),
        }
    }
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.offered += o.offered;
        self.ok += o.ok;
        self.shed += o.shed;
        self.server_error += o.server_error;
        self.client_error += o.client_error;
        self.timeout += o.timeout;
        self.failed += o.failed;
        self.ok_us.extend_from_slice(&o.ok_us);
        self.shed_us.extend_from_slice(&o.shed_us);
    }

    fn line(&mut self) -> String {
        format!(
            "offered {}, ok {}, 503 {}, other 5xx {}, 4xx {}, timeouts {}, failed {}; \
             ok p50 {} p99 {}; 503 p99 {}",
            self.offered,
            self.ok,
            self.shed,
            self.server_error,
            self.client_error,
            self.timeout,
            self.failed,
            pct(&mut self.ok_us, 0.50),
            pct(&mut self.ok_us, 0.99),
            pct(&mut self.shed_us, 0.99),
        )
    }
}

/// The `p` quantile of `us` (microseconds) in milliseconds, or "-".
fn pct(us: &mut [u32], p: f64) -> String {
    if us.is_empty() {
        return "-".into();
    }
    us.sort_unstable();
    let i = ((us.len() as f64 * p) as usize).min(us.len() - 1);
    format!("{:.1} ms", f64::from(us[i]) / 1000.0)
}

/// Sends `make()` requests at `rate` a second until `deadline`, each counted in `tally`.
fn drive(
    rate: u64,
    deadline: Instant,
    timeout: Duration,
    tally: Arc<Tally>,
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
            tally.offered.fetch_add(1, Ordering::Relaxed);
            tally.pending.fetch_add(1, Ordering::Relaxed);
            let (req, tally) = (make(), Arc::clone(&tally));
            tokio::spawn(async move {
                let t = Instant::now();
                let answer = tokio::time::timeout(timeout, async {
                    let r = req.send().await?;
                    let status = r.status();
                    r.bytes().await?;
                    Ok::<_, reqwest::Error>(status)
                })
                .await;
                let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                match answer {
                    Ok(Ok(s)) if s.is_success() => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        tally.ok_us.lock().unwrap().push(us);
                    }
                    Ok(Ok(s)) if s == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                        tally.shed.fetch_add(1, Ordering::Relaxed);
                        tally.shed_us.lock().unwrap().push(us);
                    }
                    Ok(Ok(s)) if s.is_server_error() => {
                        tally.server_error.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Ok(_)) => {
                        tally.client_error.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                        let mut cause = e.to_string();
                        let mut source = std::error::Error::source(&e);
                        while let Some(s) = source {
                            cause = format!("{cause}: {s}");
                            source = s.source();
                        }
                        *tally.causes.lock().unwrap().entry(cause).or_default() += 1;
                    }
                    Err(_) => {
                        tally.timeout.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tally.pending.fetch_sub(1, Ordering::Relaxed);
            });
        }
    })
}

/// `db_pool_waiting` from the service's `/metrics`.
async fn pool_waiting(http: &reqwest::Client, base: &str) -> String {
    let text = match http
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return "?".into(),
    };
    text.lines()
        .find_map(|l| l.strip_prefix("db_pool_waiting "))
        .unwrap_or("?")
        .to_owned()
}

/// Server RSS over the run, MiB.
#[derive(Default)]
struct Rss {
    start: f64,
    max: f64,
    last: f64,
}

async fn run(bench_db: &BenchDb) -> anyhow::Result<()> {
    let seconds = env_or("BENCH_SECONDS", 600);
    let api_rate = env_or("LOAD_API_RATE", 620);
    let push_rate = env_or("LOAD_PUSH_RATE", 24);
    let pool_size = env_or("BENCH_POOL", 16) as usize;
    let timeout = Duration::from_millis(env_or("LOAD_TIMEOUT_MS", 5000));
    let sync_timeout = Duration::from_millis(env_or("LOAD_SYNC_TIMEOUT_MS", 60_000));

    // The bench's own connections (loading data, the claim code); the service has its own.
    let pool = bench_db.migrated_pool(2).await?;
    let owner = bench_db.owner().await?;

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

    let log = std::env::temp_dir().join(format!("{}.log", bench_db.name));
    let server = Server::process(&bench_db.url(), pool_size, &log).await?;
    let base = server.base.clone();
    let http = hotspot_cloud::mpesa::client::http_client()?;
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

    let mut rss = Rss {
        start: server.rss_mib(),
        ..Rss::default()
    };
    rss.max = rss.start;
    println!(
        "offered: {api_rate} API requests/s (active sessions, limit 50) and {push_rate} pushes/s \
         of 500 events, for {seconds} s, timeout {} ms (pushes {} ms); service pid {}, RSS at \
         start {:.1} MiB; \
         its log: {}",
        timeout.as_millis(),
        sync_timeout.as_millis(),
        server.pid,
        rss.start,
        log.display()
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (api, sync) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    let url = format!("{base}/api/v1/hotspots/{hotspot}/sessions/active?limit=50");
    let (h1, h2) = (http.clone(), http.clone());
    let a = drive(api_rate, deadline, timeout, Arc::clone(&api), move || {
        h1.get(&url).bearer_auth(&token)
    });
    let push_url = format!("{base}/sync/v1/events");
    let s = drive(
        push_rate,
        deadline,
        sync_timeout,
        Arc::clone(&sync),
        move || {
            h2.post(&push_url)
                .bearer_auth(&device)
                .header("content-type", "application/json")
                .body(push_body())
        },
    );
    let start = Instant::now();
    let (mut api_total, mut sync_total) = (Counts::default(), Counts::default());
    // Until every request sent has been answered or timed out.
    let end = deadline + timeout.max(sync_timeout) + Duration::from_secs(1);
    let mut tick = 0u64;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tick += 1;
        let now = server.rss_mib();
        rss.max = rss.max.max(now);
        rss.last = now;
        let settled = Instant::now() >= deadline
            && a.is_finished()
            && s.is_finished()
            && api.pending.load(Ordering::Relaxed) == 0
            && sync.pending.load(Ordering::Relaxed) == 0;
        if tick.is_multiple_of(10) || Instant::now() >= end || settled {
            let (mut aw, mut sw) = (api.take(), sync.take());
            api_total.add(&aw);
            sync_total.add(&sw);
            println!(
                "{:>4.0} s  api: {} | sync: {} | pool waiting {} | RSS {now:.1} MiB (load \
                 generator {:.1} MiB)",
                start.elapsed().as_secs_f64(),
                aw.line(),
                sw.line(),
                pool_waiting(&http, &base).await,
                rss_mib(std::process::id()),
            );
        }
        if settled {
            break;
        }
    }
    let _ = (a.await, s.await);
    let (aw, sw) = (api.take(), sync.take());
    api_total.add(&aw);
    sync_total.add(&sw);
    // A few seconds with no load: what memory the service keeps.
    tokio::time::sleep(Duration::from_secs(5)).await;
    rss.last = server.rss_mib();
    rss.max = rss.max.max(rss.last);
    println!("total api:  {}", api_total.line());
    println!(
        "total sync: {} ({} events stored)",
        sync_total.line(),
        sync_total.ok * 500
    );
    let errors = |c: &Counts| c.server_error + c.client_error + c.timeout + c.failed;
    println!(
        "errors: api {} (503 {}), sync {} (503 {}); service RSS start {:.1} MiB, max {:.1} MiB, \
         end {:.1} MiB",
        errors(&api_total),
        api_total.shed,
        errors(&sync_total),
        sync_total.shed,
        rss.start,
        rss.max,
        rss.last
    );
    for (kind, tally) in [("api", &api), ("sync", &sync)] {
        for (cause, n) in tally.causes.lock().unwrap().iter() {
            println!("failed {kind}: {n} × {cause}");
        }
    }
    server.stop().await;
    pool.close();
    Ok(())
}
