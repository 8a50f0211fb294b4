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
        .with_state(state)
}
