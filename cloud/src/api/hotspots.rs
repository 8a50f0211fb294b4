//! Sites (hotspots) with their routers' status and claim codes, and the packages sold on them.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Auth, Noc, Staff};
use super::error::{ApiError, ApiResult, FieldError};
use super::{Body, json_row, json_rows};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/hotspots", get(list).post(create))
        .route("/api/v1/hotspots/{id}", get(show).patch(update))
        .route("/api/v1/hotspots/{id}/claim-code", post(claim_code))
        .route("/api/v1/packages", get(list_packages).post(create_package))
        .route(
            "/api/v1/packages/{id}",
            get(show_package)
                .patch(update_package)
                .delete(delete_package),
        )
}

/// A hotspot with its router's status: last contact, software version, clients online now.
pub(crate) const HOTSPOT_SELECT: &str = "
    SELECT h.*, d.last_seen_at, d.software_version, d.hostname, d.claimed_at,
           (SELECT count(*) FROM hotspot_sessions s
            WHERE s.tenant_id = h.tenant_id AND s.hotspot_id = h.id
              AND s.session_status = 'active') AS clients_now
    FROM hotspots h
    LEFT JOIN LATERAL (
        SELECT * FROM hotspot_devices dv
        WHERE dv.hotspot_id = h.id AND dv.revoked_at IS NULL
        ORDER BY dv.last_seen_at DESC NULLS LAST, dv.created_at DESC LIMIT 1) d ON true";

/// `GET /api/v1/hotspots`
#[utoipa::path(get, path = "/api/v1/hotspots", tag = "hotspots",
    responses((status = 200, description = "hotspots with device status", body = Vec<Object>)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: Auth<Staff>) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(
        &tx,
        &format!("{HOTSPOT_SELECT} ORDER BY h.created_at, h.id"),
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Value::Array(strip(rows, &["password"]))))
}

/// `GET /api/v1/hotspots/{id}`
#[utoipa::path(get, path = "/api/v1/hotspots/{id}", tag = "hotspots",
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
    let row = json_row(&tx, &format!("{HOTSPOT_SELECT} WHERE h.id = $1"), &[&id]).await?;
    tx.commit().await?;
    Ok(Json(strip_one(row, &["password"])))
}

/// What an operator gives for a new site (and, all optional, for a change).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HotspotInput {
    pub name: Option<String>,
    pub location: Option<String>,
    pub ssid: Option<String>,
    pub status: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub bandwidth_limit: Option<i32>,
    pub max_concurrent_users: Option<i32>,
    pub is_active: Option<bool>,
}

const HOTSPOT_STATUSES: [&str; 4] = ["active", "inactive", "maintenance", "offline"];

fn check_hotspot(h: &HotspotInput, creating: bool) -> ApiResult<()> {
    let mut errors = Vec::new();
    let mut text = |field: &str, v: &Option<String>, max: usize| match v {
        None if creating => errors.push(FieldError {
            field: field.into(),
            message: "is required".into(),
        }),
        Some(s) if s.trim().is_empty() || s.len() > max => errors.push(FieldError {
            field: field.into(),
            message: format!("must be 1 to {max} characters"),
        }),
        _ => {}
    };
    text("name", &h.name, 255);
    text("location", &h.location, 1000);
    text("ssid", &h.ssid, 32);
    if let Some(s) = &h.status
        && !HOTSPOT_STATUSES.contains(&s.as_str())
    {
        errors.push(FieldError {
            field: "status".into(),
            message: format!("must be one of {HOTSPOT_STATUSES:?}"),
        });
    }
    for (field, v) in [
        ("bandwidth_limit", h.bandwidth_limit),
        ("max_concurrent_users", h.max_concurrent_users),
    ] {
        if v.is_some_and(|n| n <= 0) {
            errors.push(FieldError {
                field: field.into(),
                message: "must be positive".into(),
            });
        }
    }
    if h.latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        errors.push(FieldError {
            field: "latitude".into(),
            message: "must be between -90 and 90".into(),
        });
    }
    if h.longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        errors.push(FieldError {
            field: "longitude".into(),
            message: "must be between -180 and 180".into(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Checks a new site and stores it in the caller's tenant transaction (the API's create and
/// the console's).
pub async fn insert(tx: &deadpool_postgres::Transaction<'_>, h: &HotspotInput) -> ApiResult<Uuid> {
    check_hotspot(h, true)?;
    Ok(tx
        .query_one(
            "INSERT INTO hotspots (tenant_id, name, location, ssid, status, latitude, longitude,
                                   bandwidth_limit, max_concurrent_users, is_active)
             VALUES (app_current_tenant(), $1, $2, $3, coalesce($4, 'active'),
                     $5::float8::numeric, $6::float8::numeric,
                     coalesce($7, 10), coalesce($8, 50), coalesce($9, true))
             RETURNING id",
            &[
                &h.name,
                &h.location,
                &h.ssid,
                &h.status,
                &h.latitude,
                &h.longitude,
                &h.bandwidth_limit,
                &h.max_concurrent_users,
                &h.is_active,
            ],
        )
        .await?
        .get(0))
}

/// `POST /api/v1/hotspots`
#[utoipa::path(post, path = "/api/v1/hotspots", tag = "hotspots", request_body = HotspotInput,
    responses((status = 201, body = Object), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth<Noc>,
    Body(h): Body<HotspotInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let id = insert(&tx, &h).await?;
    let row = json_row(&tx, &format!("{HOTSPOT_SELECT} WHERE h.id = $1"), &[&id]).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(strip_one(row, &["password"]))))
}

/// `PATCH /api/v1/hotspots/{id}`
#[utoipa::path(patch, path = "/api/v1/hotspots/{id}", tag = "hotspots",
    params(("id" = Uuid, Path)), request_body = HotspotInput,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth<Noc>,
    Path(id): Path<Uuid>,
    Body(h): Body<HotspotInput>,
) -> ApiResult<Json<Value>> {
    check_hotspot(&h, false)?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let n = tx
        .execute(
            "UPDATE hotspots SET name = coalesce($2, name), location = coalesce($3, location),
                 ssid = coalesce($4, ssid), status = coalesce($5, status),
                 latitude = coalesce($6::float8::numeric, latitude),
                 longitude = coalesce($7::float8::numeric, longitude),
                 bandwidth_limit = coalesce($8, bandwidth_limit),
                 max_concurrent_users = coalesce($9, max_concurrent_users),
                 is_active = coalesce($10, is_active)
             WHERE id = $1",
            &[
                &id,
                &h.name,
                &h.location,
                &h.ssid,
                &h.status,
                &h.latitude,
                &h.longitude,
                &h.bandwidth_limit,
                &h.max_concurrent_users,
                &h.is_active,
            ],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    let row = json_row(&tx, &format!("{HOTSPOT_SELECT} WHERE h.id = $1"), &[&id]).await?;
    tx.commit().await?;
    Ok(Json(strip_one(row, &["password"])))
}

/// A one-time claim code for a site's router.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ClaimCode {
    /// Type this into the router (`hotspotd claim`). Shown once; only its hash is kept.
    pub claim_code: String,
    pub device_id: Uuid,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// `POST /api/v1/hotspots/{id}/claim-code`: a router slot with a one-time claim code, valid
/// for 24 hours (flow 6, provisioning; the router redeems it with `device_claim()`).
#[utoipa::path(post, path = "/api/v1/hotspots/{id}/claim-code", tag = "hotspots",
    params(("id" = Uuid, Path)),
    responses((status = 201, body = ClaimCode), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn claim_code(
    State(state): State<AppState>,
    auth: Auth<Noc>,
    Path(id): Path<Uuid>,
) -> ApiResult<(StatusCode, Json<ClaimCode>)> {
    let made = new_claim_code(&state, auth.tenant_id, auth.user_id, id).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// A router slot of the tenant's site `id` with a one-time claim code valid for 24 hours (the
/// API's and the console's); 404 for a site the tenant does not have.
pub async fn new_claim_code(
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
) -> ApiResult<ClaimCode> {
    use crate::sync::{SyncError, device};
    let expires_at = chrono::Utc::now() + chrono::Duration::hours(24);
    let made = device::create_claim_code(&state.pool, tenant_id, id, Some(user_id), expires_at)
        .await
        .map_err(|e| match e {
            SyncError::Invalid(_) => ApiError::NotFound,
            SyncError::Db(e) => ApiError::from(e),
            other => ApiError::internal(other),
        })?;
    Ok(ClaimCode {
        claim_code: made.code,
        device_id: made.device_id,
        expires_at: made.expires_at,
    })
}

fn strip(rows: Vec<Value>, hidden: &[&str]) -> Vec<Value> {
    rows.into_iter().map(|r| strip_one(r, hidden)).collect()
}

fn strip_one(mut row: Value, hidden: &[&str]) -> Value {
    if let Value::Object(map) = &mut row {
        for h in hidden {
            map.remove(*h);
        }
    }
    row
}

/// A package: what a guest or client buys.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `hotspot` or `subscription`.
    pub package_type: Option<String>,
    pub download_mbps: Option<i32>,
    pub upload_mbps: Option<i32>,
    /// Price in the currency's major unit (e.g. 20 = KES 20).
    pub price: Option<f64>,
    pub duration_minutes: Option<i32>,
    pub data_limit_mb: Option<i32>,
    pub max_devices: Option<i32>,
    pub validity_days: Option<i32>,
    pub is_active: Option<bool>,
    /// The sites that sell it, each one of this tenant's hotspots; empty: every site. Absent on
    /// an update: the sites stay as they are.
    pub site_ids: Option<Vec<Uuid>>,
    /// On an update, the limits to take away (an absent field keeps its value):
    /// `duration_minutes`, `data_limit_mb`. The package then has no such limit.
    pub clear: Option<Vec<String>>,
}

/// The limits an update may take away.
const CLEARABLE: [&str; 2] = ["duration_minutes", "data_limit_mb"];

/// The API's checks of a package's fields (`creating`: name and rates are required).
pub fn check_package(p: &PackageInput, creating: bool) -> ApiResult<()> {
    let mut errors = Vec::new();
    let mut push = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    match &p.name {
        None if creating => push("name", "is required"),
        Some(n) if n.trim().is_empty() || n.len() > 255 => {
            push("name", "must be 1 to 255 characters")
        }
        _ => {}
    }
    if let Some(t) = &p.package_type
        && t != "hotspot"
        && t != "subscription"
    {
        push("package_type", "must be hotspot or subscription");
    }
    for (field, v) in [
        ("download_mbps", p.download_mbps),
        ("upload_mbps", p.upload_mbps),
    ] {
        match v {
            None if creating => push(field, "is required"),
            Some(n) if n <= 0 => push(field, "must be positive"),
            _ => {}
        }
    }
    for (field, v) in [
        ("duration_minutes", p.duration_minutes),
        ("data_limit_mb", p.data_limit_mb),
        ("max_devices", p.max_devices),
        ("validity_days", p.validity_days),
    ] {
        if v.is_some_and(|n| n <= 0) {
            push(field, "must be positive");
        }
    }
    if p.price.is_some_and(|v| !(0.0..=1e9).contains(&v)) {
        push("price", "must be between 0 and 1e9");
    }
    for c in p.clear.iter().flatten() {
        if creating {
            push("clear", "only an update takes limits away");
        } else if !CLEARABLE.contains(&c.as_str()) {
            push("clear", "may name duration_minutes and data_limit_mb only");
        } else if (c == "duration_minutes" && p.duration_minutes.is_some())
            || (c == "data_limit_mb" && p.data_limit_mb.is_some())
        {
            push("clear", "names a limit the same request sets");
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The packages not deleted, each with `site_ids`: the sites that sell it (empty: every site).
pub(crate) const PACKAGE_SELECT: &str = "
    SELECT p.*, ARRAY(SELECT l.hotspot_id FROM service_package_hotspots l
                      WHERE l.service_package_id = p.id ORDER BY l.hotspot_id) AS site_ids
    FROM service_packages p WHERE p.deleted_at IS NULL";

/// Checks that every id of `site_ids` is one of this tenant's sites (row-level security hides
/// the others): 422 naming `site_ids` otherwise. The ids, each once.
pub async fn check_sites(
    tx: &deadpool_postgres::Transaction<'_>,
    site_ids: &[Uuid],
) -> ApiResult<Vec<Uuid>> {
    let mut ids = site_ids.to_vec();
    ids.sort();
    ids.dedup();
    if ids.len() > 1000 {
        return Err(ApiError::field("site_ids", "at most 1000 sites"));
    }
    let found: i64 = tx
        .query_one("SELECT count(*) FROM hotspots WHERE id = ANY($1)", &[&ids])
        .await?
        .get(0);
    if found != ids.len() as i64 {
        return Err(ApiError::field(
            "site_ids",
            "every id must be one of this organisation's sites",
        ));
    }
    Ok(ids)
}

/// Makes package `id` sold at exactly `sites` (checked by [`check_sites`]; empty: every site).
/// Rows already right are left alone, so routers are told only of a real change.
async fn set_sites(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    sites: &[Uuid],
) -> ApiResult<()> {
    tx.execute(
        "DELETE FROM service_package_hotspots
         WHERE service_package_id = $1 AND NOT (hotspot_id = ANY($2))",
        &[&id, &sites],
    )
    .await?;
    tx.execute(
        "INSERT INTO service_package_hotspots (tenant_id, service_package_id, hotspot_id)
         SELECT app_current_tenant(), $1, h FROM unnest($2::uuid[]) h
         ON CONFLICT DO NOTHING",
        &[&id, &sites],
    )
    .await?;
    Ok(())
}

/// Package `id` as the API shows it (with its sites).
async fn package_json(tx: &deadpool_postgres::Transaction<'_>, id: Uuid) -> ApiResult<Value> {
    json_row(tx, &format!("{PACKAGE_SELECT} AND p.id = $1"), &[&id]).await
}

fn row_id(row: &Value) -> ApiResult<Uuid> {
    row.get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| ApiError::internal("package row without an id"))
}

/// A new package of the signed-in user's tenant (the API's checks first); the row as JSON.
pub async fn insert_package(
    tx: &deadpool_postgres::Transaction<'_>,
    p: &PackageInput,
    user_id: Uuid,
) -> ApiResult<Value> {
    check_package(p, true)?;
    let sites = check_sites(tx, p.site_ids.as_deref().unwrap_or_default()).await?;
    let hotspot = p.package_type.as_deref().unwrap_or("hotspot") == "hotspot";
    let row = json_row(
        tx,
        "INSERT INTO service_packages (tenant_id, name, description, package_type,
             connection_type, download_mbps, upload_mbps, price, duration_minutes, data_limit_mb,
             max_devices, validity_days, is_active, created_by)
         VALUES (app_current_tenant(), $1, $2, coalesce($3, 'hotspot'),
                 CASE WHEN $4 THEN 'hotspot' ELSE 'fiber' END, $5, $6,
                 coalesce($7::float8::numeric, 0), $8, $9, coalesce($10, 1), coalesce($11, 30),
                 coalesce($12, true), $13)
         RETURNING *",
        &[
            &p.name,
            &p.description,
            &p.package_type,
            &hotspot,
            &p.download_mbps,
            &p.upload_mbps,
            &p.price,
            &p.duration_minutes,
            &p.data_limit_mb,
            &p.max_devices,
            &p.validity_days,
            &p.is_active,
            &user_id,
        ],
    )
    .await?;
    let id = row_id(&row)?;
    set_sites(tx, id, &sites).await?;
    package_json(tx, id).await
}

/// Changes package `id` (the API's checks first; absent fields keep their value); the row as
/// JSON, or not found (another tenant's, deleted).
pub async fn update_package_row(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    p: &PackageInput,
    user_id: Uuid,
) -> ApiResult<Value> {
    check_package(p, false)?;
    let sites = match &p.site_ids {
        Some(ids) => {
            // Another tenant's package is not found, whatever sites the change names.
            tx.query_opt(
                "SELECT 1 FROM service_packages WHERE id = $1 AND deleted_at IS NULL",
                &[&id],
            )
            .await?
            .ok_or(ApiError::NotFound)?;
            Some(check_sites(tx, ids).await?)
        }
        None => None,
    };
    json_row(
        tx,
        "UPDATE service_packages SET name = coalesce($2, name),
             description = coalesce($3, description),
             package_type = coalesce($4, package_type),
             download_mbps = coalesce($5, download_mbps), upload_mbps = coalesce($6, upload_mbps),
             price = coalesce($7::float8::numeric, price),
             duration_minutes = CASE WHEN 'duration_minutes' = ANY($14) THEN NULL
                                     ELSE coalesce($8, duration_minutes) END,
             data_limit_mb = CASE WHEN 'data_limit_mb' = ANY($14) THEN NULL
                                  ELSE coalesce($9, data_limit_mb) END,
             max_devices = coalesce($10, max_devices),
             validity_days = coalesce($11, validity_days),
             is_active = coalesce($12, is_active), updated_by = $13
         WHERE id = $1 AND deleted_at IS NULL
         RETURNING *",
        &[
            &id,
            &p.name,
            &p.description,
            &p.package_type,
            &p.download_mbps,
            &p.upload_mbps,
            &p.price,
            &p.duration_minutes,
            &p.data_limit_mb,
            &p.max_devices,
            &p.validity_days,
            &p.is_active,
            &user_id,
            &p.clear.clone().unwrap_or_default(),
        ],
    )
    .await?;
    if let Some(sites) = sites {
        set_sites(tx, id, &sites).await?;
    }
    package_json(tx, id).await
}

/// `GET /api/v1/packages`
#[utoipa::path(get, path = "/api/v1/packages", tag = "packages",
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn list_packages(
    State(state): State<AppState>,
    auth: Auth<Staff>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(&tx, &format!("{PACKAGE_SELECT} ORDER BY p.name, p.id"), &[]).await?;
    tx.commit().await?;
    Ok(Json(Value::Array(rows)))
}

/// `GET /api/v1/packages/{id}`
#[utoipa::path(get, path = "/api/v1/packages/{id}", tag = "packages",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn show_package(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = json_row(&tx, &format!("{PACKAGE_SELECT} AND p.id = $1"), &[&id]).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// `POST /api/v1/packages`
#[utoipa::path(post, path = "/api/v1/packages", tag = "packages", request_body = PackageInput,
    responses((status = 201, body = Object), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_package(
    State(state): State<AppState>,
    auth: Auth<Noc>,
    Body(p): Body<PackageInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = insert_package(&tx, &p, auth.user_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// `PATCH /api/v1/packages/{id}`
#[utoipa::path(patch, path = "/api/v1/packages/{id}", tag = "packages",
    params(("id" = Uuid, Path)), request_body = PackageInput,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_package(
    State(state): State<AppState>,
    auth: Auth<Noc>,
    Path(id): Path<Uuid>,
    Body(p): Body<PackageInput>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = update_package_row(&tx, id, &p, auth.user_id).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// `DELETE /api/v1/packages/{id}` (soft: the package stays for the vouchers sold from it).
#[utoipa::path(delete, path = "/api/v1/packages/{id}", tag = "packages",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn delete_package(
    State(state): State<AppState>,
    auth: Auth<Noc>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    delete_package_row(&tx, id, auth.user_id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes package `id` (soft: no longer sold anywhere, its vouchers and sessions keep their
/// terms); not found for another tenant's or one already deleted. What the API's delete and the
/// console's do.
pub async fn delete_package_row(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    user_id: Uuid,
) -> ApiResult<()> {
    let n = tx
        .execute(
            "UPDATE service_packages SET deleted_at = now(), is_active = false, updated_by = $2
             WHERE id = $1 AND deleted_at IS NULL",
            &[&id, &user_id],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}
