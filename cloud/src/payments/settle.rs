//! The one code path that ends a purchase, whatever told us the result: a callback, an STK query,
//! or the time allowed running out. The purchase row is locked first, so a callback and a query
//! arriving together settle it once, and anything after the first result changes nothing.
//!
//! A paid purchase gets, in one transaction: a voucher for its hotspot from the package (max one
//! device, the receipt as `mpesa_receipt_number`), a completed `billing_payments` row, and the
//! wallet movements of seed 000 for the payer (a `credit` with the M-Pesa receipt and the
//! `payment` that spends it on the package, so the balance is unchanged), the payer being the
//! tenant's client with that phone number, created as a hotspot guest when there is none.

use deadpool_postgres::Transaction;
use hotspot_shared::purchase::PaymentFailure;
use serde_json::Value;
use uuid::Uuid;

use super::{PaymentError, failure_for, failure_name};
use crate::mpesa::ResultCode;

/// What Daraja (or the clock) says about a push.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Paid. A callback brings the amount and the receipt; a query brings neither (the amount is
    /// then the one we asked, as Daraja itself confirmed the push we sent).
    Paid {
        amount_cents: i64,
        receipt: Option<String>,
        description: String,
    },
    /// Not paid, with Daraja's result code.
    Failed {
        code: ResultCode,
        description: String,
    },
    /// No result in the time allowed, or the push's answer never came back.
    GaveUp(PaymentFailure),
}

/// Who reported the outcome (stored in `settled_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Callback,
    Query,
    Timeout,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::Query => "query",
            Self::Timeout => "timeout",
        }
    }
}

/// What settling did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Paid,
    Failed,
    /// The purchase was already paid or failed: nothing changed.
    AlreadyFinal,
    /// A late report of a purchase already paid without a receipt: its receipt was recorded on
    /// the purchase, voucher, payment and wallet rows; nothing else changed.
    ReceiptAdded,
    /// No such purchase, or the checkout id is not its own: nothing changed.
    Unknown,
    /// The report disagreed with the purchase (amount, a receipt seen before): nothing issued,
    /// the purchase flagged for an operator and left to the STK query.
    Review(String),
}

impl Settled {
    /// The word stored as a callback's outcome.
    pub fn label(&self) -> String {
        match self {
            Self::Paid => "applied: paid".into(),
            Self::Failed => "applied: failed".into(),
            Self::AlreadyFinal => "duplicate".into(),
            Self::ReceiptAdded => "duplicate: receipt added".into(),
            Self::Unknown => "unknown".into(),
            Self::Review(why) => format!("review: {why}"),
        }
    }
}

/// Settles purchase `id` (in the caller's tenant transaction; the caller commits).
/// `checkout` must be the purchase's CheckoutRequestID when the report named one.
pub async fn settle(
    tx: &Transaction<'_>,
    voucher_valid_days: u32,
    id: Uuid,
    checkout: Option<&str>,
    outcome: &Outcome,
    source: Source,
    payload: Option<&Value>,
) -> Result<Settled, PaymentError> {
    let Some(p) = tx
        .query_opt(
            "SELECT status, checkout_request_id, (amount * 100)::bigint, hotspot_id,
                    service_package_id, phone_number, client_mac, merchant_request_id, amount
             FROM hotspot_purchases WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
    else {
        return Ok(Settled::Unknown);
    };
    let own_checkout: Option<String> = p.get(1);
    if let Some(c) = checkout
        && own_checkout.as_deref() != Some(c)
    {
        return Ok(Settled::Unknown);
    }
    let cents: i64 = p.get(2);
    if p.get::<_, String>(0) != "pending" {
        // A purchase the STK query settled has no receipt (the query reports none); the late
        // callback's receipt is recorded, and nothing else changes.
        if let Outcome::Paid {
            amount_cents,
            receipt: Some(r),
            ..
        } = outcome
            && *amount_cents == cents
            && add_receipt(tx, id, r).await?
        {
            return Ok(Settled::ReceiptAdded);
        }
        return Ok(Settled::AlreadyFinal);
    }
    let hotspot: Uuid = p.get(3);
    let package: Option<Uuid> = p.get(4);
    let phone: String = p.get(5);
    let mac: String = p.get(6);
    let merchant: Option<String> = p.get(7);
    let reference = own_checkout.clone().unwrap_or_else(|| id.to_string());

    let (amount_cents, receipt, description) = match outcome {
        Outcome::Failed { code, description } => {
            tx.execute(
                "UPDATE hotspot_purchases
                 SET status = 'failed', failure_reason = $2, result_code = $3, result_desc = $4,
                     settled_at = now(), settled_by = $5
                 WHERE id = $1",
                &[
                    &id,
                    &failure_name(failure_for(code)),
                    &code.as_code(),
                    &description,
                    &source.as_str(),
                ],
            )
            .await?;
            return Ok(Settled::Failed);
        }
        Outcome::GaveUp(failure) => {
            tx.execute(
                "UPDATE hotspot_purchases
                 SET status = 'failed', failure_reason = $2,
                     result_desc = 'no result from M-Pesa in the time allowed',
                     settled_at = now(), settled_by = 'timeout'
                 WHERE id = $1",
                &[&id, &failure_name(*failure)],
            )
            .await?;
            return Ok(Settled::Failed);
        }
        Outcome::Paid {
            amount_cents,
            receipt,
            description,
        } => (*amount_cents, receipt.clone(), description.clone()),
    };

    let flag = |why: String| async move {
        tx.execute(
            "UPDATE hotspot_purchases SET review_reason = $2 WHERE id = $1",
            &[&id, &why],
        )
        .await?;
        Ok::<_, PaymentError>(Settled::Review(why))
    };
    if amount_cents != cents {
        tracing::warn!(purchase = %id, amount_cents, expected = cents, "payment amount differs");
        return flag(format!(
            "reported amount {}.{:02} differs from the {}.{:02} charged",
            amount_cents / 100,
            amount_cents % 100,
            cents / 100,
            cents % 100
        ))
        .await;
    }
    if let Some(r) = &receipt {
        let seen: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM hotspot_purchases WHERE mpesa_receipt_number = $1)
                     OR EXISTS (SELECT 1 FROM billing_payments WHERE mpesa_receipt_number = $1)",
                &[r],
            )
            .await?
            .get(0);
        if seen {
            tracing::warn!(purchase = %id, "payment receipt seen before");
            return flag(format!("receipt {r} was already used")).await;
        }
    }
    let Some(package) = package else {
        return flag("the package was deleted before payment".into()).await;
    };

    let voucher: Uuid = tx
        .query_one(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, voucher_type,
                 duration_minutes, data_limit_mb, price, currency, max_devices, expiry_date,
                 payment_reference, mpesa_receipt_number, service_package_id)
             SELECT p.tenant_id, $1, generate_voucher_code(),
                    CASE WHEN p.duration_minutes IS NOT NULL THEN 'time_based'
                         WHEN p.data_limit_mb IS NOT NULL THEN 'data_based'
                         ELSE 'unlimited' END,
                    p.duration_minutes, p.data_limit_mb, $2::bigint / 100.0, 'KES', 1,
                    now() + make_interval(days => $3), $4, $5, p.id
             FROM service_packages p WHERE p.id = $6
             RETURNING id",
            &[
                &hotspot,
                &cents,
                &(voucher_valid_days.min(3650) as i32),
                &reference,
                &receipt,
                &package,
            ],
        )
        .await?
        .get(0);
    let client: Uuid = match tx
        .query_opt(
            "SELECT id FROM clients
             WHERE (phone = $1 OR mpesa_number = $1) AND deleted_at IS NULL
             ORDER BY created_at LIMIT 1",
            &[&phone],
        )
        .await?
    {
        Some(r) => r.get(0),
        None => tx
            .query_one(
                "INSERT INTO clients (tenant_id, name, phone, mpesa_number, connection_type, status,
                                      notes)
                 VALUES (app_current_tenant(), 'Hotspot guest', $1, $1, 'hotspot', 'active',
                         'Created by an M-Pesa hotspot purchase')
                 RETURNING id",
                &[&phone],
            )
            .await?
            .get(0),
    };
    let payment: Uuid = tx
        .query_one(
            "INSERT INTO billing_payments (tenant_id, client_id, hotspot_id, service_package_id,
                 voucher_id, amount, payment_method, purpose, status, phone_number, client_mac,
                 mpesa_receipt_number, merchant_request_id, checkout_request_id, result_code,
                 result_desc, reference_number, confirmed_by_query_at, callback_payload, paid_at)
             VALUES (app_current_tenant(), $1, $2, $3, $4, $5::bigint / 100.0, 'mpesa',
                     'hotspot_package', 'completed', $6, $7, $8, $9, $10, 0, $11, $12,
                     CASE WHEN $13 THEN now() END, $14, now())
             RETURNING id",
            &[
                &client,
                &hotspot,
                &package,
                &voucher,
                &cents,
                &phone,
                &mac,
                &receipt,
                &merchant,
                &own_checkout,
                &description,
                &id.to_string(),
                &(source == Source::Query),
                &payload,
            ],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO wallet_transactions (tenant_id, client_id, transaction_type, amount,
             description, reference_number, mpesa_receipt_number, payment_id)
         VALUES (app_current_tenant(), $1, 'credit', $2::bigint / 100.0, 'M-Pesa payment', $3, $4, $5),
                (app_current_tenant(), $1, 'payment', $2::bigint / 100.0,
                 'Hotspot package ' || (SELECT name FROM service_packages WHERE id = $6), $3, $4, $5)",
        &[&client, &cents, &reference, &receipt, &payment, &package],
    )
    .await?;
    tx.execute(
        "UPDATE hotspot_purchases
         SET status = 'paid', voucher_id = $2, payment_id = $3, client_id = $4,
             mpesa_receipt_number = $5, result_code = '0', result_desc = $6, settled_at = now(),
             settled_by = $7
         WHERE id = $1",
        &[
            &id,
            &voucher,
            &payment,
            &client,
            &receipt,
            &description,
            &source.as_str(),
        ],
    )
    .await?;
    tracing::info!(purchase = %id, voucher = %voucher, source = source.as_str(), "purchase paid");
    Ok(Settled::Paid)
}

/// Records receipt `r` on paid purchase `id` and the rows it made, when the purchase has none
/// and no payment has used `r`. Returns whether it did.
async fn add_receipt(tx: &Transaction<'_>, id: Uuid, r: &str) -> Result<bool, PaymentError> {
    let Some(row) = tx
        .query_opt(
            "UPDATE hotspot_purchases SET mpesa_receipt_number = $2
             WHERE id = $1 AND status = 'paid' AND mpesa_receipt_number IS NULL
               AND NOT EXISTS (SELECT 1 FROM hotspot_purchases WHERE mpesa_receipt_number = $2)
               AND NOT EXISTS (SELECT 1 FROM billing_payments WHERE mpesa_receipt_number = $2)
             RETURNING voucher_id, payment_id",
            &[&id, &r],
        )
        .await?
    else {
        return Ok(false);
    };
    let voucher: Option<Uuid> = row.get(0);
    let payment: Option<Uuid> = row.get(1);
    tx.execute(
        "UPDATE hotspot_vouchers SET mpesa_receipt_number = $2
         WHERE id = $1 AND mpesa_receipt_number IS NULL",
        &[&voucher, &r],
    )
    .await?;
    tx.execute(
        "UPDATE billing_payments SET mpesa_receipt_number = $2
         WHERE id = $1 AND mpesa_receipt_number IS NULL",
        &[&payment, &r],
    )
    .await?;
    tx.execute(
        "UPDATE wallet_transactions SET mpesa_receipt_number = $2
         WHERE payment_id = $1 AND mpesa_receipt_number IS NULL",
        &[&payment, &r],
    )
    .await?;
    tracing::info!(purchase = %id, "receipt of a purchase settled by query recorded");
    Ok(true)
}
