//! The tenant's portal branding (`portal_branding`): title, welcome text, accent colour,
//! support phone and logo, which every router of the tenant pulls and shows over its own
//! `[branding]` configuration.
//!
//! Readers are any staff ([`Staff`]); writers the tenant's administrators ([`Admin`]). The
//! service functions ([`view`], [`save`], [`logo`], [`remove_logo`]) run in the caller's tenant
//! transaction and are the console's too. The checks are `hotspot_shared::branding`'s, the
//! same the routers apply; a refused value changes nothing.

use axum::Json;
use axum::Router;
use axum::extract::State;
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
    Router::new().route(
        "/api/v1/settings/branding",
        get(get_branding).put(put_branding),
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

/// Checks every field; all reasons at once.
fn check(input: &BrandingInput) -> ApiResult<Checked> {
    let mut errors = Vec::new();
    let mut note = |e: rules::BrandingError| {
        errors.push(FieldError {
            field: e.field.into(),
            message: e.message,
        })
    };
    let title = rules::text("title", &input.title, rules::MAX_TITLE).map_err(&mut note);
    let welcome = rules::text("welcome", &input.welcome, rules::MAX_WELCOME).map_err(&mut note);
    let accent = rules::color("accent_color", &input.accent_color).map_err(&mut note);
    let phone = rules::phone(
        "support_phone",
        input.support_phone.as_deref().unwrap_or(""),
    )
    .map_err(&mut note);
    let refused = |message: &str| rules::BrandingError {
        field: "logo",
        message: message.into(),
    };
    let logo = match &input.logo {
        None => Ok(None),
        Some(_) if input.remove_logo == Some(true) => {
            Err(refused("cannot be given with remove_logo"))
        }
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
        (Ok(title), Ok(welcome), Ok(accent), Ok(phone), Ok(logo)) => Ok(Checked {
            title,
            welcome,
            accent,
            phone,
            logo,
        }),
        _ => Err(ApiError::Validation(errors)),
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
    let (bytes, ctype, width, height, sha) = match &logo {
        Some(l) => (
            Some(l.bytes.clone()),
            Some(l.info.content_type),
            Some(l.info.width as i32),
            Some(l.info.height as i32),
            Some(Sha256::digest(&l.bytes).to_vec()),
        ),
        None => (None, None, None, None, None),
    };
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
