//! Benchmark of the operators' API against a real PostgreSQL, on a database of its own:
//! requests per second and latency percentiles of "list the active sessions of a hotspot" with
//! 100,000 sessions in the table, and the time to generate a batch of 10,000 vouchers.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p hotspot-cloud --bench api`
//! Optional: BENCH_SECONDS (default 10), BENCH_CONCURRENCY (default 16), BENCH_POOL (default 16).

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
    let seconds = env_or("BENCH_SECONDS", 10);
    let concurrency = env_or("BENCH_CONCURRENCY", 16) as usize;
    let pool_size = env_or("BENCH_POOL", 16) as usize;

    let name = format!("hotspot_bench_{}", uuid::Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let result = run(&admin_url, &name, seconds, concurrency, pool_size).await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    result
}

async fn run(
    admin_url: &str,
    name: &str,
    seconds: u64,
    concurrency: usize,
    pool_size: usize,
) -> anyhow::Result<()> {
    let mut config: tokio_postgres::Config = admin_url.parse()?;
    config.dbname(name);
    let (owner, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let pool = db::pool(&url_of(&config), pool_size)?;
    db::migrate(&pool).await?;

    // One tenant, ten hotspots, 100,000 sessions over the last 30 days; the first hotspot has
    // 1,000 of them active.
    let password = "bench-password";
    let hash = db::demo::hash_password(password)?;
    let t0 = Instant::now();
    let hotspot: uuid::Uuid = owner
        .query_one(
            "WITH t AS (INSERT INTO tenants (name, slug, status) VALUES ('Bench', 'bench', 'active')
                        RETURNING id),
                  u AS (INSERT INTO users (tenant_id, email, password_hash, roles)
                        SELECT id, 'bench@example.test', $1, '[\"tenant_admin\"]' FROM t),
                  h AS (INSERT INTO hotspots (tenant_id, name, location, ssid)
                        SELECT t.id, 'Site ' || g, 'Nairobi', 'Site-' || g
                        FROM t, generate_series(1, 10) g RETURNING id, name)
             SELECT id FROM h WHERE name = 'Site 1'",
            &[&hash],
        )
        .await?
        .get(0);
    owner
        .batch_execute(&format!(
            "SET app.tenant_id = '{tenant}';
             INSERT INTO hotspot_sessions (tenant_id, hotspot_id, mac_address, start_time,
                                           end_time, session_status, data_used_mb)
             SELECT h.tenant_id, h.id,
                    upper(substr(md5(g::text), 1, 2) || ':' || substr(md5(g::text), 3, 2) || ':' ||
                          substr(md5(g::text), 5, 2) || ':' || substr(md5(g::text), 7, 2) || ':' ||
                          substr(md5(g::text), 9, 2) || ':' || substr(md5(g::text), 11, 2)),
                    now() - (g % 43200) * interval '1 minute',
                    CASE WHEN h.name = 'Site 1' AND g % 100 = 0 THEN NULL
                         ELSE now() - (g % 43200) * interval '1 minute' + interval '30 minutes' END,
                    CASE WHEN h.name = 'Site 1' AND g % 100 = 0 THEN 'active' ELSE 'ended' END,
                    g % 500
             FROM generate_series(1, 100000) g
             JOIN hotspots h ON h.name = 'Site ' || (g % 10 + 1);
             RESET app.tenant_id;
             ANALYZE hotspot_sessions;",
            tenant = owner
                .query_one("SELECT tenant_id FROM hotspots WHERE id = $1", &[&hotspot])
                .await?
                .get::<_, uuid::Uuid>(0)
        ))
        .await?;
    let (sessions, active): (i64, i64) = {
        let r = owner
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE hotspot_id = $1 AND session_status = 'active')
                 FROM hotspot_sessions",
                &[&hotspot],
            )
            .await?;
        (r.get(0), r.get(1))
    };
    println!(
        "data: {sessions} sessions, {active} active at the measured hotspot (loaded in {:.1} s)",
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
    let http = hotspot_cloud::mpesa::client::http_client()?;
    let base = format!("http://{addr}");
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "bench@example.test", "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login failed: {login}"))?
        .to_owned();

    // 1. Active sessions of one hotspot, first page of 50, `concurrency` clients for `seconds`.
    let url = Arc::new(format!(
        "{base}/api/v1/hotspots/{hotspot}/sessions/active?limit=50"
    ));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match http.get(url.as_str()).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let start = Instant::now();
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    println!(
        "list active sessions (limit 50): {} requests in {elapsed:.1} s at concurrency {concurrency}: \
         {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
        lat.len(),
        lat.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
    );

    // 2. A batch of 10,000 vouchers.
    let package: uuid::Uuid = owner
        .query_one(
            "INSERT INTO service_packages (tenant_id, name, package_type, connection_type,
                 download_mbps, upload_mbps, price, duration_minutes)
             SELECT tenant_id, 'One hour', 'hotspot', 'hotspot', 5, 2, 20, 60
             FROM hotspots WHERE id = $1 RETURNING id",
            &[&hotspot],
        )
        .await?
        .get(0);
    let t = Instant::now();
    let resp = http
        .post(format!("{base}/api/v1/vouchers/batches"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"hotspot_id": hotspot, "package_id": package, "count": 10000}))
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    println!(
        "generate 10,000 vouchers: {:.2} s (status {status}, {} codes)",
        t.elapsed().as_secs_f64(),
        body["count"]
    );
    let _ = stop.send(());
    pool.close();
    Ok(())
}
