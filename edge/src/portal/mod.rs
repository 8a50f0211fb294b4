//! The captive portal: what a guest's browser and their phone's captive-portal check see.
//!
//! Owns HTTP routing, OS probe answers, the RFC 8908 captive portal API and page rendering.
//! Decisions (is this code valid, is this client online) belong to [`crate::sessions`]; this
//! module asks and renders the answer.
//!
//! - Requests whose `Host` is not the portal (the firewall redirected them) and the OS probes are
//!   answered by a middleware before routing: before login with a redirect to the portal, which makes the OS
//!   open its captive window; after login with the exact answer each OS expects, which closes it.
//! - Pages are small server-rendered HTML with inline style, no scripts or outside assets; the
//!   one file served is the logo the cloud sent (`/brand/logo-<hash>.png|jpg`, cached long).
//! - The look (title, welcome, colour, support phone, logo) is the cloud's branding when one
//!   was synced, else the configuration's `[branding]` ([`Sessions::look`]).
//! - Forms carry a token bound to the client's address ([`form::Tokens`]); bodies are parsed
//!   strictly and bounded; bad input gets a 4xx and changes nothing.

pub mod form;
pub mod limits;
pub mod text;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::config::{Config, Language};
use crate::payments::{BuyError, Payments, Status};
use crate::sessions::{Client, ClientState, IdentityError, LoginError, SessionView, Sessions};
use crate::store::Store;
use text::text;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub sessions: Arc<Sessions>,
    pub tokens: form::Tokens,
    /// M-Pesa purchases, when this router is claimed by a cloud.
    pub payments: Option<Arc<Payments>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("site", &self.config.site_name)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(sessions: Arc<Sessions>) -> Self {
        Self {
            config: Arc::clone(sessions.config()),
            store: sessions.store().clone(),
            sessions,
            tokens: form::Tokens::random(),
            payments: None,
        }
    }
}

/// Path of the RFC 8908 captive portal API.
pub const CAPTIVE_API_PATH: &str = "/api/captive";

/// The captive portal API URI to hand out in DHCP option 114 (RFC 8910).
pub fn captive_api_url(config: &Config) -> String {
    format!(
        "{}{}",
        config.base_url,
        CAPTIVE_API_PATH.trim_start_matches('/')
    )
}

/// The portal's routes.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/login/user", post(login_user))
        .route("/status", get(status))
        .route("/topup", post(top_up))
        .route("/logout", post(logout))
        .route("/buy", post(buy))
        .route("/pay/{id}", get(pay_status))
        .route(CAPTIVE_API_PATH, get(captive_api))
        .route("/healthz", get(healthz))
        // Anything else on the portal's own host: send the browser to the portal page.
        .fallback(to_portal)
        .layer(middleware::from_fn_with_state(state.clone(), intercept))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The OS connectivity checks the portal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Apple,
    Android,
    WindowsConnect,
    WindowsNcsi,
    FirefoxCanonical,
    FirefoxSuccess,
}

/// Which probe a request is, from its host and path.
pub fn probe_kind(host: &str, path: &str) -> Option<Probe> {
    if host == "captive.apple.com" {
        return Some(Probe::Apple);
    }
    match path {
        "/hotspot-detect.html" | "/library/test/success.html" => Some(Probe::Apple),
        "/generate_204" | "/gen_204" => Some(Probe::Android),
        "/connecttest.txt" => Some(Probe::WindowsConnect),
        "/ncsi.txt" => Some(Probe::WindowsNcsi),
        "/canonical.html" => Some(Probe::FirefoxCanonical),
        "/success.txt" => Some(Probe::FirefoxSuccess),
        _ => None,
    }
}

/// The answer each OS expects when the network is open.
pub fn probe_success(p: Probe) -> Response {
    let (status, ctype, body): (StatusCode, &str, &str) = match p {
        Probe::Apple => (
            StatusCode::OK,
            "text/html",
            "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>",
        ),
        Probe::Android => (StatusCode::NO_CONTENT, "text/plain", ""),
        Probe::WindowsConnect => (StatusCode::OK, "text/plain", "Microsoft Connect Test"),
        Probe::WindowsNcsi => (StatusCode::OK, "text/plain", "Microsoft NCSI"),
        Probe::FirefoxCanonical => (
            StatusCode::OK,
            "text/html",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>",
        ),
        Probe::FirefoxSuccess => (StatusCode::OK, "text/plain", "success\n"),
    };
    let mut resp = (status, body.to_owned()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn see_other(to: &str) -> Response {
    let mut resp = redirect(to);
    *resp.status_mut() = StatusCode::SEE_OTHER;
    resp
}

fn request_host(headers: &HeaderMap) -> String {
    let raw = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host = if let Some(v6) = raw.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    host.to_ascii_lowercase()
}

async fn is_online(state: &AppState, addr: SocketAddr) -> bool {
    match state.sessions.identify(addr.ip()).await {
        Ok(c) => matches!(
            state.sessions.client_state(c).await,
            Ok(ClientState::Online(_))
        ),
        Err(_) => false,
    }
}

/// Answers OS probes and requests meant for other hosts before routing.
async fn intercept(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let host = request_host(req.headers());
    let probe = probe_kind(&host, req.uri().path());
    let foreign = !host.is_empty() && !state.config.portal_hosts.contains(&host);
    if probe.is_none() && !foreign {
        return next.run(req).await;
    }
    let online = is_online(&state, addr).await;
    match (probe, online) {
        (Some(p), true) => probe_success(p),
        (None, true) => redirect(&format!("{}status", state.config.base_url)),
        (_, false) => redirect(&state.config.base_url),
    }
}

async fn to_portal(State(state): State<AppState>, uri: Uri) -> Response {
    // The logo is answered here rather than by a route of its own: the same answer for less
    // code in a binary whose size is budgeted.
    if let Some(file) = uri.path().strip_prefix("/brand/") {
        return brand_file(&state, file).await;
    }
    redirect(&state.config.base_url)
}

/// `GET /brand/logo-<hash>.png|jpg`: the logo the cloud sent. Its name changes with its
/// content, so it may be cached for a year; any other name is not found.
async fn brand_file(state: &AppState, file: &str) -> Response {
    let look = state.sessions.look();
    let Some(logo) = look.logo.as_ref().filter(|l| l.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut resp = axum::body::Body::from(Bytes::from_owner(logo.bytes.clone())).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&logo.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.schema_version().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

/// The page language: `?lang=` (remembered in a cookie), the cookie, Accept-Language, default.
/// The second value is true when the choice came from the query and should be remembered.
fn choose_language(config: &Config, headers: &HeaderMap, uri: &Uri) -> (Language, bool) {
    let offered = |l: Language| config.languages.contains(&l);
    if let Some(q) = uri.query() {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("lang=")
                && let Some(l) = Language::from_tag(v).filter(|l| offered(*l))
            {
                return (l, true);
            }
        }
    }
    for cookies in headers.get_all(header::COOKIE) {
        for c in cookies.to_str().unwrap_or("").split(';') {
            if let Some(v) = c.trim().strip_prefix("lang=")
                && let Some(l) = Language::from_tag(v).filter(|l| offered(*l))
            {
                return (l, false);
            }
        }
    }
    if let Some(al) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    {
        let mut best: Option<(f32, Language)> = None;
        for item in al.split(',').take(16) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|v| v.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            if let Some(l) = Language::from_tag(tag).filter(|l| offered(*l))
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        if let Some((_, l)) = best {
            return (l, false);
        }
    }
    (config.languages[0], false)
}

/// A page in the site's layout.
fn page(
    state: &AppState,
    lang: Language,
    remember: bool,
    status: StatusCode,
    body: &str,
) -> Response {
    let b = state.sessions.look();
    let t = text(lang);
    let mut html = String::with_capacity(2048 + body.len());
    let _ = write!(
        html,
        "<!doctype html><html lang=\"{tag}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:26rem;margin:0 auto;padding:1rem;\
         line-height:1.45;color:#222}}h1{{color:{accent};font-size:1.5rem;margin:.5rem 0}}\
         input,button{{font-size:1.15rem;width:100%;box-sizing:border-box;padding:.65rem;\
         margin:.3rem 0;border-radius:.3rem}}input{{border:1px solid #999;text-transform:uppercase;\
         letter-spacing:.1em}}button{{background:{accent};color:#fff;border:0}}\
         .msg{{padding:.65rem;border-radius:.3rem;background:#fdecea}}.ok{{background:#e6f4ea}}\
         dl{{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}}dd{{margin:0;font-weight:bold}}\
         footer{{margin-top:2rem;font-size:.9rem;color:#555}}a{{color:{accent}}}\
         h2{{font-size:1.15rem;margin:1.5rem 0 .3rem}}.pkg{{display:flex;gap:.6rem;\
         align-items:center;padding:.55rem;border:1px solid #bbb;border-radius:.3rem;\
         margin:.35rem 0}}.pkg input{{width:auto;margin:0}}.pkg span{{flex:1}}\
         input[type=tel]{{text-transform:none;letter-spacing:normal}}\
         .logo{{display:block;max-width:100%;max-height:5rem;margin:.5rem 0}}\
         </style></head><body>{logo}<h1>{title}</h1>{body}<footer><p>{site}</p>",
        tag = lang.tag(),
        logo = b
            .logo
            .as_ref()
            .map(|l| format!("<img class=\"logo\" src=\"/brand/{}\" alt=\"\">", l.name))
            .unwrap_or_default(),
        title = escape(&b.title),
        accent = b.accent_color,
        site = escape(&state.config.site_name),
    );
    if let Some(phone) = &b.support_phone {
        let _ = write!(
            html,
            "<p>{}: <a href=\"tel:{p}\">{p}</a></p>",
            t.help,
            p = escape(phone)
        );
    }
    for other in state.config.languages.iter().filter(|l| **l != lang) {
        let _ = write!(
            html,
            "<p><a href=\"?lang={}\">{}</a></p>",
            other.tag(),
            text(*other).language
        );
    }
    html.push_str("</footer></body></html>");
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.tag()),
    );
    if remember {
        let cookie = format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
            lang.tag()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    resp
}

fn message(msg: &str, ok: bool) -> String {
    format!(
        "<p class=\"msg{}\" role=\"alert\">{}</p>",
        if ok { " ok" } else { "" },
        escape(msg)
    )
}

fn login_body(state: &AppState, lang: Language, token: &str, msg: Option<(&str, bool)>) -> String {
    login_body_with(state, lang, token, msg, "", "")
}

/// The login page: the voucher form, and the packages for sale when there are any (`shop`,
/// from [`shop_body`]).
fn login_body_with(
    state: &AppState,
    lang: Language,
    token: &str,
    msg: Option<(&str, bool)>,
    shop: &str,
    code: &str,
) -> String {
    let t = text(lang);
    // The username and password form, only where a RADIUS server checks them.
    let user_form = if state.sessions.radius_enabled() {
        format!(
            "<h2>{title}</h2><form method=\"post\" action=\"/login/user\">\
             <label for=\"user\">{user}</label>\
             <input id=\"user\" name=\"user\" required maxlength=\"64\" \
             autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\">\
             <label for=\"password\">{pw}</label>\
             <input id=\"password\" name=\"password\" type=\"password\" maxlength=\"128\" \
             autocomplete=\"current-password\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <button type=\"submit\">{go}</button></form>",
            title = t.user_title,
            user = t.user_label,
            pw = t.password_label,
            go = t.sign_in,
        )
    } else {
        String::new()
    };
    format!(
        "<p>{welcome}</p>{msg}{shop}<form method=\"post\" action=\"/login\">\
         <label for=\"code\">{label}</label>\
         <input id=\"code\" name=\"code\" required maxlength=\"40\" autocomplete=\"off\" \
         autocapitalize=\"characters\" spellcheck=\"false\" inputmode=\"text\"{value}>\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button type=\"submit\">{connect}</button></form>{user_form}",
        shop = if shop.is_empty() {
            String::new()
        } else {
            format!("{shop}<h2>{}</h2>", t.or_voucher)
        },
        welcome = escape(&state.sessions.look().welcome),
        msg = msg.map(|(m, ok)| message(m, ok)).unwrap_or_default(),
        label = t.code_label,
        connect = t.connect,
        value = if code.is_empty() {
            String::new()
        } else {
            format!(" value=\"{}\"", escape(code))
        },
    )
}

/// The voucher code a link to the portal carries (`/?code=…`, as printed voucher cards' QR
/// codes hold): letters, digits and dashes only, at most 40; anything else is ignored.
fn code_from_link(uri: &Uri) -> String {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "code")
        .map(|(_, v)| v)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 40
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .unwrap_or("")
        .to_owned()
}

/// The status page of an online guest: what is left, the voucher top-up form, the packages for
/// sale when M-Pesa is available here and one would extend this session, and log out.
async fn status_body(state: &AppState, lang: Language, v: &SessionView, token: &str) -> String {
    let shop = shop_body(state, lang, token, Some(v)).await;
    status_html(lang, v, token, &shop)
}

fn status_html(lang: Language, v: &SessionView, token: &str, shop: &str) -> String {
    let t = text(lang);
    let notice = v
        .notice
        .as_deref()
        .map(|n| format!("<p id=\"notice\">{}</p>", escape(n)))
        .unwrap_or_default();
    let time = v
        .seconds_remaining
        .map_or_else(|| t.unlimited.to_owned(), text::duration);
    let data = v
        .bytes_remaining
        .map_or_else(|| t.unlimited.to_owned(), text::megabytes);
    format!(
        "<p class=\"msg ok\">{online}</p>{notice}<dl><dt>{tl}</dt><dd id=\"time-left\">{time}</dd>\
         <dt>{dl}</dt><dd id=\"data-left\">{data}</dd><dt>{du}</dt><dd>{used}</dd></dl>\
         <form method=\"post\" action=\"/topup\"><p>{more}</p><label>{cl} \
         <input name=\"code\" autocomplete=\"off\" autocapitalize=\"characters\" required></label>\
         <input type=\"hidden\" name=\"token\" value=\"{token}\"><button type=\"submit\">{add}</button>\
         </form>{shop}\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"token\" \
         value=\"{token}\"><button type=\"submit\">{out}</button></form>",
        more = t.top_up_title,
        cl = t.code_label,
        add = t.top_up,
        online = t.online_title,
        tl = t.time_left,
        dl = t.data_left,
        du = t.data_used,
        used = text::megabytes(v.session.bytes()),
        out = t.log_out,
    )
}

fn blocked_body(lang: Language, reason: Option<&str>) -> String {
    let t = text(lang);
    format!(
        "<p class=\"msg\"><strong>{}</strong></p><p id=\"reason\">{}</p>",
        t.blocked_title,
        escape(reason.unwrap_or(t.blocked_no_reason))
    )
}

fn client_key(addr: SocketAddr) -> String {
    match addr.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        v4 => v4.to_string(),
    }
}

async fn index(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (lang, remember) = choose_language(&state.config, &headers, &uri);
    let token = state.tokens.issue(&client_key(addr), state.sessions.now());
    if let Ok(client) = state.sessions.identify(addr.ip()).await {
        match state.sessions.client_state(client).await {
            Ok(ClientState::Blocked { reason }) => {
                let body = blocked_body(lang, reason.as_deref());
                return page(&state, lang, remember, StatusCode::FORBIDDEN, &body);
            }
            Ok(ClientState::Online(v)) => {
                let body = status_body(&state, lang, &v, &token).await;
                return page(&state, lang, remember, StatusCode::OK, &body);
            }
            Ok(ClientState::Offline) => {}
            Err(e) => tracing::error!(error = %e, "reading client state"),
        }
    }
    let shop = shop_body(&state, lang, &token, None).await;
    let body = login_body_with(&state, lang, &token, None, &shop, &code_from_link(&uri));
    page(&state, lang, remember, StatusCode::OK, &body)
}

async fn status(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (lang, remember) = choose_language(&state.config, &headers, &uri);
    if let Ok(client) = state.sessions.identify(addr.ip()).await
        && let Ok(ClientState::Online(v)) = state.sessions.client_state(client).await
    {
        let token = state.tokens.issue(&client_key(addr), state.sessions.now());
        let body = status_body(&state, lang, &v, &token).await;
        return page(&state, lang, remember, StatusCode::OK, &body);
    }
    see_other("/")
}

/// A form body checked for type, encoding, fields and token. `Err` is the response to send
/// (built once per bad request; its size does not matter).
#[allow(clippy::result_large_err)]
fn read_form(
    state: &AppState,
    lang: Language,
    addr: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
    fields: &[&str],
) -> Result<std::collections::HashMap<String, String>, Response> {
    let t = text(lang);
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(page(
            state,
            lang,
            false,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &message(t.bad_form, false),
        ));
    }
    let bad = |status| {
        let token = state.tokens.issue(&client_key(addr), state.sessions.now());
        page(
            state,
            lang,
            false,
            status,
            &login_body(state, lang, &token, Some((t.bad_form, false))),
        )
    };
    let form = form::parse(body).map_err(|_| bad(StatusCode::BAD_REQUEST))?;
    if fields.iter().any(|f| !form.contains_key(*f)) {
        return Err(bad(StatusCode::BAD_REQUEST));
    }
    let token = form.get("token").map(String::as_str).unwrap_or("");
    if !state
        .tokens
        .verify(&client_key(addr), state.sessions.now(), token)
    {
        return Err(bad(StatusCode::FORBIDDEN));
    }
    Ok(form)
}

/// What both login forms do before the check itself: the body read and its token verified,
/// the client identified, the user agent kept. `Err` is the response to send.
#[allow(clippy::result_large_err)]
async fn login_prologue<'a>(
    state: &'a AppState,
    lang: Language,
    addr: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
    fields: &[&str],
) -> Result<LoginForm<'a>, Response> {
    let form = read_form(state, lang, addr, headers, body, fields)?;
    let reply = FormReply::new(state, lang, addr);
    let client = reply.identify(addr).await?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    Ok(LoginForm {
        form,
        reply,
        client,
        user_agent,
    })
}

/// A login form read and its client identified.
struct LoginForm<'a> {
    form: std::collections::HashMap<String, String>,
    reply: FormReply<'a>,
    client: Client,
    user_agent: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (lang, _) = choose_language(&state.config, &headers, &uri);
    let f = match login_prologue(&state, lang, addr, &headers, &body, &["code", "token"]).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let result = state
        .sessions
        .login(f.client, &f.form["code"], f.user_agent)
        .await;
    login_answer(&state, &f.reply, lang, result).await
}

/// A username and password from the second form, checked by the RADIUS server; the same
/// token, throttle and answers as a voucher code.
async fn login_user(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (lang, _) = choose_language(&state.config, &headers, &uri);
    let fields = ["user", "password", "token"];
    let f = match login_prologue(&state, lang, addr, &headers, &body, &fields).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let result = state
        .sessions
        .login_user(f.client, &f.form["user"], &f.form["password"], f.user_agent)
        .await;
    login_answer(&state, &f.reply, lang, result).await
}

/// Another voucher entered on the status page by an online guest: the session is extended in
/// place ([`Sessions::top_up`]). The answer is the status page, with what happened.
async fn top_up(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (lang, _) = choose_language(&state.config, &headers, &uri);
    let f = match login_prologue(&state, lang, addr, &headers, &body, &["code", "token"]).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let result = state
        .sessions
        .top_up(f.client, &f.form["code"], f.user_agent)
        .await;
    let t = text(lang);
    let refused = match result {
        Ok(mut v) => {
            v.notice = Some(t.topped_up.to_owned());
            let body = status_body(&state, lang, &v, &f.reply.token).await;
            return page(&state, lang, false, StatusCode::OK, &body);
        }
        Err(LoginError::Refused(r)) => (StatusCode::FORBIDDEN, text::refusal(lang, &r)),
        Err(LoginError::BadCode(_)) => (
            StatusCode::BAD_REQUEST,
            text::refusal(lang, &crate::vouchers::Refusal::Unknown),
        ),
        Err(e) => return login_answer(&state, &f.reply, lang, Err(e)).await,
    };
    status_again(&state, &f.reply, f.client, refused.0, &refused.1).await
}

/// The answer to a status page form that did not go through: the status page again with the
/// reason while the guest is online, else the login page with it.
async fn status_again(
    state: &AppState,
    reply: &FormReply<'_>,
    client: Client,
    status: StatusCode,
    msg: &str,
) -> Response {
    match state.sessions.client_state(client).await {
        Ok(ClientState::Online(mut v)) => {
            v.notice = Some(msg.to_owned());
            let body = status_body(state, reply.lang, &v, &reply.token).await;
            page(state, reply.lang, false, status, &body)
        }
        _ => reply.again(status, msg).await,
    }
}

/// The answer to a login form: `303` to the status page, the status page itself when the
/// RADIUS server had something to say, or the login page with the reason.
async fn login_answer(
    state: &AppState,
    reply: &FormReply<'_>,
    lang: Language,
    result: Result<SessionView, LoginError>,
) -> Response {
    let t = text(lang);
    match result {
        Ok(v) if v.notice.is_some() => {
            let body = status_body(state, lang, &v, &reply.token).await;
            page(state, lang, false, StatusCode::OK, &body)
        }
        Ok(_) => see_other("/status"),
        Err(LoginError::Throttled { wait }) => {
            let mut resp = reply
                .again(StatusCode::TOO_MANY_REQUESTS, &text::throttled(lang, wait))
                .await;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
            resp
        }
        Err(LoginError::BadCode(e)) => {
            let msg = match lang {
                Language::English => {
                    let s = e.to_string();
                    let mut c = s.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>() + ".")
                        .unwrap_or(s)
                }
                Language::Swahili => {
                    "Nambari ya vocha ina herufi na tarakimu tu, kati ya 4 na 32.".to_owned()
                }
            };
            reply.again(StatusCode::BAD_REQUEST, &msg).await
        }
        Err(LoginError::Refused(r)) => {
            reply
                .again(StatusCode::FORBIDDEN, &text::refusal(lang, &r))
                .await
        }
        Err(LoginError::Blocked { reason }) => page(
            state,
            lang,
            false,
            StatusCode::FORBIDDEN,
            &blocked_body(lang, reason.as_deref()),
        ),
        Err(LoginError::RadiusRejected { message }) => {
            let msg = message.unwrap_or_else(|| t.radius_rejected.to_owned());
            reply.again(StatusCode::FORBIDDEN, &msg).await
        }
        Err(LoginError::RadiusUnavailable) => {
            reply
                .again(StatusCode::SERVICE_UNAVAILABLE, t.radius_unavailable)
                .await
        }
        Err(e @ (LoginError::Store(_) | LoginError::Firewall(_))) => {
            tracing::error!(error = %e, "login failed");
            reply
                .again(StatusCode::INTERNAL_SERVER_ERROR, t.try_again)
                .await
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (lang, _) = choose_language(&state.config, &headers, &uri);
    let t = text(lang);
    if let Err(resp) = read_form(&state, lang, addr, &headers, &body, &["token"]) {
        return resp;
    }
    let token = state.tokens.issue(&client_key(addr), state.sessions.now());
    let client = match state.sessions.identify(addr.ip()).await {
        Ok(c) => c,
        Err(_) => {
            let body = login_body(&state, lang, &token, Some((t.no_device, false)));
            return page(&state, lang, false, StatusCode::FORBIDDEN, &body);
        }
    };
    match state.sessions.logout(client.mac).await {
        Ok(_) => {
            let body = login_body(&state, lang, &token, Some((t.logged_out, true)));
            page(&state, lang, false, StatusCode::OK, &body)
        }
        Err(e) => {
            tracing::error!(error = %e, "logout failed");
            let body = login_body(&state, lang, &token, Some((t.try_again, false)));
            page(
                &state,
                lang,
                false,
                StatusCode::INTERNAL_SERVER_ERROR,
                &body,
            )
        }
    }
}

/// Answers a form post with the login page again (and the shop), a sentence on top.
struct FormReply<'a> {
    state: &'a AppState,
    lang: Language,
    token: String,
}

impl<'a> FormReply<'a> {
    fn new(state: &'a AppState, lang: Language, addr: SocketAddr) -> Self {
        let token = state.tokens.issue(&client_key(addr), state.sessions.now());
        Self { state, lang, token }
    }

    async fn again(&self, status: StatusCode, msg: &str) -> Response {
        let shop = shop_body(self.state, self.lang, &self.token, None).await;
        let body = login_body_with(
            self.state,
            self.lang,
            &self.token,
            Some((msg, false)),
            &shop,
            "",
        );
        page(self.state, self.lang, false, status, &body)
    }

    /// The client posting, or the page that says why it cannot be served.
    async fn identify(&self, addr: SocketAddr) -> Result<Client, Response> {
        let t = text(self.lang);
        match self.state.sessions.identify(addr.ip()).await {
            Ok(c) => Ok(c),
            Err(IdentityError::NoMac) => Err(self.again(StatusCode::FORBIDDEN, t.no_device).await),
            Err(IdentityError::NoLease) => Err(self.again(StatusCode::FORBIDDEN, t.no_lease).await),
        }
    }
}

/// The packages for sale with the phone form, or nothing when M-Pesa is not available here.
/// For a guest online (`session`), only the packages that would extend their session: bought
/// there, they are a top-up.
async fn shop_body(
    state: &AppState,
    lang: Language,
    token: &str,
    session: Option<&SessionView>,
) -> String {
    let Some(payments) = &state.payments else {
        return String::new();
    };
    let packages = match payments.packages().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "listing packages");
            return String::new();
        }
    };
    let packages: Vec<_> = packages
        .iter()
        .filter(|p| session.is_none_or(|v| p.extends(v.seconds_remaining, v.bytes_remaining)))
        .collect();
    if packages.is_empty() {
        return String::new();
    }
    let t = text(lang);
    let mut html = String::with_capacity(512 + 160 * packages.len());
    let _ = write!(
        html,
        "<h2>{}</h2><form method=\"post\" action=\"/buy\">",
        if session.is_some() {
            t.buy_more
        } else {
            t.buy_title
        }
    );
    for (i, p) in packages.iter().enumerate() {
        let mut what = Vec::new();
        if let Some(m) = p.duration_minutes {
            what.push(text::duration(m.max(0) as u64 * 60));
        }
        if let Some(mb) = p.data_limit_mb {
            what.push(format!("{mb} MB"));
        }
        let _ = write!(
            html,
            "<label class=\"pkg\"><input type=\"radio\" name=\"package\" value=\"{id}\"{checked} \
             required><span>{name}<br><small>{what}</small></span><strong>KES {price}</strong>\
             </label>",
            id = escape(&p.id),
            checked = if i == 0 { " checked" } else { "" },
            name = escape(&p.name),
            what = escape(&what.join(" · ")),
            price = p.price_kes,
        );
    }
    let _ = write!(
        html,
        "<label for=\"phone\">{label}</label><input id=\"phone\" name=\"phone\" type=\"tel\" \
         required maxlength=\"20\" inputmode=\"tel\" autocomplete=\"tel\" \
         placeholder=\"07XX XXX XXX\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <input type=\"hidden\" name=\"rid\" value=\"{rid}\">\
         <button type=\"submit\">{pay}</button></form>",
        label = t.phone_label,
        rid = uuid::Uuid::new_v4(),
        pay = t.pay,
    );
    html
}

/// `POST /buy`: starts an M-Pesa purchase and sends the guest to its status page.
async fn buy(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (lang, _) = choose_language(&state.config, &headers, &uri);
    let t = text(lang);
    let form = match read_form(
        &state,
        lang,
        addr,
        &headers,
        &body,
        &["package", "phone", "rid", "token"],
    ) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let reply = FormReply::new(&state, lang, addr);
    let Some(payments) = state.payments.clone() else {
        return reply
            .again(StatusCode::SERVICE_UNAVAILABLE, t.payments_unavailable)
            .await;
    };
    let Ok(request_id) = uuid::Uuid::parse_str(&form["rid"]) else {
        return reply.again(StatusCode::BAD_REQUEST, t.bad_form).await;
    };
    let client = match reply.identify(addr).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    // A guest online buys from the status page: a top-up of their session, with a package
    // that extends it.
    let top_up = match state.sessions.client_state(client).await {
        Ok(ClientState::Online(v)) => {
            let refused = match payments.packages().await {
                Ok(list) => (!list.iter().any(|p| {
                    p.id == form["package"] && p.extends(v.seconds_remaining, v.bytes_remaining)
                }))
                .then_some((StatusCode::BAD_REQUEST, t.unknown_package)),
                Err(e) => {
                    tracing::error!(error = %e, "listing packages");
                    Some((StatusCode::INTERNAL_SERVER_ERROR, t.try_again))
                }
            };
            if let Some((code, msg)) = refused {
                return status_again(&state, &reply, client, code, msg).await;
            }
            true
        }
        Ok(ClientState::Blocked { reason }) => {
            let body = blocked_body(lang, reason.as_deref());
            return page(&state, lang, false, StatusCode::FORBIDDEN, &body);
        }
        _ => false,
    };
    let result = payments
        .start(client, &form["package"], &form["phone"], request_id, top_up)
        .await;
    let (code, msg) = match result {
        Ok(p) => return see_other(&format!("/pay/{}", p.id)),
        Err(BuyError::Phone(hotspot_shared::phone::PhoneError::Empty)) => {
            (StatusCode::BAD_REQUEST, t.phone_empty)
        }
        Err(
            BuyError::Phone(_)
            | BuyError::Refused(hotspot_shared::purchase::RefusalReason::InvalidPhone),
        ) => (StatusCode::BAD_REQUEST, t.phone_invalid),
        Err(BuyError::UnknownPackage) => (StatusCode::BAD_REQUEST, t.unknown_package),
        Err(BuyError::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, t.payments_unavailable),
        Err(BuyError::Unreachable(_)) => (StatusCode::SERVICE_UNAVAILABLE, t.payments_unreachable),
        Err(e @ (BuyError::Refused(_) | BuyError::Store(_))) => {
            tracing::error!(error = %e, "starting a purchase");
            (StatusCode::INTERNAL_SERVER_ERROR, t.try_again)
        }
    };
    if top_up {
        status_again(&state, &reply, client, code, msg).await
    } else {
        reply.again(code, msg).await
    }
}

/// `GET /pay/{id}`: where the guest's purchase stands; refreshes itself while it is pending.
async fn pay_status(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let (lang, remember) = choose_language(&state.config, &headers, &uri);
    let t = text(lang);
    let (Some(payments), Ok(id)) = (state.payments.as_ref(), uuid::Uuid::parse_str(&id)) else {
        return see_other("/");
    };
    let Ok(client) = state.sessions.identify(addr.ip()).await else {
        return see_other("/");
    };
    let purchase = match payments.get(&id.to_string(), client.mac).await {
        Ok(Some(p)) => p,
        Ok(None) => return see_other("/"),
        Err(e) => {
            tracing::error!(error = %e, "reading a purchase");
            let body = message(t.try_again, false);
            return page(
                &state,
                lang,
                remember,
                StatusCode::INTERNAL_SERVER_ERROR,
                &body,
            );
        }
    };
    let online = matches!(
        state.sessions.client_state(client).await,
        Ok(ClientState::Online(_))
    );
    let check_again = format!(
        "<p><a id=\"again\" href=\"/pay/{id}\">{}</a></p>",
        t.check_again
    );
    let (body, refresh) = match purchase.status {
        Status::Paid if online && !purchase.top_up => return see_other("/status"),
        Status::Paid => {
            // A top-up is applied here too if the poll has not yet: once either way.
            payments.ensure_in(&purchase, client).await;
            match state.sessions.client_state(client).await {
                Ok(ClientState::Online(mut v)) if purchase.top_up => {
                    v.notice = Some(t.paid_topped_up.to_owned());
                    let token = state.tokens.issue(&client_key(addr), state.sessions.now());
                    let body = status_body(&state, lang, &v, &token).await;
                    return page(&state, lang, remember, StatusCode::OK, &body);
                }
                Ok(ClientState::Online(_)) => return see_other("/status"),
                _ => {}
            }
            (
                format!(
                    "{}<p>M-Pesa: <strong id=\"receipt\">{}</strong></p>{check_again}",
                    message(t.paid_connecting, true),
                    escape(purchase.receipt.as_deref().unwrap_or(""))
                ),
                true,
            )
        }
        Status::Pending => (
            format!(
                "{}{check_again}",
                message(
                    &text::check_phone(lang, purchase.amount_kes, &purchase.phone_hint),
                    true
                )
            ),
            true,
        ),
        Status::Failed(reason) => (
            format!(
                "{}<p><a id=\"retry\" href=\"/\">{}</a></p>",
                message(text::payment_failure(lang, reason), false),
                t.retry
            ),
            false,
        ),
    };
    let mut resp = page(&state, lang, remember, StatusCode::OK, &body);
    if refresh {
        // Honoured by browsers and the OS captive windows alike, without JavaScript.
        resp.headers_mut()
            .insert("refresh", HeaderValue::from_static("3"));
    }
    resp
}

/// RFC 8908: the client's captive state as `application/captive+json`.
async fn captive_api(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Response {
    let mut doc = serde_json::json!({
        "captive": true,
        "user-portal-url": state.config.base_url,
    });
    if let Ok(client) = state.sessions.identify(addr.ip()).await
        && let Ok(ClientState::Online(v)) = state.sessions.client_state(client).await
    {
        doc["captive"] = false.into();
        if let Some(s) = v.seconds_remaining {
            doc["seconds-remaining"] = s.into();
        }
        if let Some(b) = v.bytes_remaining {
            doc["bytes-remaining"] = b.into();
        }
        // A session with a time or data limit can be extended on the status page: by another
        // voucher always, and by an M-Pesa purchase where packages are for sale here.
        let extendable = v.seconds_remaining.is_some() || v.bytes_remaining.is_some();
        doc["can-extend-session"] = extendable.into();
    }
    let mut resp = (StatusCode::OK, doc.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/captive+json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portal_link_fills_in_the_code() {
        let code = |q: &str| code_from_link(&q.parse::<Uri>().unwrap());
        assert_eq!(code("/?code=AB12-CD"), "AB12-CD");
        assert_eq!(code("/?lang=sw&code=X9"), "X9");
        assert_eq!(code("/"), "");
        assert_eq!(code("/?code=%22%3E%3Cscript%3E"), "");
        assert_eq!(code("/?code=a%20b"), "");
        assert_eq!(code(&format!("/?code={}", "A".repeat(41))), "");
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn probes_by_host_and_path() {
        assert_eq!(probe_kind("captive.apple.com", "/"), Some(Probe::Apple));
        assert_eq!(probe_kind("x", "/generate_204"), Some(Probe::Android));
        assert_eq!(probe_kind("x", "/ncsi.txt"), Some(Probe::WindowsNcsi));
        assert_eq!(probe_kind("x", "/"), None);
    }

    #[test]
    fn host_header_forms() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("Captive.Apple.com:80"),
        );
        assert_eq!(request_host(&h), "captive.apple.com");
        h.insert(header::HOST, HeaderValue::from_static("[fd00::1]:2050"));
        assert_eq!(request_host(&h), "fd00::1");
    }
}
