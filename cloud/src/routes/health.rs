//! Liveness (the process answers) and readiness (it can write to its database).

use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;

pub async fn live() -> &'static str {
    "ok\n"
}

/// Ready when a pooled connection reaches a PostgreSQL that takes writes: not a standby (in
/// recovery), not read-only. While a failover is under way this answers 503, so the load
/// balancer sends traffic to replicas that can serve it, or none.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let writable = match state.pool.get().await {
        Ok(client) => client
            .query_one(
                "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
                &[],
            )
            .await
            .map(|r| r.get::<_, bool>(0)),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n");
        }
    };
    match writable {
        Ok(true) => (StatusCode::OK, "ready\n"),
        Ok(false) => {
            tracing::warn!("readiness: the database is read-only (a standby, or being demoted)");
            (StatusCode::SERVICE_UNAVAILABLE, "database read-only\n")
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
        }
    }
}
