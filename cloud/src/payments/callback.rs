//! STK callbacks (`POST /mpesa/callback/{token}`): checked, stored, then processed.
//!
//! [`receive`] does only what must happen before Daraja gets its answer: parse the body (a body
//! that does not parse is refused and nothing is stored), find the purchase by the SHA-256 of the
//! token in the URL, and store the raw callback. [`process`] then settles the purchase through
//! [`super::settle`]; the request's own task runs it at once, and the jobs loop runs it for any
//! row still unprocessed (the service stopped in between), so nothing accepted is lost.
//!
//! Why a hash and not the token: a copy of the database (a backup, a replica) must not let anyone
//! post a valid callback. The lookup is by the hash of what was presented, so its timing says
//! nothing about how close a guess was; the hashes are then also compared in constant time.

use deadpool_postgres::Pool;
use serde_json::Value;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::settle::{self, Outcome, Settled, Source};
use super::{PaymentError, Payments, token_hash};
use crate::db::{service_transaction, tenant_transaction};
use crate::mpesa::callback::{StkCallback, parse_stk_callback};

/// Why a callback was not stored.
#[derive(Debug, thiserror::Error)]
pub enum CallbackRefusal {
    #[error("malformed callback: {0}")]
    Malformed(String),
    /// The token names no purchase: nothing is stored (Daraja is still answered 200).
    #[error("unknown callback token")]
    UnknownToken,
    #[error(transparent)]
    Failed(#[from] PaymentError),
}

impl crate::db::Transient for CallbackRefusal {
    fn is_transient(&self) -> bool {
        matches!(self, CallbackRefusal::Failed(e) if crate::db::Transient::is_transient(e))
    }
}

/// A stored callback, to process.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub tenant: Uuid,
    pub callback: Uuid,
}

/// Checks and stores an STK callback.
pub async fn receive(
    pool: &Pool,
    token: &str,
    body: &[u8],
    source_ip: Option<std::net::IpAddr>,
) -> Result<Stored, CallbackRefusal> {
    let cb = parse_stk_callback(body).map_err(|e| CallbackRefusal::Malformed(e.to_string()))?;
    let json: Value =
        serde_json::from_slice(body).map_err(|e| CallbackRefusal::Malformed(e.to_string()))?;
    if token.is_empty() || token.len() > 100 {
        return Err(CallbackRefusal::UnknownToken);
    }
    let hash = token_hash(token);
    // Daraja does not post a callback twice: wait for a connection however busy the pool is.
    let mut client = crate::db::get_patient(pool)
        .await
        .map_err(PaymentError::from)?;
    let tx = service_transaction(&mut client)
        .await
        .map_err(PaymentError::from)?;
    let row = tx
        .query_opt(
            "SELECT tenant_id, purchase_id, callback_token_hash
             FROM purchase_by_callback_token($1)",
            &[&hash],
        )
        .await
        .map_err(PaymentError::from)?;
    tx.commit().await.map_err(PaymentError::from)?;
    let Some(row) = row else {
        return Err(CallbackRefusal::UnknownToken);
    };
    let stored_hash: Vec<u8> = row.get(2);
    if !bool::from(stored_hash.ct_eq(&hash)) {
        return Err(CallbackRefusal::UnknownToken);
    }
    let tenant: Uuid = row.get(0);
    let purchase: Uuid = row.get(1);
    let tx = tenant_transaction(&mut client, tenant, None)
        .await
        .map_err(PaymentError::from)?;
    let id: Uuid = tx
        .query_one(
            "INSERT INTO mpesa_callbacks (tenant_id, kind, purchase_id, reference, body, source_ip)
             VALUES ($1, 'stk', $2, $3, $4, $5::text::inet) RETURNING id",
            &[
                &tenant,
                &purchase,
                &cb.checkout_request_id,
                &json,
                &source_ip.map(|ip| ip.to_string()),
            ],
        )
        .await
        .map_err(PaymentError::from)?
        .get(0);
    tx.commit().await.map_err(PaymentError::from)?;
    Ok(Stored {
        tenant,
        callback: id,
    })
}

/// The outcome an STK callback reports.
pub fn outcome_of(cb: &StkCallback) -> Outcome {
    match &cb.payment {
        Some(p) if cb.result.is_success() => Outcome::Paid {
            amount_cents: p.amount_cents,
            receipt: Some(p.receipt.clone()),
            description: cb.description.clone(),
        },
        _ => Outcome::Failed {
            code: cb.result.clone(),
            description: cb.description.clone(),
        },
    }
}

/// Processes one stored callback, once: a row already processed (or being processed by another
/// task) is left alone. Returns what settling did, if this call processed it.
pub async fn process(
    payments: &Payments,
    pool: &Pool,
    stored: Stored,
) -> Result<Option<Settled>, PaymentError> {
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, stored.tenant, None).await?;
    let Some(row) = tx
        .query_opt(
            "SELECT purchase_id, body FROM mpesa_callbacks
             WHERE id = $1 AND kind = 'stk' AND processed_at IS NULL
             FOR UPDATE SKIP LOCKED",
            &[&stored.callback],
        )
        .await?
    else {
        return Ok(None);
    };
    let purchase: Option<Uuid> = row.get(0);
    let body: Value = row.get(1);
    let result = match (purchase, parse_stk_callback(body.to_string().as_bytes())) {
        (Some(purchase), Ok(cb)) => {
            settle::settle(
                &tx,
                payments.config.voucher_valid_days,
                purchase,
                Some(&cb.checkout_request_id),
                &outcome_of(&cb),
                Source::Callback,
                Some(&body),
            )
            .await
        }
        _ => Ok(Settled::Unknown),
    };
    match result {
        Ok(settled) => {
            tx.execute(
                "UPDATE mpesa_callbacks SET processed_at = now(), outcome = $2 WHERE id = $1",
                &[&stored.callback, &settled.label()],
            )
            .await?;
            tx.commit().await?;
            Ok(Some(settled))
        }
        Err(e) => {
            // Leave nothing half done; record the failure so the row is not retried forever
            // (the STK query still settles the purchase).
            drop(tx);
            tracing::error!(callback = %stored.callback, error = %e, "processing a callback failed");
            let tx = tenant_transaction(&mut client, stored.tenant, None).await?;
            tx.execute(
                "UPDATE mpesa_callbacks SET processed_at = now(), outcome = $2
                 WHERE id = $1 AND processed_at IS NULL",
                &[&stored.callback, &format!("error: {e}")],
            )
            .await?;
            tx.commit().await?;
            Err(e)
        }
    }
}
