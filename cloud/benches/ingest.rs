//! Edge sync ingest throughput: events per second into PostgreSQL, batches of 500, several
//! routers pushing at once. Needs `DATABASE_URL` (a role that may create databases); makes a
//! database of its own and drops it.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p hotspot-cloud --bench ingest

use std::time::Instant;

use chrono::{Duration, Utc};
use hotspot_cloud::db;
use hotspot_cloud::sync::device::{self, ClaimRequest, Device};
use hotspot_cloud::sync::ingest;
use hotspot_shared::sync::{
    EdgeClock, EndReason, Event, EventBody, PushRequest, SessionEnded, SessionStarted, SessionType,
    SessionUpdated,
};
use uuid::Uuid;

const BATCH: usize = 500;
const ROUTERS: usize = 4;
const BATCHES_PER_ROUTER: usize = 40;

fn batch(boot: Uuid, uptime: &mut u64) -> PushRequest {
    let mut clock = || {
        *uptime += 10;
        EdgeClock {
            boot_id: boot,
            uptime_ms: *uptime,
            wall_ms: Utc::now().timestamp_millis(),
            wall_trusted: true,
        }
    };
    let mut events = Vec::with_capacity(BATCH);
    // A guest's life: started, three updates, ended; plus one of each other kind now and then.
    while events.len() + 5 <= BATCH {
        let session_id = Uuid::new_v4();
        let mac = format!(
            "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
            events.len() % 256,
            rand::random::<u8>(),
            rand::random::<u8>(),
            rand::random::<u8>()
        );
        let mac = mac.parse().expect("valid MAC");
        events.push(Event {
            id: Uuid::new_v4(),
            at: clock(),
            body: EventBody::SessionStarted(SessionStarted {
                session_id,
                mac,
                ip: Some("192.168.1.50".parse().expect("IP")),
                session_type: SessionType::Voucher,
                voucher_code: Some("BENCH23456".into()),
                access_id: None,
                device_fingerprint: None,
                user_agent: Some("Mozilla/5.0 (Linux; Android 12)".into()),
            }),
        });
        for i in 1..=3u64 {
            events.push(Event {
                id: Uuid::new_v4(),
                at: clock(),
                body: EventBody::SessionUpdated(SessionUpdated {
                    session_id,
                    bytes_up: i << 20,
                    bytes_down: i << 24,
                }),
            });
        }
        events.push(Event {
            id: Uuid::new_v4(),
            at: clock(),
            body: EventBody::SessionEnded(SessionEnded {
                session_id,
                reason: EndReason::TimeUsedUp,
                bytes_up: 4 << 20,
                bytes_down: 4 << 24,
                duration_s: 3600,
            }),
        });
    }
    PushRequest {
        version: 1,
        sent: clock(),
        events,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let admin_url =
        std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("set DATABASE_URL"))?;
    let name = format!("hotspot_bench_{}", Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let mut config: tokio_postgres::Config = admin_url.parse()?;
    config.dbname(&name);
    let (bench_client, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let url = format!(
        "host={} port={} user={} dbname={name}",
        match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        },
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().unwrap_or("postgres"),
    );
    let pool = db::pool(&url, ROUTERS + 2)?;
    db::migrate(&pool).await?;

    let mut devices: Vec<Device> = Vec::new();
    for r in 0..ROUTERS {
        let row = bench_client
            .query_one(
                "WITH t AS (INSERT INTO tenants (name, slug, status) VALUES ($1, $1, 'active') RETURNING id)
                 INSERT INTO hotspots (tenant_id, name, location, ssid) SELECT id, 'Bench', 'Nairobi', 'Bench' FROM t
                 RETURNING tenant_id, id",
                &[&format!("bench-{r}")],
            )
            .await?;
        let (tenant, hotspot): (Uuid, Uuid) = (row.get(0), row.get(1));
        let code = device::create_claim_code(
            &pool,
            tenant,
            hotspot,
            None,
            Utc::now() + Duration::hours(1),
        )
        .await?;
        let claimed = device::claim(
            &pool,
            &ClaimRequest {
                code: code.code,
                ..Default::default()
            },
        )
        .await?;
        devices.push(device::authenticate(&pool, &claimed.token).await?);
    }

    // Batches are built before the clock starts.
    let work: Vec<(Device, Vec<PushRequest>)> = devices
        .iter()
        .map(|d| {
            let boot = Uuid::new_v4();
            let mut uptime = 0;
            (
                *d,
                (0..BATCHES_PER_ROUTER)
                    .map(|_| batch(boot, &mut uptime))
                    .collect(),
            )
        })
        .collect();
    let total: usize = work
        .iter()
        .map(|(_, b)| b.iter().map(|p| p.events.len()).sum::<usize>())
        .sum();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (device, batches) in work {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for push in batches {
                let t = Instant::now();
                let resp = ingest::ingest(&pool, &device, &push, Utc::now())
                    .await
                    .expect("ingest");
                assert_eq!(resp.accepted as usize, push.events.len());
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "ingest: {total} events in {} batches of {BATCH} from {ROUTERS} routers at once: {:.2} s, {:.0} events/s; batch latency p50 {:?} p99 {:?}",
        latencies.len(),
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
    );

    // A replay of one batch: all duplicates, nothing applied.
    let (device, _) = (devices[0], ());
    let mut uptime = 0;
    let push = batch(Uuid::new_v4(), &mut uptime);
    ingest::ingest(&pool, &device, &push, Utc::now()).await?;
    let t = Instant::now();
    let resp = ingest::ingest(&pool, &device, &push, Utc::now()).await?;
    println!(
        "replay of a {BATCH}-event batch: {} duplicates in {:?}",
        resp.duplicates,
        t.elapsed()
    );

    pool.close();
    drop(bench_client);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await?;
    Ok(())
}
