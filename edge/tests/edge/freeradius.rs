//! hotspotd as a NAS of a real FreeRADIUS 3.2 (Debian's `freeradius`, files backend) started by
//! the test on 127.0.0.1: logins with the WISPr, ChilliSpot and MikroTik reply attributes of its
//! `users` file, a reject's Reply-Message shown, Status-Server, accounting as FreeRADIUS's
//! `detail` file records it, Disconnect and CoA sent with `radclient`, a silent first server,
//! and accounting kept while FreeRADIUS is down then replayed exactly once.
//!
//! Skipped with a message when FreeRADIUS is not installed, except under CI (`CI=true`), where
//! it must run.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

#[path = "../support/freeradius.rs"]
mod support;
use support::{FreeRadius, installed_or_skip};

const SECRET: &str = "freeradius-nas-secret-01";

/// The users FreeRADIUS knows: one per reply dialect, a MAC for MAC authentication, and a
/// Reply-Message on every reject.
const USERS: &str = r#"alice	Cleartext-Password := "wonderland"
	Session-Timeout = 3600,
	Idle-Timeout = 120,
	Acct-Interim-Interval = 300,
	ChilliSpot-Bandwidth-Max-Up = 512,
	ChilliSpot-Bandwidth-Max-Down = 2048,
	ChilliSpot-Max-Total-Octets = 10000000,
	Class = "plan:alice",
	Reply-Message = "Welcome alice"

wispr	Cleartext-Password := "pw-wispr"
	WISPr-Bandwidth-Max-Up = 256000,
	WISPr-Bandwidth-Max-Down = 1024000

mikro	Cleartext-Password := "pw-mikro"
	Mikrotik-Rate-Limit = "1M/4M"

"02-00-00-00-00-09"	Cleartext-Password := "02-00-00-00-00-09"
	Session-Timeout = 1800
"#;

/// FreeRADIUS with [`USERS`], trusting this test's NAS.
fn start(stock: &std::path::Path) -> FreeRadius {
    FreeRadius::start(stock, SECRET, USERS)
}

/// Waits (up to 5 s) for `n` accounting records.
async fn wait_detail(fr: &FreeRadius, n: usize) -> Vec<String> {
    for _ in 0..250 {
        if fr.detail().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fr.detail()
}

/// The `[radius]` section of an edge that uses `fr` (`first`, when given, as the preferred
/// server that is tried before it).
fn config(fr: &FreeRadius, first: Option<SocketAddr>, extra: &str) -> String {
    let auth: Vec<String> = first
        .into_iter()
        .chain([fr.auth])
        .map(|a| format!("\"{a}\""))
        .collect();
    format!(
        "[radius]\nenabled = true\nauth_servers = [{}]\nacct_servers = [\"{}\"]\n\
         secret = \"{SECRET}\"\nnas_identifier = \"cafe-1\"\ncalled_station_id = \"Cafe WiFi\"\n\
         timeout_ms = 300\nretries = 1\ndas_listen = \"127.0.0.1:0\"\n{extra}",
        auth.join(", "),
        fr.acct
    )
}

async fn login_user(g: &Guest, user: &str, password: &str) -> Resp {
    let token = g.token().await;
    g.post(
        "/login/user",
        format!("user={user}&password={password}&token={token}").as_bytes(),
    )
    .await
}

/// `radclient` sends `attrs` as a `kind` (`disconnect`, `coa`) to the edge's DAS; its output.
async fn radclient(edge: &TestEdge, kind: &str, attrs: &str) -> String {
    let to = *edge.sessions.nas().unwrap().das_addr.get().unwrap();
    let (kind, attrs) = (kind.to_owned(), attrs.to_owned());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new("radclient")
            .args(["-x", "-r", "1", "-t", "2"])
            .arg(to.to_string())
            .arg(kind)
            .arg(SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(attrs.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
    .await
    .unwrap()
}

fn grant_of(edge: &TestEdge, g: &Guest) -> (u32, u32) {
    let grant = edge
        .firewall
        .granted()
        .into_iter()
        .find(|x| x.mac == g.mac)
        .expect("granted");
    (grant.down_kbps, grant.up_kbps)
}

#[tokio::test]
async fn logins_accounting_and_dynamic_authorization_with_freeradius() {
    let Some(stock) = installed_or_skip() else {
        return;
    };
    let fr = start(&stock);
    let edge = spawn_edge(&config(&fr, None, "mac_auth = true\n")).await;

    // ChilliSpot attributes: rates in kbit/s, time, data; Class kept; Reply-Message shown.
    let alice = edge.guest(5);
    let r = login_user(&alice, "alice", "wonderland").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Welcome alice"), "{}", r.body);
    assert_eq!(grant_of(&edge, &alice), (2048, 512));
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE mac_address = '02:00:00:00:00:05'"),
        T0 + 3600
    );
    assert_eq!(
        edge.count("SELECT data_limit_bytes FROM sessions WHERE mac_address = '02:00:00:00:00:05'"),
        10_000_000
    );
    assert_eq!(edge.count("SELECT idle_timeout FROM radius_sessions"), 120);

    // WISPr in bit/s, MikroTik's rx/tx.
    let w = edge.guest(6);
    assert_eq!(login_user(&w, "wispr", "pw-wispr").await.status, 303);
    assert_eq!(grant_of(&edge, &w), (1024, 256));
    let m = edge.guest(7);
    assert_eq!(login_user(&m, "mikro", "pw-mikro").await.status, 303);
    assert_eq!(grant_of(&edge, &m), (4000, 1000));

    // A reject shows FreeRADIUS's Reply-Message and lets nobody in.
    let r = login_user(&edge.guest(8), "alice", "guess").await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body.contains("Unknown user or wrong password"),
        "{}",
        r.body
    );

    // MAC authentication: the device FreeRADIUS knows by its MAC is online at its first page.
    let page = edge.guest(9).get("/", "10.0.0.1:2050").await;
    assert!(page.body.contains("/logout"), "{}", page.body);

    // Accounting: On, then a Start per session, as FreeRADIUS recorded them.
    let detail = wait_detail(&fr, 5).await;
    assert!(
        detail[0].contains("Acct-Status-Type = Accounting-On"),
        "{detail:?}"
    );
    let starts: Vec<&String> = detail
        .iter()
        .filter(|b| b.contains("Acct-Status-Type = Start"))
        .collect();
    assert_eq!(starts.len(), 4, "{detail:?}");
    let alice_start = starts
        .iter()
        .find(|b| b.contains("User-Name = \"alice\""))
        .unwrap();
    for want in [
        "Calling-Station-Id = \"02-00-00-00-00-05\"",
        "Called-Station-Id = \"Cafe WiFi\"",
        "Framed-IP-Address = 127.0.0.5",
        "NAS-Identifier = \"cafe-1\"",
        "Class = 0x706c616e3a616c696365",
        "Acct-Session-Id = ",
    ] {
        assert!(alice_start.contains(want), "{want} in {alice_start}");
    }

    // CoA from radclient: new rates and time, the guest stays on.
    let out = radclient(
        &edge,
        "coa",
        "User-Name = \"alice\"\nSession-Timeout = 60\n\
         ChilliSpot-Bandwidth-Max-Down = 4096\nChilliSpot-Bandwidth-Max-Up = 1024\n",
    )
    .await;
    assert!(out.contains("CoA-ACK"), "{out}");
    assert_eq!(grant_of(&edge, &alice), (4096, 1024));
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE mac_address = '02:00:00:00:00:05'"),
        T0 + 60
    );
    // Disconnect from radclient: the session ends at once, the Stop says Admin-Reset.
    let out = radclient(&edge, "disconnect", "User-Name = \"wispr\"\n").await;
    assert!(out.contains("Disconnect-ACK"), "{out}");
    assert!(!edge.granted().contains(&w.mac.to_string()));
    let detail = wait_detail(&fr, 6).await;
    let stop = detail
        .iter()
        .find(|b| b.contains("Acct-Status-Type = Stop"))
        .expect("a Stop");
    assert!(stop.contains("User-Name = \"wispr\""), "{stop}");
    assert!(
        stop.contains("Acct-Terminate-Cause = Admin-Reset"),
        "{stop}"
    );
    // No such session: a NAK with Error-Cause Session-Context-Not-Found.
    let out = radclient(&edge, "disconnect", "User-Name = \"nobody\"\n").await;
    assert!(out.contains("Disconnect-NAK"), "{out}");
    assert!(out.contains("Session-Context-Not-Found"), "{out}");
}

#[tokio::test]
async fn a_silent_server_then_freeradius_and_accounting_replayed_once() {
    let Some(stock) = installed_or_skip() else {
        return;
    };
    let mut fr = start(&stock);
    // The preferred server is a socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    silent
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let edge = spawn_edge(&config(&fr, Some(silent.local_addr().unwrap()), "")).await;
    let g = edge.guest(5);
    let started = Instant::now();
    let r = login_user(&g, "alice", "wonderland").await;
    assert_eq!(r.status, 200, "{r:?}");
    // Two copies (retries = 1) to the silent one, 300 ms each, then FreeRADIUS.
    assert!(started.elapsed() >= Duration::from_millis(600));
    let mut copies = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = silent.recv(&mut buf) {
        copies.push(buf[..n].to_vec());
    }
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0], copies[1], "a retransmission is the same bytes");
    let nas = edge.sessions.nas().unwrap();
    assert_eq!(nas.auth.current_server(), Some(fr.auth));
    // The next login goes straight to FreeRADIUS.
    let started = Instant::now();
    assert_eq!(
        login_user(&edge.guest(6), "wispr", "pw-wispr").await.status,
        303
    );
    assert!(started.elapsed() < Duration::from_millis(300));
    assert!(silent.recv(&mut buf).is_err());
    wait_detail(&fr, 3).await;

    // FreeRADIUS goes down; the guest logs out; the Stop waits in the database.
    fr.stop();
    let token = g.token().await;
    g.post("/logout", format!("token={token}").as_bytes()).await;
    let _ = edge.sessions.radius_flush().await;
    assert_eq!(edge.count("SELECT count(*) FROM radius_acct_queue"), 1);
    edge.clock.advance(40);
    // Back up: sent once, with the time it waited.
    fr.run(&stock);
    edge.sessions.radius_flush().await.unwrap();
    let _ = edge.sessions.radius_flush().await;
    assert_eq!(edge.count("SELECT count(*) FROM radius_acct_queue"), 0);
    let detail = wait_detail(&fr, 4).await;
    let stops: Vec<&String> = detail
        .iter()
        .filter(|b| b.contains("Acct-Status-Type = Stop"))
        .collect();
    assert_eq!(stops.len(), 1, "{detail:?}");
    assert!(stops[0].contains("Acct-Terminate-Cause = User-Request"));
    assert!(stops[0].contains("Acct-Delay-Time = 40"), "{}", stops[0]);
}
