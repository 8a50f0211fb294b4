//! Payments: guests' M-Pesa purchases from the routers, newest first, keyset-paged, filtered by
//! site, status, the ones a callback disagreed with, and a date range. Read-only, for the API's
//! [`Finance`] roles; the query is the API's (`payments::query_purchases`). The filtered list
//! is exported as CSV (at most [`EXPORT_LIMIT`] rows, newest first), its fields quoted and
//! spreadsheet formulas defused as the vouchers' export does.
//!
//! A pending purchase whose push Daraja answered has "Query now": the payments job's own STK
//! query of that one purchase ([`crate::payments::jobs::query_now`]), its outcome shown.
//!
//! The paybill (C2B) payments, which payers make from the phone's menu, are a second list at
//! `/console/payments/c2b` (keyset-paged, newest first) with its own CSV export.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, csv_download, instant,
    local_midnight, local_times, page, query_value,
};
use crate::AppState;
use crate::api::auth::Finance;
use crate::api::payments::{self, PurchaseFilter};
use crate::api::vouchers::rows_csv;
use crate::api::{encode_cursor, json_text};
use crate::payments::{c2b, jobs::QueryNow};

/// Purchases per page.
const PAGE: i64 = 50;

/// The statuses a purchase can be in, with their message ids.
const STATUSES: [(&str, &str); 3] = [
    ("pending", "pay.st_pending"),
    ("paid", "pay.st_paid"),
    ("failed", "pay.st_failed"),
];

/// The filters as the page's GET form sends them (empty means any).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub hotspot_id: String,
    #[serde(default)]
    pub status: String,
    /// `1`: only those a callback disagreed with.
    #[serde(default)]
    pub review: String,
    /// `YYYY-MM-DD` (the tenant's day), included.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD` (the tenant's day), excluded.
    #[serde(default)]
    pub to: String,
    pub after: Option<String>,
}

/// A filter value the page does not accept.
#[derive(Debug, PartialEq, Eq)]
pub struct BadFilter;

fn day(s: &str) -> Result<Option<DateTime<Utc>>, BadFilter> {
    match s.trim() {
        "" => Ok(None),
        d => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(|d| Some(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()))
            .map_err(|_| BadFilter),
    }
}

impl Filters {
    /// The API's filter of these (an unknown status or site is no match, as the API's).
    pub fn to_api(&self) -> Result<PurchaseFilter, BadFilter> {
        let hotspot_id = match self.hotspot_id.trim() {
            "" => None,
            id => Some(Uuid::parse_str(id).map_err(|_| BadFilter)?),
        };
        let status = match self.status.trim() {
            "" => None,
            s if STATUSES.iter().any(|(v, _)| *v == s) => Some(s.to_owned()),
            _ => return Err(BadFilter),
        };
        Ok(PurchaseFilter {
            hotspot_id,
            status,
            review: (self.review == "1").then_some(true),
            from: day(&self.from)?,
            to: day(&self.to)?,
            limit: None,
        })
    }

    /// The query string of these filters, for the next page's link.
    fn query(&self) -> String {
        format!(
            "hotspot_id={}&status={}&review={}&from={}&to={}",
            query_value(&self.hotspot_id),
            query_value(&self.status),
            query_value(&self.review),
            query_value(&self.from),
            query_value(&self.to)
        )
    }
}

#[derive(Debug)]
struct Row {
    id: String,
    /// Pending with a checkout id: Daraja can be asked about it.
    can_query: bool,
    when: String,
    site: String,
    phone: String,
    package: String,
    amount: String,
    /// The status's message id.
    status: &'static str,
    receipt: String,
    review: String,
}

#[derive(Debug)]
struct Choice {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console/payments.html")]
struct PaymentsPage {
    f: Frame,
    filters: Filters,
    query: String,
    rows: Vec<Row>,
    next: Option<String>,
    sites: Vec<Choice>,
    statuses: [(&'static str, &'static str); 3],
    bad_filter: bool,
    /// The outcome of a "query now" (a message id), and the purchase it was for.
    notice: Option<(&'static str, String)>,
}

/// `GET /console/payments`
pub async fn list(
    State(state): State<AppState>,
    user: Console<Finance>,
    Query(filters): Query<Filters>,
) -> Response {
    let lang = user.lang;
    list_page(&state, &user, filters, None)
        .await
        .unwrap_or_else(|e| e.render(lang))
}

async fn list_page(
    state: &AppState,
    user: &Console<Finance>,
    filters: Filters,
    notice: Option<(&'static str, String)>,
) -> ConsoleResult<Response> {
    let before = super::time_cursor(filters.after.as_deref())?;
    let mut api = filters.to_api();
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let found = match &mut api {
        Ok(f) => {
            f.from = local_midnight(&tx, f.from).await?;
            f.to = local_midnight(&tx, f.to).await?;
            payments::query_purchases(&tx, f, before, PAGE + 1).await?
        }
        Err(BadFilter) => Vec::new(),
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
    let more = found.len() as i64 > PAGE;
    let shown = &found[..found.len().min(PAGE as usize)];
    let times: Vec<_> = shown.iter().map(|v| instant(&v["created_at"])).collect();
    let mut whens = local_times(&tx, &times).await?.into_iter();
    tx.commit().await?;
    let next = if more {
        shown
            .last()
            .map(|v| encode_cursor(&[json_text(&v["created_at"]), json_text(&v["id"])]))
    } else {
        None
    };
    let rows = shown
        .iter()
        .map(|v| {
            let site_id = json_text(&v["hotspot_id"]);
            let status = json_text(&v["status"]);
            Row {
                id: json_text(&v["id"]),
                can_query: status == "pending" && !json_text(&v["checkout_request_id"]).is_empty(),
                when: whens.next().unwrap_or_default(),
                site: sites
                    .iter()
                    .find(|(id, _)| id.to_string() == site_id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default(),
                phone: json_text(&v["phone_number"]),
                package: json_text(&v["package_name"]),
                amount: json_text(&v["amount"]),
                status: STATUSES
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map(|(_, id)| *id)
                    .unwrap_or("pay.st_pending"),
                receipt: json_text(&v["mpesa_receipt_number"]),
                review: json_text(&v["review_reason"]),
            }
        })
        .collect();
    let bad_filter = api.is_err();
    let body = PaymentsPage {
        f: user.frame("/console/payments", "payments"),
        query: filters.query(),
        filters,
        rows,
        next,
        sites: sites
            .into_iter()
            .map(|(id, name)| Choice {
                id: id.to_string(),
                name,
            })
            .collect(),
        statuses: STATUSES,
        bad_filter,
        notice,
    };
    page(
        if bad_filter {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &body,
    )
}

/// `POST /console/payments/{id}/query`: asks Daraja now for the result of one pending purchase
/// (the payments job's query, for this purchase alone) and shows the list with the outcome.
pub async fn query(
    State(state): State<AppState>,
    user: Console<Finance>,
    axum::extract::Path(id): axum::extract::Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let lang = user.lang;
    let result: ConsoleResult<Response> = async {
        let id = Uuid::parse_str(&id).map_err(|_| ConsoleError::NotFound)?;
        // Seen through the user's own transaction first: another tenant's purchase is not found.
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let found = tx
            .query_opt("SELECT 1 FROM hotspot_purchases WHERE id = $1", &[&id])
            .await?
            .is_some();
        tx.commit().await?;
        drop(client);
        if !found {
            return Err(ConsoleError::NotFound);
        }
        let outcome =
            crate::payments::jobs::query_now(&state.payments, &state.pool, user.tenant_id, id)
                .await
                .map_err(|e| ConsoleError::Internal(e.to_string()))?
                .ok_or(ConsoleError::NotFound)?;
        let (status, message) = match outcome {
            QueryNow::Paid => (StatusCode::OK, "pay.q_paid"),
            QueryNow::Failed => (StatusCode::OK, "pay.q_failed"),
            QueryNow::Review(_) => (StatusCode::OK, "pay.q_review"),
            QueryNow::StillPending => (StatusCode::OK, "pay.q_pending"),
            QueryNow::NotPending => (StatusCode::CONFLICT, "pay.q_not_pending"),
            QueryNow::NoCheckout => (StatusCode::CONFLICT, "pay.q_no_checkout"),
            QueryNow::Busy => (StatusCode::CONFLICT, "pay.q_busy"),
            QueryNow::NoSettings => (StatusCode::CONFLICT, "pay.q_no_settings"),
        };
        let mut resp = list_page(
            &state,
            &user,
            Filters::default(),
            Some((message, id.to_string())),
        )
        .await?;
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(|e| e.render(lang))
}

/// C2B payments per page.
const C2B_PAGE: i64 = 50;

/// The filters of the C2B list as its GET form sends them (empty means any), and its cursor.
#[derive(Debug, Default, Deserialize)]
pub struct C2bQuery {
    /// `voucher`, `wallet` or `unmatched`.
    #[serde(default)]
    pub applied_to: String,
    /// A receipt, part of an account number, or a phone number.
    #[serde(default)]
    pub q: String,
    /// `YYYY-MM-DD` (the tenant's day), included.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD` (the tenant's day), excluded.
    #[serde(default)]
    pub to: String,
    pub after: Option<String>,
}

impl C2bQuery {
    /// The selection of these filters (the days as UTC midnights, for `local_midnight`).
    fn selection(&self) -> Result<c2b::Selection, BadFilter> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let sel = c2b::Selection {
            applied_to: text(&self.applied_to),
            q: text(&self.q),
            from: day(&self.from)?,
            to: day(&self.to)?,
        };
        sel.check().map_err(|_| BadFilter)?;
        Ok(sel)
    }

    /// The query string of these filters, for the next page's link and the export.
    fn query(&self) -> String {
        format!(
            "applied_to={}&q={}&from={}&to={}",
            query_value(&self.applied_to),
            query_value(&self.q),
            query_value(&self.from),
            query_value(&self.to)
        )
    }
}

#[derive(Debug)]
struct C2bRow {
    id: String,
    when: String,
    receipt: String,
    amount: String,
    phone: String,
    bill_ref: String,
    /// The status's message id.
    status: &'static str,
    /// A client credited: its id and name.
    client: Option<(String, String)>,
    voucher: String,
}

#[derive(Template)]
#[template(path = "console/payments_c2b.html")]
struct C2bPage {
    f: Frame,
    filters: C2bQuery,
    query: String,
    rows: Vec<C2bRow>,
    next: Option<String>,
    applied: [(&'static str, &'static str); 3],
    bad_filter: bool,
    /// Why applying a payment by hand was refused (a message id), and the payment.
    problem: Option<(&'static str, String)>,
}

/// The message id of what a C2B payment was applied to.
fn c2b_status(applied_to: &str) -> &'static str {
    match applied_to {
        "voucher" => "pay.c2b_voucher",
        "wallet" => "pay.c2b_wallet",
        _ => "pay.c2b_unmatched",
    }
}

/// `GET /console/payments/c2b`: the paybill payments, newest first, keyset-paged.
pub async fn c2b_list(
    State(state): State<AppState>,
    user: Console<Finance>,
    Query(q): Query<C2bQuery>,
) -> Response {
    let lang = user.lang;
    c2b_page(&state, &user, q, None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| e.render(lang))
}

/// The C2B list with `problem` (a message id) about an action on payment `.1`.
async fn c2b_page(
    state: &AppState,
    user: &Console<Finance>,
    q: C2bQuery,
    problem: Option<(&'static str, Uuid)>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let result: ConsoleResult<Response> = async {
        let before = super::time_cursor(q.after.as_deref())?;
        let mut sel = q.selection();
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let found = match &mut sel {
            Ok(sel) => {
                sel.from = local_midnight(&tx, sel.from).await?;
                sel.to = local_midnight(&tx, sel.to).await?;
                c2b::list(&tx, sel, before, C2B_PAGE + 1).await?
            }
            Err(BadFilter) => Vec::new(),
        };
        let more = found.len() as i64 > C2B_PAGE;
        let shown = &found[..found.len().min(C2B_PAGE as usize)];
        let times: Vec<_> = shown.iter().map(|p| Some(p.created_at)).collect();
        let mut whens = local_times(&tx, &times).await?.into_iter();
        tx.commit().await?;
        let next = if more {
            shown
                .last()
                .map(|p| encode_cursor(&[p.created_at.to_rfc3339(), p.id.to_string()]))
        } else {
            None
        };
        let rows = shown
            .iter()
            .map(|p| C2bRow {
                when: whens.next().unwrap_or_default(),
                id: p.id.to_string(),
                receipt: p.trans_id.clone(),
                amount: p.amount.clone(),
                phone: p.phone.clone(),
                bill_ref: p.bill_ref_number.clone(),
                status: c2b_status(&p.applied_to),
                client: p.client.as_ref().map(|(id, n)| (id.to_string(), n.clone())),
                voucher: p.voucher_code.clone().unwrap_or_default(),
            })
            .collect();
        let bad_filter = sel.is_err();
        page(
            if bad_filter {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                status
            },
            &C2bPage {
                f: user.frame("/console/payments/c2b", "payments"),
                query: q.query(),
                filters: q,
                rows,
                next,
                applied: [
                    ("voucher", "pay.c2b_voucher"),
                    ("wallet", "pay.c2b_wallet"),
                    ("unmatched", "pay.c2b_unmatched"),
                ],
                bad_filter,
                problem: problem.map(|(m, id)| (m, id.to_string())),
            },
        )
    }
    .await;
    result
}

/// The CSV of C2B payments: a header line and one CRLF-ended line a payment, formulas defused.
fn c2b_csv(rows: &[c2b::Listed]) -> String {
    let columns = [
        "created_at",
        "trans_id",
        "amount",
        "phone",
        "bill_ref_number",
        "applied_to",
        "client_id",
        "client_name",
        "voucher_code",
        "id",
    ];
    let values: Vec<serde_json::Value> = rows.iter().map(c2b::Listed::json).collect();
    rows_csv(&columns, &values)
}

/// `GET /console/payments/c2b/export.csv?…`: the C2B payments the list's filters select (at
/// most [`EXPORT_LIMIT`]), newest first.
pub async fn c2b_export(
    State(state): State<AppState>,
    user: Console<Finance>,
    Query(q): Query<C2bQuery>,
) -> Response {
    let lang = user.lang;
    let result: ConsoleResult<Response> = async {
        let Ok(mut sel) = q.selection() else {
            return Ok(filter_not_understood());
        };
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        sel.from = local_midnight(&tx, sel.from).await?;
        sel.to = local_midnight(&tx, sel.to).await?;
        let rows = c2b::list(&tx, &sel, None, EXPORT_LIMIT).await?;
        tx.commit().await?;
        Ok(csv_download("payments-c2b.csv", c2b_csv(&rows)))
    }
    .await;
    result.unwrap_or_else(|e| e.render(lang))
}

/// An export's answer to filters it cannot read (422, plain text): nothing is exported.
fn filter_not_understood() -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        "a filter is not understood\n",
    )
        .into_response()
}

/// The most purchases one export holds.
pub const EXPORT_LIMIT: i64 = 100_000;

/// The CSV of purchase rows (as `payments::query_purchases` gives them): a header line and one
/// CRLF-ended line a purchase, formulas defused.
pub fn purchases_csv(rows: &[serde_json::Value]) -> String {
    let columns = [
        "created_at",
        "hotspot_id",
        "phone_number",
        "package_name",
        "amount",
        "status",
        "mpesa_receipt_number",
        "review_reason",
        "failure_reason",
        "checkout_request_id",
        "settled_at",
        "id",
    ];
    rows_csv(&columns, rows)
}

/// `GET /console/payments/export.csv?…`: the purchases the list's filters select, unpaged.
pub async fn export(
    State(state): State<AppState>,
    user: Console<Finance>,
    Query(filters): Query<Filters>,
) -> Response {
    let lang = user.lang;
    let result: ConsoleResult<Response> = async {
        let Ok(mut f) = filters.to_api() else {
            return Ok(filter_not_understood());
        };
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        f.from = local_midnight(&tx, f.from).await?;
        f.to = local_midnight(&tx, f.to).await?;
        let rows = payments::query_purchases(&tx, &f, None, EXPORT_LIMIT).await?;
        tx.commit().await?;
        Ok(csv_download("payments.csv", purchases_csv(&rows)))
    }
    .await;
    result.unwrap_or_else(|e| e.render(lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchases_csv_quotes_and_defuses() {
        let rows = [serde_json::json!({
            "phone_number": "254722000111",
            "package_name": "=HYPERLINK(\"x\")",
            "amount": "20.00",
            "status": "paid",
            "review_reason": "amount 10, expected 20",
        })];
        let csv = purchases_csv(&rows);
        let mut lines = csv.split("\r\n");
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("created_at,hotspot_id,phone_number")
        );
        let line = lines.next().unwrap();
        assert!(line.contains(",254722000111,\"'=HYPERLINK(\"\"x\"\")\",20.00,paid,"));
        assert!(line.contains("\"amount 10, expected 20\""));
    }

    #[test]
    fn filters_are_checked() {
        let f = Filters {
            status: "paid".into(),
            review: "1".into(),
            from: "2026-03-01".into(),
            ..Filters::default()
        };
        let api = f.to_api().unwrap();
        assert_eq!(api.status.as_deref(), Some("paid"));
        assert_eq!(api.review, Some(true));
        assert_eq!(api.from.unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00");
        for bad in [
            Filters {
                status: "stolen".into(),
                ..Filters::default()
            },
            Filters {
                from: "1/3/2026".into(),
                ..Filters::default()
            },
            Filters {
                hotspot_id: "x".into(),
                ..Filters::default()
            },
        ] {
            assert_eq!(bad.to_api().unwrap_err(), BadFilter);
        }
    }
}

/// The form that applies an unmatched paybill payment to a client's wallet by hand.
#[derive(Debug, Default, Deserialize)]
pub struct ApplyForm {
    /// The client's phone or M-Pesa number, in any spelling.
    #[serde(default)]
    pub phone: String,
}

/// `POST /console/payments/c2b/{id}/apply`: an unmatched paybill payment credited to the wallet
/// of the client with that phone or M-Pesa number (`c2b::apply_by_hand`), then to the client's
/// page. A number that reads as no phone (422), no such client (422), a payment already applied
/// or its receipt already credited (409), another tenant's payment (404): the list again with
/// the reason, nothing changed.
pub async fn c2b_apply(
    State(state): State<AppState>,
    user: Console<Finance>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ApplyForm>,
) -> Response {
    let lang = user.lang;
    let result: ConsoleResult<Response> = async {
        let refused = async |key: &'static str, status: StatusCode| {
            c2b_page(&state, &user, C2bQuery::default(), Some((key, id)), status).await
        };
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        // Another tenant's payment is 404 whatever the form holds.
        tx.query_opt("SELECT 1 FROM mpesa_c2b_payments WHERE id = $1", &[&id])
            .await?
            .ok_or(ConsoleError::NotFound)?;
        let Ok(phone) = hotspot_shared::phone::Msisdn::parse(form.phone.trim()) else {
            tx.commit().await?;
            drop(client);
            return refused("pay.apply_bad_phone", StatusCode::UNPROCESSABLE_ENTITY).await;
        };
        let outcome = c2b::apply_by_hand(&tx, id, &phone).await?;
        tx.commit().await?;
        drop(client);
        match outcome {
            c2b::ByHand::Credited(client) => Ok(Redirect::to(&format!(
                "/console/clients/{client}?done=credited"
            ))
            .into_response()),
            c2b::ByHand::NotFound => Err(ConsoleError::NotFound),
            c2b::ByHand::NoClient => {
                refused("pay.apply_no_client", StatusCode::UNPROCESSABLE_ENTITY).await
            }
            c2b::ByHand::NotUnmatched => refused("pay.apply_done", StatusCode::CONFLICT).await,
            c2b::ByHand::ReceiptCredited => {
                refused("pay.apply_receipt", StatusCode::CONFLICT).await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| e.render(lang))
}
