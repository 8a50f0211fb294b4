//! Clients (subscribers): the list, searched by name, phone or account and keyset-paged by
//! name, with each client's status, package, expiry and wallet balance; a client's page with
//! the recent wallet transactions and their tickets, and the two wallet actions: a credit
//! (amount, M-Pesa receipt, reference) and a renewal of the package from the wallet. The
//! actions are the API's (`payments::credit_wallet`, `payments::renew_client`) and need its
//! [`Finance`] roles, as `POST /api/v1/wallet/credit` and `POST /api/v1/clients/{id}/renew` do.
//! Anyone on the staff may read the list and a client's page (the API's registry lets every
//! staff role read `clients`); money shows to `Finance` only, as on the rest of the console:
//! the wallet balances, the wallet transactions and the two actions.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, page};
use crate::AppState;
use crate::api::auth::{Finance, Staff};
use crate::api::error::ApiError;
use crate::api::payments::{self, WalletCredit};
use crate::api::{decode_cursor, encode_cursor};

/// Clients per page.
const PAGE: i64 = 50;
/// Wallet transactions shown on a client's page (the newest).
const TRANSACTIONS: i64 = 20;
/// The longest search accepted.
const SEARCH_MAX: usize = 100;

/// The tenant's time zone in SQL (UTC when unset), for the dates shown.
pub(super) const TENANT_ZONE: &str = "coalesce((SELECT timezone FROM tenants LIMIT 1), 'UTC')";

/// The list's query: the search and the cursor of the next page.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    pub after: Option<String>,
}

#[derive(Debug)]
struct ClientRow {
    id: Uuid,
    name: String,
    phone: String,
    account: String,
    status: &'static str,
    package: String,
    expires: String,
    expired: bool,
    balance: String,
}

#[derive(Template)]
#[template(path = "console/clients.html")]
struct ClientsPage {
    f: Frame,
    rows: Vec<ClientRow>,
    q: String,
    next: Option<String>,
    bad_search: bool,
    /// Whether the balances show (the API's `Finance` roles).
    can_money: bool,
}

/// The message id of a client status (the schema's check).
pub(super) fn status_key(status: &str) -> &'static str {
    match status {
        "pending" => "cl.st_pending",
        "approved" => "cl.st_approved",
        "active" => "cl.st_active",
        "suspended" => "cl.st_suspended",
        "disconnected" => "cl.st_disconnected",
        _ => "cl.st_unknown",
    }
}

/// `%text%` for ILIKE, with the pattern's own characters escaped.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `GET /console/clients`
pub async fn list(
    State(state): State<AppState>,
    user: Console<Staff>,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(&state, &user, q)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

async fn list_page(
    state: &AppState,
    user: &Console<Staff>,
    q: ListQuery,
) -> ConsoleResult<Response> {
    let search = q.q.trim().to_owned();
    let here = "/console/clients";
    if search.chars().count() > SEARCH_MAX || search.chars().any(char::is_control) {
        let body = ClientsPage {
            f: user.frame(here, "clients"),
            rows: Vec::new(),
            q: search,
            next: None,
            bad_search: true,
            can_money: user.can::<Finance>(),
        };
        return page(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let (after_name, after_id) = match q.after.as_deref() {
        Some(c) => {
            let parts = decode_cursor(c, 2).map_err(|_| ConsoleError::NotFound)?;
            let id = Uuid::parse_str(&parts[1]).map_err(|_| ConsoleError::NotFound)?;
            (Some(parts[0].clone()), Some(id))
        }
        None => (None, None),
    };
    let pattern = (!search.is_empty()).then(|| like_pattern(&search));
    // A phone typed in another spelling (07…, +254 7…) finds the number as stored (2547…).
    let phone = hotspot_shared::phone::Msisdn::parse(&search)
        .ok()
        .map(|m| m.as_str().to_owned());
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT c.id, c.name::text, c.phone::text, coalesce(c.mpesa_number, '')::text,
                        coalesce(cu.customer_number, '')::text, c.status::text,
                        coalesce(p.name, '')::text,
                        coalesce(to_char(c.subscription_end_date AT TIME ZONE {TENANT_ZONE},
                                         'YYYY-MM-DD'), ''),
                        coalesce(c.subscription_end_date < now(), false),
                        c.wallet_balance::text
                 FROM clients c
                 LEFT JOIN service_packages p ON p.id = c.service_package_id
                 LEFT JOIN customers cu ON cu.id = c.customer_id
                 WHERE c.deleted_at IS NULL
                   AND ($1::text IS NULL OR c.name ILIKE $1 OR c.phone ILIKE $1
                        OR c.mpesa_number ILIKE $1 OR cu.customer_number ILIKE $1
                        OR c.email ILIKE $1 OR c.phone = $2 OR c.mpesa_number = $2)
                   AND ($3::text IS NULL OR (c.name::text, c.id) > ($3, $4::uuid))
                 ORDER BY c.name::text, c.id
                 LIMIT $5"
            ),
            &[&pattern, &phone, &after_name, &after_id, &(PAGE + 1)],
        )
        .await?;
    tx.commit().await?;
    let mut rows: Vec<ClientRow> = rows
        .iter()
        .map(|r| {
            let mpesa: String = r.get(3);
            let account: String = r.get(4);
            ClientRow {
                id: r.get(0),
                name: r.get(1),
                phone: r.get(2),
                account: match (account.is_empty(), mpesa.is_empty()) {
                    (false, _) => account,
                    (true, false) => mpesa,
                    (true, true) => String::new(),
                },
                status: status_key(&r.get::<_, String>(5)),
                package: r.get(6),
                expires: r.get(7),
                expired: r.get(8),
                balance: r.get(9),
            }
        })
        .collect();
    let next = if rows.len() as i64 > PAGE {
        rows.truncate(PAGE as usize);
        rows.last()
            .map(|r| encode_cursor(&[r.name.clone(), r.id.to_string()]))
    } else {
        None
    };
    let body = ClientsPage {
        f: user.frame(here, "clients"),
        rows,
        q: search,
        next,
        bad_search: false,
        can_money: user.can::<Finance>(),
    };
    page(StatusCode::OK, &body)
}

#[derive(Debug)]
struct Transaction {
    when: String,
    kind: String,
    amount: String,
    description: String,
    reference: String,
    receipt: String,
}

#[derive(Debug)]
struct TicketLink {
    id: Uuid,
    number: String,
    title: String,
    status: &'static str,
}

/// What the credit form held when it was refused (shown again as typed).
#[derive(Debug, Default, Deserialize)]
pub struct CreditForm {
    #[serde(default)]
    pub amount: String,
    #[serde(default)]
    pub receipt: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Template)]
#[template(path = "console/client.html")]
struct ClientPage {
    f: Frame,
    id: Uuid,
    name: String,
    phone: String,
    mpesa_number: String,
    email: String,
    account: String,
    client_type: String,
    status: &'static str,
    package: String,
    rate: String,
    balance: String,
    auto_renewal: bool,
    starts: String,
    expires: String,
    expired: bool,
    suspension: String,
    transactions: Vec<Transaction>,
    tickets: Vec<TicketLink>,
    can_money: bool,
    form: CreditForm,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

/// The page's query: what was just done (after a redirect).
#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    pub done: Option<String>,
}

/// `GET /console/clients/{id}`
pub async fn show(
    State(state): State<AppState>,
    user: Console<Staff>,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("credited") => Some("cl.credited"),
        Some("renewed") => Some("cl.renewed"),
        _ => None,
    };
    client_page(
        &state,
        &user,
        id,
        CreditForm::default(),
        notice,
        None,
        StatusCode::OK,
    )
    .await
    .unwrap_or_else(|e| e.render(user.lang))
}

async fn client_page(
    state: &AppState,
    user: &Console<Staff>,
    id: Uuid,
    form: CreditForm,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let can_money = user.can::<Finance>();
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT c.name::text, c.phone::text, coalesce(c.mpesa_number, '')::text,
                        coalesce(c.email, '')::text, coalesce(cu.customer_number, '')::text,
                        c.client_type::text, c.status::text, coalesce(p.name, '')::text,
                        coalesce(NULLIF(c.monthly_rate, 0), p.monthly_rate, 0)::text,
                        c.wallet_balance::text, c.auto_renewal,
                        coalesce(to_char(c.subscription_start_date AT TIME ZONE {TENANT_ZONE},
                                         'YYYY-MM-DD HH24:MI'), ''),
                        coalesce(to_char(c.subscription_end_date AT TIME ZONE {TENANT_ZONE},
                                         'YYYY-MM-DD HH24:MI'), ''),
                        coalesce(c.subscription_end_date < now(), false),
                        coalesce(c.suspension_reason, '')::text
                 FROM clients c
                 LEFT JOIN service_packages p ON p.id = c.service_package_id
                 LEFT JOIN customers cu ON cu.id = c.customer_id
                 WHERE c.id = $1 AND c.deleted_at IS NULL"
            ),
            &[&id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let transactions = if can_money {
        tx.query(
            &format!(
                "SELECT to_char(created_at AT TIME ZONE {TENANT_ZONE}, 'YYYY-MM-DD HH24:MI'),
                        transaction_type::text, amount::text, coalesce(description, ''),
                        coalesce(reference_number, '')::text,
                        coalesce(mpesa_receipt_number, '')::text
                 FROM wallet_transactions WHERE client_id = $1
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ),
            &[&id, &TRANSACTIONS],
        )
        .await?
        .iter()
        .map(|r| Transaction {
            when: r.get::<_, Option<String>>(0).unwrap_or_default(),
            kind: r.get(1),
            amount: r.get(2),
            description: r.get(3),
            reference: r.get(4),
            receipt: r.get(5),
        })
        .collect()
    } else {
        Vec::new()
    };
    let tickets = tx
        .query(
            "SELECT id, ticket_number::text, title::text, status::text FROM support_tickets
             WHERE client_id = $1 AND deleted_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT 10",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| TicketLink {
            id: r.get(0),
            number: r.get(1),
            title: r.get(2),
            status: super::tickets::status_key(&r.get::<_, String>(3)),
        })
        .collect();
    tx.commit().await?;
    let body = ClientPage {
        f: user.frame(&format!("/console/clients/{id}"), "clients"),
        id,
        name: row.get(0),
        phone: row.get(1),
        mpesa_number: row.get(2),
        email: row.get(3),
        account: row.get(4),
        client_type: row.get(5),
        status: status_key(&row.get::<_, String>(6)),
        package: row.get(7),
        rate: row.get(8),
        balance: row.get(9),
        auto_renewal: row.get(10),
        starts: row.get(11),
        expires: row.get(12),
        expired: row.get(13),
        suspension: row.get(14),
        transactions,
        tickets,
        can_money,
        form,
        notice,
        error,
    };
    page(status, &body)
}

/// An optional text field: trimmed, empty is none.
fn optional(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `POST /console/clients/{id}/credit`: the API's wallet credit. A receipt number already
/// credited is refused (409) and nothing changes, so the same form sent twice with its receipt
/// credits once; a reference alone is not checked (as in the API).
pub async fn credit(
    State(state): State<AppState>,
    user: Console<Finance>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<CreditForm>,
) -> Response {
    let refused = |key: &'static str, status: StatusCode, form: CreditForm| {
        let state = state.clone();
        let staff = Console::<Staff>::from_other(&user);
        async move {
            client_page(&state, &staff, id, form, None, Some(key), status)
                .await
                .unwrap_or_else(|e| e.render(staff.lang))
        }
    };
    let amount = form.amount.trim().replace(',', "");
    let Ok(amount) = amount.parse::<f64>() else {
        return refused("cl.bad_amount", StatusCode::UNPROCESSABLE_ENTITY, form).await;
    };
    let too_long = [&form.receipt, &form.reference]
        .iter()
        .any(|t| t.trim().chars().count() > 255)
        || form.description.trim().chars().count() > 500;
    if too_long {
        return refused("cl.too_long", StatusCode::UNPROCESSABLE_ENTITY, form).await;
    }
    let credit = WalletCredit {
        client_id: id,
        amount,
        description: optional(&form.description),
        reference_number: optional(&form.reference),
        mpesa_receipt_number: optional(&form.receipt),
    };
    let done = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        payments::credit_wallet(&tx, &credit).await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(())
    }
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/console/clients/{id}?done=credited")).into_response(),
        Err(ConsoleActionError::Api(ApiError::Validation(_))) => {
            refused("cl.bad_amount", StatusCode::UNPROCESSABLE_ENTITY, form).await
        }
        Err(ConsoleActionError::Api(ApiError::Conflict(_))) => {
            refused("cl.receipt_seen", StatusCode::CONFLICT, form).await
        }
        Err(ConsoleActionError::Api(e)) => ConsoleError::from(e).render(user.lang),
        Err(ConsoleActionError::Console(e)) => e.render(user.lang),
    }
}

/// `POST /console/clients/{id}/renew`: the API's renewal from the wallet now. A renewal the
/// function refuses (balance short, no rate) answers 409 with the reason and changes nothing.
pub async fn renew(
    State(state): State<AppState>,
    user: Console<Finance>,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let done = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let result = payments::renew_client(&tx, id).await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(result)
    }
    .await;
    let result = match done {
        Ok(result) => result,
        Err(ConsoleActionError::Api(e)) => return ConsoleError::from(e).render(user.lang),
        Err(ConsoleActionError::Console(e)) => return e.render(user.lang),
    };
    if result["success"] == serde_json::Value::Bool(true) {
        return Redirect::to(&format!("/console/clients/{id}?done=renewed")).into_response();
    }
    let key = match result["error"].as_str() {
        Some("insufficient_balance") => "cl.renew_short",
        Some("no_renewal_rate") => "cl.renew_no_rate",
        _ => "cl.renew_refused",
    };
    let staff = Console::<Staff>::from_other(&user);
    client_page(
        &state,
        &staff,
        id,
        CreditForm::default(),
        None,
        Some(key),
        StatusCode::CONFLICT,
    )
    .await
    .unwrap_or_else(|e| e.render(staff.lang))
}

/// An action's failure: the API's service function's error (its kinds matter to the page), or
/// the console's own (the connection, the transaction).
#[derive(Debug)]
pub(super) enum ConsoleActionError {
    Api(ApiError),
    Console(ConsoleError),
}

impl From<ApiError> for ConsoleActionError {
    fn from(e: ApiError) -> Self {
        ConsoleActionError::Api(e)
    }
}

impl From<ConsoleError> for ConsoleActionError {
    fn from(e: ConsoleError) -> Self {
        ConsoleActionError::Console(e)
    }
}

impl From<deadpool_postgres::PoolError> for ConsoleActionError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ConsoleActionError::Api(e.into())
    }
}

impl From<tokio_postgres::Error> for ConsoleActionError {
    fn from(e: tokio_postgres::Error) -> Self {
        ConsoleActionError::Api(e.into())
    }
}
