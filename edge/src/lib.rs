//! hotspotd: the site router's daemon. It runs the captive portal, decides who is online from the
//! site's own SQLite database, and enforces it through the firewall.
//!
//! # Layout
//! - [`config`]: the TOML file, parsed strictly and validated into [`config::Config`].
//! - [`store`]: the SQLite database and its migrations.
//! - [`portal`]: the HTTP side guests see.
//! - [`firewall`]: the access-control seam and its recording fake.
//! - [`telemetry`]: logging setup.
//!
//! [`serve`] runs the daemon on a listener and a shutdown signal the caller provides, so tests
//! run it on port 0 in-process.

pub mod clock;
pub mod config;
pub mod firewall;
pub mod net;
pub mod portal;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod vouchers;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::firewall::Firewall;
use crate::store::Store;

/// Serves the portal on `listener` until `shutdown` completes, then finishes open requests.
pub async fn serve(
    config: Arc<Config>,
    store: Store,
    firewall: Arc<dyn Firewall>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limit = tower::limit::GlobalConcurrencyLimitLayer::new(config.max_connections);
    let app = portal::router(portal::AppState {
        config,
        store,
        firewall,
    })
    .layer(limit);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
