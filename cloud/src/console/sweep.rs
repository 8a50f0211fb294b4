//! The periodic sweep of console sign-ins that expired more than a day ago
//! (`console_sessions_sweep()`, migration 0033). An expired session already opens nothing; the
//! sweep only keeps `console_sessions` from growing with abandoned sign-ins.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Pool;

use crate::db::{DbError, service_transaction};

/// How often the sweep runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Rows deleted per transaction.
pub const BATCH: i32 = 10_000;

/// Deletes every console session that expired more than a day ago, in batches of [`BATCH`];
/// returns how many.
pub async fn sweep_once(pool: &Pool) -> Result<u64, DbError> {
    let mut total = 0u64;
    loop {
        let mut client = pool.get().await?;
        let tx = service_transaction(&mut client).await?;
        let n: i64 = tx
            .query_one("SELECT console_sessions_sweep($1)", &[&BATCH])
            .await?
            .get(0);
        tx.commit().await?;
        total += n as u64;
        if n < i64::from(BATCH) {
            return Ok(total);
        }
    }
}

/// Sweeps every [`EVERY`], the first at once, until `shutdown` completes.
pub async fn run(pool: Pool, shutdown: impl Future<Output = ()> + Send + 'static) {
    tokio::pin!(shutdown);
    loop {
        match sweep_once(&pool).await {
            Ok(removed) => tracing::debug!(removed, "expired console sessions swept"),
            Err(e) => tracing::error!(error = %e, "sweeping expired console sessions failed"),
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
