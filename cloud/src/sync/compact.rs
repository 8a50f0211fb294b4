//! Compaction of the `sync_changes` log (migration `0025_sync_compaction.sql`): a change followed
//! by a later one for the same entity and hotspot, and kicks past their hour, are removed. Pulls
//! answer each entity's current state, so no router misses anything; the log stays about one
//! row per entity instead of one per edit.

use deadpool_postgres::Pool;

use super::SyncError;
use crate::db::service_transaction;

/// Rows one statement removes at most, so no transaction holds the log for long.
pub const BATCH: i32 = 10_000;
/// Batches one run takes at most; the rest waits for the next run.
const MAX_BATCHES: usize = 100;

/// Compacts the log for every tenant. Returns the rows removed.
pub async fn run_once(pool: &Pool) -> Result<u64, SyncError> {
    let mut removed = 0u64;
    for _ in 0..MAX_BATCHES {
        let mut client = pool.get().await?;
        let tx = service_transaction(&mut client).await?;
        let n: i64 = tx
            .query_one("SELECT sync_compact_changes($1)", &[&BATCH])
            .await?
            .get(0);
        tx.commit().await?;
        removed += n.max(0) as u64;
        if n < i64::from(BATCH) {
            break;
        }
    }
    Ok(removed)
}
