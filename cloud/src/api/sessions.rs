//! Guest sessions (filters, active now, kick, extend) and registered client devices (MAC
//! access: add, block with a reason, unblock).
//!
//! A kick ends the session in the cloud at once (`session_status = 'terminated'`) and records a
//! row in `hotspot_session_kicks` for the site's router: the edge's change pull reads its
//! hotspot's undelivered kicks and marks them delivered once applied. A voucher session on an
//! operator's own NAS (RADIUS, `radius_session` set) is kicked with a Disconnect-Request to that
//! NAS instead; the answer says what the NAS replied.
//!
//! An extension (more minutes, more data MB) follows the kick's path: the session row counts it
//! at once (`added_minutes`, `added_data_mb`) and a row in `hotspot_session_extensions` waits
//! for the router, which adds it to what the session has left, in place, on its next pull. A
//! voucher session on an operator's own NAS (RADIUS) is extended through its voucher, and the
//! NAS is sent a CoA with what the voucher now allows.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Auth, Staff, Support};
use super::error::{ApiError, ApiResult, FieldError};
use super::{
    Body, Page, Params, decode_cursor, json_row, json_rows, json_text, page_limit, page_of,
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions", get(list))
        .route("/api/v1/sessions/{id}", get(show))
        .route("/api/v1/sessions/{id}/kick", post(kick))
        .route("/api/v1/sessions/{id}/extend", post(extend))
        .route("/api/v1/hotspots/{id}/sessions/active", get(active))
        .route("/api/v1/access", get(list_access).post(add_access))
        .route("/api/v1/access/{id}", get(show_access).patch(patch_access))
        .route("/api/v1/access/{id}/block", post(block))
        .route("/api/v1/access/{id}/unblock", post(unblock))
}

const SESSION_STATUSES: [&str; 4] = ["active", "ended", "expired", "terminated"];

/// Normalises a MAC address to upper-case colon form, or says what is wrong.
pub fn normalise_mac(field: &str, mac: &str) -> ApiResult<String> {
    let hex: String = mac.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let separators_ok = mac
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '-');
    if hex.len() != 12 || !separators_ok {
        return Err(ApiError::field(
            field,
            "must be a MAC address like AA:BB:CC:DD:EE:FF",
        ));
    }
    let up = hex.to_ascii_uppercase();
    Ok((0..6)
        .map(|i| &up[2 * i..2 * i + 2])
        .collect::<Vec<_>>()
        .join(":"))
}

/// Filters of the session list (all optional).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SessionFilter {
    pub hotspot_id: Option<Uuid>,
    pub mac: Option<String>,
    /// `active`, `ended`, `expired` or `terminated`.
    pub status: Option<String>,
    /// Sessions started at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Sessions started before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Newest first, `limit` and one more (to tell whether a next page exists); the cursor is
/// (start_time, id) of the last row.
pub(crate) async fn query_sessions(
    tx: &deadpool_postgres::Transaction<'_>,
    f: &SessionFilter,
    limit: i64,
) -> ApiResult<Vec<Value>> {
    if let Some(s) = &f.status
        && !SESSION_STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::field(
            "status",
            format!("must be one of {SESSION_STATUSES:?}"),
        ));
    }
    let mac = f
        .mac
        .as_deref()
        .map(|m| normalise_mac("mac", m))
        .transpose()?;
    let (before_t, before_id) = match &f.cursor {
        Some(c) => {
            let p = decode_cursor(c, 2)?;
            let bad = || ApiError::field("cursor", "is not a cursor this API gave");
            let t = DateTime::parse_from_rfc3339(&p[0])
                .map_err(|_| bad())?
                .with_timezone(&Utc);
            (Some(t), Some(Uuid::parse_str(&p[1]).map_err(|_| bad())?))
        }
        None => (None, None),
    };
    json_rows(
        tx,
        "SELECT s.* FROM hotspot_sessions s
         WHERE s.tenant_id = app_current_tenant()
           AND ($1::uuid IS NULL OR s.hotspot_id = $1)
           AND ($2::text IS NULL OR upper(s.mac_address) = $2)
           AND ($3::text IS NULL OR s.session_status = $3)
           AND ($4::timestamptz IS NULL OR s.start_time >= $4)
           AND ($5::timestamptz IS NULL OR s.start_time < $5)
           AND ($6::timestamptz IS NULL OR (s.start_time, s.id) < ($6, $7::uuid))
         ORDER BY s.start_time DESC, s.id DESC
         LIMIT $8",
        &[
            &f.hotspot_id,
            &mac,
            &f.status,
            &f.from,
            &f.to,
            &before_t,
            &before_id,
            &(limit + 1),
        ],
    )
    .await
}

fn session_key(v: &Value) -> Vec<String> {
    vec![json_text(&v["start_time"]), json_text(&v["id"])]
}

/// `GET /api/v1/sessions`
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(SessionFilter),
    responses((status = 200, body = Page), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Params(f): Params<SessionFilter>,
) -> ApiResult<Json<Page>> {
    let limit = page_limit(f.limit)?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = query_sessions(&tx, &f, limit).await?;
    tx.commit().await?;
    Ok(Json(page_of(rows, limit, session_key)))
}

/// Paging of the active sessions of one hotspot.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActiveFilter {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/hotspots/{id}/sessions/active`: who is online at a site now.
#[utoipa::path(get, path = "/api/v1/hotspots/{id}/sessions/active", tag = "sessions",
    params(("id" = Uuid, Path), ActiveFilter),
    responses((status = 200, body = Page), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn active(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path(id): Path<Uuid>,
    Params(p): Params<ActiveFilter>,
) -> ApiResult<Json<Page>> {
    let limit = page_limit(p.limit)?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    if tx
        .query_opt("SELECT 1 FROM hotspots WHERE id = $1", &[&id])
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let f = SessionFilter {
        hotspot_id: Some(id),
        mac: None,
        status: Some("active".into()),
        from: None,
        to: None,
        limit: p.limit,
        cursor: p.cursor,
    };
    let rows = query_sessions(&tx, &f, limit).await?;
    tx.commit().await?;
    Ok(Json(page_of(rows, limit, session_key)))
}

/// `GET /api/v1/sessions/{id}`
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = json_row(&tx, "SELECT * FROM hotspot_sessions WHERE id = $1", &[&id]).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Why a session is being ended.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KickRequest {
    pub reason: Option<String>,
}

/// `POST /api/v1/sessions/{id}/kick`: ends an active session now and queues the kick for the
/// site's router (`hotspot_session_kicks`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/kick", tag = "sessions",
    params(("id" = Uuid, Path)), request_body = KickRequest,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn kick(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Path(id): Path<Uuid>,
    Body(req): Body<KickRequest>,
) -> ApiResult<Json<Value>> {
    if req.reason.as_ref().is_some_and(|r| r.len() > 1000) {
        return Err(ApiError::field("reason", "must be at most 1000 characters"));
    }
    let row = kick_session(
        &state,
        auth.tenant_id,
        auth.user_id,
        id,
        req.reason.as_deref(),
    )
    .await?;
    Ok(Json(row))
}

/// Ends a live session for an operator (the API's kick and the console's): an edge session is
/// marked terminated at once and the kick queued for its router; a RADIUS session gets a
/// Disconnect-Request to its NAS. 404 for another tenant's session, 409 for one already over.
pub async fn kick_session(
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
    reason: Option<&str>,
) -> ApiResult<Value> {
    let mut client = state.pool.get().await?;
    let tx = crate::db::tenant_transaction(&mut client, tenant_id, Some(user_id)).await?;
    let row = tx
        .query_opt(
            "SELECT start_time, session_status, hotspot_id, mac_address,
                    (SELECT r.radacctid FROM radacct r
                     WHERE r.acctuniqueid = s.radius_session AND r.acctstoptime IS NULL)
             FROM hotspot_sessions s
             WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let start: DateTime<Utc> = row.get(0);
    let status: String = row.get(1);
    if status != "active" {
        return Err(ApiError::Conflict(format!(
            "the session is already {status}"
        )));
    }
    // A session on an operator's own NAS (RADIUS): ended by a Disconnect-Request to that NAS,
    // and over only once the NAS ACKs it (the row follows its accounting).
    if let Some(radacctid) = row.get::<_, Option<i64>>(4) {
        tx.commit().await?;
        drop(client);
        let sent = crate::radius::dynauth::send_for_session(
            &state.pool,
            tenant_id,
            radacctid,
            crate::radius::dynauth::Kind::Disconnect,
            &crate::radius::dynauth::Changes::default(),
            crate::radius::dynauth::Cause {
                reason: "operator",
                requested_by: Some(user_id),
            },
            &crate::radius::dynauth::BACKOFF,
        )
        .await
        .map_err(super::radius::send_error)?;
        let mut client = state.pool.get().await?;
        let tx = crate::db::tenant_transaction(&mut client, tenant_id, Some(user_id)).await?;
        let mut row = json_row(
            &tx,
            "SELECT * FROM hotspot_sessions WHERE id = $1 AND start_time = $2",
            &[&id, &start],
        )
        .await?;
        tx.commit().await?;
        row["disconnect"] = super::radius::sent_json(radacctid, &sent);
        return Ok(row);
    }
    let hotspot: Uuid = row.get(2);
    let mac: String = row.get(3);
    tx.execute(
        "UPDATE hotspot_sessions SET session_status = 'terminated', end_time = greatest(now(), start_time),
             duration_minutes = (extract(epoch FROM greatest(now(), start_time) - start_time) / 60)::int
         WHERE id = $1 AND start_time = $2",
        &[&id, &start],
    )
    .await?;
    tx.execute(
        "INSERT INTO hotspot_session_kicks (tenant_id, hotspot_id, session_id, session_start,
                                            mac_address, reason, requested_by)
         VALUES (app_current_tenant(), $1, $2, $3, $4, $5, $6)",
        &[&hotspot, &id, &start, &mac, &reason, &user_id],
    )
    .await?;
    let row = json_row(
        &tx,
        "SELECT * FROM hotspot_sessions WHERE id = $1 AND start_time = $2",
        &[&id, &start],
    )
    .await?;
    tx.commit().await?;
    tracing::info!(session = %id, %hotspot, "session kicked");
    Ok(row)
}

/// Most minutes one extension adds (a week).
pub const MAX_EXTEND_MINUTES: i64 = 7 * 24 * 60;
/// Most data one extension adds, in MB (100 GB).
pub const MAX_EXTEND_MB: i64 = 100 * 1024;

/// More time, more data or both for a live session.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// Minutes to add, 1 to 10080.
    pub minutes: Option<i64>,
    /// Megabytes to add, 1 to 102400.
    pub data_mb: Option<i64>,
}

/// `POST /api/v1/sessions/{id}/extend`: adds minutes and/or data to an active session now and
/// queues the extension for the site's router (`hotspot_session_extensions`), which applies it
/// in place within a sync cycle. The answer is the session with `extension`, the queued row.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/extend", tag = "sessions",
    params(("id" = Uuid, Path)), request_body = ExtendRequest,
    responses((status = 200, body = Object), (status = 400, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn extend(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Path(id): Path<Uuid>,
    Body(req): Body<ExtendRequest>,
) -> ApiResult<Json<Value>> {
    let row = extend_session(
        &state,
        auth.tenant_id,
        auth.user_id,
        id,
        req.minutes,
        req.data_mb,
    )
    .await?;
    Ok(Json(row))
}

/// Checks an extension's amounts: each given one within its bounds, at least one given.
pub fn check_extension(
    minutes: Option<i64>,
    megabytes: Option<i64>,
) -> ApiResult<(Option<i32>, Option<i32>)> {
    let mut errors = Vec::new();
    let mut bounded = |field: &str, v: Option<i64>, max: i64| match v {
        Some(n) if !(1..=max).contains(&n) => {
            errors.push(FieldError {
                field: field.into(),
                message: format!("must be a whole number from 1 to {max}"),
            });
            None
        }
        v => v.and_then(|n| i32::try_from(n).ok()),
    };
    let minutes = bounded("minutes", minutes, MAX_EXTEND_MINUTES);
    let megabytes = bounded("data_mb", megabytes, MAX_EXTEND_MB);
    if errors.is_empty() && minutes.is_none() && megabytes.is_none() {
        errors.push(FieldError {
            field: "minutes".into(),
            message: "give minutes, data_mb or both".into(),
        });
    }
    if errors.is_empty() {
        Ok((minutes, megabytes))
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Extends a live session for an operator (the API's and the console's): the session row counts
/// the added minutes and MB, and the extension is queued for its router, which adds them to
/// what the session has left; a voucher session on an operator's own NAS (RADIUS) through its
/// voucher and a CoA to its NAS. 422 for amounts out of bounds (nothing changes), 404 for another
/// tenant's session, 409 for one not active.
pub async fn extend_session(
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
    minutes: Option<i64>,
    megabytes: Option<i64>,
) -> ApiResult<Value> {
    let (minutes, megabytes) = check_extension(minutes, megabytes)?;
    let mut client = state.pool.get().await?;
    let tx = crate::db::tenant_transaction(&mut client, tenant_id, Some(user_id)).await?;
    let row = tx
        .query_opt(
            "SELECT start_time, session_status, hotspot_id, mac_address,
                    radius_session IS NOT NULL,
                    (SELECT r.radacctid FROM radacct r
                     WHERE r.acctuniqueid = s.radius_session AND r.acctstoptime IS NULL),
                    (SELECT v.id FROM hotspot_vouchers v WHERE v.voucher_code = s.voucher_code)
             FROM hotspot_sessions s WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let start: DateTime<Utc> = row.get(0);
    let status: String = row.get(1);
    if status != "active" {
        return Err(ApiError::Conflict(format!(
            "the session is {status}: only an active session can be extended"
        )));
    }
    // Counted on the session whatever carries it out; a refusal below rolls it back.
    tx.execute(
        "UPDATE hotspot_sessions
         SET added_minutes = added_minutes + coalesce($3::int, 0),
             added_data_mb = added_data_mb + coalesce($4::int, 0)
         WHERE id = $1 AND start_time = $2",
        &[&id, &start, &minutes, &megabytes],
    )
    .await?;
    if row.get::<_, bool>(4) {
        let (Some(radacctid), Some(voucher)) =
            (row.get::<_, Option<i64>>(5), row.get::<_, Option<Uuid>>(6))
        else {
            return Err(ApiError::Conflict(
                "the RADIUS session is over at its NAS, or runs on no voucher: nothing to extend"
                    .into(),
            ));
        };
        let (row, changes) = extend_voucher(tx, id, start, voucher, minutes, megabytes).await?;
        drop(client);
        return Ok(send_extension(state, tenant_id, user_id, id, radacctid, row, &changes).await);
    }
    let hotspot: Uuid = row.get(2);
    let mac: String = row.get(3);
    let extension = json_row(
        &tx,
        "INSERT INTO hotspot_session_extensions (tenant_id, hotspot_id, session_id, session_start,
                                                 mac_address, minutes, data_mb, requested_by)
         VALUES (app_current_tenant(), $1, $2, $3, $4, $5, $6, $7)
         RETURNING *",
        &[&hotspot, &id, &start, &mac, &minutes, &megabytes, &user_id],
    )
    .await?;
    let mut row = json_row(
        &tx,
        "SELECT * FROM hotspot_sessions WHERE id = $1 AND start_time = $2",
        &[&id, &start],
    )
    .await?;
    tx.commit().await?;
    row["extension"] = extension;
    tracing::info!(session = %id, %hotspot, ?minutes, ?megabytes, "session extended");
    Ok(row)
}

/// [`extend_session`]'s work for a session on an operator's own NAS (RADIUS), which the cloud
/// authorised from a voucher: the voucher itself is extended (time from the later of now and its
/// end, data on top of its limit), so that a login again gets the new allowance too. Answers the
/// session and the CoA's changes: what the voucher now allows from now on. 422 for an amount of
/// a limit the voucher does not have (nothing changes).
async fn extend_voucher(
    tx: deadpool_postgres::Transaction<'_>,
    id: Uuid,
    start: DateTime<Utc>,
    voucher: Uuid,
    minutes: Option<i32>,
    megabytes: Option<i32>,
) -> ApiResult<(Value, crate::radius::dynauth::Changes)> {
    let limits = tx
        .query_one(
            "SELECT duration_minutes IS NOT NULL, data_limit_mb IS NOT NULL
             FROM hotspot_vouchers WHERE id = $1 FOR UPDATE",
            &[&voucher],
        )
        .await?;
    let mut errors = Vec::new();
    if minutes.is_some() && !limits.get::<_, bool>(0) {
        errors.push(FieldError {
            field: "minutes".into(),
            message: "the session's voucher has no time limit to extend".into(),
        });
    }
    if megabytes.is_some() && !limits.get::<_, bool>(1) {
        errors.push(FieldError {
            field: "data_mb".into(),
            message: "the session's voucher has no data limit to extend".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    tx.execute(
        "UPDATE hotspot_vouchers
         SET duration_minutes = CASE WHEN $2::int IS NULL THEN duration_minutes ELSE
                 ceil(extract(epoch FROM greatest(
                     coalesce(used_at, now()) + make_interval(mins => duration_minutes), now())
                     - coalesce(used_at, now())) / 60)::int + $2 END,
             data_limit_mb = data_limit_mb + coalesce($3::int, 0)
         WHERE id = $1",
        &[&voucher, &minutes, &megabytes],
    )
    .await?;
    let (seconds, bytes) =
        crate::radius::auth::voucher_remaining(&tx, voucher, Utc::now().timestamp())
            .await?
            .unwrap_or_default();
    let row = json_row(
        &tx,
        "SELECT * FROM hotspot_sessions WHERE id = $1 AND start_time = $2",
        &[&id, &start],
    )
    .await?;
    tx.commit().await?;
    let changes = crate::radius::dynauth::Changes {
        session_timeout: minutes.and(seconds),
        total_bytes: megabytes.and(bytes),
        ..Default::default()
    };
    Ok((row, changes))
}

/// Sends the CoA-Request of an extended RADIUS session ([`extend_voucher`]) to its NAS and adds
/// `coa` to the session `row`: the NAS's answer (`ack`, `nak`, `timeout`), or `not_sent` with
/// the reason. The voucher stays extended whatever the NAS said.
async fn send_extension(
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
    radacctid: i64,
    mut row: Value,
    changes: &crate::radius::dynauth::Changes,
) -> Value {
    use crate::radius::dynauth;
    let sent = dynauth::send_for_session(
        &state.pool,
        tenant_id,
        radacctid,
        dynauth::Kind::Coa,
        changes,
        dynauth::Cause {
            reason: "top_up",
            requested_by: Some(user_id),
        },
        &dynauth::BACKOFF,
    )
    .await;
    row["coa"] = match &sent {
        Ok(sent) => super::radius::sent_json(radacctid, sent),
        Err(e) => serde_json::json!({
            "radacctid": radacctid,
            "outcome": "not_sent",
            "error": e.to_string(),
        }),
    };
    tracing::info!(session = %id, radacctid, coa = %row["coa"]["outcome"],
        "RADIUS session extended");
    row
}

/// Filters of the device list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessFilter {
    pub hotspot_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub mac: Option<String>,
    pub blocked: Option<bool>,
}

/// `GET /api/v1/access`
#[utoipa::path(get, path = "/api/v1/access", tag = "access", params(AccessFilter),
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn list_access(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Params(f): Params<AccessFilter>,
) -> ApiResult<Json<Value>> {
    let mac = f
        .mac
        .as_deref()
        .map(|m| normalise_mac("mac", m))
        .transpose()?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(
        &tx,
        "SELECT * FROM client_hotspot_access
         WHERE ($1::uuid IS NULL OR hotspot_id = $1) AND ($2::uuid IS NULL OR client_id = $2)
           AND ($3::text IS NULL OR upper(mac_address) = $3)
           AND ($4::bool IS NULL OR is_blocked = $4)
         ORDER BY created_at, id",
        &[&f.hotspot_id, &f.client_id, &mac, &f.blocked],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Value::Array(rows)))
}

/// `GET /api/v1/access/{id}`
#[utoipa::path(get, path = "/api/v1/access/{id}", tag = "access", params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn show_access(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = json_row(
        &tx,
        "SELECT * FROM client_hotspot_access WHERE id = $1",
        &[&id],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// A device to register for MAC auto-connect.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessInput {
    pub client_id: Uuid,
    pub hotspot_id: Uuid,
    pub mac_address: String,
    pub device_name: Option<String>,
    pub device_type: Option<String>,
    pub auto_connect: Option<bool>,
    /// Mbps.
    pub bandwidth_allocation: Option<i32>,
    /// `basic`, `standard`, `premium` or `unlimited`.
    pub access_level: Option<String>,
}

/// `POST /api/v1/access`
#[utoipa::path(post, path = "/api/v1/access", tag = "access", request_body = AccessInput,
    responses((status = 201, body = Object), (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn add_access(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Body(a): Body<AccessInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = insert_access(&tx, &a).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// The checks of a device's fields shared by [`insert_access`] and [`update_access`]: the MAC
/// (normalised to `AA:BB:CC:DD:EE:FF`), name, access level and bandwidth; the normalised MAC.
fn check_access(
    mac: Option<&str>,
    name: Option<&str>,
    access_level: Option<&str>,
    bandwidth: Option<i32>,
) -> ApiResult<Option<String>> {
    let mut errors = Vec::new();
    let mac = match mac.map(|m| normalise_mac("mac_address", m)).transpose() {
        Ok(m) => m,
        Err(ApiError::Validation(mut e)) => {
            errors.append(&mut e);
            None
        }
        Err(e) => return Err(e),
    };
    if name.is_some_and(|n| n.len() > 255) {
        errors.push(FieldError {
            field: "device_name".into(),
            message: "must be at most 255 characters".into(),
        });
    }
    if let Some(l) = access_level
        && !["basic", "standard", "premium", "unlimited"].contains(&l)
    {
        errors.push(FieldError {
            field: "access_level".into(),
            message: "must be basic, standard, premium or unlimited".into(),
        });
    }
    if bandwidth.is_some_and(|b| !(1..=100_000).contains(&b)) {
        errors.push(FieldError {
            field: "bandwidth_allocation".into(),
            message: "must be between 1 and 100000 Mbit/s".into(),
        });
    }
    if errors.is_empty() {
        Ok(mac)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// 409 when `mac` is already registered at `hotspot` (to any client; `except`: the device
/// being changed): a router admits a MAC by one registration.
async fn refuse_duplicate(
    tx: &deadpool_postgres::Transaction<'_>,
    hotspot: Uuid,
    mac: &str,
    except: Option<Uuid>,
) -> ApiResult<()> {
    let taken = tx
        .query_opt(
            "SELECT 1 FROM client_hotspot_access
             WHERE hotspot_id = $1 AND upper(mac_address) = $2
               AND ($3::uuid IS NULL OR id <> $3)",
            &[&hotspot, &mac, &except],
        )
        .await?;
    if taken.is_some() {
        return Err(ApiError::Conflict(format!(
            "the MAC {mac} is already registered at this site"
        )));
    }
    Ok(())
}

/// Registers device `a` in the caller's tenant transaction (the API's and the console's): its
/// fields checked, its client and site this tenant's (422 otherwise), its MAC not yet
/// registered at the site (409); the row as JSON.
pub async fn insert_access(
    tx: &deadpool_postgres::Transaction<'_>,
    a: &AccessInput,
) -> ApiResult<Value> {
    let mac = check_access(
        Some(&a.mac_address),
        a.device_name.as_deref(),
        a.access_level.as_deref(),
        a.bandwidth_allocation,
    )?
    .unwrap_or_default();
    for (field, sql, id) in [
        (
            "client_id",
            "SELECT 1 FROM clients WHERE id = $1",
            a.client_id,
        ),
        (
            "hotspot_id",
            "SELECT 1 FROM hotspots WHERE id = $1",
            a.hotspot_id,
        ),
    ] {
        if tx.query_opt(sql, &[&id]).await?.is_none() {
            return Err(ApiError::field(field, "no such record"));
        }
    }
    refuse_duplicate(tx, a.hotspot_id, &mac, None).await?;
    json_row(
        tx,
        "INSERT INTO client_hotspot_access (tenant_id, client_id, hotspot_id, mac_address,
             device_name, device_type, auto_connect, bandwidth_allocation, access_level)
         VALUES (app_current_tenant(), $1, $2, $3, $4, $5, coalesce($6, true), coalesce($7, 5),
                 coalesce($8, 'standard'))
         RETURNING *",
        &[
            &a.client_id,
            &a.hotspot_id,
            &mac,
            &a.device_name,
            &a.device_type,
            &a.auto_connect,
            &a.bandwidth_allocation,
            &a.access_level,
        ],
    )
    .await
}

/// Changes to a registered device (absent fields keep their value).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessPatch {
    pub mac_address: Option<String>,
    pub device_name: Option<String>,
    pub auto_connect: Option<bool>,
    /// Mbps.
    pub bandwidth_allocation: Option<i32>,
    /// `basic`, `standard`, `premium` or `unlimited`.
    pub access_level: Option<String>,
}

/// Changes device `id` in the caller's tenant transaction (the API's and the console's): the
/// same checks as [`insert_access`]; 404 for another tenant's; the row as JSON.
pub async fn update_access(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    p: &AccessPatch,
) -> ApiResult<Value> {
    let mac = check_access(
        p.mac_address.as_deref(),
        p.device_name.as_deref(),
        p.access_level.as_deref(),
        p.bandwidth_allocation,
    )?;
    let hotspot: Uuid = tx
        .query_opt(
            "SELECT hotspot_id FROM client_hotspot_access WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or(ApiError::NotFound)?
        .get(0);
    if let Some(mac) = &mac {
        refuse_duplicate(tx, hotspot, mac, Some(id)).await?;
    }
    json_row(
        tx,
        "UPDATE client_hotspot_access SET mac_address = coalesce($2, mac_address),
             device_name = coalesce($3, device_name), auto_connect = coalesce($4, auto_connect),
             bandwidth_allocation = coalesce($5, bandwidth_allocation),
             access_level = coalesce($6, access_level)
         WHERE id = $1 RETURNING *",
        &[
            &id,
            &mac,
            &p.device_name,
            &p.auto_connect,
            &p.bandwidth_allocation,
            &p.access_level,
        ],
    )
    .await
}

/// `PATCH /api/v1/access/{id}`
#[utoipa::path(patch, path = "/api/v1/access/{id}", tag = "access",
    params(("id" = Uuid, Path)), request_body = AccessPatch,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn patch_access(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Path(id): Path<Uuid>,
    Body(p): Body<AccessPatch>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = update_access(&tx, id, &p).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Why a device is blocked.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    pub reason: String,
}

/// `POST /api/v1/access/{id}/block`: the MAC never passes (routers learn it by their pull).
#[utoipa::path(post, path = "/api/v1/access/{id}/block", tag = "access",
    params(("id" = Uuid, Path)), request_body = BlockRequest,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn block(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Path(id): Path<Uuid>,
    Body(req): Body<BlockRequest>,
) -> ApiResult<Json<Value>> {
    let reason = req.reason.trim();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(ApiError::field("reason", "must be 1 to 1000 characters"));
    }
    let row =
        set_device_blocked(&state, auth.tenant_id, auth.user_id, id, true, Some(reason)).await?;
    Ok(Json(row))
}

/// `POST /api/v1/access/{id}/unblock`
#[utoipa::path(post, path = "/api/v1/access/{id}/unblock", tag = "access",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn unblock(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let row = set_device_blocked(&state, auth.tenant_id, auth.user_id, id, false, None).await?;
    Ok(Json(row))
}

/// Blocks (with a reason) or unblocks a registered device (the API's and the console's); 404
/// for another tenant's.
pub async fn set_device_blocked(
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
    blocked: bool,
    reason: Option<&str>,
) -> ApiResult<Value> {
    let mut client = state.pool.get().await?;
    let tx = crate::db::tenant_transaction(&mut client, tenant_id, Some(user_id)).await?;
    let row = json_row(
        &tx,
        "UPDATE client_hotspot_access SET is_blocked = $2, blocked_reason = $3
         WHERE id = $1 RETURNING *",
        &[&id, &blocked, &reason],
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_normalised_or_refused() {
        assert_eq!(
            normalise_mac("m", "aa-bb-cc-dd-ee-ff").unwrap(),
            "AA:BB:CC:DD:EE:FF"
        );
        assert_eq!(
            normalise_mac("m", "aabbccddeeff").unwrap(),
            "AA:BB:CC:DD:EE:FF"
        );
        assert!(normalise_mac("m", "aa:bb:cc:dd:ee").is_err());
        assert!(normalise_mac("m", "aa:bb:cc:dd:ee:fg").is_err());
    }

    #[test]
    fn extensions_are_bounded_and_need_an_amount() {
        assert_eq!(check_extension(Some(30), None).unwrap(), (Some(30), None));
        assert_eq!(
            check_extension(None, Some(MAX_EXTEND_MB)).unwrap(),
            (None, Some(102_400))
        );
        for (m, d) in [
            (None, None),
            (Some(0), None),
            (Some(-5), Some(10)),
            (Some(MAX_EXTEND_MINUTES + 1), None),
            (None, Some(i64::MAX)),
        ] {
            assert!(
                matches!(check_extension(m, d), Err(ApiError::Validation(_))),
                "{m:?} {d:?}"
            );
        }
    }
}
