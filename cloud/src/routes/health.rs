//! Liveness (the process answers) and readiness (it can reach its database).

use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;

pub async fn live() -> &'static str {
    "ok\n"
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let ok = match state.pool.get().await {
        Ok(client) => client.query_one("SELECT 1", &[]).await.is_ok(),
        Err(_) => false,
    };
    if ok {
        (StatusCode::OK, "ready\n")
    } else {
        tracing::warn!("readiness: database unreachable");
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}
