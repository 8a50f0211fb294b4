//! The RADIUS server over real UDP sockets on 127.0.0.0/8: FreeRADIUS's own `radclient`
//! (freeradius-utils) where it is installed, and a small client of our codec for what
//! `radclient` cannot send (MS-CHAPv2, exact retransmissions, missing Message-Authenticator).

use std::net::SocketAddr;
use std::time::Duration;

use hotspot_cloud::radius::{self, Running, Settings, mschap};
use hotspot_shared::radius::crypto::{hide_password, sign_request, verify_response};
use hotspot_shared::radius::{Code, Packet, acct_status, attr, vendor};
use tokio::net::UdpSocket;
use uuid::Uuid;

use crate::helpers::{TestDb, migrated_db, seed_tenant};

const SECRET: &str = "a-long-shared-secret-1";
const SECRET_B: &str = "another-long-secret-2";

struct Rig {
    db: TestDb,
    server: Running,
    a: Uuid,
    b: Uuid,
}

impl Rig {
    async fn new() -> Rig {
        Rig::with_radsec(None).await
    }

    async fn with_radsec(radsec: Option<radius::radsec::TlsFiles>) -> Rig {
        let db = migrated_db().await;
        let owner = db.connect().await;
        let a = seed_tenant(&owner, 201).await;
        let b = seed_tenant(&owner, 202).await;
        owner
            .batch_execute(&format!(
                "INSERT INTO nas (tenant_id, nasname, shortname, type, secret) VALUES \
                   ('{a}', '127.0.0.1', 'mt', 'mikrotik', '{SECRET}'), \
                   ('{b}', '127.0.0.2', 'chilli', 'coovachilli', '{SECRET_B}'); \
                 INSERT INTO nas (tenant_id, nasname, shortname, type, secret, require_ma, \
                   limit_proxy_state) VALUES ('{a}', '127.0.0.5', 'old', 'other', '{SECRET}', \
                   'no', 'yes'); \
                 INSERT INTO radcheck (tenant_id, username, attribute, op, value) VALUES \
                   ('{a}', 'alice', 'Cleartext-Password', ':=', 'wonderland'), \
                   ('{a}', 'solo', 'Cleartext-Password', ':=', 'pw'), \
                   ('{a}', 'solo', 'Simultaneous-Use', ':=', '1'), \
                   ('{a}', 'barred', 'Cleartext-Password', ':=', 'pw'), \
                   ('{a}', 'barred', 'Auth-Type', ':=', 'Reject'); \
                 INSERT INTO radusergroup (tenant_id, username, groupname) VALUES \
                   ('{a}', 'guest', 'site-a-open'); \
                 INSERT INTO radgroupcheck (tenant_id, groupname, attribute, op, value) VALUES \
                   ('{a}', 'site-a-open', 'Auth-Type', ':=', 'Accept'), \
                   ('{a}', 'site-a-open', 'Called-Station-Id', '==', 'site-a'); \
                 INSERT INTO radreply (tenant_id, username, attribute, op, value) VALUES \
                   ('{a}', 'alice', 'Mikrotik-Rate-Limit', '=', '2M/8M'), \
                   ('{a}', 'alice', 'Session-Timeout', '=', '7200'); \
                 INSERT INTO bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps) VALUES \
                   ('{a}', 'radius-test', 10, 5), ('{b}', 'radius-test', 20, 4); \
                 INSERT INTO subscribers (tenant_id, subscriber_number, service_type, status, \
                   pppoe_username, pppoe_password, bandwidth_profile_id) \
                   SELECT '{a}', 'SUB-R-A', 'ftth', 'active', 'sam', 'pass-a', id \
                   FROM bandwidth_profiles WHERE tenant_id = '{a}' AND name = 'radius-test'; \
                 INSERT INTO subscribers (tenant_id, subscriber_number, service_type, status, \
                   pppoe_username, pppoe_password, bandwidth_profile_id) \
                   SELECT '{b}', 'SUB-R-B', 'ftth', 'active', 'sam', 'pass-b', id \
                   FROM bandwidth_profiles WHERE tenant_id = '{b}' AND name = 'radius-test'; \
                 INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, \
                   duration_minutes, max_devices) \
                   SELECT '{a}', id, 'RADVWXK2QA', 30, 1 FROM hotspots WHERE tenant_id = '{a}';"
            ))
            .await
            .unwrap();
        let settings = Settings {
            auth_listen: Some("127.0.0.1:0".parse().unwrap()),
            acct_listen: Some("127.0.0.1:0".parse().unwrap()),
            radsec_listen: radsec.is_some().then(|| "127.0.0.1:0".parse().unwrap()),
            radsec_tls: radsec,
            ..Settings::default()
        };
        let server = radius::start(db.pool(), db.url.clone(), settings)
            .await
            .unwrap();
        assert_eq!(
            server.clients.len(),
            3 + 2,
            "our three NAS and the fixture's two"
        );
        Rig { db, server, a, b }
    }

    fn auth(&self) -> SocketAddr {
        self.server.auth_addr.unwrap()
    }

    fn acct(&self) -> SocketAddr {
        self.server.acct_addr.unwrap()
    }
}

/// Sends `bytes` from `from` and waits up to `wait` for an answer.
async fn exchange(from: &str, to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(format!("{from}:0")).await.unwrap();
    socket.send_to(bytes, to).await.unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

fn access_request(user: &str, password: Option<&str>, secret: &str, id: u8) -> Packet {
    let auth: [u8; 16] = rand_bytes();
    let mut p = Packet::new(Code::AccessRequest, id, auth);
    p.push(attr::USER_NAME, user);
    if let Some(pw) = password {
        p.push(
            attr::USER_PASSWORD,
            hide_password(pw.as_bytes(), secret.as_bytes(), &auth),
        );
    }
    p.push(attr::CALLING_STATION_ID, "02:00:00:00:00:01");
    p
}

fn rand_bytes() -> [u8; 16] {
    *Uuid::new_v4().as_bytes()
}

/// Signs, sends from `from`, checks the answer's authenticators; `None` when none came.
async fn ask(from: &str, to: SocketAddr, p: &Packet, secret: &str, ma: bool) -> Option<Packet> {
    let bytes = if ma {
        sign_request(p, secret.as_bytes(), true).unwrap()
    } else {
        p.encode_raw().unwrap()
    };
    let answer = exchange(from, to, &bytes, Duration::from_millis(1500)).await?;
    let authenticator: [u8; 16] = bytes[4..20].try_into().unwrap();
    verify_response(&answer, p.code, &authenticator, secret.as_bytes())
        .expect("reply authenticators");
    Some(Packet::decode(&answer).unwrap())
}

/// The authenticator an Access-Request goes out with (it keeps the caller's).
fn ms_request_authenticator(p: &Packet, secret: &str) -> [u8; 16] {
    sign_request(p, secret.as_bytes(), true).unwrap()[4..20]
        .try_into()
        .unwrap()
}

fn reply_message(p: &Packet) -> String {
    p.get_text(attr::REPLY_MESSAGE).unwrap_or_default()
}

#[tokio::test]
async fn pap_chap_and_mschap_against_the_tables() {
    let rig = Rig::new().await;
    let to = rig.auth();

    let ok = ask(
        "127.0.0.1",
        to,
        &access_request("alice", Some("wonderland"), SECRET, 1),
        SECRET,
        true,
    )
    .await
    .unwrap();
    assert_eq!(ok.code, Code::AccessAccept);
    assert_eq!(
        ok.attributes[0].typ,
        attr::MESSAGE_AUTHENTICATOR,
        "first, against BlastRADIUS"
    );
    assert_eq!(ok.get_vendor(vendor::MIKROTIK, 8), Some(&b"2M/8M"[..]));
    assert_eq!(ok.get_u32(attr::SESSION_TIMEOUT), Some(7200));
    assert_eq!(ok.get_u32(attr::ACCT_INTERIM_INTERVAL), Some(300));

    let bad = ask(
        "127.0.0.1",
        to,
        &access_request("alice", Some("nope"), SECRET, 2),
        SECRET,
        true,
    )
    .await
    .unwrap();
    assert_eq!(bad.code, Code::AccessReject);
    assert_eq!(bad.attributes[0].typ, attr::MESSAGE_AUTHENTICATOR);
    assert_eq!(reply_message(&bad), "Wrong username or password");

    let barred = ask(
        "127.0.0.1",
        to,
        &access_request("barred", Some("pw"), SECRET, 3),
        SECRET,
        true,
    )
    .await
    .unwrap();
    assert_eq!(barred.code, Code::AccessReject);

    // A group applies only when all its checks hold: its Auth-Type := Accept lets guests in at
    // site-a, and nowhere else.
    let mut at_a = access_request("guest", Some("anything"), SECRET, 10);
    at_a.push(attr::CALLED_STATION_ID, "site-a");
    assert_eq!(
        ask("127.0.0.1", to, &at_a, SECRET, true)
            .await
            .unwrap()
            .code,
        Code::AccessAccept
    );
    let mut at_b = access_request("guest", Some("anything"), SECRET, 11);
    at_b.push(attr::CALLED_STATION_ID, "site-b");
    assert_eq!(
        ask("127.0.0.1", to, &at_b, SECRET, true)
            .await
            .unwrap()
            .code,
        Code::AccessReject
    );

    // CHAP (MikroTik hotspot's default).
    let mut chap = access_request("alice", None, SECRET, 4);
    let challenge = rand_bytes();
    chap.push(attr::CHAP_CHALLENGE, challenge);
    chap.push(
        attr::CHAP_PASSWORD,
        hotspot_shared::radius::crypto::chap_response(7, &challenge, b"wonderland"),
    );
    assert_eq!(
        ask("127.0.0.1", to, &chap, SECRET, true)
            .await
            .unwrap()
            .code,
        Code::AccessAccept
    );

    // MS-CHAPv2 (PPPoE): the reply proves the server knew the password too.
    let peer = rand_bytes();
    let auth_challenge = rand_bytes();
    let nt = mschap::v2_nt_response(&auth_challenge, &peer, "sam", "pass-a");
    let mut resp = vec![9u8, 0];
    resp.extend_from_slice(&peer);
    resp.extend_from_slice(&[0; 8]);
    resp.extend_from_slice(&nt);
    let mut ms = access_request("sam", None, SECRET, 5);
    ms.push_vendor(
        vendor::MICROSOFT,
        mschap::attr::MS_CHAP_CHALLENGE,
        &auth_challenge,
    );
    ms.push_vendor(vendor::MICROSOFT, mschap::attr::MS_CHAP2_RESPONSE, &resp);
    let accepted = ask("127.0.0.1", to, &ms, SECRET, true).await.unwrap();
    assert_eq!(accepted.code, Code::AccessAccept);
    let success = accepted
        .get_vendor(vendor::MICROSOFT, mschap::attr::MS_CHAP2_SUCCESS)
        .unwrap();
    let want = mschap::v2_authenticator_response("pass-a", &nt, &peer, &auth_challenge, "sam");
    assert_eq!(&success[1..], want.as_bytes());
    // The link's MPPE keys, encrypted with the secret and this request's authenticator.
    let keys = mschap::mppe_keys("pass-a", &nt);
    let sent = ms_request_authenticator(&ms, SECRET);
    let key_of = |t| {
        let v = accepted.get_vendor(vendor::MICROSOFT, t).unwrap();
        mschap::decrypt_mppe_key(v, SECRET.as_bytes(), &sent).unwrap()
    };
    assert_eq!(key_of(mschap::attr::MS_MPPE_SEND_KEY), keys.send);
    assert_eq!(key_of(mschap::attr::MS_MPPE_RECV_KEY), keys.recv);
    // The subscriber's bandwidth profile, in MikroTik's dialect (rx/tx = upload/download).
    assert_eq!(
        accepted.get_vendor(vendor::MIKROTIK, 8),
        Some(&b"5000k/10000k"[..])
    );
    drop(rig.db.connect().await);
    rig.server.stop().await;
}

#[tokio::test]
async fn each_nas_sees_only_its_tenants_users() {
    let rig = Rig::new().await;
    let to = rig.auth();
    let from_a = |pw: &'static str| access_request("sam", Some(pw), SECRET, 1);
    let from_b = |pw: &'static str| access_request("sam", Some(pw), SECRET_B, 2);
    let a_ok = ask("127.0.0.1", to, &from_a("pass-a"), SECRET, true)
        .await
        .unwrap();
    let a_bad = ask("127.0.0.1", to, &from_a("pass-b"), SECRET, true)
        .await
        .unwrap();
    let b_ok = ask("127.0.0.2", to, &from_b("pass-b"), SECRET_B, true)
        .await
        .unwrap();
    let b_bad = ask("127.0.0.2", to, &from_b("pass-a"), SECRET_B, true)
        .await
        .unwrap();
    assert_eq!(a_ok.code, Code::AccessAccept);
    assert_eq!(a_bad.code, Code::AccessReject);
    assert_eq!(b_ok.code, Code::AccessAccept);
    assert_eq!(b_bad.code, Code::AccessReject);
    // Tenant B's NAS is a CoovaChilli: its dialect, kbit/s and bit/s.
    assert_eq!(
        b_ok.get_vendor(vendor::CHILLISPOT, 5),
        Some(&20_000u32.to_be_bytes()[..])
    );
    assert_eq!(
        b_ok.get_vendor(vendor::WISPR, 7),
        Some(&4_000_000u32.to_be_bytes()[..])
    );
    assert_eq!(b_ok.get_vendor(vendor::MIKROTIK, 8), None);
    // B's NAS cannot use A's voucher.
    let v = ask(
        "127.0.0.2",
        to,
        &access_request("RADVWXK2QA", Some(""), SECRET_B, 3),
        SECRET_B,
        true,
    )
    .await
    .unwrap();
    assert_eq!(v.code, Code::AccessReject);
    let _ = (rig.a, rig.b);
    rig.server.stop().await;
}

#[tokio::test]
async fn vouchers_follow_the_edges_rules() {
    let rig = Rig::new().await;
    let to = rig.auth();
    let first = ask(
        "127.0.0.1",
        to,
        &access_request("radvwxk2qa", Some("RADVWXK2QA"), SECRET, 1),
        SECRET,
        true,
    )
    .await
    .unwrap();
    assert_eq!(first.code, Code::AccessAccept, "{}", reply_message(&first));
    let timeout = first.get_u32(attr::SESSION_TIMEOUT).unwrap();
    assert!(
        (1790..=1800).contains(&timeout),
        "30 minutes left: {timeout}"
    );
    assert_eq!(first.get_u32(attr::IDLE_TIMEOUT), Some(900));
    let owner = rig.db.connect().await;
    let row = owner
        .query_one(
            "SELECT v.is_used, v.used_by_mac, count(r.*) FROM hotspot_vouchers v \
             LEFT JOIN hotspot_voucher_redemptions r ON r.voucher_id = v.id \
             WHERE v.voucher_code = 'RADVWXK2QA' GROUP BY v.is_used, v.used_by_mac",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("02:00:00:00:00:01")
    );
    assert_eq!(row.get::<_, i64>(2), 1);
    // The same device may come back; a second device may not (max_devices = 1).
    let again = ask(
        "127.0.0.1",
        to,
        &access_request("RADVWXK2QA", Some(""), SECRET, 2),
        SECRET,
        true,
    )
    .await
    .unwrap();
    assert_eq!(again.code, Code::AccessAccept);
    let mut other = access_request("RADVWXK2QA", Some(""), SECRET, 3);
    other.remove(attr::CALLING_STATION_ID);
    other.push(attr::CALLING_STATION_ID, "02-00-00-00-00-02");
    let refused = ask("127.0.0.1", to, &other, SECRET, true).await.unwrap();
    assert_eq!(refused.code, Code::AccessReject);
    assert_eq!(
        reply_message(&refused),
        "This voucher is already in use on 1 device"
    );
    // Every outcome reaches radpostauth, in batches, under the NAS's tenant.
    let mut logged = 0;
    for _ in 0..50 {
        logged = owner
            .query_one(
                "SELECT count(*) FROM radpostauth WHERE username ILIKE 'radvwxk2qa' AND tenant_id = $1",
                &[&rig.a],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if logged == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged, 3);
    rig.server.stop().await;
}

#[tokio::test]
async fn blast_radius_rules_and_unknown_clients() {
    let rig = Rig::new().await;
    let to = rig.auth();
    let req = access_request("alice", Some("wonderland"), SECRET, 1);
    // No Message-Authenticator from a NAS that requires it (the default): dropped.
    assert!(ask("127.0.0.1", to, &req, SECRET, false).await.is_none());
    // Wrong secret: the Message-Authenticator does not verify.
    let forged = sign_request(&req, b"not-the-secret", true).unwrap();
    assert!(
        exchange("127.0.0.1", to, &forged, Duration::from_millis(800))
            .await
            .is_none()
    );
    // An address with no nas row: silently dropped.
    assert!(ask("127.0.0.3", to, &req, SECRET, true).await.is_none());
    // require_ma = no still limits Proxy-State without Message-Authenticator.
    let old = access_request("alice", Some("wonderland"), SECRET, 2);
    assert_eq!(
        ask("127.0.0.5", to, &old, SECRET, false)
            .await
            .unwrap()
            .code,
        Code::AccessAccept
    );
    let mut proxied = access_request("alice", Some("wonderland"), SECRET, 3);
    proxied.push(attr::PROXY_STATE, "p1");
    assert!(
        ask("127.0.0.5", to, &proxied, SECRET, false)
            .await
            .is_none()
    );
    let echoed = ask("127.0.0.5", to, &proxied, SECRET, true).await.unwrap();
    assert_eq!(echoed.get(attr::PROXY_STATE), Some(&b"p1"[..]));
    // Garbage and a truncated packet: dropped, and the server still answers.
    for junk in [&b"\x01\x02\x00\x10short"[..], &[0xffu8; 300][..]] {
        assert!(
            exchange("127.0.0.1", to, junk, Duration::from_millis(300))
                .await
                .is_none()
        );
    }
    // Status-Server (RFC 5997): answered with Message-Authenticator first.
    let status = Packet::new(Code::StatusServer, 9, rand_bytes());
    let s = ask("127.0.0.1", to, &status, SECRET, true).await.unwrap();
    assert_eq!(s.code, Code::AccessAccept);
    assert_eq!(s.attributes[0].typ, attr::MESSAGE_AUTHENTICATOR);
    // A NAS added while running is served within moments (the table is refreshed on change).
    let owner = rig.db.connect().await;
    owner
        .execute(
            "INSERT INTO nas (tenant_id, nasname, shortname, type, secret) \
             VALUES ($1, '127.0.0.6', 'new', 'mikrotik', $2)",
            &[&rig.a, &SECRET],
        )
        .await
        .unwrap();
    let mut served = false;
    for _ in 0..40 {
        if ask("127.0.0.6", to, &req, SECRET, true).await.is_some() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a new nas row is picked up without a restart");
    rig.server.stop().await;
}

fn accounting(status: u32, session: &str, input: u32, giga: u32) -> Packet {
    let mut p = Packet::new(Code::AccountingRequest, status as u8, [0; 16]);
    p.push_u32(attr::ACCT_STATUS_TYPE, status);
    p.push(attr::USER_NAME, "solo");
    p.push(attr::ACCT_SESSION_ID, session);
    p.push(attr::CALLING_STATION_ID, "02:00:00:00:00:09");
    p.push(attr::FRAMED_IP_ADDRESS, [10, 5, 50, 23]);
    p.push_u32(attr::ACCT_INPUT_OCTETS, input);
    p.push_u32(attr::ACCT_INPUT_GIGAWORDS, giga);
    p.push_u32(attr::ACCT_OUTPUT_OCTETS, 1000);
    p.push_u32(attr::ACCT_SESSION_TIME, 60);
    p
}

#[tokio::test]
async fn accounting_lands_once_and_closes_sessions() {
    let rig = Rig::new().await;
    let acct = rig.acct();
    let owner = rig.db.connect().await;
    let start = sign_request(
        &accounting(acct_status::START, "S-1", 0, 0),
        SECRET.as_bytes(),
        false,
    )
    .unwrap();
    let first = exchange("127.0.0.1", acct, &start, Duration::from_secs(2))
        .await
        .unwrap();
    // A retransmission: the same bytes back, and still one row.
    let again = exchange("127.0.0.1", acct, &start, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        Packet::decode(&first).unwrap().code,
        Code::AccountingResponse
    );
    // A bad request authenticator is dropped.
    let mut forged = start.clone();
    forged[5] ^= 1;
    assert!(
        exchange("127.0.0.1", acct, &forged, Duration::from_millis(500))
            .await
            .is_none()
    );

    let count = |sql: &'static str| {
        let owner = &owner;
        async move { owner.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(
        count("SELECT count(*) FROM radacct WHERE acctsessionid = 'S-1'").await,
        1
    );
    let tenant: Uuid = owner
        .query_one(
            "SELECT tenant_id FROM radacct WHERE acctsessionid = 'S-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tenant, rig.a);

    // Simultaneous-Use := 1: solo is online from ...:09, so another device is refused.
    let to = rig.auth();
    let refused = ask(
        "127.0.0.1",
        to,
        &access_request("solo", Some("pw"), SECRET, 7),
        SECRET,
        true,
    )
    .await
    .unwrap();
    assert_eq!(refused.code, Code::AccessReject);
    assert_eq!(
        reply_message(&refused),
        "You are already logged in - access denied"
    );

    let interim = sign_request(
        &accounting(acct_status::INTERIM_UPDATE, "S-1", 5, 1),
        SECRET.as_bytes(),
        false,
    )
    .unwrap();
    assert!(
        exchange("127.0.0.1", acct, &interim, Duration::from_secs(2))
            .await
            .is_some()
    );
    let octets: i64 = owner
        .query_one(
            "SELECT acctinputoctets FROM radacct WHERE acctsessionid = 'S-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(octets, (1i64 << 32) + 5, "Gigawords folded in");
    let stop = sign_request(
        &accounting(acct_status::STOP, "S-1", 9, 1),
        SECRET.as_bytes(),
        false,
    )
    .unwrap();
    assert!(
        exchange("127.0.0.1", acct, &stop, Duration::from_secs(2))
            .await
            .is_some()
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM radacct WHERE acctsessionid = 'S-1' AND acctstoptime IS NOT NULL"
        )
        .await,
        1
    );
    // A Stop for a session whose Start was lost still makes one row.
    let lone = sign_request(
        &accounting(acct_status::STOP, "S-2", 1, 0),
        SECRET.as_bytes(),
        false,
    )
    .unwrap();
    assert!(
        exchange("127.0.0.1", acct, &lone, Duration::from_secs(2))
            .await
            .is_some()
    );
    assert_eq!(
        count("SELECT count(*) FROM radacct WHERE acctsessionid = 'S-2'").await,
        1
    );

    // Accounting-On closes what the NAS left open.
    let open = sign_request(
        &accounting(acct_status::START, "S-3", 0, 0),
        SECRET.as_bytes(),
        false,
    )
    .unwrap();
    assert!(
        exchange("127.0.0.1", acct, &open, Duration::from_secs(2))
            .await
            .is_some()
    );
    let mut on = Packet::new(Code::AccountingRequest, 200, [0; 16]);
    on.push_u32(attr::ACCT_STATUS_TYPE, acct_status::ACCOUNTING_ON);
    on.push_u32(
        attr::EVENT_TIMESTAMP,
        (chrono::Utc::now().timestamp() + 5) as u32,
    );
    let on = sign_request(&on, SECRET.as_bytes(), false).unwrap();
    assert!(
        exchange("127.0.0.1", acct, &on, Duration::from_secs(2))
            .await
            .is_some()
    );
    assert_eq!(
        count("SELECT count(*) FROM radacct WHERE acctsessionid = 'S-3' AND acctterminatecause = 'NAS-Reboot'").await,
        1
    );
    rig.server.stop().await;
}

#[tokio::test]
async fn sessions_whose_interim_updates_stopped_are_closed() {
    let rig = Rig::new().await;
    let owner = rig.db.connect().await;
    owner
        .batch_execute(&format!(
            "INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, \
               acctstarttime, acctupdatetime, acctinterval) VALUES \
             ('{a}', 'quiet', 'quiet-1', 'solo', '127.0.0.1', now() - interval '2 hours', \
              now() - interval '1 hour', 300), \
             ('{a}', 'lively', 'lively-1', 'solo', '127.0.0.1', now() - interval '2 hours', \
              now() - interval '5 minutes', 300), \
             ('{a}', 'slow-nas', 'slow-1', 'solo', '127.0.0.1', now() - interval '3 hours', \
              now() - interval '50 minutes', 1200)",
            a = rig.a
        ))
        .await
        .unwrap();
    let closed = radius::sweep_once(&rig.db.pool(), 300).await.unwrap();
    assert_eq!(closed, Some(1));
    let rows = owner
        .query(
            "SELECT acctsessionid, acctterminatecause, acctstoptime = acctupdatetime \
             FROM radacct WHERE acctstoptime IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "quiet");
    assert_eq!(
        rows[0].get::<_, Option<String>>(1).as_deref(),
        Some("Stale-Session")
    );
    assert!(rows[0].get::<_, bool>(2), "closed at its last update");
    // Simultaneous-Use no longer counts it: solo may log in again.
    let back = ask(
        "127.0.0.1",
        rig.auth(),
        &access_request("solo", Some("pw"), SECRET, 1),
        SECRET,
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        back.code,
        Code::AccessReject,
        "the sessions still reporting count"
    );
    owner
        .batch_execute(
            "UPDATE radacct SET acctupdatetime = now() - interval '2 hours' \
             WHERE acctsessionid IN ('lively', 'slow-nas')",
        )
        .await
        .unwrap();
    assert_eq!(
        radius::sweep_once(&rig.db.pool(), 300).await.unwrap(),
        Some(2)
    );
    let back = ask(
        "127.0.0.1",
        rig.auth(),
        &access_request("solo", Some("pw"), SECRET, 2),
        SECRET,
        true,
    )
    .await
    .unwrap();
    let open: Vec<String> = owner
        .query(
            "SELECT acctsessionid FROM radacct WHERE username = 'solo' AND acctstoptime IS NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        back.code,
        Code::AccessAccept,
        "{} {open:?}",
        reply_message(&back)
    );
    rig.server.stop().await;
}

/// FreeRADIUS's radclient (Debian's freeradius-utils) against the server: PAP, CHAP, MS-CHAP
/// and accounting, each as radclient builds them.
#[tokio::test]
async fn freeradius_radclient_interoperates() {
    if std::process::Command::new("radclient")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipped: radclient (freeradius-utils) is not installed");
        return;
    }
    let rig = Rig::new().await;
    let run = |addr: SocketAddr, kind: &str, input: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new("radclient")
            .args(["-x", "-t", "2", "-r", "1", &addr.to_string(), kind, SECRET])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let auth = rig.auth();
    let acct = rig.acct();
    let out = tokio::task::spawn_blocking(move || {
        [
            run(auth, "auth", "User-Name = alice, User-Password = wonderland, Message-Authenticator = 0x00"),
            run(auth, "auth", "User-Name = alice, CHAP-Password = wonderland, Message-Authenticator = 0x00"),
            run(auth, "auth", "User-Name = sam, MS-CHAP-Password = pass-a, Message-Authenticator = 0x00"),
            run(auth, "auth", "User-Name = alice, User-Password = wrong, Message-Authenticator = 0x00"),
            run(auth, "auth", "User-Name = alice, User-Password = wonderland"),
            run(acct, "acct", "User-Name = alice, Acct-Status-Type = Start, Acct-Session-Id = RC-1, NAS-IP-Address = 127.0.0.1"),
        ]
    })
    .await
    .unwrap();
    assert!(out[0].contains("Received Access-Accept"), "{}", out[0]);
    assert!(out[0].contains("Mikrotik-Rate-Limit"), "{}", out[0]);
    assert!(out[1].contains("Received Access-Accept"), "{}", out[1]);
    assert!(out[2].contains("Received Access-Accept"), "{}", out[2]);
    assert!(out[3].contains("Received Access-Reject"), "{}", out[3]);
    assert!(
        !out[4].contains("Received"),
        "no Message-Authenticator: no answer\n{}",
        out[4]
    );
    assert!(
        out[5].contains("Received Accounting-Response"),
        "{}",
        out[5]
    );
    let owner = rig.db.connect().await;
    let n: i64 = owner
        .query_one(
            "SELECT count(*) FROM radacct WHERE acctsessionid = 'RC-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    rig.server.stop().await;
}

/// A CA, and a certificate it signed for `names` (PEM certificate, PEM key, DER certificate).
fn issue(ca: &rcgen::Issuer<'static, rcgen::KeyPair>, names: &[&str]) -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

fn new_ca() -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (rcgen::Issuer::new(params, key), cert.pem())
}

/// One Access-Request over a RadSec connection presenting (`cert`, `key`); `None` when the
/// connection or the answer fails.
async fn radsec_ask(
    to: SocketAddr,
    server_ca: &str,
    cert: &str,
    key: &str,
    request: &Packet,
) -> Option<Packet> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(server_ca.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(to).await.ok()?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .ok()?;
    let bytes = sign_request(request, radius::radsec::SECRET, true).unwrap();
    tls.write_all(&bytes).await.ok()?;
    let mut header = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(3), tls.read_exact(&mut header))
        .await
        .ok()?
        .ok()?;
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let mut raw = vec![0u8; len];
    raw[..4].copy_from_slice(&header);
    tls.read_exact(&mut raw[4..]).await.ok()?;
    let authenticator: [u8; 16] = bytes[4..20].try_into().unwrap();
    verify_response(&raw, request.code, &authenticator, radius::radsec::SECRET).ok()?;
    Packet::decode(&raw).ok()
}

#[tokio::test]
async fn radsec_serves_a_nas_known_by_its_certificate_and_refuses_others() {
    let (ca, ca_pem) = new_ca();
    let (server_cert, server_key, _) = issue(&ca, &["localhost"]);
    let (client_cert, client_key, client_der) = issue(&ca, &["router-1.example"]);
    let (other_ca, _) = new_ca();
    let (rogue_cert, rogue_key, _) = issue(&other_ca, &["router-1.example"]);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let files = radius::radsec::TlsFiles {
        cert: write("server.pem", &server_cert),
        key: write("server.key", &server_key),
        client_ca: write("clients.pem", &ca_pem),
    };
    let rig = Rig::with_radsec(Some(files)).await;
    let to = rig.server.radsec_addr.unwrap();
    // A router somewhere on the Internet: known by its certificate, not its address.
    let owner = rig.db.connect().await;
    owner
        .execute(
            "INSERT INTO nas (tenant_id, nasname, shortname, type, secret, tls_fingerprint) \
             VALUES ($1, 'router-1.example', 'far', 'mikrotik', 'unused-over-tls', $2)",
            &[&rig.b, &radius::radsec::fingerprint(&client_der)],
        )
        .await
        .unwrap();
    let mut served = None;
    for _ in 0..40 {
        if rig
            .server
            .clients
            .by_certificate(&radius::radsec::fingerprint(&client_der))
            .is_some()
        {
            served = radsec_ask(
                to,
                &ca_pem,
                &client_cert,
                &client_key,
                &access_request("sam", Some("pass-b"), "radsec", 1),
            )
            .await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let served = served.expect("an answer over RadSec");
    // The certificate's NAS is tenant B's: B's subscriber, in MikroTik's dialect.
    assert_eq!(
        served.code,
        Code::AccessAccept,
        "{}",
        reply_message(&served)
    );
    assert_eq!(
        served.get_vendor(vendor::MIKROTIK, 8),
        Some(&b"4000k/20000k"[..])
    );
    let wrong = radsec_ask(
        to,
        &ca_pem,
        &client_cert,
        &client_key,
        &access_request("sam", Some("pass-a"), "radsec", 2),
    )
    .await
    .unwrap();
    assert_eq!(wrong.code, Code::AccessReject);
    // A certificate from another CA: no answer.
    let rogue = radsec_ask(
        to,
        &ca_pem,
        &rogue_cert,
        &rogue_key,
        &access_request("sam", Some("pass-b"), "radsec", 3),
    )
    .await;
    assert!(rogue.is_none());
    rig.server.stop().await;
}
