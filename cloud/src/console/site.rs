//! A site's own page: its router's status and health (guests online by hour over the last 24
//! hours, drawn on the server as SVG from the routers' `device_health` samples, with the latest
//! uptime and outbox), the guests online now (with a kick and an extension for the API's
//! [`Support`] roles, returning to this page), its registered devices, the packages it sells, and changing its portal address ([`Noc`]).
//! An administrator ([`Admin`]) also sees and edits the site's own portal branding, over the
//! organisation's: the API's `branding::site_*` functions, the form read as the settings page's
//! (`settings::branding_form`).
//! Every query runs in the request's tenant transaction; another tenant's site is 404.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, FixedOffset, Offset, Timelike, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::dashboard::{Bar, Chart, ONLINE_WITHIN_MINUTES, thousands};
use super::sites::portal_url;
use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, page};
use crate::AppState;
use crate::api::auth::{Admin, Noc, Staff, Support};
use crate::api::branding::{self, EffectiveBranding, LogoView, SiteBrandingInput};
use crate::api::error::ApiError;
use crate::api::hotspots::{HOTSPOT_SELECT, PACKAGE_SELECT};

/// Rows shown of each list on the page (the full lists are paged on their own pages).
const ROWS: i64 = 50;
/// Hours of the health graph.
const HOURS: usize = 24;

#[derive(Debug)]
struct SessionRow {
    id: Uuid,
    mac: String,
    kind: String,
    started: String,
    data_mb: String,
    /// Time and data left.
    left: String,
}

#[derive(Debug)]
struct DeviceRow {
    mac: String,
    name: String,
    blocked: bool,
    reason: String,
}

#[derive(Debug)]
struct PackageRow {
    name: String,
    price: String,
    minutes: Option<i32>,
    data_mb: Option<i32>,
}

/// Which form of the page a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    Portal,
    Branding,
}

/// The site's branding form: its override's values (empty: inherited), the organisation's as
/// placeholders, its own logo and what its router shows.
#[derive(Debug)]
struct BrandForm {
    title: String,
    welcome: String,
    accent: String,
    phone: String,
    org_title: String,
    org_welcome: String,
    org_accent: String,
    org_phone: String,
    logo: Option<LogoView>,
    version: i64,
    overridden: bool,
    effective: Option<EffectiveBranding>,
}

#[derive(Template)]
#[template(path = "console/site.html")]
struct SitePage {
    f: Frame,
    id: Uuid,
    name: String,
    location: String,
    ssid: String,
    portal: String,
    online: bool,
    last_seen: Option<String>,
    version: Option<String>,
    guests: i64,
    uptime: Option<String>,
    outbox: Option<i32>,
    chart: Chart,
    samples: i64,
    sessions: Vec<SessionRow>,
    devices: Vec<DeviceRow>,
    packages: Vec<PackageRow>,
    can_kick: bool,
    can_manage: bool,
    /// The branding section (administrators only).
    brand: Option<BrandForm>,
    error: Option<String>,
    brand_error: Option<String>,
    /// Why a kick or extension from this page was refused (a catalogue id).
    session_error: Option<&'static str>,
}

/// Bars of the largest number of guests online each hour, oldest first, ending with the hour of
/// `now`; an hour without a sample has no bar. Hours are those of `now`'s offset (the tenant's
/// zone as it is now), in their bounds and their labels.
pub fn health_chart(now: DateTime<FixedOffset>, samples: &[(DateTime<Utc>, i32)]) -> Chart {
    let this_hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let first = this_hour - Duration::hours(HOURS as i64 - 1);
    let mut peak: [Option<i32>; HOURS] = [None; HOURS];
    for (t, n) in samples {
        let h = t.signed_duration_since(first).num_hours();
        if *t >= first && (0..HOURS as i64).contains(&h) {
            let slot = &mut peak[h as usize];
            *slot = Some(slot.map_or(*n, |p| p.max(*n)));
        }
    }
    let max = peak.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let (top, bottom) = (14.0, 16.0);
    let plot = Chart::HEIGHT - top - bottom;
    let slot = Chart::WIDTH / HOURS as f64;
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let bars = peak
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|n| (i, n)))
        .map(|(i, n)| {
            let h = n as f64 / max * plot;
            let at = first + Duration::hours(i as i64);
            Bar {
                x: round(i as f64 * slot + slot * 0.1),
                y: round(top + plot - h),
                w: round(slot * 0.8),
                h: round(h),
                title: format!("{}: {}", at.format("%H:00"), thousands(n as f64)),
            }
        })
        .collect();
    Chart {
        bars,
        max_label: thousands(max),
        first_label: first.format("%H:00").to_string(),
        last_label: this_hour.format("%H:00").to_string(),
    }
}

fn duration_text(s: i64) -> String {
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else {
        format!("{h} h {m} min")
    }
}

/// The page of site `id`: `portal_given` and `error` refill the portal form (or say why the
/// branding form was refused) after a refusal, `session_error` says why an action on one of its
/// guests was refused.
pub(super) async fn site_page(
    state: &AppState,
    user: &Console<Staff>,
    id: Uuid,
    portal_given: Option<String>,
    error: Option<(Refused, String)>,
    session_error: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let site = tx
        .query_opt(
            &format!(
                "SELECT coalesce(x.name, '')::text, coalesce(x.location, '')::text,
                        coalesce(x.ssid, '')::text, coalesce(x.portal_url, '')::text,
                        coalesce(x.last_seen_at > now() - make_interval(mins => $2), false),
                        to_char(x.last_seen_at, 'YYYY-MM-DD HH24:MI'),
                        x.software_version::text, x.clients_now
                 FROM ({HOTSPOT_SELECT}) x WHERE x.id = $1"
            ),
            &[&id, &ONLINE_WITHIN_MINUTES],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let clock = tx
        .query_one("SELECT now(), EXTRACT(TIMEZONE FROM now())::int", &[])
        .await?;
    let now: DateTime<Utc> = clock.get(0);
    let offset = FixedOffset::east_opt(clock.get(1)).unwrap_or(Utc.fix());
    let samples: Vec<(DateTime<Utc>, i32)> = tx
        .query(
            "SELECT recorded_at, clients_online FROM hotspot_device_health
             WHERE hotspot_id = $1 AND recorded_at > $2::timestamptz - interval '24 hours'
             ORDER BY recorded_at",
            &[&id, &now],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let latest = tx
        .query_opt(
            "SELECT uptime_s, outbox_len FROM hotspot_device_health
             WHERE hotspot_id = $1 ORDER BY recorded_at DESC LIMIT 1",
            &[&id],
        )
        .await?;
    let sessions = tx
        .query(
            &format!(
                "SELECT s.id, s.mac_address::text, s.session_type::text,
                    to_char(s.start_time, 'YYYY-MM-DD HH24:MI'),
                    coalesce(round(s.data_used_mb, 1), 0)::text, {}
             FROM hotspot_sessions s
             LEFT JOIN hotspot_vouchers v ON v.voucher_code = s.voucher_code
             WHERE s.hotspot_id = $1 AND s.session_status = 'active'
             ORDER BY s.start_time DESC, s.id DESC LIMIT $2",
                super::guests::LEFT_SQL
            ),
            &[&id, &ROWS],
        )
        .await?
        .iter()
        .map(|r| SessionRow {
            id: r.get(0),
            mac: r.get(1),
            kind: r.get(2),
            started: r.get::<_, Option<String>>(3).unwrap_or_default(),
            data_mb: r.get(4),
            left: super::guests::left_text(r.get(5), r.get(6)),
        })
        .collect();
    let devices = tx
        .query(
            "SELECT a.mac_address::text, coalesce(a.device_name, '')::text, a.is_blocked,
                    coalesce(a.blocked_reason, '')
             FROM client_hotspot_access a WHERE a.hotspot_id = $1
             ORDER BY a.created_at, a.id LIMIT $2",
            &[&id, &ROWS],
        )
        .await?
        .iter()
        .map(|r| DeviceRow {
            mac: r.get(0),
            name: r.get(1),
            blocked: r.get(2),
            reason: r.get(3),
        })
        .collect();
    let packages = tx
        .query(
            &format!(
                "SELECT x.name::text, x.price::text, x.duration_minutes, x.data_limit_mb
                 FROM ({PACKAGE_SELECT}) x
                 WHERE x.package_type = 'hotspot' AND x.is_active
                   AND package_sold_at(x.id, $2)
                 ORDER BY x.price, x.name LIMIT $1"
            ),
            &[&ROWS, &id],
        )
        .await?
        .iter()
        .map(|r| PackageRow {
            name: r.get(0),
            price: r.get(1),
            minutes: r.get(2),
            data_mb: r.get(3),
        })
        .collect();
    let brand = if user.can::<Admin>() {
        let site = branding::site_view(&tx, id).await?;
        let org = branding::view(&tx).await?;
        let org = |f: fn(&branding::BrandingView) -> Option<String>| {
            org.as_ref().and_then(f).unwrap_or_default()
        };
        Some(BrandForm {
            title: site.title.unwrap_or_default(),
            welcome: site.welcome.unwrap_or_default(),
            accent: site.accent_color.unwrap_or_default(),
            phone: site.support_phone.unwrap_or_default(),
            org_title: org(|b| Some(b.title.clone())),
            org_welcome: org(|b| Some(b.welcome.clone())),
            org_accent: org(|b| Some(b.accent_color.clone())),
            org_phone: org(|b| b.support_phone.clone()),
            logo: site.logo,
            version: site.version,
            overridden: site.overridden,
            effective: site.effective,
        })
    } else {
        None
    };
    tx.commit().await?;
    let (error, brand_error) = match error {
        Some((Refused::Portal, e)) => (Some(e), None),
        Some((Refused::Branding, e)) => (None, Some(e)),
        None => (None, None),
    };
    let body = SitePage {
        f: user.frame(&format!("/console/sites/{id}"), "sites"),
        id,
        name: site.get(0),
        location: site.get(1),
        ssid: site.get(2),
        portal: portal_given.unwrap_or_else(|| site.get(3)),
        online: site.get(4),
        last_seen: site.get(5),
        version: site.get(6),
        guests: site.get(7),
        uptime: latest.as_ref().map(|r| duration_text(r.get::<_, i64>(0))),
        outbox: latest.as_ref().map(|r| r.get(1)),
        chart: health_chart(now.with_timezone(&offset), &samples),
        samples: samples.len() as i64,
        sessions,
        devices,
        packages,
        can_kick: user.can::<Support>(),
        can_manage: user.can::<Noc>(),
        brand,
        error,
        brand_error,
        session_error,
    };
    page(status, &body)
}

/// `GET /console/sites/{id}`
pub async fn show(
    State(state): State<AppState>,
    user: Console<Staff>,
    Path(id): Path<Uuid>,
) -> Response {
    site_page(&state, &user, id, None, None, None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

/// The portal-address form.
#[derive(Debug, Deserialize)]
pub struct PortalForm {
    #[serde(default)]
    pub portal_url: String,
}

/// `POST /console/sites/{id}/portal`: a new portal address (empty: hotspotd's default), checked
/// as when the site is made; the QR codes of vouchers printed from now on link to it.
pub async fn set_portal(
    State(state): State<AppState>,
    user: Console<Noc>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<PortalForm>,
) -> Response {
    let lang = user.lang;
    let result: Result<(), ApiError> = async {
        let portal = portal_url(&form.portal_url)?;
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        let n = tx
            .execute(
                "UPDATE hotspots SET portal_url = $2 WHERE id = $1",
                &[&id, &portal],
            )
            .await?;
        if n == 0 {
            return Err(ApiError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/console/sites/{id}")).into_response(),
        Err(ApiError::Validation(errors)) => {
            let message = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let staff = Console::<Staff>::from_other(&user);
            site_page(
                &state,
                &staff,
                id,
                Some(form.portal_url),
                Some((Refused::Portal, message)),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
            .unwrap_or_else(|e| e.render(lang))
        }
        Err(e) => ConsoleError::from(e).render(lang),
    }
}

/// Runs a change of site `id`'s branding in the user's tenant transaction, then returns to the
/// page's branding section; a refused input shows the page again with its reasons (422),
/// nothing changed; another tenant's site is 404.
async fn brand_write<F>(state: &AppState, user: &Console<Admin>, id: Uuid, write: F) -> Response
where
    F: AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<(), ApiError>,
{
    let lang = user.lang;
    let result: Result<(), ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        write(&tx).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/console/sites/{id}#branding")).into_response(),
        Err(e) => match super::input_reasons(&e) {
            Some(message) => {
                let staff = Console::<Staff>::from_other(user);
                site_page(
                    state,
                    &staff,
                    id,
                    None,
                    Some((Refused::Branding, message)),
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
                .unwrap_or_else(|e| e.render(lang))
            }
            None => ConsoleError::from(e).render(lang),
        },
    }
}

/// `POST /console/sites/{id}/branding` (`multipart/form-data`, read as the settings page's
/// branding form): the site's override; a field left empty inherits the organisation's, no file
/// chosen keeps the site's logo. Another tenant's site is 404 whatever the body.
pub async fn set_branding(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<Uuid>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let lang = user.lang;
    let visible: ConsoleResult<bool> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let found = tx
            .query_opt("SELECT 1 FROM hotspots WHERE id = $1", &[&id])
            .await?
            .is_some();
        tx.commit().await?;
        Ok(found)
    }
    .await;
    match visible {
        Ok(true) => {}
        Ok(false) => return ConsoleError::NotFound.render(lang),
        Err(e) => return e.render(lang),
    }
    let form = match super::settings::branding_form(&headers, &body, lang) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let input = SiteBrandingInput {
        title: Some(form.title),
        welcome: Some(form.welcome),
        accent_color: Some(form.accent_color),
        support_phone: Some(form.support_phone),
        logo: form.logo,
        remove_logo: None,
    };
    let actor = user.user_id;
    brand_write(&state, &user, id, async |tx| {
        branding::site_save(tx, actor, id, &input).await.map(|_| ())
    })
    .await
}

/// `POST /console/sites/{id}/branding/reset`: the site shows the organisation's branding again.
pub async fn reset_branding(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let actor = user.user_id;
    brand_write(&state, &user, id, async |tx| {
        branding::site_reset(tx, actor, id).await
    })
    .await
}

/// `POST /console/sites/{id}/branding/logo/remove`: the site's own logo removed (the
/// organisation's shows); no logo of its own: 404.
pub async fn remove_branding_logo(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let actor = user.user_id;
    brand_write(&state, &user, id, async |tx| {
        branding::site_remove_logo(tx, actor, id).await.map(|_| ())
    })
    .await
}

/// `GET /console/sites/{id}/branding/logo`: the site's own logo; none (or another tenant's
/// site): 404.
pub async fn branding_logo(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<Uuid>,
) -> Response {
    let found: ConsoleResult<Option<(String, Vec<u8>)>> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let logo = branding::site_logo(&tx, id).await?;
        tx.commit().await?;
        Ok(logo)
    }
    .await;
    super::settings::logo_response(found, user.lang)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_health_chart_has_a_bar_per_hour_with_samples_at_the_hourly_peak() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 18, 30, 0).unwrap();
        let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 12, 4, h, m, 0).unwrap();
        let chart = health_chart(
            now.fixed_offset(),
            &[
                (at(18, 5), 4),
                (at(18, 25), 8),
                (at(12, 0), 2),
                // Older than 24 hours, or in the future: left out.
                (Utc.with_ymd_and_hms(2026, 12, 3, 18, 59, 0).unwrap(), 50),
                (at(19, 0), 50),
            ],
        );
        assert_eq!(chart.bars.len(), 2);
        assert_eq!(chart.max_label, "8");
        assert_eq!(chart.first_label, "19:00");
        assert_eq!(chart.last_label, "18:00");
        let last = chart.bars.last().unwrap();
        assert_eq!(last.title, "18:00: 8");
        assert_eq!(
            last.y + last.h,
            Chart::HEIGHT - 16.0,
            "bars stand on the axis"
        );
        assert_eq!(chart.bars[0].title, "12:00: 2");
        assert!(chart.bars[0].h * 3.9 < last.h && last.h < chart.bars[0].h * 4.1);
        assert_eq!(health_chart(now.fixed_offset(), &[]).bars.len(), 0);
    }

    /// In Nairobi (UTC+3) 18:30 UTC is 21:30: the hours and their labels are Nairobi's.
    #[test]
    fn the_health_chart_reads_hours_in_the_tenants_zone() {
        let nairobi = FixedOffset::east_opt(3 * 3600).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 18, 30, 0).unwrap();
        let chart = health_chart(
            now.with_timezone(&nairobi),
            &[(Utc.with_ymd_and_hms(2026, 12, 4, 18, 25, 0).unwrap(), 8)],
        );
        assert_eq!(chart.first_label, "22:00");
        assert_eq!(chart.last_label, "21:00");
        assert_eq!(chart.bars.len(), 1);
        assert_eq!(chart.bars[0].title, "21:00: 8");
        // India (UTC+5:30): an hour runs from :30 to :30 UTC.
        let india = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        let chart = health_chart(
            now.with_timezone(&india),
            &[
                (Utc.with_ymd_and_hms(2026, 12, 4, 18, 29, 0).unwrap(), 1),
                (Utc.with_ymd_and_hms(2026, 12, 4, 18, 30, 0).unwrap(), 2),
            ],
        );
        let titles: Vec<_> = chart.bars.iter().map(|b| b.title.as_str()).collect();
        assert_eq!(titles, ["23:00: 1", "00:00: 2"]);
    }

    #[test]
    fn uptimes_read_in_days_hours_and_minutes() {
        assert_eq!(duration_text(59), "0 h 0 min");
        assert_eq!(duration_text(3_660), "1 h 1 min");
        assert_eq!(duration_text(90_000), "1 d 1 h");
    }
}
