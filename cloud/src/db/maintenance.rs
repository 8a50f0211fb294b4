//! The database's housekeeping, hourly and on one replica at a time (an advisory lock; another
//! replica takes over the next hour if the one running it is lost):
//!
//! - monthly partitions of `hotspot_sessions` and `radacct_history` made [`MONTHS_AHEAD`]
//!   months ahead, so no row ever lands in a default partition for want of one;
//! - RADIUS sessions closed more than a day ago moved from `radacct` to `radacct_history` in
//!   batches of [`ARCHIVE_BATCH`] (a day's grace: a late duplicate Stop still finds its row), so
//!   the table every NAS writes stays small;
//! - partitions older than the retention dropped whole (migration 0031,
//!   `drop_monthly_partitions`): `HOTSPOT_RETENTION_SESSIONS_MONTHS` and
//!   `HOTSPOT_RETENTION_RADACCT_MONTHS`, 0 keeping everything.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Pool;

use super::{DbError, service_transaction, with_advisory_lock};

/// How often the job runs.
pub const EVERY: Duration = Duration::from_secs(3600);
/// Months of partitions kept ready after the current one.
pub const MONTHS_AHEAD: i32 = 3;
/// Sessions moved to the history per transaction.
pub const ARCHIVE_BATCH: i32 = 5_000;
/// Batches per run at most; a larger backlog continues next run.
const MAX_BATCHES: usize = 200;
/// Advisory lock key of a run ("maintain" in ASCII).
const LOCK: i64 = 0x6d61_696e_7461_696e;

/// How many months of history to keep; 0 keeps everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub sessions_months: i32,
    pub radacct_months: i32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            sessions_months: 24,
            radacct_months: 24,
        }
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub partitions_created: i32,
    pub sessions_archived: i64,
    pub partitions_dropped: Vec<String>,
}

/// One run; `None` when another replica holds the lock.
pub async fn run_once(pool: &Pool, retention: Retention) -> Result<Option<Report>, DbError> {
    with_advisory_lock(pool, LOCK, || maintain(pool, retention)).await
}

async fn maintain(pool: &Pool, retention: Retention) -> Result<Report, DbError> {
    let mut client = pool.get().await?;
    let mut report = Report::default();
    let tx = service_transaction(&mut client).await?;
    for parent in ["hotspot_sessions", "radacct_history"] {
        let n: i32 = tx
            .query_one(
                "SELECT create_monthly_partitions($1::text::regclass, $2)",
                &[&parent, &MONTHS_AHEAD],
            )
            .await?
            .get(0);
        report.partitions_created += n;
    }
    tx.commit().await?;
    for _ in 0..MAX_BATCHES {
        let tx = service_transaction(&mut client).await?;
        let n: i64 = tx
            .query_one(
                "SELECT radacct_archive(now() - interval '1 day', $1)",
                &[&ARCHIVE_BATCH],
            )
            .await?
            .get(0);
        tx.commit().await?;
        report.sessions_archived += n;
        if n < i64::from(ARCHIVE_BATCH) {
            break;
        }
    }
    let tx = service_transaction(&mut client).await?;
    for (parent, keep) in [
        ("hotspot_sessions", retention.sessions_months),
        ("radacct_history", retention.radacct_months),
    ] {
        for row in tx
            .query(
                "SELECT drop_monthly_partitions($1::text::regclass, $2)",
                &[&parent, &keep],
            )
            .await?
        {
            report.partitions_dropped.push(row.get(0));
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// Runs [`run_once`] every [`EVERY`] (the first at once) until `shutdown` completes.
pub async fn run(pool: Pool, retention: Retention, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut shutdown => return,
        }
        match run_once(&pool, retention).await {
            Ok(Some(r)) => {
                if r.partitions_created > 0
                    || r.sessions_archived > 0
                    || !r.partitions_dropped.is_empty()
                {
                    tracing::info!(
                        partitions_created = r.partitions_created,
                        sessions_archived = r.sessions_archived,
                        partitions_dropped = ?r.partitions_dropped,
                        "database maintenance"
                    );
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "database maintenance failed; next run in an hour")
            }
        }
    }
}
