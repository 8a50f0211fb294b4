//! Vouchers: the list with filters (site, batch, status) paged by keyset, a new batch for a site
//! and package, a batch (or the vouchers ticked in the list) printed as an A4 sheet of cards or
//! as 80 mm slips, each with a QR code that opens the site's portal with the code filled in,
//! revoking an unused voucher, and the selection as CSV. The queries are the API's
//! (`vouchers::query_vouchers`, [`vouchers::insert_batch`], [`vouchers::printable`],
//! [`vouchers::printable_ids`], `vouchers::revoke_voucher`, `vouchers::vouchers_csv`); all but
//! the list need the API's [`Support`] roles.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Frame, page, qr};
use crate::AppState;
use crate::api::auth::{Staff, Support};
use crate::api::error::ApiError;
use crate::api::vouchers::{self, BatchRequest, VoucherFilter};
use crate::api::{json_text, page_of};

/// The statuses a voucher can be in, with their message ids.
const STATUSES: [(&str, &str); 4] = [
    ("unused", "v.st_unused"),
    ("used", "v.st_used"),
    ("revoked", "v.st_revoked"),
    ("expired", "v.st_expired"),
];

fn status_id(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, id)| *id)
        .unwrap_or("v.st_unused")
}

/// Vouchers per page.
const PAGE: i64 = 50;

/// The list's filters as a plain GET form sends them (empty means any).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub hotspot_id: String,
    #[serde(default)]
    pub batch_id: String,
    #[serde(default)]
    pub status: String,
    pub cursor: Option<String>,
    /// Print layout: `a4` or `slip`.
    pub layout: Option<String>,
}

impl Filters {
    fn to_api(&self) -> ConsoleResult<VoucherFilter> {
        let id = |s: &str| -> ConsoleResult<Option<Uuid>> {
            match s.trim() {
                "" => Ok(None),
                t => Uuid::parse_str(t)
                    .map(Some)
                    .map_err(|_| ConsoleError::NotFound),
            }
        };
        Ok(VoucherFilter {
            hotspot_id: id(&self.hotspot_id)?,
            package_id: None,
            batch_id: id(&self.batch_id)?,
            status: (!self.status.is_empty()).then(|| self.status.clone()),
            code: None,
            limit: None,
            cursor: self.cursor.clone(),
        })
    }

    /// The query string of these filters (for the next page and print links).
    fn query(&self) -> String {
        let enc = super::query_value;
        format!(
            "hotspot_id={}&batch_id={}&status={}",
            enc(&self.hotspot_id),
            enc(&self.batch_id),
            enc(&self.status)
        )
    }
}

/// The portal address of a site that has none of its own: hotspotd's default `portal.base_url`.
pub const DEFAULT_PORTAL: &str = "http://192.168.1.1:2050/";

/// The link a voucher card's QR code holds: the site's portal (or [`DEFAULT_PORTAL`]) with the
/// code in its `code` parameter, which the portal's sign-in form is filled in from.
pub fn portal_link(portal: Option<&str>, code: &str) -> String {
    let base = portal.unwrap_or(DEFAULT_PORTAL);
    let base = base.split(['?', '#']).next().unwrap_or(base);
    let enc = super::query_value(code);
    if base.ends_with('/') {
        format!("{base}?code={enc}")
    } else if base
        .split_once("://")
        .is_some_and(|(_, r)| !r.contains('/'))
    {
        format!("{base}/?code={enc}")
    } else {
        format!("{base}?code={enc}")
    }
}

#[derive(Debug)]
struct Row {
    id: String,
    /// Unused: it can be revoked.
    revocable: bool,
    code: String,
    /// The status's message id.
    status: &'static str,
    price: String,
    site: String,
    batch: String,
    created: String,
}

#[derive(Debug)]
struct Choice {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console/vouchers.html")]
struct VouchersPage {
    f: Frame,
    filters: Filters,
    query: String,
    rows: Vec<Row>,
    next: Option<String>,
    sites: Vec<Choice>,
    packages: Vec<Choice>,
    /// (value, message id) of the status filter.
    statuses: [(&'static str, &'static str); 4],
    can_create: bool,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "console/print.html")]
struct PrintPage {
    f: Frame,
    slips: bool,
    cards: Vec<PrintCard>,
}

#[derive(Debug)]
struct PrintCard {
    card: vouchers::Card,
    qr: String,
}

async fn list_page(
    state: &AppState,
    user: &Console<Staff>,
    filters: Filters,
    error: Option<String>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    list_page_with(state, user, filters, error, None, status).await
}

async fn list_page_with(
    state: &AppState,
    user: &Console<Staff>,
    filters: Filters,
    error: Option<String>,
    notice: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let api_filter = filters.to_api()?;
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let found = vouchers::query_vouchers(&tx, &api_filter, Some(PAGE + 1))
        .await
        .map_err(|e| match e {
            ApiError::Validation(_) => ConsoleError::NotFound,
            other => other.into(),
        })?;
    let sites: Vec<(Uuid, String)> = tx
        .query(
            "SELECT id, coalesce(name, '')::text FROM hotspots ORDER BY name, id",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let packages: Vec<Choice> = tx
        .query(
            "SELECT id, name || ' · ' || currency || ' ' || price::text FROM service_packages
             WHERE deleted_at IS NULL AND is_active AND package_type = 'hotspot'
             ORDER BY name, id",
            &[],
        )
        .await?
        .iter()
        .map(|r| Choice {
            id: r.get::<_, Uuid>(0).to_string(),
            name: r.get::<_, Option<String>>(1).unwrap_or_default(),
        })
        .collect();
    tx.commit().await?;
    let paged = page_of(found, PAGE, |v| {
        vec![json_text(&v["created_at"]), json_text(&v["id"])]
    });
    let site_name = |v: &Value| {
        let id = json_text(v);
        sites
            .iter()
            .find(|(s, _)| s.to_string() == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let rows = paged
        .items
        .iter()
        .map(|v| Row {
            id: json_text(&v["id"]),
            revocable: json_text(&v["status"]) == "unused",
            code: json_text(&v["voucher_code"]),
            status: status_id(&json_text(&v["status"])),
            price: format!("{} {}", json_text(&v["currency"]), json_text(&v["price"])),
            site: site_name(&v["hotspot_id"]),
            batch: json_text(&v["batch_id"]),
            created: json_text(&v["created_at"])
                .get(..10)
                .unwrap_or("")
                .to_owned(),
        })
        .collect();
    let body = VouchersPage {
        f: user.frame("/console/vouchers", "vouchers"),
        query: filters.query(),
        filters,
        rows,
        next: paged.next_cursor,
        sites: sites
            .into_iter()
            .map(|(id, name)| Choice {
                id: id.to_string(),
                name,
            })
            .collect(),
        packages,
        statuses: STATUSES,
        can_create: user.can::<Support>(),
        error,
        notice,
    };
    page(status, &body)
}

/// `GET /console/vouchers`
pub async fn list(
    State(state): State<AppState>,
    user: Console<Staff>,
    Query(filters): Query<Filters>,
) -> Response {
    list_page(&state, &user, filters, None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

/// The new-batch form.
#[derive(Debug, Deserialize)]
pub struct BatchForm {
    #[serde(default)]
    pub hotspot_id: String,
    #[serde(default)]
    pub package_id: String,
    #[serde(default)]
    pub count: String,
    #[serde(default)]
    pub valid_days: String,
}

/// `POST /console/vouchers`: a new batch; then its list, from which it prints.
pub async fn create(
    State(state): State<AppState>,
    user: Console<Support>,
    CsrfForm(form): CsrfForm<BatchForm>,
) -> Response {
    let lang = user.lang;
    let parsed = (|| {
        let field = |name: &str| ApiError::field(name, "is required");
        Ok::<_, ApiError>(BatchRequest {
            hotspot_id: Uuid::parse_str(form.hotspot_id.trim()).map_err(|_| field("hotspot_id"))?,
            package_id: Uuid::parse_str(form.package_id.trim()).map_err(|_| field("package_id"))?,
            count: form
                .count
                .trim()
                .parse()
                .map_err(|_| ApiError::field("count", "must be a number"))?,
            valid_days: match form.valid_days.trim() {
                "" => None,
                d => Some(
                    d.parse()
                        .map_err(|_| ApiError::field("valid_days", "must be a number"))?,
                ),
            },
        })
    })();
    let result: Result<Uuid, ApiError> = async {
        let req = parsed?;
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        let (batch_id, codes) = vouchers::insert_batch(&tx, user.user_id, &req).await?;
        tx.commit().await?;
        tracing::info!(%batch_id, count = codes.len(), "vouchers generated in the console");
        Ok(batch_id)
    }
    .await;
    match result {
        Ok(batch) => Redirect::to(&format!("/console/vouchers?batch_id={batch}")).into_response(),
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
                Filters::default(),
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
            .unwrap_or_else(|e| e.render(lang))
        }
        Err(e) => ConsoleError::from(e).render(lang),
    }
}

/// What the print view is asked for: the list's filters, or (`picked`, from the list's "print
/// selected" form) the ticked vouchers, each an `id` field.
struct PrintQuery {
    filters: Filters,
    picked: bool,
    ids: Vec<String>,
}

impl PrintQuery {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut fields = serde_json::Map::new();
        let mut ids = Vec::new();
        let mut picked = false;
        for (k, v) in pairs {
            match k.as_str() {
                "id" => ids.push(v),
                "picked" => picked = true,
                _ => {
                    fields.insert(k, Value::String(v));
                }
            }
        }
        // Every field is text with a default: only a field given twice as something else fails.
        let filters = serde_json::from_value(Value::Object(fields)).unwrap_or_default();
        PrintQuery {
            filters,
            picked: picked || !ids.is_empty(),
            ids,
        }
    }
}

/// `GET /console/vouchers/print?batch_id=…&layout=a4|slip`: the selected vouchers (unused by
/// default) as cards to print, each with a QR code of its [`portal_link`]. With `id=…&id=…`
/// (the list's ticked vouchers, at most [`vouchers::MAX_PICKED`]), exactly those vouchers of the
/// tenant, whatever their status; too many, none or a malformed id shows the list again with
/// the reason (422).
pub async fn print(
    State(state): State<AppState>,
    user: Console<Support>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    let PrintQuery {
        filters,
        picked,
        ids,
    } = PrintQuery::from_pairs(pairs);
    let slips = filters.layout.as_deref() == Some("slip");
    if picked {
        let parsed: Option<Vec<Uuid>> =
            ids.iter().map(|i| Uuid::parse_str(i.trim()).ok()).collect();
        let notice = match &parsed {
            _ if ids.len() > vouchers::MAX_PICKED => Some("v.pick_too_many"),
            None => Some("v.pick_bad"),
            Some(v) if v.is_empty() => Some("v.pick_none"),
            Some(_) => None,
        };
        if let Some(notice) = notice {
            let staff = Console::<Staff>::from_other(&user);
            let back = Filters {
                cursor: None,
                layout: None,
                ..filters
            };
            return list_page_with(
                &state,
                &staff,
                back,
                None,
                Some(notice),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
            .unwrap_or_else(|e| e.render(lang));
        }
        let ids = parsed.unwrap_or_default();
        let result: ConsoleResult<Response> = async {
            let mut client = state.pool.get().await?;
            let tx = user.begin(&mut client).await?;
            let cards = vouchers::printable_ids(&tx, &ids).await?;
            print_page(&user, tx, cards, slips).await
        }
        .await;
        return result.unwrap_or_else(|e| e.render(lang));
    }
    let result: ConsoleResult<Response> = async {
        let mut f = filters.to_api()?;
        f.cursor = None;
        f.status.get_or_insert_with(|| "unused".to_owned());
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let cards = vouchers::printable(&tx, &f).await.map_err(|e| match e {
            ApiError::Validation(_) => ConsoleError::NotFound,
            other => other.into(),
        })?;
        print_page(&user, tx, cards, slips).await
    }
    .await;
    result.unwrap_or_else(|e| e.render(lang))
}

/// The print view of `cards`, each with the QR code of its site's portal link; commits `tx`.
async fn print_page(
    user: &Console<Support>,
    tx: deadpool_postgres::Transaction<'_>,
    cards: Vec<vouchers::Card>,
    slips: bool,
) -> ConsoleResult<Response> {
    let codes: Vec<&str> = cards.iter().map(|c| c.code.as_str()).collect();
    let portals: std::collections::HashMap<String, Option<String>> = tx
        .query(
            "SELECT v.voucher_code::text, h.portal_url
             FROM hotspot_vouchers v JOIN hotspots h ON h.id = v.hotspot_id
             WHERE v.voucher_code = ANY($1)",
            &[&codes],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    tx.commit().await?;
    let cards = cards
        .into_iter()
        .map(|card| {
            let portal = portals.get(&card.code).and_then(|p| p.as_deref());
            let link = portal_link(portal, &card.code);
            let qr = qr::svg(&link, 96, &card.code).unwrap_or_default();
            PrintCard { card, qr }
        })
        .collect();
    let body = PrintPage {
        f: user.frame("/console/vouchers", "vouchers"),
        slips,
        cards,
    };
    page(StatusCode::OK, &body)
}

/// `POST /console/vouchers/{id}/revoke`: an unused voucher stops working (the API's revoke);
/// then the list it was revoked from. Another tenant's voucher is 404; one no longer unused is
/// shown with a notice (409) and nothing changes.
pub async fn revoke(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
    CsrfForm(back): CsrfForm<Filters>,
) -> Response {
    let lang = user.lang;
    let result: Result<(), ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        vouchers::revoke_voucher(&tx, id, user.user_id).await?;
        tx.commit().await?;
        tracing::info!(voucher_id = %id, "voucher revoked in the console");
        Ok(())
    }
    .await;
    let back = Filters {
        cursor: None,
        layout: None,
        ..back
    };
    match result {
        Ok(()) => Redirect::to(&format!("/console/vouchers?{}", back.query())).into_response(),
        Err(ApiError::Conflict(_)) => {
            let staff = Console::<Staff>::from_other(&user);
            list_page_with(
                &state,
                &staff,
                back,
                None,
                Some("v.already_revoked"),
                StatusCode::CONFLICT,
            )
            .await
            .unwrap_or_else(|e| e.render(lang))
        }
        Err(e) => ConsoleError::from(e).render(lang),
    }
}

/// `GET /console/vouchers/export.csv?…`: the vouchers the list's filters select (no paging), as
/// the API's CSV export.
pub async fn export(
    State(state): State<AppState>,
    user: Console<Support>,
    Query(filters): Query<Filters>,
) -> Response {
    let lang = user.lang;
    let result: ConsoleResult<Response> = async {
        let mut f = filters.to_api()?;
        f.cursor = None;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let rows = vouchers::query_vouchers(&tx, &f, None)
            .await
            .map_err(|e| match e {
                ApiError::Validation(_) => ConsoleError::NotFound,
                other => other.into(),
            })?;
        tx.commit().await?;
        Ok(super::csv_download(
            "vouchers.csv",
            vouchers::vouchers_csv(&rows),
        ))
    }
    .await;
    result.unwrap_or_else(|e| e.render(lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_links_carry_the_code() {
        assert_eq!(
            portal_link(None, "AB12CD"),
            "http://192.168.1.1:2050/?code=AB12CD"
        );
        assert_eq!(
            portal_link(Some("https://wifi.example.co.ke"), "AB12"),
            "https://wifi.example.co.ke/?code=AB12"
        );
        assert_eq!(
            portal_link(Some("https://wifi.example.co.ke/portal/"), "A B"),
            "https://wifi.example.co.ke/portal/?code=A%20B"
        );
        assert_eq!(
            portal_link(Some("http://10.0.0.1:2050/x?y=1#z"), "C"),
            "http://10.0.0.1:2050/x?code=C"
        );
    }
}
