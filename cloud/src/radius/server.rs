//! The UDP listeners: receive, find the NAS, check, answer once.
//!
//! Per datagram: the source address must be a registered NAS (else silently dropped); the bytes
//! must decode; the authenticators must verify; Message-Authenticator must be present where the
//! NAS's BlastRADIUS settings require it. A retransmission (same source, identifier and request
//! authenticator within [`REPLY_CACHE_FOR`]) gets the first answer's bytes again and touches
//! nothing; one that arrives while the first is still being answered is dropped. At most
//! [`IN_FLIGHT`] requests are worked on at once: past that, requests are dropped and the NAS's
//! retransmission tries again. Nothing a NAS sends can panic the server: every length is checked
//! by the codec, and what is dropped is logged at a bounded rate.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotspot_shared::radius::crypto::{sign_response, verify_request};
use hotspot_shared::radius::{Code, MAX_PACKET, Packet, attr};
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::auth::{self, PostAuth};
use super::clients::{Clients, Nas};
use super::{Radius, acct};

/// How long an answer is kept for retransmissions (FreeRADIUS's cleanup_delay is 5 s).
pub const REPLY_CACHE_FOR: Duration = Duration::from_secs(10);
/// Requests worked on at once, across listeners.
pub const IN_FLIGHT: usize = 1024;
/// Access-Requests worked on the database at once by default; the rest wait their turn in
/// arrival order. A few at a time keep PostgreSQL's backends from sharing the CPU many ways,
/// which made a request's time a matter of luck (a long tail) rather than of its place in the
/// queue: at 64 in flight on two cores, p99 went from about 27 ms (up to the pool's 16 at once)
/// to about 13 ms.
pub const AUTH_AT_ONCE: usize = 8;
/// Most answers kept for retransmissions. Past it, new requests are still answered but not
/// remembered (a retransmission is then worked out again: accounting writes are idempotent).
pub const REPLY_CACHE_MAX: usize = 200_000;

pub(crate) type Key = (SocketAddr, u8, [u8; 16]);
/// When an entry was made, and the answer once there is one.
type Entry = (Instant, Option<Arc<[u8]>>);

/// Answers already sent (or being worked out), for retransmissions.
#[derive(Debug)]
pub struct ReplyCache {
    /// The entries, and when expired ones were last removed.
    entries: Mutex<(HashMap<Key, Entry>, Instant)>,
}

impl Default for ReplyCache {
    fn default() -> Self {
        ReplyCache {
            entries: Mutex::new((HashMap::new(), Instant::now())),
        }
    }
}

/// What the cache says of a request.
enum Seen {
    New,
    Answered(Arc<[u8]>),
    InProgress,
}

impl ReplyCache {
    fn check(&self, key: Key, now: Instant) -> Seen {
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (map, last_purge) = &mut *guard;
        if now.duration_since(*last_purge) >= Duration::from_secs(1) {
            map.retain(|_, (at, _)| now.duration_since(*at) < REPLY_CACHE_FOR);
            *last_purge = now;
        }
        match map.get(&key) {
            Some((at, Some(bytes))) if now.duration_since(*at) < REPLY_CACHE_FOR => {
                Seen::Answered(bytes.clone())
            }
            Some((at, None)) if now.duration_since(*at) < REPLY_CACHE_FOR => Seen::InProgress,
            _ => {
                if map.len() < REPLY_CACHE_MAX {
                    map.insert(key, (now, None));
                }
                Seen::New
            }
        }
    }

    pub(crate) fn complete(&self, key: Key, bytes: Option<Arc<[u8]>>) {
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match bytes {
            Some(b) => {
                if let Some(entry) = guard.0.get_mut(&key) {
                    *entry = (Instant::now(), Some(b));
                }
            }
            None => {
                guard.0.remove(&key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// At most `per_minute` log lines of one kind a minute; the rest are counted and reported.
#[derive(Debug)]
pub struct LogLimit {
    state: Mutex<(Instant, u32, u64)>,
    per_minute: u32,
}

impl LogLimit {
    pub fn new(per_minute: u32) -> Self {
        LogLimit {
            state: Mutex::new((Instant::now(), 0, 0)),
            per_minute,
        }
    }

    /// `Some(suppressed since the last line)` when a line may be written now.
    pub fn allow(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.duration_since(s.0) >= Duration::from_secs(60) {
            *s = (now, 0, s.2);
        }
        if s.1 < self.per_minute {
            s.1 += 1;
            let dropped = s.2;
            s.2 = 0;
            Some(dropped)
        } else {
            s.2 += 1;
            None
        }
    }
}

/// Which port a socket serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Auth,
    Acct,
    /// RadSec (RFC 6614): every request type on one TLS connection.
    Tls,
}

/// Shared by every listener of one server.
pub struct Shared {
    pub radius: Radius,
    pub clients: Arc<Clients>,
    pub cache: ReplyCache,
    pub in_flight: Arc<Semaphore>,
    /// Access-Requests worked on the database at once (`Settings::auth_at_once`); the others
    /// wait in arrival order.
    pub auth_slots: Semaphore,
    pub postauth: mpsc::Sender<PostAuth>,
    /// One queue per accounting writer ([`acct::writer_for`] picks).
    pub accounting: Vec<mpsc::Sender<acct::Job>>,
    pub log_unknown: LogLimit,
    pub log_bad: LogLimit,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("clients", &self.clients.len())
            .field("cached", &self.cache.len())
            .finish()
    }
}

/// Serves `socket` until `shutdown` turns true.
pub async fn serve_udp(
    socket: Arc<UdpSocket>,
    port: Port,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_PACKET + 1];
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors from earlier sends surface here on Linux; keep serving.
                    tracing::debug!(error = %e, "RADIUS receive error");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        if n > MAX_PACKET {
            drop_bad(&shared, from, "datagram over 4096 bytes");
            continue;
        }
        let raw = buf[..n].to_vec();
        match admit(&shared, port, raw, from) {
            None => {}
            Some(Admit::Resend(bytes)) => {
                let _ = socket.send_to(&bytes, from).await;
            }
            Some(Admit::Work(work)) => {
                let socket = socket.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let (key, bytes, permit, nas) = work;
                    let answer = answer(&shared, port, &bytes, from, &nas, &nas.secret).await;
                    drop(permit);
                    let answer = answer.map(Arc::<[u8]>::from);
                    if let Some(a) = &answer
                        && let Err(e) = socket.send_to(a, from).await
                    {
                        tracing::debug!(error = %e, %from, "RADIUS send failed");
                    }
                    shared.cache.complete(key, answer);
                });
            }
        }
    }
}

fn drop_bad(shared: &Shared, from: SocketAddr, why: &str) {
    if let Some(suppressed) = shared.log_bad.allow() {
        tracing::warn!(%from, why, suppressed, "RADIUS packet dropped");
    }
}

pub(crate) type Work = (Key, Vec<u8>, tokio::sync::OwnedSemaphorePermit, Arc<Nas>);

/// What to do with a datagram that passed the checks.
pub(crate) enum Admit {
    /// A retransmission of a request already answered: these bytes again.
    Resend(Arc<[u8]>),
    Work(Work),
}

/// The checks done before any work: `None` drops the datagram (or resends a cached answer).
fn admit(shared: &Arc<Shared>, port: Port, raw: Vec<u8>, from: SocketAddr) -> Option<Admit> {
    let Some(nas) = shared.clients.get(from.ip()) else {
        if let Some(suppressed) = shared.log_unknown.allow() {
            tracing::info!(%from, suppressed, "RADIUS packet from an unknown client dropped");
        }
        return None;
    };
    let secret = nas.secret.clone();
    admit_from(shared, port, raw, from, nas, &secret)
}

/// The checks of [`admit`] for a request whose NAS is known (by address, or for RadSec by its
/// certificate), verified with `secret`.
pub(crate) fn admit_from(
    shared: &Arc<Shared>,
    port: Port,
    raw: Vec<u8>,
    from: SocketAddr,
    nas: Arc<Nas>,
    secret: &[u8],
) -> Option<Admit> {
    let packet = match Packet::decode(&raw) {
        Ok(p) => p,
        Err(e) => {
            drop_bad(shared, from, &e.to_string());
            return None;
        }
    };
    let allowed = match port {
        Port::Auth => matches!(packet.code, Code::AccessRequest | Code::StatusServer),
        Port::Acct => matches!(packet.code, Code::AccountingRequest | Code::StatusServer),
        Port::Tls => matches!(
            packet.code,
            Code::AccessRequest | Code::AccountingRequest | Code::StatusServer
        ),
    };
    if !allowed {
        drop_bad(shared, from, "packet type not served on this port");
        return None;
    }
    let has_ma = match verify_request(&raw, secret) {
        Ok(has) => has,
        Err(e) => {
            drop_bad(shared, from, &e.to_string());
            return None;
        }
    };
    // Over TLS the transport protects the packet (RFC 6614); Status-Server still carries one.
    let checked = port != Port::Tls || packet.code == Code::StatusServer;
    if checked && !blast_radius_ok(&nas, &packet, has_ma) {
        drop_bad(shared, from, "Message-Authenticator required but missing");
        return None;
    }
    let key = (from, packet.identifier, packet.authenticator);
    match shared.cache.check(key, Instant::now()) {
        Seen::Answered(bytes) => return Some(Admit::Resend(bytes)),
        Seen::InProgress => return None,
        Seen::New => {}
    }
    match shared.in_flight.clone().try_acquire_owned() {
        Ok(permit) => Some(Admit::Work((key, raw, permit, nas))),
        Err(_) => {
            shared.cache.complete(key, None);
            drop_bad(shared, from, "server busy");
            None
        }
    }
}

/// BlastRADIUS rules (draft-ietf-radext-deprecating-radius, FreeRADIUS 3.2.5+).
pub fn blast_radius_ok(nas: &Nas, packet: &Packet, has_ma: bool) -> bool {
    match packet.code {
        // RFC 5997: Status-Server always carries one.
        Code::StatusServer => has_ma,
        Code::AccessRequest => {
            if has_ma {
                nas.seen_ma.store(true, Ordering::Relaxed);
                return true;
            }
            if nas.requires_ma() {
                return false;
            }
            !(packet.has(attr::PROXY_STATE) && nas.limits_proxy_state())
        }
        _ => true,
    }
}

/// Works out the answer to a checked request: `None` sends nothing (the NAS retries).
pub(crate) async fn answer(
    shared: &Shared,
    port: Port,
    raw: &[u8],
    from: SocketAddr,
    nas: &Nas,
    secret: &[u8],
) -> Option<Vec<u8>> {
    let request = Packet::decode(raw).ok()?;
    let mut reply = match request.code {
        Code::StatusServer => Packet::new(
            if port != Port::Acct {
                Code::AccessAccept
            } else {
                Code::AccountingResponse
            },
            request.identifier,
            [0; 16],
        ),
        Code::AccessRequest => {
            let slot = shared.auth_slots.acquire().await.ok()?;
            let now = chrono::Utc::now();
            let decision = match auth::authenticate(
                &shared.radius.pool,
                nas,
                secret,
                &request,
                &shared.radius.settings.defaults,
                now.timestamp(),
            )
            .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, nas = %nas.shortname, "authentication failed for want of the database; no answer sent");
                    return None;
                }
            };
            drop(slot);
            let _ = shared.postauth.try_send(PostAuth {
                tenant: nas.tenant,
                username: decision.username.clone(),
                reply: if decision.accept {
                    "Access-Accept"
                } else {
                    "Access-Reject"
                },
                nas: nas.address,
                class: decision.class.clone(),
                at: now,
            });
            decision.reply
        }
        Code::AccountingRequest => {
            let now = chrono::Utc::now().timestamp();
            // A NAS may name another address (NAS-IP-Address behind NAT), but never one that
            // is another tenant's NAS: its sessions are not this NAS's to write.
            let named = acct::nas_ip(&request, from.ip());
            if named != from.ip()
                && shared
                    .clients
                    .get(named)
                    .is_some_and(|other| other.tenant != nas.tenant)
            {
                drop_bad(shared, from, "NAS-IP-Address of another tenant's NAS");
                return None;
            }
            if let Some(record) = acct::parse(&request, nas.tenant, from.ip(), now) {
                let (done, written) = oneshot::channel();
                let queue = &shared.accounting[acct::writer_for(&record, shared.accounting.len())];
                queue.send((record, done)).await.ok()?;
                if !written.await.unwrap_or(false) {
                    return None;
                }
            }
            Packet::new(Code::AccountingResponse, request.identifier, [0; 16])
        }
        _ => return None,
    };
    reply.identifier = request.identifier;
    // Proxy-State is echoed, in order (RFC 2865 §5.33).
    for ps in request.get_all(attr::PROXY_STATE) {
        reply.push(attr::PROXY_STATE, ps);
    }
    let with_ma = reply.code.is_access_reply() || request.code == Code::StatusServer;
    match sign_response(
        &reply,
        request.code,
        &request.authenticator,
        secret,
        with_ma,
    ) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::error!(error = %e, "RADIUS reply could not be encoded");
            None
        }
    }
}
