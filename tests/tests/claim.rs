//! Provisioning end to end with the real binaries: the cloud makes a claim code, `hotspotd claim`
//! exchanges it for a credential stored with mode 0600, and the code does not work twice.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use hotspot_system_tests::binary;

fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own, made and dropped with psql.
struct Db {
    name: String,
    url: String,
}

impl Db {
    fn new() -> Option<Self> {
        let admin = admin_url();
        let Some((base, _)) = admin
            .rsplit_once('/')
            .filter(|_| admin.starts_with("postgres"))
        else {
            eprintln!("SKIPPED: DATABASE_URL is not a postgres:// URL");
            return None;
        };
        let name = format!("hotspot_claim_{}", std::process::id());
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

    fn query(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([self.url.as_str(), "-Atc", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
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

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cloud(db: &Db, args: &[&str]) -> Output {
    Command::new(binary("hotspot-cloud"))
        .env("DATABASE_URL", &db.url)
        .args(args)
        .output()
        .unwrap()
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            write!(
                s,
                "GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            if text.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "hotspot-cloud not ready within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_router_claims_its_hotspot_once_and_keeps_the_credential_private() {
    let Some(db) = Db::new() else { return };
    let seeded = cloud(&db, &["seed", "--demo"]);
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let hotspot = db.query("SELECT id FROM hotspots ORDER BY created_at LIMIT 1");
    let made = cloud(&db, &["claim-code", "--hotspot", &hotspot]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let code = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert_eq!(code.len(), 14, "{code}");
    let unknown = cloud(
        &db,
        &[
            "claim-code",
            "--hotspot",
            "00000000-0000-0000-0000-000000000000",
        ],
    );
    assert!(!unknown.status.success());

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Killed(
        Command::new(binary("hotspot-cloud"))
            .env("DATABASE_URL", &db.url)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .spawn()
            .unwrap(),
    );
    wait_ready(port);

    let dir = tempfile::tempdir().unwrap();
    let credential = dir.path().join("etc/device.json");
    let config = dir.path().join("edge.toml");
    std::fs::write(&config, format!("[cloud]\ncredential = {credential:?}\n")).unwrap();
    let claim = |code: &str| {
        Command::new(binary("hotspotd"))
            .arg("--config")
            .arg(&config)
            .args([
                "claim",
                "--cloud",
                &format!("http://127.0.0.1:{port}/"),
                code,
            ])
            .output()
            .unwrap()
    };
    let first = claim(&code.to_lowercase());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mode = std::fs::metadata(&credential).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&credential).unwrap()).unwrap();
    assert_eq!(stored["hotspot_id"], hotspot.as_str());
    let token = stored["token"].as_str().unwrap();
    assert!(token.starts_with("hsd_"));
    let kept = db.query(
        "SELECT encode(token_hash, 'hex') FROM hotspot_devices WHERE claimed_at IS NOT NULL",
    );
    assert!(
        !kept.contains(token) && kept.len() == 64,
        "only the hash is kept"
    );

    let second = claim(&code);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("wrong, used or expired"), "{err}");

    let not_https = claim_with(&config, "http://192.0.2.1/", &code);
    assert!(
        String::from_utf8_lossy(&not_https.stderr).contains("https"),
        "plain http refused"
    );
}

fn claim_with(config: &std::path::Path, url: &str, code: &str) -> Output {
    Command::new(binary("hotspotd"))
        .arg("--config")
        .arg(config)
        .args(["claim", "--cloud", url, code])
        .output()
        .unwrap()
}
