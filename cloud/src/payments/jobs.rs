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
    for d in due {
        report.queries += usize::from(d.checkout.is_some() && matches!(daraja, Some(Ok(_))));
        let Some(outcome) = ask(payments, daraja.as_ref(), &d).await else {
            continue;
        };
        if matches!(
            settle_due(payments, &mut client, tenant, &d, &outcome).await?,
            Settled::Paid | Settled::Failed
        ) {
            report.settled += 1;
        }
    }
    Ok(())
}

/// What Daraja (or the clock) says of a leased purchase: `None` while it is still pending.
async fn ask(
    payments: &Payments,
    daraja: Option<&Result<crate::mpesa::DarajaClient, PaymentError>>,
    d: &Due,
) -> Option<(Outcome, Source)> {
    let age = Utc::now() - d.sent;
    let give_up = chrono::Duration::from_std(payments.config.give_up_after)
        .unwrap_or(chrono::Duration::minutes(15));
    match (&d.checkout, daraja) {
        (None, _) => {
            // The push's answer never came back (the service stopped mid-call).
            let limit = chrono::Duration::from_std(PUSH_ANSWER_LIMIT)
                .unwrap_or(chrono::Duration::minutes(2));
            (age > limit).then_some((
                Outcome::GaveUp(PaymentFailure::Unavailable),
                Source::Timeout,
            ))
        }
        (Some(checkout), Some(Ok(daraja))) => match daraja.stk_query(checkout).await {
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
            (age >= give_up).then_some((Outcome::GaveUp(PaymentFailure::NoAnswer), Source::Timeout))
        }),
        (Some(_), _) => {
            // Settings gone or unusable: nothing to ask; give up in time.
            (age >= give_up).then_some((Outcome::GaveUp(PaymentFailure::NoAnswer), Source::Timeout))
        }
    }
}

/// Settles a leased purchase with what [`ask`] found, in its tenant's transaction.
async fn settle_due(
    payments: &Payments,
    client: &mut deadpool_postgres::Object,
    tenant: Uuid,
    d: &Due,
    (outcome, source): &(Outcome, Source),
) -> Result<Settled, PaymentError> {
    let tx = tenant_transaction(client, tenant, None).await?;
    let settled = settle::settle(
        &tx,
        payments.config.voucher_valid_days,
        d.id,
        d.checkout.as_deref(),
        outcome,
        *source,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(settled)
}

/// What an operator's "query now" of one purchase found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryNow {
    /// Daraja said it was paid: settled as paid now.
    Paid,
    /// Daraja (or the clock) said it failed: settled as failed now.
    Failed,
    /// Daraja's answer disagreed with the purchase: flagged for review, still pending.
    Review(String),
    /// Daraja still has no result: it stays pending, queried again as before.
    StillPending,
    /// It is no longer pending (settled before): nothing asked.
    NotPending,
    /// Its push was never answered: there is nothing to ask Daraja about.
    NoCheckout,
    /// The payments job is querying it this moment: nothing asked twice.
    Busy,
    /// M-Pesa is not set up (or not usable) for the tenant: nothing asked.
    NoSettings,
}

/// Asks Daraja now for the result of the tenant's pending purchase `purchase`, as the job does
/// when it falls due (leased the same way, so no replica asks at the same time, and settled
/// through [`settle`] with the query as its source). `None`: no such purchase in the tenant.
pub async fn query_now(
    payments: &Payments,
    pool: &Pool,
    tenant: Uuid,
    purchase: Uuid,
) -> Result<Option<QueryNow>, PaymentError> {
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, tenant, None).await?;
    let Some(status) = tx
        .query_opt(
            "SELECT status FROM hotspot_purchases WHERE id = $1",
            &[&purchase],
        )
        .await?
        .map(|r| r.get::<_, String>(0))
    else {
        return Ok(None);
    };
    if status != "pending" {
        return Ok(Some(QueryNow::NotPending));
    }
    let Some(r) = tx
        .query_opt(
            "SELECT id, checkout_request_id, coalesce(push_sent_at, created_at), query_attempts,
                    (amount * 100)::bigint
             FROM hotspot_purchases
             WHERE id = $1 AND status = 'pending'
             FOR UPDATE SKIP LOCKED",
            &[&purchase],
        )
        .await?
    else {
        return Ok(Some(QueryNow::Busy));
    };
    let d = Due {
        id: r.get(0),
        checkout: r.get(1),
        sent: r.get(2),
        cents: r.get(4),
    };
    if d.checkout.is_none() {
        return Ok(Some(QueryNow::NoCheckout));
    }
    let daraja = match StoredSettings::load(&tx).await? {
        Some(s) => match payments.client(&s) {
            Ok(c) => c,
            Err(_) => return Ok(Some(QueryNow::NoSettings)),
        },
        None => return Ok(Some(QueryNow::NoSettings)),
    };
    // Leased as the job leases it: its next query moves on by the same back-off.
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
        &[&d.id, &wait],
    )
    .await?;
    tx.commit().await?;
    let Some(outcome) = ask(payments, Some(&Ok(daraja)), &d).await else {
        return Ok(Some(QueryNow::StillPending));
    };
    Ok(Some(
        match settle_due(payments, &mut client, tenant, &d, &outcome).await? {
            Settled::Paid => QueryNow::Paid,
            Settled::Failed => QueryNow::Failed,
            Settled::Review(why) => QueryNow::Review(why),
            _ => QueryNow::NotPending,
        },
    ))
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
