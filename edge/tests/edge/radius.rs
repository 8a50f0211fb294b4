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
            task,
        }
    }

    fn config(&self, login: &str) -> String {
        format!(
            "[radius]\nenabled = true\nauth_servers = [\"{}\"]\nsecret = \"{SECRET}\"\n\
             nas_identifier = \"cafe-1\"\ncalled_station_id = \"Cafe WiFi\"\n\
             timeout_ms = 200\nretries = 1\nlogin = \"{login}\"\n",
            self.addr
        )
    }

    fn requests(&self) -> Vec<(Packet, Vec<u8>)> {
        self.requests.lock().unwrap().clone()
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
    assert_eq!(edge.count("SELECT count(*) FROM radius_sessions"), 0);
}
