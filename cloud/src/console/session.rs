//! Signing in and out of the console.
//!
//! Sign-in is the API's: [`auth::check_password`] (the same argon2 verification and the same
//! [`auth::LoginThrottle`]) and, for an account with a second factor, a second page checked by
//! [`auth::check_second_factor`]. Between the two steps the browser holds an `mfa_pending`
//! session that opens no page and lasts five minutes; each completed step gets a new session id
//! (no fixation). The sign-in form's CSRF token comes from a pre-session cookie.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::i18n::{LANG_COOKIE, Lang};
use super::{
    Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, PRE_COOKIE, SESSION_COOKIE,
    console_path, cookie, csrf_token, find_session, page, random_secret, set_cookie,
};
use crate::AppState;
use crate::api::auth::{self, AnyUser};
use crate::api::error::ApiError;
use crate::db;

/// How long the step between a right password and the one-time code may take.
const PENDING_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// How long the pre-session cookie (the sign-in form's CSRF key) lasts.
const PRE_TTL_SECONDS: i64 = 2 * 3600;

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage {
    f: Frame,
    email: String,
    tenant: String,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "console/code.html")]
struct CodePage {
    f: Frame,
    error: Option<&'static str>,
}

/// The sign-in form, with a pre-session cookie made when the browser has none.
fn signin_response(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    tenant: String,
    error: Option<&'static str>,
) -> ConsoleResult<Response> {
    let lang = Lang::of(headers);
    let (secret, fresh) = match cookie(headers, PRE_COOKIE).filter(|s| s.len() == 43) {
        Some(s) => (s, false),
        None => (random_secret(), true),
    };
    let body = SignInPage {
        f: Frame::new(lang, csrf_token(&secret), None, "/console/signin", ""),
        email,
        tenant,
        error,
    };
    let mut resp = page(status, &body)?;
    if fresh {
        resp.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(
                &state.api.console,
                PRE_COOKIE,
                &secret,
                PRE_TTL_SECONDS,
                "Strict",
            ),
        );
    }
    Ok(resp)
}

/// `GET /console/signin`
pub async fn signin_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    match find_session(&state, &headers).await {
        Ok(Some(s)) if !s.mfa_pending => return Redirect::to("/console/").into_response(),
        Err(e) => return e.render(lang),
        _ => {}
    }
    signin_response(
        &state,
        &headers,
        StatusCode::OK,
        String::new(),
        String::new(),
        None,
    )
    .unwrap_or_else(|e| e.render(lang))
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub tenant: String,
}

/// `POST /console/signin`
pub async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<SignIn>,
) -> Response {
    let lang = Lang::of(&headers);
    let email = form.email.trim().to_owned();
    let tenant = form.tenant.trim().to_owned();
    let checked = auth::check_password(
        &state,
        &email,
        &form.password,
        (!tenant.is_empty()).then_some(tenant.as_str()),
    )
    .await;
    let refuse = |status, message| {
        signin_response(
            &state,
            &headers,
            status,
            email.clone(),
            tenant.clone(),
            Some(message),
        )
        .unwrap_or_else(|e| e.render(lang))
    };
    let checked = match checked {
        Ok(c) => c,
        Err(ApiError::Unauthorized(_)) => {
            return refuse(StatusCode::UNAUTHORIZED, "signin.wrong");
        }
        Err(ApiError::TooMany) => return refuse(StatusCode::TOO_MANY_REQUESTS, "signin.throttled"),
        Err(ApiError::Validation(errors)) => {
            let several = errors.iter().any(|e| e.field == "tenant");
            let message = if several {
                "signin.several"
            } else {
                "signin.invalid"
            };
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, message);
        }
        Err(e) => return ConsoleError::from(e).render(lang),
    };
    let pending = checked.mfa_secret.is_some();
    let ttl = if pending {
        PENDING_TTL
    } else {
        match chrono::Duration::from_std(state.api.token_ttl) {
            Ok(d) => d,
            Err(e) => return ConsoleError::Internal(e.to_string()).render(lang),
        }
    };
    match start_session(
        &state,
        checked.tenant_id,
        checked.user_id,
        pending,
        ttl,
        None,
    )
    .await
    {
        Ok(cookie) => {
            if !pending {
                state.api.login_throttle.succeeded(&email);
                tracing::info!(user_id = %checked.user_id, tenant_id = %checked.tenant_id,
                    "signed in to the console");
            }
            let to = if pending {
                "/console/signin/code"
            } else {
                "/console/"
            };
            redirect_setting(to, cookie)
        }
        Err(e) => e.render(lang),
    }
}

/// Stores a new session (replacing `replaces`, when given) and returns its cookie.
async fn start_session(
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    mfa_pending: bool,
    ttl: chrono::Duration,
    replaces: Option<Uuid>,
) -> ConsoleResult<axum::http::HeaderValue> {
    let secret = random_secret();
    let hash = Sha256::digest(secret.as_bytes()).to_vec();
    let expires_at = Utc::now() + ttl;
    let mut client = state.pool.get().await?;
    let tx = db::tenant_transaction(&mut client, tenant_id, Some(user_id)).await?;
    if let Some(old) = replaces {
        tx.execute("DELETE FROM console_sessions WHERE id = $1", &[&old])
            .await?;
    }
    // Expired sessions of this user go as new ones come.
    tx.execute(
        "DELETE FROM console_sessions WHERE user_id = $1 AND expires_at <= now()",
        &[&user_id],
    )
    .await?;
    tx.execute(
        "INSERT INTO console_sessions (tenant_id, user_id, session_hash, mfa_pending, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[&tenant_id, &user_id, &hash, &mfa_pending, &expires_at],
    )
    .await?;
    if !mfa_pending {
        tx.execute(
            "UPDATE users SET last_login_at = now() WHERE id = $1",
            &[&user_id],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(set_cookie(
        &state.api.console,
        SESSION_COOKIE,
        &secret,
        ttl.num_seconds(),
        "Lax",
    ))
}

/// `GET /console/signin/code`: the second step, for a browser whose password was right.
pub async fn code_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    match find_session(&state, &headers).await {
        Ok(Some(s)) if s.mfa_pending => {
            let body = CodePage {
                f: Frame::new(
                    lang,
                    csrf_token(&s.secret),
                    None,
                    "/console/signin/code",
                    "",
                ),
                error: None,
            };
            page(StatusCode::OK, &body).unwrap_or_else(|e| e.render(lang))
        }
        Ok(Some(_)) => Redirect::to("/console/").into_response(),
        Ok(None) => Redirect::to("/console/signin").into_response(),
        Err(e) => e.render(lang),
    }
}

/// The one-time code form.
#[derive(Debug, Deserialize)]
pub struct Code {
    pub code: String,
}

/// `POST /console/signin/code`
pub async fn code(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<Code>,
) -> Response {
    let lang = Lang::of(&headers);
    let pending = match find_session(&state, &headers).await {
        Ok(Some(s)) if s.mfa_pending => s,
        Ok(_) => return Redirect::to("/console/signin").into_response(),
        Err(e) => return e.render(lang),
    };
    let result = async {
        let mut client = state.pool.get().await?;
        let tx =
            db::tenant_transaction(&mut client, pending.tenant_id, Some(pending.user_id)).await?;
        let secret = auth::second_factor_of(&state, &tx, pending.user_id).await?;
        tx.commit().await?;
        let secret = secret.ok_or(ApiError::Unauthorized("no second factor"))?;
        auth::check_second_step(
            &state,
            pending.tenant_id,
            pending.user_id,
            &pending.email,
            &secret,
            &form.code,
        )
        .await
    }
    .await;
    let message = match result {
        Ok(()) => None,
        Err(ApiError::Unauthorized(_)) => Some((StatusCode::UNAUTHORIZED, "signin.code_wrong")),
        Err(ApiError::TooMany) => Some((StatusCode::TOO_MANY_REQUESTS, "signin.throttled")),
        Err(e) => return ConsoleError::from(e).render(lang),
    };
    if let Some((status, message)) = message {
        let body = CodePage {
            f: Frame::new(
                lang,
                csrf_token(&pending.secret),
                None,
                "/console/signin/code",
                "",
            ),
            error: Some(message),
        };
        return page(status, &body).unwrap_or_else(|e| e.render(lang));
    }
    let ttl = match chrono::Duration::from_std(state.api.token_ttl) {
        Ok(d) => d,
        Err(e) => return ConsoleError::Internal(e.to_string()).render(lang),
    };
    match start_session(
        &state,
        pending.tenant_id,
        pending.user_id,
        false,
        ttl,
        Some(pending.session_id),
    )
    .await
    {
        Ok(cookie) => {
            state.api.login_throttle.succeeded(&pending.email);
            tracing::info!(user_id = %pending.user_id, tenant_id = %pending.tenant_id,
                "signed in to the console with a second factor");
            redirect_setting("/console/", cookie)
        }
        Err(e) => e.render(lang),
    }
}

/// A redirect to `to` that sets `cookie`.
fn redirect_setting(to: &str, cookie: axum::http::HeaderValue) -> Response {
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

fn signed_out(state: &AppState) -> Response {
    redirect_setting(
        "/console/signin",
        set_cookie(&state.api.console, SESSION_COOKIE, "", 0, "Lax"),
    )
}

/// `POST /console/signout`: ends this browser's session.
pub async fn signout(
    State(state): State<AppState>,
    user: Console<AnyUser>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let result: ConsoleResult<()> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        tx.execute(
            "DELETE FROM console_sessions WHERE id = $1",
            &[&user.session_id],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => signed_out(&state),
        Err(e) => e.render(user.lang),
    }
}

/// `POST /console/signout-everywhere`: ends every console session of this user and revokes
/// their API tokens too.
pub async fn signout_everywhere(
    State(state): State<AppState>,
    user: Console<AnyUser>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let result: ConsoleResult<()> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        tx.execute(
            "DELETE FROM console_sessions WHERE user_id = $1",
            &[&user.user_id],
        )
        .await?;
        tx.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            &[&user.user_id],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(user_id = %user.user_id, "signed out everywhere");
            signed_out(&state)
        }
        Err(e) => e.render(user.lang),
    }
}

/// Where the language switcher returns to.
#[derive(Debug, Deserialize)]
pub struct Next {
    pub next: Option<String>,
}

/// `GET /console/lang/{code}?next=…`: remembers the language (a preference, not a change of
/// any data) and goes back to the page, if it is one of the console's.
pub async fn language(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(next): Query<Next>,
) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return ConsoleError::NotFound.render(Lang::En);
    };
    let to = next
        .next
        .filter(|n| console_path(n))
        .unwrap_or_else(|| "/console/".to_owned());
    redirect_setting(
        &to,
        set_cookie(
            &state.api.console,
            LANG_COOKIE,
            lang.code(),
            365 * 24 * 3600,
            "Lax",
        ),
    )
}
