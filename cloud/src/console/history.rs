//! Session history: every guest session, newest first, keyset-paged, filtered by site, MAC,
//! status and a date range, through the API's own query (`sessions::query_sessions`) in the
//! request's tenant transaction. Read-only, for the staff.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{Console, ConsoleResult, Frame, instant, local_midnight, local_times, page};
use crate::AppState;
use crate::api::auth::Staff;
use crate::api::error::ApiError;
use crate::api::sessions::{self, SessionFilter};
use crate::api::{encode_cursor, json_text};

/// Sessions per page.
const PAGE: i64 = 50;

/// The filters as the page's GET form sends them (empty means any).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub hotspot_id: String,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub status: String,
    /// `YYYY-MM-DD` (the tenant's day), included.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD` (the tenant's day), excluded.
    #[serde(default)]
    pub to: String,
    pub after: Option<String>,
}

fn day(field: &str, s: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match s.trim() {
        "" => Ok(None),
        d => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(|d| Some(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()))
            .map_err(|_| ApiError::field(field, "must be a date, YYYY-MM-DD")),
    }
}

impl Filters {
    fn to_api(&self) -> Result<SessionFilter, ApiError> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        Ok(SessionFilter {
            hotspot_id: match self.hotspot_id.trim() {
                "" => None,
                id => Some(
                    Uuid::parse_str(id).map_err(|_| ApiError::field("hotspot_id", "not a site"))?,
                ),
            },
            mac: text(&self.mac),
            status: text(&self.status),
            from: day("from", &self.from)?,
            to: day("to", &self.to)?,
            limit: None,
            cursor: self.after.clone(),
        })
    }

    fn query(&self) -> String {
        let enc = super::query_value;
        format!(
            "hotspot_id={}&mac={}&status={}&from={}&to={}",
            enc(&self.hotspot_id),
            enc(&self.mac),
            enc(&self.status),
            enc(&self.from),
            enc(&self.to)
        )
    }
}

#[derive(Debug)]
struct Row {
    site: String,
    mac: String,
    kind: String,
    status: String,
    voucher: String,
    started: String,
    ended: String,
    data_mb: String,
}

#[derive(Template)]
#[template(path = "console/history.html")]
struct HistoryPage {
    f: Frame,
    filters: Filters,
    query: String,
    rows: Vec<Row>,
    next: Option<String>,
    sites: Vec<(String, String)>,
    statuses: [&'static str; 4],
    error: Option<String>,
}

/// `GET /console/sessions/history`
pub async fn list(
    State(state): State<AppState>,
    user: Console<Staff>,
    Query(filters): Query<Filters>,
) -> Response {
    history_page(&state, &user, filters)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

async fn history_page(
    state: &AppState,
    user: &Console<Staff>,
    filters: Filters,
) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let found = match filters.to_api() {
        Ok(mut f) => {
            f.from = local_midnight(&tx, f.from).await?;
            f.to = local_midnight(&tx, f.to).await?;
            sessions::query_sessions(&tx, &f, PAGE).await
        }
        Err(e) => Err(e),
    };
    let sites: Vec<(Uuid, String)> = tx
        .query(
            "SELECT id, coalesce(name, '')::text FROM hotspots ORDER BY name, id",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let (found, error) = match found {
        Ok(rows) => (rows, None),
        Err(ApiError::Validation(errors)) => (
            Vec::new(),
            Some(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        Err(e) => return Err(e.into()),
    };
    let more = found.len() as i64 > PAGE;
    let shown = &found[..found.len().min(PAGE as usize)];
    let times: Vec<_> = shown
        .iter()
        .flat_map(|v| [instant(&v["start_time"]), instant(&v["end_time"])])
        .collect();
    let mut times = local_times(&tx, &times).await?.into_iter();
    tx.commit().await?;
    let next = if more {
        shown
            .last()
            .map(|v| encode_cursor(&[json_text(&v["start_time"]), json_text(&v["id"])]))
    } else {
        None
    };
    let rows = shown
        .iter()
        .map(|v| {
            let site_id = json_text(&v["hotspot_id"]);
            Row {
                site: sites
                    .iter()
                    .find(|(id, _)| id.to_string() == site_id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default(),
                mac: json_text(&v["mac_address"]),
                kind: json_text(&v["session_type"]),
                status: json_text(&v["session_status"]),
                voucher: json_text(&v["voucher_code"]),
                started: times.next().unwrap_or_default(),
                ended: times.next().unwrap_or_default(),
                data_mb: json_text(&v["data_used_mb"]),
            }
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = HistoryPage {
        f: user.frame("/console/sessions/history", "sessions"),
        query: filters.query(),
        filters,
        rows,
        next,
        sites: sites
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
        statuses: ["active", "ended", "expired", "terminated"],
        error,
    };
    page(status, &body)
}
