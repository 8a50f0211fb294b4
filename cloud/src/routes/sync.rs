//! The routers' endpoints: claim, push events, pull changes, rotate the credential.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hotspot_shared::sync::{PullResponse, PushRequest, PushResponse};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::sync::device::{self, ClaimRequest, ClaimResponse, Device};
use crate::sync::{SyncError, ingest, pull};

impl IntoResponse for SyncError {
    fn into_response(self) -> Response {
        let status = match &self {
            SyncError::Unauthorized | SyncError::ClaimRefused => StatusCode::UNAUTHORIZED,
            SyncError::Version(_) => StatusCode::BAD_REQUEST,
            SyncError::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            SyncError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // Overloaded: the router sends the batch again later, as after any 5xx.
            SyncError::Db(crate::db::DbError::Busy) => return overloaded(),
            SyncError::Db(e) => {
                tracing::error!(error = %e, "sync: database failure");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "internal error"})),
                )
                    .into_response();
            }
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// 503 with `Retry-After`: no database connection within the pool's wait. A router treats it
/// as any 5xx and asks again later.
pub(crate) fn overloaded() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        Json(json!({"error": "overloaded: try again shortly"})),
    )
        .into_response()
}

pub(crate) async fn device(state: &AppState, headers: &HeaderMap) -> Result<Device, SyncError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(SyncError::Unauthorized)?;
    device::authenticate(&state.pool, token.trim()).await
}

/// `POST /sync/v1/claim`
pub async fn claim(
    State(state): State<AppState>,
    Json(req): Json<ClaimRequest>,
) -> Result<Json<ClaimResponse>, SyncError> {
    Ok(Json(device::claim(&state.pool, &req).await?))
}

/// `POST /sync/v1/events`: the body may be gzip (`Content-Encoding: gzip`).
pub async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<PushResponse>, SyncError> {
    let push: PushRequest = serde_json::from_slice(&body)
        .map_err(|e| SyncError::Invalid(format!("malformed batch: {e}")))?;
    // Ingest is idempotent (events upsert on their ids): a batch whose transaction was lost to
    // a failover is written again on the new primary, and the router hears of it once.
    let answer = crate::db::retry_transient(|| async {
        let device = device(&state, &headers).await?;
        ingest::ingest(&state.pool, &device, &push, chrono::Utc::now()).await
    })
    .await?;
    Ok(Json(answer))
}

#[derive(Debug, Deserialize)]
pub struct PullQuery {
    cursor: Option<String>,
    limit: Option<usize>,
    /// `1`: the router applies operators' extensions of sessions (`PullResponse::extensions`).
    extensions: Option<u8>,
    /// `1`: the router shows the tenant's portal branding (`PullResponse::branding`).
    branding: Option<u8>,
}

/// `GET /sync/v1/changes?cursor=…&limit=…&extensions=1&branding=1`
pub async fn changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PullQuery>,
) -> Result<Json<PullResponse>, SyncError> {
    let limit = q
        .limit
        .unwrap_or(hotspot_shared::sync::MAX_CHANGES_PER_PULL);
    // A pull only reads (and marks kicks delivered, idempotently): safe to do again.
    let page = crate::db::retry_transient(|| async {
        let device = device(&state, &headers).await?;
        pull::pull(
            &state.pool,
            &device,
            q.cursor.as_deref(),
            limit,
            q.extensions == Some(1),
            q.branding == Some(1),
        )
        .await
    })
    .await?;
    Ok(Json(page))
}

/// `POST /sync/v1/rotate`: a new token for the calling device; the old one stops working.
pub async fn rotate(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, SyncError> {
    let device = device(&state, &headers).await?;
    Ok(Json(
        json!({ "token": device::rotate(&state.pool, &device).await? }),
    ))
}
