//! The payments jobs loop of `hotspot-cloud serve`: callbacks stored but not processed, and pushes
//! with no result yet (STK query after `first_query_after`, then with back-off; failed as
//! `no_answer` after `give_up_after`). Both STK query "still processing" forms leave a purchase
//! pending. A query's result goes through [`super::settle`] like a callback's.
//!
//! It also runs seed 000's `handle_automatic_renewals()` for every tenant every
//! `renewal_interval` (renew from the wallet, or suspend), one replica at a time.
//!
//! Several replicas may run it: a due purchase is leased (its next query moved on) under
//! `FOR UPDATE SKIP LOCKED` before Daraja is asked, so only one replica queries it at a time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use hotspot_shared::purchase::PaymentFailure;
use uuid::Uuid;

use super::callback::{self, Stored};
use super::settle::{self, Outcome, Settled, Source};
use super::{PaymentError, Payments, StoredSettings};
use crate::db::{service_transaction, tenant_transaction, with_advisory_lock};
use crate::mpesa::QueryResult;

/// Most tenants and purchases one pass looks at (the rest wait for the next pass).
const MAX_TENANTS: i64 = 200;
const MAX_PER_TENANT: i64 = 50;
/// A purchase whose push never got Daraja's answer (the service stopped mid-call) is failed
/// after this long; the HTTP client gives up on Daraja well before.
const PUSH_ANSWER_LIMIT: Duration = Duration::from_secs(120);

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub callbacks: usize,
    pub queries: usize,
    pub settled: usize,
}

/// Runs passes every `job_interval` (or sooner when woken) until `shutdown` completes.
pub async fn run(
    payments: Arc<Payments>,
    pool: Pool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    let mut last_renewals: Option<tokio::time::Instant> = None;
    loop {
        if let Err(e) = run_once(&payments, &pool).await {
            tracing::error!(error = %e, "payments job pass failed");
        }
        if let Some(every) = payments.config.renewal_interval
            && last_renewals.is_none_or(|t| t.elapsed() >= every)
        {
            last_renewals = Some(tokio::time::Instant::now());
            match run_renewals_once(&pool).await {
                Ok(n) => tracing::debug!(tenants = n, "automatic renewals run"),
                Err(e) => tracing::error!(error = %e, "automatic renewals failed"),
            }
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(payments.config.job_interval) => {}
            () = payments.wake.notified() => {
                // A push was just sent: nothing is due before first_query_after, but stored
                // callbacks may be; a short pause lets the request's own task process first.
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(payments.config.job_interval.min(Duration::from_millis(200))) => {}
                }
            }
        }
    }
    tracing::info!("payments jobs stopped");
}

/// One pass over every tenant with work.
pub async fn run_once(payments: &Payments, pool: &Pool) -> Result<Report, PaymentError> {
    let mut client = pool.get().await?;
    let tx = service_transaction(&mut client).await?;
    let tenants: Vec<Uuid> = tx
        .query(
            "SELECT tenant_id FROM payments_due_tenants() LIMIT $1",
            &[&MAX_TENANTS],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await?;
    drop(client);
    let mut report = Report::default();
    for tenant in tenants {
        if let Err(e) = tenant_pass(payments, pool, tenant, &mut report).await {
            tracing::error!(%tenant, error = %e, "payments job failed for a tenant");
        }
    }
    Ok(report)
}

struct Due {
    id: Uuid,
    checkout: Option<String>,
    sent: DateTime<Utc>,
    cents: i64,
}

async fn tenant_pass(
    payments: &Payments,
    pool: &Pool,
    tenant: Uuid,
    report: &mut Report,
) -> Result<(), PaymentError> {
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, tenant, None).await?;
    let callbacks: Vec<Uuid> = tx
        .query(
            "SELECT id FROM mpesa_callbacks WHERE processed_at IS NULL AND kind = 'stk'
             ORDER BY received_at LIMIT $1",
            &[&MAX_PER_TENANT],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await?;
    for id in callbacks {
        let stored = Stored {
            tenant,
            callback: id,
        };
        match callback::process(payments, pool, stored).await {
            Ok(Some(_)) => report.callbacks += 1,
            Ok(None) => {}
            Err(e) => tracing::error!(callback = %id, error = %e, "callback processing failed"),
        }
    }

    // Lease the due purchases: move their next query on before asking Daraja.
    let tx = tenant_transaction(&mut client, tenant, None).await?;
    let rows = tx
        .query(
            "SELECT id, checkout_request_id, coalesce(push_sent_at, created_at), query_attempts,
                    (amount * 100)::bigint
             FROM hotspot_purchases
             WHERE status = 'pending' AND next_query_at <= now()
             ORDER BY next_query_at LIMIT $1
             FOR UPDATE SKIP LOCKED",
            &[&MAX_PER_TENANT],
        )
        .await?;
    let mut due = Vec::with_capacity(rows.len());
    for r in &rows {
        let attempts: i32 = r.get(3);
        let wait = payments
            .config
            .backoff(u32::try_from(attempts).unwrap_or(0))
            .as_secs_f64();
        tx.execute(
            "UPDATE hotspot_purchases
             SET next_query_at = now() + make_interval(secs => $2),
                 query_attempts = query_attempts + 1
             WHERE id = $1",
            &[&r.get::<_, Uuid>(0), &wait],
        )
        .await?;
        due.push(Due {
            id: r.get(0),
            checkout: r.get(1),
            sent: r.get(2),
            cents: r.get(4),
        });
    }
    let settings = if due.is_empty() {
        None
    } else {
        StoredSettings::load(&tx).await?
    };
    tx.commit().await?;
    if due.is_empty() {
        return Ok(());
    }
    let daraja = settings.map(|s| payments.client(&s));

    let now = Utc::now();
    let give_up = chrono::Duration::from_std(payments.config.give_up_after)
        .unwrap_or(chrono::Duration::minutes(15));
    for d in due {
        let age = now - d.sent;
        let outcome = match (&d.checkout, &daraja) {
            (None, _) => {
                // The push's answer never came back (the service stopped mid-call).
                let limit = chrono::Duration::from_std(PUSH_ANSWER_LIMIT)
                    .unwrap_or(chrono::Duration::minutes(2));
                (age > limit).then_some((
                    Outcome::GaveUp(PaymentFailure::Unavailable),
                    Source::Timeout,
                ))
            }
            (Some(checkout), Some(Ok(daraja))) => {
                report.queries += 1;
                match daraja.stk_query(checkout).await {
                    Ok(QueryResult::Final { code, description }) if code.is_success() => Some((
                        Outcome::Paid {
                            amount_cents: d.cents,
                            receipt: None,
                            description,
                        },
                        Source::Query,
                    )),
                    Ok(QueryResult::Final { code, description }) => {
                        Some((Outcome::Failed { code, description }, Source::Query))
                    }
                    Ok(QueryResult::Pending) => None,
                    Err(e) => {
                        tracing::warn!(purchase = %d.id, error = %e, "STK query failed");
                        None
                    }
                }
                .or_else(|| {
                    (age >= give_up)
                        .then_some((Outcome::GaveUp(PaymentFailure::NoAnswer), Source::Timeout))
                })
            }
            (Some(_), _) => {
                // Settings gone or unusable: nothing to ask; give up in time.
                (age >= give_up)
                    .then_some((Outcome::GaveUp(PaymentFailure::NoAnswer), Source::Timeout))
            }
        };
        let Some((outcome, source)) = outcome else {
            continue;
        };
        let tx = tenant_transaction(&mut client, tenant, None).await?;
        let settled = settle::settle(
            &tx,
            payments.config.voucher_valid_days,
            d.id,
            d.checkout.as_deref(),
            &outcome,
            source,
            None,
        )
        .await?;
        tx.commit().await?;
        if matches!(settled, Settled::Paid | Settled::Failed) {
            report.settled += 1;
        }
    }
    Ok(())
}

/// Advisory lock key of the renewals run ("renewal" in ASCII): one replica at a time.
const RENEWALS_LOCK: i64 = 0x0072_656e_6577_616c;

/// Runs `handle_automatic_renewals()` for every tenant, each under its own RLS. Returns how many
/// tenants were handled (none when another replica holds the run).
pub async fn run_renewals_once(pool: &Pool) -> Result<usize, PaymentError> {
    Ok(with_advisory_lock(pool, RENEWALS_LOCK, || renewals(pool))
        .await?
        .unwrap_or(0))
}

async fn renewals(pool: &Pool) -> Result<usize, PaymentError> {
    let mut client = pool.get().await?;
    let tx = service_transaction(&mut client).await?;
    let tenants: Vec<Uuid> = tx
        .query(
            "SELECT id FROM platform_list_tenants() WHERE status NOT IN ('suspended', 'cancelled')",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await?;
    let mut done = 0;
    for tenant in tenants {
        let tx = tenant_transaction(&mut client, tenant, None).await?;
        let r: serde_json::Value = tx
            .query_one("SELECT handle_automatic_renewals()", &[])
            .await?
            .get(0);
        tx.commit().await?;
        tracing::info!(%tenant, result = %r, "automatic renewals");
        done += 1;
    }
    Ok(done)
}
