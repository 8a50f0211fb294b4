//! The RADIUS client over UDP: one request, its retransmissions and the failover.
//!
//! A request goes to the server that answered last. It is sent again, byte for byte (same
//! identifier, same authenticator, RFC 5080 §2.2.1), each time `timeout` passes without a valid
//! reply, `retries` times; then the next server gets a fresh packet. The server that answers is
//! remembered for the next request. Each request has its own socket (an ephemeral port), so
//! identifiers never collide between requests in flight, and a semaphore caps how many are in
//! flight: no request spawns a task, and a caller waits at most
//! `servers × (retries + 1) × timeout`.
//!
//! A reply counts only when it comes from the server's address, carries the request's
//! identifier, has a code that answers the request, and passes the response authenticator and
//! Message-Authenticator checks under the secret; Access replies must carry a
//! Message-Authenticator (BlastRADIUS, CVE-2024-3596). Anything else is ignored, never accepted:
//! the client keeps waiting for a good reply until the attempt's time is up.
//!
//! Every Access-Request carries a Message-Authenticator; it is not configurable.
//!
//! Over RadSec (RFC 6614, [`RadiusClient::with_tls`]) the same packets go over TLS on TCP, with
//! the secret `radsec`. A connection carries one request at a time and is kept for the next
//! (a few idle ones per server); a request that times out closes its connection, and the next
//! copy goes, byte for byte, over a new one (RFC 6613 §2.6.1: no retransmission on a live
//! stream). A server whose certificate does not verify, or that refuses the connection, counts
//! as silent at once.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::settings::RadSec;

use hotspot_shared::radius::crypto::{hide_password, sign_request, verify_response};
use hotspot_shared::radius::{Code, EncodeError, HEADER, MAX_PACKET, Packet, attr};

/// Idle RadSec connections kept per client, for the next requests.
const IDLE_TLS: usize = 4;

/// The TLS side of a RadSec client.
struct Tls {
    settings: RadSec,
    connector: TlsConnector,
    /// Connections that answered their last request, with the server they go to.
    idle: std::sync::Mutex<Vec<(SocketAddr, TlsStream<TcpStream>)>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Requests in flight at once, per client (the portal's connection cap bounds the waiters).
pub const MAX_IN_FLIGHT: usize = 32;

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum RadiusError {
    #[error("no RADIUS server answered ({tried} tried)")]
    NoAnswer { tried: usize },
    #[error("cannot encode the RADIUS request: {0}")]
    Encode(#[from] EncodeError),
    #[error("RADIUS socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// A client for one kind of server (authentication or accounting) and its failover.
#[derive(Debug)]
pub struct RadiusClient {
    /// In order of preference; the second is tried when the first stays silent.
    servers: Vec<SocketAddr>,
    secret: Vec<u8>,
    /// Wait per transmission.
    timeout: Duration,
    /// Transmissions per server after the first.
    retries: u32,
    /// Index of the server that answered last: the next request starts there.
    current: AtomicUsize,
    /// Caps requests in flight (sockets and buffers).
    in_flight: Semaphore,
    /// Per server: false once it left a request unanswered, true again once it answers a
    /// request or a Status-Server probe.
    alive: Vec<AtomicBool>,
    /// Whether Status-Server probes run ([`Self::probe_dead`]): only then are servers marked
    /// dead tried last, since only then does a revived one get noticed.
    probing: AtomicBool,
    /// RadSec: the servers are reached over TLS.
    tls: Option<Tls>,
}

/// The random part of a request: its authenticator (RFC 2865 §3: unpredictable and unique).
/// UUID v4 generation draws from the operating system's generator (122 random bits).
fn random_authenticator() -> [u8; 16] {
    uuid::Uuid::new_v4().into_bytes()
}

fn servers_alive(n: usize) -> Vec<AtomicBool> {
    (0..n).map(|_| AtomicBool::new(true)).collect()
}

fn random_identifier() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}

/// Whether `reply` answers a `request` packet.
fn answers(request: Code, reply: Code) -> bool {
    match request {
        Code::AccessRequest => matches!(
            reply,
            Code::AccessAccept | Code::AccessReject | Code::AccessChallenge
        ),
        Code::AccountingRequest => reply == Code::AccountingResponse,
        Code::StatusServer => matches!(reply, Code::AccessAccept | Code::AccountingResponse),
        _ => false,
    }
}

impl RadiusClient {
    /// A client for `servers` (at least one).
    pub fn new(servers: Vec<SocketAddr>, secret: &[u8], timeout: Duration, retries: u32) -> Self {
        let n_servers = servers.len();
        RadiusClient {
            servers,
            secret: secret.to_vec(),
            timeout,
            retries,
            current: AtomicUsize::new(0),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            alive: servers_alive(n_servers),
            probing: AtomicBool::new(false),
            tls: None,
        }
    }

    /// The same client over RadSec (TLS): `secret` should then be `radsec` (RFC 6614 §2.3).
    pub fn with_tls(mut self, settings: RadSec) -> Self {
        self.tls = Some(Tls {
            connector: TlsConnector::from(std::sync::Arc::clone(&settings.tls)),
            settings,
            idle: std::sync::Mutex::new(Vec::new()),
        });
        self
    }

    /// Whether server `i` (in configured order) answered last time it was asked.
    pub fn is_alive(&self, i: usize) -> bool {
        self.alive.get(i).is_some_and(|a| a.load(Ordering::Relaxed))
    }

    /// The order in which a request tries the servers: from the one that answered last, and
    /// with Status-Server probing on, the servers known dead after the others.
    fn order(&self) -> Vec<usize> {
        let n = self.servers.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut order: Vec<usize> = (0..n).map(|k| (first + k) % n).collect();
        if self.probing.load(Ordering::Relaxed) {
            // Stable: among the living and among the dead, the rotation above holds.
            order.sort_by_key(|&i| !self.is_alive(i));
        }
        order
    }

    /// Sends a Status-Server (RFC 5997) to each server marked dead, once, with one timeout to
    /// answer (no retransmission: a probe repeats at the next interval). A server that answers
    /// is alive again; when it comes before the current one in the configured order, requests
    /// go back to it (the failback to the preferred server). Returns how many came back.
    ///
    /// `probe` is the Status-Server to send (NAS-Identifier and the like); the identifier,
    /// authenticator and Message-Authenticator are set here.
    pub async fn probe_dead(&self, probe: &Packet) -> usize {
        self.probing.store(true, Ordering::Relaxed);
        let mut revived = 0;
        for (i, &server) in self.servers.iter().enumerate() {
            if self.is_alive(i) {
                continue;
            }
            let answered = {
                let _permit = self.in_flight.acquire().await.ok();
                matches!(self.exchange(server, probe, None, 1).await, Ok(Some(_)))
            };
            if answered {
                tracing::info!(%server, "RADIUS server answers Status-Server again");
                self.alive[i].store(true, Ordering::Relaxed);
                let current = self.current.load(Ordering::Relaxed) % self.servers.len();
                if i < current || !self.is_alive(current) {
                    self.current.store(i, Ordering::Relaxed);
                }
                revived += 1;
            }
        }
        revived
    }

    /// The server the next request goes to first.
    pub fn current_server(&self) -> Option<SocketAddr> {
        self.servers
            .get(self.current.load(Ordering::Relaxed) % self.servers.len().max(1))
            .copied()
    }

    /// Sends `request` (its identifier and authenticator are set here) and returns the first
    /// valid reply. For an Access-Request, `password` is hidden into User-Password under each
    /// attempt's authenticator; Message-Authenticator is always added.
    pub async fn send(
        &self,
        request: &Packet,
        password: Option<&[u8]>,
    ) -> Result<Packet, RadiusError> {
        let _permit = self.in_flight.acquire().await.ok();
        let n = self.servers.len();
        let first = self.current.load(Ordering::Relaxed) % n.max(1);
        let mut last_err = None;
        for i in self.order() {
            let server = self.servers[i];
            match self
                .exchange(server, request, password, self.retries + 1)
                .await
            {
                Ok(Some(reply)) => {
                    if i != first {
                        tracing::warn!(%server, "RADIUS failover: this server answered");
                    }
                    self.alive[i].store(true, Ordering::Relaxed);
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(reply);
                }
                Ok(None) => {
                    tracing::warn!(%server, "RADIUS server did not answer");
                    self.alive[i].store(false, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(%server, error = %e, "RADIUS request failed");
                    last_err = Some(e);
                }
            }
        }
        match last_err {
            Some(RadiusError::Encode(e)) => Err(RadiusError::Encode(e)),
            _ => Err(RadiusError::NoAnswer { tried: n }),
        }
    }

    /// One server: the packet signed once, sent up to `sends` times. `None`: silence.
    async fn exchange(
        &self,
        server: SocketAddr,
        request: &Packet,
        password: Option<&[u8]>,
        sends: u32,
    ) -> Result<Option<Packet>, RadiusError> {
        let mut p = request.clone();
        p.identifier = random_identifier();
        if !p.code.has_hashed_request_authenticator() {
            p.authenticator = random_authenticator();
        }
        if let Some(pw) = password {
            p.remove(attr::USER_PASSWORD);
            p.push(
                attr::USER_PASSWORD,
                hide_password(pw, &self.secret, &p.authenticator),
            );
        }
        // Access-Request and Status-Server always get one; Accounting-Requests too (FreeRADIUS
        // accepts it and it costs 18 bytes).
        let bytes = sign_request(&p, &self.secret, true)?;
        let mut sent_auth = [0u8; 16];
        sent_auth.copy_from_slice(&bytes[4..20]);
        if let Some(tls) = &self.tls {
            return Ok(self
                .exchange_tls(tls, server, &bytes, &p, &sent_auth, sends)
                .await);
        }
        let local: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(server).await?;
        let mut buf = vec![0u8; MAX_PACKET];
        for _ in 0..sends {
            socket.send(&bytes).await?;
            let deadline = tokio::time::Instant::now() + self.timeout;
            // Bounded: each turn either returns or consumes one datagram before the deadline.
            loop {
                let got = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                    Err(_) => break,
                    // ICMP port unreachable surfaces as an error on a connected socket: the
                    // server is not there; wait out the attempt as for silence.
                    Ok(Err(_)) => {
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    Ok(Ok(n)) => n,
                };
                if let Some(reply) = self.check(&buf[..got], p.code, p.identifier, &sent_auth) {
                    return Ok(Some(reply));
                }
            }
        }
        Ok(None)
    }

    /// [`Self::exchange`] over RadSec: `bytes` sent up to `sends` times, each over a connection
    /// of its own once the previous one timed out. `None`: no good reply.
    async fn exchange_tls(
        &self,
        tls: &Tls,
        server: SocketAddr,
        bytes: &[u8],
        p: &Packet,
        sent_auth: &[u8; 16],
        sends: u32,
    ) -> Option<Packet> {
        for _ in 0..sends {
            let deadline = tokio::time::Instant::now() + self.timeout;
            // A kept connection the server has closed fails at once: then one new connection.
            let mut pooled = true;
            loop {
                let kept = if pooled {
                    let mut idle = tls.idle.lock().unwrap_or_else(|e| e.into_inner());
                    idle.iter()
                        .position(|(s, _)| *s == server)
                        .map(|i| idle.swap_remove(i).1)
                } else {
                    None
                };
                let fresh = kept.is_none();
                let mut conn = match kept {
                    Some(c) => c,
                    None => match tokio::time::timeout_at(deadline, connect(tls, server)).await {
                        Ok(Ok(c)) => c,
                        Ok(Err(e)) => {
                            // Refused, or a certificate that does not verify: waiting will
                            // not change it.
                            tracing::warn!(%server, error = %e, "RadSec connection failed");
                            return None;
                        }
                        Err(_) => break,
                    },
                };
                match tokio::time::timeout_at(
                    deadline,
                    self.read_reply(&mut conn, bytes, p, sent_auth),
                )
                .await
                {
                    Ok(Ok(reply)) => {
                        let mut idle = tls.idle.lock().unwrap_or_else(|e| e.into_inner());
                        if idle.len() < IDLE_TLS {
                            idle.push((server, conn));
                        }
                        return Some(reply);
                    }
                    Ok(Err(e)) if !fresh => {
                        tracing::debug!(%server, error = %e, "kept RadSec connection lost");
                        pooled = false;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(%server, error = %e, "RadSec connection lost");
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    // Silence: this connection is closed (dropped), the next copy goes over
                    // a new one.
                    Err(_) => break,
                }
            }
        }
        None
    }

    /// Writes `bytes` on `conn` and reads packets until one is a good reply to it.
    async fn read_reply(
        &self,
        conn: &mut TlsStream<TcpStream>,
        bytes: &[u8],
        p: &Packet,
        sent_auth: &[u8; 16],
    ) -> std::io::Result<Packet> {
        conn.write_all(bytes).await?;
        conn.flush().await?;
        let mut buf = vec![0u8; MAX_PACKET];
        // Bounded by the caller's deadline: each turn reads one packet.
        loop {
            conn.read_exact(&mut buf[..4]).await?;
            let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if !(HEADER..=MAX_PACKET).contains(&len) {
                // A stream cannot be resynchronised after a bad length.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "RADIUS length out of range",
                ));
            }
            conn.read_exact(&mut buf[4..len]).await?;
            if let Some(reply) = self.check(&buf[..len], p.code, p.identifier, sent_auth) {
                return Ok(reply);
            }
        }
    }

    /// The reply when it is one we accept; `None` (and a log line) otherwise.
    fn check(
        &self,
        raw: &[u8],
        request: Code,
        identifier: u8,
        authenticator: &[u8; 16],
    ) -> Option<Packet> {
        let reply = match Packet::decode(raw) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "malformed RADIUS reply ignored");
                return None;
            }
        };
        if reply.identifier != identifier || !answers(request, reply.code) {
            tracing::warn!(
                code = ?reply.code,
                identifier = reply.identifier,
                "RADIUS reply that does not answer our request ignored"
            );
            return None;
        }
        match verify_response(raw, request, authenticator, &self.secret) {
            Ok(has_ma) if has_ma || !reply.code.is_access_reply() => Some(reply),
            Ok(_) => {
                tracing::warn!(
                    code = ?reply.code,
                    "RADIUS reply without Message-Authenticator ignored"
                );
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "RADIUS reply failing its checks ignored (wrong secret?)");
                None
            }
        }
    }
}

/// A new TLS connection to `server`, its certificate verified against the RadSec CA.
async fn connect(tls: &Tls, server: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(server).await?;
    let _ = tcp.set_nodelay(true);
    tls.connector
        .connect(tls.settings.server_name(server), tcp)
        .await
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    use hotspot_shared::radius::crypto::{sign_response, unhide_password, verify_request};

    use super::*;

    /// How the test server answers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        /// Access-Accept for password "right", Reject otherwise; Accounting-Response.
        Answer,
        /// Says nothing.
        Silent,
        /// Answers the third copy of a request only (after two lost replies).
        Third,
        /// Answers first with a reply under the wrong identifier, then properly.
        WrongIdFirst,
        /// Answers without Message-Authenticator.
        NoMessageAuthenticator,
    }

    /// A RADIUS server on 127.0.0.1 built with the shared codec, answering as `mode` says under
    /// its own `secret`; counts the datagrams it received.
    pub struct TestServer {
        pub addr: SocketAddr,
        pub received: Arc<AtomicU32>,
        /// While true the server says nothing (it still counts what it receives).
        pub mute: Arc<std::sync::atomic::AtomicBool>,
        pub task: tokio::task::JoinHandle<()>,
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    pub async fn server(secret: &'static [u8], mode: Mode) -> TestServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let received = Arc::new(AtomicU32::new(0));
        let count = Arc::clone(&received);
        let mute = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let muted = Arc::clone(&mute);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_PACKET];
            let mut first_copy: Option<Vec<u8>> = None;
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let seen = count.fetch_add(1, Ordering::SeqCst) + 1;
                let raw = &buf[..n];
                // Retransmissions are byte-identical.
                match &first_copy {
                    Some(f) if mode == Mode::Third => assert_eq!(f, raw),
                    _ => first_copy = Some(raw.to_vec()),
                }
                let Ok(req) = Packet::decode(raw) else {
                    continue;
                };
                // The client always signs with Message-Authenticator.
                if verify_request(raw, secret) != Ok(true) {
                    continue;
                }
                if mode == Mode::Silent
                    || (mode == Mode::Third && seen < 3)
                    || muted.load(Ordering::SeqCst)
                {
                    continue;
                }
                let mut reply = match req.code {
                    Code::AccessRequest => {
                        let pw = req
                            .get(attr::USER_PASSWORD)
                            .and_then(|h| unhide_password(h, secret, &req.authenticator));
                        if pw.as_deref() == Some(b"right".as_slice()) {
                            let mut r = Packet::new(Code::AccessAccept, req.identifier, [0; 16]);
                            r.push_u32(attr::SESSION_TIMEOUT, 3600);
                            r
                        } else {
                            let mut r = Packet::new(Code::AccessReject, req.identifier, [0; 16]);
                            r.push(attr::REPLY_MESSAGE, "Wrong password");
                            r
                        }
                    }
                    _ => Packet::new(Code::AccountingResponse, req.identifier, [0; 16]),
                };
                let with_ma = mode != Mode::NoMessageAuthenticator;
                if mode == Mode::WrongIdFirst {
                    let mut wrong = reply.clone();
                    wrong.identifier = req.identifier.wrapping_add(1);
                    let bytes =
                        sign_response(&wrong, req.code, &req.authenticator, secret, true).unwrap();
                    socket.send_to(&bytes, from).await.unwrap();
                }
                reply.identifier = req.identifier;
                let bytes =
                    sign_response(&reply, req.code, &req.authenticator, secret, with_ma).unwrap();
                socket.send_to(&bytes, from).await.unwrap();
            }
        });
        TestServer {
            addr,
            received,
            mute,
            task,
        }
    }

    const SECRET: &[u8] = b"0123456789abcdef";

    fn access_request() -> Packet {
        let mut p = Packet::new(Code::AccessRequest, 0, [0; 16]);
        p.push(attr::USER_NAME, "alice");
        p
    }

    fn client(servers: &[&TestServer], timeout_ms: u64, retries: u32) -> RadiusClient {
        RadiusClient::new(
            servers.iter().map(|s| s.addr).collect(),
            SECRET,
            Duration::from_millis(timeout_ms),
            retries,
        )
    }

    #[tokio::test]
    async fn accept_and_reject() {
        let s = server(SECRET, Mode::Answer).await;
        let c = client(&[&s], 1000, 0);
        let r = c.send(&access_request(), Some(b"right")).await.unwrap();
        assert_eq!(r.code, Code::AccessAccept);
        assert_eq!(r.get_u32(attr::SESSION_TIMEOUT), Some(3600));
        let r = c.send(&access_request(), Some(b"wrong")).await.unwrap();
        assert_eq!(r.code, Code::AccessReject);
        assert_eq!(
            r.get_text(attr::REPLY_MESSAGE).as_deref(),
            Some("Wrong password")
        );
        let mut acct = Packet::new(Code::AccountingRequest, 0, [0; 16]);
        acct.push_u32(attr::ACCT_STATUS_TYPE, 1);
        let r = c.send(&acct, None).await.unwrap();
        assert_eq!(r.code, Code::AccountingResponse);
        assert_eq!(s.received.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn silence_is_retried_with_the_same_bytes_then_given_up() {
        let s = server(SECRET, Mode::Third).await;
        let c = client(&[&s], 300, 2);
        let r = c.send(&access_request(), Some(b"right")).await.unwrap();
        assert_eq!(r.code, Code::AccessAccept);
        assert_eq!(s.received.load(Ordering::SeqCst), 3);

        let silent = server(SECRET, Mode::Silent).await;
        let c = client(&[&silent], 100, 2);
        let started = std::time::Instant::now();
        let err = c.send(&access_request(), Some(b"right")).await.unwrap_err();
        assert!(matches!(err, RadiusError::NoAnswer { tried: 1 }), "{err}");
        assert_eq!(silent.received.load(Ordering::SeqCst), 3);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_server_with_another_secret_is_never_believed() {
        let s = server(b"another-secret-16", Mode::Answer).await;
        let c = client(&[&s], 100, 1);
        // The server drops our requests (their Message-Authenticator fails under its secret).
        assert!(matches!(
            c.send(&access_request(), Some(b"right")).await,
            Err(RadiusError::NoAnswer { .. })
        ));
        // A reply signed under another secret is ignored: the client waits out its time.
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let forger = tokio::spawn(async move {
            let mut buf = [0u8; MAX_PACKET];
            for _ in 0..2 {
                let (n, from) = sock.recv_from(&mut buf).await.unwrap();
                let req = Packet::decode(&buf[..n]).unwrap();
                let r = Packet::new(Code::AccessAccept, req.identifier, [0; 16]);
                let bytes =
                    sign_response(&r, req.code, &req.authenticator, b"not-the-secret!!", true)
                        .unwrap();
                sock.send_to(&bytes, from).await.unwrap();
            }
        });
        let c = RadiusClient::new(vec![addr], SECRET, Duration::from_millis(100), 1);
        assert!(matches!(
            c.send(&access_request(), Some(b"right")).await,
            Err(RadiusError::NoAnswer { .. })
        ));
        forger.await.unwrap();
    }

    #[tokio::test]
    async fn replies_with_the_wrong_identifier_or_no_message_authenticator_are_ignored() {
        let s = server(SECRET, Mode::WrongIdFirst).await;
        let c = client(&[&s], 500, 0);
        let r = c.send(&access_request(), Some(b"right")).await.unwrap();
        assert_eq!(r.code, Code::AccessAccept);

        let s = server(SECRET, Mode::NoMessageAuthenticator).await;
        let c = client(&[&s], 300, 0);
        assert!(matches!(
            c.send(&access_request(), Some(b"right")).await,
            Err(RadiusError::NoAnswer { .. })
        ));
        // Accounting-Responses need none (RFC 2866 has no Message-Authenticator).
        let mut acct = Packet::new(Code::AccountingRequest, 0, [0; 16]);
        acct.push_u32(attr::ACCT_STATUS_TYPE, 1);
        assert_eq!(
            c.send(&acct, None).await.unwrap().code,
            Code::AccountingResponse
        );
    }

    #[tokio::test]
    async fn failover_to_the_second_server_is_remembered() {
        let silent = server(SECRET, Mode::Silent).await;
        let good = server(SECRET, Mode::Answer).await;
        let c = client(&[&silent, &good], 300, 1);
        assert_eq!(c.current_server(), Some(silent.addr));
        let r = c.send(&access_request(), Some(b"right")).await.unwrap();
        assert_eq!(r.code, Code::AccessAccept);
        assert_eq!(silent.received.load(Ordering::SeqCst), 2);
        assert_eq!(c.current_server(), Some(good.addr));
        // The next request goes straight to the server that answered.
        c.send(&access_request(), Some(b"right")).await.unwrap();
        assert_eq!(silent.received.load(Ordering::SeqCst), 2);
        assert_eq!(good.received.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_closed_port_counts_as_silence() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        drop(sock);
        let good = server(SECRET, Mode::Answer).await;
        let c = RadiusClient::new(vec![addr, good.addr], SECRET, Duration::from_millis(300), 0);
        let r = c.send(&access_request(), Some(b"right")).await.unwrap();
        assert_eq!(r.code, Code::AccessAccept);
    }

    #[tokio::test]
    async fn status_server_probes_bring_a_dead_server_back() {
        let primary = server(SECRET, Mode::Answer).await;
        let second = server(SECRET, Mode::Answer).await;
        let c = client(&[&primary, &second], 200, 0);
        let mut probe = Packet::new(Code::StatusServer, 0, [0; 16]);
        probe.push(attr::NAS_IDENTIFIER, "test-nas");
        // Nothing dead: nothing probed.
        assert_eq!(c.probe_dead(&probe).await, 0);
        assert_eq!(primary.received.load(Ordering::SeqCst), 0);

        primary.mute.store(true, Ordering::SeqCst);
        c.send(&access_request(), Some(b"right")).await.unwrap();
        assert!(!c.is_alive(0) && c.is_alive(1));
        assert_eq!(c.current_server(), Some(second.addr));
        // Still silent: the probe (one copy, no retransmission) finds it dead.
        assert_eq!(c.probe_dead(&probe).await, 0);
        assert_eq!(primary.received.load(Ordering::SeqCst), 2);
        assert!(!c.is_alive(0));

        primary.mute.store(false, Ordering::SeqCst);
        assert_eq!(c.probe_dead(&probe).await, 1);
        assert!(c.is_alive(0));
        // Back to the preferred server at once.
        assert_eq!(c.current_server(), Some(primary.addr));
        c.send(&access_request(), Some(b"right")).await.unwrap();
        assert_eq!(primary.received.load(Ordering::SeqCst), 4);
        assert_eq!(second.received.load(Ordering::SeqCst), 1);

        // A server known dead is tried after the living, wherever the rotation stands.
        second.mute.store(true, Ordering::SeqCst);
        primary.mute.store(true, Ordering::SeqCst);
        assert!(c.send(&access_request(), Some(b"right")).await.is_err());
        primary.mute.store(false, Ordering::SeqCst);
        assert_eq!(c.probe_dead(&probe).await, 1);
        let before = second.received.load(Ordering::SeqCst);
        c.send(&access_request(), Some(b"right")).await.unwrap();
        assert_eq!(second.received.load(Ordering::SeqCst), before);
    }

    /// RadSec: a TLS server (shared codec, secret "radsec") that leaves the first request of
    /// its first connection unanswered. The client's copy comes byte for byte over a new
    /// connection and is answered; the next request reuses that connection; a client trusting
    /// another CA sends nothing and fails at once.
    #[tokio::test]
    async fn radsec_retries_over_a_new_connection_and_keeps_it() {
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let _ = rustls::crypto::ring::default_provider().install_default();
        let new_ca = || {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let cert = params.self_signed(&key).unwrap();
            (rcgen::Issuer::new(params, key), cert.der().clone())
        };
        let (ca, ca_der) = new_ca();
        let issue = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
            (cert.der().clone(), key)
        };
        let (server_cert, server_key) = issue("127.0.0.1");
        let server_tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![server_cert], server_key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicU32::new(0));
        let copies: Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Arc::default();
        let (conns, seen) = (Arc::clone(&connections), Arc::clone(&copies));
        let server = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let n = conns.fetch_add(1, Ordering::SeqCst);
                let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; MAX_PACKET];
                    while tls.read_exact(&mut buf[..4]).await.is_ok() {
                        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                        tls.read_exact(&mut buf[4..len]).await.unwrap();
                        let raw = buf[..len].to_vec();
                        assert_eq!(verify_request(&raw, b"radsec"), Ok(true));
                        seen.lock().unwrap().push(raw.clone());
                        if n == 0 {
                            continue; // the first connection is silent
                        }
                        let req = Packet::decode(&raw).unwrap();
                        let reply = Packet::new(Code::AccessAccept, req.identifier, [0; 16]);
                        let bytes =
                            sign_response(&reply, req.code, &req.authenticator, b"radsec", true)
                                .unwrap();
                        tls.write_all(&bytes).await.unwrap();
                    }
                });
            }
        });
        let settings = |trusted: &rustls::pki_types::CertificateDer<'static>| {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(trusted.clone()).unwrap();
            let (cert, key) = issue("nas.example");
            RadSec {
                ca: "/ca.pem".into(),
                cert: "/cert.pem".into(),
                key: "/key.pem".into(),
                server_name: None,
                tls: Arc::new(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(roots)
                        .with_client_auth_cert(vec![cert], key)
                        .unwrap(),
                ),
            }
        };
        // The timeout covers the handshake as well as the reply: under emulation a TLS
        // handshake with client certificates takes hundreds of milliseconds.
        let c = RadiusClient::new(vec![addr], b"radsec", Duration::from_millis(2000), 1)
            .with_tls(settings(&ca_der));
        let r = c.send(&access_request(), Some(b"pw")).await.unwrap();
        assert_eq!(r.code, Code::AccessAccept);
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        {
            let copies = copies.lock().unwrap();
            assert_eq!(copies.len(), 2);
            assert_eq!(copies[0], copies[1], "the copy is byte for byte the first");
        }
        // Kept: the next request goes over the same connection.
        c.send(&access_request(), Some(b"pw")).await.unwrap();
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        assert_eq!(copies.lock().unwrap().len(), 3);

        // Another CA: the handshake fails, nothing is sent, and the client gives up at once.
        let (_, other_der) = new_ca();
        let c = RadiusClient::new(vec![addr], b"radsec", Duration::from_millis(2000), 2)
            .with_tls(settings(&other_der));
        let started = std::time::Instant::now();
        assert!(matches!(
            c.send(&access_request(), Some(b"pw")).await,
            Err(RadiusError::NoAnswer { tried: 1 })
        ));
        assert!(started.elapsed() < Duration::from_millis(1500));
        assert_eq!(copies.lock().unwrap().len(), 3);
        server.abort();
    }
}
