//! Tenants (platform administrators), analytics, wallet transactions and M-Pesa settings.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::auth::{Admin, Auth, Finance, Platform, Staff};
use super::error::{ApiError, ApiResult, FieldError};
use super::{Body, Params, json_row, json_rows};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants", get(list_tenants).post(create_tenant))
        .route("/api/v1/tenants/{id}", get(show_tenant))
        .route("/api/v1/tenants/{id}/status", post(set_tenant_status))
        .route("/api/v1/tenant", get(own_tenant))
        .route("/api/v1/analytics", get(analytics))
        .route("/api/v1/wallet-transactions", get(wallet))
        .route("/api/v1/mpesa-settings", get(mpesa_get).put(mpesa_put))
}

/// `GET /api/v1/tenants` (platform administrators).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<Object>), (status = 403, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_tenants(
    State(state): State<AppState>,
    auth: Auth<Platform>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(&tx, "SELECT * FROM platform_list_tenants()", &[]).await?;
    tx.commit().await?;
    Ok(Json(Value::Array(rows)))
}

/// `GET /api/v1/tenants/{id}` (platform administrators).
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn show_tenant(
    State(state): State<AppState>,
    auth: Auth<Platform>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = json_row(&tx, "SELECT * FROM platform_get_tenant($1)", &[&id]).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// A new tenant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    pub name: String,
    /// Lower-case letters, digits and hyphens; unique.
    pub slug: String,
    pub email: Option<String>,
    /// `trial` by default.
    pub status: Option<String>,
    /// `free` by default.
    pub plan_type: Option<String>,
}

const TENANT_STATUSES: [&str; 6] = [
    "active",
    "suspended",
    "trial",
    "inactive",
    "pending",
    "cancelled",
];
const PLAN_TYPES: [&str; 5] = ["free", "starter", "professional", "enterprise", "custom"];

/// `POST /api/v1/tenants` (platform administrators).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = TenantInput,
    responses((status = 201, body = Object), (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    auth: Auth<Platform>,
    Body(t): Body<TenantInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut errors = Vec::new();
    let mut push = |f: &str, m: &str| {
        errors.push(FieldError {
            field: f.into(),
            message: m.into(),
        })
    };
    if t.name.trim().is_empty() || t.name.len() > 255 {
        push("name", "must be 1 to 255 characters");
    }
    let slug_ok = !t.slug.is_empty()
        && t.slug.len() <= 63
        && t.slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !t.slug.starts_with('-');
    if !slug_ok {
        push(
            "slug",
            "must be 1 to 63 lower-case letters, digits and hyphens",
        );
    }
    if t.status
        .as_deref()
        .is_some_and(|s| !TENANT_STATUSES.contains(&s))
    {
        push("status", "is not a tenant status");
    }
    if t.plan_type
        .as_deref()
        .is_some_and(|s| !PLAN_TYPES.contains(&s))
    {
        push("plan_type", "is not a plan type");
    }
    if t.email.as_deref().is_some_and(|e| !e.contains('@')) {
        push("email", "must be an e-mail address");
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = json_row(
        &tx,
        "SELECT * FROM platform_create_tenant($1, $2, $3, $4, $5)",
        &[&t.name, &t.slug, &t.email, &t.status, &t.plan_type],
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// A tenant's new status.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantStatus {
    pub status: String,
}

/// `POST /api/v1/tenants/{id}/status` (platform administrators): suspend, reactivate, cancel.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/status", tag = "tenants",
    params(("id" = Uuid, Path)), request_body = TenantStatus,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn set_tenant_status(
    State(state): State<AppState>,
    auth: Auth<Platform>,
    Path(id): Path<Uuid>,
    Body(s): Body<TenantStatus>,
) -> ApiResult<Json<Value>> {
    if !TENANT_STATUSES.contains(&s.status.as_str()) {
        return Err(ApiError::field("status", "is not a tenant status"));
    }
    if id == auth.tenant_id {
        return Err(ApiError::field(
            "id",
            "cannot change your own tenant's status",
        ));
    }
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = json_row(
        &tx,
        "SELECT * FROM platform_set_tenant_status($1, $2)",
        &[&id, &s.status],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// `GET /api/v1/tenant`: the caller's own tenant.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenants",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn own_tenant(
    State(state): State<AppState>,
    auth: Auth<Staff>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = json_row(&tx, "SELECT * FROM tenants", &[]).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// A range of days and, optionally, one hotspot.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsFilter {
    pub hotspot_id: Option<Uuid>,
    /// First day (inclusive, YYYY-MM-DD).
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
}

/// Per hotspot per day, and totals over the range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Analytics {
    /// One row per hotspot and day: sessions, unique users, data, peak concurrency, revenue.
    #[schema(value_type = Vec<Object>)]
    pub days: Vec<Value>,
    #[schema(value_type = Object)]
    pub totals: Value,
}

/// A day of a hotspot: what its router reported (`hotspot_analytics`) and, as rows of their
/// own, the voucher sessions of operators' NAS devices (RADIUS, mirrored into
/// `hotspot_sessions`) by the day they started in the tenant's time zone. Parameters: from, to,
/// hotspot.
const ANALYTICS_DAYS: &str = "
    SELECT hotspot_id, date, total_sessions, unique_users, total_data_used_gb,
           peak_concurrent_users, avg_session_duration_minutes, revenue_generated,
           uptime_percentage, guest_sessions, client_sessions, voucher_sessions,
           0 AS radius_sessions
    FROM hotspot_analytics
    WHERE date BETWEEN $1 AND $2 AND ($3::uuid IS NULL OR hotspot_id = $3)
    UNION ALL
    SELECT s.hotspot_id, r.day, count(*)::int, count(DISTINCT s.mac_address)::int,
           round(sum(COALESCE(s.data_used_mb, 0)) / 1024, 3), 0,
           round(avg(COALESCE(s.duration_minutes, 0)), 2), 0, NULL, 0, 0, count(*)::int,
           count(*)::int
    FROM hotspot_sessions s
    CROSS JOIN LATERAL (SELECT (s.start_time AT TIME ZONE COALESCE(
        (SELECT t.timezone FROM tenants t WHERE t.id = s.tenant_id), 'UTC'))::date AS day) r
    WHERE s.radius_session IS NOT NULL
      AND s.start_time >= $1::date - 1 AND s.start_time < $2::date + 2
      AND r.day BETWEEN $1 AND $2 AND ($3::uuid IS NULL OR s.hotspot_id = $3)
    GROUP BY s.hotspot_id, r.day";

/// `GET /api/v1/analytics`
#[utoipa::path(get, path = "/api/v1/analytics", tag = "analytics", params(AnalyticsFilter),
    responses((status = 200, body = Analytics), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn analytics(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Params(f): Params<AnalyticsFilter>,
) -> ApiResult<Json<Analytics>> {
    if f.to < f.from {
        return Err(ApiError::field("to", "must not be before from"));
    }
    if (f.to - f.from).num_days() > 366 {
        return Err(ApiError::field("to", "the range is at most 366 days"));
    }
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let days = json_rows(
        &tx,
        &format!(
            "SELECT hotspot_id, date, sum(total_sessions)::int AS total_sessions,
                    sum(unique_users)::int AS unique_users,
                    sum(total_data_used_gb) AS total_data_used_gb,
                    max(peak_concurrent_users) AS peak_concurrent_users,
                    round(sum(avg_session_duration_minutes * total_sessions)
                          / NULLIF(sum(total_sessions), 0), 2) AS avg_session_duration_minutes,
                    sum(revenue_generated) AS revenue_generated,
                    max(uptime_percentage) AS uptime_percentage,
                    sum(guest_sessions)::int AS guest_sessions,
                    sum(client_sessions)::int AS client_sessions,
                    sum(voucher_sessions)::int AS voucher_sessions,
                    sum(radius_sessions)::int AS radius_sessions
             FROM ({ANALYTICS_DAYS}) d
             GROUP BY hotspot_id, date
             ORDER BY date, hotspot_id"
        ),
        &[&f.from, &f.to, &f.hotspot_id],
    )
    .await?;
    let totals = json_row(
        &tx,
        &format!(
            "SELECT coalesce(sum(total_sessions), 0) AS total_sessions,
                coalesce(sum(unique_users), 0) AS unique_users,
                coalesce(sum(total_data_used_gb), 0) AS total_data_used_gb,
                coalesce(max(peak_concurrent_users), 0) AS peak_concurrent_users,
                coalesce(sum(revenue_generated), 0) AS revenue_generated,
                count(DISTINCT hotspot_id) AS hotspots, count(DISTINCT date) AS days
         FROM ({ANALYTICS_DAYS}) d"
        ),
        &[&f.from, &f.to, &f.hotspot_id],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Analytics { days, totals }))
}

/// Filters of the wallet history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WalletFilter {
    pub client_id: Option<Uuid>,
    /// `credit`, `debit`, `payment`, `refund` or `renewal`.
    pub transaction_type: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/wallet-transactions`: newest first.
#[utoipa::path(get, path = "/api/v1/wallet-transactions", tag = "wallet", params(WalletFilter),
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn wallet(
    State(state): State<AppState>,
    auth: Auth<Finance>,
    Params(f): Params<WalletFilter>,
) -> ApiResult<Json<Value>> {
    let limit = super::page_limit(f.limit)?;
    if f.transaction_type
        .as_deref()
        .is_some_and(|t| !["credit", "debit", "payment", "refund", "renewal"].contains(&t))
    {
        return Err(ApiError::field(
            "transaction_type",
            "is not a transaction type",
        ));
    }
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(
        &tx,
        "SELECT * FROM wallet_transactions
         WHERE ($1::uuid IS NULL OR client_id = $1)
           AND ($2::text IS NULL OR transaction_type = $2)
           AND ($3::timestamptz IS NULL OR created_at >= $3)
           AND ($4::timestamptz IS NULL OR created_at < $4)
         ORDER BY created_at DESC, id DESC LIMIT $5",
        &[&f.client_id, &f.transaction_type, &f.from, &f.to, &limit],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Value::Array(rows)))
}

/// Purposes binding each sealed M-Pesa secret to its column.
const PASSKEY: &str = "mpesa_settings.passkey";
const CONSUMER_KEY: &str = "mpesa_settings.consumer_key";
const CONSUMER_SECRET: &str = "mpesa_settings.consumer_secret";

/// M-Pesa settings to store. Secrets are write-only: sent here, never returned.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MpesaInput {
    pub paybill_number: String,
    pub shortcode: Option<String>,
    /// `sandbox` or `production`.
    pub environment: Option<String>,
    /// Left unchanged when absent.
    pub passkey: Option<String>,
    pub consumer_key: Option<String>,
    pub consumer_secret: Option<String>,
    pub is_active: Option<bool>,
}

/// What is shown of the M-Pesa settings: which secrets are set, never their values.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MpesaView {
    pub paybill_number: String,
    pub shortcode: Option<String>,
    pub environment: String,
    pub is_active: bool,
    pub passkey_set: bool,
    pub consumer_key_set: bool,
    pub consumer_secret_set: bool,
    /// Only in the answer that created the settings: the token for Daraja's callback URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_token: Option<String>,
}

/// The tenant's M-Pesa settings as shown (secrets only as set or not), if it has any.
pub async fn mpesa_view(tx: &deadpool_postgres::Transaction<'_>) -> ApiResult<Option<MpesaView>> {
    let row = tx
        .query_opt(
            "SELECT paybill_number, shortcode, environment, coalesce(is_active, true),
                    passkey IS NOT NULL, consumer_key IS NOT NULL, consumer_secret IS NOT NULL
             FROM mpesa_settings",
            &[],
        )
        .await?;
    Ok(row.map(|r| MpesaView {
        paybill_number: r.get(0),
        shortcode: r.get(1),
        environment: r.get(2),
        is_active: r.get(3),
        passkey_set: r.get(4),
        consumer_key_set: r.get(5),
        consumer_secret_set: r.get(6),
        callback_token: None,
    }))
}

/// `GET /api/v1/mpesa-settings`
#[utoipa::path(get, path = "/api/v1/mpesa-settings", tag = "mpesa",
    responses((status = 200, body = MpesaView), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn mpesa_get(
    State(state): State<AppState>,
    auth: Auth<Admin>,
) -> ApiResult<Json<MpesaView>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let view = mpesa_view(&tx).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(view))
}

/// `PUT /api/v1/mpesa-settings`: creates or replaces; secrets are encrypted with the service's
/// key before they reach the database.
#[utoipa::path(put, path = "/api/v1/mpesa-settings", tag = "mpesa", request_body = MpesaInput,
    responses((status = 200, body = MpesaView), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn mpesa_put(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Body(m): Body<MpesaInput>,
) -> ApiResult<Json<MpesaView>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let view = save_mpesa(&state, &tx, &m).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// Checks and stores the tenant's M-Pesa settings in `tx` (secrets sealed with the service's
/// key first; an absent secret keeps the stored one). The view carries the callback token only
/// when this created the settings.
pub async fn save_mpesa(
    state: &AppState,
    tx: &deadpool_postgres::Transaction<'_>,
    m: &MpesaInput,
) -> ApiResult<MpesaView> {
    let mut errors = Vec::new();
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(&m.paybill_number) {
        errors.push(FieldError {
            field: "paybill_number".into(),
            message: "must be 1 to 20 digits".into(),
        });
    }
    if m.shortcode.as_deref().is_some_and(|s| !digits(s)) {
        errors.push(FieldError {
            field: "shortcode".into(),
            message: "must be 1 to 20 digits".into(),
        });
    }
    if m.environment
        .as_deref()
        .is_some_and(|e| e != "sandbox" && e != "production")
    {
        errors.push(FieldError {
            field: "environment".into(),
            message: "must be sandbox or production".into(),
        });
    }
    for (field, v) in [
        ("passkey", &m.passkey),
        ("consumer_key", &m.consumer_key),
        ("consumer_secret", &m.consumer_secret),
    ] {
        if v.as_deref().is_some_and(|s| s.is_empty() || s.len() > 512) {
            errors.push(FieldError {
                field: field.into(),
                message: "must be 1 to 512 characters".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let key = state.api.secrets()?;
    let seal =
        |purpose: &str, v: &Option<String>| v.as_ref().map(|s| key.seal(purpose, s.as_bytes()));
    let passkey = seal(PASSKEY, &m.passkey);
    let consumer_key = seal(CONSUMER_KEY, &m.consumer_key);
    let consumer_secret = seal(CONSUMER_SECRET, &m.consumer_secret);
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    let callback_token = URL_SAFE_NO_PAD.encode(raw);
    let callback_hash = Sha256::digest(callback_token.as_bytes()).to_vec();

    let inserted: bool = tx
        .query_one(
            "INSERT INTO mpesa_settings (tenant_id, paybill_number, shortcode, environment,
                 passkey, consumer_key, consumer_secret, is_active, callback_token_hash)
             VALUES (app_current_tenant(), $1, $2, coalesce($3, 'sandbox'), $4, $5, $6,
                     coalesce($7, true), $8)
             ON CONFLICT (tenant_id) DO UPDATE SET
                 paybill_number = EXCLUDED.paybill_number,
                 shortcode = EXCLUDED.shortcode,
                 environment = EXCLUDED.environment,
                 passkey = coalesce($4, mpesa_settings.passkey),
                 consumer_key = coalesce($5, mpesa_settings.consumer_key),
                 consumer_secret = coalesce($6, mpesa_settings.consumer_secret),
                 is_active = EXCLUDED.is_active
             RETURNING (xmax = 0)",
            &[
                &m.paybill_number,
                &m.shortcode,
                &m.environment,
                &passkey,
                &consumer_key,
                &consumer_secret,
                &m.is_active,
                &callback_hash,
            ],
        )
        .await?
        .get(0);
    let mut view = mpesa_view(tx).await?.ok_or(ApiError::NotFound)?;
    if inserted {
        view.callback_token = Some(callback_token);
    }
    Ok(view)
}

/// Decrypts a tenant's stored M-Pesa secrets (for the payment code that calls Daraja).
pub fn open_mpesa_secret(
    key: &super::secrets::SecretsKey,
    column: &str,
    stored: &str,
) -> Result<String, super::secrets::SecretsError> {
    let purpose = match column {
        "passkey" => PASSKEY,
        "consumer_key" => CONSUMER_KEY,
        _ => CONSUMER_SECRET,
    };
    let bytes = key.open(purpose, stored)?;
    String::from_utf8(bytes).map_err(|_| super::secrets::SecretsError::Open)
}
