//! HTTP routes of the cloud service.

pub mod health;
pub mod payments;
pub mod shed;
pub mod sync;
pub mod unread;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::decompression::RequestDecompressionLayer;

use crate::AppState;

/// Every route the service answers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(sync_routes())
        .merge(payment_routes())
        .merge(crate::api::router())
        .merge(crate::console::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api::metrics::track,
        ))
        .with_state(state)
}

/// The routers' API. Bodies may be gzip; the size limit applies after decompression.
fn sync_routes() -> Router<AppState> {
    Router::new()
        .route("/sync/v1/claim", post(sync::claim))
        .route("/sync/v1/events", post(sync::push))
        .route("/sync/v1/changes", get(sync::changes))
        .route("/sync/v1/rotate", post(sync::rotate))
        .route("/sync/v1/purchases", post(payments::start))
        .route("/sync/v1/purchases/{id}", get(payments::show))
        .layer(DefaultBodyLimit::max(hotspot_shared::sync::MAX_PUSH_BYTES))
        .layer(RequestDecompressionLayer::new().gzip(true))
}

/// What Daraja posts to us. Bodies are read by the handlers themselves, with their own limit.
fn payment_routes() -> Router<AppState> {
    // C2B URLs are also served under /pay/: Daraja refuses to register URLs containing "mpesa".
    Router::new()
        .route("/mpesa/callback/{token}", post(payments::stk_callback))
        .route(
            "/mpesa/c2b/validation/{token}",
            post(payments::c2b_validation),
        )
        .route(
            "/mpesa/c2b/confirmation/{token}",
            post(payments::c2b_confirmation),
        )
        .route(
            "/pay/c2b/validation/{token}",
            post(payments::c2b_validation),
        )
        .route(
            "/pay/c2b/confirmation/{token}",
            post(payments::c2b_confirmation),
        )
}
