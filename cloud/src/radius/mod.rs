//! The RADIUS server for operators' own NAS devices (flow 7): MikroTik, CoovaChilli/uspot,
//! Ubiquiti, Cisco and other routers authenticate guests and subscribers against the same
//! tenants, vouchers and plans as our routers, and account their sessions into `radacct`.
//!
//! # Layout
//! - [`clients`]: the `nas` table in memory (address → tenant, secret, BlastRADIUS settings),
//!   refreshed on change.
//! - [`server`]: the UDP listeners (1812 authentication, 1813 accounting): checks, the reply
//!   cache for retransmissions, bounded work.
//! - [`radsec`]: RADIUS over TLS (RFC 6614, TCP 2083) for a NAS across the Internet.
//! - [`auth`]: Access-Request: MAC authentication, the FreeRADIUS tables, subscribers, vouchers;
//!   PAP, CHAP, MS-CHAP v1/v2 ([`mschap`]).
//! - [`reply`]: what an Access-Accept grants, in the NAS's vendor dialect.
//! - [`acct`]: Accounting-Request into `radacct` as FreeRADIUS writes it, in batches; a
//!   sweeper closes sessions whose NAS stopped reporting ([`sweep_once`]).
//! - [`dynauth`]: Disconnect-Request and CoA-Request to a session's NAS (RFC 5176), for an
//!   operator's kick or new limits and for vouchers used up ([`dynauth::enforce_once`]).
//!
//! The packet codec is [`hotspot_shared::radius`], shared with the edge's NAS client.
//! Everything the server writes goes through tenant transactions (row-level security holds);
//! only the NAS table is read across tenants, through the SECURITY DEFINER `radius_clients()`.

pub mod acct;
pub mod auth;
pub mod clients;
pub mod dynauth;
pub mod mschap;
pub mod radsec;
pub mod reply;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, mpsc, watch};

use self::auth::PostAuth;
use self::server::{LogLimit, Port, ReplyCache, Shared};

/// How the server is set up (`HOTSPOT_RADIUS_*`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// UDP address for Access-Request and Status-Server; `None`: off.
    pub auth_listen: Option<SocketAddr>,
    /// UDP address for Accounting-Request and Status-Server; `None`: off.
    pub acct_listen: Option<SocketAddr>,
    /// TCP address for RadSec; `None`: off. Needs `radsec_tls`.
    pub radsec_listen: Option<SocketAddr>,
    pub radsec_tls: Option<radsec::TlsFiles>,
    pub defaults: auth::Defaults,
    /// Accounting writers (each one transaction at a time).
    pub writers: usize,
    /// Access-Requests worked on the database at once (the others wait in arrival order).
    pub auth_at_once: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auth_listen: None,
            acct_listen: None,
            radsec_listen: None,
            radsec_tls: None,
            defaults: auth::Defaults {
                interim_interval: 300,
                idle_timeout: 900,
            },
            writers: 1,
            auth_at_once: server::AUTH_AT_ONCE,
        }
    }
}

/// Parses a listen setting: an address, or `off`.
pub fn parse_listen(s: &str) -> Result<Option<SocketAddr>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") || s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("{s:?} is not an address:port or `off`"))
}

/// What the listeners share: the database and the settings.
#[derive(Clone)]
pub struct Radius {
    pub pool: Pool,
    pub settings: Arc<Settings>,
}

impl std::fmt::Debug for Radius {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Radius")
            .field("settings", &self.settings)
            .finish()
    }
}

/// A running server: its bound addresses, and a handle that stops it.
#[derive(Debug)]
pub struct Running {
    pub auth_addr: Option<SocketAddr>,
    pub acct_addr: Option<SocketAddr>,
    pub radsec_addr: Option<SocketAddr>,
    pub clients: Arc<clients::Clients>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops the listeners, then lets queued accounting and post-auth lines finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// Binds the listeners, loads the NAS table and starts serving. `database_url` is for the
/// connection that listens for NAS changes.
pub async fn start(
    pool: Pool,
    database_url: String,
    settings: Settings,
) -> std::io::Result<Running> {
    let clients = Arc::new(clients::Clients::default());
    if let Err(e) = clients.reload(&pool).await {
        tracing::warn!(error = %e, "RADIUS clients not loaded yet; retrying in the background");
    }
    let (stop, stopped) = watch::channel(false);
    let settings = Arc::new(settings);
    let (postauth_tx, postauth_rx) = mpsc::channel::<PostAuth>(16_384);
    let mut acct_queues = Vec::new();
    let mut acct_receivers = Vec::new();
    for _ in 0..settings.writers.max(1) {
        let (tx, rx) = mpsc::channel::<acct::Job>(2048);
        acct_queues.push(tx);
        acct_receivers.push(rx);
    }
    let shared = Arc::new(Shared {
        radius: Radius {
            pool: pool.clone(),
            settings: settings.clone(),
        },
        clients: clients.clone(),
        cache: ReplyCache::default(),
        in_flight: Arc::new(Semaphore::new(server::IN_FLIGHT)),
        auth_slots: Semaphore::new(settings.auth_at_once.max(1)),
        postauth: postauth_tx,
        accounting: acct_queues,
        log_unknown: LogLimit::new(10),
        log_bad: LogLimit::new(20),
    });
    let mut tasks = Vec::new();
    let mut bind = |addr: Option<SocketAddr>, port: Port| -> std::io::Result<Option<SocketAddr>> {
        let Some(addr) = addr else { return Ok(None) };
        let std_socket = std::net::UdpSocket::bind(addr)?;
        std_socket.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(std_socket)?);
        let local = socket.local_addr()?;
        tasks.push(tokio::spawn(server::serve_udp(
            socket,
            port,
            shared.clone(),
            stopped.clone(),
        )));
        Ok(Some(local))
    };
    let auth_addr = bind(settings.auth_listen, Port::Auth)?;
    let acct_addr = bind(settings.acct_listen, Port::Acct)?;
    let mut radsec_addr = None;
    if let Some(addr) = settings.radsec_listen {
        let files = settings.radsec_tls.as_ref().ok_or_else(|| {
            std::io::Error::other("RadSec needs a certificate, key and client CA")
        })?;
        let acceptor = radsec::acceptor(files).map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        radsec_addr = Some(listener.local_addr()?);
        tasks.push(tokio::spawn(radsec::serve(
            listener,
            acceptor,
            shared.clone(),
            stopped.clone(),
        )));
    }
    drop(shared);
    for rx in acct_receivers {
        tasks.push(tokio::spawn(acct::writer(pool.clone(), rx)));
    }
    tasks.push(tokio::spawn(postauth_writer(pool.clone(), postauth_rx)));
    tasks.push(tokio::spawn(sweep_stale(
        pool.clone(),
        settings.defaults.interim_interval,
        stopped.clone(),
    )));
    tasks.push(tokio::spawn(enforce_limits(pool.clone(), stopped.clone())));
    tasks.push(tokio::spawn(clients.clone().keep_fresh(
        pool,
        database_url,
        stopped,
    )));
    if let Some(a) = auth_addr {
        tracing::info!(listen = %a, nas = clients.len(), "RADIUS authentication listening");
    }
    if let Some(a) = acct_addr {
        tracing::info!(listen = %a, "RADIUS accounting listening");
    }
    if let Some(a) = radsec_addr {
        tracing::info!(listen = %a, "RadSec listening");
    }
    Ok(Running {
        auth_addr,
        acct_addr,
        radsec_addr,
        clients,
        stop,
        tasks,
    })
}

/// Advisory lock of the stale-session sweeper ("radstale"): one replica sweeps at a time.
const STALE_LOCK: i64 = 0x7261_6473_7461_6c65;
/// How often open sessions are checked for a NAS that stopped reporting.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Closes, every [`SWEEP_EVERY`], open sessions whose interim updates stopped
/// (`radacct_close_stale()`: three intervals and a minute without news).
async fn sweep_stale(pool: Pool, interval: u32, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    // The first pass a period after start, not at once.
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match sweep_once(&pool, interval).await {
            Ok(Some(n)) if n > 0 => tracing::info!(closed = n, "stale RADIUS sessions closed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "stale RADIUS session sweep failed"),
        }
    }
}

/// Every [`dynauth::ENFORCE_EVERY`], disconnects RADIUS sessions of vouchers used up or out of
/// time, and closes sessions whose Disconnect was ACKed without a Stop.
async fn enforce_limits(pool: Pool, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(dynauth::ENFORCE_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match dynauth::enforce_once(&pool, &dynauth::BACKOFF).await {
            Ok(Some(d)) if d.sent > 0 || d.closed > 0 => tracing::info!(
                disconnects = d.sent,
                acked = d.acked,
                closed = d.closed,
                "RADIUS voucher limits enforced"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "RADIUS voucher limit pass failed"),
        }
    }
}

/// One pass of the sweeper: the sessions closed, or `None` when another replica holds the lock.
pub async fn sweep_once(pool: &Pool, interval: u32) -> anyhow::Result<Option<i64>> {
    crate::db::with_advisory_lock(pool, STALE_LOCK, || async {
        let mut client = pool.get().await?;
        let tx = crate::db::service_transaction(&mut client).await?;
        let n: i64 = tx
            .query_one(
                "SELECT radacct_close_stale($1)",
                &[&i32::try_from(interval).unwrap_or(300)],
            )
            .await?
            .get(0);
        tx.commit().await?;
        Ok::<_, anyhow::Error>(n)
    })
    .await
}

/// Writes radpostauth in batches (one transaction per batch, one INSERT per tenant): the log
/// never delays an answer. Lines that cannot be written are counted in the log and dropped.
async fn postauth_writer(pool: Pool, mut rx: mpsc::Receiver<PostAuth>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 1000).await > 0 {
        batch.sort_by_key(|p| p.tenant);
        if let Err(e) = write_postauth(&pool, &batch).await {
            tracing::warn!(error = %e, lines = batch.len(), "radpostauth lines dropped");
        }
        batch.clear();
    }
}

async fn write_postauth(pool: &Pool, batch: &[PostAuth]) -> Result<(), crate::db::DbError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| crate::db::DbError::Connect(e.to_string()))?;
    let tx = crate::db::service_transaction(&mut client).await?;
    for group in batch.chunk_by(|a, b| a.tenant == b.tenant) {
        tx.execute(
            "SELECT set_config('app.tenant_id', $1, true)",
            &[&group[0].tenant.to_string()],
        )
        .await?;
        let users: Vec<&str> = group.iter().map(|p| p.username.as_str()).collect();
        let replies: Vec<&str> = group.iter().map(|p| p.reply).collect();
        let nas: Vec<std::net::IpAddr> = group.iter().map(|p| p.nas).collect();
        let classes: Vec<Option<&str>> = group.iter().map(|p| p.class.as_deref()).collect();
        let at: Vec<chrono::DateTime<chrono::Utc>> = group.iter().map(|p| p.at).collect();
        tx.execute(
            "INSERT INTO radpostauth (tenant_id, username, reply, nasipaddress, class, authdate) \
             SELECT $1, u, r, n, c, a \
             FROM unnest($2::text[], $3::text[], $4::inet[], $5::text[], $6::timestamptz[]) \
                  AS x(u, r, n, c, a)",
            &[&group[0].tenant, &users, &replies, &nas, &classes, &at],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
