//! NAS devices through the operators' API (secret shown once), live RADIUS sessions, and
//! Disconnect/CoA (RFC 5176) sent to a test DAS on 127.0.0.1 that ACKs, NAKs or stays silent;
//! voucher sessions mirrored into hotspot_sessions and disconnected once the voucher is used up.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotspot_cloud::radius::{self, Running, Settings, dynauth};
use hotspot_shared::radius::crypto::{
    hide_password, sign_request, sign_response, verify_request, verify_response,
};
use hotspot_shared::radius::{Code, Packet, acct_status, attr, vendor};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use uuid::Uuid;

use crate::operators::Api;

const FAST: [Duration; 2] = [Duration::from_millis(300), Duration::from_millis(300)];

/// What the test DAS answers to one request: a code with an Error-Cause, or nothing.
type Reply = Option<(Code, Option<u32>)>;

/// A Dynamic Authorization Server as a NAS runs one: checks each request with the secret,
/// keeps it, and answers with the next scripted reply (`None`: stays silent).
struct Das {
    seen: Arc<Mutex<Vec<Packet>>>,
    script: Arc<Mutex<Vec<Reply>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Das {
    async fn bind() -> (UdpSocket, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    fn start(socket: UdpSocket, secret: String) -> Das {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<Vec<Reply>>> = Arc::default();
        let (s, sc) = (seen.clone(), script.clone());
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let raw = buf[..n].to_vec();
                assert_eq!(
                    verify_request(&raw, secret.as_bytes()),
                    Ok(true),
                    "signed with the NAS's secret, with Message-Authenticator"
                );
                let req = Packet::decode(&raw).unwrap();
                s.lock().unwrap().push(req.clone());
                let next = {
                    let mut script = sc.lock().unwrap();
                    if script.is_empty() {
                        None
                    } else {
                        script.remove(0)
                    }
                };
                let Some((code, cause)) = next else { continue };
                let mut reply = Packet::new(code, req.identifier, [0; 16]);
                if let Some(c) = cause {
                    reply.push_u32(attr::ERROR_CAUSE, c);
                }
                let bytes = sign_response(
                    &reply,
                    req.code,
                    &req.authenticator,
                    secret.as_bytes(),
                    true,
                )
                .unwrap();
                socket.send_to(&bytes, from).await.unwrap();
            }
        });
        Das { seen, script, task }
    }

    fn expect(&self, replies: &[Reply]) {
        self.script.lock().unwrap().extend_from_slice(replies);
    }

    fn seen(&self) -> Vec<Packet> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Das {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_server(api: &Api) -> Running {
    let settings = Settings {
        auth_listen: Some("127.0.0.1:0".parse().unwrap()),
        acct_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Settings::default()
    };
    radius::start(api.app.pool.clone(), api.app._db.url.clone(), settings)
        .await
        .unwrap()
}

/// Sends a signed request from 127.0.0.1 until the server answers (a NAS just registered is
/// picked up within moments); the verified answer.
async fn ask(to: SocketAddr, p: &Packet, secret: &str) -> Packet {
    let bytes = sign_request(p, secret.as_bytes(), true).unwrap();
    let authenticator: [u8; 16] = bytes[4..20].try_into().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 4096];
    for _ in 0..40 {
        socket.send_to(&bytes, to).await.unwrap();
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(250), socket.recv_from(&mut buf)).await
        {
            verify_response(&buf[..n], p.code, &authenticator, secret.as_bytes()).unwrap();
            return Packet::decode(&buf[..n]).unwrap();
        }
    }
    panic!("no answer from the RADIUS server");
}

fn accounting(
    status: u32,
    user: &str,
    session: &str,
    mac: &str,
    class: Option<&[u8]>,
    octets: u32,
) -> Packet {
    let mut p = Packet::new(Code::AccountingRequest, rand::random(), [0; 16]);
    p.push_u32(attr::ACCT_STATUS_TYPE, status);
    p.push(attr::USER_NAME, user);
    p.push(attr::ACCT_SESSION_ID, session);
    p.push(attr::NAS_IP_ADDRESS, [127, 0, 0, 1]);
    p.push(attr::FRAMED_IP_ADDRESS, [10, 5, 50, 7]);
    p.push(attr::CALLING_STATION_ID, mac);
    p.push_u32(attr::ACCT_INPUT_OCTETS, octets / 4);
    p.push_u32(attr::ACCT_OUTPUT_OCTETS, octets - octets / 4);
    if let Some(c) = class {
        p.push(attr::CLASS, c);
    }
    p
}

/// Registers the NAS at 127.0.0.1 through the API with its CoA port at `das`; its secret.
async fn register_nas(api: &Api, token: &str, das: SocketAddr, nas_type: &str) -> (i64, String) {
    let (status, v) = api
        .post(
            "/api/v1/radius/nas",
            token,
            json!({"nasname": "127.0.0.1", "shortname": "test-nas", "type": nas_type,
                   "coa_port": das.port()}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    (
        v["id"].as_i64().unwrap(),
        v["secret"].as_str().unwrap().to_owned(),
    )
}

async fn live(api: &Api, token: &str, user: &str) -> Vec<Value> {
    let (status, page) = api
        .get(&format!("/api/v1/radius/sessions?username={user}"), token)
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// The API, a NAS at 127.0.0.1 registered through it (its DAS listening), and the RADIUS server.
struct Rig {
    api: Api,
    admin: String,
    secret: String,
    das: Das,
    server: Running,
    auth: SocketAddr,
    acct: SocketAddr,
}

impl Rig {
    async fn new(nas_type: &str) -> Rig {
        let api = Api::new().await;
        let admin = api.token(api.a, &["tenant_admin"]).await;
        let (socket, das_addr) = Das::bind().await;
        let (_, secret) = register_nas(&api, &admin, das_addr, nas_type).await;
        let das = Das::start(socket, secret.clone());
        let server = start_server(&api).await;
        let (auth, acct) = (server.auth_addr.unwrap(), server.acct_addr.unwrap());
        Rig {
            api,
            admin,
            secret,
            das,
            server,
            auth,
            acct,
        }
    }

    /// A PAP Access-Request from the device `mac`, answered.
    async fn login(&self, user: &str, password: &str, mac: &str) -> Packet {
        let authenticator: [u8; 16] = *Uuid::new_v4().as_bytes();
        let mut p = Packet::new(Code::AccessRequest, 1, authenticator);
        p.push(attr::USER_NAME, user);
        p.push(
            attr::USER_PASSWORD,
            hide_password(password.as_bytes(), self.secret.as_bytes(), &authenticator),
        );
        p.push(attr::CALLING_STATION_ID, mac);
        ask(self.auth, &p, &self.secret).await
    }

    /// An Accounting-Request of the session `session`, answered.
    async fn account(
        &self,
        status: u32,
        (user, session, mac): (&str, &str, &str),
        class: Option<&[u8]>,
        octets: u32,
    ) -> Packet {
        let p = accounting(status, user, session, mac, class, octets);
        ask(self.acct, &p, &self.secret).await
    }

    /// Logs in with the voucher `code` from `mac` (accepted) and starts the session `session`
    /// with the Accept's Class, which ties its accounting to the voucher; that Class.
    async fn voucher_session(&self, code: &str, session: &str, mac: &str) -> Vec<u8> {
        let accept = self.login(code, code, mac).await;
        assert_eq!(accept.code, Code::AccessAccept, "{code} accepted");
        let class = accept.get(attr::CLASS).unwrap().to_vec();
        self.account(acct_status::START, (code, session, mac), Some(&class), 0)
            .await;
        class
    }

    async fn enforce(&self) -> dynauth::Enforced {
        dynauth::enforce_once(&self.api.app.pool, &FAST)
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn a_nas_secret_is_shown_once_and_replaced_on_request() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let noc = api.token(api.a, &["noc_engineer"]).await;

    let (status, v) = api
        .post(
            "/api/v1/radius/nas",
            &admin,
            json!({"nasname": "198.51.100.20", "shortname": "mt-1", "type": "mikrotik",
                   "coa_port": 1700}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(v["require_ma"], "yes", "BlastRADIUS default");
    assert_eq!(v["coa_port"], 1700);
    let id = v["id"].as_i64().unwrap();

    // Never read back: not in the RADIUS list, not in the generic resource, even for admins.
    let (_, list) = api.get("/api/v1/radius/nas", &noc).await;
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap();
    assert!(listed.get("secret").is_none(), "{listed}");
    let (_, page) = api.get("/api/v1/resources/nas", &admin).await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.get("secret").is_none())
    );

    let (status, v) = api
        .post(
            &format!("/api/v1/radius/nas/{id}/secret"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let rotated = v["secret"].as_str().unwrap();
    assert_ne!(rotated, secret);
    let stored: String = api
        .owner
        .query_one("SELECT secret FROM nas WHERE id = $1", &[&(id as i32)])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, rotated);

    // Only administrators register; bad input is refused and writes nothing.
    let before = api.count("SELECT count(*) FROM nas").await;
    let (status, _) = api
        .post(
            "/api/v1/radius/nas",
            &noc,
            json!({"nasname": "198.51.100.21", "shortname": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    for bad in [
        json!({"nasname": "not-an-address", "shortname": "x"}),
        json!({"nasname": "198.51.100.22", "shortname": "x", "type": "cisco-ish"}),
        json!({"nasname": "198.51.100.22", "shortname": "x", "coa_port": 70000}),
        json!({"nasname": "198.51.100.22", "shortname": "x", "require_ma": "maybe"}),
        json!({"nasname": "198.51.100.22", "shortname": "x", "secret": "chosen"}),
    ] {
        let (status, v) = api.post("/api/v1/radius/nas", &admin, bad.clone()).await;
        assert_eq!(status, 422, "{bad} -> {v}");
    }
    let (status, _) = api
        .post(
            "/api/v1/radius/nas",
            &admin,
            json!({"nasname": "198.51.100.20", "shortname": "again"}),
        )
        .await;
    assert_eq!(status, 409, "one tenant per NAS address");
    assert_eq!(api.count("SELECT count(*) FROM nas").await, before);
    // Changed and removed through the same API; another tenant's NAS is not found.
    let path = format!("/api/v1/radius/nas/{id}");
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"coa_port": 3799, "require_ma": "auto"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["coa_port"].as_i64(), v["require_ma"].as_str()),
        (Some(3799), Some("auto"))
    );
    assert!(v.get("secret").is_none());
    let (status, _) = api
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"type": "nope"})),
        )
        .await;
    assert_eq!(status, 422);
    let other = api.token(api.b, &["tenant_admin"]).await;
    let (status, _) = api
        .post(
            &format!("/api/v1/radius/nas/{id}/secret"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api.call(Method::DELETE, &path, Some(&other), None).await;
    assert_eq!(status, 404);
    let (status, _) = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, 204);
    assert_eq!(api.count("SELECT count(*) FROM nas").await, before - 1);
}

/// A claimed router of `tenant` (a device holding a token) at its first site, named `hostname`.
pub(crate) async fn claimed_router(api: &Api, tenant: Uuid, hostname: &str) -> Uuid {
    let site = api.id_of("hotspots", tenant).await;
    api.owner
        .query_one(
            "INSERT INTO hotspot_devices (tenant_id, hotspot_id, hostname, claimed_at, token_hash)
             VALUES ($1, $2, $3, now(), sha256(gen_random_uuid()::text::bytea)) RETURNING id",
            &[&tenant, &site, &hostname],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_nas_is_linked_to_a_router_of_its_own_tenant_and_unlinked() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let router = claimed_router(&api, api.a, "tower-router").await;
    let spare = claimed_router(&api, api.a, "spare-router").await;
    let b_router = claimed_router(&api, api.b, "router-of-b").await;
    let stored = async |id: i64| -> Option<Uuid> {
        api.owner
            .query_one("SELECT device_id FROM nas WHERE id = $1", &[&(id as i32)])
            .await
            .unwrap()
            .get(0)
    };

    // Registered as the router it is; the link is listed.
    let (status, v) = api
        .post(
            "/api/v1/radius/nas",
            &admin,
            json!({"nasname": "198.51.100.30", "shortname": "linked", "device_id": router}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["device_id"], router.to_string());
    let linked = v["id"].as_i64().unwrap();
    let (_, list) = api.get("/api/v1/radius/nas", &admin).await;
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == linked)
        .unwrap();
    assert_eq!(listed["device_id"], router.to_string());
    let (status, v) = api
        .post(
            "/api/v1/radius/nas",
            &admin,
            json!({"nasname": "198.51.100.31", "shortname": "plain"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert!(v["device_id"].is_null(), "{v}");
    let plain = v["id"].as_i64().unwrap();

    // Another tenant's router, an unknown one, one linked to another NAS: refused, no change.
    let before = api.count("SELECT count(*) FROM nas").await;
    let (status, v) = api
        .post(
            "/api/v1/radius/nas",
            &admin,
            json!({"nasname": "198.51.100.32", "shortname": "x", "device_id": b_router}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "device_id", "{v}");
    assert_eq!(api.count("SELECT count(*) FROM nas").await, before);
    let plain_path = format!("/api/v1/radius/nas/{plain}");
    for (change, want) in [
        (json!({"device_id": b_router, "shortname": "changed"}), 422),
        (
            json!({"device_id": Uuid::new_v4(), "shortname": "changed"}),
            422,
        ),
        (
            json!({"device_id": "not-a-router", "shortname": "changed"}),
            422,
        ),
        (json!({"device_id": router, "shortname": "changed"}), 409),
    ] {
        let (status, v) = api
            .call(
                Method::PATCH,
                &plain_path,
                Some(&admin),
                Some(change.clone()),
            )
            .await;
        assert_eq!(status, want, "{change} -> {v}");
        assert_eq!(stored(plain).await, None, "{change}");
    }
    let shortname: String = api
        .owner
        .query_one(
            "SELECT shortname FROM nas WHERE id = $1",
            &[&(plain as i32)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(shortname, "plain", "nothing of a refused change is kept");

    // Moved to another router; a change without the field keeps the link; null unlinks.
    let path = format!("/api/v1/radius/nas/{linked}");
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"device_id": spare})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["device_id"], spare.to_string());
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"coa_port": 1700})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(stored(linked).await, Some(spare), "kept");
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"device_id": null})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["device_id"].is_null(), "{v}");
    assert_eq!(stored(linked).await, None);
    // The router freed, the other NAS may be it now.
    let (status, v) = api
        .call(
            Method::PATCH,
            &plain_path,
            Some(&admin),
            Some(json!({"device_id": spare})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(stored(plain).await, Some(spare));
}

#[tokio::test]
async fn coa_and_disconnect_reach_the_nas_and_only_an_ack_ends_the_session() {
    let rig = Rig::new("mikrotik").await;
    let (api, admin, das) = (&rig.api, rig.admin.as_str(), &rig.das);

    assert_eq!(
        rig.account(
            acct_status::START,
            ("pppoe-kim", "81a0001", "AA:BB:CC:00:00:01"),
            None,
            0
        )
        .await
        .code,
        Code::AccountingResponse
    );
    let sessions = live(api, admin, "pppoe-kim").await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["nas_shortname"], "test-nas");
    let id = sessions[0]["radacctid"].as_i64().unwrap();

    // CoA with new rates: ACKed; the NAS got them in its dialect, with the session's identity.
    das.expect(&[Some((Code::CoaAck, None))]);
    let (status, v) = api
        .post(
            &format!("/api/v1/radius/sessions/{id}/coa"),
            admin,
            json!({"up_kbps": 512, "down_kbps": 2048, "reason": "throttle"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outcome"], "ack");
    let coa = das.seen().pop().unwrap();
    assert_eq!(coa.code, Code::CoaRequest);
    assert_eq!(
        coa.get_vendor(vendor::MIKROTIK, 8),
        Some(&b"512k/2048k"[..])
    );
    assert_eq!(coa.get_text(attr::USER_NAME).as_deref(), Some("pppoe-kim"));
    assert_eq!(
        coa.get_text(attr::ACCT_SESSION_ID).as_deref(),
        Some("81a0001")
    );
    assert_eq!(
        coa.get_ipv4(attr::FRAMED_IP_ADDRESS),
        Some([10, 5, 50, 7].into())
    );

    // A NAK (Session-Context-Not-Found) is recorded and leaves the session live.
    das.expect(&[Some((Code::DisconnectNak, Some(503)))]);
    let (status, v) = api
        .post(
            &format!("/api/v1/radius/sessions/{id}/disconnect"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["outcome"].as_str(), v["error_cause"].as_i64()),
        (Some("nak"), Some(503))
    );
    assert_eq!(live(api, admin, "pppoe-kim").await.len(), 1);

    // The NAS drops the first try and ACKs the retransmission: now the session is over.
    das.expect(&[None, Some((Code::DisconnectAck, None))]);
    let (status, v) = api
        .post(
            &format!("/api/v1/radius/sessions/{id}/disconnect"),
            admin,
            json!({"reason": "abuse"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["outcome"].as_str(), v["attempts"].as_i64()),
        (Some("ack"), Some(2))
    );
    let seen = das.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2], seen[3], "the retransmission is the same request");
    assert!(live(api, admin, "pppoe-kim").await.is_empty());
    let log: Vec<(String, String, Option<i32>)> = api
        .owner
        .query(
            "SELECT kind, status, error_cause FROM radius_dynauth WHERE radacctid = $1 ORDER BY id",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        log,
        vec![
            ("coa".into(), "ack".into(), None),
            ("disconnect".into(), "nak".into(), Some(503)),
            ("disconnect".into(), "ack".into(), None),
        ]
    );
    // Ended, not yet stopped: the NAS's Stop closes the row with its final counters.
    rig.account(
        acct_status::STOP,
        ("pppoe-kim", "81a0001", "AA:BB:CC:00:00:01"),
        None,
        4096,
    )
    .await;
    let (stopped, octets): (bool, i64) = {
        let r = api
            .owner
            .query_one(
                "SELECT acctstoptime IS NOT NULL, acctinputoctets + acctoutputoctets \
                 FROM radacct WHERE radacctid = $1",
                &[&id],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(stopped);
    assert_eq!(octets, 4096);

    // No open session: not found; a CoA with nothing to change: refused.
    let (status, _) = api
        .post(
            &format!("/api/v1/radius/sessions/{id}/disconnect"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post(
            &format!("/api/v1/radius/sessions/{id}/coa"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 422);
    // Another tenant cannot reach it.
    let other = api.token(api.b, &["tenant_admin"]).await;
    let (status, _) = api
        .post(
            &format!("/api/v1/radius/sessions/{id}/disconnect"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    rig.server.stop().await;
}

#[tokio::test]
async fn voucher_sessions_show_beside_the_edges_and_end_when_the_voucher_is_used_up() {
    let rig = Rig::new("coovachilli").await;
    let (api, admin, das) = (&rig.api, rig.admin.as_str(), &rig.das);
    let a = api.a;
    api.owner
        .batch_execute(&format!(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, voucher_type, \
               data_limit_mb, max_devices) \
             SELECT '{a}', id, 'RADQTA2KXB', 'data_based', 1, 2 FROM hotspots \
             WHERE tenant_id = '{a}' LIMIT 1; \
             INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, \
               duration_minutes, max_devices) \
             SELECT '{a}', id, 'RADTMB3KXC', 60, 1 FROM hotspots \
             WHERE tenant_id = '{a}' LIMIT 1;"
        ))
        .await
        .unwrap();

    // Logs in with the 1 MB voucher; the Accept's Class ties its accounting to the voucher.
    let class = rig
        .voucher_session("RADQTA2KXB", "q-1", "02-00-00-00-00-0A")
        .await;

    // The operators' session list shows it as an active voucher session of the site.
    let (_, page) = api.get("/api/v1/sessions?status=active", admin).await;
    let mirrored: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["voucher_code"] == "RADQTA2KXB")
        .collect();
    assert_eq!(mirrored.len(), 1, "{page}");
    assert_eq!(mirrored[0]["mac_address"], "02:00:00:00:00:0A");
    assert_eq!(mirrored[0]["session_type"], "voucher");
    assert!(mirrored[0]["radius_session"].is_string());

    // Under its megabyte: nothing to do.
    rig.account(
        acct_status::INTERIM_UPDATE,
        ("RADQTA2KXB", "q-1", "02-00-00-00-00-0A"),
        Some(&class),
        600_000,
    )
    .await;
    let pass = rig.enforce().await;
    assert_eq!(pass.sent, 0);

    // Past it: disconnected, reason quota, and no longer counted as live once ACKed.
    das.expect(&[Some((Code::DisconnectAck, None))]);
    rig.account(
        acct_status::INTERIM_UPDATE,
        ("RADQTA2KXB", "q-1", "02-00-00-00-00-0A"),
        Some(&class),
        1_100_000,
    )
    .await;
    let pass = rig.enforce().await;
    assert_eq!((pass.sent, pass.acked), (1, 1));
    let sent = das.seen().pop().unwrap();
    assert_eq!(sent.code, Code::DisconnectRequest);
    assert_eq!(
        sent.get_text(attr::USER_NAME).as_deref(),
        Some("RADQTA2KXB")
    );
    let reason: String = api
        .owner
        .query_one(
            "SELECT reason FROM radius_dynauth WHERE username = 'RADQTA2KXB'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reason, "quota");
    assert!(live(api, admin, "RADQTA2KXB").await.is_empty());
    // A second pass does not disconnect it again.
    let pass = rig.enforce().await;
    assert_eq!(pass.sent, 0);
    // The mirrored row followed the counters; its data is not counted twice: a second device
    // is refused because the voucher is used up, by radacct's count alone.
    let mb: f64 = api
        .owner
        .query_one(
            "SELECT data_used_mb::float8 FROM hotspot_sessions WHERE voucher_code = 'RADQTA2KXB'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!((mb - 1_100_000.0 / 1_048_576.0).abs() < 0.01, "{mb}");
    let refused = rig
        .login("RADQTA2KXB", "RADQTA2KXB", "02-00-00-00-00-0B")
        .await;
    assert_eq!(refused.code, Code::AccessReject);

    // The NAS ACKed but sent no Stop: two minutes on, the pass closes the row at the ACK.
    api.owner
        .execute(
            "UPDATE radius_dynauth SET answered_at = now() - interval '3 minutes'",
            &[],
        )
        .await
        .unwrap();
    let pass = rig.enforce().await;
    assert_eq!(pass.closed, 1);
    let (cause, status): (String, String) = {
        let r = api
            .owner
            .query_one(
                "SELECT r.acctterminatecause, s.session_status FROM radacct r \
                 JOIN hotspot_sessions s ON s.radius_session = r.acctuniqueid \
                 WHERE r.username = 'RADQTA2KXB'",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        (cause.as_str(), status.as_str()),
        ("Admin-Reset", "terminated")
    );

    // The operators' kick of a mirrored session sends a Disconnect to its NAS; a silent NAS
    // leaves it active, and the answer says so.
    rig.voucher_session("RADTMB3KXC", "t-1", "02:00:00:00:00:0C")
        .await;
    let session_id: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM hotspot_sessions WHERE voucher_code = 'RADTMB3KXC'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    das.expect(&[Some((Code::DisconnectAck, None))]);
    let (status, v) = api
        .post(
            &format!("/api/v1/sessions/{session_id}/kick"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["disconnect"]["outcome"], "ack");
    let kicks = api
        .count(&format!(
            "SELECT count(*) FROM hotspot_session_kicks WHERE session_id = '{session_id}'"
        ))
        .await;
    assert_eq!(kicks, 0, "no kick is queued for a router: the NAS was told");

    // Analytics count both RADIUS voucher sessions at their site.
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
    let (status, v) = api
        .get(&format!("/api/v1/analytics?from={from}&to={to}"), admin)
        .await;
    assert_eq!(status, 200, "{v}");
    let radius: i64 = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["radius_sessions"].as_i64().unwrap())
        .sum();
    assert_eq!(radius, 2, "{v}");
    rig.server.stop().await;
}

#[tokio::test]
async fn subscribers_past_their_monthly_cap_are_disconnected_and_refused() {
    let rig = Rig::new("mikrotik").await;
    let (api, das) = (&rig.api, &rig.das);
    let a = api.a;
    api.owner
        .batch_execute(&format!(
            "INSERT INTO bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps, \
               monthly_data_cap_gb) VALUES ('{a}', 'capped-1g', 10, 2, 1); \
             INSERT INTO subscribers (tenant_id, subscriber_number, service_type, status, \
               pppoe_username, pppoe_password, bandwidth_profile_id) \
             SELECT '{a}', 'SUB-CAP', 'ftth', 'active', 'capped', 'pw', id \
             FROM bandwidth_profiles WHERE tenant_id = '{a}' AND name = 'capped-1g';"
        ))
        .await
        .unwrap();
    let accept = rig.login("capped", "pw", "02:00:00:00:01:01").await;
    assert_eq!(accept.code, Code::AccessAccept);
    // A whole GiB left, in MikroTik's dialect (under 4 GiB: no Gigawords).
    assert_eq!(
        accept.get_vendor(vendor::MIKROTIK, 17),
        Some(&(1u32 << 30).to_be_bytes()[..])
    );
    assert_eq!(accept.get_vendor(vendor::MIKROTIK, 18), None);
    let class = accept.get(attr::CLASS).unwrap().to_vec();
    let mac = "02:00:00:00:01:01";
    rig.account(acct_status::START, ("capped", "c-1", mac), Some(&class), 0)
        .await;
    rig.account(
        acct_status::INTERIM_UPDATE,
        ("capped", "c-1", mac),
        Some(&class),
        900_000_000,
    )
    .await;
    let pass = rig.enforce().await;
    assert_eq!(pass.sent, 0);

    das.expect(&[Some((Code::DisconnectAck, None))]);
    rig.account(
        acct_status::INTERIM_UPDATE,
        ("capped", "c-1", mac),
        Some(&class),
        1_100_000_000,
    )
    .await;
    let pass = rig.enforce().await;
    assert_eq!((pass.sent, pass.acked), (1, 1));
    assert_eq!(
        das.seen()
            .pop()
            .unwrap()
            .get_text(attr::USER_NAME)
            .as_deref(),
        Some("capped")
    );
    // The month's accounting counts at the next login, whatever the subscriber row says.
    rig.account(
        acct_status::STOP,
        ("capped", "c-1", mac),
        Some(&class),
        1_100_000_000,
    )
    .await;
    let refused = rig.login("capped", "pw", "02:00:00:00:01:01").await;
    assert_eq!(refused.code, Code::AccessReject);
    assert_eq!(
        refused.get_text(attr::REPLY_MESSAGE).as_deref(),
        Some("Monthly data allowance used up")
    );
    rig.server.stop().await;
}

/// An operator's extension of a voucher session on its own NAS: the voucher is extended (a login
/// again gets the new allowance too) and the NAS gets a CoA with what the voucher now allows; an
/// amount of a limit the voucher does not have is refused and changes nothing.
#[tokio::test]
async fn an_extension_of_a_voucher_session_extends_its_voucher_and_reaches_the_nas_as_a_coa() {
    let rig = Rig::new("coovachilli").await;
    let (api, admin, das) = (&rig.api, rig.admin.as_str(), &rig.das);
    let a = api.a;
    api.owner
        .batch_execute(&format!(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, \
               duration_minutes, max_devices) \
             SELECT '{a}', id, 'RADEXT4KXD', 60, 1 FROM hotspots \
             WHERE tenant_id = '{a}' LIMIT 1;"
        ))
        .await
        .unwrap();
    let class = rig
        .voucher_session("RADEXT4KXD", "x-1", "02:00:00:00:00:0E")
        .await;
    let session_id: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM hotspot_sessions WHERE voucher_code = 'RADEXT4KXD'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let path = format!("/api/v1/sessions/{session_id}/extend");
    let duration = || async {
        api.owner
            .query_one(
                "SELECT duration_minutes FROM hotspot_vouchers WHERE voucher_code = 'RADEXT4KXD'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i32>(0)
    };

    // Data for a voucher without a data limit: 422, nothing changed, nothing sent.
    let (status, v) = api.post(&path, admin, json!({"data_mb": 100})).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "data_mb", "{v}");
    assert_eq!(duration().await, 60);
    assert!(das.seen().is_empty());

    // 30 minutes more: the voucher now runs 90 minutes from its first use, the NAS is told
    // the session may last about 90 minutes from now, and ACKs.
    das.expect(&[Some((Code::CoaAck, None))]);
    let (status, v) = api.post(&path, admin, json!({"minutes": 30})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["coa"]["outcome"], "ack", "{v}");
    assert_eq!(v["added_minutes"], 30, "{v}");
    assert_eq!(duration().await, 90);
    let coa = das.seen().pop().unwrap();
    assert_eq!(coa.code, Code::CoaRequest);
    assert_eq!(coa.get_text(attr::USER_NAME).as_deref(), Some("RADEXT4KXD"));
    assert_eq!(coa.get_text(attr::ACCT_SESSION_ID).as_deref(), Some("x-1"));
    let timeout = coa.get_u32(attr::SESSION_TIMEOUT).unwrap();
    assert!((89 * 60..=90 * 60).contains(&timeout), "{timeout}");

    // A silent NAS: the answer says so, and the voucher is extended all the same; the device
    // logging in again gets the whole new allowance.
    das.expect(&[None, None, None, None]);
    let (status, v) = api.post(&path, admin, json!({"minutes": 10})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["coa"]["outcome"], "timeout", "{v}");
    assert_eq!(duration().await, 100);
    rig.account(
        acct_status::STOP,
        ("RADEXT4KXD", "x-1", "02:00:00:00:00:0E"),
        Some(&class),
        0,
    )
    .await;
    let again = rig
        .login("RADEXT4KXD", "RADEXT4KXD", "02:00:00:00:00:0E")
        .await;
    assert_eq!(again.code, Code::AccessAccept);
    let timeout = again.get_u32(attr::SESSION_TIMEOUT).unwrap();
    assert!((99 * 60..=100 * 60).contains(&timeout), "{timeout}");
    rig.server.stop().await;
}
