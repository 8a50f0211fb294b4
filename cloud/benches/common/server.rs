//! The service for a bench: a database of its own (created, migrated, dropped at the end) and
//! `hotspot-cloud` serving it, either in the bench's process or as the real binary in a process
//! of its own, whose memory can then be read apart from the load generator's.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use hotspot_cloud::api::{ApiState, secrets::SecretsKey};
use hotspot_cloud::{AppState, db};

use super::url_of;

/// The secrets key the benches' services use.
pub const SECRETS_KEY: [u8; 32] = [7; 32];

/// A database made for one bench run.
pub struct BenchDb {
    admin: tokio_postgres::Client,
    pub name: String,
    /// Connection settings of the bench's database (as the administrator of `DATABASE_URL`).
    pub config: tokio_postgres::Config,
}

impl BenchDb {
    /// Creates an empty database through `DATABASE_URL` (default: the local server).
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("hotspot_bench_{}", uuid::Uuid::new_v4().simple());
        let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .context("connecting to DATABASE_URL")?;
        tokio::spawn(conn);
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let mut config: tokio_postgres::Config = admin_url.parse()?;
        config.dbname(&name);
        Ok(Self {
            admin,
            name,
            config,
        })
    }

    /// The database's key=value connection string.
    pub fn url(&self) -> String {
        url_of(&self.config)
    }

    /// A pool of `size` connections to the database, its migrations applied.
    pub async fn migrated_pool(&self, size: usize) -> anyhow::Result<deadpool_postgres::Pool> {
        let pool = db::pool(&self.url(), size)?;
        db::migrate(&pool).await?;
        Ok(pool)
    }

    /// A connection as the schema owner, for loading data.
    pub async fn owner(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (owner, conn) = self.config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(owner)
    }

    /// Drops the database (connections still open to it are closed).
    pub async fn drop_now(self) -> anyhow::Result<()> {
        self.admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}

enum Running {
    InProcess(Option<tokio::sync::oneshot::Sender<()>>),
    Child(std::process::Child),
}

/// A running service.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The process serving (the bench's own when in process).
    pub pid: u32,
    running: Running,
}

impl Server {
    /// The service in this process on `pool`, payments off, with the default limits.
    pub async fn in_process(pool: deadpool_postgres::Pool) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = AppState {
            pool,
            api: ApiState::new(SecretsKey::from_bytes(SECRETS_KEY)),
            payments: hotspot_cloud::payments::Payments::disabled(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(hotspot_cloud::serve(state, listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            base: format!("http://{addr}"),
            pid: std::process::id(),
            running: Running::InProcess(Some(stop)),
        })
    }

    /// The real `hotspot-cloud serve` (this build's binary) on the database at `url`, with a
    /// pool of `pool_size`, RADIUS off, its log in `log`. Every other setting comes from the
    /// environment (`HOTSPOT_MAX_IN_FLIGHT`, `HOTSPOT_DB_WAIT_MS`, `RUST_LOG`, …). Returns once
    /// it answers `/health/ready`.
    pub async fn process(url: &str, pool_size: usize, log: &Path) -> anyhow::Result<Self> {
        // A free port: bound, read and let go (the service binds it a moment later).
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("creating the service's log {}", log.display()))?;
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hotspot-cloud"))
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("HOTSPOT_DB_POOL", pool_size.to_string())
            .env("HOTSPOT_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOTSPOT_RADIUS_AUTH_LISTEN", "off")
            .env("HOTSPOT_RADIUS_ACCT_LISTEN", "off")
            .env(
                "HOTSPOT_SECRETS_KEY",
                base64::engine::general_purpose::STANDARD.encode(SECRETS_KEY),
            )
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("JOURNAL_STREAM")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("starting hotspot-cloud serve")?;
        let mut server = Self {
            base: format!("http://127.0.0.1:{port}"),
            pid: child.id(),
            running: Running::Child(child),
        };
        let http = hotspot_cloud::mpesa::client::http_client()?;
        let started = Instant::now();
        loop {
            if let Running::Child(c) = &mut server.running
                && let Some(status) = c.try_wait()?
            {
                anyhow::bail!(
                    "hotspot-cloud serve exited ({status}) before answering; see {}",
                    log.display()
                );
            }
            let ready = http
                .get(format!("{}/health/ready", server.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(server);
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "hotspot-cloud serve not ready after 60 s; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The serving process's resident memory, MiB (NaN if it cannot be read).
    pub fn rss_mib(&self) -> f64 {
        rss_mib(self.pid)
    }

    /// Stops the service: SIGTERM for the child (then SIGKILL after 10 s), the shutdown signal
    /// in process.
    pub async fn stop(mut self) {
        match &mut self.running {
            Running::InProcess(stop) => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
            Running::Child(c) => {
                let _ = std::process::Command::new("kill")
                    .arg(c.id().to_string())
                    .status();
                for _ in 0..100 {
                    if c.try_wait().ok().flatten().is_some() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Running::Child(c) = &mut self.running
            && c.try_wait().ok().flatten().is_none()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Resident memory of process `pid`, MiB (NaN if it cannot be read).
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
