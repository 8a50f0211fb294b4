//! hotspotd as a RADIUS NAS against the cloud's own RADIUS server, with the real binaries and a
//! real PostgreSQL: a voucher the cloud sells (the demo tenant's) is entered on the portal of an
//! unclaimed `hotspotd` whose `[radius]` points at `hotspot-cloud`'s UDP listeners; the cloud
//! authorises it, the router lets the guest in (recording firewall, `backend = "off"`), and its
//! accounting Start and Stop become a `radacct` row in PostgreSQL.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use hotspot_system_tests::binary;
use hotspot_system_tests::stack::{
    Db, Killed, cloud, free_port, http_status, serve_cloud, wait_until,
};

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

#[test]
fn a_cloud_voucher_logs_a_guest_in_at_a_radius_nas_and_is_accounted() {
    let Some(db) = Db::new("radius_nas") else {
        return;
    };
    cloud(&db, &[], &["seed", "--demo"]);
    let tenant = db.query("SELECT id FROM tenants ORDER BY created_at LIMIT 1");
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

    let leases = dir.path().join("dhcp.leases");
    std::fs::write(&leases, format!("0 {MAC} 127.0.0.1 phone *\n")).unwrap();
    let portal = free_port();
    let edge_db = dir.path().join("edge.db");
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[lan]\naddress = \"127.0.0.1\"\n\
             [portal]\nlisten = \"127.0.0.1:{portal}\"\n\
             [store]\npath = {edge_db:?}\n\
             [clients]\nneighbour_source = \"leases\"\nlease_file = {leases:?}\ncapture = false\n\
             [firewall]\nbackend = \"off\"\n\
             [radius]\nenabled = true\nauth_servers = [\"127.0.0.1:{auth}\"]\n\
             acct_servers = [\"127.0.0.1:{acct}\"]\nsecret = \"{SECRET}\"\n\
             nas_identifier = \"edge-nas\"\ncalled_station_id = \"Demo WiFi\"\n\
             timeout_ms = 500\nretries = 1\nlogin = \"radius\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("hotspotd.log")).unwrap();
    let _edge = Killed(
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

    // The code is unknown to the router (unclaimed, nothing synced): only the cloud knows it.
    let (status, body) = post(
        portal,
        "/login",
        &format!("code={VOUCHER}&token={}", token(portal)),
    );
    let logs = || {
        format!(
            "hotspotd: {}\ncloud: {}",
            std::fs::read_to_string(dir.path().join("hotspotd.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("cloud.log")).unwrap_or_default()
        )
    };
    assert!(
        status == 303 || status == 200,
        "{status} {body}\n{}",
        logs()
    );
    assert_eq!(
        edge_query(&edge_db, "SELECT user_name FROM radius_sessions").as_deref(),
        Some(VOUCHER)
    );
    let acct_id = edge_query(&edge_db, "SELECT acct_session_id FROM radius_sessions").unwrap();
    // The cloud answers with the voucher's time left (one hour).
    let limit = edge_i64(
        &edge_db,
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
    assert_eq!(status, 200, "{}", logs());
    wait_until("the Stop in radacct", 20, || {
        db.query(&format!(
            "SELECT coalesce(acctterminatecause, '') FROM radacct WHERE acctsessionid = '{acct_id}'"
        )) == "User-Request"
    });
    // Nothing left in the router's accounting queue but what the server answered.
    wait_until("the accounting queue empty", 10, || {
        edge_i64(&edge_db, "SELECT count(*) FROM radius_acct_queue") == 0
    });
}
