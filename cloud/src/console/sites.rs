//! Sites: the list with each router's status, last contact, software version and guests online
//! (keyset-paged by name), creating a site, and a router claim code shown once with its QR code.
//! Creating and claim codes are the API's ([`hotspots::insert`], [`hotspots::new_claim_code`])
//! and need the API's [`Noc`] roles; anyone on the staff may read the list. A site may be given
//! the address of its captive portal, which the QR codes of its printed vouchers link to.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::dashboard::ONLINE_WITHIN_MINUTES;
use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, page, qr};
use crate::AppState;
use crate::api::auth::{Noc, Staff};
use crate::api::error::ApiError;
use crate::api::hotspots::{self, HOTSPOT_SELECT, HotspotInput};
use crate::api::{decode_cursor, encode_cursor};

/// Sites per page.
const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "console/sites.html")]
struct SitesPage {
    f: Frame,
    sites: Vec<Site>,
    next: Option<String>,
    can_manage: bool,
    /// The new-site form's values and error after a refused post.
    form: SiteForm,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/claim.html")]
struct ClaimPage {
    f: Frame,
    site: String,
    code: String,
    expires: String,
    qr: String,
    created: bool,
}

#[derive(Debug)]
struct Site {
    id: Uuid,
    name: String,
    location: String,
    ssid: String,
    online: bool,
    last_seen: Option<String>,
    version: Option<String>,
    guests: i64,
}

/// The list's query: the cursor of the next page.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub after: Option<String>,
}

/// The new-site form.
#[derive(Debug, Default, Deserialize)]
pub struct SiteForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub ssid: String,
    /// The site's portal address (empty: hotspotd's default).
    #[serde(default)]
    pub portal_url: String,
}

/// A site's portal address as the new-site form gives it: empty is none (hotspotd's default);
/// otherwise an `http://` or `https://` URL of at most 255 characters without spaces, quotes,
/// angle brackets or backslashes (the same rule as the column's check).
pub fn portal_url(given: &str) -> Result<Option<String>, ApiError> {
    let url = given.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    let chars_ok = !url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\".contains(c));
    if scheme_ok && !rest.is_empty() && url.len() <= 255 && chars_ok {
        Ok(Some(url.to_owned()))
    } else {
        Err(ApiError::field(
            "portal_url",
            "must be an http:// or https:// address such as http://192.168.1.1:2050/",
        ))
    }
}

async fn list_page(
    state: &AppState,
    user: &Console<Staff>,
    after: Option<&str>,
    form: SiteForm,
    error: Option<String>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let (after_name, after_id) = match after {
        Some(c) => {
            let parts = decode_cursor(c, 2).map_err(|_| ConsoleError::NotFound)?;
            let id = Uuid::parse_str(&parts[1]).map_err(|_| ConsoleError::NotFound)?;
            (Some(parts[0].clone()), Some(id))
        }
        None => (None, None),
    };
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT x.id, coalesce(x.name, '')::text, coalesce(x.location, '')::text,
                        coalesce(x.ssid, '')::text,
                        coalesce(x.last_seen_at > now() - make_interval(mins => $1), false),
                        to_char(x.last_seen_at, 'YYYY-MM-DD HH24:MI'),
                        x.software_version::text, x.clients_now
                 FROM ({HOTSPOT_SELECT}) x
                 WHERE $2::text IS NULL OR (coalesce(x.name, ''), x.id) > ($2, $3::uuid)
                 ORDER BY coalesce(x.name, ''), x.id
                 LIMIT $4"
            ),
            &[&ONLINE_WITHIN_MINUTES, &after_name, &after_id, &(PAGE + 1)],
        )
        .await?;
    tx.commit().await?;
    let mut sites: Vec<Site> = rows
        .iter()
        .map(|r| Site {
            id: r.get(0),
            name: r.get(1),
            location: r.get(2),
            ssid: r.get(3),
            online: r.get(4),
            last_seen: r.get(5),
            version: r.get(6),
            guests: r.get(7),
        })
        .collect();
    let next = if sites.len() as i64 > PAGE {
        sites.truncate(PAGE as usize);
        sites
            .last()
            .map(|s| encode_cursor(&[s.name.clone(), s.id.to_string()]))
    } else {
        None
    };
    let body = SitesPage {
        f: user.frame("/console/sites", "sites"),
        sites,
        next,
        can_manage: user.can::<Noc>(),
        form,
        error,
    };
    page(status, &body)
}

/// `GET /console/sites`
pub async fn list(
    State(state): State<AppState>,
    user: Console<Staff>,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(
        &state,
        &user,
        q.after.as_deref(),
        SiteForm::default(),
        None,
        StatusCode::OK,
    )
    .await
    .unwrap_or_else(|e| e.render(user.lang))
}

/// `POST /console/sites`: a new site and its router's claim code.
pub async fn create(
    State(state): State<AppState>,
    user: Console<Noc>,
    CsrfForm(form): CsrfForm<SiteForm>,
) -> Response {
    let lang = user.lang;
    let input = HotspotInput {
        name: Some(form.name.trim().to_owned()),
        location: Some(form.location.trim().to_owned()),
        ssid: Some(form.ssid.trim().to_owned()),
        status: None,
        latitude: None,
        longitude: None,
        bandwidth_limit: None,
        max_concurrent_users: None,
        is_active: None,
    };
    let result: Result<Uuid, ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        let portal = portal_url(&form.portal_url)?;
        let id = hotspots::insert(&tx, &input).await?;
        if portal.is_some() {
            tx.execute(
                "UPDATE hotspots SET portal_url = $2 WHERE id = $1",
                &[&id, &portal],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }
    .await;
    match result {
        Ok(id) => claim_page(&state, &user, id, &input.name.unwrap_or_default(), true)
            .await
            .unwrap_or_else(|e| e.render(lang)),
        Err(ApiError::Validation(errors)) => {
            let message = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let staff = Console::<Staff>::from_other(&user);
            list_page(
                &state,
                &staff,
                None,
                form,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
            .unwrap_or_else(|e| e.render(lang))
        }
        Err(e) => ConsoleError::from(e).render(lang),
    }
}

/// A new claim code for site `id`, shown once.
async fn claim_page(
    state: &AppState,
    user: &Console<Noc>,
    id: Uuid,
    site: &str,
    created: bool,
) -> ConsoleResult<Response> {
    let made = hotspots::new_claim_code(state, user.tenant_id, user.user_id, id).await?;
    let qr = qr::svg(&made.claim_code, 200, &made.claim_code)
        .ok_or_else(|| ConsoleError::Internal("claim code too long for a QR code".into()))?;
    let body = ClaimPage {
        f: user.frame("/console/sites", "sites"),
        site: site.to_owned(),
        code: made.claim_code,
        expires: made.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        qr,
        created,
    };
    page(StatusCode::CREATED, &body)
}

/// `POST /console/sites/{id}/claim-code`: another router slot for an existing site.
pub async fn claim_code(
    State(state): State<AppState>,
    user: Console<Noc>,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let lang = user.lang;
    let result: ConsoleResult<Response> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let name: String = tx
            .query_opt(
                "SELECT coalesce(name, '')::text FROM hotspots WHERE id = $1",
                &[&id],
            )
            .await?
            .ok_or(ConsoleError::NotFound)?
            .get(0);
        tx.commit().await?;
        claim_page(&state, &user, id, &name, false).await
    }
    .await;
    result.unwrap_or_else(|e| e.render(lang))
}
