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

use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Frame, ShowQuery, page};
use crate::AppState;
use crate::api::auth::{Finance, Staff, Support};
use crate::api::error::ApiError;
use crate::api::payments::{self, WalletCredit};
use crate::api::{decode_cursor, encode_cursor};

/// Clients per page.
const PAGE: i64 = 50;
/// Wallet transactions shown on a client's page (the newest).
const TRANSACTIONS: i64 = 20;
/// The longest search accepted.
const SEARCH_MAX: usize = 100;

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
    /// Whether "New client" shows (the registry's writers of `clients`).
    can_create: bool,
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

pub(super) use crate::api::like_pattern;

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
            can_create: can_write_clients(&user.roles),
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
            "SELECT c.id, c.name::text, c.phone::text, coalesce(c.mpesa_number, '')::text,
                        coalesce(cu.customer_number, '')::text, c.status::text,
                        coalesce(p.name, '')::text,
                        coalesce(to_char(c.subscription_end_date,
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
                 LIMIT $5",
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
        can_create: can_write_clients(&user.roles),
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
    /// The form's idempotency key (a fresh UUID each time the page is shown).
    #[serde(default)]
    pub key: String,
}

/// The renewal form: only its idempotency key.
#[derive(Debug, Default, Deserialize)]
pub struct RenewForm {
    #[serde(default)]
    pub key: String,
}

/// A form's idempotency key: none for an empty field (a form from before keys), else a UUID.
fn form_key(key: &str) -> Result<Option<Uuid>, ()> {
    match key.trim() {
        "" => Ok(None),
        k => Uuid::parse_str(k).map(Some).map_err(|_| ()),
    }
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
    /// Whether the edit link and the new-ticket link show (the registry's writers).
    can_edit: bool,
    can_ticket: bool,
    form: CreditForm,
    /// Fresh idempotency keys of the credit and renewal forms: a second tap does it once.
    credit_key: Uuid,
    renew_key: Uuid,
    notice: Option<&'static str>,
    error: Option<&'static str>,
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
        Some("created") => Some("cl.created"),
        Some("saved") => Some("cl.saved"),
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
            "SELECT c.name::text, c.phone::text, coalesce(c.mpesa_number, '')::text,
                        coalesce(c.email, '')::text, coalesce(cu.customer_number, '')::text,
                        c.client_type::text, c.status::text, coalesce(p.name, '')::text,
                        coalesce(NULLIF(c.monthly_rate, 0), p.monthly_rate, 0)::text,
                        c.wallet_balance::text, c.auto_renewal,
                        coalesce(to_char(c.subscription_start_date,
                                         'YYYY-MM-DD HH24:MI'), ''),
                        coalesce(to_char(c.subscription_end_date,
                                         'YYYY-MM-DD HH24:MI'), ''),
                        coalesce(c.subscription_end_date < now(), false),
                        CASE WHEN c.status = 'suspended'
                             THEN concat_ws(': ', to_char(c.suspended_at, 'YYYY-MM-DD HH24:MI'),
                                            NULLIF(c.suspension_reason, ''))
                             ELSE '' END
                 FROM clients c
                 LEFT JOIN service_packages p ON p.id = c.service_package_id
                 LEFT JOIN customers cu ON cu.id = c.customer_id
                 WHERE c.id = $1 AND c.deleted_at IS NULL",
            &[&id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let transactions = if can_money {
        tx.query(
            "SELECT to_char(created_at, 'YYYY-MM-DD HH24:MI'),
                        transaction_type::text, amount::text, coalesce(description, ''),
                        coalesce(reference_number, '')::text,
                        coalesce(mpesa_receipt_number, '')::text
                 FROM wallet_transactions WHERE client_id = $1
                 ORDER BY created_at DESC, id DESC LIMIT $2",
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
        credit_key: Uuid::new_v4(),
        renew_key: Uuid::new_v4(),
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
        can_edit: can_write_clients(&user.roles),
        can_ticket: crate::api::registry::find("support_tickets")
            .is_some_and(|t| t.can_write(&user.roles)),
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
    let Ok(key) = form_key(&form.key) else {
        return refused("cl.bad_key", StatusCode::UNPROCESSABLE_ENTITY, form).await;
    };
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
        payments::credit_wallet(&tx, &credit, key).await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(())
    }
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/console/clients/{id}?done=credited")).into_response(),
        Err(ConsoleActionError::Api(ApiError::Validation(_))) => {
            refused("cl.bad_amount", StatusCode::UNPROCESSABLE_ENTITY, form).await
        }
        Err(ConsoleActionError::Api(ApiError::Conflict(why)))
            if why.contains("Idempotency-Key") =>
        {
            refused("cl.bad_key", StatusCode::CONFLICT, form).await
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
    CsrfForm(form): CsrfForm<RenewForm>,
) -> Response {
    let page = |key: &'static str, status: StatusCode| {
        let state = state.clone();
        let staff = Console::<Staff>::from_other(&user);
        async move {
            client_page(
                &state,
                &staff,
                id,
                CreditForm::default(),
                None,
                Some(key),
                status,
            )
            .await
            .unwrap_or_else(|e| e.render(staff.lang))
        }
    };
    let Ok(key) = form_key(&form.key) else {
        return page("cl.bad_key", StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let done = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let result = payments::renew_client(&tx, id, key).await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(result)
    }
    .await;
    let result = match done {
        Ok(result) => result,
        Err(ConsoleActionError::Api(ApiError::Conflict(_))) => {
            return page("cl.bad_key", StatusCode::CONFLICT).await;
        }
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
    page(key, StatusCode::CONFLICT).await
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

/// The client types of the schema (`clients.client_type`), in the form's order.
pub const CLIENT_TYPES: [&str; 4] = ["individual", "business", "corporate", "government"];
/// The connection types of the schema (`clients.connection_type`).
pub const CONNECTION_TYPES: [&str; 6] =
    ["fiber", "wireless", "satellite", "dsl", "pppoe", "hotspot"];
/// The client states of the schema (`clients.status`).
pub const CLIENT_STATUSES: [&str; 5] =
    ["pending", "approved", "active", "suspended", "disconnected"];

/// The new-client and edit forms, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct ClientForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub mpesa_number: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub client_type: String,
    #[serde(default)]
    pub connection_type: String,
    #[serde(default)]
    pub status: String,
    /// A package of the tenant, or empty for none.
    #[serde(default)]
    pub service_package_id: String,
    #[serde(default)]
    pub address: String,
    /// Ticked: renew from the wallet when the period ends.
    #[serde(default)]
    pub auto_renewal: Option<String>,
    /// Why the client is suspended (kept only with the status `suspended`).
    #[serde(default)]
    pub suspension_reason: String,
}

impl ClientForm {
    fn fresh() -> Self {
        ClientForm {
            client_type: "individual".into(),
            connection_type: "hotspot".into(),
            status: "active".into(),
            auto_renewal: Some("on".into()),
            ..ClientForm::default()
        }
    }

    /// The row's columns for the API's generic insert and update, or the message id of the
    /// first field refused. Phone numbers are stored as the C2B payments and the search find
    /// them (`2547…`), whatever spelling was typed.
    pub fn body(&self) -> Result<serde_json::Map<String, serde_json::Value>, &'static str> {
        use hotspot_shared::phone::Msisdn;
        use serde_json::json;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
            return Err("cl.bad_name");
        }
        let phone = Msisdn::parse(self.phone.trim()).map_err(|_| "cl.bad_phone")?;
        let mpesa = match self.mpesa_number.trim() {
            "" => None,
            m => Some(Msisdn::parse(m).map_err(|_| "cl.bad_mpesa")?),
        };
        let email = self.email.trim();
        let email_ok = email.is_empty()
            || (email.chars().count() <= 255
                && !email.chars().any(char::is_whitespace)
                && email
                    .split_once('@')
                    .is_some_and(|(a, b)| !a.is_empty() && b.contains('.')));
        if !email_ok {
            return Err("cl.bad_email");
        }
        let pick = |v: &str, of: &[&str]| of.contains(&v.trim()).then(|| v.trim().to_owned());
        let client_type = pick(&self.client_type, &CLIENT_TYPES).ok_or("cl.bad_choice")?;
        let connection_type =
            pick(&self.connection_type, &CONNECTION_TYPES).ok_or("cl.bad_choice")?;
        let status = pick(&self.status, &CLIENT_STATUSES).ok_or("cl.bad_choice")?;
        let package = match self.service_package_id.trim() {
            "" => None,
            id => Some(Uuid::parse_str(id).map_err(|_| "cl.bad_package")?),
        };
        let address = self.address.trim();
        if address.chars().count() > 1000 {
            return Err("cl.bad_address");
        }
        let reason = self.suspension_reason.trim();
        if reason.chars().count() > 500 || reason.chars().any(char::is_control) {
            return Err("cl.bad_reason");
        }
        let mut body = serde_json::Map::new();
        body.insert("name".into(), json!(name));
        body.insert("phone".into(), json!(phone.as_str()));
        body.insert(
            "mpesa_number".into(),
            json!(mpesa.as_ref().map(|m| m.as_str())),
        );
        body.insert("email".into(), json!(optional(email)));
        body.insert("client_type".into(), json!(client_type));
        body.insert("connection_type".into(), json!(connection_type));
        body.insert("status".into(), json!(status));
        body.insert("service_package_id".into(), json!(package));
        body.insert("address".into(), json!(optional(address)));
        body.insert("auto_renewal".into(), json!(self.auto_renewal.is_some()));
        // The database stamps the suspension's time and clears both when it ends
        // (migration 0047); the reason is the form's only while suspended.
        if status == "suspended" {
            body.insert("suspension_reason".into(), json!(optional(reason)));
        }
        Ok(body)
    }
}

#[derive(Debug)]
struct PackageChoice {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console/client_form.html")]
struct ClientFormPage {
    f: Frame,
    /// The client edited; none for a new one.
    id: Option<Uuid>,
    form: ClientForm,
    packages: Vec<PackageChoice>,
    client_types: [&'static str; 4],
    connection_types: [&'static str; 6],
    statuses: Vec<(&'static str, &'static str)>,
    error: Option<&'static str>,
}

/// Whether `roles` may write clients (the API registry's writers of `clients`).
fn can_write_clients(roles: &[crate::api::auth::Role]) -> bool {
    crate::api::registry::find("clients").is_some_and(|t| t.can_write(roles))
}

async fn form_page(
    state: &AppState,
    user: &Console<Support>,
    id: Option<Uuid>,
    form: ClientForm,
    error: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let packages = tx
        .query(
            "SELECT id, name::text FROM service_packages WHERE deleted_at IS NULL
             ORDER BY name, id",
            &[],
        )
        .await?
        .iter()
        .map(|r| PackageChoice {
            id: r.get::<_, Uuid>(0).to_string(),
            name: r.get(1),
        })
        .collect();
    tx.commit().await?;
    let here = match id {
        Some(id) => format!("/console/clients/{id}/edit"),
        None => "/console/clients/new".to_owned(),
    };
    let body = ClientFormPage {
        f: user.frame(&here, "clients"),
        id,
        form,
        packages,
        client_types: CLIENT_TYPES,
        connection_types: CONNECTION_TYPES,
        statuses: CLIENT_STATUSES
            .iter()
            .map(|s| (*s, status_key(s)))
            .collect(),
        error,
    };
    page(status, &body)
}

/// Whether the body's package (if any) is one of the tenant's, seen in its transaction (the
/// foreign key alone would name another tenant's no better than a typo).
async fn package_ok(
    tx: &deadpool_postgres::Transaction<'_>,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<bool, tokio_postgres::Error> {
    let Some(id) = body["service_package_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
    else {
        return Ok(true);
    };
    Ok(tx
        .query_opt(
            "SELECT 1 FROM service_packages WHERE id = $1 AND deleted_at IS NULL",
            &[&id],
        )
        .await?
        .is_some())
}

/// The answer to a refused client form: the form again with the message id, or an error page.
async fn refused_form(
    state: &AppState,
    user: &Console<Support>,
    id: Option<Uuid>,
    form: ClientForm,
    e: ConsoleActionError,
) -> Response {
    let key = match e {
        ConsoleActionError::Api(ApiError::Validation(_) | ApiError::Conflict(_)) => "cl.refused",
        ConsoleActionError::Api(e) => return ConsoleError::from(e).render(user.lang),
        ConsoleActionError::Console(e) => return e.render(user.lang),
    };
    form_page(
        state,
        user,
        id,
        form,
        Some(key),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap_or_else(|e| e.render(user.lang))
}

/// `GET /console/clients/new`: the new-client form.
pub async fn new_form(State(state): State<AppState>, user: Console<Support>) -> Response {
    if !can_write_clients(&user.roles) {
        return ConsoleError::Forbidden.render(user.lang);
    }
    form_page(
        &state,
        &user,
        None,
        ClientForm::fresh(),
        None,
        StatusCode::OK,
    )
    .await
    .unwrap_or_else(|e| e.render(user.lang))
}

/// `POST /console/clients`: a new client through the API's generic insert (its registry's
/// writers and columns); refused fields re-render the form as typed, nothing stored.
pub async fn create(
    State(state): State<AppState>,
    user: Console<Support>,
    CsrfForm(form): CsrfForm<ClientForm>,
) -> Response {
    if !can_write_clients(&user.roles) {
        return ConsoleError::Forbidden.render(user.lang);
    }
    let body = match form.body() {
        Ok(b) => b,
        Err(key) => {
            return form_page(
                &state,
                &user,
                None,
                form,
                Some(key),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
            .unwrap_or_else(|e| e.render(user.lang));
        }
    };
    let done = async {
        let table = crate::api::registry::find("clients")
            .ok_or_else(|| ConsoleError::Internal("clients not registered".into()))?;
        let catalog = crate::api::resources::catalog(&state).await?;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        if !package_ok(&tx, &body).await? {
            return Ok(Err("cl.bad_package"));
        }
        let row =
            crate::api::resources::insert_row(&tx, catalog, table, &user.roles, &body).await?;
        tx.commit().await?;
        let id = row["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| ConsoleError::Internal("a new client without its id".into()))?;
        Ok::<_, ConsoleActionError>(Ok(id))
    }
    .await;
    match done {
        Ok(Ok(id)) => Redirect::to(&format!("/console/clients/{id}?done=created")).into_response(),
        Ok(Err(key)) => form_page(
            &state,
            &user,
            None,
            form,
            Some(key),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap_or_else(|e| e.render(user.lang)),
        Err(e) => refused_form(&state, &user, None, form, e).await,
    }
}

/// `GET /console/clients/{id}/edit`: the client's form, filled in.
pub async fn edit(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
) -> Response {
    if !can_write_clients(&user.roles) {
        return ConsoleError::Forbidden.render(user.lang);
    }
    let result: ConsoleResult<Response> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let r = tx
            .query_opt(
                "SELECT name::text, phone::text, coalesce(mpesa_number, '')::text,
                        coalesce(email, '')::text, client_type::text, connection_type::text,
                        status::text, coalesce(service_package_id::text, ''),
                        coalesce(address, ''), auto_renewal,
                        coalesce(suspension_reason, '')
                 FROM clients WHERE id = $1 AND deleted_at IS NULL",
                &[&id],
            )
            .await?
            .ok_or(ConsoleError::NotFound)?;
        tx.commit().await?;
        let form = ClientForm {
            name: r.get(0),
            phone: r.get(1),
            mpesa_number: r.get(2),
            email: r.get(3),
            client_type: r.get(4),
            connection_type: r.get(5),
            status: r.get(6),
            service_package_id: r.get(7),
            address: r.get(8),
            auto_renewal: r.get::<_, bool>(9).then(|| "on".to_owned()),
            suspension_reason: r.get(10),
        };
        form_page(&state, &user, Some(id), form, None, StatusCode::OK).await
    }
    .await;
    result.unwrap_or_else(|e| e.render(user.lang))
}

/// `POST /console/clients/{id}/edit`: the client's changes through the API's generic update;
/// another tenant's or an absent client 404 before the form is read; refused fields re-render
/// the form as typed, nothing changed.
pub async fn update(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ClientForm>,
) -> Response {
    if !can_write_clients(&user.roles) {
        return ConsoleError::Forbidden.render(user.lang);
    }
    let done = async {
        let table = crate::api::registry::find("clients")
            .ok_or_else(|| ConsoleError::Internal("clients not registered".into()))?;
        let catalog = crate::api::resources::catalog(&state).await?;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        tx.query_opt(
            "SELECT 1 FROM clients WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
        let body = match form.body() {
            Ok(b) => b,
            Err(key) => return Ok(Err(key)),
        };
        if !package_ok(&tx, &body).await? {
            return Ok(Err("cl.bad_package"));
        }
        crate::api::resources::update_row(&tx, catalog, table, &user.roles, &id.to_string(), &body)
            .await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(Ok(()))
    }
    .await;
    match done {
        Ok(Ok(())) => Redirect::to(&format!("/console/clients/{id}?done=saved")).into_response(),
        Ok(Err(key)) => form_page(
            &state,
            &user,
            Some(id),
            form,
            Some(key),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap_or_else(|e| e.render(user.lang)),
        Err(e) => refused_form(&state, &user, Some(id), form, e).await,
    }
}
