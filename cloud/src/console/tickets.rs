//! Support tickets: the list (newest first, keyset-paged, filtered by status) and a ticket's
//! page with its replies, a reply form and a status change (close, reopen and the schema's other
//! states). Replies and status changes go through the API's generic resource functions
//! (`resources::insert_row` on `ticket_comments`, `resources::update_row` on
//! `support_tickets`), so the registry's grants apply as they do to the API: every staff role
//! reads tickets and replies, the registry's writers of those tables (`tenant_admin`,
//! `noc_engineer`, `support_agent`) reply and change a status; others see no form and get 403.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::clients::ConsoleActionError;
use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Frame, ShowQuery, page};
use crate::AppState;
use crate::api::auth::Staff;
use crate::api::encode_cursor;
use crate::api::error::ApiError;
use crate::api::registry::{self, Table};
use crate::api::resources;

/// Tickets per page.
const PAGE: i64 = 50;
/// The longest reply accepted (characters).
const REPLY_MAX: usize = 10_000;

/// The schema's ticket states (`support_tickets.status`), in the order the forms offer them.
pub const STATUSES: [&str; 5] = ["open", "in_progress", "pending", "resolved", "closed"];

/// The message id of a ticket status.
pub fn status_key(status: &str) -> &'static str {
    match status {
        "open" => "tk.st_open",
        "in_progress" => "tk.st_in_progress",
        "pending" => "tk.st_pending",
        "resolved" => "tk.st_resolved",
        "closed" => "tk.st_closed",
        _ => "cl.st_unknown",
    }
}

fn priority_key(priority: &str) -> &'static str {
    match priority {
        "low" => "tk.pr_low",
        "medium" => "tk.pr_medium",
        "high" => "tk.pr_high",
        "urgent" => "tk.pr_urgent",
        _ => "cl.st_unknown",
    }
}

fn table(name: &str) -> ConsoleResult<&'static Table> {
    registry::find(name).ok_or_else(|| ConsoleError::Internal(format!("{name} not registered")))
}

/// The list's query: a status (empty for any) and the cursor of the next page.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub status: String,
    pub after: Option<String>,
}

#[derive(Debug)]
struct TicketRow {
    id: Uuid,
    number: String,
    title: String,
    client_id: Option<Uuid>,
    client: String,
    priority: &'static str,
    status: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "console/tickets.html")]
struct TicketsPage {
    f: Frame,
    rows: Vec<TicketRow>,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    next: Option<String>,
    bad_filter: bool,
    /// Whether "New ticket" shows (the registry's writers of `support_tickets`).
    can_create: bool,
}

fn statuses() -> Vec<(&'static str, &'static str)> {
    STATUSES.iter().map(|s| (*s, status_key(s))).collect()
}

/// `GET /console/tickets`
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
    let status = q.status.trim().to_owned();
    let frame = || user.frame("/console/tickets", "tickets");
    if !status.is_empty() && !STATUSES.contains(&status.as_str()) {
        let body = TicketsPage {
            f: frame(),
            rows: Vec::new(),
            status,
            statuses: statuses(),
            next: None,
            bad_filter: true,
            can_create: table("support_tickets")?.can_write(&user.roles),
        };
        return page(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let (after_t, after_id) = super::time_cursor(q.after.as_deref())?.unzip();
    let filter = (!status.is_empty()).then(|| status.clone());
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let rows = tx
        .query(
            "SELECT t.id, t.ticket_number::text, t.title::text, t.client_id,
                        coalesce(c.name, '')::text, t.priority::text, t.status::text,
                        to_char(t.created_at, 'YYYY-MM-DD HH24:MI'),
                        t.created_at
                 FROM support_tickets t
                 LEFT JOIN clients c ON c.id = t.client_id
                 WHERE t.deleted_at IS NULL
                   AND ($1::text IS NULL OR t.status = $1)
                   AND ($2::timestamptz IS NULL OR (t.created_at, t.id) < ($2, $3::uuid))
                 ORDER BY t.created_at DESC, t.id DESC
                 LIMIT $4",
            &[&filter, &after_t, &after_id, &(PAGE + 1)],
        )
        .await?;
    tx.commit().await?;
    let mut keyed: Vec<(DateTime<Utc>, TicketRow)> = rows
        .iter()
        .map(|r| {
            (
                r.get(8),
                TicketRow {
                    id: r.get(0),
                    number: r.get(1),
                    title: r.get(2),
                    client_id: r.get(3),
                    client: r.get(4),
                    priority: priority_key(&r.get::<_, String>(5)),
                    status: status_key(&r.get::<_, String>(6)),
                    created: r.get(7),
                },
            )
        })
        .collect();
    let next = if keyed.len() as i64 > PAGE {
        keyed.truncate(PAGE as usize);
        keyed
            .last()
            .map(|(t, r)| encode_cursor(&[t.to_rfc3339(), r.id.to_string()]))
    } else {
        None
    };
    let body = TicketsPage {
        f: frame(),
        rows: keyed.into_iter().map(|(_, r)| r).collect(),
        status,
        statuses: statuses(),
        next,
        bad_filter: false,
        can_create: table("support_tickets")?.can_write(&user.roles),
    };
    page(StatusCode::OK, &body)
}

#[derive(Debug)]
struct Reply {
    author: String,
    when: String,
    content: String,
    internal: bool,
    resolution: bool,
}

#[derive(Template)]
#[template(path = "console/ticket.html")]
struct TicketPage {
    f: Frame,
    id: Uuid,
    number: String,
    title: String,
    description: String,
    client_id: Option<Uuid>,
    client: String,
    kind: String,
    priority: &'static str,
    status: String,
    status_label: &'static str,
    source: String,
    created: String,
    created_by: String,
    assigned_to: String,
    resolved: String,
    replies: Vec<Reply>,
    statuses: Vec<(&'static str, &'static str)>,
    can_reply: bool,
    can_status: bool,
    /// The reply form's text after a refused post.
    draft: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

/// `GET /console/tickets/{id}`
pub async fn show(
    State(state): State<AppState>,
    user: Console<Staff>,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("replied") => Some("tk.replied"),
        Some("status") => Some("tk.status_changed"),
        Some("created") => Some("tk.created"),
        _ => None,
    };
    ticket_page(
        &state,
        &user,
        id,
        String::new(),
        notice,
        None,
        StatusCode::OK,
    )
    .await
    .unwrap_or_else(|e| e.render(user.lang))
}

async fn ticket_page(
    state: &AppState,
    user: &Console<Staff>,
    id: Uuid,
    draft: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let can_reply = table("ticket_comments")?.can_write(&user.roles);
    let can_status = table("support_tickets")?.can_write(&user.roles);
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let row = tx
        .query_opt(
            "SELECT t.ticket_number::text, t.title::text, t.description, t.client_id,
                        coalesce(c.name, '')::text, t.ticket_type::text, t.priority::text,
                        t.status::text, t.source::text,
                        to_char(t.created_at, 'YYYY-MM-DD HH24:MI'),
                        coalesce(cb.full_name, cb.email, '')::text,
                        coalesce(a.full_name, a.email, '')::text,
                        coalesce(to_char(t.resolved_at,
                                         'YYYY-MM-DD HH24:MI'), '')
                 FROM support_tickets t
                 LEFT JOIN clients c ON c.id = t.client_id
                 LEFT JOIN users cb ON cb.id = t.created_by
                 LEFT JOIN users a ON a.id = t.assigned_to
                 WHERE t.id = $1 AND t.deleted_at IS NULL",
            &[&id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let replies = tx
        .query(
            "SELECT coalesce(u.full_name, u.email, '')::text,
                        to_char(m.created_at, 'YYYY-MM-DD HH24:MI'),
                        m.content, m.is_internal, m.is_resolution
                 FROM ticket_comments m
                 LEFT JOIN users u ON u.id = m.author_id
                 WHERE m.ticket_id = $1
                 ORDER BY m.created_at, m.id",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| Reply {
            author: r.get(0),
            when: r.get(1),
            content: r.get(2),
            internal: r.get(3),
            resolution: r.get(4),
        })
        .collect();
    tx.commit().await?;
    let ticket_status: String = row.get(7);
    let body = TicketPage {
        f: user.frame(&format!("/console/tickets/{id}"), "tickets"),
        id,
        number: row.get(0),
        title: row.get(1),
        description: row.get(2),
        client_id: row.get(3),
        client: row.get(4),
        kind: row.get(5),
        priority: priority_key(&row.get::<_, String>(6)),
        status_label: status_key(&ticket_status),
        status: ticket_status,
        source: row.get(8),
        created: row.get(9),
        created_by: row.get(10),
        assigned_to: row.get(11),
        resolved: row.get(12),
        replies,
        statuses: statuses(),
        can_reply,
        can_status,
        draft,
        notice,
        error,
    };
    page(status, &body)
}

/// The reply form.
#[derive(Debug, Default, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    pub content: String,
    /// A note for the staff only (`is_internal`), not an answer to the client.
    #[serde(default)]
    pub internal: Option<String>,
}

/// The ticket's status and when it was resolved, locked for the change; `NotFound` when absent
/// or another tenant's.
async fn current(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
) -> ConsoleResult<(String, Option<DateTime<Utc>>)> {
    let row = tx
        .query_opt(
            "SELECT status::text, resolved_at FROM support_tickets
             WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    Ok((row.get(0), row.get(1)))
}

/// `POST /console/tickets/{id}/reply`: a reply (`ticket_comments` row, the signed-in user its
/// author) through the API's generic insert. Empty or longer than 10,000 characters: 422 with
/// the text kept and nothing stored.
pub async fn reply(
    State(state): State<AppState>,
    user: Console<Staff>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReplyForm>,
) -> Response {
    let content = form.content.trim().to_owned();
    let refused = |key: &'static str, status: StatusCode, draft: String| {
        let state = state.clone();
        let user = &user;
        async move {
            ticket_page(&state, user, id, draft, None, Some(key), status)
                .await
                .unwrap_or_else(|e| e.render(user.lang))
        }
    };
    let done = async {
        let table = table("ticket_comments")?;
        if !table.can_write(&user.roles) {
            return Err(ConsoleError::Forbidden.into());
        }
        let catalog = resources::catalog(&state).await?;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        current(&tx, id).await?;
        if content.is_empty() || content.chars().count() > REPLY_MAX {
            return Ok(false);
        }
        let mut body = Map::new();
        body.insert("ticket_id".into(), json!(id));
        body.insert("author_id".into(), json!(user.user_id));
        body.insert("content".into(), json!(content));
        body.insert("is_internal".into(), json!(form.internal.is_some()));
        resources::insert_row(&tx, catalog, table, &user.roles, &body).await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(true)
    }
    .await;
    match done {
        Ok(true) => Redirect::to(&format!("/console/tickets/{id}?done=replied")).into_response(),
        Ok(false) | Err(ConsoleActionError::Api(ApiError::Validation(_))) => {
            refused(
                "tk.bad_reply",
                StatusCode::UNPROCESSABLE_ENTITY,
                form.content,
            )
            .await
        }
        Err(ConsoleActionError::Api(e)) => ConsoleError::from(e).render(user.lang),
        Err(ConsoleActionError::Console(e)) => e.render(user.lang),
    }
}

/// The status form.
#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    pub status: String,
}

/// `POST /console/tickets/{id}/status`: closes, reopens or moves a ticket to another of the
/// schema's states through the API's generic update; resolving or closing stamps `resolved_at`
/// (kept when already set), reopening clears it. An unknown state: 422, nothing changed.
pub async fn set_status(
    State(state): State<AppState>,
    user: Console<Staff>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Response {
    let wanted = form.status.trim().to_owned();
    let done = async {
        let table = table("support_tickets")?;
        if !table.can_write(&user.roles) {
            return Err(ConsoleError::Forbidden.into());
        }
        let catalog = resources::catalog(&state).await?;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let (_, resolved_at) = current(&tx, id).await?;
        if !STATUSES.contains(&wanted.as_str()) {
            return Ok(false);
        }
        let resolved_at = match wanted.as_str() {
            "resolved" | "closed" => Some(resolved_at.unwrap_or_else(Utc::now)),
            _ => None,
        };
        let mut body = Map::new();
        body.insert("status".into(), json!(wanted));
        body.insert(
            "resolved_at".into(),
            resolved_at.map_or(Value::Null, |t| json!(t.to_rfc3339())),
        );
        resources::update_row(&tx, catalog, table, &user.roles, &id.to_string(), &body).await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(true)
    }
    .await;
    match done {
        Ok(true) => Redirect::to(&format!("/console/tickets/{id}?done=status")).into_response(),
        Ok(false) | Err(ConsoleActionError::Api(ApiError::Validation(_))) => ticket_page(
            &state,
            &user,
            id,
            String::new(),
            None,
            Some("tk.bad_status"),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap_or_else(|e| e.render(user.lang)),
        Err(ConsoleActionError::Api(e)) => ConsoleError::from(e).render(user.lang),
        Err(ConsoleActionError::Console(e)) => e.render(user.lang),
    }
}

/// The schema's ticket types (`support_tickets.ticket_type`).
pub const KINDS: [&str; 6] = [
    "general",
    "technical",
    "billing",
    "installation",
    "complaint",
    "feature_request",
];
/// The schema's priorities, lowest first.
pub const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];
/// The schema's sources (`support_tickets.source`).
pub const SOURCES: [&str; 7] = [
    "phone", "walk_in", "whatsapp", "sms", "email", "portal", "system",
];
/// The longest title (the column's) and description accepted.
const TITLE_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 10_000;

/// The new-ticket form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct NewTicketForm {
    /// The client's phone number in any spelling (`07…`, `+254 7…`), or empty for none.
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub ticket_type: String,
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub source: String,
}

#[derive(Template)]
#[template(path = "console/ticket_new.html")]
struct NewTicketPage {
    f: Frame,
    form: NewTicketForm,
    kinds: [&'static str; 6],
    priorities: Vec<(&'static str, &'static str)>,
    sources: [&'static str; 7],
    error: Option<&'static str>,
}

fn new_page(
    user: &Console<Staff>,
    form: NewTicketForm,
    error: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let body = NewTicketPage {
        f: user.frame("/console/tickets/new", "tickets"),
        form,
        kinds: KINDS,
        priorities: PRIORITIES.iter().map(|p| (*p, priority_key(p))).collect(),
        sources: SOURCES,
        error,
    };
    page(status, &body).unwrap_or_else(|e| e.render(user.lang))
}

/// The new-ticket page's query: the client's phone, filled in from a client's page.
#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    pub client: String,
}

/// `GET /console/tickets/new?client=`: the new-ticket form.
pub async fn new_form(user: Console<Staff>, Query(q): Query<NewQuery>) -> Response {
    if !table("support_tickets").is_ok_and(|t| t.can_write(&user.roles)) {
        return ConsoleError::Forbidden.render(user.lang);
    }
    let form = NewTicketForm {
        client: q.client.chars().take(50).collect(),
        ticket_type: "general".into(),
        priority: "medium".into(),
        source: "phone".into(),
        ..NewTicketForm::default()
    };
    new_page(&user, form, None, StatusCode::OK)
}

/// `POST /console/tickets`: a new ticket (the signed-in user its author) through the API's
/// generic insert on `support_tickets`, numbered `TCK-<n>` after the tenant's highest such
/// number. The client is found by phone number in the tenant; a number of no client, a missing
/// title or description or a value outside the schema's: 422 with the form as typed, nothing
/// stored.
pub async fn create(
    State(state): State<AppState>,
    user: Console<Staff>,
    CsrfForm(form): CsrfForm<NewTicketForm>,
) -> Response {
    let title = form.title.trim().to_owned();
    let description = form.description.trim().to_owned();
    let checked = if title.is_empty()
        || title.chars().count() > TITLE_MAX
        || title.chars().any(char::is_control)
    {
        Err("tk.bad_title")
    } else if description.is_empty() || description.chars().count() > DESCRIPTION_MAX {
        Err("tk.bad_description")
    } else if !KINDS.contains(&form.ticket_type.as_str())
        || !PRIORITIES.contains(&form.priority.as_str())
        || !SOURCES.contains(&form.source.as_str())
    {
        Err("cl.bad_choice")
    } else {
        Ok(())
    };
    let phone = match form.client.trim() {
        "" => Ok(None),
        p => hotspot_shared::phone::Msisdn::parse(p)
            .map(|m| Some(m.as_str().to_owned()))
            .map_err(|_| "tk.no_such_client"),
    };
    let done = async {
        let table = table("support_tickets")?;
        if !table.can_write(&user.roles) {
            return Err(ConsoleError::Forbidden.into());
        }
        if let Err(key) = checked {
            return Ok(Err(key));
        }
        let phone = match phone {
            Ok(p) => p,
            Err(key) => return Ok(Err(key)),
        };
        let catalog = resources::catalog(&state).await?;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let client_id: Option<Uuid> = match &phone {
            Some(p) => match tx
                .query_opt(
                    "SELECT id FROM clients
                     WHERE (phone = $1 OR mpesa_number = $1) AND deleted_at IS NULL
                     ORDER BY created_at, id LIMIT 1",
                    &[p],
                )
                .await?
            {
                Some(r) => Some(r.get(0)),
                None => return Ok(Err("tk.no_such_client")),
            },
            None => None,
        };
        // Numbered after the highest. Tickets of one tenant are numbered one at a time (a lock
        // held to the end of the transaction), so two made at once get two numbers.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('support_tickets:' || $1::text, 0))",
            &[&user.tenant_id.to_string()],
        )
        .await?;
        let number: i64 = tx
            .query_one(
                "SELECT coalesce(max(substring(ticket_number FROM '^TCK-([0-9]{1,15})$')::bigint), 0) + 1
                 FROM support_tickets",
                &[],
            )
            .await?
            .get(0);
        let mut body = Map::new();
        body.insert("ticket_number".into(), json!(format!("TCK-{number}")));
        body.insert("client_id".into(), json!(client_id));
        body.insert("title".into(), json!(title));
        body.insert("description".into(), json!(description));
        body.insert("ticket_type".into(), json!(form.ticket_type));
        body.insert("priority".into(), json!(form.priority));
        body.insert("source".into(), json!(form.source));
        let row = resources::insert_row(&tx, catalog, table, &user.roles, &body).await?;
        tx.commit().await?;
        let id = row["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| ConsoleError::Internal("a new ticket without its id".into()))?;
        Ok::<_, ConsoleActionError>(Ok(id))
    }
    .await;
    let key = match done {
        Ok(Ok(id)) => {
            return Redirect::to(&format!("/console/tickets/{id}?done=created")).into_response();
        }
        Ok(Err(key)) => key,
        Err(ConsoleActionError::Api(ApiError::Validation(_))) => "tk.refused",
        Err(ConsoleActionError::Api(ApiError::Conflict(_))) => "tk.busy",
        Err(ConsoleActionError::Api(e)) => return ConsoleError::from(e).render(user.lang),
        Err(ConsoleActionError::Console(e)) => return e.render(user.lang),
    };
    let status = if key == "tk.busy" {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    new_page(&user, form, Some(key), status)
}

#[cfg(test)]
mod tests {
    use super::super::i18n::{Lang, lookup};
    use super::*;

    /// The message ids chosen at run time (statuses, priorities) are in the catalogue too.
    #[test]
    fn every_status_and_priority_has_its_message() {
        let ids = STATUSES
            .iter()
            .map(|s| status_key(s))
            .chain(["low", "medium", "high", "urgent"].map(priority_key))
            .chain(
                [
                    "pending",
                    "approved",
                    "active",
                    "suspended",
                    "disconnected",
                    "?",
                ]
                .map(super::super::clients::status_key),
            );
        for id in ids {
            assert!(
                lookup(Lang::En, id).is_some() && lookup(Lang::Sw, id).is_some(),
                "{id}"
            );
        }
        assert_eq!(status_key("closed"), "tk.st_closed");
    }
}
