//! The tenant's portal branding (`portal_branding`): title, welcome text, accent colour,
//! support phone and logo, which every router of the tenant pulls and shows over its own
//! `[branding]` configuration.
//!
//! Readers are any staff ([`Staff`]); writers the tenant's administrators ([`Admin`]). The
//! service functions ([`view`], [`save`], [`logo`], [`remove_logo`]) run in the caller's tenant
//! transaction and are the console's too. The checks are `hotspot_shared::branding`'s, the
//! same the routers apply; a refused value changes nothing.
//!
//! A site may override any of these (`hotspot_branding`, [`site_view`], [`site_save`],
//! [`site_reset`], [`site_remove_logo`], [`site_logo`]): a field it leaves unset inherits the
//! tenant's, and its router is sent the result ([`EFFECTIVE_SELECT`]).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hotspot_shared::branding as rules;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Body;
use super::auth::{Admin, Auth, Staff};
use super::error::{ApiError, ApiResult, FieldError};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/settings/branding",
            get(get_branding).put(put_branding),
        )
        .route(
            "/api/v1/hotspots/{id}/branding",
            get(get_site_branding)
                .put(put_site_branding)
                .delete(delete_site_branding),
        )
}

/// The branding to store. A logo left out keeps the stored one; `remove_logo` removes it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingInput {
    /// 1 to 64 characters.
    pub title: String,
    /// 1 to 280 characters.
    pub welcome: String,
    /// `#rrggbb`.
    pub accent_color: String,
    /// Digits, spaces, `+` and `-`, at most 20; empty or absent for none.
    pub support_phone: Option<String>,
    /// A PNG or JPEG image of at most 32 KiB, standard base64 (SVG is refused).
    pub logo: Option<String>,
    /// Removes the stored logo (with no `logo` given).
    pub remove_logo: Option<bool>,
}

/// The stored logo, described.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogoView {
    pub content_type: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i32,
    /// Lower-case hex SHA-256 of the image.
    pub sha256: String,
}

/// The tenant's branding as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BrandingView {
    pub title: String,
    pub welcome: String,
    pub accent_color: String,
    pub support_phone: Option<String>,
    pub logo: Option<LogoView>,
    /// Grows with every change; the routers show the latest they pulled.
    pub version: i64,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The tenant's branding, if its administrators set one.
pub async fn view(tx: &deadpool_postgres::Transaction<'_>) -> ApiResult<Option<BrandingView>> {
    let row = tx
        .query_opt(
            "SELECT title, welcome, accent_color, support_phone, logo_type, logo_width,
                    logo_height, octet_length(logo), logo_sha256, version, updated_at
             FROM portal_branding",
            &[],
        )
        .await?;
    Ok(row.map(|r| BrandingView {
        title: r.get(0),
        welcome: r.get(1),
        accent_color: r.get(2),
        support_phone: r.get(3),
        logo: r.get::<_, Option<String>>(4).map(|content_type| LogoView {
            content_type,
            width: r.get(5),
            height: r.get(6),
            bytes: r.get(7),
            sha256: rules::hex(&r.get::<_, Vec<u8>>(8)),
        }),
        version: r.get(9),
        updated_at: r.get(10),
    }))
}

/// A checked logo, ready to store.
struct CheckedLogo {
    bytes: Vec<u8>,
    info: rules::ImageInfo,
}

/// The input, checked.
struct Checked {
    title: String,
    welcome: String,
    accent: String,
    phone: Option<String>,
    logo: Option<CheckedLogo>,
}

/// The fields of a branding, each checked when given (`None`: not given, or blank).
struct Parts {
    title: Option<String>,
    welcome: Option<String>,
    accent: Option<String>,
    phone: Option<String>,
    logo: Option<CheckedLogo>,
}

/// The fields as given, before any check.
struct Given<'a> {
    title: Option<&'a str>,
    welcome: Option<&'a str>,
    accent: Option<&'a str>,
    phone: Option<&'a str>,
    logo: Option<&'a str>,
    remove_logo: bool,
}

/// Checks every field given, by the routers' rules; all reasons at once. With `required`, the
/// title, the welcome text and the colour must be given (the tenant's branding); without, a
/// blank one is left out (a site's override, which inherits it).
fn check_parts(given: &Given<'_>, required: bool) -> ApiResult<Parts> {
    let mut errors = Vec::new();
    let mut note = |e: rules::BrandingError| {
        errors.push(FieldError {
            field: e.field.into(),
            message: e.message,
        })
    };
    let given_text = |v: Option<&str>| -> Option<String> {
        match v {
            Some(v) if required || !v.trim().is_empty() => Some(v.to_owned()),
            None if required => Some(String::new()),
            _ => None,
        }
    };
    let title = given_text(given.title)
        .map(|v| rules::text("title", &v, rules::MAX_TITLE))
        .transpose()
        .map_err(&mut note);
    let welcome = given_text(given.welcome)
        .map(|v| rules::text("welcome", &v, rules::MAX_WELCOME))
        .transpose()
        .map_err(&mut note);
    let accent = given_text(given.accent)
        .map(|v| rules::color("accent_color", &v))
        .transpose()
        .map_err(&mut note);
    let phone = rules::phone("support_phone", given.phone.unwrap_or("")).map_err(&mut note);
    let refused = |message: &str| rules::BrandingError {
        field: "logo",
        message: message.into(),
    };
    let logo = match given.logo {
        None => Ok(None),
        Some(_) if given.remove_logo => Err(refused("cannot be given with remove_logo")),
        // Bounded before decoding: 32 KiB is under 44 Ki characters of base64.
        Some(b64) if b64.len() > rules::MAX_LOGO_BYTES / 3 * 4 + 1024 => Err(refused(&format!(
            "must be at most {} KiB",
            rules::MAX_LOGO_BYTES / 1024
        ))),
        Some(b64) => match decode_base64(b64) {
            None => Err(refused("must be standard base64")),
            Some(bytes) => rules::logo(&bytes).map(|info| Some(CheckedLogo { bytes, info })),
        },
    }
    .map_err(&mut note);
    match (title, welcome, accent, phone, logo) {
        (Ok(title), Ok(welcome), Ok(accent), Ok(phone), Ok(logo)) => Ok(Parts {
            title,
            welcome,
            accent,
            phone,
            logo,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Checks every field of the tenant's branding; all reasons at once.
fn check(input: &BrandingInput) -> ApiResult<Checked> {
    let parts = check_parts(
        &Given {
            title: Some(&input.title),
            welcome: Some(&input.welcome),
            accent: Some(&input.accent_color),
            phone: input.support_phone.as_deref(),
            logo: input.logo.as_deref(),
            remove_logo: input.remove_logo == Some(true),
        },
        true,
    )?;
    match parts {
        Parts {
            title: Some(title),
            welcome: Some(welcome),
            accent: Some(accent),
            phone,
            logo,
        } => Ok(Checked {
            title,
            welcome,
            accent,
            phone,
            logo,
        }),
        // `required` gives every one or refuses.
        _ => Err(ApiError::Internal(
            "a required branding field went unchecked".into(),
        )),
    }
}

/// The columns to store for a checked logo (all `None` without one).
type LogoColumns = (
    Option<Vec<u8>>,
    Option<&'static str>,
    Option<i32>,
    Option<i32>,
    Option<Vec<u8>>,
);

fn logo_columns(logo: &Option<CheckedLogo>) -> LogoColumns {
    match logo {
        Some(l) => (
            Some(l.bytes.clone()),
            Some(l.info.content_type),
            Some(l.info.width as i32),
            Some(l.info.height as i32),
            Some(Sha256::digest(&l.bytes).to_vec()),
        ),
        None => (None, None, None, None, None),
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

/// Checks and stores the tenant's branding in `tx` (a logo only when given; `remove_logo`
/// removes it). Every change bumps the version and reaches the routers by the change pull.
pub async fn save(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
    input: &BrandingInput,
) -> ApiResult<BrandingView> {
    let Checked {
        title,
        welcome,
        accent,
        phone,
        logo,
    } = check(input)?;
    let remove = input.remove_logo == Some(true);
    let (bytes, ctype, width, height, sha) = logo_columns(&logo);
    let keep = logo.is_none() && !remove;
    tx.execute(
        "INSERT INTO portal_branding (tenant_id, title, welcome, accent_color, support_phone,
             logo, logo_type, logo_width, logo_height, logo_sha256, updated_by)
         VALUES (app_current_tenant(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant_id) DO UPDATE SET
             title = EXCLUDED.title, welcome = EXCLUDED.welcome,
             accent_color = EXCLUDED.accent_color, support_phone = EXCLUDED.support_phone,
             logo = CASE WHEN $11 THEN portal_branding.logo ELSE EXCLUDED.logo END,
             logo_type = CASE WHEN $11 THEN portal_branding.logo_type ELSE EXCLUDED.logo_type END,
             logo_width = CASE WHEN $11 THEN portal_branding.logo_width
                               ELSE EXCLUDED.logo_width END,
             logo_height = CASE WHEN $11 THEN portal_branding.logo_height
                                ELSE EXCLUDED.logo_height END,
             logo_sha256 = CASE WHEN $11 THEN portal_branding.logo_sha256
                                ELSE EXCLUDED.logo_sha256 END,
             version = portal_branding.version + 1,
             updated_by = EXCLUDED.updated_by, updated_at = now()",
        &[
            &title, &welcome, &accent, &phone, &bytes, &ctype, &width, &height, &sha, &actor, &keep,
        ],
    )
    .await?;
    view(tx).await?.ok_or(ApiError::NotFound)
}

/// Removes the stored logo, keeping the rest (nothing set yet: not found).
pub async fn remove_logo(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
) -> ApiResult<BrandingView> {
    let n = tx
        .execute(
            "UPDATE portal_branding SET logo = NULL, logo_type = NULL, logo_width = NULL,
                 logo_height = NULL, logo_sha256 = NULL, version = version + 1,
                 updated_by = $1, updated_at = now()",
            &[&actor],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    view(tx).await?.ok_or(ApiError::NotFound)
}

/// The stored logo: its content type and bytes.
pub async fn logo(tx: &deadpool_postgres::Transaction<'_>) -> ApiResult<Option<(String, Vec<u8>)>> {
    let row = tx
        .query_opt(
            "SELECT logo_type, logo FROM portal_branding WHERE logo IS NOT NULL",
            &[],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// `GET /api/v1/settings/branding`
#[utoipa::path(get, path = "/api/v1/settings/branding", tag = "settings",
    responses((status = 200, body = BrandingView), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_branding(
    State(state): State<AppState>,
    auth: Auth<Staff>,
) -> ApiResult<Json<BrandingView>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let v = view(&tx).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(v))
}

/// `PUT /api/v1/settings/branding`: creates or replaces the branding; every router of the
/// tenant pulls it.
#[utoipa::path(put, path = "/api/v1/settings/branding", tag = "settings",
    request_body = BrandingInput,
    responses((status = 200, body = BrandingView), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn put_branding(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Body(input): Body<BrandingInput>,
) -> ApiResult<Json<BrandingView>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let v = save(&tx, auth.user_id, &input).await?;
    tx.commit().await?;
    Ok(Json(v))
}

/// A site's override as given: every field optional, and absent or blank inherits the tenant's.
/// A logo left out keeps the site's stored one; `remove_logo` removes it (the tenant's shows).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteBrandingInput {
    /// 1 to 64 characters; absent or empty inherits.
    pub title: Option<String>,
    /// 1 to 280 characters; absent or empty inherits.
    pub welcome: Option<String>,
    /// `#rrggbb`; absent or empty inherits.
    pub accent_color: Option<String>,
    /// Digits, spaces, `+` and `-`, at most 20; absent or empty inherits.
    pub support_phone: Option<String>,
    /// A PNG or JPEG image of at most 32 KiB, standard base64 (SVG is refused).
    pub logo: Option<String>,
    /// Removes the site's logo (with no `logo` given): the tenant's shows again.
    pub remove_logo: Option<bool>,
}

/// What a site's router is sent: each field the site's when set, else the tenant's.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EffectiveBranding {
    pub title: String,
    pub welcome: String,
    pub accent_color: String,
    pub support_phone: Option<String>,
    pub logo: Option<LogoView>,
    /// The tenant's version plus the site's: grows with a change of either.
    pub version: i64,
}

/// A site's override (a `null` field inherits the tenant's) and what its router shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteBrandingView {
    pub hotspot_id: Uuid,
    pub title: Option<String>,
    pub welcome: Option<String>,
    pub accent_color: Option<String>,
    pub support_phone: Option<String>,
    pub logo: Option<LogoView>,
    /// Whether any field is overridden.
    pub overridden: bool,
    /// Grows with every change of the override (0: never set).
    pub version: i64,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The branding the site's router is sent; `null` while the title, the welcome text or the
    /// colour is set neither for the site nor for the tenant.
    pub effective: Option<EffectiveBranding>,
}

/// The effective branding of hotspot `$1`, in the caller's tenant: version, title, welcome,
/// colour, phone, logo type, logo bytes, logo SHA-256, logo width, logo height, logo length.
/// Each field is the site's when set, else the tenant's; the logo likewise, as a whole. A title,
/// welcome or colour `NULL` means there is nothing to send (neither sets it).
pub const EFFECTIVE_SELECT: &str = "
    SELECT coalesce(t.version, 0) + coalesce(s.version, 0),
           coalesce(s.title, t.title), coalesce(s.welcome, t.welcome),
           coalesce(s.accent_color, t.accent_color), coalesce(s.support_phone, t.support_phone),
           CASE WHEN s.logo IS NOT NULL THEN s.logo_type ELSE t.logo_type END,
           CASE WHEN s.logo IS NOT NULL THEN s.logo ELSE t.logo END,
           CASE WHEN s.logo IS NOT NULL THEN s.logo_sha256 ELSE t.logo_sha256 END,
           CASE WHEN s.logo IS NOT NULL THEN s.logo_width ELSE t.logo_width END,
           CASE WHEN s.logo IS NOT NULL THEN s.logo_height ELSE t.logo_height END,
           CASE WHEN s.logo IS NOT NULL THEN octet_length(s.logo) ELSE octet_length(t.logo) END
    FROM (SELECT 1) one
    LEFT JOIN portal_branding t ON true
    LEFT JOIN hotspot_branding s ON s.hotspot_id = $1";

/// Not found unless site `id` is the caller's tenant's.
async fn site_exists(tx: &deadpool_postgres::Transaction<'_>, id: Uuid) -> ApiResult<()> {
    tx.query_opt("SELECT 1 FROM hotspots WHERE id = $1", &[&id])
        .await?
        .map(|_| ())
        .ok_or(ApiError::NotFound)
}

/// The effective branding of site `id` (see [`EFFECTIVE_SELECT`]).
async fn effective(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
) -> ApiResult<Option<EffectiveBranding>> {
    let r = tx.query_one(EFFECTIVE_SELECT, &[&id]).await?;
    let (Some(title), Some(welcome), Some(accent_color)) = (
        r.get::<_, Option<String>>(1),
        r.get::<_, Option<String>>(2),
        r.get::<_, Option<String>>(3),
    ) else {
        return Ok(None);
    };
    Ok(Some(EffectiveBranding {
        title,
        welcome,
        accent_color,
        support_phone: r.get(4),
        logo: r.get::<_, Option<String>>(5).map(|content_type| LogoView {
            content_type,
            width: r.get(8),
            height: r.get(9),
            bytes: r.get(10),
            sha256: rules::hex(&r.get::<_, Vec<u8>>(7)),
        }),
        version: r.get(0),
    }))
}

/// Site `id`'s override and its effective branding (another tenant's site: not found).
pub async fn site_view(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
) -> ApiResult<SiteBrandingView> {
    site_exists(tx, id).await?;
    let row = tx
        .query_opt(
            "SELECT title, welcome, accent_color, support_phone, logo_type, logo_width,
                    logo_height, octet_length(logo), logo_sha256, version, updated_at
             FROM hotspot_branding WHERE hotspot_id = $1",
            &[&id],
        )
        .await?;
    let effective = effective(tx, id).await?;
    let mut v = SiteBrandingView {
        hotspot_id: id,
        title: None,
        welcome: None,
        accent_color: None,
        support_phone: None,
        logo: None,
        overridden: false,
        version: 0,
        updated_at: None,
        effective,
    };
    if let Some(r) = row {
        v.title = r.get(0);
        v.welcome = r.get(1);
        v.accent_color = r.get(2);
        v.support_phone = r.get(3);
        v.logo = r.get::<_, Option<String>>(4).map(|content_type| LogoView {
            content_type,
            width: r.get(5),
            height: r.get(6),
            bytes: r.get(7),
            sha256: rules::hex(&r.get::<_, Vec<u8>>(8)),
        });
        v.version = r.get(9);
        v.updated_at = r.get(10);
        v.overridden = v.title.is_some()
            || v.welcome.is_some()
            || v.accent_color.is_some()
            || v.support_phone.is_some()
            || v.logo.is_some();
    }
    Ok(v)
}

/// Checks and stores site `id`'s override in `tx`: every field given replaces the site's, every
/// field absent or blank inherits the tenant's; a logo only when given (`remove_logo` removes
/// it). While the tenant has no branding, the site must set the title, the welcome text and the
/// colour itself (else there would be nothing to send its router): 422 otherwise. Each save
/// bumps the override's version and reaches that site's router alone by the change pull.
pub async fn site_save(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
    id: Uuid,
    input: &SiteBrandingInput,
) -> ApiResult<SiteBrandingView> {
    site_exists(tx, id).await?;
    let remove = input.remove_logo == Some(true);
    let parts = check_parts(
        &Given {
            title: input.title.as_deref(),
            welcome: input.welcome.as_deref(),
            accent: input.accent_color.as_deref(),
            phone: input.support_phone.as_deref(),
            logo: input.logo.as_deref(),
            remove_logo: remove,
        },
        false,
    )?;
    let tenant_has = tx
        .query_opt("SELECT 1 FROM portal_branding", &[])
        .await?
        .is_some();
    if !tenant_has {
        let missing: Vec<FieldError> = [
            ("title", parts.title.is_none()),
            ("welcome", parts.welcome.is_none()),
            ("accent_color", parts.accent.is_none()),
        ]
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(field, _)| FieldError {
            field: field.into(),
            message: "is required while the organisation has no branding".into(),
        })
        .collect();
        if !missing.is_empty() {
            return Err(ApiError::Validation(missing));
        }
    }
    let (bytes, ctype, width, height, sha) = logo_columns(&parts.logo);
    let keep = parts.logo.is_none() && !remove;
    tx.execute(
        "INSERT INTO hotspot_branding (tenant_id, hotspot_id, title, welcome, accent_color,
             support_phone, logo, logo_type, logo_width, logo_height, logo_sha256, updated_by)
         VALUES (app_current_tenant(), $12, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (hotspot_id) DO UPDATE SET
             title = EXCLUDED.title, welcome = EXCLUDED.welcome,
             accent_color = EXCLUDED.accent_color, support_phone = EXCLUDED.support_phone,
             logo = CASE WHEN $11 THEN hotspot_branding.logo ELSE EXCLUDED.logo END,
             logo_type = CASE WHEN $11 THEN hotspot_branding.logo_type
                              ELSE EXCLUDED.logo_type END,
             logo_width = CASE WHEN $11 THEN hotspot_branding.logo_width
                               ELSE EXCLUDED.logo_width END,
             logo_height = CASE WHEN $11 THEN hotspot_branding.logo_height
                                ELSE EXCLUDED.logo_height END,
             logo_sha256 = CASE WHEN $11 THEN hotspot_branding.logo_sha256
                                ELSE EXCLUDED.logo_sha256 END,
             version = hotspot_branding.version + 1,
             updated_by = EXCLUDED.updated_by, updated_at = now()",
        &[
            &parts.title,
            &parts.welcome,
            &parts.accent,
            &parts.phone,
            &bytes,
            &ctype,
            &width,
            &height,
            &sha,
            &actor,
            &keep,
            &id,
        ],
    )
    .await?;
    site_view(tx, id).await
}

/// Clears site `id`'s override: the tenant's branding shows there again. The row stays, every
/// field `NULL`, so the version the router is sent keeps growing; nothing overridden: nothing
/// changes. While the tenant has no branding, the router keeps the last one it showed (the
/// pull has no way to withdraw a branding).
pub async fn site_reset(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
    id: Uuid,
) -> ApiResult<()> {
    site_exists(tx, id).await?;
    tx.execute(
        "UPDATE hotspot_branding SET title = NULL, welcome = NULL, accent_color = NULL,
             support_phone = NULL, logo = NULL, logo_type = NULL, logo_width = NULL,
             logo_height = NULL, logo_sha256 = NULL, version = version + 1,
             updated_by = $2, updated_at = now()
         WHERE hotspot_id = $1
           AND (title IS NOT NULL OR welcome IS NOT NULL OR accent_color IS NOT NULL
                OR support_phone IS NOT NULL OR logo IS NOT NULL)",
        &[&id, &actor],
    )
    .await?;
    Ok(())
}

/// Removes site `id`'s logo, keeping the rest of its override (no logo of its own: not found).
pub async fn site_remove_logo(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
    id: Uuid,
) -> ApiResult<SiteBrandingView> {
    let n = tx
        .execute(
            "UPDATE hotspot_branding SET logo = NULL, logo_type = NULL, logo_width = NULL,
                 logo_height = NULL, logo_sha256 = NULL, version = version + 1,
                 updated_by = $2, updated_at = now()
             WHERE hotspot_id = $1 AND logo IS NOT NULL",
            &[&id, &actor],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    site_view(tx, id).await
}

/// Site `id`'s own logo: its content type and bytes.
pub async fn site_logo(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
) -> ApiResult<Option<(String, Vec<u8>)>> {
    let row = tx
        .query_opt(
            "SELECT logo_type, logo FROM hotspot_branding
             WHERE hotspot_id = $1 AND logo IS NOT NULL",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// `GET /api/v1/hotspots/{id}/branding`
#[utoipa::path(get, path = "/api/v1/hotspots/{id}/branding", tag = "hotspots",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SiteBrandingView), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_site_branding(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<SiteBrandingView>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let v = site_view(&tx, id).await?;
    tx.commit().await?;
    Ok(Json(v))
}

/// `PUT /api/v1/hotspots/{id}/branding`: replaces the site's override (a field left out
/// inherits the tenant's); only that site's router pulls it.
#[utoipa::path(put, path = "/api/v1/hotspots/{id}/branding", tag = "hotspots",
    params(("id" = Uuid, Path)),
    request_body = SiteBrandingInput,
    responses((status = 200, body = SiteBrandingView), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn put_site_branding(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<Uuid>,
    Body(input): Body<SiteBrandingInput>,
) -> ApiResult<Json<SiteBrandingView>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let v = site_save(&tx, auth.user_id, id, &input).await?;
    tx.commit().await?;
    Ok(Json(v))
}

/// `DELETE /api/v1/hotspots/{id}/branding`: the site shows the tenant's branding again.
#[utoipa::path(delete, path = "/api/v1/hotspots/{id}/branding", tag = "hotspots",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn delete_site_branding(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    site_reset(&tx, auth.user_id, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
