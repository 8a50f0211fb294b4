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
    // A pooled connection the server has just closed (a failover, a restart) may not know it
    // yet: one more try on a fresh connection before answering that the database is gone.
    let mut writable = None;
    for _ in 0..2 {
        let client = match state.pool.get().await {
            Ok(c) => c,
            Err(e) if crate::db::is_busy(&e) => {
                // Every connection in use for longer than the pool's wait: overloaded, not down.
                tracing::warn!("readiness: no database connection free in time");
                return (StatusCode::SERVICE_UNAVAILABLE, "database busy\n");
            }
            Err(e) => {
                tracing::warn!(error = %e, "readiness: database unreachable");
                return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n");
            }
        };
        match client
            .query_one(
                "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
                &[],
            )
            .await
        {
            Ok(r) => {
                writable = Some(r.get::<_, bool>(0));
                break;
            }
            Err(e) if e.is_closed() || e.as_db_error().is_none() => {
                drop(deadpool_postgres::Object::take(client));
            }
            Err(e) => {
                tracing::warn!(error = %e, "readiness: database unreachable");
                break;
            }
        }
    }
    match writable {
        Some(true) => (StatusCode::OK, "ready\n"),
        Some(false) => {
            tracing::warn!("readiness: the database is read-only (a standby, or being demoted)");
            (StatusCode::SERVICE_UNAVAILABLE, "database read-only\n")
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n"),
    }
}
