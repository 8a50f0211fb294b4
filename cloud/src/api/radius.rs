//! The RADIUS server's side of the operators' API: NAS devices (the shared secret is made here
//! and shown once, at creation and at each rotation; the generic resources API only reads them), live RADIUS sessions, and Disconnect and
//! CoA requests to a session's NAS (RFC 5176) with their outcome.
//!
//! RADIUS users and groups are rows of the FreeRADIUS tables (`radcheck`, `radreply`,
//! `radusergroup`, `radgroupcheck`, `radgroupreply`), served by the generic resources API; the
//! request log is `radius_dynauth` there too.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Admin, Auth, Noc, Support};
use super::error::{ApiError, ApiResult, FieldError};
use super::{Body, Page, Params, decode_cursor, json_row, json_rows, page_limit, page_of};
use crate::AppState;
use crate::radius::dynauth::{self, Cause, Changes, Kind, Outcome, SendError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/radius/nas", get(list_nas).post(create_nas))
        .route(
            "/api/v1/radius/nas/{id}",
            axum::routing::patch(update_nas).delete(delete_nas),
        )
        .route("/api/v1/radius/nas/{id}/secret", post(rotate_secret))
        .route("/api/v1/radius/sessions", get(list_sessions))
        .route("/api/v1/radius/sessions/{id}/disconnect", post(disconnect))
        .route("/api/v1/radius/sessions/{id}/coa", post(coa))
}

/// The columns of a NAS shown by this API: everything but the secret.
pub(crate) const NAS_SELECT: &str = "SELECT id, nasname, shortname, type, ports, server, description, \
    require_ma, limit_proxy_state, coa_port, hotspot_id, device_id, tls_fingerprint, created_at, \
    updated_at FROM nas";

/// Characters of a generated secret: letters and digits a NAS's configuration takes as they are
/// (no quotes, spaces or characters RouterOS or a shell would read specially).
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
/// 32 characters of 57: about 186 bits, far past brute force of the MD5 constructions.
const SECRET_LEN: usize = 32;

fn new_secret() -> String {
    // Rejection sampling: bytes past the last whole multiple of the alphabet are skipped, so
    // every character is equally likely.
    let n = SECRET_ALPHABET.len();
    let limit = (256 / n * n) as u8;
    let mut out = String::with_capacity(SECRET_LEN);
    while out.len() < SECRET_LEN {
        let b: u8 = rand::random();
        if b < limit {
            out.push(char::from(SECRET_ALPHABET[usize::from(b) % n]));
        }
    }
    out
}

/// `GET /api/v1/radius/nas`: the tenant's NAS devices (never their secrets).
#[utoipa::path(get, path = "/api/v1/radius/nas", tag = "radius",
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn list_nas(State(state): State<AppState>, auth: Auth<Noc>) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(&tx, &format!("{NAS_SELECT} ORDER BY id"), &[]).await?;
    tx.commit().await?;
    Ok(Json(Value::Array(rows)))
}

/// A NAS to register.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NasInput {
    /// The address its RADIUS packets come from (one tenant per address).
    pub nasname: String,
    pub shortname: String,
    /// `mikrotik`, `coovachilli`, `chillispot`, `uspot`, `openwrt`, `cisco`, `ubiquiti`,
    /// `other`: the reply dialect.
    #[serde(rename = "type")]
    pub nas_type: Option<String>,
    pub description: Option<String>,
    /// Where the NAS takes CoA and Disconnect (3799; 1700 for older RouterOS).
    pub coa_port: Option<i32>,
    /// `yes` (default), `auto` or `no`.
    pub require_ma: Option<String>,
    /// `yes`, `auto` (default) or `no`.
    pub limit_proxy_state: Option<String>,
    /// The site it serves; its vouchers only are accepted there.
    pub hotspot_id: Option<uuid::Uuid>,
    /// SHA-256 (hex) of its RadSec client certificate.
    pub tls_fingerprint: Option<String>,
    /// The claimed router (`hotspot_devices.id`, of this tenant) this NAS is, when it is one of
    /// the tenant's hotspotd routers that also uses this RADIUS server. While that router holds
    /// an unrevoked device token, its RADIUS sessions are not copied into the hotspot sessions:
    /// the router reports them itself through sync (with MAC, rates, limits and site), and a
    /// copy would count them twice. Accounting (`radacct`) keeps them all the same. One NAS per
    /// router; the link goes when the router is deleted.
    pub device_id: Option<uuid::Uuid>,
}

const NAS_TYPES: [&str; 9] = [
    "mikrotik",
    "coovachilli",
    "chillispot",
    "uspot",
    "openwrt",
    "cisco",
    "ubiquiti",
    "other",
    "routeros",
];
const FLAGS: [&str; 3] = ["yes", "no", "auto"];

fn check_nas(n: &NasInput) -> ApiResult<()> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let name = n.nasname.trim();
    if name.parse::<std::net::IpAddr>().is_err() && n.tls_fingerprint.is_none() {
        bad(
            "nasname",
            "must be the NAS's IP address (a name is allowed only with tls_fingerprint)".into(),
        );
    }
    if name.is_empty() || name.len() > 128 {
        bad("nasname", "must be 1 to 128 characters".into());
    }
    if n.shortname.trim().is_empty() || n.shortname.len() > 32 {
        bad("shortname", "must be 1 to 32 characters".into());
    }
    if let Some(t) = &n.nas_type
        && !NAS_TYPES.contains(&t.as_str())
    {
        bad("type", format!("must be one of {NAS_TYPES:?}"));
    }
    if n.description.as_ref().is_some_and(|d| d.len() > 200) {
        bad("description", "must be at most 200 characters".into());
    }
    if n.coa_port.is_some_and(|p| !(1..=65535).contains(&p)) {
        bad("coa_port", "must be a port, 1 to 65535".into());
    }
    for (field, v) in [
        ("require_ma", &n.require_ma),
        ("limit_proxy_state", &n.limit_proxy_state),
    ] {
        if let Some(v) = v
            && !FLAGS.contains(&v.as_str())
        {
            bad(field, format!("must be one of {FLAGS:?}"));
        }
    }
    if let Some(f) = &n.tls_fingerprint
        && (f.len() != 64
            || !f
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        bad(
            "tls_fingerprint",
            "must be 64 lower-case hex digits (SHA-256)".into(),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `POST /api/v1/radius/nas`: registers a NAS with a new random secret, returned in this answer
/// only (`secret`); afterwards it can only be replaced. With `device_id` it is one of the
/// tenant's claimed routers (hotspotd), which reports its sessions itself: they are then not
/// copied from RADIUS accounting into the hotspot sessions. Another tenant's router, or none, is
/// refused (422), as is a router already linked to another NAS (409).
#[utoipa::path(post, path = "/api/v1/radius/nas", tag = "radius", request_body = NasInput,
    responses((status = 201, body = Object), (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_nas(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Body(n): Body<NasInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let (id, secret) = insert_nas(&tx, auth.user_id, &n).await?;
    let mut row = json_row(&tx, &format!("{NAS_SELECT} WHERE id = $1"), &[&id]).await?;
    tx.commit().await?;
    row["secret"] = Value::String(secret);
    tracing::info!(nas = id, "NAS registered");
    Ok((StatusCode::CREATED, Json(row)))
}

/// Checks and registers a NAS of the tenant in `tx` with a new random secret; its id and the
/// secret (to be shown once, never stored anywhere else).
pub async fn insert_nas(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: uuid::Uuid,
    n: &NasInput,
) -> ApiResult<(i32, String)> {
    check_nas(n)?;
    if let Some(device) = n.device_id {
        check_device(tx, None, device).await?;
    }
    let secret = new_secret();
    let id: i32 = tx
        .query_one(
            "INSERT INTO nas (tenant_id, nasname, shortname, type, description, secret, coa_port, \
                              require_ma, limit_proxy_state, hotspot_id, tls_fingerprint, \
                              created_by, device_id) \
             VALUES (app_current_tenant(), $1, $2, COALESCE($3, 'other'), $4, $5, \
                     COALESCE($6, 3799), COALESCE($7, 'yes'), COALESCE($8, 'auto'), $9, $10, $11, \
                     $12) \
             RETURNING id",
            &[
                &n.nasname.trim(),
                &n.shortname.trim(),
                &n.nas_type,
                &n.description,
                &secret,
                &n.coa_port,
                &n.require_ma,
                &n.limit_proxy_state,
                &n.hotspot_id,
                &n.tls_fingerprint,
                &actor,
                &n.device_id,
            ],
        )
        .await?
        .get(0);
    Ok((id, secret))
}

/// A change to a NAS: any of the fields of [`NasInput`] (the secret is replaced with
/// `POST /api/v1/radius/nas/{id}/secret`). A field left out keeps its value; `hotspot_id` and
/// `device_id` also take `null`, which removes the site or unlinks the router.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NasPatch {
    pub nasname: Option<String>,
    pub shortname: Option<String>,
    #[serde(rename = "type")]
    pub nas_type: Option<String>,
    pub description: Option<String>,
    pub coa_port: Option<i32>,
    pub require_ma: Option<String>,
    pub limit_proxy_state: Option<String>,
    /// The site it serves; `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<uuid::Uuid>, nullable)]
    pub hotspot_id: Option<Option<uuid::Uuid>>,
    pub tls_fingerprint: Option<String>,
    /// The claimed router of this tenant that this NAS is (see [`NasInput::device_id`]);
    /// `null` unlinks it, and its RADIUS sessions are copied into the hotspot sessions again.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<uuid::Uuid>, nullable)]
    pub device_id: Option<Option<uuid::Uuid>>,
}

/// A field that is given: `Some` of its value, `null` included (a missing one is the
/// `default`, `None`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// `PATCH /api/v1/radius/nas/{id}`: changes a NAS; the server's NAS table follows within
/// moments. `device_id` links the NAS to one of the tenant's claimed routers (hotspotd),
/// whose sessions the router reports itself, so its RADIUS sessions are no longer copied into
/// the hotspot sessions (they stay in accounting); `null` unlinks it. A router of another
/// tenant, or none, is refused (422), as is a router already linked to another NAS (409).
#[utoipa::path(patch, path = "/api/v1/radius/nas/{id}", tag = "radius",
    params(("id" = i32, Path)), request_body = NasPatch,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_nas(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i32>,
    Body(p): Body<NasPatch>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    change_nas(&tx, auth.user_id, id, &p).await?;
    let row = json_row(&tx, &format!("{NAS_SELECT} WHERE id = $1"), &[&id]).await?;
    tx.commit().await?;
    tracing::info!(nas = id, "NAS changed");
    Ok(Json(row))
}

/// Checks and applies change `p` to NAS `id` of the tenant in `tx`, the NAS as it would be
/// checked as a new one is; not found for another tenant's.
pub async fn change_nas(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: uuid::Uuid,
    id: i32,
    p: &NasPatch,
) -> ApiResult<()> {
    let row = tx
        .query_opt(
            "SELECT nasname, shortname, type, tls_fingerprint, hotspot_id, device_id \
             FROM nas WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let merged = NasInput {
        nasname: p.nasname.clone().unwrap_or_else(|| row.get(0)),
        shortname: p.shortname.clone().unwrap_or_else(|| row.get(1)),
        nas_type: p.nas_type.clone().or_else(|| row.get(2)),
        description: p.description.clone(),
        coa_port: p.coa_port,
        require_ma: p.require_ma.clone(),
        limit_proxy_state: p.limit_proxy_state.clone(),
        hotspot_id: p.hotspot_id.unwrap_or_else(|| row.get(4)),
        tls_fingerprint: p.tls_fingerprint.clone().or_else(|| row.get(3)),
        device_id: p.device_id.unwrap_or_else(|| row.get(5)),
    };
    check_nas(&merged)?;
    if let Some(Some(device)) = p.device_id {
        check_device(tx, Some(id), device).await?;
    }
    tx.execute(
        "UPDATE nas SET nasname = $2, shortname = $3, type = COALESCE($4, type), \
                description = COALESCE($5, description), coa_port = COALESCE($6, coa_port), \
                require_ma = COALESCE($7, require_ma), \
                limit_proxy_state = COALESCE($8, limit_proxy_state), \
                hotspot_id = $9, tls_fingerprint = COALESCE($10, tls_fingerprint), \
                updated_by = $11, device_id = $12 \
         WHERE id = $1",
        &[
            &id,
            &merged.nasname.trim(),
            &merged.shortname.trim(),
            &p.nas_type,
            &p.description,
            &p.coa_port,
            &p.require_ma,
            &p.limit_proxy_state,
            &merged.hotspot_id,
            &p.tls_fingerprint,
            &actor,
            &merged.device_id,
        ],
    )
    .await?;
    Ok(())
}

/// Refuses a link of NAS `nas` (`None`: a new one) to router `device` unless the router is one
/// of the tenant's in `tx` and no other NAS is linked to it.
async fn check_device(
    tx: &deadpool_postgres::Transaction<'_>,
    nas: Option<i32>,
    device: uuid::Uuid,
) -> ApiResult<()> {
    let known = tx
        .query_opt(
            "SELECT 1 FROM hotspot_devices WHERE id = $1 AND tenant_id = app_current_tenant()",
            &[&device],
        )
        .await?;
    if known.is_none() {
        return Err(ApiError::field(
            "device_id",
            "is not a router of this organisation",
        ));
    }
    let linked = tx
        .query_opt(
            "SELECT coalesce(shortname, nasname)::text FROM nas \
             WHERE tenant_id = app_current_tenant() AND device_id = $1 \
               AND id IS DISTINCT FROM $2",
            &[&device, &nas],
        )
        .await?;
    if let Some(other) = linked {
        return Err(ApiError::Conflict(format!(
            "the router is already linked to NAS {}",
            other.get::<_, String>(0)
        )));
    }
    Ok(())
}

/// `DELETE /api/v1/radius/nas/{id}`: the NAS is no longer a client; its packets are dropped
/// from then on. Its accounting history stays.
#[utoipa::path(delete, path = "/api/v1/radius/nas/{id}", tag = "radius",
    params(("id" = i32, Path)),
    responses((status = 204), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn delete_nas(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i32>,
) -> ApiResult<StatusCode> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    remove_nas(&tx, id).await?;
    tx.commit().await?;
    tracing::info!(nas = id, "NAS removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Removes NAS `id` of the tenant in `tx` (its accounting history stays); not found for
/// another tenant's.
pub async fn remove_nas(tx: &deadpool_postgres::Transaction<'_>, id: i32) -> ApiResult<()> {
    let n = tx.execute("DELETE FROM nas WHERE id = $1", &[&id]).await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// `POST /api/v1/radius/nas/{id}/secret`: replaces the NAS's secret with a new random one,
/// returned in this answer only. The old one stops working within moments (the server's NAS
/// table is notified of the change).
#[utoipa::path(post, path = "/api/v1/radius/nas/{id}/secret", tag = "radius",
    params(("id" = i32, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<i32>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let secret = replace_secret(&tx, auth.user_id, id).await?;
    let mut row = json_row(&tx, &format!("{NAS_SELECT} WHERE id = $1"), &[&id]).await?;
    tx.commit().await?;
    row["secret"] = Value::String(secret);
    tracing::info!(nas = id, "NAS secret replaced");
    Ok(Json(row))
}

/// Replaces the secret of NAS `id` of the tenant in `tx` with a new random one, returned to be
/// shown once; not found for another tenant's.
pub async fn replace_secret(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: uuid::Uuid,
    id: i32,
) -> ApiResult<String> {
    let secret = new_secret();
    let n = tx
        .execute(
            "UPDATE nas SET secret = $2, updated_by = $3 WHERE id = $1",
            &[&id, &secret, &actor],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(secret)
}

/// Filters of the live session list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RadiusSessionFilter {
    /// Sessions of this NAS (`nas.id`).
    pub nas_id: Option<i32>,
    pub username: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/radius/sessions`: sessions open now on the tenant's NAS devices (no Stop yet,
/// no Disconnect ACKed), newest first, with the NAS, counters and the last request sent.
#[utoipa::path(get, path = "/api/v1/radius/sessions", tag = "radius",
    params(RadiusSessionFilter),
    responses((status = 200, body = Page), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Params(f): Params<RadiusSessionFilter>,
) -> ApiResult<Json<Page>> {
    let limit = page_limit(f.limit)?;
    let before: Option<i64> = match &f.cursor {
        Some(c) => Some(
            decode_cursor(c, 1)?[0]
                .parse()
                .map_err(|_| ApiError::field("cursor", "is not a cursor this API gave"))?,
        ),
        None => None,
    };
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(
        &tx,
        "SELECT r.radacctid, r.username, r.acctsessionid, r.acctuniqueid, r.nasipaddress, \
                n.id AS nas_id, n.shortname AS nas_shortname, r.framedipaddress, \
                r.callingstationid, r.calledstationid, r.acctstarttime, r.acctupdatetime, \
                r.acctsessiontime, r.acctinputoctets, r.acctoutputoctets, r.class, \
                r.subscriber_id, \
                (SELECT jsonb_build_object('id', d.id, 'kind', d.kind, 'reason', d.reason, \
                        'status', d.status, 'error_cause', d.error_cause, \
                        'requested_at', d.requested_at) \
                 FROM radius_dynauth d WHERE d.acctuniqueid = r.acctuniqueid \
                 ORDER BY d.id DESC LIMIT 1) AS last_request \
         FROM radacct r \
         LEFT JOIN nas n ON n.tenant_id = r.tenant_id AND n.nasname = host(r.nasipaddress) \
         WHERE r.acctstoptime IS NULL \
           AND NOT EXISTS (SELECT 1 FROM radius_dynauth d WHERE d.acctuniqueid = r.acctuniqueid \
                           AND d.kind = 'disconnect' AND d.status = 'ack') \
           AND ($1::int IS NULL OR n.id = $1) \
           AND ($2::text IS NULL OR r.username = $2) \
           AND ($3::int8 IS NULL OR r.radacctid < $3) \
         ORDER BY r.radacctid DESC LIMIT $4",
        &[&f.nas_id, &f.username, &before, &(limit + 1)],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(page_of(rows, limit, |v| {
        vec![super::json_text(&v["radacctid"])]
    })))
}

/// Why an operator ends a session.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectRequest {
    pub reason: Option<String>,
}

pub(crate) fn sent_json(id: i64, sent: &dynauth::Sent) -> Value {
    json!({
        "request_id": sent.id,
        "radacctid": id,
        "outcome": sent.outcome.as_str(),
        "error_cause": sent.outcome.error_cause(),
        "attempts": sent.attempts,
    })
}

pub(crate) fn send_error(e: SendError) -> ApiError {
    match e {
        SendError::NoSession(_) => ApiError::NotFound,
        SendError::UnknownNas(_) | SendError::NoAddress => ApiError::Conflict(e.to_string()),
        SendError::Db(e) => e.into(),
        SendError::Io(e) => ApiError::Internal(e.to_string()),
    }
}

/// `POST /api/v1/radius/sessions/{radacctid}/disconnect`: sends Disconnect-Request to the
/// session's NAS and answers with what the NAS said: `ack` (the session is over), `nak` with
/// its Error-Cause, or `timeout` after 4 tries (about 11 s). Only an ACK ends the session.
#[utoipa::path(post, path = "/api/v1/radius/sessions/{id}/disconnect", tag = "radius",
    params(("id" = i64, Path)), request_body = DisconnectRequest,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn disconnect(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Path(id): Path<i64>,
    Body(req): Body<DisconnectRequest>,
) -> ApiResult<Json<Value>> {
    // Not sent to the NAS, but refused when it is no reason at all: nothing is disconnected.
    if req
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 200 || r.chars().any(char::is_control))
    {
        return Err(ApiError::field(
            "reason",
            "at most 200 characters, no control characters",
        ));
    }
    let tenant = auth.tenant_id;
    let sent = dynauth::send_for_session(
        &state.pool,
        tenant,
        id,
        Kind::Disconnect,
        &Changes::default(),
        Cause {
            reason: "operator",
            requested_by: Some(auth.user_id),
        },
        &dynauth::BACKOFF,
    )
    .await
    .map_err(send_error)?;
    Ok(Json(sent_json(id, &sent)))
}

/// New limits for a live session, and why.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoaRequest {
    #[serde(flatten)]
    pub changes: Changes,
    /// `top_up` (more time or data) or `throttle` (fair use); default `top_up`.
    pub reason: Option<String>,
}

/// `POST /api/v1/radius/sessions/{radacctid}/coa`: sends CoA-Request with new rates, time or
/// data to the session's NAS, in its dialect, without dropping the guest.
#[utoipa::path(post, path = "/api/v1/radius/sessions/{id}/coa", tag = "radius",
    params(("id" = i64, Path)), request_body = CoaRequest,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn coa(
    State(state): State<AppState>,
    auth: Auth<Noc>,
    Path(id): Path<i64>,
    Body(req): Body<CoaRequest>,
) -> ApiResult<Json<Value>> {
    if req.changes.is_empty() {
        return Err(ApiError::field(
            "up_kbps",
            "give at least one of up_kbps, down_kbps, session_timeout, total_bytes",
        ));
    }
    let reason = req.reason.as_deref().unwrap_or("top_up");
    if !["top_up", "throttle"].contains(&reason) {
        return Err(ApiError::field("reason", "must be top_up or throttle"));
    }
    if req.changes.up_kbps == Some(0) || req.changes.down_kbps == Some(0) {
        return Err(ApiError::field(
            "up_kbps",
            "rates must be positive (kbit/s); use a disconnect to stop traffic",
        ));
    }
    let tenant = auth.tenant_id;
    let sent = dynauth::send_for_session(
        &state.pool,
        tenant,
        id,
        Kind::Coa,
        &req.changes,
        Cause {
            reason,
            requested_by: Some(auth.user_id),
        },
        &dynauth::BACKOFF,
    )
    .await
    .map_err(send_error)?;
    if sent.outcome != Outcome::Ack {
        tracing::info!(
            radacctid = id,
            outcome = sent.outcome.as_str(),
            "CoA not applied"
        );
    }
    Ok(Json(sent_json(id, &sent)))
}
