//! Seed 000's payment functions as operators' endpoints: wallet credit, process payment, check
//! payment status, payment history, printable receipt, package renewal from the wallet
//! (`process_subscription_renewal`) and the automatic renewals run
//! (`handle_automatic_renewals`). M-Pesa purchases themselves start at the router
//! (`/sync/v1/purchases`); their state is readable here.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::{Admin, Auth, Finance};
use super::error::{ApiError, ApiResult};
use super::{Body, Params, json_row, json_rows};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/wallet/credit", post(wallet_credit))
        .route("/api/v1/payments", get(history).post(process_payment))
        .route("/api/v1/payments/{id}/status", get(status))
        .route("/api/v1/payments/{id}/receipt", get(receipt))
        .route("/api/v1/clients/{id}/renew", post(renew))
        .route("/api/v1/renewals/run", post(run_renewals))
        .route("/api/v1/mpesa-settings/register-c2b", post(register_c2b))
        .route("/api/v1/purchases", get(purchases))
        .route("/api/v1/c2b-payments", get(c2b_payments))
}

/// An amount in shillings with at most two decimals, as text for `::numeric`.
fn amount_text(field: &str, amount: f64) -> ApiResult<String> {
    if !(amount.is_finite() && amount > 0.0 && amount < 1e9)
        || (amount * 100.0).fract().abs() > 1e-6
    {
        return Err(ApiError::field(
            field,
            "must be a positive amount with at most two decimals",
        ));
    }
    Ok(format!("{amount:.2}"))
}

/// A credit to a client's wallet.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalletCredit {
    pub client_id: Uuid,
    /// Shillings.
    pub amount: f64,
    pub description: Option<String>,
    pub reference_number: Option<String>,
    pub mpesa_receipt_number: Option<String>,
}

/// `POST /api/v1/wallet/credit`: adds to the client's wallet; answers the transaction and the
/// new balance. A receipt number already credited is a conflict (the same money twice), and an
/// `Idempotency-Key` already used answers the first credit.
#[utoipa::path(post, path = "/api/v1/wallet/credit", tag = "wallet", request_body = WalletCredit,
    params(("Idempotency-Key" = Option<Uuid>, Header,
        description = "the same key again answers the first credit (`replayed`) and credits nothing")),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
        (status = 409, body = super::error::Problem), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn wallet_credit(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    IdempotencyKey(key): IdempotencyKey,
    Body(c): Body<WalletCredit>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let credited = credit_wallet(&tx, &c, key).await?;
    tx.commit().await?;
    Ok(Json(credited))
}

/// Credits a client's wallet in the caller's tenant transaction: the amount checked, a receipt
/// number already credited refused as a conflict (the same money twice; a `reference_number`
/// is not checked), the balance raised and a `credit` transaction written. Answers the
/// transaction and the new balance; a client absent or of another tenant is `NotFound`. What
/// the API's `POST /api/v1/wallet/credit` and the console's client page do.
pub(crate) async fn credit_wallet(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &WalletCredit,
    key: Option<Uuid>,
) -> ApiResult<Value> {
    let amount = amount_text("amount", c.amount)?;
    if let Some(earlier) = done_before(tx, key, c.client_id, "credit", Some(&amount)).await? {
        let balance = json_row(
            tx,
            "SELECT wallet_balance FROM clients WHERE id = $1",
            &[&c.client_id],
        )
        .await?;
        return Ok(json!({
            "transaction": earlier,
            "wallet_balance": balance["wallet_balance"],
            "replayed": true,
        }));
    }
    if let Some(r) = &c.mpesa_receipt_number {
        let seen: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM wallet_transactions
                                WHERE mpesa_receipt_number = $1 AND transaction_type = 'credit')",
                &[r],
            )
            .await?
            .get(0);
        if seen {
            return Err(ApiError::Conflict(
                "this receipt was already credited".into(),
            ));
        }
    }
    let balance = json_row(
        tx,
        "UPDATE clients SET wallet_balance = wallet_balance + $2::text::numeric
         WHERE id = $1 AND deleted_at IS NULL RETURNING wallet_balance",
        &[&c.client_id, &amount],
    )
    .await?;
    let transaction = json_row(
        tx,
        "INSERT INTO wallet_transactions (tenant_id, client_id, transaction_type, amount,
             description, reference_number, mpesa_receipt_number, idempotency_key)
         VALUES (app_current_tenant(), $1, 'credit', $2::text::numeric,
                 coalesce($3, 'Wallet credit'), $4, $5, $6)
         RETURNING *",
        &[
            &c.client_id,
            &amount,
            &c.description,
            &c.reference_number,
            &c.mpesa_receipt_number,
            &key,
        ],
    )
    .await?;
    Ok(json!({"transaction": transaction, "wallet_balance": balance["wallet_balance"]}))
}

/// The `Idempotency-Key` header of a wallet credit or a renewal: a UUID the caller chose, so
/// that the same request sent again (a retry after a lost answer, a second tap) is done once.
/// Absent means no such guard; anything but a UUID is 422.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyKey(pub Option<Uuid>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        match parts.headers.get("idempotency-key") {
            None => Ok(IdempotencyKey(None)),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|v| Uuid::parse_str(v.trim()).ok())
                .map(|k| IdempotencyKey(Some(k)))
                .ok_or_else(|| ApiError::field("Idempotency-Key", "must be a UUID")),
        }
    }
}

/// The wallet transaction an earlier request with `key` wrote, if any: the same request (the
/// same client, kind and, when given, amount) answers it; another request under a key already
/// used is a conflict, with nothing done.
async fn done_before(
    tx: &deadpool_postgres::Transaction<'_>,
    key: Option<Uuid>,
    client_id: Uuid,
    kind: &str,
    amount: Option<&str>,
) -> ApiResult<Option<Value>> {
    let Some(key) = key else { return Ok(None) };
    let found = json_rows(
        tx,
        "SELECT w.*, (w.client_id = $2 AND w.transaction_type = $3
                      AND ($4::text IS NULL OR w.amount = $4::text::numeric)) AS same_request
         FROM wallet_transactions w WHERE w.idempotency_key = $1",
        &[&key, &client_id, &kind, &amount],
    )
    .await?;
    let Some(mut earlier) = found.into_iter().next() else {
        return Ok(None);
    };
    if earlier["same_request"] != Value::Bool(true) {
        return Err(ApiError::Conflict(
            "this Idempotency-Key was used for another request".into(),
        ));
    }
    if let Some(o) = earlier.as_object_mut() {
        o.remove("same_request");
    }
    Ok(Some(earlier))
}

/// A payment received (cash, bank transfer, card, M-Pesa or from the wallet).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    pub client_id: Uuid,
    /// Shillings.
    pub amount: f64,
    /// `mpesa`, `cash`, `bank_transfer`, `card` or `wallet`.
    pub payment_method: String,
    /// `invoice` (with `invoice_id`), `wallet_topup` or `other`.
    pub purpose: String,
    pub invoice_id: Option<Uuid>,
    pub reference_number: Option<String>,
    pub mpesa_receipt_number: Option<String>,
}

/// `POST /api/v1/payments`: records a completed payment. A top-up credits the wallet; a payment
/// of an invoice adds to what it has been paid (and marks it paid when covered); paying from the
/// wallet debits it (refused when the balance is short).
#[utoipa::path(post, path = "/api/v1/payments", tag = "payments", request_body = PaymentInput,
    responses((status = 201, body = Object), (status = 404, body = super::error::Problem),
        (status = 409, body = super::error::Problem), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn process_payment(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    Body(p): Body<PaymentInput>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let amount = amount_text("amount", p.amount)?;
    if !["mpesa", "cash", "bank_transfer", "card", "wallet"].contains(&p.payment_method.as_str()) {
        return Err(ApiError::field("payment_method", "is not a payment method"));
    }
    match (p.purpose.as_str(), p.invoice_id) {
        ("invoice", Some(_)) | ("wallet_topup" | "other", None) => {}
        ("invoice", None) => return Err(ApiError::field("invoice_id", "is required")),
        ("wallet_topup" | "other", Some(_)) => {
            return Err(ApiError::field("invoice_id", "only for purpose invoice"));
        }
        _ => {
            return Err(ApiError::field(
                "purpose",
                "must be invoice, wallet_topup or other",
            ));
        }
    }
    if p.purpose == "wallet_topup" && p.payment_method == "wallet" {
        return Err(ApiError::field(
            "payment_method",
            "a top-up cannot come from the wallet",
        ));
    }
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    // The client exists in this tenant (404 otherwise).
    json_row(
        &tx,
        "SELECT id FROM clients WHERE id = $1 AND deleted_at IS NULL",
        &[&p.client_id],
    )
    .await?;
    if let Some(r) = &p.mpesa_receipt_number {
        let seen: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM billing_payments WHERE mpesa_receipt_number = $1)",
                &[r],
            )
            .await?
            .get(0);
        if seen {
            return Err(ApiError::Conflict(
                "this receipt was already recorded".into(),
            ));
        }
    }
    if p.payment_method == "wallet" {
        let n = tx
            .execute(
                "UPDATE clients SET wallet_balance = wallet_balance - $2::text::numeric
                 WHERE id = $1 AND wallet_balance >= $2::text::numeric",
                &[&p.client_id, &amount],
            )
            .await?;
        if n == 0 {
            return Err(ApiError::Conflict("the wallet balance is too low".into()));
        }
    }
    let payment = json_row(
        &tx,
        "INSERT INTO billing_payments (tenant_id, client_id, invoice_id, amount, payment_method,
             purpose, status, reference_number, mpesa_receipt_number, paid_at, created_by)
         VALUES (app_current_tenant(), $1, $2, $3::text::numeric, $4, $5, 'completed', $6, $7,
                 now(), $8)
         RETURNING *",
        &[
            &p.client_id,
            &p.invoice_id,
            &amount,
            &p.payment_method,
            &p.purpose,
            &p.reference_number,
            &p.mpesa_receipt_number,
            &auth.user_id,
        ],
    )
    .await?;
    let payment_id: Uuid = serde_json::from_value(payment["id"].clone())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let wallet_kind = match (p.purpose.as_str(), p.payment_method.as_str()) {
        ("wallet_topup", _) => Some("credit"),
        (_, "wallet") => Some("payment"),
        _ => None,
    };
    if let Some(kind) = wallet_kind {
        if kind == "credit" {
            tx.execute(
                "UPDATE clients SET wallet_balance = wallet_balance + $2::text::numeric
                 WHERE id = $1",
                &[&p.client_id, &amount],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO wallet_transactions (tenant_id, client_id, transaction_type, amount,
                 description, reference_number, mpesa_receipt_number, payment_id)
             VALUES (app_current_tenant(), $1, $2, $3::text::numeric, $4, $5, $6, $7)",
            &[
                &p.client_id,
                &kind,
                &amount,
                &if kind == "credit" {
                    "Wallet top-up"
                } else {
                    "Paid from the wallet"
                },
                &p.reference_number,
                &p.mpesa_receipt_number,
                &payment_id,
            ],
        )
        .await?;
    }
    if let Some(invoice) = p.invoice_id {
        let n = tx
            .execute(
                "UPDATE billing_invoices
                 SET amount_paid = amount_paid + $2::text::numeric,
                     status = CASE WHEN amount_paid + $2::text::numeric >= total_amount
                                   THEN 'paid' ELSE status END,
                     paid_at = CASE WHEN amount_paid + $2::text::numeric >= total_amount
                                    THEN now() ELSE paid_at END
                 WHERE id = $1 AND client_id = $3 AND status NOT IN ('void', 'paid')",
                &[&invoice, &amount, &p.client_id],
            )
            .await?;
        if n == 0 {
            return Err(ApiError::field(
                "invoice_id",
                "is not an open invoice of this client",
            ));
        }
    }
    tx.commit().await?;
    Ok((axum::http::StatusCode::CREATED, Json(payment)))
}

/// Filters of the payment history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PaymentFilter {
    pub client_id: Option<Uuid>,
    pub hotspot_id: Option<Uuid>,
    /// `pending`, `completed`, `failed`, `cancelled` or `refunded`.
    pub status: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/payments`: payment history, newest first.
#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", params(PaymentFilter),
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    Params(f): Params<PaymentFilter>,
) -> ApiResult<Json<Value>> {
    let limit = super::page_limit(f.limit)?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(
        &tx,
        "SELECT id, client_id, hotspot_id, invoice_id, service_package_id, voucher_id, amount,
                currency, payment_method, purpose, status, phone_number, mpesa_receipt_number,
                checkout_request_id, reference_number, paid_at, created_at
         FROM billing_payments
         WHERE deleted_at IS NULL
           AND ($1::uuid IS NULL OR client_id = $1)
           AND ($2::uuid IS NULL OR hotspot_id = $2)
           AND ($3::text IS NULL OR status = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4)
           AND ($5::timestamptz IS NULL OR created_at < $5)
         ORDER BY created_at DESC, id DESC LIMIT $6",
        &[
            &f.client_id,
            &f.hotspot_id,
            &f.status,
            &f.from,
            &f.to,
            &limit,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Value::Array(rows)))
}

/// `GET /api/v1/payments/{id}/status`: a payment, or a guest's M-Pesa purchase (by its id), and
/// where it stands.
#[utoipa::path(get, path = "/api/v1/payments/{id}/status", tag = "payments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn status(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = match json_row(
        &tx,
        "SELECT 'payment' AS kind, id, status, amount, payment_method, mpesa_receipt_number,
                checkout_request_id, result_code, result_desc, paid_at, created_at
         FROM billing_payments WHERE id = $1 AND deleted_at IS NULL",
        &[&id],
    )
    .await
    {
        Err(ApiError::NotFound) => {
            json_row(
                &tx,
                "SELECT 'mpesa_purchase' AS kind, id, status, amount, failure_reason,
                        mpesa_receipt_number, checkout_request_id, result_code, result_desc,
                        review_reason, settled_by, settled_at, payment_id, voucher_id, created_at
                 FROM hotspot_purchases WHERE id = $1",
                &[&id],
            )
            .await?
        }
        other => other?,
    };
    tx.commit().await?;
    Ok(Json(row))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `GET /api/v1/payments/{id}/receipt`: a printable receipt (HTML) of a completed payment.
#[utoipa::path(get, path = "/api/v1/payments/{id}/receipt", tag = "payments",
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/html", body = String),
        (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn receipt(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let p = json_row(
        &tx,
        "SELECT p.id, p.amount, p.currency, p.payment_method, p.purpose, p.mpesa_receipt_number,
                p.reference_number, p.phone_number, to_char(p.paid_at AT TIME ZONE 'Africa/Nairobi',
                'YYYY-MM-DD HH24:MI') AS paid_at,
                c.name AS client_name, s.name AS package_name, v.voucher_code,
                t.name AS tenant_name, t.phone AS tenant_phone, t.address AS tenant_address
         FROM billing_payments p
         JOIN tenants t ON t.id = p.tenant_id
         LEFT JOIN clients c ON c.id = p.client_id
         LEFT JOIN service_packages s ON s.id = p.service_package_id
         LEFT JOIN hotspot_vouchers v ON v.id = p.voucher_id
         WHERE p.id = $1 AND p.status = 'completed' AND p.deleted_at IS NULL",
        &[&id],
    )
    .await?;
    tx.commit().await?;
    let line = |label: &str, v: &Value| {
        let t = text(v);
        if t.is_empty() {
            String::new()
        } else {
            format!("<tr><th>{}</th><td>{}</td></tr>\n", label, escape(&t))
        }
    };
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Receipt</title><style>\
         body{{font-family:sans-serif;max-width:80mm;margin:5mm}}th{{text-align:left;\
         padding-right:4mm}}h1{{font-size:14pt}}</style></head><body>\
         <h1>{}</h1><p>{}<br>{}</p><h2>Payment receipt</h2><table>\n",
        escape(&text(&p["tenant_name"])),
        escape(&text(&p["tenant_address"])),
        escape(&text(&p["tenant_phone"])),
    );
    for (label, key) in [
        ("Receipt no.", "id"),
        ("Date", "paid_at"),
        ("Paid by", "client_name"),
        ("Phone", "phone_number"),
        ("For", "package_name"),
        ("Purpose", "purpose"),
        ("Method", "payment_method"),
        ("M-Pesa receipt", "mpesa_receipt_number"),
        ("Reference", "reference_number"),
        ("Voucher code", "voucher_code"),
    ] {
        html.push_str(&line(label, &p[key]));
    }
    html.push_str(&format!(
        "<tr><th>Amount</th><td><b>{} {}</b></td></tr></table></body></html>\n",
        escape(&text(&p["currency"])),
        escape(&text(&p["amount"]))
    ));
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// `POST /api/v1/clients/{id}/renew`: renews the client's package from the wallet now
/// (`process_subscription_renewal`); the answer says whether it did and why not.
#[utoipa::path(post, path = "/api/v1/clients/{id}/renew", tag = "wallet",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<Uuid>, Header,
        description = "the same key again answers the first renewal (`replayed`) and debits nothing")),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
        (status = 409, body = super::error::Problem), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn renew(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    IdempotencyKey(key): IdempotencyKey,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let result = renew_client(&tx, id, key).await?;
    tx.commit().await?;
    Ok(Json(result))
}

/// Renews a client's package from the wallet now (`process_subscription_renewal`) in the
/// caller's tenant transaction: `{"success": true, …}` with the new period, or `{"success":
/// false, "error": …}` (no renewal rate, balance short) with nothing changed. A client absent
/// or of another tenant is `NotFound`. What the API's renew and the console's client page do.
/// With `key`, a renewal already done under it answers that renewal (`"replayed": true`) and
/// debits nothing; a successful one keeps the key on its debit.
pub(crate) async fn renew_client(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    key: Option<Uuid>,
) -> ApiResult<Value> {
    let row = json_row(
        tx,
        "SELECT id, wallet_balance, subscription_start_date, subscription_end_date
         FROM clients WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        &[&id],
    )
    .await?;
    if let Some(earlier) = done_before(tx, key, id, "debit", None).await? {
        return Ok(json!({
            "success": true,
            "replayed": true,
            "client_id": id,
            "amount": earlier["amount"],
            "wallet_balance": row["wallet_balance"],
            "subscription_start_date": row["subscription_start_date"],
            "subscription_end_date": row["subscription_end_date"],
        }));
    }
    let result: Value = tx
        .query_one("SELECT process_subscription_renewal($1)", &[&id])
        .await?
        .get(0);
    if let Some(key) = key
        && result["success"] == Value::Bool(true)
    {
        // The function's debit, written in this transaction (its created_at is now()).
        tx.execute(
            "UPDATE wallet_transactions SET idempotency_key = $1
             WHERE client_id = $2 AND transaction_type = 'debit' AND created_at = now()
               AND idempotency_key IS NULL",
            &[&key, &id],
        )
        .await?;
    }
    Ok(result)
}

/// `POST /api/v1/renewals/run`: renews every due client of the tenant from their wallets, or
/// suspends those whose balance is short (`handle_automatic_renewals`; the jobs loop runs it
/// too).
#[utoipa::path(post, path = "/api/v1/renewals/run", tag = "wallet",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn run_renewals(
    State(state): State<AppState>,
    auth: Auth<Admin>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let result: Value = tx
        .query_one("SELECT handle_automatic_renewals()", &[])
        .await?
        .get(0);
    tx.commit().await?;
    Ok(Json(result))
}

/// Where Daraja now sends the tenant's C2B payments.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct C2bRegistered {
    pub confirmation_url: String,
    pub validation_url: String,
}

/// `POST /api/v1/mpesa-settings/register-c2b`: registers this service's C2B validation and
/// confirmation URLs for the tenant's shortcode with Daraja, under a new tenant callback token
/// (the previous token stops working). Daraja allows this once per shortcode in production.
#[utoipa::path(post, path = "/api/v1/mpesa-settings/register-c2b", tag = "mpesa",
    responses((status = 200, body = C2bRegistered), (status = 404, body = super::error::Problem),
        (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn register_c2b(
    State(state): State<AppState>,
    auth: Auth<Admin>,
) -> ApiResult<Json<C2bRegistered>> {
    use crate::payments::{StoredSettings, new_token, token_hash};
    let base = state
        .payments
        .config
        .public_base_url
        .as_ref()
        .ok_or_else(|| ApiError::Conflict("the service has no public URL configured".into()))?;
    let base = base.as_str().trim_end_matches('/').to_owned();
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let settings = StoredSettings::load(&tx).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    let daraja = state
        .payments
        .client(&settings)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    let token = new_token();
    let confirmation = format!("{base}/pay/c2b/confirmation/{token}");
    let validation = format!("{base}/pay/c2b/validation/{token}");
    let parse = |u: &str| reqwest::Url::parse(u).map_err(|e| ApiError::Internal(e.to_string()));
    daraja
        .register_c2b_urls(
            crate::mpesa::C2bResponseType::Completed,
            &parse(&confirmation)?,
            &parse(&validation)?,
        )
        .await
        .map_err(|e| ApiError::Conflict(format!("Daraja refused the registration: {e}")))?;
    let tx = auth.begin(&mut client).await?;
    tx.execute(
        "UPDATE mpesa_settings SET callback_token_hash = $1",
        &[&token_hash(&token)],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(C2bRegistered {
        confirmation_url: confirmation,
        validation_url: validation,
    }))
}

/// Filters of the guests' M-Pesa purchases.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PurchaseFilter {
    pub hotspot_id: Option<Uuid>,
    /// `pending`, `paid` or `failed`.
    pub status: Option<String>,
    /// Only those a callback disagreed with (wrong amount, a receipt seen before).
    pub review: Option<bool>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/purchases`: guests' M-Pesa purchases from the routers, newest first (phone
/// numbers in full: the Finance roles see payers).
#[utoipa::path(get, path = "/api/v1/purchases", tag = "payments", params(PurchaseFilter),
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn purchases(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    Params(f): Params<PurchaseFilter>,
) -> ApiResult<Json<Value>> {
    let limit = super::page_limit(f.limit)?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = query_purchases(&tx, &f, None, limit).await?;
    tx.commit().await?;
    Ok(Json(Value::Array(rows)))
}

/// The purchases `f` selects, newest first, at most `limit`, those before `before` (created at,
/// id) only when given (the console's keyset paging), in the caller's tenant transaction: what
/// the API's list and the console's payments page show.
pub(crate) async fn query_purchases(
    tx: &deadpool_postgres::Transaction<'_>,
    f: &PurchaseFilter,
    before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    limit: i64,
) -> ApiResult<Vec<Value>> {
    let (before_at, before_id) = before.unzip();
    json_rows(
        tx,
        "SELECT id, hotspot_id, service_package_id, package_name, amount, phone_number,
                client_mac, status, failure_reason, result_code, result_desc, review_reason,
                checkout_request_id, mpesa_receipt_number, voucher_id, payment_id, settled_by,
                settled_at, query_attempts, created_at
         FROM hotspot_purchases
         WHERE ($1::uuid IS NULL OR hotspot_id = $1)
           AND ($2::text IS NULL OR status = $2)
           AND ($3::bool IS NULL OR (review_reason IS NOT NULL) = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4)
           AND ($5::timestamptz IS NULL OR created_at < $5)
           AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid))
         ORDER BY created_at DESC, id DESC LIMIT $6",
        &[
            &f.hotspot_id,
            &f.status,
            &f.review,
            &f.from,
            &f.to,
            &limit,
            &before_at,
            &before_id,
        ],
    )
    .await
}

/// Filters of the C2B (paybill) payments (all optional).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct C2bFilter {
    /// `voucher`, `wallet` or `unmatched`.
    pub applied_to: Option<String>,
    /// A receipt (Daraja's TransID, whole), part of the account number the payer typed, or the
    /// payer's number in any spelling.
    pub q: Option<String>,
    /// Received at or after (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Received before (RFC 3339).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/c2b-payments`: payments made to the tenant's paybill, newest first, paged by
/// cursor: what each was applied to (a voucher issued, a client's wallet credited, or
/// unmatched, to settle by hand), with the payer's number as Daraja sent it.
#[utoipa::path(get, path = "/api/v1/c2b-payments", tag = "payments", params(C2bFilter),
    responses((status = 200, body = super::Page), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn c2b_payments(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    Params(f): Params<C2bFilter>,
) -> ApiResult<Json<super::Page>> {
    let limit = super::page_limit(f.limit)?;
    let sel = crate::payments::c2b::Selection {
        applied_to: f.applied_to,
        q: f.q,
        from: f.from,
        to: f.to,
    };
    sel.check()
        .map_err(|(field, why)| ApiError::field(field, why))?;
    let before = match &f.cursor {
        Some(c) => {
            let p = super::decode_cursor(c, 2)?;
            let bad = || ApiError::field("cursor", "is not a cursor this API gave");
            let at = chrono::DateTime::parse_from_rfc3339(&p[0])
                .map_err(|_| bad())?
                .with_timezone(&chrono::Utc);
            Some((at, Uuid::parse_str(&p[1]).map_err(|_| bad())?))
        }
        None => None,
    };
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = crate::payments::c2b::list(&tx, &sel, before, limit + 1).await?;
    tx.commit().await?;
    let items = rows
        .iter()
        .map(crate::payments::c2b::Listed::json)
        .collect();
    Ok(Json(super::page_of(items, limit, |v| {
        vec![
            super::json_text(&v["created_at"]),
            super::json_text(&v["id"]),
        ]
    })))
}
