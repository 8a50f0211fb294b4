//! The signed-in operator's own account: who they are, and their second factor (TOTP).
//!
//! Any signed-in user, whatever the role, starts an enrolment (a new seed, shown as a QR code of
//! its `otpauth://` URI and as base32 text), confirms it with a code from the authenticator app
//! (and is shown its ten one-time recovery codes, once), may have new recovery codes issued and
//! may turn it off again, each with a current code. Every step is the API's
//! ([`auth::start_mfa_enrolment`], [`auth::pending_mfa_enrolment`], [`auth::confirm_mfa_enrolment`],
//! [`auth::disable_second_factor`]) in the user's tenant transaction: an enabled second factor
//! cannot be enrolled again (409, as the API), and turning it off takes a current code counted
//! in the sign-in throttle, so a session alone can neither swap nor remove it.
//!
//! It must not show the seed of an enabled second factor: only a started, unconfirmed one.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::i18n::Tr;
use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, page, qr};
use crate::AppState;
use crate::api::auth::{self, AnyUser};
use crate::api::error::ApiError;

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    f: Frame,
    email: String,
    roles: String,
    /// Sign-in asks for a one-time code.
    enabled: bool,
    /// An enrolment started and not confirmed yet.
    pending: Option<Pending>,
    /// Recovery codes just issued: shown on this answer only.
    codes: Vec<String>,
    /// Unspent recovery codes.
    codes_left: i64,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

/// A started enrolment as the page shows it.
#[derive(Debug)]
struct Pending {
    /// The QR code of the `otpauth://` URI, inline SVG.
    qr: String,
    /// The base32 seed in groups of four, for typing in.
    secret: String,
}

/// `?m=` after a change: which notice to show.
#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    pub m: Option<String>,
}

/// The code field of the confirm and turn-off forms.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub code: String,
}

/// The base32 seed in groups of four characters (authenticator apps ignore the spaces).
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn account_page(
    state: &AppState,
    user: &Console<AnyUser>,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> ConsoleResult<Response> {
    account_page_with(state, user, status, notice, error, Vec::new()).await
}

async fn account_page_with(
    state: &AppState,
    user: &Console<AnyUser>,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    codes: Vec<String>,
) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let enabled: bool = tx
        .query_opt(
            "SELECT coalesce(mfa_enabled, false) FROM users WHERE id = $1",
            &[&user.user_id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?
        .get(0);
    let pending = auth::pending_mfa_enrolment(state, &tx, user.user_id).await?;
    let codes_left = auth::recovery_codes_left(&tx, user.user_id).await?;
    tx.commit().await?;
    let pending = match pending {
        Some(p) => Some(Pending {
            qr: qr::svg(&p.otpauth_uri, 200, Tr(user.lang).get("acct.qr")).ok_or_else(|| {
                ConsoleError::Internal("otpauth URI too long for a QR code".into())
            })?,
            secret: grouped(&p.secret),
        }),
        None => None,
    };
    let body = AccountPage {
        f: user.frame("/console/account", "account"),
        email: user.email.clone(),
        roles: user
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        enabled,
        pending,
        codes,
        codes_left,
        notice,
        error,
    };
    page(status, &body)
}

/// `GET /console/account`
pub async fn show(
    State(state): State<AppState>,
    user: Console<AnyUser>,
    Query(q): Query<AccountQuery>,
) -> Response {
    let notice = match q.m.as_deref() {
        Some("on") => Some("acct.now_on"),
        Some("off") => Some("acct.now_off"),
        _ => None,
    };
    account_page(&state, &user, StatusCode::OK, notice, None)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

/// The page again after a refused step, with its status and message (`conflict` for a step the
/// account's state does not allow); other errors as error pages.
async fn refused(
    state: &AppState,
    user: &Console<AnyUser>,
    e: ApiError,
    conflict: &'static str,
) -> Response {
    let (status, message) = match e {
        ApiError::Validation(_) | ApiError::Unauthorized(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "acct.code_wrong")
        }
        ApiError::TooMany => (StatusCode::TOO_MANY_REQUESTS, "signin.throttled"),
        ApiError::Conflict(_) => (StatusCode::CONFLICT, conflict),
        other => return ConsoleError::from(other).render(user.lang),
    };
    account_page(state, user, status, None, Some(message))
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

/// The answer to a step: to `then` when it was taken (logged as `done` when given), else the
/// page again with the refusal ([`refused`], `conflict` for a step the account's state does not
/// allow).
async fn answer(
    state: &AppState,
    user: &Console<AnyUser>,
    result: Result<(), ApiError>,
    then: &'static str,
    done: Option<&'static str>,
    conflict: &'static str,
) -> Response {
    match result {
        Ok(()) => {
            if let Some(done) = done {
                tracing::info!(user_id = %user.user_id, "{done}");
            }
            Redirect::to(then).into_response()
        }
        Err(e) => refused(state, user, e, conflict).await,
    }
}

/// `POST /console/account/mfa`: starts (or starts again) an enrolment: a new seed, shown on the
/// account page until confirmed. 409 while a second factor is enabled.
pub async fn start(
    State(state): State<AppState>,
    user: Console<AnyUser>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let result: Result<(), ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        auth::start_mfa_enrolment(&state, &tx, user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    answer(
        &state,
        &user,
        result,
        "/console/account",
        None,
        "acct.already_on",
    )
    .await
}

/// `POST /console/account/mfa/confirm`: a code of the new seed turns the second factor on and
/// the page shows its recovery codes, once (this answer is not a redirect, so they are in no
/// address); a wrong one is refused (422) and changes nothing.
pub async fn confirm(
    State(state): State<AppState>,
    user: Console<AnyUser>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let result: Result<Vec<String>, ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        let codes = auth::confirm_mfa_enrolment(&state, &tx, user.user_id, &form.code).await?;
        tx.commit().await?;
        Ok(codes)
    }
    .await;
    codes_answer(
        &state,
        &user,
        result,
        "acct.now_on",
        "second factor enabled from the console",
        "acct.not_started",
    )
    .await
}

/// The page with recovery codes just issued (shown once), or the refusal.
async fn codes_answer(
    state: &AppState,
    user: &Console<AnyUser>,
    result: Result<Vec<String>, ApiError>,
    notice: &'static str,
    done: &'static str,
    conflict: &'static str,
) -> Response {
    match result {
        Ok(codes) => {
            tracing::info!(user_id = %user.user_id, "{done}");
            account_page_with(state, user, StatusCode::OK, Some(notice), None, codes)
                .await
                .unwrap_or_else(|e| e.render(user.lang))
        }
        Err(e) => refused(state, user, e, conflict).await,
    }
}

/// `POST /console/account/mfa/recovery`: new recovery codes in place of the earlier ones, given
/// a current code (wrong codes count in the sign-in throttle; 422, nothing changed), shown once.
pub async fn recovery(
    State(state): State<AppState>,
    user: Console<AnyUser>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let result: Result<Vec<String>, ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        let codes =
            auth::regenerate_recovery_codes(&state, &tx, user.user_id, &user.email, &form.code)
                .await?;
        tx.commit().await?;
        Ok(codes)
    }
    .await;
    codes_answer(
        &state,
        &user,
        result,
        "acct.codes_new",
        "recovery codes issued again from the console",
        "acct.not_on",
    )
    .await
}

/// `POST /console/account/mfa/disable`: a current code turns the second factor off (wrong
/// codes count in the sign-in throttle; 422, nothing changed).
pub async fn disable(
    State(state): State<AppState>,
    user: Console<AnyUser>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let result: Result<(), ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        auth::disable_second_factor(&state, &tx, user.user_id, &user.email, &form.code).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    answer(
        &state,
        &user,
        result,
        "/console/account?m=off",
        Some("second factor turned off from the console"),
        "acct.not_on",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_shown_in_groups_of_four() {
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
        assert_eq!(grouped(""), "");
    }
}
