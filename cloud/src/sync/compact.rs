//! Compaction of the `sync_changes` log (index in migration `0025_sync_compaction.sql`).
//!
//! A pull answers each entity's current state, so a change row followed by a later one for the
//! same entity and the same hotspot tells no router anything: it is removed. So is a kick's row
//! once the kick is past the hour it is delivered for, and an extension's once past the day. Plans keep every row (a tenant has
//! few), so a plan's first row still comes before the vouchers that name it; a router also links
//! a voucher that arrives first when its plan comes. What stays is about one row per entity ever synced, a deletion's
//! row included (routers still holding the entity need it), so the log grows with the data and
//! not with every edit.
//!
//! Only rows below the pull horizon are compared, so a row is never removed in favour of one a
//! pull cannot see yet; a router at any cursor still receives every entity's last state. The
//! work runs tenant by tenant under row-level security, each tenant in short transactions of at most 10,000 rows,
//! one replica at a time (an advisory lock).

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Pool;
use uuid::Uuid;

use super::SyncError;
use crate::db::{service_transaction, tenant_transaction, with_advisory_lock};

/// How often the log is compacted.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Rows one transaction removes at most.
const BATCH: i64 = 10_000;
/// Batches per tenant and run at most; the rest waits for the next run.
const MAX_BATCHES: usize = 100;

/// Advisory lock key of a compaction run ("compact" in ASCII).
const LOCK: i64 = 0x0063_6f6d_7061_6374;

/// Compacts the log of every tenant. Returns the rows removed (none when another replica holds
/// the run).
pub async fn run_once(pool: &Pool) -> Result<u64, SyncError> {
    Ok(with_advisory_lock(pool, LOCK, || compact_all(pool))
        .await?
        .unwrap_or(0))
}

async fn compact_all(pool: &Pool) -> Result<u64, SyncError> {
    let mut client = pool.get().await?;
    let tx = service_transaction(&mut client).await?;
    let tenants: Vec<Uuid> = tx
        .query("SELECT id FROM platform_list_tenants()", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await?;
    let mut removed = 0;
    for tenant in tenants {
        // Batches in short transactions: a transaction open while it deletes holds back every
        // router's pull horizon, cluster-wide.
        for _ in 0..MAX_BATCHES {
            let tx = tenant_transaction(&mut client, tenant, None).await?;
            let n = tx
                .execute(
                    "WITH h AS (SELECT sync_horizon() AS horizon),
                     doomed AS (
                         SELECT c.tenant_id, c.id FROM sync_changes c, h
                         WHERE c.xid < h.horizon
                           AND ((c.entity = 'kick' AND c.changed_at < now() - interval '1 hour')
                                OR (c.entity = 'extend' AND c.changed_at < now() - interval '1 day')
                                OR (c.entity <> 'plan' AND EXISTS (
                                    SELECT 1 FROM sync_changes l
                                    WHERE l.tenant_id = c.tenant_id
                                      AND l.entity_id = c.entity_id
                                      AND l.entity = c.entity
                                      AND l.hotspot_id IS NOT DISTINCT FROM c.hotspot_id
                                      AND (l.xid, l.id) > (c.xid, c.id)
                                      AND l.xid < h.horizon)))
                         LIMIT $1)
                     DELETE FROM sync_changes s USING doomed d
                     WHERE s.tenant_id = d.tenant_id AND s.id = d.id",
                    &[&BATCH],
                )
                .await?;
            tx.commit().await?;
            removed += n;
            if n < BATCH as u64 {
                break;
            }
        }
    }
    Ok(removed)
}

/// Runs a compaction every [`EVERY`], the first at once, until `shutdown` completes.
pub async fn run(pool: Pool, shutdown: impl Future<Output = ()> + Send + 'static) {
    tokio::pin!(shutdown);
    loop {
        match run_once(&pool).await {
            Ok(removed) => tracing::debug!(removed, "change log compacted"),
            Err(e) => tracing::error!(error = %e, "change log compaction failed"),
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
