//! The cloud service: one process for every tenant, stateless behind a load balancer.
//!
//! # Layout
//! - [`api`]: the operators' API (accounts, the hotspot business, the generic resources,
//!   OpenAPI, metrics).
//! - [`console`]: the operators' web console at `/console/` (server-rendered pages over the
//!   API's accounts, roles and tenant transactions).
//! - [`db`]: the PostgreSQL pool and the migration runner for `migrations/cloud/`.
//! - [`mpesa`]: the Daraja client and the parsing of what Daraja posts back.
//! - [`payments`]: guest purchases by M-Pesa (STK push, callbacks, reconciliation job).
//! - [`radius`]: the RADIUS server for operators' own NAS devices (auth, accounting).
//! - [`routes`]: the HTTP API.
//! - [`sync`]: router provisioning and the edge sync (event ingest, change pull).
//! - [`telemetry`]: logging setup.
//!
//! [`serve`] takes its listener and shutdown future from the caller, so tests bind port 0.

pub mod api;
pub mod console;
pub mod db;
pub mod mpesa;
pub mod payments;
pub mod radius;
pub mod routes;
pub mod sync;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::net::TcpListener;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Connections to PostgreSQL.
    pub pool: Pool,
    /// The operators' API: the secrets key, token lifetime, metrics, the registry's catalogue.
    pub api: Arc<api::ApiState>,
    /// M-Pesa: configuration, the Daraja token cache, the jobs loop's wake-up.
    pub payments: Arc<payments::Payments>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// Serves the API on `listener` until `shutdown` completes, with the default
/// [`routes::shed::Limits`].
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(state, listener, shutdown, routes::shed::Limits::default()).await
}

/// Serves the API on `listener` until `shutdown` completes, taking on at most what `limits`
/// allow at once (past that, 503 with `Retry-After`; see [`routes::shed`]).
pub async fn serve_with(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: routes::shed::Limits,
) -> std::io::Result<()> {
    // A request past the cap costs no routing, no body and no database. Outermost: an answer
    // given before its request's body was read (a 503 above all) says the connection closes.
    let app = routes::router(state)
        .layer(axum::middleware::from_fn_with_state(
            routes::shed::Shed::new(limits),
            routes::shed::admit,
        ))
        .layer(axum::middleware::from_fn(routes::unread::close_if_unread));
    // Bounded connections (`hotspot_listener`); `tap_io` keeps the peer address, which reaches
    // handlers (the M-Pesa callback allowlist).
    let listener = axum::serve::ListenerExt::tap_io(
        hotspot_listener::Guarded::new(listener, limits.connections),
        |_| {},
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
