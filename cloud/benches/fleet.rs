//! The router fleet simulator (docs/sync.md, "A fleet of routers"): many claimed routers, each
//! with its own device token, speak the sync protocol over HTTP to real `hotspot-cloud serve`
//! processes, first one replica, then two (behind haproxy with `packaging/ha/haproxy.cfg` when
//! `haproxy` is installed, otherwise the simulator alternates between them itself).
//!
//! Per topology, two phases:
//! - **steady**: every router pushes once every 30 s (the routers spread evenly over the 30 s),
//!   one gzip batch as `hotspotd` sends it: the start and redemption of a new guest session and
//!   the last update and end of the previous one; then it pulls its changes (paging while the
//!   cloud says `more`). Printed: events/s stored, push and pull latency p50/p99, CPU seconds of
//!   each replica (and of haproxy and the database's backends), database growth (the tables
//!   sync writes) per router-day at this rate;
//! - **backlog**: routers back from being offline push 500-event batches (whole sessions: start,
//!   the coalesced update, end) back to back, each router one batch at a time, as `hotspotd`
//!   drains its outbox: the ingest ceiling, events/s and batch latency.
//!
//! Needs `DATABASE_URL` (a role that may create databases); makes a database of its own and
//! drops it.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p hotspot-cloud --bench fleet`
//!
//! Optional: BENCH_ROUTERS (10000), BENCH_SECONDS (60: the steady phase, per topology),
//! BENCH_CONNS (64: requests in flight at most, so connections to the cloud at most),
//! BENCH_BACKLOG_ROUTERS (8 per replica), BENCH_BACKLOG_BATCHES (40 per backlogged router),
//! BENCH_REPLICAS ("1,2": the topologies to run), BENCH_POOL (16: each replica's
//! `HOTSPOT_DB_POOL`).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use hotspot_cloud::sync::device;
use hotspot_shared::sync::{
    EdgeClock, EndReason, Event, EventBody, PullResponse, PushRequest, PushResponse, SessionEnded,
    SessionStarted, SessionType, SessionUpdated, VoucherRedeemed,
};
use tokio::sync::Semaphore;
use uuid::Uuid;

use common::{env_or, url_of};

/// Seconds between a router's sync rounds (`[sync] interval_seconds`).
const INTERVAL: f64 = 30.0;
/// Routers per tenant (an ISP's sites).
const ROUTERS_PER_TENANT: usize = 100;
/// Events per batch at most, as `hotspotd` sends them.
const BATCH: usize = 500;

/// One simulated router: its credential and what it remembers between rounds.
struct Router {
    n: usize,
    token: String,
    boot: Uuid,
    booted: Instant,
    state: Mutex<RouterState>,
}

#[derive(Default)]
struct RouterState {
    /// Rounds done (the voucher of round r is the hotspot's voucher r).
    round: usize,
    /// The session started last round, ended this round.
    open: Option<(Uuid, hotspot_shared::mac::MacAddr)>,
    cursor: Option<String>,
}

impl Router {
    fn clock(&self) -> EdgeClock {
        EdgeClock {
            boot_id: self.boot,
            uptime_ms: 1_000_000 + self.booted.elapsed().as_millis() as u64,
            wall_ms: Utc::now().timestamp_millis(),
            wall_trusted: true,
        }
    }
}

fn voucher_code(router: usize, k: usize) -> String {
    format!("FL{router:06}V{k:03}")
}

fn mac(a: usize, b: usize) -> hotspot_shared::mac::MacAddr {
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        (a >> 16) & 0xff,
        (a >> 8) & 0xff,
        a & 0xff,
        (b >> 8) & 0xff,
        b & 0xff
    )
    .parse()
    .expect("valid MAC")
}

/// This round's batch: a new guest's start and redemption, the previous guest's update and end.
fn round_batch(r: &Router) -> PushRequest {
    let mut st = r.state.lock().unwrap();
    let mut events = Vec::with_capacity(4);
    if let Some((session_id, _)) = st.open.take() {
        events.push(Event {
            id: Uuid::new_v4(),
            at: r.clock(),
            body: EventBody::SessionUpdated(SessionUpdated {
                session_id,
                bytes_up: 3 << 20,
                bytes_down: 3 << 24,
            }),
        });
        events.push(Event {
            id: Uuid::new_v4(),
            at: r.clock(),
            body: EventBody::SessionEnded(SessionEnded {
                session_id,
                reason: EndReason::Logout,
                bytes_up: 4 << 20,
                bytes_down: 4 << 24,
                duration_s: INTERVAL as u64,
            }),
        });
    }
    let session_id = Uuid::new_v4();
    let guest = mac(r.n, st.round);
    let code = voucher_code(r.n, st.round);
    events.push(Event {
        id: Uuid::new_v4(),
        at: r.clock(),
        body: EventBody::SessionStarted(SessionStarted {
            session_id,
            mac: guest,
            ip: Some("192.168.1.50".parse().expect("IP")),
            session_type: SessionType::Voucher,
            voucher_code: Some(code.clone()),
            access_id: None,
            device_fingerprint: None,
            user_agent: Some("Mozilla/5.0 (Linux; Android 12)".into()),
        }),
    });
    events.push(Event {
        id: Uuid::new_v4(),
        at: r.clock(),
        body: EventBody::VoucherRedeemed(VoucherRedeemed {
            voucher_code: code,
            mac: guest,
            session_id,
        }),
    });
    st.open = Some((session_id, guest));
    st.round += 1;
    PushRequest {
        version: 1,
        sent: r.clock(),
        events,
    }
}

/// A backlogged router's outbox as batches of whole sessions (start, update, end).
/// A batch ready to send: its event count and its gzip body.
type Batch = (usize, Vec<u8>);

fn backlog_batches(r: &Router, batches: usize) -> Vec<Batch> {
    (0..batches)
        .map(|b| {
            let mut events = Vec::with_capacity(BATCH);
            let mut guest = 0;
            while events.len() + 3 <= BATCH {
                let session_id = Uuid::new_v4();
                guest += 1;
                events.push(Event {
                    id: Uuid::new_v4(),
                    at: r.clock(),
                    body: EventBody::SessionStarted(SessionStarted {
                        session_id,
                        mac: mac(r.n, 10_000 + b * 200 + guest),
                        ip: Some("192.168.1.60".parse().expect("IP")),
                        session_type: SessionType::Voucher,
                        voucher_code: Some("OFFLINE234".into()),
                        access_id: None,
                        device_fingerprint: None,
                        user_agent: Some("Mozilla/5.0 (Linux; Android 12)".into()),
                    }),
                });
                events.push(Event {
                    id: Uuid::new_v4(),
                    at: r.clock(),
                    body: EventBody::SessionUpdated(SessionUpdated {
                        session_id,
                        bytes_up: 1 << 20,
                        bytes_down: 1 << 24,
                    }),
                });
                events.push(Event {
                    id: Uuid::new_v4(),
                    at: r.clock(),
                    body: EventBody::SessionEnded(SessionEnded {
                        session_id,
                        reason: EndReason::TimeUsedUp,
                        bytes_up: 2 << 20,
                        bytes_down: 2 << 24,
                        duration_s: 3600,
                    }),
                });
            }
            let n = events.len();
            let push = PushRequest {
                version: 1,
                sent: r.clock(),
                events,
            };
            (n, gzip(&serde_json::to_vec(&push).expect("JSON")))
        })
        .collect()
}

/// gzip as the router compresses its batches (`flate2::Compression::fast`).
fn gzip(body: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body).expect("gzip");
    gz.finish().expect("gzip")
}

/// `s` fit for a query string.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Where requests go: one address (a replica, or haproxy), or the replicas in turn.
struct Target {
    bases: Vec<String>,
    next: AtomicU64,
}

impl Target {
    fn base(&self) -> &str {
        let i = self.next.fetch_add(1, Ordering::Relaxed) as usize % self.bases.len();
        &self.bases[i]
    }
}

/// Latencies in microseconds.
#[derive(Default)]
struct Lat(Mutex<Vec<u64>>);

impl Lat {
    fn add(&self, since: Instant) {
        self.0
            .lock()
            .unwrap()
            .push(since.elapsed().as_micros() as u64);
    }
    /// (count, p50 ms, p99 ms, max ms)
    fn summary(&self) -> (usize, f64, f64, f64) {
        let mut v = std::mem::take(&mut *self.0.lock().unwrap());
        if v.is_empty() {
            return (0, f64::NAN, f64::NAN, f64::NAN);
        }
        v.sort_unstable();
        let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1000.0;
        (
            v.len(),
            at(0.5),
            at(0.99),
            *v.last().unwrap() as f64 / 1000.0,
        )
    }
}

/// Seconds of CPU (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name is in parentheses and may hold spaces: count fields after its end.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); `rest` starts at field 3.
    let t = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (t(14) + t(15)) / ticks
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_ready(http: &reqwest::Client, base: &str, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await
            && r.status() == 200
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("{what} not ready after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Bytes on disk (with indexes and TOAST) of the tables a push writes.
async fn sync_bytes(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT sum(pg_total_relation_size(relid))::bigint FROM (
                 SELECT relid FROM pg_partition_tree('hotspot_sessions')
                 UNION ALL SELECT unnest(ARRAY['edge_events', 'hotspot_voucher_redemptions',
                     'hotspot_vouchers', 'hotspot_devices', 'client_hotspot_access',
                     'hotspot_analytics', 'sync_changes']::regclass[])) t",
            &[],
        )
        .await?
        .get(0))
}

/// CPU seconds of this database's backends now, by pid.
async fn backend_cpu(
    db: &tokio_postgres::Client,
    ticks: f64,
) -> anyhow::Result<std::collections::HashMap<u32, f64>> {
    Ok(db
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            let pid = r.get::<_, i32>(0) as u32;
            (pid, cpu_seconds(pid, ticks))
        })
        .collect())
}

fn backend_cpu_delta(
    before: &std::collections::HashMap<u32, f64>,
    after: &std::collections::HashMap<u32, f64>,
) -> f64 {
    after
        .iter()
        .map(|(pid, t)| t - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("hotspot_fleet_{}", Uuid::new_v4().simple());
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
    let routers_n = env_or("BENCH_ROUTERS", 10_000) as usize;
    let seconds = env_or("BENCH_SECONDS", 60) as f64;
    let conns = env_or("BENCH_CONNS", 64) as usize;
    let backlog_per_replica = env_or("BENCH_BACKLOG_ROUTERS", 8) as usize;
    let backlog_n = env_or("BENCH_BACKLOG_BATCHES", 40) as usize;
    let pool_size = env_or("BENCH_POOL", 16);
    let topologies: Vec<usize> = std::env::var("BENCH_REPLICAS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|n| (1..=2).contains(n))
        .collect();
    let ticks = clock_ticks();

    let mut config: tokio_postgres::Config = admin_url.parse()?;
    config.dbname(name);
    let url = url_of(&config);
    let (db, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let pool = hotspot_cloud::db::pool(&url, 2)?;
    hotspot_cloud::db::migrate(&pool).await?;
    pool.close();

    // The fleet: tenants of 100 sites, a hotspot and a claimed router per site, vouchers to
    // redeem. Claimed through the claim's own SQL (`device_claim`), all in a few statements.
    let t = Instant::now();
    let tenants = routers_n.div_ceil(ROUTERS_PER_TENANT);
    let tenant_ids: Vec<Uuid> = db
        .query(
            "INSERT INTO tenants (name, slug, status)
             SELECT 'Fleet ' || g, 'fleet-' || g, 'active' FROM generate_series(1, $1) g
             RETURNING id",
            &[&(tenants as i32)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let router_tenant: Vec<Uuid> = (0..routers_n)
        .map(|i| tenant_ids[i / ROUTERS_PER_TENANT])
        .collect();
    let mut hotspots = vec![Uuid::nil(); routers_n];
    for r in db
        .query(
            "INSERT INTO hotspots (tenant_id, name, location, ssid)
             SELECT t, 'Site ' || (n - 1), 'Nairobi', 'Fleet'
             FROM unnest($1::uuid[]) WITH ORDINALITY AS u(t, n)
             RETURNING id, name",
            &[&router_tenant],
        )
        .await?
    {
        let name: String = r.get(1);
        hotspots[name["Site ".len()..].parse::<usize>()?] = r.get(0);
    }
    let codes: Vec<Vec<u8>> = (0..routers_n)
        .map(|_| {
            device::hash(
                &device::normalize_claim_code(&device::new_claim_code()).expect("a valid code"),
            )
        })
        .collect();
    db.execute(
        "INSERT INTO hotspot_devices (tenant_id, hotspot_id, claim_code_hash, claim_expires_at)
         SELECT t, h, c, now() + interval '1 hour' FROM unnest($1::uuid[], $2::uuid[], $3::bytea[]) AS u(t, h, c)",
        &[&router_tenant, &hotspots, &codes],
    )
    .await?;
    let tokens: Vec<String> = (0..routers_n).map(|_| device::new_token()).collect();
    let token_hashes: Vec<Vec<u8>> = tokens.iter().map(|t| device::hash(t)).collect();
    let claimed: i64 = db
        .query_one(
            "SELECT count(c.device_id) FROM unnest($1::bytea[], $2::bytea[]) AS u(code, token),
                 LATERAL device_claim(u.code, u.token) c",
            &[&codes, &token_hashes],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        claimed as usize == routers_n,
        "claimed {claimed} of {routers_n}"
    );
    // One voucher per round each router will play, one device each.
    let rounds_per_topology = (seconds / INTERVAL).ceil() as usize + 1;
    let vouchers = rounds_per_topology * topologies.len();
    db.execute(
        "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, voucher_type,
                                       duration_minutes, max_devices)
         SELECT t, h, 'FL' || lpad((n - 1)::text, 6, '0') || 'V' || lpad(k::text, 3, '0'),
                'time_based', 60, 1
         FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS u(t, h, n),
              generate_series(0, $3 - 1) k",
        &[&router_tenant, &hotspots, &(vouchers as i32)],
    )
    .await?;
    db.batch_execute("VACUUM ANALYZE").await?;
    println!(
        "fleet: {routers_n} routers claimed in {tenants} tenants, {} vouchers, in {:.1} s",
        routers_n * vouchers,
        t.elapsed().as_secs_f64()
    );

    let routers: Arc<Vec<Router>> = Arc::new(
        tokens
            .into_iter()
            .enumerate()
            .map(|(n, token)| Router {
                n,
                token,
                boot: Uuid::new_v4(),
                booted: Instant::now(),
                state: Mutex::default(),
            })
            .collect(),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(60))
        .build()?;
    let logs = tempfile::tempdir()?;
    let secrets_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
    };
    let haproxy_cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/ha/haproxy.cfg");
    let have_haproxy = Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());

    let mut backlog_offset = 0;
    for &replicas in &topologies {
        let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
        let mut children = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let log = std::fs::File::create(logs.path().join(format!("cloud{}.log", i + 1)))?;
            children.push(Killed(
                Command::new(env!("CARGO_BIN_EXE_hotspot-cloud"))
                    .env("DATABASE_URL", &url)
                    .env("HOTSPOT_SECRETS_KEY", &secrets_key)
                    .env("HOTSPOT_DB_POOL", pool_size.to_string())
                    .env("HOTSPOT_RADIUS_AUTH_LISTEN", "127.0.0.1:0")
                    .env("HOTSPOT_RADIUS_ACCT_LISTEN", "127.0.0.1:0")
                    .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()?,
            ));
        }
        for (i, port) in ports.iter().enumerate() {
            wait_ready(
                &http,
                &format!("http://127.0.0.1:{port}"),
                &format!("replica {}", i + 1),
            )
            .await?;
        }
        let mut haproxy = None;
        let (target, how) = if replicas == 1 {
            (
                vec![format!("http://127.0.0.1:{}", ports[0])],
                "straight to the replica".to_owned(),
            )
        } else if have_haproxy {
            let lb = free_port();
            let log = std::fs::File::create(logs.path().join("haproxy.log"))?;
            haproxy = Some(Killed(
                Command::new("haproxy")
                    .arg("-db")
                    .arg("-f")
                    .arg(&haproxy_cfg)
                    .env("HOTSPOT_HA_LISTEN", format!("127.0.0.1:{lb}"))
                    .env("HOTSPOT_CLOUD_1", format!("127.0.0.1:{}", ports[0]))
                    .env("HOTSPOT_CLOUD_2", format!("127.0.0.1:{}", ports[1]))
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()?,
            ));
            let base = format!("http://127.0.0.1:{lb}");
            wait_ready(&http, &base, "haproxy").await?;
            (
                vec![base],
                "through haproxy (packaging/ha/haproxy.cfg)".to_owned(),
            )
        } else {
            (
                ports
                    .iter()
                    .map(|p| format!("http://127.0.0.1:{p}"))
                    .collect(),
                "round robin in the simulator (no haproxy installed)".to_owned(),
            )
        };
        let target = Arc::new(Target {
            bases: target,
            next: AtomicU64::new(0),
        });
        let pids: Vec<u32> = children.iter().map(|c| c.0.id()).collect();
        let lb_pid = haproxy.as_ref().map(|h| h.0.id());
        println!(
            "\n== {replicas} replica(s), {how}; {routers_n} routers, {conns} requests in flight at most"
        );

        // Steady: every router once per 30 s, spread evenly.
        let size_before = sync_bytes(&db).await?;
        let cpu_before: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p, ticks)).collect();
        let lb_before = lb_pid.map_or(0.0, |p| cpu_seconds(p, ticks));
        let pg_before = backend_cpu(&db, ticks).await?;
        let me_before = cpu_seconds(std::process::id(), ticks);
        let push_lat = Arc::new(Lat::default());
        let pull_lat = Arc::new(Lat::default());
        let stored = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let changes = Arc::new(AtomicU64::new(0));
        let sem = Arc::new(Semaphore::new(conns));
        let started = tokio::time::Instant::now();
        let mut late = Duration::ZERO;
        let mut tasks = Vec::new();
        let mut rounds = 0u64;
        'schedule: for k in 0.. {
            for (i, _) in routers.iter().enumerate() {
                let due = INTERVAL * (k as f64 + i as f64 / routers_n as f64);
                if due >= seconds {
                    break 'schedule;
                }
                let at = started + Duration::from_secs_f64(due);
                tokio::time::sleep_until(at).await;
                let permit = sem.clone().acquire_owned().await?;
                late = late.max(tokio::time::Instant::now() - at);
                rounds += 1;
                let (routers, http, target) = (routers.clone(), http.clone(), target.clone());
                let (push_lat, pull_lat) = (push_lat.clone(), pull_lat.clone());
                let (stored, failed, refused, changes) = (
                    stored.clone(),
                    failed.clone(),
                    refused.clone(),
                    changes.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let _permit = permit;
                    let r = &routers[i];
                    let body = gzip(&serde_json::to_vec(&round_batch(r)).expect("JSON"));
                    let t = Instant::now();
                    let resp = http
                        .post(format!("{}/sync/v1/events", target.base()))
                        .bearer_auth(&r.token)
                        .header("Content-Type", "application/json")
                        .header("Content-Encoding", "gzip")
                        .body(body)
                        .send()
                        .await;
                    match resp {
                        Ok(resp) if resp.status() == 200 => {
                            let answer: PushResponse = match resp.json().await {
                                Ok(a) => a,
                                Err(_) => {
                                    failed.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                            };
                            push_lat.add(t);
                            stored.fetch_add(u64::from(answer.accepted), Ordering::Relaxed);
                            refused.fetch_add(answer.actions.len() as u64, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                    let t = Instant::now();
                    let mut cursor = r.state.lock().unwrap().cursor.clone();
                    for _ in 0..20 {
                        let query = cursor
                            .as_deref()
                            .map(|c| format!("?cursor={}", percent(c)))
                            .unwrap_or_default();
                        let req = http
                            .get(format!("{}/sync/v1/changes{query}", target.base()))
                            .bearer_auth(&r.token);
                        let page: PullResponse = match req.send().await {
                            Ok(resp) if resp.status() == 200 => match resp.json().await {
                                Ok(p) => p,
                                Err(_) => {
                                    failed.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                            },
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                        };
                        changes.fetch_add(page.changes.len() as u64, Ordering::Relaxed);
                        cursor = Some(page.cursor);
                        if !page.more {
                            break;
                        }
                    }
                    pull_lat.add(t);
                    r.state.lock().unwrap().cursor = cursor;
                }));
            }
        }
        for t in tasks {
            t.await?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu: Vec<f64> = pids
            .iter()
            .zip(&cpu_before)
            .map(|(p, b)| cpu_seconds(*p, ticks) - b)
            .collect();
        let lb_cpu = lb_pid.map_or(0.0, |p| cpu_seconds(p, ticks)) - lb_before;
        let pg_cpu = backend_cpu_delta(&pg_before, &backend_cpu(&db, ticks).await?);
        let me_cpu = cpu_seconds(std::process::id(), ticks) - me_before;
        let grown = sync_bytes(&db).await? - size_before;
        let events = stored.load(Ordering::Relaxed);
        let (pushes, p50, p99, pmax) = push_lat.summary();
        let (pulls, q50, q99, qmax) = pull_lat.summary();
        // A router does a round every 30 s: 2,880 a day. Costs are per round done (under a busy
        // machine the rounds may fall behind their schedule), scaled to a router-day.
        let router_days = pushes.max(1) as f64 / (86_400.0 / INTERVAL);
        let cpu_total: f64 = cpu.iter().sum();
        println!(
            "steady: {rounds} rounds in {elapsed:.1} s ({:.0} pushes/s offered), {events} events stored: {:.0} events/s; {} failed, {} redemptions refused, {} changes pulled; start at most {:.0} ms late",
            rounds as f64 / elapsed,
            events as f64 / elapsed,
            failed.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
            changes.load(Ordering::Relaxed),
            late.as_secs_f64() * 1000.0,
        );
        println!(
            "  push ({pushes}): p50 {p50:.1} ms, p99 {p99:.1} ms, max {pmax:.1} ms; pull ({pulls}): p50 {q50:.1} ms, p99 {q99:.1} ms, max {qmax:.1} ms"
        );
        for (i, c) in cpu.iter().enumerate() {
            println!(
                "  replica {}: {c:.2} CPU s ({:.1}% of a core)",
                i + 1,
                100.0 * c / elapsed
            );
        }
        if lb_pid.is_some() {
            println!(
                "  haproxy: {lb_cpu:.2} CPU s ({:.1}% of a core)",
                100.0 * lb_cpu / elapsed
            );
        }
        println!(
            "  PostgreSQL backends of the bench database: {pg_cpu:.2} CPU s ({:.1}% of a core)",
            100.0 * pg_cpu / elapsed
        );
        println!("  the simulator itself: {me_cpu:.2} CPU s");
        println!(
            "  per round (push + pull): replicas {:.2} ms CPU, PostgreSQL {:.2} ms, haproxy {:.2} ms; database +{:.0} B ({} B per event stored)",
            1000.0 * cpu_total / pushes.max(1) as f64,
            1000.0 * pg_cpu / pushes.max(1) as f64,
            1000.0 * lb_cpu / pushes.max(1) as f64,
            grown as f64 / pushes.max(1) as f64,
            if events > 0 { grown / events as i64 } else { 0 },
        );
        println!(
            "  per router-day (a round every 30 s, a guest session each): replicas {:.1} CPU s, PostgreSQL {:.1} CPU s, haproxy {:.1} CPU s, database +{:.0} KiB",
            cpu_total / router_days,
            pg_cpu / router_days,
            lb_cpu / router_days,
            grown as f64 / router_days / 1024.0,
        );
        println!(
            "  routers one core serves at a round every 30 s: replica {:.0}, PostgreSQL {:.0}",
            INTERVAL * pushes as f64 / cpu_total.max(1e-9),
            INTERVAL * pushes as f64 / pg_cpu.max(1e-9),
        );

        // Backlog: routers back from a day offline drain their outboxes at once.
        let backlogged = backlog_per_replica * replicas;
        let work: Vec<(usize, Vec<Batch>)> = (0..backlogged)
            .map(|j| {
                let n = (backlog_offset + j) % routers_n;
                (n, backlog_batches(&routers[n], backlog_n))
            })
            .collect();
        backlog_offset += backlogged;
        let total: usize = work
            .iter()
            .map(|(_, b)| b.iter().map(|(n, _)| n).sum::<usize>())
            .sum();
        let batch_lat = Arc::new(Lat::default());
        let stored = Arc::new(AtomicU64::new(0));
        let cpu_before: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p, ticks)).collect();
        let pg_before = backend_cpu(&db, ticks).await?;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (n, batches) in work {
            let (routers, http, target) = (routers.clone(), http.clone(), target.clone());
            let (batch_lat, stored) = (batch_lat.clone(), stored.clone());
            tasks.push(tokio::spawn(async move {
                for (_, body) in batches {
                    let t = Instant::now();
                    let resp = http
                        .post(format!("{}/sync/v1/events", target.base()))
                        .bearer_auth(&routers[n].token)
                        .header("Content-Type", "application/json")
                        .header("Content-Encoding", "gzip")
                        .body(body)
                        .send()
                        .await
                        .expect("push");
                    assert_eq!(resp.status(), 200, "backlog push");
                    let answer: PushResponse = resp.json().await.expect("answer");
                    batch_lat.add(t);
                    stored.fetch_add(u64::from(answer.accepted), Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu: Vec<f64> = pids
            .iter()
            .zip(&cpu_before)
            .map(|(p, b)| cpu_seconds(*p, ticks) - b)
            .collect();
        let pg_cpu = backend_cpu_delta(&pg_before, &backend_cpu(&db, ticks).await?);
        let events = stored.load(Ordering::Relaxed);
        anyhow::ensure!(events as usize == total, "stored {events} of {total}");
        let (batches, b50, b99, _) = batch_lat.summary();
        println!(
            "backlog: {backlogged} routers, {batches} batches of up to {BATCH}: {events} events in {elapsed:.1} s = {:.0} events/s ({:.0} per replica); batch p50 {b50:.0} ms, p99 {b99:.0} ms",
            events as f64 / elapsed,
            events as f64 / elapsed / replicas as f64,
        );
        println!(
            "  CPU s: replicas {}, PostgreSQL backends {pg_cpu:.2}",
            cpu.iter()
                .map(|c| format!("{c:.2}"))
                .collect::<Vec<_>>()
                .join(" + "),
        );
        drop(haproxy);
        drop(children);
    }
    Ok(())
}
