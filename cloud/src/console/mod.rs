//! The operators' web console at `/console/`: server-rendered pages over the same accounts,
//! roles, tenant transactions and service functions as the operators' API.
//!
//! # Layout
//! - this module: the router, the security headers every response gets, cookies, the
//!   [`Console`] extractor (session → user, role checked) and [`CsrfForm`] (every form post).
//! - [`session`]: sign-in (password, then the one-time code where enrolled), sign-out and sign
//!   out everywhere; sessions live in `console_sessions`, only their SHA-256 stored.
//! - [`dashboard`]: the figures of the business; [`sites`]: sites, new sites and claim codes.
//! - [`site`]: one site's page: router health graph, guests, devices, packages, portal address.
//! - [`packages`]: the packages (plans) sold, new ones and changes.
//! - [`vouchers`]: voucher batches, the filtered list, A4 and 80 mm print views.
//! - [`guests`]: live sessions (kick, extend) and registered devices (block, unblock);
//!   [`devices`]: adding a device (at one site or every site) and editing one.
//! - [`history`]: every session, filtered by site, MAC, status and dates.
//! - [`payments`]: guests' M-Pesa purchases (filtered, queried again on demand) and paybill (C2B)
//!   payments, for the API's `Finance` roles.
//! - [`settings`]: M-Pesa credentials, the portal branding, staff accounts and roles, the
//!   RADIUS NAS list.
//! - [`account`]: the signed-in user's own account and second factor (TOTP enrolment).
//! - [`clients`]: clients (subscribers), new ones and changes, their wallets (credit, renewal);
//!   [`tickets`]: support tickets, new ones, their replies and status.
//! - [`messages`]: staff messages between the tenant's users, their threads and replies.
//! - [`qr`]: QR codes as inline SVG; [`sweep`]: the periodic removal of expired sign-ins.
//! - [`i18n`]: English and Swahili; [`assets`]: embedded CSS and the vendored htmx.
//!
//! Templates (`cloud/templates/console/`) are checked at compile time by askama and escape
//! every value. Pages contain no inline script or style: the Content-Security-Policy forbids
//! them. htmx only enhances (`hx-boost`): every action is a plain form or link without it.
//!
//! It must not query the database outside [`Console::begin`]'s tenant transaction (or, before
//! sign-in, the API's own SECURITY DEFINER lookups).

pub mod account;
pub mod assets;
pub mod clients;
pub mod dashboard;
pub mod devices;
pub mod guests;
pub mod history;
pub mod i18n;
pub mod messages;
pub mod packages;
pub mod payments;
pub mod qr;
pub mod session;
pub mod settings;
pub mod site;
pub mod sites;
pub mod sweep;
pub mod tickets;
pub mod vouchers;

use std::marker::PhantomData;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::{Allowed, Role, Staff};
use crate::api::error::ApiError;
use i18n::{Lang, Tr};

/// The console's settings.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// Mark cookies `Secure` (sent over HTTPS only). Off only for plain-HTTP development
    /// (`HOTSPOT_CONSOLE_INSECURE_COOKIES=1`).
    pub secure_cookies: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            secure_cookies: true,
        }
    }
}

/// The Content-Security-Policy of every console response: our own files only, no inline script
/// or style, no framing, forms post only to us.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes: every one of them goes through [`security_headers`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(dashboard::page_route))
        .route(
            "/console/signin",
            get(session::signin_page).post(session::signin),
        )
        .route(
            "/console/signin/code",
            get(session::code_page).post(session::code),
        )
        .route("/console/sites", get(sites::list).post(sites::create))
        .route("/console/sites/{id}", get(site::show))
        .route("/console/sites/{id}/portal", post(site::set_portal))
        .route("/console/sites/{id}/branding", post(site::set_branding))
        .route(
            "/console/sites/{id}/branding/reset",
            post(site::reset_branding),
        )
        .route(
            "/console/sites/{id}/branding/logo",
            get(site::branding_logo),
        )
        .route(
            "/console/sites/{id}/branding/logo/remove",
            post(site::remove_branding_logo),
        )
        .route("/console/sites/{id}/claim-code", post(sites::claim_code))
        .route(
            "/console/packages",
            get(packages::list).post(packages::create),
        )
        .route(
            "/console/packages/{id}",
            get(packages::edit).post(packages::update),
        )
        .route("/console/packages/{id}/delete", post(packages::delete))
        .route(
            "/console/vouchers",
            get(vouchers::list).post(vouchers::create),
        )
        .route("/console/vouchers/print", get(vouchers::print))
        .route("/console/vouchers/export.csv", get(vouchers::export))
        .route("/console/vouchers/{id}/revoke", post(vouchers::revoke))
        .route("/console/payments", get(payments::list))
        .route("/console/payments/export.csv", get(payments::export))
        .route("/console/payments/c2b", get(payments::c2b_list))
        .route(
            "/console/payments/c2b/{id}/apply",
            post(payments::c2b_apply),
        )
        .route(
            "/console/payments/c2b/export.csv",
            get(payments::c2b_export),
        )
        .route("/console/payments/{id}/query", post(payments::query))
        .route("/console/sessions", get(guests::list_sessions))
        .route("/console/sessions/history", get(history::list))
        .route("/console/sessions/{id}/kick", post(guests::kick))
        .route("/console/sessions/{id}/extend", post(guests::extend))
        .route(
            "/console/devices",
            get(guests::list_devices).post(devices::create),
        )
        .route(
            "/console/devices/{id}",
            get(devices::edit).post(devices::update),
        )
        .route("/console/devices/{id}/block", post(guests::block))
        .route("/console/devices/{id}/unblock", post(guests::unblock))
        .route("/console/clients", get(clients::list).post(clients::create))
        .route("/console/clients/new", get(clients::new_form))
        .route("/console/clients/{id}", get(clients::show))
        .route(
            "/console/clients/{id}/edit",
            get(clients::edit).post(clients::update),
        )
        .route("/console/clients/{id}/credit", post(clients::credit))
        .route("/console/clients/{id}/renew", post(clients::renew))
        .route("/console/tickets", get(tickets::list).post(tickets::create))
        .route("/console/tickets/new", get(tickets::new_form))
        .route("/console/tickets/{id}", get(tickets::show))
        .route("/console/tickets/{id}/reply", post(tickets::reply))
        .route("/console/tickets/{id}/status", post(tickets::set_status))
        .route(
            "/console/messages",
            get(messages::list).post(messages::create),
        )
        .route("/console/messages/new", get(messages::new_form))
        .route("/console/messages/{id}", get(messages::show))
        .route("/console/messages/{id}/reply", post(messages::reply))
        .route("/console/messages/{id}/delete", post(messages::delete))
        .route("/console/settings", get(settings::show))
        .route("/console/settings/mpesa", post(settings::mpesa))
        .route("/console/settings/branding", post(settings::branding))
        .route(
            "/console/settings/branding/logo",
            get(settings::branding_logo),
        )
        .route(
            "/console/settings/branding/logo/remove",
            post(settings::remove_branding_logo),
        )
        .route("/console/settings/users", post(settings::create_user))
        .route(
            "/console/settings/users/{id}/role",
            post(settings::set_role),
        )
        .route(
            "/console/settings/users/{id}/deactivate",
            post(settings::deactivate),
        )
        .route(
            "/console/settings/users/{id}/mfa-reset",
            post(settings::reset_mfa),
        )
        .route("/console/settings/nas", post(settings::create_nas))
        .route(
            "/console/settings/nas/{id}",
            get(settings::edit_nas).post(settings::update_nas),
        )
        .route(
            "/console/settings/nas/{id}/secret",
            post(settings::replace_secret),
        )
        .route(
            "/console/settings/nas/{id}/delete",
            post(settings::delete_nas),
        )
        .route("/console/account", get(account::show))
        .route("/console/account/mfa", post(account::start))
        .route("/console/account/mfa/confirm", post(account::confirm))
        .route("/console/account/mfa/disable", post(account::disable))
        .route("/console/account/mfa/recovery", post(account::recovery))
        .route("/console/signout", post(session::signout))
        .route(
            "/console/signout-everywhere",
            post(session::signout_everywhere),
        )
        .route("/console/lang/{code}", get(session::language))
        .route("/console/assets/{name}", get(assets::serve))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(security_headers))
}

/// Every path the console router answers (for tests that go through all of them).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/console"),
    ("GET", "/console/"),
    ("GET", "/console/signin"),
    ("POST", "/console/signin"),
    ("GET", "/console/signin/code"),
    ("POST", "/console/signin/code"),
    ("GET", "/console/sites"),
    ("POST", "/console/sites"),
    ("GET", "/console/sites/{id}"),
    ("POST", "/console/sites/{id}/portal"),
    ("POST", "/console/sites/{id}/branding"),
    ("POST", "/console/sites/{id}/branding/reset"),
    ("GET", "/console/sites/{id}/branding/logo"),
    ("POST", "/console/sites/{id}/branding/logo/remove"),
    ("POST", "/console/sites/{id}/claim-code"),
    ("GET", "/console/packages"),
    ("POST", "/console/packages"),
    ("GET", "/console/packages/{id}"),
    ("POST", "/console/packages/{id}/delete"),
    ("POST", "/console/packages/{id}"),
    ("GET", "/console/vouchers"),
    ("POST", "/console/vouchers"),
    ("GET", "/console/vouchers/print"),
    ("GET", "/console/vouchers/export.csv"),
    ("POST", "/console/vouchers/{id}/revoke"),
    ("GET", "/console/payments"),
    ("GET", "/console/payments/export.csv"),
    ("GET", "/console/payments/c2b"),
    ("POST", "/console/payments/c2b/{id}/apply"),
    ("GET", "/console/payments/c2b/export.csv"),
    ("POST", "/console/payments/{id}/query"),
    ("GET", "/console/sessions"),
    ("GET", "/console/sessions/history"),
    ("POST", "/console/sessions/{id}/kick"),
    ("POST", "/console/sessions/{id}/extend"),
    ("GET", "/console/devices"),
    ("POST", "/console/devices"),
    ("GET", "/console/devices/{id}"),
    ("POST", "/console/devices/{id}"),
    ("POST", "/console/devices/{id}/block"),
    ("POST", "/console/devices/{id}/unblock"),
    ("GET", "/console/clients"),
    ("POST", "/console/clients"),
    ("GET", "/console/clients/new"),
    ("GET", "/console/clients/{id}"),
    ("GET", "/console/clients/{id}/edit"),
    ("POST", "/console/clients/{id}/edit"),
    ("POST", "/console/clients/{id}/credit"),
    ("POST", "/console/clients/{id}/renew"),
    ("GET", "/console/tickets"),
    ("POST", "/console/tickets"),
    ("GET", "/console/tickets/new"),
    ("GET", "/console/tickets/{id}"),
    ("POST", "/console/tickets/{id}/reply"),
    ("POST", "/console/tickets/{id}/status"),
    ("GET", "/console/messages"),
    ("POST", "/console/messages"),
    ("GET", "/console/messages/new"),
    ("GET", "/console/messages/{id}"),
    ("POST", "/console/messages/{id}/reply"),
    ("POST", "/console/messages/{id}/delete"),
    ("GET", "/console/settings"),
    ("POST", "/console/settings/mpesa"),
    ("POST", "/console/settings/branding"),
    ("GET", "/console/settings/branding/logo"),
    ("POST", "/console/settings/branding/logo/remove"),
    ("POST", "/console/settings/users"),
    ("POST", "/console/settings/users/{id}/role"),
    ("POST", "/console/settings/users/{id}/deactivate"),
    ("POST", "/console/settings/users/{id}/mfa-reset"),
    ("POST", "/console/settings/nas"),
    ("GET", "/console/settings/nas/{id}"),
    ("POST", "/console/settings/nas/{id}"),
    ("POST", "/console/settings/nas/{id}/secret"),
    ("POST", "/console/settings/nas/{id}/delete"),
    ("GET", "/console/account"),
    ("POST", "/console/account/mfa"),
    ("POST", "/console/account/mfa/confirm"),
    ("POST", "/console/account/mfa/disable"),
    ("POST", "/console/account/mfa/recovery"),
    ("POST", "/console/signout"),
    ("POST", "/console/signout-everywhere"),
    ("GET", "/console/lang/sw"),
    ("GET", "/console/assets/{name}"),
];

async fn not_found(headers: HeaderMap) -> Response {
    ConsoleError::NotFound.render(Lang::of(&headers))
}

/// Adds the security headers to every console response, and refuses a state-changing request
/// that a browser says came from another site (`Origin` of another host, or
/// `Sec-Fetch-Site: cross-site`) before any handler runs.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let cross_site = req.method() != Method::GET
        && req.method() != Method::HEAD
        && from_another_site(req.headers());
    let mut resp = if cross_site {
        ConsoleError::Csrf.render(Lang::of(req.headers()))
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show a tenant's business: never kept by a shared cache or the back button.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Whether the browser says the request came from a page of another site.
fn from_another_site(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if value("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (value("origin"), value("host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or(origin);
            !origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value for the console's path: HttpOnly, SameSite, Secure unless configured
/// off. `max_age` 0 deletes it.
pub fn set_cookie(
    settings: &ConsoleSettings,
    name: &str,
    value: &str,
    max_age: i64,
    same_site: &str,
) -> HeaderValue {
    let secure = if settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .expect("cookie values are base64url")
}

/// A new random secret for a cookie (32 bytes, base64url).
pub fn random_secret() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The CSRF token of the forms of a browser holding the cookie secret `secret` (the session id,
/// or before sign-in the pre-session cookie): derived from it, so nothing more is stored, and
/// unknowable to a page of another site, which cannot read the HttpOnly cookie.
pub fn csrf_token(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("console-csrf:{secret}").as_bytes()))
}

/// The session cookie.
pub const SESSION_COOKIE: &str = "hs_console";
/// The pre-session cookie whose secret keys the sign-in form's CSRF token.
pub const PRE_COOKIE: &str = "hs_console_pre";

/// What every page's frame needs: language, messages, the signed-in user, the CSRF token of
/// its forms, the asset URLs.
#[derive(Debug)]
pub struct Frame {
    pub t: Tr,
    pub csrf: String,
    pub user: Option<UserView>,
    pub css: String,
    pub htmx: String,
    /// The page's path, for the language switcher's return.
    pub here: String,
    /// The navigation entry of this page.
    pub nav: &'static str,
    /// Whether the navigation shows the payments (the API's `Finance` roles).
    pub payments: bool,
    /// Whether the navigation shows the settings (the API's `Admin` roles).
    pub settings: bool,
}

/// The signed-in user as the frame shows it.
#[derive(Debug, Clone)]
pub struct UserView {
    pub name: String,
    pub email: String,
    /// The tenant's time zone, named under every page.
    pub zone: String,
}

impl Frame {
    pub fn new(
        lang: Lang,
        csrf: String,
        user: Option<UserView>,
        here: &str,
        nav: &'static str,
    ) -> Self {
        Frame {
            t: Tr(lang),
            csrf,
            user,
            css: assets::url("console"),
            htmx: assets::url("htmx-2.0.11"),
            here: here.to_owned(),
            nav,
            payments: false,
            settings: false,
        }
    }

    pub fn langs(&self) -> [Lang; 2] {
        Lang::ALL
    }
}

/// What can go wrong in a console request; each renders as a page (or a redirect to sign in).
#[derive(Debug)]
pub enum ConsoleError {
    /// No session, or an expired one: go and sign in.
    SignIn,
    /// A password was right, the one-time code is still to come.
    SecondStep,
    /// The role does not allow this page or action.
    Forbidden,
    /// Absent, or another tenant's.
    NotFound,
    /// A form without its token, with another's, or posted from another site.
    Csrf,
    /// No database connection within the pool's wait: 503 with `Retry-After`, like the API.
    Busy,
    /// Anything else (logged).
    Internal(String),
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized(_) | ApiError::MfaRequired => ConsoleError::SignIn,
            ApiError::Forbidden => ConsoleError::Forbidden,
            ApiError::NotFound => ConsoleError::NotFound,
            ApiError::Busy => ConsoleError::Busy,
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<crate::db::DbError> for ConsoleError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<tokio_postgres::Error> for ConsoleError {
    fn from(e: tokio_postgres::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl From<deadpool_postgres::PoolError> for ConsoleError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::Internal(format!("template: {e}"))
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    f: Frame,
    message: &'static str,
}

impl ConsoleError {
    pub fn render(self, lang: Lang) -> Response {
        let (status, message) = match &self {
            ConsoleError::SignIn => return Redirect::to("/console/signin").into_response(),
            ConsoleError::SecondStep => {
                return Redirect::to("/console/signin/code").into_response();
            }
            ConsoleError::Forbidden => (StatusCode::FORBIDDEN, "error.forbidden"),
            ConsoleError::NotFound => (StatusCode::NOT_FOUND, "error.not_found"),
            ConsoleError::Csrf => (StatusCode::FORBIDDEN, "error.csrf"),
            ConsoleError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "error.busy"),
            ConsoleError::Internal(cause) => {
                tracing::error!(%cause, "console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "error.internal")
            }
        };
        let page = ErrorPage {
            f: Frame::new(lang, String::new(), None, "/console/", ""),
            message,
        };
        let mut resp = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => status.into_response(),
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        resp
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        self.render(Lang::En)
    }
}

/// A console result: a page, or an error page in the request's language.
pub type ConsoleResult<T> = Result<T, ConsoleError>;

/// The reasons of a refused input as one line (`field: message; …`); `None` when the error is
/// not the input's fault (a page adds what a conflict means to it).
pub(super) fn input_reasons(e: &ApiError) -> Option<String> {
    match e {
        ApiError::Validation(errors) => Some(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    }
}

/// The (time, id) a list's keyset cursor holds (`after=`); one this console did not give is
/// not found.
pub(super) fn time_cursor(
    after: Option<&str>,
) -> ConsoleResult<Option<(chrono::DateTime<chrono::Utc>, Uuid)>> {
    let Some(c) = after else { return Ok(None) };
    let parts = crate::api::decode_cursor(c, 2).map_err(|_| ConsoleError::NotFound)?;
    let t = chrono::DateTime::parse_from_rfc3339(&parts[0])
        .map_err(|_| ConsoleError::NotFound)?
        .with_timezone(&chrono::Utc);
    let id = Uuid::parse_str(&parts[1]).map_err(|_| ConsoleError::NotFound)?;
    Ok(Some((t, id)))
}

/// A form's value as a query string or a link carries it: letters, digits, `-` and `_` as they
/// are, every other byte percent-encoded.
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A CSV download named `filename`.
pub(super) fn csv_download(filename: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Times as a page shows them, `YYYY-MM-DD HH:MM` in the transaction's time zone (the
/// tenant's, set by [`Console::begin`]), in the order given (`None` is shown empty). PostgreSQL
/// reads them, so a zone's summer time applies to each time as it was then, not as it is now.
pub async fn local_times(
    tx: &deadpool_postgres::Transaction<'_>,
    times: &[Option<chrono::DateTime<chrono::Utc>>],
) -> Result<Vec<String>, tokio_postgres::Error> {
    if times.is_empty() {
        return Ok(Vec::new());
    }
    Ok(tx
        .query(
            "SELECT coalesce(to_char(t, 'YYYY-MM-DD HH24:MI'), '')
             FROM unnest($1::timestamptz[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
            &[&times],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// The instant an API row's RFC 3339 field holds (`None` for null or not a time).
pub fn instant(v: &serde_json::Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A form's day (parsed as its midnight UTC) moved to the instant it starts in the
/// transaction's time zone (the tenant's): the from and to of a date filter.
pub async fn local_midnight(
    tx: &deadpool_postgres::Transaction<'_>,
    day: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, tokio_postgres::Error> {
    let Some(day) = day else { return Ok(None) };
    Ok(Some(
        tx.query_one("SELECT $1::date::timestamptz", &[&day.date_naive()])
            .await?
            .get(0),
    ))
}

/// Renders a template as a page with `status`.
pub fn page(status: StatusCode, t: &impl Template) -> ConsoleResult<Response> {
    Ok((status, Html(t.render()?)).into_response())
}

/// The signed-in user of a console request, with a role in `R`. Without a session the request
/// is sent to sign in; with a role outside `R` it gets 403.
#[derive(Debug)]
pub struct Console<R = Staff> {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub roles: Vec<Role>,
    pub email: String,
    pub full_name: Option<String>,
    pub lang: Lang,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// The tenant's time zone (`zone_or_utc`): every time a page shows, and every date a form
    /// names, is in it.
    pub zone: String,
    _allowed: PhantomData<R>,
}

impl<R> Console<R> {
    /// The request's transaction: as the service role, with this user's tenant and user set,
    /// exactly as the API's ([`crate::api::auth::Auth::begin`]), and its `TimeZone` the
    /// tenant's, so `to_char` of a time and a date cast to a time read in the tenant's zone.
    pub async fn begin<'a>(
        &self,
        client: &'a mut deadpool_postgres::Object,
    ) -> ConsoleResult<deadpool_postgres::Transaction<'a>> {
        Ok(crate::db::tenant_transaction_in(
            client,
            self.tenant_id,
            Some(self.user_id),
            Some(&self.zone),
        )
        .await?)
    }

    /// The same user, as seen by a page of another role set (already checked: `R` is narrower).
    pub(super) fn from_other<O>(other: &Console<O>) -> Self {
        Console {
            session_id: other.session_id,
            user_id: other.user_id,
            tenant_id: other.tenant_id,
            roles: other.roles.clone(),
            email: other.email.clone(),
            full_name: other.full_name.clone(),
            lang: other.lang,
            csrf: other.csrf.clone(),
            zone: other.zone.clone(),
            _allowed: PhantomData,
        }
    }

    /// Whether this user's roles include one of the set `S` (for showing an action).
    pub fn can<S: Allowed>(&self) -> bool {
        self.roles.iter().any(|r| S::ROLES.contains(r))
    }

    /// The frame of one of this user's pages.
    pub fn frame(&self, here: &str, nav: &'static str) -> Frame {
        let mut frame = Frame::new(
            self.lang,
            self.csrf.clone(),
            Some(UserView {
                name: self.full_name.clone().unwrap_or_else(|| self.email.clone()),
                email: self.email.clone(),
                zone: self.zone.clone(),
            }),
            here,
            nav,
        );
        frame.payments = self.can::<crate::api::auth::Finance>();
        frame.settings = self.can::<crate::api::auth::Admin>();
        frame
    }
}

/// A console session found from the request's cookie, whatever its state.
#[derive(Debug)]
pub struct Found {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub roles: Vec<Role>,
    pub email: String,
    pub full_name: Option<String>,
    pub mfa_pending: bool,
    /// The tenant's time zone.
    pub zone: String,
    /// The cookie's secret (keys the CSRF token).
    pub secret: String,
}

/// Looks the request's session up (`console_session_lookup()`, before the tenant is known);
/// `None` for no cookie, an unknown id or an expired session.
pub async fn find_session(state: &AppState, headers: &HeaderMap) -> ConsoleResult<Option<Found>> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if secret.len() != 43 {
        return Ok(None);
    }
    let hash = Sha256::digest(secret.as_bytes()).to_vec();
    let mut client = state.pool.get().await?;
    let tx = crate::db::service_transaction(&mut client).await?;
    let row = tx
        .query_opt(
            "SELECT session_id, user_id, tenant_id, roles, email, full_name, mfa_pending, expired,
                    time_zone
             FROM console_session_lookup($1)",
            &[&hash],
        )
        .await?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(None) };
    if row.get::<_, bool>(7) {
        return Ok(None);
    }
    let roles: serde_json::Value = row.get(3);
    let roles = roles
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().and_then(Role::parse))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Found {
        session_id: row.get(0),
        user_id: row.get(1),
        tenant_id: row.get(2),
        roles,
        email: row.get(4),
        full_name: row.get(5),
        mfa_pending: row.get(6),
        zone: row.get(8),
        secret,
    }))
}

impl<R: Allowed> FromRequestParts<AppState> for Console<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::of(&parts.headers);
        let found = find_session(state, &parts.headers)
            .await
            .map_err(|e| e.render(lang))?
            .ok_or_else(|| ConsoleError::SignIn.render(lang))?;
        if found.mfa_pending {
            return Err(ConsoleError::SecondStep.render(lang));
        }
        if !found.roles.iter().any(|r| R::ROLES.contains(r)) {
            return Err(ConsoleError::Forbidden.render(lang));
        }
        Ok(Console {
            session_id: found.session_id,
            user_id: found.user_id,
            tenant_id: found.tenant_id,
            roles: found.roles,
            email: found.email,
            full_name: found.full_name,
            lang,
            csrf: csrf_token(&found.secret),
            zone: found.zone,
            _allowed: PhantomData,
        })
    }
}

/// A posted form whose `csrf` field carries the token of the browser's session cookie (or,
/// before sign-in, of its pre-session cookie); anything else is refused with 403 before the
/// handler runs, so nothing changes.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

#[derive(serde::Deserialize)]
struct CsrfField {
    csrf: String,
}

impl<T, S> FromRequest<S> for CsrfForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let lang = Lang::of(req.headers());
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
        let again = |bytes: axum::body::Bytes| {
            let mut parts = parts.clone();
            parts.headers.remove(header::CONTENT_LENGTH);
            Request::from_parts(parts, axum::body::Body::from(bytes))
        };
        let given = axum::Form::<CsrfField>::from_request(again(bytes.clone()), state)
            .await
            .map(|f| f.0.csrf)
            .unwrap_or_default();
        if !csrf_ok(&parts.headers, &given) {
            return Err(ConsoleError::Csrf.render(lang));
        }
        let axum::Form(value) = axum::Form::<T>::from_request(again(bytes), state)
            .await
            .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.body_text()).into_response())?;
        Ok(CsrfForm(value))
    }
}

/// Whether `given` is the CSRF token of the request's session (or pre-sign-in) cookie, compared
/// in constant time. For forms [`CsrfForm`] cannot read (the branding's multipart upload).
pub fn csrf_ok(headers: &HeaderMap, given: &str) -> bool {
    !given.is_empty()
        && [SESSION_COOKIE, PRE_COOKIE]
            .iter()
            .filter_map(|name| cookie(headers, name))
            .map(|secret| csrf_token(&secret))
            .any(|e| bool::from(e.as_bytes().ct_eq(given.as_bytes())))
}

/// A form with nothing but its token.
#[derive(Debug, serde::Deserialize)]
pub struct Empty {}

/// The query of a page shown again after an action's redirect: what was just done (`done`),
/// for its notice.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ShowQuery {
    pub done: Option<String>,
}

/// Whether `next` is a path of the console (no open redirect elsewhere).
pub fn console_path(next: &str) -> bool {
    next.starts_with("/console/") && !next.contains("//") && !next.contains('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_from_other_sites_are_recognised() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(!from_another_site(&h(&[("host", "a.test")])));
        assert!(!from_another_site(&h(&[
            ("host", "a.test"),
            ("origin", "https://a.test")
        ])));
        assert!(from_another_site(&h(&[
            ("host", "a.test"),
            ("origin", "https://b.test")
        ])));
        assert!(from_another_site(&h(&[
            ("host", "a.test"),
            ("origin", "null")
        ])));
        assert!(from_another_site(&h(&[
            ("host", "a.test"),
            ("sec-fetch-site", "cross-site")
        ])));
    }

    #[test]
    fn csrf_tokens_depend_on_the_secret_and_next_paths_stay_in_the_console() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert!(console_path("/console/"));
        assert!(!console_path("//evil.test/console/"));
        assert!(!console_path("https://evil.test/"));
        assert!(!console_path("/console//evil.test"));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut m = HeaderMap::new();
        m.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hs_console=xyz"),
        );
        assert_eq!(cookie(&m, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&m, "b"), None);
    }
}
