//! The whole product on one machine, for system tests: a PostgreSQL database of the test's own,
//! `hotspot-cloud` serving it, the Daraja simulator, and a claimed `hotspotd`, each a real
//! process on loopback.
//!
//! Everything is removed when dropped: processes are killed, the database is dropped, the
//! router's directory deleted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::binary;

/// The server tests make their databases on: `DATABASE_URL`, or the local default.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A port free at the moment of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ok` every 200 ms; panics naming `what` after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A database of its own, made and dropped with psql.
#[derive(Debug)]
pub struct Db {
    pub name: String,
    pub url: String,
}

impl Db {
    /// `None`, after printing why, when no PostgreSQL server can be reached.
    pub fn new(tag: &str) -> Option<Self> {
        let admin = admin_url();
        let Some((base, _)) = admin
            .rsplit_once('/')
            .filter(|_| admin.starts_with("postgres"))
        else {
            eprintln!("SKIPPED: DATABASE_URL is not a postgres:// URL");
            return None;
        };
        let name = format!("hotspot_{tag}_{}", std::process::id());
        let ok = Command::new("psql")
            .args([
                admin.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {name}"),
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("SKIPPED: cannot create a database with psql at {admin}");
            return None;
        }
        Some(Db {
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// One value (or rows joined by newlines, columns by `|`) from `sql`.
    pub fn query(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([self.url.as_str(), "-Atqc", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.query(sql).parse().unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                admin_url().as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .status();
    }
}

/// A secrets key for tests (the cloud seals M-Pesa credentials with it): 32 bytes, base64.
pub const SECRETS_KEY: &str = "dGVzdC1rZXktdGhhdC1pcy0zMi1ieXRlcy1sb25nISE=";

/// Runs `hotspot-cloud ARGS` against `db` with `env`, whatever its outcome.
pub fn cloud_output(db: &Db, env: &[(&str, String)], args: &[&str]) -> Output {
    Command::new(binary("hotspot-cloud"))
        .env("DATABASE_URL", &db.url)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `hotspot-cloud ARGS` against `db` with `env`; panics with its stderr on failure.
pub fn cloud(db: &Db, env: &[(&str, String)], args: &[&str]) -> Output {
    let out = cloud_output(db, env, args);
    assert!(
        out.status.success(),
        "hotspot-cloud {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// GETs `path` on 127.0.0.1:`port`; the status code, or `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split(' ').nth(1)?.parse().ok()
}

/// `hotspot-cloud serve` on 127.0.0.1:`port` with `env`, once it reports ready. Its log is
/// appended to `log`.
pub fn serve_cloud(db: &Db, port: u16, env: &[(&str, String)], log: &std::path::Path) -> Killed {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Killed(
        Command::new(binary("hotspot-cloud"))
            .env("DATABASE_URL", &db.url)
            // Any free port: several clouds may run at once.
            .env("HOTSPOT_RADIUS_AUTH_LISTEN", "127.0.0.1:0")
            .env("HOTSPOT_RADIUS_ACCT_LISTEN", "127.0.0.1:0")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_until("hotspot-cloud ready", 30, || {
        http_status(port, "/health/ready") == Some(200)
    });
    child
}

/// A cloud over `db` seeded with the demo tenant (its operator's password `password`), serving
/// the console over plain HTTP on loopback (cookies without Secure, as in development); its log
/// in `dir`, which the test may use for files of its own.
#[derive(Debug)]
pub struct DemoConsole {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub dir: tempfile::TempDir,
    _cloud: Killed,
}

impl DemoConsole {
    pub fn start(db: &Db, password: &str) -> DemoConsole {
        let env = [
            ("HOTSPOT_SECRETS_KEY", SECRETS_KEY.to_owned()),
            ("HOTSPOT_DEMO_PASSWORD", password.to_owned()),
            ("HOTSPOT_CONSOLE_INSECURE_COOKIES", "1".to_owned()),
        ];
        cloud(db, &env, &["seed", "--demo"]);
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let cloud = serve_cloud(db, port, &env, &dir.path().join("cloud.log"));
        DemoConsole {
            base: format!("http://127.0.0.1:{port}"),
            dir,
            _cloud: cloud,
        }
    }
}

/// The Daraja simulator on a free port of 127.0.0.1 (results after 1 s), once it answers; killed
/// when dropped. Returns it and its port.
pub fn start_daraja_sim() -> (Killed, u16) {
    let sim_port = free_port();
    let sim = Killed(
        Command::new(binary("daraja-sim"))
            .args([
                "--listen",
                &format!("127.0.0.1:{sim_port}"),
                "--result-delay",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("daraja-sim", 20, || {
        TcpStream::connect(("127.0.0.1", sim_port)).is_ok()
    });
    (sim, sim_port)
}

/// The cloud as the payment tests need it: the Daraja simulator (results after 1 s), the demo
/// tenant with M-Pesa sandbox credentials pointed at it, and `hotspot-cloud serve` with quick
/// status queries and jobs every second. Both processes are killed when dropped.
#[derive(Debug)]
pub struct PaymentsCloud {
    pub port: u16,
    pub sim_port: u16,
    _sim: Killed,
    _cloud: Killed,
}

impl PaymentsCloud {
    /// Migrates and seeds `db`, then starts both; the cloud's log is appended to `log`.
    pub fn start(db: &Db, log: &std::path::Path) -> Self {
        Self::start_with(db, log, &[])
    }

    /// [`Self::start`], with `extra` in the environment of the seed and of the service (the
    /// demo operator's password, the console's cookie setting).
    pub fn start_with(db: &Db, log: &std::path::Path, extra: &[(&str, String)]) -> Self {
        let (sim, sim_port) = start_daraja_sim();
        let mut key = vec![("HOTSPOT_SECRETS_KEY", SECRETS_KEY.to_owned())];
        key.extend(extra.iter().cloned());
        cloud(db, &key, &["migrate"]);
        cloud(db, &key, &["seed", "--demo", "--mpesa-sandbox"]);
        let port = free_port();
        let mut env = vec![
            ("HOTSPOT_SECRETS_KEY", SECRETS_KEY.to_owned()),
            ("HOTSPOT_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
            (
                "HOTSPOT_DARAJA_SANDBOX_URL",
                format!("http://127.0.0.1:{sim_port}"),
            ),
            ("HOTSPOT_MPESA_FIRST_QUERY_SECS", "3".to_owned()),
            ("HOTSPOT_MPESA_QUERY_EVERY_SECS", "1".to_owned()),
            ("HOTSPOT_MPESA_QUERY_MAX_SECS", "2".to_owned()),
            ("HOTSPOT_JOBS_INTERVAL_SECS", "1".to_owned()),
        ];
        env.extend(extra.iter().cloned());
        let cloud = serve_cloud(db, port, &env, log);
        Self {
            port,
            sim_port,
            _sim: sim,
            _cloud: cloud,
        }
    }
}

/// A router claimed to the first hotspot of the demo tenant, reached by the browser's address:
/// 127.0.0.1 is leased to [`Router::MAC`], so the daemon takes the browser for that guest.
#[derive(Debug)]
pub struct Router {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub portal_port: u16,
    pub hotspot: String,
}

impl Router {
    pub const MAC: &'static str = "02:00:00:00:00:07";

    /// Claims the demo tenant's first hotspot through the cloud at `cloud_port` (seeded and
    /// answering). `extra`: more TOML for the configuration.
    pub fn claim(db: &Db, cloud_port: u16, extra: &str) -> Self {
        let hotspot = db.query("SELECT id FROM hotspots ORDER BY created_at LIMIT 1");
        let code = String::from_utf8(cloud(db, &[], &["claim-code", "--hotspot", &hotspot]).stdout)
            .unwrap()
            .trim()
            .to_owned();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("edge.toml");
        let leases = dir.path().join("dhcp.leases");
        std::fs::write(&leases, format!("0 {} 127.0.0.1 phone *\n", Self::MAC)).unwrap();
        let portal_port = free_port();
        let text = format!(
            "[lan]\naddress = \"127.0.0.1\"\n\
             [portal]\nlisten = \"127.0.0.1:{portal_port}\"\n\
             [store]\npath = {:?}\n\
             [clients]\nneighbour_source = \"leases\"\nlease_file = {leases:?}\n\
             [firewall]\nbackend = \"off\"\n\
             [cloud]\nurl = \"http://127.0.0.1:{cloud_port}/\"\ncredential = {:?}\n{extra}",
            dir.path().join("edge.db"),
            dir.path().join("device.json"),
        );
        std::fs::write(&config, text).unwrap();
        let claimed = Command::new(binary("hotspotd"))
            .arg("--config")
            .arg(&config)
            .args(["claim", &code])
            .output()
            .unwrap();
        assert!(
            claimed.status.success(),
            "{}",
            String::from_utf8_lossy(&claimed.stderr)
        );
        Router {
            dir,
            config,
            portal_port,
            hotspot,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("edge.db")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("hotspotd.log")
    }

    pub fn portal(&self) -> String {
        format!("http://127.0.0.1:{}/", self.portal_port)
    }

    /// Starts `hotspotd run` (log appended to [`Self::log`]) and waits for its portal.
    pub fn start(&self) -> Killed {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let child = Killed(
            Command::new(binary("hotspotd"))
                .arg("--config")
                .arg(&self.config)
                .arg("run")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        wait_until("hotspotd portal", 20, || {
            http_status(self.portal_port, "/healthz") == Some(200)
        });
        child
    }

    /// What the router's own database says (read-only, beside the running daemon).
    pub fn query(&self, sql: &str) -> Option<String> {
        let c = hotspot_edge::store::Store::open(&self.db_path()).ok()?;
        let sql = sql.to_owned();
        c.blocking(move |c| {
            Ok(c.query_row(&sql, [], |r| r.get::<_, Option<String>>(0))
                .ok()
                .flatten())
        })
        .ok()
        .flatten()
    }
}
