//! HTTP routes of the cloud service.

pub mod health;

use axum::Router;
use axum::routing::get;

use crate::AppState;

/// Every route the service answers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(crate::api::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api::metrics::track,
        ))
        .with_state(state)
}
