//! Guests: the sessions live now (newest first, keyset-paged) with a kick and an extension
//! (minutes, MB) for each, and the registered devices with block (with a reason) and unblock.
//! The actions are the API's ([`sessions::kick_session`], [`sessions::extend_session`],
//! [`sessions::set_device_blocked`]) and need its [`Support`] roles; anyone on the staff may
//! read the lists. Adding and editing a device is [`super::devices`]. A site's page offers the same kick and extension; its forms name the page
//! in a `back` field so the operator returns there ([`back_to_site`]).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, page};
use crate::AppState;
use crate::api::auth::{Staff, Support};
use crate::api::encode_cursor;
use crate::api::error::ApiError;
use crate::api::sessions;

/// Rows per page.
const PAGE: i64 = 50;

/// A list's query: the cursor of the next page.
#[derive(Debug, Deserialize)]
pub struct After {
    pub after: Option<String>,
}

#[derive(Debug)]
struct SessionRow {
    id: Uuid,
    site: String,
    mac: String,
    kind: String,
    voucher: String,
    started: String,
    data_mb: String,
    /// Time and data left ([`left_text`]).
    left: String,
}

/// What an active session `s` has left by its voucher `v` (joined on its code), as two
/// columns: seconds and megabytes, each NULL for a limit the voucher does not have (or no
/// voucher). The time runs from the voucher's first use; a session on a router adds what
/// operators added to it (a RADIUS session's extensions are on the voucher itself). Figures are
/// as of the router's last report.
pub(super) const LEFT_SQL: &str = "
    CASE WHEN v.duration_minutes IS NOT NULL THEN greatest(0, extract(epoch FROM
        coalesce(v.used_at, s.start_time) + make_interval(mins => v.duration_minutes
            + CASE WHEN s.radius_session IS NULL THEN s.added_minutes ELSE 0 END) - now()))::int8
    END,
    CASE WHEN v.data_limit_mb IS NOT NULL THEN greatest(0, v.data_limit_mb
        + CASE WHEN s.radius_session IS NULL THEN s.added_data_mb ELSE 0 END
        - coalesce(s.data_used_mb, 0))::float8
    END";

/// "1 h 5 min · 120 MB" of what [`LEFT_SQL`] gives; "—" for no limit at all.
pub(super) fn left_text(seconds: Option<i64>, megabytes: Option<f64>) -> String {
    let time = seconds.map(|s| {
        let m = (s + 59) / 60;
        if m >= 60 {
            format!("{} h {} min", m / 60, m % 60)
        } else {
            format!("{m} min")
        }
    });
    let data = megabytes.map(|mb| {
        if mb >= 1024.0 {
            format!("{:.1} GB", mb / 1024.0)
        } else {
            format!("{mb:.0} MB")
        }
    });
    match (time, data) {
        (Some(t), Some(d)) => format!("{t} · {d}"),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => "—".into(),
    }
}

#[derive(Template)]
#[template(path = "console/sessions.html")]
struct SessionsPage {
    f: Frame,
    rows: Vec<SessionRow>,
    next: Option<String>,
    can_kick: bool,
    error: Option<&'static str>,
}

#[derive(Debug)]
struct DeviceRow {
    id: Uuid,
    site: String,
    mac: String,
    name: String,
    auto_connect: bool,
    blocked: bool,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/devices.html")]
struct DevicesPage {
    f: Frame,
    rows: Vec<DeviceRow>,
    next: Option<String>,
    can_block: bool,
    error: Option<&'static str>,
    /// The add-device form (shown to [`Support`] roles): as typed, the clients and sites to
    /// choose from, and why the last one was refused.
    add: super::devices::AddForm,
}

/// The first [`PAGE`] of rows keyed by (time, id), newest or oldest first as the query ordered
/// them, and the cursor of the page after when the query found more.
fn keyset_page<R>(
    mut keyed: Vec<(DateTime<Utc>, R)>,
    id: impl Fn(&R) -> Uuid,
) -> (Vec<R>, Option<String>) {
    let next = if keyed.len() as i64 > PAGE {
        keyed.truncate(PAGE as usize);
        keyed
            .last()
            .map(|(t, r)| encode_cursor(&[t.to_rfc3339(), id(r).to_string()]))
    } else {
        None
    };
    (keyed.into_iter().map(|(_, r)| r).collect(), next)
}

/// `GET /console/sessions`
pub async fn list_sessions(
    State(state): State<AppState>,
    user: Console<Staff>,
    Query(q): Query<After>,
) -> Response {
    sessions_page(&state, &user, q.after.as_deref(), None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

async fn sessions_page(
    state: &AppState,
    user: &Console<Staff>,
    after: Option<&str>,
    error: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let (after_t, after_id) = super::time_cursor(after)?.unzip();
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT s.id, coalesce(h.name, '')::text, s.mac_address::text,
                    s.session_type::text, coalesce(s.voucher_code, '')::text, s.start_time,
                    coalesce(s.data_used_mb, 0)::float8, {LEFT_SQL}
             FROM hotspot_sessions s LEFT JOIN hotspots h ON h.id = s.hotspot_id
             LEFT JOIN hotspot_vouchers v ON v.voucher_code = s.voucher_code
             WHERE s.session_status = 'active'
               AND ($1::timestamptz IS NULL OR (s.start_time, s.id) < ($1, $2::uuid))
             ORDER BY s.start_time DESC, s.id DESC
             LIMIT $3"
            ),
            &[&after_t, &after_id, &(PAGE + 1)],
        )
        .await?;
    let times: Vec<_> = rows.iter().map(|r| Some(r.get(5))).collect();
    let mut times = super::local_times(&tx, &times).await?.into_iter();
    tx.commit().await?;
    let keyed: Vec<(DateTime<Utc>, SessionRow)> = rows
        .iter()
        .map(|r| {
            let start: DateTime<Utc> = r.get(5);
            (
                start,
                SessionRow {
                    id: r.get(0),
                    site: r.get(1),
                    mac: r.get(2),
                    kind: r.get(3),
                    voucher: r.get(4),
                    started: times.next().unwrap_or_default(),
                    data_mb: format!("{:.1}", r.get::<_, f64>(6)),
                    left: left_text(r.get(7), r.get(8)),
                },
            )
        })
        .collect();
    let (rows, next) = keyset_page(keyed, |r| r.id);
    let body = SessionsPage {
        f: user.frame("/console/sessions", "sessions"),
        rows,
        next,
        can_kick: user.can::<Support>(),
        error,
    };
    page(status, &body)
}

/// The site whose page a session's action came from: a `back` field of exactly
/// `/console/sites/<uuid>`. Anything else (another host, a scheme, another console path, a
/// query, a path that merely starts so) is ignored, so the field cannot redirect anywhere but to
/// a site's page; a site the user cannot see answers 404 there as it would by its link.
pub fn back_to_site(back: Option<&str>) -> Option<Uuid> {
    let id = back?.strip_prefix("/console/sites/")?;
    // Only the hyphenated form the page writes (`Uuid::parse_str` takes others too).
    if id.len() != 36 {
        return None;
    }
    Uuid::parse_str(id).ok()
}

/// Where the browser goes after a session's action: the site's page it came from, else the
/// guests online.
fn after_action(back: Option<&str>) -> Redirect {
    match back_to_site(back) {
        Some(site) => Redirect::to(&format!("/console/sites/{site}")),
        None => Redirect::to("/console/sessions"),
    }
}

/// The kick form: its token and, from a site's page, that page.
#[derive(Debug, Deserialize)]
pub struct KickForm {
    pub back: Option<String>,
}

/// `POST /console/sessions/{id}/kick`
pub async fn kick(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<KickForm>,
) -> Response {
    match sessions::kick_session(&state, user.tenant_id, user.user_id, id, Some("console")).await {
        // Already over: the list shows it is gone; nothing to undo.
        Ok(_) | Err(ApiError::Conflict(_)) => after_action(form.back.as_deref()).into_response(),
        Err(e) => ConsoleError::from(e).render(user.lang),
    }
}

/// The extension form: minutes and MB, either may be left empty; from a site's page, that page.
#[derive(Debug, Deserialize)]
pub struct ExtendForm {
    #[serde(default)]
    pub minutes: String,
    #[serde(default)]
    pub megabytes: String,
    pub back: Option<String>,
}

/// An amount typed in the form: empty is none, anything else must be a whole number.
fn amount(text: &str) -> Result<Option<i64>, ()> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| ())
}

/// `POST /console/sessions/{id}/extend`
pub async fn extend(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ExtendForm>,
) -> Response {
    // A refusal is shown on the page the form was on, with the reason.
    let site = back_to_site(form.back.as_deref());
    let refused = |key: &'static str, status: StatusCode| {
        let state = state.clone();
        let staff = Console::<Staff>::from_other(&user);
        async move {
            let shown = match site {
                Some(site) => {
                    super::site::site_page(&state, &staff, site, None, None, Some(key), status)
                        .await
                }
                None => sessions_page(&state, &staff, None, Some(key), status).await,
            };
            shown.unwrap_or_else(|e| e.render(staff.lang))
        }
    };
    let (Ok(minutes), Ok(megabytes)) = (amount(&form.minutes), amount(&form.megabytes)) else {
        return refused("ses.extend_invalid", StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    match sessions::extend_session(&state, user.tenant_id, user.user_id, id, minutes, megabytes)
        .await
    {
        Ok(_) => after_action(form.back.as_deref()).into_response(),
        Err(ApiError::Validation(_)) => {
            refused("ses.extend_invalid", StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(ApiError::Conflict(_)) => refused("ses.extend_refused", StatusCode::CONFLICT).await,
        Err(e) => ConsoleError::from(e).render(user.lang),
    }
}

/// `GET /console/devices`
pub async fn list_devices(
    State(state): State<AppState>,
    user: Console<Staff>,
    Query(q): Query<After>,
) -> Response {
    devices_page(&state, &user, q.after.as_deref(), None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

async fn devices_page(
    state: &AppState,
    user: &Console<Staff>,
    after: Option<&str>,
    error: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    devices_page_with(
        state,
        user,
        after,
        error,
        super::devices::DeviceForm::default(),
        None,
        status,
    )
    .await
}

/// The devices page with the add form as typed and why it was refused.
pub(super) async fn devices_page_with(
    state: &AppState,
    user: &Console<Staff>,
    after: Option<&str>,
    error: Option<&'static str>,
    form: super::devices::DeviceForm,
    problem: Option<String>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let (after_t, after_id) = super::time_cursor(after)?.unzip();
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let rows = tx
        .query(
            "SELECT a.id, coalesce(h.name, '')::text, a.mac_address::text,
                    coalesce(a.device_name, '')::text, a.auto_connect, a.is_blocked,
                    coalesce(a.blocked_reason, ''), a.created_at
             FROM client_hotspot_access a LEFT JOIN hotspots h ON h.id = a.hotspot_id
             WHERE $1::timestamptz IS NULL OR (a.created_at, a.id) > ($1, $2::uuid)
             ORDER BY a.created_at, a.id
             LIMIT $3",
            &[&after_t, &after_id, &(PAGE + 1)],
        )
        .await?;
    let add = super::devices::AddForm::load(&tx, form, problem).await?;
    tx.commit().await?;
    let keyed: Vec<(DateTime<Utc>, DeviceRow)> = rows
        .iter()
        .map(|r| {
            (
                r.get(7),
                DeviceRow {
                    id: r.get(0),
                    site: r.get(1),
                    mac: r.get(2),
                    name: r.get(3),
                    auto_connect: r.get(4),
                    blocked: r.get(5),
                    reason: r.get(6),
                },
            )
        })
        .collect();
    let (rows, next) = keyset_page(keyed, |r| r.id);
    let body = DevicesPage {
        f: user.frame("/console/devices", "devices"),
        rows,
        next,
        can_block: user.can::<Support>(),
        error,
        add,
    };
    page(status, &body)
}

/// The block form.
#[derive(Debug, Deserialize)]
pub struct BlockForm {
    #[serde(default)]
    pub reason: String,
}

/// `POST /console/devices/{id}/block`
pub async fn block(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<BlockForm>,
) -> Response {
    let reason = form.reason.trim();
    if reason.is_empty() || reason.len() > 1000 {
        let staff = Console::<Staff>::from_other(&user);
        return devices_page(
            &state,
            &staff,
            None,
            Some("dev.reason_needed"),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap_or_else(|e| e.render(user.lang));
    }
    set(&state, &user, id, true, Some(reason)).await
}

/// `POST /console/devices/{id}/unblock`
pub async fn unblock(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    set(&state, &user, id, false, None).await
}

async fn set(
    state: &AppState,
    user: &Console<Support>,
    id: Uuid,
    blocked: bool,
    reason: Option<&str>,
) -> Response {
    match sessions::set_device_blocked(state, user.tenant_id, user.user_id, id, blocked, reason)
        .await
    {
        Ok(_) => Redirect::to("/console/devices").into_response(),
        Err(e) => ConsoleError::from(e).render(user.lang),
    }
}

#[cfg(test)]
mod tests {
    use super::left_text;

    #[test]
    fn what_is_left_reads_in_hours_minutes_and_megabytes() {
        assert_eq!(left_text(Some(3_900), Some(120.4)), "1 h 5 min · 120 MB");
        assert_eq!(left_text(Some(1), None), "1 min");
        assert_eq!(left_text(Some(0), Some(0.0)), "0 min · 0 MB");
        assert_eq!(left_text(None, Some(2_048.0)), "2.0 GB");
        assert_eq!(left_text(None, None), "—");
    }
}
