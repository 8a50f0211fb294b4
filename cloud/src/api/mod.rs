//! The operators' API (`/api/v1`): ISP staff and platform administrators.
//!
//! # Layout
//! - [`error`]: the one error type, rendered as `application/problem+json`.
//! - [`auth`]: tokens, roles ([`auth::Auth`] is the extractor every handler takes), sign-in, TOTP.
//! - [`hotspots`], [`vouchers`], [`sessions`], [`business`]: the typed endpoints of the hotspot
//!   business (sites, packages, vouchers, devices, sessions, analytics, wallet, M-Pesa settings).
//! - [`branding`]: the tenant's portal branding (texts, colour, logo), pulled by its routers.
//! - [`payments`]: seed 000's payment functions (wallet credit, payments, status, receipts,
//!   renewals).
//! - [`radius`]: NAS devices (secrets shown once), live RADIUS sessions, Disconnect and CoA.
//! - [`users`]: a tenant's staff accounts.
//! - [`registry`] and [`resources`]: every other table through one generic, registry-driven API.
//! - [`openapi`]: the OpenAPI document, generated from this code, and its interactive page.
//! - [`metrics`]: Prometheus metrics of requests and of the database pool.
//! - [`secrets`], [`totp`]: encryption of secrets at rest; RFC 6238 codes.
//!
//! Every handler takes [`auth::Auth`] (role checked before any work) and does its database work
//! in one transaction opened by [`auth::Auth::begin`], as the service role with `app.tenant_id`
//! and `app.user_id` set: row-level security does the isolating, so another tenant's id is simply
//! not found (404, never 403).

pub mod auth;
pub mod branding;
pub mod business;
pub mod error;
pub mod hotspots;
pub mod metrics;
pub mod openapi;
pub mod payments;
pub mod radius;
pub mod registry;
pub mod resources;
pub mod secrets;
pub mod sessions;
pub mod totp;
pub mod users;
pub mod vouchers;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use crate::AppState;
use error::{ApiError, ApiResult};

/// What the API needs beyond the database pool.
#[derive(Debug)]
pub struct ApiState {
    /// Seals M-Pesa secrets and TOTP seeds at rest. Without it (no `HOTSPOT_SECRETS_KEY`) the
    /// API runs, but storing or using those secrets fails with a logged server error.
    secrets: Option<secrets::SecretsKey>,
    /// How long a sign-in token lasts.
    pub token_ttl: Duration,
    /// Request and pool metrics for `/metrics`.
    pub metrics: metrics::Metrics,
    /// The column catalogue of the registry's tables, read from PostgreSQL on first use.
    pub catalog: tokio::sync::OnceCell<registry::Catalog>,
    /// Failed sign-ins per address, to slow password guessing (per process).
    pub login_throttle: auth::LoginThrottle,
    /// The web console's settings (cookies).
    pub console: crate::console::ConsoleSettings,
}

impl ApiState {
    pub fn new(secrets: secrets::SecretsKey) -> Arc<Self> {
        Self::with_token_ttl(Some(secrets), auth::DEFAULT_TOKEN_TTL)
    }

    pub fn with_token_ttl(secrets: Option<secrets::SecretsKey>, token_ttl: Duration) -> Arc<Self> {
        Self::with_settings(
            secrets,
            token_ttl,
            crate::console::ConsoleSettings::default(),
        )
    }

    pub fn with_settings(
        secrets: Option<secrets::SecretsKey>,
        token_ttl: Duration,
        console: crate::console::ConsoleSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            console,
            secrets,
            token_ttl,
            metrics: metrics::Metrics::default(),
            catalog: tokio::sync::OnceCell::new(),
            login_throttle: auth::LoginThrottle::default(),
        })
    }

    /// The secrets key, or the server error of a service configured without one.
    pub fn secrets(&self) -> ApiResult<&secrets::SecretsKey> {
        self.secrets.as_ref().ok_or_else(|| {
            ApiError::internal(
                "HOTSPOT_SECRETS_KEY is not configured: secrets cannot be sealed or opened",
            )
        })
    }
}

/// The API's routes (merged into the service's router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/v1/auth/mfa/enroll", post(auth::mfa_enroll))
        .route("/api/v1/auth/mfa/verify", post(auth::mfa_verify))
        .route(
            "/api/v1/auth/mfa/recovery-codes",
            post(auth::mfa_recovery_codes),
        )
        .merge(business::router())
        .merge(branding::router())
        .merge(users::router())
        .merge(hotspots::router())
        .merge(vouchers::router())
        .merge(sessions::router())
        .merge(payments::router())
        .merge(radius::router())
        .merge(resources::router())
        .merge(openapi::router())
        .route("/metrics", get(metrics::render))
}

/// Runs `sql` (a query, or a statement with RETURNING) and returns its rows as JSON, in order.
pub async fn json_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> ApiResult<Vec<Value>> {
    let wrapped = format!("WITH x AS ({sql}) SELECT to_jsonb(x) FROM x");
    // Cached per connection: one round trip per call instead of prepare + execute.
    let stmt = tx.prepare_cached(&wrapped).await?;
    let rows = tx.query(&stmt, params).await?;
    Ok(rows.iter().map(|r| r.get::<_, Value>(0)).collect())
}

/// Runs `sql` and returns its one row as JSON, or 404.
pub async fn json_row(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> ApiResult<Value> {
    let wrapped = format!("WITH x AS ({sql}) SELECT to_jsonb(x) FROM x");
    let stmt = tx.prepare_cached(&wrapped).await?;
    let row = tx.query_opt(&stmt, params).await?;
    row.map(|r| r.get::<_, Value>(0)).ok_or(ApiError::NotFound)
}

/// A page of results and the cursor of the next one.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Keyset cursors: the sort key and id of the last row of a page, opaque to clients.
pub fn encode_cursor(parts: &[String]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(parts).expect("strings serialise"))
}

pub fn decode_cursor(cursor: &str, n: usize) -> ApiResult<Vec<String>> {
    let bad = || ApiError::field("cursor", "is not a cursor this API gave");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let parts: Vec<String> = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if parts.len() != n {
        return Err(bad());
    }
    Ok(parts)
}

/// A page size: 1 to 500, 50 by default.
pub fn page_limit(limit: Option<i64>) -> ApiResult<i64> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field("limit", "must be between 1 and 500")),
    }
}

/// `%text%` for ILIKE, with the pattern's own characters escaped.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Cuts a fetched `limit + 1` rows to a page; the cursor is made from the last row kept.
pub fn page_of(mut items: Vec<Value>, limit: i64, key: impl Fn(&Value) -> Vec<String>) -> Page {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}

/// A JSON value as the text PostgreSQL would parse back (strings unquoted).
pub fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A JSON body whose rejections are problems: unreadable JSON is 400, a body of the wrong shape
/// is 422 naming the field serde stopped at.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> ApiResult<Self> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::Validation(vec![field_of(&e.body_text())]))
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// Query parameters whose rejections are 422 problems naming the parameter.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> ApiResult<Self> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(e) => Err(ApiError::Validation(vec![field_of(&e.body_text())])),
        }
    }
}

/// Best effort: serde's messages name the field as "`name`" or "at `path`".
fn field_of(message: &str) -> error::FieldError {
    let field = message
        .split('`')
        .nth(1)
        .map(str::to_owned)
        .or_else(|| {
            message
                .split_once(": ")
                .and_then(|(_, rest)| rest.split_once(':'))
                .map(|(path, _)| path.trim().to_owned())
        })
        .unwrap_or_default();
    error::FieldError {
        field,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_make() {
        let c = encode_cursor(&["2026-01-01T00:00:00+00:00".into(), "abc".into()]);
        assert_eq!(
            decode_cursor(&c, 2).unwrap(),
            vec!["2026-01-01T00:00:00+00:00".to_owned(), "abc".to_owned()]
        );
        assert!(decode_cursor(&c, 3).is_err());
        assert!(decode_cursor("not a cursor", 2).is_err());
    }

    #[test]
    fn pages_keep_limit_rows_and_point_past_the_last() {
        let rows: Vec<Value> = (0..4).map(|i| json!({ "id": i })).collect();
        let page = page_of(rows.clone(), 3, |v| vec![json_text(&v["id"])]);
        assert_eq!(page.items.len(), 3);
        assert_eq!(
            decode_cursor(page.next_cursor.as_deref().unwrap(), 1).unwrap(),
            ["2"]
        );
        let last = page_of(rows[..3].to_vec(), 3, |v| vec![json_text(&v["id"])]);
        assert!(last.next_cursor.is_none());
        assert!(page_limit(Some(0)).is_err() && page_limit(Some(501)).is_err());
        assert_eq!(page_limit(None).unwrap(), 50);
    }

    #[test]
    fn serde_messages_name_the_field() {
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: missing field `password` at line 1 column 15").field,
            "password"
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: count: invalid type: string \"x\", expected i32 at line 1 column 12").field,
            "count"
        );
    }
}
