//! Staff messages (`internal_messages`): the signed-in user's messages, received and sent
//! (newest first, keyset-paged, filtered to received, sent or unread), a message's page with its
//! thread (opening it marks what the user received there as read), a new message to another
//! active staff member of the tenant, and a reply in the thread to the other party.
//!
//! Row-level security decides who sees a message: only its sender and its recipient (0007); a
//! message of others answers 404 like an absent one. New messages and replies go through the
//! API's generic insert (`resources::insert_row` on `internal_messages`, which every staff role
//! may write), always in the signed-in user's name; a database trigger notifies the recipient.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, json};
use uuid::Uuid;

use super::clients::ConsoleActionError;
use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, ShowQuery, page};
use crate::AppState;
use crate::api::auth::Staff;
use crate::api::encode_cursor;
use crate::api::error::ApiError;
use crate::api::registry::{self, Table};
use crate::api::resources;

/// Messages per page.
const PAGE: i64 = 50;
/// The longest subject accepted (characters).
const SUBJECT_MAX: usize = 200;
/// The longest message accepted (characters).
const CONTENT_MAX: usize = 5_000;

/// The list's filters: every message of the user, those received, those sent, those unread.
pub const FILTERS: [(&str, &str); 4] = [
    ("", "msg.f_all"),
    ("received", "msg.f_received"),
    ("sent", "msg.f_sent"),
    ("unread", "msg.f_unread"),
];

fn table() -> ConsoleResult<&'static Table> {
    registry::find("internal_messages")
        .ok_or_else(|| ConsoleError::Internal("internal_messages not registered".into()))
}

/// The list's query: a filter (empty for every message) and the cursor of the next page.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub show: String,
    pub after: Option<String>,
    pub done: Option<String>,
}

#[derive(Debug)]
struct MessageRow {
    id: Uuid,
    /// Received (else sent) by the signed-in user.
    received: bool,
    sender: String,
    recipient: String,
    subject: String,
    sent: String,
    /// Received and not read yet.
    unread: bool,
}

#[derive(Template)]
#[template(path = "console/messages.html")]
struct MessagesPage {
    f: Frame,
    rows: Vec<MessageRow>,
    show: String,
    filters: [(&'static str, &'static str); 4],
    next: Option<String>,
    bad_filter: bool,
    /// How many of the user's received messages are unread.
    unread: i64,
    notice: Option<&'static str>,
}

/// `GET /console/messages`
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
    let show = q.show.trim().to_owned();
    let frame = || user.frame("/console/messages", "messages");
    let notice = match q.done.as_deref() {
        Some("deleted") => Some("msg.deleted"),
        _ => None,
    };
    if !FILTERS.iter().any(|(v, _)| *v == show) {
        let body = MessagesPage {
            f: frame(),
            rows: Vec::new(),
            show,
            filters: FILTERS,
            next: None,
            bad_filter: true,
            unread: 0,
            notice: None,
        };
        return page(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let (after_t, after_id) = super::time_cursor(q.after.as_deref())?.unzip();
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    // Row-level security already limits the rows to the user's; the conditions say so again.
    // The received and the sent are each read newest first from their own index (migration
    // 0051), a page of each at most, and merged: no sort of all the user's messages.
    let rows = tx
        .query(
            "SELECT m.id, m.recipient_id = $1,
                        coalesce(s.full_name, s.email, '')::text,
                        coalesce(r.full_name, r.email, '')::text,
                        m.subject, to_char(m.sent_at, 'YYYY-MM-DD HH24:MI'),
                        m.recipient_id = $1 AND NOT m.is_read, m.sent_at
                 FROM ((SELECT * FROM internal_messages x
                        WHERE x.recipient_id = $1 AND $2::text <> 'sent'
                          AND ($2::text <> 'unread' OR NOT x.is_read)
                          AND NOT x.is_deleted AND x.deleted_at IS NULL
                          AND ($3::timestamptz IS NULL OR (x.sent_at, x.id) < ($3, $4::uuid))
                        ORDER BY x.sent_at DESC, x.id DESC LIMIT $5)
                       UNION ALL
                       (SELECT * FROM internal_messages x
                        WHERE x.sender_id = $1 AND x.recipient_id <> $1
                          AND $2::text IN ('', 'sent')
                          AND NOT x.is_deleted AND x.deleted_at IS NULL
                          AND ($3::timestamptz IS NULL OR (x.sent_at, x.id) < ($3, $4::uuid))
                        ORDER BY x.sent_at DESC, x.id DESC LIMIT $5)) m
                 LEFT JOIN users s ON s.id = m.sender_id
                 LEFT JOIN users r ON r.id = m.recipient_id
                 ORDER BY m.sent_at DESC, m.id DESC
                 LIMIT $5",
            &[&user.user_id, &show, &after_t, &after_id, &(PAGE + 1)],
        )
        .await?;
    let unread: i64 = tx
        .query_one(
            "SELECT count(*) FROM internal_messages
             WHERE recipient_id = $1 AND NOT is_read AND NOT is_deleted AND deleted_at IS NULL",
            &[&user.user_id],
        )
        .await?
        .get(0);
    tx.commit().await?;
    let mut keyed: Vec<(DateTime<Utc>, MessageRow)> = rows
        .iter()
        .map(|r| {
            (
                r.get(7),
                MessageRow {
                    id: r.get(0),
                    received: r.get(1),
                    sender: r.get(2),
                    recipient: r.get(3),
                    subject: r.get(4),
                    sent: r.get(5),
                    unread: r.get(6),
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
    let body = MessagesPage {
        f: frame(),
        rows: keyed.into_iter().map(|(_, r)| r).collect(),
        show,
        filters: FILTERS,
        next,
        bad_filter: false,
        unread,
        notice,
    };
    page(StatusCode::OK, &body)
}

#[derive(Debug)]
struct ThreadMessage {
    id: Uuid,
    sender: String,
    recipient: String,
    subject: String,
    sent: String,
    content: String,
    /// Received by the signed-in user and unread until this page was opened.
    new: bool,
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage {
    f: Frame,
    id: Uuid,
    subject: String,
    /// The other party of the message (whom a reply goes to).
    other: String,
    /// The thread, oldest first (the message itself among them).
    thread: Vec<ThreadMessage>,
    /// Whether the signed-in user sent this message (and may delete it).
    mine: bool,
    /// The reply form's text after a refused post.
    draft: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

/// The message `id` as the signed-in user may see it: its sender, recipient, subject and thread
/// key, locked; `NotFound` when absent, deleted, another tenant's or not the user's.
async fn current(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
) -> ConsoleResult<(Uuid, Uuid, String, Uuid)> {
    let row = tx
        .query_opt(
            "SELECT sender_id, recipient_id, subject, coalesce(thread_id, id)
             FROM internal_messages
             WHERE id = $1 AND NOT is_deleted AND deleted_at IS NULL
               AND app_current_user() IN (sender_id, recipient_id)
             FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    Ok((row.get(0), row.get(1), row.get(2), row.get(3)))
}

/// `GET /console/messages/{id}`
pub async fn show(
    State(state): State<AppState>,
    user: Console<Staff>,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("sent") => Some("msg.sent_notice"),
        Some("replied") => Some("msg.replied"),
        _ => None,
    };
    message_page(
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

/// The message's page; the messages of its thread the user received unread are marked read
/// (`is_read`, `read_at`) in the same transaction.
async fn message_page(
    state: &AppState,
    user: &Console<Staff>,
    id: Uuid,
    draft: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let (sender, recipient, subject, thread_key) = current(&tx, id).await?;
    let other_id = if sender == user.user_id {
        recipient
    } else {
        sender
    };
    let other: String = tx
        .query_opt(
            "SELECT coalesce(full_name, email, '')::text FROM users WHERE id = $1",
            &[&other_id],
        )
        .await?
        .map(|r| r.get(0))
        .unwrap_or_default();
    let thread: Vec<ThreadMessage> = tx
        .query(
            "SELECT m.id, coalesce(s.full_name, s.email, '')::text,
                        coalesce(r.full_name, r.email, '')::text, m.subject,
                        to_char(m.sent_at, 'YYYY-MM-DD HH24:MI'), m.content,
                        m.recipient_id = $2 AND NOT m.is_read
                 FROM internal_messages m
                 LEFT JOIN users s ON s.id = m.sender_id
                 LEFT JOIN users r ON r.id = m.recipient_id
                 WHERE (m.thread_id = $1 OR (m.thread_id IS NULL AND m.id = $1))
                   AND $2 IN (m.sender_id, m.recipient_id)
                   AND NOT m.is_deleted AND m.deleted_at IS NULL
                 ORDER BY m.sent_at, m.id",
            &[&thread_key, &user.user_id],
        )
        .await?
        .iter()
        .map(|r| ThreadMessage {
            id: r.get(0),
            sender: r.get(1),
            recipient: r.get(2),
            subject: r.get(3),
            sent: r.get(4),
            content: r.get(5),
            new: r.get(6),
        })
        .collect();
    tx.execute(
        "UPDATE internal_messages SET is_read = true, read_at = now()
         WHERE (thread_id = $1 OR (thread_id IS NULL AND id = $1))
           AND recipient_id = $2 AND NOT is_read
           AND NOT is_deleted AND deleted_at IS NULL",
        &[&thread_key, &user.user_id],
    )
    .await?;
    tx.commit().await?;
    let body = MessagePage {
        f: user.frame(&format!("/console/messages/{id}"), "messages"),
        id,
        subject,
        other,
        thread,
        mine: sender == user.user_id,
        draft,
        notice,
        error,
    };
    page(status, &body)
}

/// The subject of a reply: `Re: ` before the message's (once), within the longest subject.
fn reply_subject(subject: &str) -> String {
    let s = if subject.starts_with("Re: ") {
        subject.to_owned()
    } else {
        format!("Re: {subject}")
    };
    s.chars().take(SUBJECT_MAX).collect()
}

/// Whether a message's text is acceptable: 1–5,000 characters once trimmed.
fn content_ok(content: &str) -> bool {
    !content.is_empty() && content.chars().count() <= CONTENT_MAX
}

/// The reply form.
#[derive(Debug, Default, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    pub content: String,
}

/// `POST /console/messages/{id}/reply`: a reply in the message's thread (`thread_id`,
/// `reply_to_id` the message) to its other party, subject `Re: …`, the signed-in user its
/// sender, through the API's generic insert. Empty or longer than 5,000 characters: 422 with
/// the text kept and nothing stored.
pub async fn reply(
    State(state): State<AppState>,
    user: Console<Staff>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReplyForm>,
) -> Response {
    let content = form.content.trim().to_owned();
    let done = async {
        let table = table()?;
        if !table.can_write(&user.roles) {
            return Err(ConsoleError::Forbidden.into());
        }
        let catalog = resources::catalog(&state).await?;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let (sender, recipient, subject, thread_key) = current(&tx, id).await?;
        if !content_ok(&content) {
            return Ok(false);
        }
        let to = if sender == user.user_id {
            recipient
        } else {
            sender
        };
        let mut body = Map::new();
        body.insert("sender_id".into(), json!(user.user_id));
        body.insert("recipient_id".into(), json!(to));
        body.insert("subject".into(), json!(reply_subject(&subject)));
        body.insert("content".into(), json!(content));
        body.insert("thread_id".into(), json!(thread_key));
        body.insert("reply_to_id".into(), json!(id));
        resources::insert_row(&tx, catalog, table, &user.roles, &body).await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(true)
    }
    .await;
    match done {
        Ok(true) => Redirect::to(&format!("/console/messages/{id}?done=replied")).into_response(),
        Ok(false) | Err(ConsoleActionError::Api(ApiError::Validation(_))) => message_page(
            &state,
            &user,
            id,
            form.content,
            None,
            Some("msg.bad_content"),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap_or_else(|e| e.render(user.lang)),
        Err(ConsoleActionError::Api(e)) => ConsoleError::from(e).render(user.lang),
        Err(ConsoleActionError::Console(e)) => e.render(user.lang),
    }
}

/// `POST /console/messages/{id}/delete`: the sender removes a message (soft: `is_deleted`)
/// through the API's generic update; it leaves both parties' lists and its address answers 404.
/// The recipient gets 403, nothing changed.
pub async fn delete(
    State(state): State<AppState>,
    user: Console<Staff>,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let done = async {
        let table = table()?;
        if !table.can_write(&user.roles) {
            return Err(ConsoleError::Forbidden.into());
        }
        let catalog = resources::catalog(&state).await?;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let (sender, ..) = current(&tx, id).await?;
        if sender != user.user_id {
            return Err(ConsoleError::Forbidden.into());
        }
        let mut body = Map::new();
        body.insert("is_deleted".into(), json!(true));
        resources::update_row(&tx, catalog, table, &user.roles, &id.to_string(), &body).await?;
        tx.commit().await?;
        Ok::<_, ConsoleActionError>(())
    }
    .await;
    match done {
        Ok(()) => Redirect::to("/console/messages?done=deleted").into_response(),
        Err(ConsoleActionError::Api(e)) => ConsoleError::from(e).render(user.lang),
        Err(ConsoleActionError::Console(e)) => e.render(user.lang),
    }
}

/// The new-message form, as typed. The sender is never a field: it is the signed-in user.
#[derive(Debug, Default, Deserialize)]
pub struct NewMessageForm {
    #[serde(default)]
    pub recipient: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub content: String,
}

#[derive(Template)]
#[template(path = "console/message_new.html")]
struct NewMessagePage {
    f: Frame,
    form: NewMessageForm,
    /// The tenant's active staff other than the user: id and name (with e-mail).
    recipients: Vec<(String, String)>,
    error: Option<&'static str>,
}

/// The tenant's active staff other than the signed-in user, by name.
async fn recipients(
    tx: &deadpool_postgres::Transaction<'_>,
    me: Uuid,
) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    Ok(tx
        .query(
            "SELECT id::text, CASE WHEN coalesce(full_name, '') = '' THEN email
                                   ELSE full_name || ' · ' || email END
             FROM users
             WHERE id <> $1 AND is_active IS NOT FALSE AND deleted_at IS NULL
             ORDER BY full_name NULLS LAST, email, id",
            &[&me],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

async fn new_page(
    state: &AppState,
    user: &Console<Staff>,
    form: NewMessageForm,
    error: Option<&'static str>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let recipients = recipients(&tx, user.user_id).await?;
    tx.commit().await?;
    let body = NewMessagePage {
        f: user.frame("/console/messages/new", "messages"),
        form,
        recipients,
        error,
    };
    page(status, &body)
}

/// `GET /console/messages/new`: the new-message form.
pub async fn new_form(State(state): State<AppState>, user: Console<Staff>) -> Response {
    new_page(
        &state,
        &user,
        NewMessageForm::default(),
        None,
        StatusCode::OK,
    )
    .await
    .unwrap_or_else(|e| e.render(user.lang))
}

/// `POST /console/messages`: a new message from the signed-in user to another active staff
/// member of the tenant, through the API's generic insert on `internal_messages`. No such
/// recipient, a subject of 0 or more than 200 characters, a message of 0 or more than 5,000:
/// 422 with the form as typed, nothing stored.
pub async fn create(
    State(state): State<AppState>,
    user: Console<Staff>,
    CsrfForm(form): CsrfForm<NewMessageForm>,
) -> Response {
    let subject = form.subject.trim().to_owned();
    let content = form.content.trim().to_owned();
    let recipient = Uuid::parse_str(form.recipient.trim()).ok();
    let checked = if recipient.is_none() {
        Err("msg.bad_recipient")
    } else if subject.is_empty()
        || subject.chars().count() > SUBJECT_MAX
        || subject.chars().any(char::is_control)
    {
        Err("msg.bad_subject")
    } else if !content_ok(&content) {
        Err("msg.bad_content")
    } else {
        Ok(())
    };
    let done = async {
        let table = table()?;
        if !table.can_write(&user.roles) {
            return Err(ConsoleError::Forbidden.into());
        }
        if let Err(key) = checked {
            return Ok(Err(key));
        }
        let catalog = resources::catalog(&state).await?;
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let to = recipient.map(|r| r.to_string()).unwrap_or_default();
        if !recipients(&tx, user.user_id)
            .await?
            .iter()
            .any(|(id, _)| *id == to)
        {
            return Ok(Err("msg.bad_recipient"));
        }
        let mut body = Map::new();
        body.insert("sender_id".into(), json!(user.user_id));
        body.insert("recipient_id".into(), json!(recipient));
        body.insert("subject".into(), json!(subject));
        body.insert("content".into(), json!(content));
        let row = resources::insert_row(&tx, catalog, table, &user.roles, &body).await?;
        tx.commit().await?;
        let id = row["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| ConsoleError::Internal("a new message without its id".into()))?;
        Ok::<_, ConsoleActionError>(Ok(id))
    }
    .await;
    let key = match done {
        Ok(Ok(id)) => {
            return Redirect::to(&format!("/console/messages/{id}?done=sent")).into_response();
        }
        Ok(Err(key)) => key,
        Err(ConsoleActionError::Api(ApiError::Validation(_))) => "msg.refused",
        Err(ConsoleActionError::Api(e)) => return ConsoleError::from(e).render(user.lang),
        Err(ConsoleActionError::Console(e)) => return e.render(user.lang),
    };
    new_page(
        &state,
        &user,
        form,
        Some(key),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap_or_else(|e| e.render(user.lang))
}

#[cfg(test)]
mod tests {
    use super::super::i18n::{Lang, lookup};
    use super::*;

    #[test]
    fn a_reply_subject_says_re_once_and_stays_within_the_limit() {
        assert_eq!(reply_subject("Keys"), "Re: Keys");
        assert_eq!(reply_subject("Re: Keys"), "Re: Keys");
        assert_eq!(reply_subject(&"é".repeat(200)).chars().count(), 200);
    }

    /// The filters' message ids are in the catalogue in both languages.
    #[test]
    fn every_filter_has_its_message() {
        for (_, id) in FILTERS {
            assert!(
                lookup(Lang::En, id).is_some() && lookup(Lang::Sw, id).is_some(),
                "{id}"
            );
        }
    }
}
