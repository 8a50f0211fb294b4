//! hotspotd as a RADIUS NAS against the cloud's own RADIUS server, with the real binaries and a
//! real PostgreSQL: a voucher the cloud sells (the demo tenant's) is entered on the portal of an
//! unclaimed `hotspotd` whose `[radius]` points at `hotspot-cloud`'s UDP listeners; the cloud
//! authorises it, the router lets the guest in (recording firewall, `backend = "off"`), and its
//! accounting Start and Stop become a `radacct` row in PostgreSQL. Then the same over RadSec
//! (RADIUS over TLS, RFC 6614) to the cloud's RadSec listener, with a test CA: the router is
//! known to the cloud by its client certificate only, and a server certificate from a CA the
//! router does not trust gets no request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use hotspot_system_tests::binary;
use hotspot_system_tests::stack::{
    Db, Killed, cloud, free_port, http_status, serve_cloud, wait_until,
};
use sha2::Digest;

const SECRET: &str = "edge-nas-secret-0123456789";
const MAC: &str = "02:00:00:00:00:07";
const VOUCHER: &str = "DEM2VW3HKA";

/// One HTTP/1.1 exchange with the portal from 127.0.0.1: (status, body).
fn http(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn token(port: u16) -> String {
    let (_, body) = http(
        port,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    let at = body.find("name=\"token\" value=\"").expect("a form token") + 20;
    body[at..at + 32].to_owned()
}

fn post(port: u16, path: &str, body: &str) -> (u16, String) {
    http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn edge_query(db: &Path, sql: &str) -> Option<String> {
    let store = hotspot_edge::store::Store::open(db).ok()?;
    let sql = sql.to_owned();
    store
        .blocking(move |c| {
            Ok(c.query_row(&sql, [], |r| r.get::<_, Option<String>>(0))
                .ok()
                .flatten())
        })
        .ok()
        .flatten()
}

fn edge_i64(db: &Path, sql: &str) -> i64 {
    let store = hotspot_edge::store::Store::open(db).unwrap();
    let sql = sql.to_owned();
    store
        .blocking(move |c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?))
        .unwrap()
}

/// The demo tenant seeded, and its id.
fn demo_tenant(db: &Db) -> String {
    cloud(db, &[], &["seed", "--demo"]);
    db.query("SELECT id FROM tenants ORDER BY created_at LIMIT 1")
}

/// A `hotspotd` on 127.0.0.1 with `radius` as its `[radius]` section (after `enabled = true`),
/// its log at `dir/hotspotd.log`: (the process, the portal's port, the database).
fn start_edge(dir: &Path, radius: &str) -> (Killed, u16, PathBuf) {
    let leases = dir.join("dhcp.leases");
    std::fs::write(&leases, format!("0 {MAC} 127.0.0.1 phone *\n")).unwrap();
    let portal = free_port();
    let edge_db = dir.join("edge.db");
    let config = dir.join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[lan]\naddress = \"127.0.0.1\"\n\
             [portal]\nlisten = \"127.0.0.1:{portal}\"\n\
             [store]\npath = {edge_db:?}\n\
             [clients]\nneighbour_source = \"leases\"\nlease_file = {leases:?}\ncapture = false\n\
             [firewall]\nbackend = \"off\"\n\
             [radius]\nenabled = true\n{radius}\
             nas_identifier = \"edge-nas\"\ncalled_station_id = \"Demo WiFi\"\n\
             timeout_ms = 500\nretries = 1\nlogin = \"radius\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("hotspotd.log")).unwrap();
    let edge = Killed(
        Command::new(binary("hotspotd"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_until("hotspotd portal", 20, || {
        http_status(portal, "/healthz") == Some(200)
    });
    (edge, portal, edge_db)
}

fn logs(dir: &Path) -> String {
    format!(
        "hotspotd: {}\ncloud: {}",
        std::fs::read_to_string(dir.join("hotspotd.log")).unwrap_or_default(),
        std::fs::read_to_string(dir.join("cloud.log")).unwrap_or_default()
    )
}

/// The demo voucher entered on the portal: the guest is let in with the voucher's time, the
/// Start and (after logout) the Stop reach `radacct`, and the router's queue is emptied.
fn voucher_login_accounted(db: &Db, dir: &Path, portal: u16, edge_db: &Path) {
    // The code is unknown to the router (unclaimed, nothing synced): only the cloud knows it.
    let (status, body) = post(
        portal,
        "/login",
        &format!("code={VOUCHER}&token={}", token(portal)),
    );
    assert!(
        status == 303 || status == 200,
        "{status} {body}\n{}",
        logs(dir)
    );
    assert_eq!(
        edge_query(edge_db, "SELECT user_name FROM radius_sessions").as_deref(),
        Some(VOUCHER)
    );
    let acct_id = edge_query(edge_db, "SELECT acct_session_id FROM radius_sessions").unwrap();
    // The cloud answers with the voucher's time left (one hour).
    let limit = edge_i64(
        edge_db,
        "SELECT ends_at - start_time FROM sessions WHERE session_status = 'active'",
    );
    assert!((3500..=3600).contains(&limit), "{limit}");

    // Accounting Start reached PostgreSQL with the router's attributes.
    wait_until("the Start in radacct", 20, || {
        db.count(&format!(
            "SELECT count(*) FROM radacct WHERE acctsessionid = '{acct_id}'"
        )) == 1
    });
    assert_eq!(
        db.query(&format!(
            "SELECT username || '|' || callingstationid || '|' || calledstationid \
             FROM radacct WHERE acctsessionid = '{acct_id}'"
        )),
        format!("{VOUCHER}|02-00-00-00-00-07|Demo WiFi")
    );

    // Logout: the Stop closes the row with the router's cause.
    let (status, _) = post(portal, "/logout", &format!("token={}", token(portal)));
    assert_eq!(status, 200, "{}", logs(dir));
    wait_until("the Stop in radacct", 20, || {
        db.query(&format!(
            "SELECT coalesce(acctterminatecause, '') FROM radacct WHERE acctsessionid = '{acct_id}'"
        )) == "User-Request"
    });
    // Nothing left in the router's accounting queue but what the server answered.
    wait_until("the accounting queue empty", 10, || {
        edge_i64(edge_db, "SELECT count(*) FROM radius_acct_queue") == 0
    });
}

#[test]
fn a_cloud_voucher_logs_a_guest_in_at_a_radius_nas_and_is_accounted() {
    let Some(db) = Db::new("radius_nas") else {
        return;
    };
    let tenant = demo_tenant(&db);
    // The router is a NAS of the demo tenant at 127.0.0.1 (no hotspot: any of its vouchers).
    db.query(&format!(
        "INSERT INTO nas (tenant_id, nasname, shortname, secret, require_ma)
         VALUES ('{tenant}', '127.0.0.1', 'edge-nas', '{SECRET}', 'yes')"
    ));
    let (api, auth, acct) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let _cloud = serve_cloud(
        &db,
        api,
        &[
            ("HOTSPOT_RADIUS_AUTH_LISTEN", format!("127.0.0.1:{auth}")),
            ("HOTSPOT_RADIUS_ACCT_LISTEN", format!("127.0.0.1:{acct}")),
        ],
        &dir.path().join("cloud.log"),
    );
    let (_edge, portal, edge_db) = start_edge(
        dir.path(),
        &format!(
            "auth_servers = [\"127.0.0.1:{auth}\"]\nacct_servers = [\"127.0.0.1:{acct}\"]\n\
             secret = \"{SECRET}\"\n"
        ),
    );
    voucher_login_accounted(&db, dir.path(), portal, &edge_db);
}

/// A CA (its issuer and PEM certificate).
fn new_ca() -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (rcgen::Issuer::new(params, key), cert.pem())
}

/// A certificate `ca` signed for `names` (IP addresses become IP SANs): PEM certificate, PEM
/// key, DER certificate.
fn issue(ca: &rcgen::Issuer<'static, rcgen::KeyPair>, names: &[&str]) -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap()
            .signed_by(&key, ca)
            .unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

#[test]
fn radsec_to_the_cloud_logs_in_and_accounts_and_refuses_an_untrusted_server() {
    let Some(db) = Db::new("radius_nas_tls") else {
        return;
    };
    let tenant = demo_tenant(&db);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // One private CA signs the cloud's server certificate and the router's client certificate.
    let (ca, ca_pem) = new_ca();
    let (server_cert, server_key, _) = issue(&ca, &["127.0.0.1"]);
    let (client_cert, client_key, client_der) = issue(&ca, &["edge-nas.example"]);
    let ca_file = write("ca.pem", &ca_pem);
    let (other_ca, other_ca_pem) = new_ca();
    drop(other_ca);
    let other_ca_file = write("other-ca.pem", &other_ca_pem);
    let client_cert_file = write("client.pem", &client_cert);
    let client_key_file = write("client.key", &client_key);
    // The cloud knows the router by its certificate only: the row's address is elsewhere.
    let fingerprint: String = sha2::Sha256::digest(&client_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    db.query(&format!(
        "INSERT INTO nas (tenant_id, nasname, shortname, secret, tls_fingerprint)
         VALUES ('{tenant}', '192.0.2.77', 'edge-nas', '{SECRET}', '{fingerprint}')"
    ));
    let (api, radsec) = (free_port(), free_port());
    let _cloud = serve_cloud(
        &db,
        api,
        &[
            ("HOTSPOT_RADSEC_LISTEN", format!("127.0.0.1:{radsec}")),
            (
                "HOTSPOT_RADSEC_CERT",
                write("server.pem", &server_cert).display().to_string(),
            ),
            (
                "HOTSPOT_RADSEC_KEY",
                write("server.key", &server_key).display().to_string(),
            ),
            ("HOTSPOT_RADSEC_CLIENT_CA", ca_file.display().to_string()),
        ],
        &dir.path().join("cloud.log"),
    );
    let radius = |trusted: &Path| {
        format!(
            "auth_servers = [\"radsec://127.0.0.1:{radsec}\"]\nradsec_ca = {trusted:?}\n\
             radsec_cert = {client_cert_file:?}\nradsec_key = {client_key_file:?}\n"
        )
    };

    // A router that trusts another CA sends nothing to the cloud: the handshake fails, the
    // login is refused as "server unreachable", and no request reaches PostgreSQL.
    {
        let (_edge, portal, edge_db) = start_edge(dir.path(), &radius(&other_ca_file));
        let (status, body) = post(
            portal,
            "/login",
            &format!("code={VOUCHER}&token={}", token(portal)),
        );
        assert_eq!(status, 503, "{body}\n{}", logs(dir.path()));
        assert!(body.contains("cannot be reached"), "{body}");
        assert_eq!(edge_i64(&edge_db, "SELECT count(*) FROM sessions"), 0);
        let log = std::fs::read_to_string(dir.path().join("hotspotd.log")).unwrap();
        assert!(
            log.contains("RadSec connection failed") && log.contains("invalid peer certificate"),
            "{log}"
        );
    }
    assert_eq!(db.count("SELECT count(*) FROM radacct"), 0);
    assert_eq!(db.count("SELECT count(*) FROM radpostauth"), 0);

    // Trusting the right CA: login, Start and Stop over TLS, with no UDP listener at all.
    let (_edge, portal, edge_db) = start_edge(dir.path(), &radius(&ca_file));
    voucher_login_accounted(&db, dir.path(), portal, &edge_db);
    let log = std::fs::read_to_string(dir.path().join("hotspotd.log")).unwrap();
    assert!(!log.contains("RadSec connection failed"), "{log}");
}
