//! Starting a purchase for a router (`POST /sync/v1/purchases`) and reading where it stands.
//!
//! Order of work: checks and the purchase row in one transaction (committed before Daraja is
//! called, so a second tap or a retry finds it and never sends a second push), then the STK push
//! outside any transaction, then its answer recorded.

use deadpool_postgres::{Pool, Transaction};
use hotspot_shared::purchase::{
    PaymentFailure, PurchaseRefusal, PurchaseRequest, PurchaseState, PurchaseStatus, RefusalReason,
};
use hotspot_shared::sync::{Voucher, VoucherType};
use uuid::Uuid;

use super::{
    PaymentError, Payments, StoredSettings, failure_for_push_error, failure_from_name,
    failure_name, new_token, token_hash,
};
use crate::db::tenant_transaction;
use crate::mpesa::{DarajaClient, MpesaError, StkAccepted, StkPush};
use crate::sync::device::Device;

/// Why a purchase was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{}", .0.message)]
    Refused(PurchaseRefusal),
    #[error(transparent)]
    Failed(#[from] PaymentError),
}

impl From<tokio_postgres::Error> for StartError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for StartError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<crate::db::DbError> for StartError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Failed(e.into())
    }
}

fn refuse(reason: RefusalReason, message: &str) -> StartError {
    StartError::Refused(PurchaseRefusal {
        reason,
        message: message.to_owned(),
    })
}

/// Starts (or finds again) the purchase `req` asks for, sending the STK push when it is new.
pub async fn start(
    payments: &Payments,
    pool: &Pool,
    device: &Device,
    req: &PurchaseRequest,
) -> Result<PurchaseState, StartError> {
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, device.tenant_id, None).await?;
    if let Some(id) = by_request(&tx, device.hotspot_id, req.request_id).await? {
        let state = state(&tx, device.hotspot_id, id).await?;
        tx.commit().await?;
        return state.ok_or_else(|| refuse(RefusalReason::Invalid, "purchase vanished"));
    }

    let package = tx
        .query_opt(
            "SELECT name, price::bigint, price >= 1 AND price = trunc(price) AND currency = 'KES'
             FROM service_packages
             WHERE id = $1 AND package_type = 'hotspot' AND is_active AND deleted_at IS NULL
               AND package_sold_at(id, $2)",
            &[&req.package_id, &device.hotspot_id],
        )
        .await?;
    let Some(package) = package else {
        return Err(refuse(
            RefusalReason::UnknownPackage,
            "this package is not for sale here",
        ));
    };
    let (package_name, amount, sellable): (String, i64, bool) =
        (package.get(0), package.get(1), package.get(2));
    if !sellable {
        return Err(refuse(
            RefusalReason::UnknownPackage,
            "this package cannot be paid with M-Pesa",
        ));
    }
    let unavailable = || {
        refuse(
            RefusalReason::PaymentsUnavailable,
            "M-Pesa payments are not available at this hotspot",
        )
    };
    let Some(settings) = StoredSettings::load(&tx).await? else {
        return Err(unavailable());
    };
    let daraja = match payments.client(&settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(tenant = %device.tenant_id, error = %e, "purchase refused: M-Pesa not usable");
            return Err(unavailable());
        }
    };
    let token = new_token();
    let Some(callback_url) = payments.callback_url(&token) else {
        tracing::warn!("purchase refused: no public callback URL configured");
        return Err(unavailable());
    };

    let first_query = payments.config.first_query_after.as_secs_f64();
    let inserted = tx
        .query_opt(
            "INSERT INTO hotspot_purchases (tenant_id, hotspot_id, device_id, request_id,
                 service_package_id, package_name, amount, phone_number, client_mac, client_ip,
                 callback_token_hash, next_query_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7::bigint, $8, $9, $10::text::inet, $11,
                     now() + make_interval(secs => $12))
             ON CONFLICT DO NOTHING
             RETURNING id",
            &[
                &device.tenant_id,
                &device.hotspot_id,
                &device.id,
                &req.request_id,
                &req.package_id,
                &package_name,
                &amount,
                &req.phone.as_str(),
                &req.mac.to_string(),
                &req.ip.map(|ip| ip.to_string()),
                &token_hash(&token),
                &first_query,
            ],
        )
        .await?;
    let id: Uuid = match inserted {
        Some(row) => row.get(0),
        None => {
            // The same request_id raced us, or a push for this guest and package is under way:
            // answer that purchase.
            let existing = match by_request(&tx, device.hotspot_id, req.request_id).await? {
                Some(id) => Some(id),
                None => tx
                    .query_opt(
                        "SELECT id FROM hotspot_purchases
                         WHERE hotspot_id = $1 AND phone_number = $2 AND service_package_id = $3
                           AND status = 'pending'",
                        &[&device.hotspot_id, &req.phone.as_str(), &req.package_id],
                    )
                    .await?
                    .map(|r| r.get(0)),
            };
            let Some(id) = existing else {
                return Err(refuse(RefusalReason::Invalid, "try again"));
            };
            let state = state(&tx, device.hotspot_id, id).await?;
            tx.commit().await?;
            return state.ok_or_else(|| refuse(RefusalReason::Invalid, "try again"));
        }
    };
    tx.commit().await?;
    drop(client);

    let push = StkPush {
        phone: req.phone.clone(),
        amount_kes: u32::try_from(amount).unwrap_or(u32::MAX),
        account_reference: package_name.clone(),
        description: "WiFi package".into(),
        callback_url,
    };
    // Callers run this as a task of its own (`routes::payments::start`): a router's request
    // dropped mid-way must not stop between the purchase's commit and its push's record.
    send_push(
        pool,
        &daraja,
        &push,
        device.tenant_id,
        id,
        amount,
        &req.phone.masked(),
    )
    .await?;

    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, device.tenant_id, None).await?;
    let state = state(&tx, device.hotspot_id, id).await?;
    tx.commit().await?;
    payments.wake.notify_one();
    state.ok_or_else(|| refuse(RefusalReason::Invalid, "purchase vanished"))
}

/// Sends the STK push of the purchase `id` and records its outcome: the checkout id when
/// Daraja accepted it, else the purchase failed with the reason.
///
/// Once the push is out the guest may already be paying, so its record must not be lost to load
/// or to a failover: the connection is waited for as long as it takes (the pool's bounded wait
/// would give up with the checkout id in hand, leaving the purchase pending with nothing to
/// query Daraja with), and a transient failure is retried. The record is idempotent.
async fn send_push(
    pool: &Pool,
    daraja: &DarajaClient,
    push: &StkPush,
    tenant: Uuid,
    id: Uuid,
    amount: i64,
    phone: &str,
) -> Result<(), StartError> {
    let result = daraja.stk_push(push).await;
    match &result {
        Ok(_) => tracing::info!(purchase = %id, phone, amount, "STK push accepted"),
        Err(e) => tracing::warn!(purchase = %id, error = %e, "STK push refused"),
    }
    crate::db::retry_transient(|| record_push(pool, tenant, id, &result)).await?;
    Ok(())
}

async fn record_push(
    pool: &Pool,
    tenant: Uuid,
    id: Uuid,
    result: &Result<StkAccepted, MpesaError>,
) -> Result<(), crate::db::DbError> {
    let mut client = crate::db::get_patient(pool).await?;
    let tx = tenant_transaction(&mut client, tenant, None).await?;
    match result {
        Ok(accepted) => {
            tx.execute(
                "UPDATE hotspot_purchases
                 SET merchant_request_id = $2, checkout_request_id = $3, push_sent_at = now()
                 WHERE id = $1 AND status = 'pending'",
                &[
                    &id,
                    &accepted.merchant_request_id,
                    &accepted.checkout_request_id,
                ],
            )
            .await?;
        }
        Err(e) => {
            tx.execute(
                "UPDATE hotspot_purchases
                 SET status = 'failed', failure_reason = $2, result_desc = $3, settled_at = now(),
                     settled_by = 'push'
                 WHERE id = $1 AND status = 'pending'",
                &[
                    &id,
                    &failure_name(failure_for_push_error(e)),
                    &e.to_string(),
                ],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn by_request(
    tx: &Transaction<'_>,
    hotspot: Uuid,
    request_id: Uuid,
) -> Result<Option<Uuid>, tokio_postgres::Error> {
    Ok(tx
        .query_opt(
            "SELECT id FROM hotspot_purchases WHERE hotspot_id = $1 AND request_id = $2",
            &[&hotspot, &request_id],
        )
        .await?
        .map(|r| r.get(0)))
}

/// The purchase's state as the router sees it, if it is this hotspot's.
pub async fn state(
    tx: &Transaction<'_>,
    hotspot: Uuid,
    id: Uuid,
) -> Result<Option<PurchaseState>, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "SELECT p.amount::bigint, p.status, p.failure_reason,
                    coalesce(p.mpesa_receipt_number, p.checkout_request_id, ''),
                    v.id, v.voucher_code, v.voucher_type, v.service_package_id,
                    v.duration_minutes, v.data_limit_mb, coalesce(v.max_devices, 1),
                    (extract(epoch FROM v.expiry_date) * 1000)::bigint
             FROM hotspot_purchases p
             LEFT JOIN hotspot_vouchers v ON v.id = p.voucher_id
             WHERE p.id = $1 AND p.hotspot_id = $2",
            &[&id, &hotspot],
        )
        .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let count = |v: Option<i32>| v.and_then(|n| u32::try_from(n).ok());
    let status = match (r.get::<_, String>(1).as_str(), r.get::<_, Option<Uuid>>(4)) {
        ("paid", Some(voucher_id)) => PurchaseStatus::Paid {
            receipt: r.get(3),
            voucher: Voucher {
                id: voucher_id,
                code: r.get(5),
                voucher_type: match r.get::<_, String>(6).as_str() {
                    "data_based" => VoucherType::DataBased,
                    "unlimited" => VoucherType::Unlimited,
                    _ => VoucherType::TimeBased,
                },
                plan_id: r.get(7),
                duration_minutes: count(r.get(8)),
                data_limit_mb: count(r.get(9)),
                max_devices: count(Some(r.get(10))).unwrap_or(1),
                expires_ms: r.get(11),
                used_by: Vec::new(),
                revoked: false,
            },
        },
        ("failed", _) => PurchaseStatus::Failed {
            reason: r
                .get::<_, Option<String>>(2)
                .as_deref()
                .map_or(PaymentFailure::Other, failure_from_name),
        },
        _ => PurchaseStatus::Pending,
    };
    Ok(Some(PurchaseState {
        purchase_id: id,
        amount_kes: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
        status,
    }))
}

/// `GET /sync/v1/purchases/{id}` for `device`.
pub async fn state_for(
    pool: &Pool,
    device: &Device,
    id: Uuid,
) -> Result<Option<PurchaseState>, PaymentError> {
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, device.tenant_id, None).await?;
    let s = state(&tx, device.hotspot_id, id).await?;
    tx.commit().await?;
    Ok(s)
}
