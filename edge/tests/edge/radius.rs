//! Portal logins through a RADIUS server (`[radius]` on): a small RADIUS server in the test,
//! built with the shared codec on 127.0.0.1, answers the daemon's Access-Requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hotspot_shared::radius::crypto::{sign_response, unhide_password, verify_request};
use hotspot_shared::radius::{Code, MAX_PACKET, Packet, attr, vendor};

use crate::helpers::*;

const SECRET: &str = "test-secret-0123456789";

/// A request the server took, with its User-Password revealed.
type Seen = Arc<Mutex<Vec<(Packet, Vec<u8>)>>>;

/// The test's RADIUS server: alice/wonderland and the code RADCODE77 are known; everyone else
/// is rejected. Keeps every request it accepted as valid (with the password revealed).
struct Radius {
    addr: SocketAddr,
    requests: Seen,
    silent: Arc<AtomicBool>,
    /// Accounting-Requests received and answered, in order.
    acct: Seen,
    /// Drops Accounting-Requests (a server unreachable for accounting only).
    acct_silent: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Radius {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Radius {
    async fn start() -> Radius {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let silent = Arc::new(AtomicBool::new(false));
        let (seen, quiet) = (Arc::clone(&requests), Arc::clone(&silent));
        let acct = Arc::new(Mutex::new(Vec::new()));
        let acct_silent = Arc::new(AtomicBool::new(false));
        let (acct_seen, acct_quiet) = (Arc::clone(&acct), Arc::clone(&acct_silent));
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_PACKET];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let raw = &buf[..n];
                let Ok(req) = Packet::decode(raw) else {
                    continue;
                };
                if quiet.load(Ordering::SeqCst) {
                    continue;
                }
                // Requests without a valid Message-Authenticator are dropped, as FreeRADIUS
                // with require_message_authenticator does.
                if verify_request(raw, SECRET.as_bytes()) != Ok(true) {
                    continue;
                }
                if req.code == Code::AccountingRequest {
                    if acct_quiet.load(Ordering::SeqCst) {
                        continue;
                    }
                    acct_seen.lock().unwrap().push((req.clone(), Vec::new()));
                    let reply = Packet::new(Code::AccountingResponse, req.identifier, [0; 16]);
                    let bytes = sign_response(
                        &reply,
                        req.code,
                        &req.authenticator,
                        SECRET.as_bytes(),
                        true,
                    )
                    .unwrap();
                    let _ = socket.send_to(&bytes, from).await;
                    continue;
                }
                let password = req
                    .get(attr::USER_PASSWORD)
                    .and_then(|h| unhide_password(h, SECRET.as_bytes(), &req.authenticator))
                    .unwrap_or_default();
                seen.lock().unwrap().push((req.clone(), password.clone()));
                let user = req.get_text(attr::USER_NAME).unwrap_or_default();
                let mut reply = Packet::new(Code::AccessReject, req.identifier, [0; 16]);
                match (user.as_str(), password.as_slice()) {
                    ("alice", b"wonderland") => {
                        reply.code = Code::AccessAccept;
                        reply.push_u32(attr::SESSION_TIMEOUT, 3600);
                        reply.push_u32(attr::IDLE_TIMEOUT, 120);
                        reply.push_u32(attr::ACCT_INTERIM_INTERVAL, 300);
                        reply.push_vendor(vendor::CHILLISPOT, 4, &512u32.to_be_bytes());
                        reply.push_vendor(vendor::CHILLISPOT, 5, &2048u32.to_be_bytes());
                        reply.push_vendor(vendor::CHILLISPOT, 3, &10_000_000u32.to_be_bytes());
                        reply.push(attr::CLASS, "hotspot:user:alice");
                        reply.push(attr::REPLY_MESSAGE, "Welcome <alice>");
                    }
                    ("RADCODE77", b"RADCODE77") => {
                        reply.code = Code::AccessAccept;
                        reply.push_vendor(vendor::MIKROTIK, 8, b"1M/4M");
                    }
                    // MAC authentication of 02:00:00:00:00:07 (the MAC as name and password).
                    ("02-00-00-00-00-07", b"02-00-00-00-00-07") => {
                        reply.code = Code::AccessAccept;
                        reply.push_u32(attr::SESSION_TIMEOUT, 1800);
                        reply.push_vendor(vendor::WISPR, 7, &256_000u32.to_be_bytes());
                        reply.push_vendor(vendor::WISPR, 8, &1_024_000u32.to_be_bytes());
                    }
                    _ => reply.push(attr::REPLY_MESSAGE, "Unknown user or wrong password"),
                }
                let bytes = sign_response(
                    &reply,
                    req.code,
                    &req.authenticator,
                    SECRET.as_bytes(),
                    true,
                )
                .unwrap();
                let _ = socket.send_to(&bytes, from).await;
            }
        });
        Radius {
            addr,
            requests,
            silent,
            acct,
            acct_silent,
            task,
        }
    }

    fn config(&self, login: &str) -> String {
        format!(
            "[radius]\nenabled = true\nauth_servers = [\"{0}\"]\nacct_servers = [\"{0}\"]\n\
             secret = \"{SECRET}\"\n\
             nas_identifier = \"cafe-1\"\ncalled_station_id = \"Cafe WiFi\"\n\
             timeout_ms = 500\nretries = 1\nlogin = \"{login}\"\n",
            self.addr
        )
    }

    fn requests(&self) -> Vec<(Packet, Vec<u8>)> {
        self.requests.lock().unwrap().clone()
    }

    /// Accounting-Requests received so far, as (Acct-Status-Type, packet).
    fn acct(&self) -> Vec<(u32, Packet)> {
        self.acct
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| (p.get_u32(attr::ACCT_STATUS_TYPE).unwrap_or(0), p.clone()))
            .collect()
    }

    /// Waits (up to 5 s) until `n` Accounting-Requests have arrived.
    async fn wait_acct(&self, n: usize) -> Vec<(u32, Packet)> {
        for _ in 0..250 {
            if self.acct().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.acct()
    }
}

async fn login_user(g: &Guest, user: &str, password: &str) -> Resp {
    let token = g.token().await;
    g.post(
        "/login/user",
        format!("user={user}&password={password}&token={token}").as_bytes(),
    )
    .await
}

#[tokio::test]
async fn the_user_form_is_shown_only_with_radius_on() {
    let edge = spawn_edge("").await;
    let page = edge.guest(2).get("/", "10.0.0.1:2050").await;
    assert!(!page.body.contains("/login/user"), "{}", page.body);
    // Off, the form's address refuses like a wrong code and asks no server.
    let r = login_user(&edge.guest(2), "alice", "wonderland").await;
    assert_eq!(r.status, 403, "{r:?}");

    let radius = Radius::start().await;
    let edge = spawn_edge(&radius.config("local-then-radius")).await;
    let page = edge.guest(2).get("/", "10.0.0.1:2050").await;
    assert!(
        page.body.contains("action=\"/login/user\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("type=\"password\""));
    // Still one small page for a slow link.
    assert!(page.body.len() < 4096, "{} bytes", page.body.len());
}

#[tokio::test]
async fn a_user_logs_in_with_the_servers_limits_kept_across_a_restart() {
    let radius = Radius::start().await;
    let edge = spawn_edge(&radius.config("local-then-radius")).await;
    let g = edge.guest(5);
    let r = login_user(&g, "alice", "wonderland").await;
    // The server's Reply-Message is shown (escaped) on the status page.
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Welcome &lt;alice&gt;"), "{}", r.body);

    let reqs = radius.requests();
    assert_eq!(reqs.len(), 1);
    let (req, password) = &reqs[0];
    assert_eq!(password, b"wonderland");
    assert!(req.has(attr::MESSAGE_AUTHENTICATOR));
    assert_eq!(req.get_text(attr::USER_NAME).as_deref(), Some("alice"));
    assert_eq!(
        req.get_text(attr::CALLING_STATION_ID).as_deref(),
        Some("02-00-00-00-00-05")
    );
    assert_eq!(
        req.get_text(attr::CALLED_STATION_ID).as_deref(),
        Some("Cafe WiFi")
    );
    assert_eq!(
        req.get_text(attr::NAS_IDENTIFIER).as_deref(),
        Some("cafe-1")
    );
    assert_eq!(req.get_u32(attr::NAS_PORT_TYPE), Some(19));
    assert_eq!(
        req.get_ipv4(attr::FRAMED_IP_ADDRESS),
        Some([127, 0, 0, 5].into())
    );

    // Committed with its RADIUS state, then granted at the server's rates.
    let grants = edge.firewall.granted();
    assert_eq!(grants.len(), 1);
    assert_eq!((grants[0].down_kbps, grants[0].up_kbps), (2048, 512));
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE session_status = 'active'"),
        T0 + 3600
    );
    assert_eq!(
        edge.count("SELECT data_limit_bytes FROM sessions WHERE session_status = 'active'"),
        10_000_000
    );
    assert_eq!(
        edge.text("SELECT user_name FROM radius_sessions")
            .as_deref(),
        Some("alice")
    );
    assert_eq!(
        edge.count("SELECT interim_interval FROM radius_sessions"),
        300
    );
    assert_eq!(edge.count("SELECT idle_timeout FROM radius_sessions"), 120);
    let class: Vec<u8> = {
        edge.store
            .blocking(|c| Ok(c.query_row("SELECT class FROM radius_sessions", [], |r| r.get(0))?))
            .unwrap()
    };
    let class = hotspot_edge::store::radius::unpack_class(&class);
    assert_eq!(class, vec![b"hotspot:user:alice".to_vec()]);

    // A power cut: the new daemon puts the guest back at the same rates without asking.
    let edge = edge.restart().await;
    let grants = edge.firewall.granted();
    assert_eq!(grants.len(), 1);
    assert_eq!((grants[0].mac, grants[0].down_kbps), (g.mac, 2048));
    assert_eq!(radius.requests().len(), 1);

    // The server's Idle-Timeout (120 s) applies, not the site's 600 s.
    edge.clock.advance(130);
    let report = edge.sessions.run_once().await.unwrap();
    assert_eq!(
        report.ended,
        vec![(g.mac, hotspot_shared::plan::EndReason::Idle)]
    );
}

#[tokio::test]
async fn unknown_codes_go_to_radius_and_local_ones_do_not() {
    let radius = Radius::start().await;
    let edge = spawn_edge(&radius.config("local-then-radius")).await;
    edge.import("code,type,duration_minutes\nLOCAL23456,time,60\n");
    let r = edge.guest(2).login("LOCAL23456").await;
    assert_eq!(r.status, 303, "{r:?}");
    assert!(radius.requests().is_empty());

    let g = edge.guest(3);
    let r = g.login("RADCODE77").await;
    assert_eq!(r.status, 303, "{r:?}");
    let reqs = radius.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].1, b"RADCODE77");
    // Mikrotik-Rate-Limit 1M/4M: the guest uploads at 1 Mbit/s and downloads at 4.
    let grant = edge
        .firewall
        .granted()
        .into_iter()
        .find(|x| x.mac == g.mac)
        .unwrap();
    assert_eq!((grant.down_kbps, grant.up_kbps), (4000, 1000));

    // A code neither knows: the server's own sentence is shown.
    let r = edge.guest(4).login("NOSUCH7777").await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body.contains("Unknown user or wrong password"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn with_login_local_codes_never_leave_the_router() {
    let radius = Radius::start().await;
    let edge = spawn_edge(&radius.config("local")).await;
    let r = edge.guest(2).login("RADCODE77").await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(radius.requests().is_empty());
    // The username form still goes to the server.
    let r = login_user(&edge.guest(2), "alice", "wonderland").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(radius.requests().len(), 1);
}

#[tokio::test]
async fn rejects_are_shown_and_throttled() {
    let radius = Radius::start().await;
    let edge = spawn_edge(&radius.config("radius")).await;
    let g = edge.guest(6);
    for _ in 0..5 {
        let r = login_user(&g, "alice", "guess").await;
        assert_eq!(r.status, 403, "{r:?}");
        assert!(
            r.body.contains("Unknown user or wrong password"),
            "{}",
            r.body
        );
    }
    // The sixth try waits, and the server is not asked.
    let r = login_user(&g, "alice", "wonderland").await;
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(radius.requests().len(), 5);
    assert!(edge.granted().is_empty());
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 0);
}

#[tokio::test]
async fn with_the_server_down_local_vouchers_still_work() {
    let radius = Radius::start().await;
    radius.silent.store(true, Ordering::SeqCst);
    let edge = spawn_edge(&radius.config("local-then-radius")).await;
    edge.import("code,type,duration_minutes\nLOCAL23456,time,60\n");
    let r = edge.guest(2).login("LOCAL23456").await;
    assert_eq!(r.status, 303, "{r:?}");

    let r = login_user(&edge.guest(3), "alice", "wonderland").await;
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("cannot be reached"), "{}", r.body);
    let r = edge.guest(4).login("RADCODE77").await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(edge.granted().len(), 1);
    // Codes the router does not know still count as wrong while the server is away: the
    // outage does not lift the throttle that guards the local vouchers.
    for _ in 0..4 {
        assert_eq!(edge.guest(4).login("GUESS23456").await.status, 503);
    }
    assert_eq!(edge.guest(4).login("LOCAL23456").await.status, 429);
    assert_eq!(edge.count("SELECT count(*) FROM radius_sessions"), 0);
}

fn statuses(acct: &[(u32, Packet)]) -> Vec<u32> {
    acct.iter().map(|(s, _)| *s).collect()
}

#[tokio::test]
async fn accounting_follows_a_session_from_on_to_off() {
    let radius = Radius::start().await;
    let mut edge = spawn_edge(&radius.config("local-then-radius")).await;
    // Accounting-On at start.
    assert_eq!(statuses(&radius.wait_acct(1).await), [7]);
    let g = edge.guest(5);
    assert_eq!(login_user(&g, "alice", "wonderland").await.status, 200);
    let acct = radius.wait_acct(2).await;
    assert_eq!(statuses(&acct), [7, 1]);
    let start = &acct[1].1;
    let sid = start.get_text(attr::ACCT_SESSION_ID).unwrap();
    assert_eq!(start.get_text(attr::USER_NAME).as_deref(), Some("alice"));
    assert_eq!(start.get(attr::CLASS), Some(&b"hotspot:user:alice"[..]));
    assert_eq!(
        start.get_text(attr::CALLING_STATION_ID).as_deref(),
        Some("02-00-00-00-00-05")
    );
    assert_eq!(
        start.get_ipv4(attr::FRAMED_IP_ADDRESS),
        Some([127, 0, 0, 5].into())
    );

    // Interim-Update on the server's 300 s interval, with the totals read.
    edge.clock.advance(100);
    edge.firewall.add_traffic(g.mac, 1000, 5000);
    edge.sessions.run_once().await.unwrap();
    edge.clock.advance(200);
    edge.firewall.add_traffic(g.mac, 1000, 5000);
    edge.sessions.run_once().await.unwrap();
    let acct = radius.wait_acct(3).await;
    assert_eq!(statuses(&acct), [7, 1, 3]);
    let interim = &acct[2].1;
    assert_eq!(
        interim.get_text(attr::ACCT_SESSION_ID).as_deref(),
        Some(sid.as_str())
    );
    assert_eq!(interim.get_u32(attr::ACCT_INPUT_OCTETS), Some(2000));
    assert_eq!(interim.get_u32(attr::ACCT_OUTPUT_OCTETS), Some(10_000));
    assert_eq!(interim.get_u32(attr::ACCT_SESSION_TIME), Some(300));

    // Logout: Stop with User-Request and the Class.
    let token = g.token().await;
    g.post("/logout", format!("token={token}").as_bytes()).await;
    let acct = radius.wait_acct(4).await;
    assert_eq!(statuses(&acct), [7, 1, 3, 2]);
    let stop = &acct[3].1;
    assert_eq!(stop.get_u32(attr::ACCT_TERMINATE_CAUSE), Some(1));
    assert_eq!(stop.get_u32(attr::ACCT_INPUT_OCTETS), Some(2000));
    assert_eq!(stop.get_u32(attr::ACCT_INPUT_GIGAWORDS), Some(0));
    assert_eq!(stop.get(attr::CLASS), Some(&b"hotspot:user:alice"[..]));

    // Accounting-Off at stop.
    edge.shutdown().await;
    assert_eq!(statuses(&radius.wait_acct(5).await), [7, 1, 3, 2, 8]);
    assert_eq!(edge.count("SELECT count(*) FROM radius_acct_queue"), 0);
}

#[tokio::test]
async fn accounting_waits_in_the_database_and_is_sent_once_in_order() {
    let radius = Radius::start().await;
    radius.acct_silent.store(true, Ordering::SeqCst);
    let edge = spawn_edge(&radius.config("local-then-radius")).await;
    let g = edge.guest(5);
    assert_eq!(login_user(&g, "alice", "wonderland").await.status, 200);
    edge.clock.advance(600);
    edge.sessions.run_once().await.unwrap();
    // On, Start, Stop (idle: the server's 120 s) are queued; nothing reached the server.
    assert_eq!(edge.count("SELECT count(*) FROM radius_acct_queue"), 3);
    // A restart keeps them and adds its own Off and On.
    let edge = edge.restart().await;
    assert_eq!(edge.count("SELECT count(*) FROM radius_acct_queue"), 5);
    assert!(radius.acct().is_empty());
    let status = hotspot_edge::admin::status(&edge.store, &edge.config, T0).unwrap();
    assert!(
        status.contains("RADIUS accounting waiting for a server: 5\n"),
        "{status}"
    );

    radius.acct_silent.store(false, Ordering::SeqCst);
    edge.clock.advance(60);
    edge.sessions.radius_flush().await.unwrap();
    let acct = radius.wait_acct(5).await;
    assert_eq!(statuses(&acct), [7, 1, 2, 8, 7]);
    // Acct-Delay-Time: the Start waited 660 s, the Stop 60 s.
    assert_eq!(acct[1].1.get_u32(attr::ACCT_DELAY_TIME), Some(660));
    assert_eq!(acct[2].1.get_u32(attr::ACCT_DELAY_TIME), Some(60));
    assert_eq!(acct[2].1.get_u32(attr::ACCT_TERMINATE_CAUSE), Some(4));
    assert_eq!(edge.count("SELECT count(*) FROM radius_acct_queue"), 0);
    // Nothing is sent twice.
    edge.sessions.radius_flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(radius.acct().len(), 5);
}

/// Sends a Disconnect- or CoA-Request from `from` to the edge's DAS, signed with `secret`;
/// the verified answer, or `None` after a second of silence.
async fn das(edge: &TestEdge, from: [u8; 4], secret: &str, req: &Packet) -> Option<Packet> {
    let sock = tokio::net::UdpSocket::bind(SocketAddr::from((from, 0)))
        .await
        .unwrap();
    das_on(&sock, edge, secret, req).await
}

/// [`das`] from a socket the caller keeps (a retransmission comes from the same port).
async fn das_on(
    sock: &tokio::net::UdpSocket,
    edge: &TestEdge,
    secret: &str,
    req: &Packet,
) -> Option<Packet> {
    use hotspot_shared::radius::crypto::{sign_request, verify_response};
    let to = *edge.sessions.nas().unwrap().das_addr.get().unwrap();
    let bytes = sign_request(req, secret.as_bytes(), true).unwrap();
    sock.send_to(&bytes, to).await.unwrap();
    let mut buf = vec![0u8; MAX_PACKET];
    let n = tokio::time::timeout(std::time::Duration::from_secs(1), sock.recv(&mut buf))
        .await
        .ok()?
        .unwrap();
    let mut sent = [0u8; 16];
    sent.copy_from_slice(&bytes[4..20]);
    // Every answer is signed: authenticator and Message-Authenticator.
    assert_eq!(
        verify_response(&buf[..n], req.code, &sent, secret.as_bytes()),
        Ok(true)
    );
    Some(Packet::decode(&buf[..n]).unwrap())
}

async fn das_edge(radius: &Radius) -> (TestEdge, Guest) {
    let edge = spawn_edge(&format!(
        "{}das_listen = \"127.0.0.1:0\"\n",
        radius.config("local-then-radius")
    ))
    .await;
    let g = edge.guest(5);
    assert_eq!(login_user(&g, "alice", "wonderland").await.status, 200);
    (edge, g)
}

#[tokio::test]
async fn a_disconnect_request_ends_the_session_at_once() {
    let radius = Radius::start().await;
    let (edge, g) = das_edge(&radius).await;
    let mut req = Packet::new(Code::DisconnectRequest, 9, [0; 16]);
    req.push(attr::USER_NAME, "alice");
    req.push(attr::FRAMED_IP_ADDRESS, [127, 0, 0, 5]);
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ack = das_on(&sock, &edge, SECRET, &req).await.unwrap();
    assert_eq!((ack.code, ack.identifier), (Code::DisconnectAck, 9));
    assert!(edge.granted().is_empty());
    assert_eq!(
        edge.text("SELECT end_reason FROM sessions").as_deref(),
        Some("kick")
    );
    // The Stop says Admin-Reset.
    let acct = radius.wait_acct(3).await;
    assert_eq!(statuses(&acct), [7, 1, 2]);
    assert_eq!(acct[2].1.get_u32(attr::ACCT_TERMINATE_CAUSE), Some(6));
    // The same request again gets the same answer; a new one finds no session.
    let again = das_on(&sock, &edge, SECRET, &req).await.unwrap();
    assert_eq!(again.code, Code::DisconnectAck);
    let mut other = Packet::new(Code::DisconnectRequest, 10, [0; 16]);
    other.push(attr::CALLING_STATION_ID, g.mac.to_string());
    let nak = das(&edge, [127, 0, 0, 1], SECRET, &other).await.unwrap();
    assert_eq!(nak.code, Code::DisconnectNak);
    assert_eq!(nak.get_u32(attr::ERROR_CAUSE), Some(503));
}

#[tokio::test]
async fn a_coa_request_changes_rates_and_time_live() {
    let radius = Radius::start().await;
    let (edge, g) = das_edge(&radius).await;
    let sid = edge
        .text("SELECT acct_session_id FROM radius_sessions")
        .unwrap();
    let mut req = Packet::new(Code::CoaRequest, 3, [0; 16]);
    req.push(attr::ACCT_SESSION_ID, sid.as_bytes());
    req.push(attr::CALLING_STATION_ID, "02-00-00-00-00-05");
    req.push_u32(attr::SESSION_TIMEOUT, 60);
    req.push_vendor(vendor::CHILLISPOT, 5, &8000u32.to_be_bytes());
    req.push_vendor(vendor::CHILLISPOT, 4, &1000u32.to_be_bytes());
    let ack = das(&edge, [127, 0, 0, 1], SECRET, &req).await.unwrap();
    assert_eq!(ack.code, Code::CoaAck);
    // Granted again at the new rates: still online, counters kept.
    let grants = edge.firewall.granted();
    assert_eq!(grants.len(), 1);
    assert_eq!((grants[0].down_kbps, grants[0].up_kbps), (8000, 1000));
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE session_status = 'active'"),
        T0 + 60
    );
    // The new time runs out.
    edge.clock.advance(61);
    edge.firewall.add_traffic(g.mac, 10, 10);
    let report = edge.sessions.run_once().await.unwrap();
    assert_eq!(
        report.ended,
        vec![(g.mac, hotspot_shared::plan::EndReason::Time)]
    );
}

#[tokio::test]
async fn hostile_das_input_changes_nothing() {
    let radius = Radius::start().await;
    let (edge, _g) = das_edge(&radius).await;
    let mut req = Packet::new(Code::DisconnectRequest, 1, [0; 16]);
    req.push(attr::USER_NAME, "alice");
    // Another secret, another source address, garbage: no answer at all.
    assert!(
        das(&edge, [127, 0, 0, 1], "not-the-secret-at-all", &req)
            .await
            .is_none()
    );
    assert!(das(&edge, [127, 0, 0, 2], SECRET, &req).await.is_none());
    let to = *edge.sessions.nas().unwrap().das_addr.get().unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for junk in [
        &b"\x28\x01\x00\x05garbage"[..],
        &[0u8; 3][..],
        &[0x28; 64][..],
    ] {
        sock.send_to(junk, to).await.unwrap();
    }
    // A request naming nothing, or another NAS: NAK with the reason.
    let empty = Packet::new(Code::CoaRequest, 2, [0; 16]);
    let nak = das(&edge, [127, 0, 0, 1], SECRET, &empty).await.unwrap();
    assert_eq!(
        (nak.code, nak.get_u32(attr::ERROR_CAUSE)),
        (Code::CoaNak, Some(402))
    );
    let mut other = req.clone();
    other.identifier = 4;
    other.push(attr::NAS_IDENTIFIER, "another-nas");
    let nak = das(&edge, [127, 0, 0, 1], SECRET, &other).await.unwrap();
    assert_eq!(nak.get_u32(attr::ERROR_CAUSE), Some(403));
    // The guest is still online.
    assert_eq!(edge.granted().len(), 1);
    assert_eq!(
        edge.count("SELECT count(*) FROM sessions WHERE session_status = 'active'"),
        1
    );
}

#[tokio::test]
async fn mac_authentication_lets_known_devices_in_without_a_login() {
    // Off (the default): the server is never asked about a device.
    let radius = Radius::start().await;
    let edge = spawn_edge(&radius.config("local-then-radius")).await;
    let page = edge.guest(7).get("/", "10.0.0.1:2050").await;
    assert!(page.body.contains("action=\"/login\""), "{}", page.body);
    assert!(radius.requests().is_empty());

    let radius = Radius::start().await;
    let edge = spawn_edge(&format!(
        "{}mac_auth = true\n",
        radius.config("local-then-radius")
    ))
    .await;
    let g = edge.guest(7);
    // The first page it asks for is already the status page.
    let page = g.get("/", "10.0.0.1:2050").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("/logout"), "{}", page.body);
    let reqs = radius.requests();
    assert_eq!(reqs.len(), 1);
    let (req, password) = &reqs[0];
    assert_eq!(
        req.get_text(attr::USER_NAME).as_deref(),
        Some("02-00-00-00-00-07")
    );
    assert_eq!(password, b"02-00-00-00-00-07");
    assert_eq!(req.get_u32(attr::SERVICE_TYPE), Some(10));
    assert!(req.has(attr::MESSAGE_AUTHENTICATOR));
    // WISPr rates in bit/s, the session's time from the Accept, its accounting Start.
    let grants = edge.firewall.granted();
    assert_eq!(grants.len(), 1);
    assert_eq!((grants[0].down_kbps, grants[0].up_kbps), (1024, 256));
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE session_status = 'active'"),
        T0 + 1800
    );
    assert_eq!(
        edge.text("SELECT user_name FROM radius_sessions")
            .as_deref(),
        Some("02-00-00-00-00-07")
    );
    assert_eq!(statuses(&radius.wait_acct(2).await), [7, 1]);

    // A device the server does not know sees the portal, is asked about once, and counts
    // nothing against its own login tries.
    let other = edge.guest(8);
    for _ in 0..3 {
        let page = other.get("/", "10.0.0.1:2050").await;
        assert!(page.body.contains("action=\"/login\""), "{}", page.body);
    }
    assert_eq!(radius.requests().len(), 2);
    let r = login_user(&other, "alice", "wonderland").await;
    assert_eq!(r.status, 200, "{r:?}");

    // After a logout the MAC alone does not bring the device straight back.
    let token = g.token().await;
    g.post("/logout", format!("token={token}").as_bytes()).await;
    let page = g.get("/", "10.0.0.1:2050").await;
    assert!(page.body.contains("action=\"/login\""), "{}", page.body);
    assert_eq!(radius.requests().len(), 3);
}
