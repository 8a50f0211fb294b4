//! hotspotd: the site router's daemon. It runs the captive portal, decides who is online from the
//! site's own SQLite database, and enforces it through the firewall.
//!
//! # Layout
//! - [`config`]: the TOML file, parsed strictly and validated into [`config::Config`].
//! - [`store`]: the SQLite database and its migrations.
//! - [`portal`]: the HTTP side guests see.
//! - [`firewall`]: the access-control seam, its nftables backend and its recording fake.
//! - [`clock`]: the time seam and calendar arithmetic.
//! - [`net`]: the neighbour table seam (IP → MAC) and DHCP leases.
//! - [`vouchers`], [`throttle`]: pure voucher rules and the guessing throttle.
//! - [`sessions`]: logins, auto-connect, accounting, restore: I/O around the pure rules.
//! - [`radius`]: hotspotd as a RADIUS NAS: the `[radius]` settings and the UDP client.
//! - [`payments`]: M-Pesa purchases from the portal, run by the cloud, seen through here.
//! - [`admin`]: the technician's command line over the database.
//! - [`sync`]: the HTTPS client for the cloud's sync API, retry policy, stored credential.
//! - [`telemetry`]: logging setup.
//!
//! [`serve`] runs the daemon on a listener and a shutdown signal the caller provides, so tests
//! run it on port 0 in-process.

pub mod admin;
pub mod clock;
pub mod config;
pub mod firewall;
pub mod net;
pub mod payments;
pub mod portal;
pub mod radius;
pub mod sessions;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod throttle;
pub mod vouchers;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::sessions::Sessions;

/// Serves the portal on `listener` and runs the accounting cycle until `shutdown` completes,
/// then finishes open requests. The caller restores the firewall first ([`Sessions::restore`]).
pub async fn serve(
    sessions: Arc<Sessions>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(sessions, None, listener, shutdown).await
}

/// [`serve`], with M-Pesa purchases on the portal when `payments` is given.
pub async fn serve_with(
    sessions: Arc<Sessions>,
    payments: Option<Arc<payments::Payments>>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = Arc::clone(sessions.config());
    let limit = tower::limit::GlobalConcurrencyLimitLayer::new(config.max_connections);
    let mut state = portal::AppState::new(Arc::clone(&sessions));
    state.payments = payments;
    let app = portal::router(state).layer(limit);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The Dynamic Authorization server, when `[radius] das_listen` is set. A port that cannot
    // be had stops the daemon before it serves anything.
    let das = match sessions
        .nas()
        .and_then(|n| n.config.das_listen.map(|a| (n, a)))
    {
        Some((nas, addr)) => {
            let socket = tokio::net::UdpSocket::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("radius.das_listen {addr}: {e}"))
            })?;
            if let Ok(bound) = socket.local_addr() {
                let _ = nas.das_addr.set(bound);
                tracing::info!(%bound, "RADIUS Dynamic Authorization server listening");
            }
            Some(tokio::spawn(radius::das::run(
                socket,
                Arc::clone(&sessions),
                stopped.clone(),
            )))
        }
        None => None,
    };
    // RADIUS accounting, when this router is a NAS: its own loop, so a silent server never
    // holds up the accounting cycle.
    let radius = sessions.nas().map(|nas| {
        tokio::spawn(radius::accounting::run(
            sessions.store().clone(),
            Arc::clone(nas),
            Arc::clone(sessions.clock()),
            stopped.clone(),
        ))
    });
    // Status-Server probes of the servers that stopped answering (RFC 5997).
    let probes = sessions
        .nas()
        .map(|nas| tokio::spawn(radius::probe(Arc::clone(nas), stopped.clone())));
    let accounting = tokio::spawn(Arc::clone(&sessions).run(stopped));
    // Bounded connections, request deadlines and sizes (`portal::limits`); `tap_io` keeps the
    // client's address available to the handlers.
    let listener = axum::serve::ListenerExt::tap_io(portal::limits::guarded(listener), |_| {});
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop.send(true);
    })
    .await;
    let _ = accounting.await;
    if let Some(radius) = radius {
        let _ = radius.await;
    }
    if let Some(das) = das {
        let _ = das.await;
    }
    if let Some(probes) = probes {
        let _ = probes.await;
    }
    result
}
