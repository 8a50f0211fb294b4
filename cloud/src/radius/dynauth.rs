//! The Dynamic Authorization client (RFC 5176): Disconnect-Request ends a session on its NAS,
//! CoA-Request changes what it is allowed (rates, time, data) without dropping it.
//!
//! # What is sent
//! The session is named the way each NAS finds it: User-Name, Acct-Session-Id,
//! Framed-IP-Address (MikroTik's hotspot needs User-Name and Framed-IP-Address) and
//! Calling-Station-Id, with NAS-IP-Address when known. The request carries Message-Authenticator
//! (draft-ietf-radext-deprecating-radius) and its hashed authenticator; the reply's
//! authenticator and Message-Authenticator are verified and a reply from elsewhere or to another
//! identifier is ignored. A silent NAS gets the same bytes again after 1, 2 and 4 s (the
//! identifier and authenticator unchanged, so the NAS can spot the retransmission), then the
//! request has timed out.
//!
//! # What is recorded
//! Every request is a row of `radius_dynauth` (migration 0027), written before it is sent and
//! updated with the ACK, the NAK and its Error-Cause, or the timeout. A session counts as ended
//! only once the NAS ACKed its Disconnect; its NAS's Stop then closes the `radacct` row with the
//! final counters (or the sweeper does, two minutes after the ACK, when no Stop comes).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use deadpool_postgres::Pool;
use hotspot_shared::radius::crypto::{sign_request, verify_response};
use hotspot_shared::radius::{Code, MAX_PACKET, Packet, attr};
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use uuid::Uuid;

use super::clients::Dialect;
use super::reply::{self, Grant};

/// The waits before each retransmission; after the last the request has timed out.
pub const BACKOFF: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(4),
];

/// Disconnect-Request or CoA-Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Disconnect,
    Coa,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Disconnect => "disconnect",
            Kind::Coa => "coa",
        }
    }

    fn code(self) -> Code {
        match self {
            Kind::Disconnect => Code::DisconnectRequest,
            Kind::Coa => Code::CoaRequest,
        }
    }
}

/// What the NAS answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ack,
    /// NAK, with its Error-Cause when the NAS gave one (RFC 5176 §3.5: 503 Session Context
    /// Not Found, 404 Invalid Request, …).
    Nak(Option<u32>),
    Timeout,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ack => "ack",
            Outcome::Nak(_) => "nak",
            Outcome::Timeout => "timeout",
        }
    }

    pub fn error_cause(self) -> Option<u32> {
        match self {
            Outcome::Nak(c) => c,
            _ => None,
        }
    }
}

/// What a CoA changes. Rates in kbit/s as the guest sees them (`up` is what the device sends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    pub up_kbps: Option<u32>,
    pub down_kbps: Option<u32>,
    /// Seconds the session may still last.
    pub session_timeout: Option<u32>,
    /// Bytes (up plus down) the session may still move.
    pub total_bytes: Option<u64>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// The session a request names, as its NAS reported it in accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub acct_session_id: String,
    pub framed_ip: Option<IpAddr>,
    pub calling_station_id: Option<String>,
    pub nas_ip: Option<IpAddr>,
}

/// The request packet (before signing) for `session`, with `changes` in the NAS's dialect.
pub fn request(kind: Kind, session: &Session, changes: &Changes, dialect: Dialect) -> Packet {
    let mut p = Packet::new(kind.code(), 0, [0; 16]);
    p.push(attr::USER_NAME, session.username.as_bytes());
    if !session.acct_session_id.is_empty() {
        p.push(attr::ACCT_SESSION_ID, session.acct_session_id.as_bytes());
    }
    match session.nas_ip {
        Some(IpAddr::V4(v4)) => p.push(attr::NAS_IP_ADDRESS, v4.octets()),
        Some(IpAddr::V6(v6)) => p.push(attr::NAS_IPV6_ADDRESS, v6.octets()),
        None => {}
    }
    if let Some(IpAddr::V4(ip)) = session.framed_ip {
        p.push(attr::FRAMED_IP_ADDRESS, ip.octets());
    }
    if let Some(mac) = &session.calling_station_id {
        p.push(attr::CALLING_STATION_ID, mac.as_bytes());
    }
    if kind == Kind::Coa {
        let grant = Grant {
            session_timeout: changes.session_timeout,
            up_kbps: changes.up_kbps,
            down_kbps: changes.down_kbps,
            total_bytes: changes.total_bytes,
            ..Grant::default()
        };
        reply::apply(&mut p, &grant, dialect);
    }
    p
}

/// Sends `packet` (identifier and authenticator set here) to `target` and waits for its
/// answer, retransmitting on [`BACKOFF`]. Returns the outcome and how many times it was sent.
/// An I/O error (no route, a refused send) is an error, not a timeout.
pub async fn exchange(
    target: SocketAddr,
    secret: &[u8],
    mut packet: Packet,
    backoff: &[Duration],
) -> std::io::Result<(Outcome, u32)> {
    let local: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    packet.identifier = rand::random();
    let bytes = sign_request(&packet, secret, true).map_err(std::io::Error::other)?;
    let mut authenticator = [0u8; 16];
    authenticator.copy_from_slice(&bytes[4..20]);
    let (ack, nak) = match packet.code {
        Code::CoaRequest => (Code::CoaAck, Code::CoaNak),
        _ => (Code::DisconnectAck, Code::DisconnectNak),
    };
    let mut buf = vec![0u8; MAX_PACKET];
    let mut sent = 0u32;
    for wait in backoff {
        socket.send(&bytes).await?;
        sent += 1;
        let deadline = tokio::time::Instant::now() + *wait;
        loop {
            let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break,
                // A port unreachable from an earlier send shows up here: keep waiting.
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
                Ok(r) => r?,
            };
            let raw = &buf[..n];
            let Ok(reply) = Packet::decode(raw) else {
                continue;
            };
            if reply.identifier != packet.identifier
                || (reply.code != ack && reply.code != nak)
                || verify_response(raw, packet.code, &authenticator, secret).is_err()
            {
                continue;
            }
            return Ok(if reply.code == ack {
                (Outcome::Ack, sent)
            } else {
                (Outcome::Nak(reply.get_u32(attr::ERROR_CAUSE)), sent)
            });
        }
    }
    Ok((Outcome::Timeout, sent))
}

/// Why a request for a session could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no open RADIUS session {0}")]
    NoSession(i64),
    #[error("the session's NAS ({0}) is not a registered client")]
    UnknownNas(IpAddr),
    #[error("the session's NAS is known only by its RadSec certificate; it has no CoA address")]
    NoAddress,
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("sending to the NAS failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<tokio_postgres::Error> for SendError {
    fn from(e: tokio_postgres::Error) -> Self {
        SendError::Db(e.into())
    }
}

async fn connect(pool: &Pool) -> Result<deadpool_postgres::Object, crate::db::DbError> {
    pool.get()
        .await
        .map_err(|e| crate::db::DbError::Connect(e.to_string()))
}

/// A request recorded and answered: its `radius_dynauth` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub id: i64,
    pub outcome: Outcome,
    pub attempts: u32,
}

/// Who asked, and why.
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    /// `operator`, `quota`, `expired`, `top_up` or `throttle`.
    pub reason: &'a str,
    pub requested_by: Option<Uuid>,
}

/// Sends `kind` for the open `radacct` session `radacctid` of `tenant` to its NAS (by the
/// session's NAS address, at the NAS's `coa_port`) and records the request and its outcome.
/// The database work is in short tenant transactions; none is held open while waiting on
/// the NAS.
pub async fn send_for_session(
    pool: &Pool,
    tenant: Uuid,
    radacctid: i64,
    kind: Kind,
    changes: &Changes,
    cause: Cause<'_>,
    backoff: &[Duration],
) -> Result<Sent, SendError> {
    let mut client = connect(pool).await?;
    let tx = crate::db::tenant_transaction(&mut client, tenant, cause.requested_by).await?;
    let row = tx
        .query_opt(
            "SELECT r.acctuniqueid, r.username, r.acctsessionid, r.framedipaddress, \
                    r.callingstationid, r.nasipaddress, n.id, n.nasname, n.secret, n.coa_port, \
                    n.type \
             FROM radacct r \
             LEFT JOIN nas n ON n.tenant_id = r.tenant_id AND n.nasname = host(r.nasipaddress) \
             WHERE r.radacctid = $1 AND r.acctstoptime IS NULL",
            &[&radacctid],
        )
        .await?
        .ok_or(SendError::NoSession(radacctid))?;
    let unique: String = row.get(0);
    let nas_ip: IpAddr = row.get(5);
    let nas_id: Option<i32> = row.get(6);
    let Some(nas_id) = nas_id else {
        return Err(SendError::UnknownNas(nas_ip));
    };
    let nasname: String = row.get(7);
    let address: IpAddr = nasname.parse().map_err(|_| SendError::NoAddress)?;
    let port = u16::try_from(row.get::<_, i32>(9)).unwrap_or(3799);
    let target = SocketAddr::new(address, port);
    let secret: String = row.get(8);
    let dialect = Dialect::from_type(row.get::<_, Option<&str>>(10).unwrap_or("other"));
    let session = Session {
        username: row.get(1),
        acct_session_id: row.get(2),
        framed_ip: row.get(3),
        calling_station_id: row.get(4),
        nas_ip: Some(nas_ip),
    };
    let changes_json = serde_json::to_value(changes).unwrap_or_default();
    let id: i64 = tx
        .query_one(
            "INSERT INTO radius_dynauth (tenant_id, nas_id, radacctid, acctuniqueid, username, \
                                         kind, reason, changes, target, requested_by) \
             VALUES (app_current_tenant(), $1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &nas_id,
                &radacctid,
                &unique,
                &session.username,
                &kind.as_str(),
                &cause.reason,
                &changes_json,
                &target.to_string(),
                &cause.requested_by,
            ],
        )
        .await?
        .get(0);
    tx.commit().await?;
    drop(client);

    let packet = request(kind, &session, changes, dialect);
    let result = exchange(target, secret.as_bytes(), packet, backoff).await;
    let (outcome, attempts) = match &result {
        Ok((o, n)) => (*o, *n),
        Err(_) => (Outcome::Timeout, 1),
    };
    let mut client = connect(pool).await?;
    let tx = crate::db::tenant_transaction(&mut client, tenant, None).await?;
    tx.execute(
        "UPDATE radius_dynauth SET status = $2, error_cause = $3, attempts = $4, \
                answered_at = now() WHERE id = $1",
        &[
            &id,
            &outcome.as_str(),
            &outcome.error_cause().map(|c| c as i32),
            &(attempts as i32),
        ],
    )
    .await?;
    tx.commit().await?;
    match outcome {
        Outcome::Ack => {
            tracing::info!(%tenant, radacctid, kind = kind.as_str(), reason = cause.reason, %target, "NAS acknowledged")
        }
        _ => {
            tracing::warn!(%tenant, radacctid, kind = kind.as_str(), reason = cause.reason, %target,
                outcome = outcome.as_str(), error_cause = ?outcome.error_cause(), "NAS did not acknowledge")
        }
    }
    result?;
    Ok(Sent {
        id,
        outcome,
        attempts,
    })
}

/// Advisory lock of the enforcement pass ("raddynau"): one replica at a time.
const ENFORCE_LOCK: i64 = 0x7261_6464_796e_6175;
/// How often open voucher sessions are checked against their voucher.
pub const ENFORCE_EVERY: Duration = Duration::from_secs(30);
/// Disconnects in flight at once during a pass.
const ENFORCE_PARALLEL: usize = 32;

/// What one enforcement pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Enforced {
    /// Disconnects sent, and how many the NAS ACKed.
    pub sent: usize,
    pub acked: usize,
    /// Sessions closed two minutes after an ACK with no Stop from the NAS.
    pub closed: i64,
}

/// Why an open voucher session must end now, by the rules the edge applies
/// ([`hotspot_shared::plan::voucher_limits`]): `expired` (its time since first use is over) or
/// `quota` (its devices together used its data), else `None`.
pub fn voucher_verdict(
    first_used: Option<i64>,
    duration_minutes: Option<i32>,
    data_limit_mb: Option<i32>,
    used_bytes: u64,
    now: i64,
) -> Option<&'static str> {
    let limits = hotspot_shared::plan::voucher_limits(
        first_used.unwrap_or(now),
        duration_minutes.map(i64::from),
        data_limit_mb.map(i64::from),
    );
    if limits.seconds_remaining(now) == Some(0) {
        Some("expired")
    } else if limits.bytes_remaining(used_bytes) == Some(0) {
        Some("quota")
    } else {
        None
    }
}

/// One pass (under an advisory lock; `None` when another replica holds it): open RADIUS
/// sessions of vouchers that are used up or out of time, and of subscribers past their
/// profile's monthly data cap, get a Disconnect-Request; sessions ACKed two minutes ago
/// without a Stop are closed.
pub async fn enforce_once(pool: &Pool, backoff: &[Duration]) -> anyhow::Result<Option<Enforced>> {
    crate::db::with_advisory_lock(pool, ENFORCE_LOCK, || async {
        let mut client = pool.get().await?;
        let tx = crate::db::service_transaction(&mut client).await?;
        let closed: i64 = tx
            .query_one("SELECT radius_close_disconnected()", &[])
            .await?
            .get(0);
        let rows = tx
            .query(
                "SELECT tenant_id, radacctid, duration_minutes, data_limit_mb, used_at, \
                        used_bytes FROM radius_voucher_sessions()",
                &[],
            )
            .await?;
        let capped = tx
            .query(
                "SELECT tenant_id, radacctid FROM radius_capped_sessions() \
                 WHERE used_bytes >= cap_bytes",
                &[],
            )
            .await?;
        tx.commit().await?;
        drop(client);
        let now = chrono::Utc::now().timestamp();
        let mut due: Vec<(Uuid, i64, &'static str)> = rows
            .iter()
            .filter_map(|r| {
                let used = r.get::<_, f64>(5).max(0.0) as u64;
                voucher_verdict(r.get(4), r.get(2), r.get(3), used, now)
                    .map(|why| (r.get(0), r.get(1), why))
            })
            .collect();
        // Subscribers past their bandwidth profile's monthly cap.
        due.extend(capped.iter().map(|r| (r.get(0), r.get(1), "quota")));
        let none = Changes::default();
        let mut done = Enforced {
            closed,
            ..Enforced::default()
        };
        for chunk in due.chunks(ENFORCE_PARALLEL) {
            let results = futures_util::future::join_all(chunk.iter().map(|(tenant, id, why)| {
                send_for_session(
                    pool,
                    *tenant,
                    *id,
                    Kind::Disconnect,
                    &none,
                    Cause {
                        reason: why,
                        requested_by: None,
                    },
                    backoff,
                )
            }))
            .await;
            for r in results {
                match r {
                    Ok(sent) => {
                        done.sent += 1;
                        done.acked += usize::from(sent.outcome == Outcome::Ack);
                    }
                    // The session ended meanwhile, or its NAS is gone: nothing to do.
                    Err(
                        SendError::NoSession(_) | SendError::UnknownNas(_) | SendError::NoAddress,
                    ) => {}
                    Err(e) => tracing::warn!(error = %e, "voucher session disconnect failed"),
                }
            }
        }
        Ok::<_, anyhow::Error>(done)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotspot_shared::radius::crypto::{sign_response, verify_request};
    use hotspot_shared::radius::vendor;

    fn session() -> Session {
        Session {
            username: "DEM2VW3HKA".into(),
            acct_session_id: "81a00004".into(),
            framed_ip: Some("10.5.50.7".parse().unwrap()),
            calling_station_id: Some("AA:BB:CC:00:11:22".into()),
            nas_ip: Some("127.0.0.1".parse().unwrap()),
        }
    }

    #[test]
    fn vouchers_end_on_time_or_shared_data() {
        // 60 minutes from first use at 1,000.
        assert_eq!(voucher_verdict(Some(1000), Some(60), None, 0, 4599), None);
        assert_eq!(
            voucher_verdict(Some(1000), Some(60), None, 0, 4600),
            Some("expired")
        );
        // 10 MB among all its devices.
        let mb = 1_048_576;
        assert_eq!(
            voucher_verdict(Some(1000), None, Some(10), 10 * mb - 1, 9e9 as i64),
            None
        );
        assert_eq!(
            voucher_verdict(Some(1000), None, Some(10), 10 * mb, 2000),
            Some("quota")
        );
        // Unlimited, or never used: nothing to end.
        assert_eq!(voucher_verdict(None, None, None, u64::MAX, 0), None);
        assert_eq!(voucher_verdict(None, Some(60), None, 0, 5000), None);
    }

    #[test]
    fn a_disconnect_names_the_session_as_mikrotik_needs_it() {
        let p = request(
            Kind::Disconnect,
            &session(),
            &Changes::default(),
            Dialect::Mikrotik,
        );
        assert_eq!(p.code, Code::DisconnectRequest);
        assert_eq!(p.get_text(attr::USER_NAME).as_deref(), Some("DEM2VW3HKA"));
        assert_eq!(
            p.get_ipv4(attr::FRAMED_IP_ADDRESS),
            Some("10.5.50.7".parse().unwrap())
        );
        assert_eq!(
            p.get_text(attr::ACCT_SESSION_ID).as_deref(),
            Some("81a00004")
        );
        assert!(p.get_vendor(vendor::MIKROTIK, 8).is_none());
    }

    #[test]
    fn a_coa_carries_the_new_limits_in_the_dialect() {
        let changes = Changes {
            up_kbps: Some(512),
            down_kbps: Some(2048),
            session_timeout: Some(1800),
            total_bytes: None,
        };
        let m = request(Kind::Coa, &session(), &changes, Dialect::Mikrotik);
        assert_eq!(m.code, Code::CoaRequest);
        assert_eq!(m.get_vendor(vendor::MIKROTIK, 8), Some(&b"512k/2048k"[..]));
        assert_eq!(m.get_u32(attr::SESSION_TIMEOUT), Some(1800));
        let c = request(Kind::Coa, &session(), &changes, Dialect::Chilli);
        assert_eq!(
            c.get_vendor(vendor::CHILLISPOT, 5),
            Some(&2048u32.to_be_bytes()[..])
        );
    }

    /// A DAS that drops the first `silent` requests, then answers with `code`; it checks every
    /// request it gets and counts them.
    async fn das(
        secret: &'static [u8],
        silent: usize,
        code: Option<Code>,
    ) -> (SocketAddr, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 4096];
            while let Ok(Ok((n, from))) =
                tokio::time::timeout(Duration::from_millis(400), socket.recv_from(&mut buf)).await
            {
                let raw = buf[..n].to_vec();
                assert_eq!(verify_request(&raw, secret), Ok(true));
                seen.push(raw.clone());
                if seen.len() <= silent {
                    continue;
                }
                let Some(code) = code else { continue };
                let req = Packet::decode(&raw).unwrap();
                let mut reply = Packet::new(code, req.identifier, [0; 16]);
                if code == Code::DisconnectNak {
                    reply.push_u32(attr::ERROR_CAUSE, 503);
                }
                let bytes =
                    sign_response(&reply, req.code, &req.authenticator, secret, true).unwrap();
                // A stray answer with another identifier first: it must be ignored.
                let mut stray = bytes.clone();
                stray[1] = stray[1].wrapping_add(1);
                socket.send_to(&stray, from).await.unwrap();
                socket.send_to(&bytes, from).await.unwrap();
            }
            seen
        });
        (addr, task)
    }

    const FAST: [Duration; 3] = [
        Duration::from_millis(50),
        Duration::from_millis(50),
        Duration::from_millis(50),
    ];

    fn packet() -> Packet {
        request(
            Kind::Disconnect,
            &session(),
            &Changes::default(),
            Dialect::Mikrotik,
        )
    }

    #[tokio::test]
    async fn ack_after_a_lost_request_is_retransmitted_unchanged() {
        let (addr, das) = das(b"s3cret-s3cret-16", 1, Some(Code::DisconnectAck)).await;
        let (outcome, sent) = exchange(addr, b"s3cret-s3cret-16", packet(), &FAST)
            .await
            .unwrap();
        assert_eq!((outcome, sent), (Outcome::Ack, 2));
        let seen = das.await.unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], seen[1], "a retransmission is the same bytes");
    }

    #[tokio::test]
    async fn nak_carries_its_error_cause() {
        let (addr, das) = das(b"s3cret-s3cret-16", 0, Some(Code::DisconnectNak)).await;
        let (outcome, _) = exchange(addr, b"s3cret-s3cret-16", packet(), &FAST)
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Nak(Some(503)));
        das.await.unwrap();
    }

    #[tokio::test]
    async fn silence_and_a_wrong_secret_are_timeouts() {
        let (addr, das) = das(b"s3cret-s3cret-16", usize::MAX, None).await;
        let (outcome, sent) = exchange(addr, b"s3cret-s3cret-16", packet(), &FAST)
            .await
            .unwrap();
        assert_eq!((outcome, sent), (Outcome::Timeout, 3));
        assert_eq!(das.await.unwrap().len(), 3);

        // The NAS answers, but signed with another secret: not an answer.
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let liar = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            for _ in 0..3 {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                let req = Packet::decode(&buf[..n]).unwrap();
                let reply = Packet::new(Code::DisconnectAck, req.identifier, [0; 16]);
                let bytes =
                    sign_response(&reply, req.code, &req.authenticator, b"other", true).unwrap();
                socket.send_to(&bytes, from).await.unwrap();
            }
        });
        let (outcome, _) = exchange(addr, b"s3cret-s3cret-16", packet(), &FAST)
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Timeout);
        liar.await.unwrap();
    }
}
