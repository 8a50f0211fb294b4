//! Settings, for the tenant's administrators (the API's [`Admin`] set): the M-Pesa credentials
//! (secrets write-only: shown only as set or not set), the portal branding every router shows
//! (its logo uploaded as `multipart/form-data`, read by [`multipart`]; no script needed), the
//! staff accounts and their roles, and
//! the RADIUS NAS list (a NAS's secret shown once, when it is made and when it is replaced; a
//! NAS's own page to change it, including the claimed router it is). The accounts and the NAS
//! are each keyset-paged and searched by the page's query ([`SettingsQuery`]); an account's
//! roles are ticked boxes, several at once (repeated `role` fields, read as the posted pairs by
//! [`CsrfForm`]). Every write is the API's
//! own service function ([`business::save_mpesa`], [`branding::save`],
//! [`branding::remove_logo`], [`users::insert_user`],
//! [`users::update_roles`], [`users::deactivate_user`], [`radius::insert_nas`],
//! [`radius::change_nas`], [`radius::replace_secret`], [`radius::remove_nas`]) in the request's
//! tenant transaction.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Empty, Frame, page};
use crate::AppState;
use crate::api::auth::{Admin, Role};
use crate::api::branding::{self, BrandingInput, BrandingView};
use crate::api::business::{self, MpesaInput, MpesaView};
use crate::api::error::ApiError;
use crate::api::radius::{self, NasInput, NasPatch};
use crate::api::users::{self, NewUser};
use crate::api::{decode_cursor, encode_cursor};

/// At most this many sites and routers are offered in a form's select.
const LIST_LIMIT: i64 = 500;
/// Accounts, and NAS, per page of their lists.
pub const PAGE: i64 = 50;
/// The longest search accepted.
const SEARCH_MAX: usize = 100;

/// The settings page's query: each list's search and the cursor of its page (`uq`, `uafter`
/// for the accounts, keyset on (e-mail, id); `nq`, `nafter` for the NAS, keyset on id).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct SettingsQuery {
    #[serde(default)]
    pub uq: String,
    pub uafter: Option<String>,
    #[serde(default)]
    pub nq: String,
    pub nafter: Option<String>,
}

/// Whether a search can be used (not too long, no control characters).
fn search_ok(q: &str) -> bool {
    q.chars().count() <= SEARCH_MAX && !q.chars().any(char::is_control)
}

/// The NAS types offered (the API also takes `routeros`, an older name of `mikrotik`).
const NAS_TYPES: [&str; 8] = [
    "mikrotik",
    "coovachilli",
    "chillispot",
    "uspot",
    "openwrt",
    "cisco",
    "ubiquiti",
    "other",
];

/// The roles an administrator can give (not the platform's own).
pub const TENANT_ROLES: [Role; 4] = [
    Role::TenantAdmin,
    Role::NocEngineer,
    Role::SupportAgent,
    Role::FieldTech,
];

#[derive(Debug)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    /// Every role of the account, as stored (the platform's too).
    roles: String,
    /// Its roles among [`TENANT_ROLES`] (the ticked boxes).
    held: Vec<Role>,
    active: bool,
    mfa: bool,
    last_login: Option<String>,
    me: bool,
}

impl UserRow {
    /// Whether the account holds `role` (its box is ticked).
    fn holds(&self, role: &Role) -> bool {
        self.held.contains(role)
    }
}

/// The message id of a tenant role's name (its box's label).
pub fn role_label(role: &Role) -> &'static str {
    match role {
        Role::TenantAdmin => "set.role_tenant_admin",
        Role::NocEngineer => "set.role_noc_engineer",
        Role::SupportAgent => "set.role_support_agent",
        Role::FieldTech => "set.role_field_tech",
        _ => "set.role_other",
    }
}

#[derive(Debug)]
struct NasRow {
    id: i32,
    address: String,
    name: String,
    kind: String,
    site: String,
    /// The claimed router it is (host name), empty when none.
    router: String,
}

/// A value shown once (a NAS's secret, the M-Pesa callback token).
#[derive(Debug)]
struct Once {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    f: Frame,
    mpesa: Option<MpesaView>,
    brand: Option<BrandingView>,
    users: Vec<UserRow>,
    nas: Vec<NasRow>,
    /// The lists' searches and cursors as asked.
    q: SettingsQuery,
    /// The cursors of the lists' next pages.
    users_next: Option<String>,
    nas_next: Option<String>,
    /// A search that cannot be used (shown as such, 422).
    bad_search: bool,
    sites: Vec<(Uuid, String)>,
    roles: [Role; 4],
    nas_types: [&'static str; 8],
    error: Option<String>,
    once: Option<Once>,
}

impl SettingsPage {
    /// The message id of a role's box label.
    fn role_name(&self, role: &Role) -> &'static str {
        role_label(role)
    }

    /// The branding form's values: what is stored, else the portal's own defaults.
    fn brand_values(&self) -> (String, String, String, String) {
        match &self.brand {
            Some(b) => (
                b.title.clone(),
                b.welcome.clone(),
                b.accent_color.clone(),
                b.support_phone.clone().unwrap_or_default(),
            ),
            None => (
                "Free WiFi".into(),
                "Enter your voucher code to get online.".into(),
                "#0a7d55".into(),
                String::new(),
            ),
        }
    }

    /// The M-Pesa environments, the stored one chosen.
    fn environments(&self) -> [(&'static str, bool); 2] {
        let stored = self.mpesa.as_ref().map(|m| m.environment.as_str());
        ["sandbox", "production"].map(|e| (e, stored == Some(e)))
    }

    /// The M-Pesa secrets' fields: name, label, whether one is stored.
    fn secrets(&self) -> [(&'static str, &'static str, bool); 3] {
        let m = self.mpesa.as_ref();
        [
            ("passkey", "set.passkey", m.is_some_and(|m| m.passkey_set)),
            (
                "consumer_key",
                "set.consumer_key",
                m.is_some_and(|m| m.consumer_key_set),
            ),
            (
                "consumer_secret",
                "set.consumer_secret",
                m.is_some_and(|m| m.consumer_secret_set),
            ),
        ]
    }
}

/// The reasons of a refused write, one line; `None` when it is not the input's fault.
fn reasons(e: &ApiError) -> Option<String> {
    match e {
        ApiError::Conflict(d) => Some(d.clone()),
        e => super::input_reasons(e),
    }
}

/// One page of the accounts (keyset on e-mail, id), searched by e-mail or name, and the cursor
/// of the next; a cursor this page did not give is not found.
async fn user_list(
    tx: &deadpool_postgres::Transaction<'_>,
    me: Uuid,
    q: &SettingsQuery,
) -> ConsoleResult<(Vec<UserRow>, Option<String>)> {
    let (after_email, after_id) = match q.uafter.as_deref() {
        Some(c) => {
            let parts = decode_cursor(c, 2).map_err(|_| ConsoleError::NotFound)?;
            let id = Uuid::parse_str(&parts[1]).map_err(|_| ConsoleError::NotFound)?;
            (Some(parts[0].clone()), Some(id))
        }
        None => (None, None),
    };
    let search = q.uq.trim();
    let pattern = (!search.is_empty()).then(|| super::clients::like_pattern(search));
    let rows = tx
        .query(
            &format!(
                "SELECT u.id, u.email::text, coalesce(u.full_name, '')::text, u.roles,
                        coalesce(u.is_active, false), u.mfa_enabled,
                        to_char(u.last_login_at, 'YYYY-MM-DD HH24:MI')
                 FROM ({}) u
                 WHERE ($1::text IS NULL OR u.email::text ILIKE $1 OR u.full_name::text ILIKE $1)
                   AND ($2::text IS NULL OR (u.email::text, u.id) > ($2, $3::uuid))
                 ORDER BY u.email::text, u.id LIMIT $4",
                users::USER_SELECT
            ),
            &[&pattern, &after_email, &after_id, &(PAGE + 1)],
        )
        .await?;
    let mut users: Vec<UserRow> = rows
        .iter()
        .map(|r| {
            let stored: Vec<String> = r
                .get::<_, serde_json::Value>(3)
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            UserRow {
                id: r.get(0),
                email: r.get(1),
                name: r.get(2),
                roles: stored.join(", "),
                held: TENANT_ROLES
                    .into_iter()
                    .filter(|t| stored.iter().any(|s| s == t.as_str()))
                    .collect(),
                active: r.get(4),
                mfa: r.get(5),
                last_login: r.get(6),
                me: r.get::<_, Uuid>(0) == me,
            }
        })
        .collect();
    let next = if users.len() as i64 > PAGE {
        users.truncate(PAGE as usize);
        users
            .last()
            .map(|u| encode_cursor(&[u.email.clone(), u.id.to_string()]))
    } else {
        None
    };
    Ok((users, next))
}

/// One page of the NAS (keyset on id), searched by address or short name, and the cursor of
/// the next; a cursor this page did not give is not found.
async fn nas_list(
    tx: &deadpool_postgres::Transaction<'_>,
    q: &SettingsQuery,
) -> ConsoleResult<(Vec<NasRow>, Option<String>)> {
    let after: Option<i32> = match q.nafter.as_deref() {
        Some(c) => Some(
            decode_cursor(c, 1)
                .ok()
                .and_then(|p| p[0].parse().ok())
                .ok_or(ConsoleError::NotFound)?,
        ),
        None => None,
    };
    let search = q.nq.trim();
    let pattern = (!search.is_empty()).then(|| super::clients::like_pattern(search));
    let mut nas: Vec<NasRow> = tx
        .query(
            &format!(
                "SELECT n.id, n.nasname::text, coalesce(n.shortname, '')::text,
                        coalesce(n.type, '')::text, coalesce(h.name, '')::text,
                        CASE WHEN d.id IS NULL THEN ''
                             ELSE coalesce(d.hostname, d.id::text) END::text
                 FROM ({}) n LEFT JOIN hotspots h ON h.id = n.hotspot_id
                 LEFT JOIN hotspot_devices d ON d.id = n.device_id
                 WHERE ($1::text IS NULL OR n.nasname::text ILIKE $1
                        OR n.shortname::text ILIKE $1)
                   AND ($2::int IS NULL OR n.id > $2)
                 ORDER BY n.id LIMIT $3",
                radius::NAS_SELECT
            ),
            &[&pattern, &after, &(PAGE + 1)],
        )
        .await?
        .iter()
        .map(|r| NasRow {
            id: r.get(0),
            address: r.get(1),
            name: r.get(2),
            kind: r.get(3),
            site: r.get(4),
            router: r.get(5),
        })
        .collect();
    let next = if nas.len() as i64 > PAGE {
        nas.truncate(PAGE as usize);
        nas.last().map(|n| encode_cursor(&[n.id.to_string()]))
    } else {
        None
    };
    Ok((nas, next))
}

async fn settings_page(
    state: &AppState,
    user: &Console<Admin>,
    q: SettingsQuery,
    error: Option<String>,
    once: Option<Once>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let bad_search = !search_ok(&q.uq) || !search_ok(&q.nq);
    // A search that cannot be used is said so (422), over the lists' first pages unsearched.
    let (q, status) = if bad_search {
        (SettingsQuery::default(), StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        (q, status)
    };
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let mpesa = business::mpesa_view(&tx).await?;
    let brand = branding::view(&tx).await?;
    let (users, users_next) = user_list(&tx, user.user_id, &q).await?;
    let (nas, nas_next) = nas_list(&tx, &q).await?;
    let sites = tx
        .query(
            "SELECT id, coalesce(name, '')::text FROM hotspots ORDER BY name, id LIMIT $1",
            &[&LIST_LIMIT],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    tx.commit().await?;
    let body = SettingsPage {
        f: user.frame("/console/settings", "settings"),
        mpesa,
        brand,
        users,
        nas,
        users_next,
        nas_next,
        bad_search,
        q,
        sites,
        roles: TENANT_ROLES,
        nas_types: NAS_TYPES,
        error,
        once,
    };
    page(status, &body)
}

/// `GET /console/settings?uq=…&uafter=…&nq=…&nafter=…`
pub async fn show(
    State(state): State<AppState>,
    user: Console<Admin>,
    Query(q): Query<SettingsQuery>,
) -> Response {
    settings_page(&state, &user, q, None, None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

/// Runs `write` in the user's tenant transaction; a refusal of the input re-renders the page
/// with its reasons (422) and changes nothing.
async fn write<T, F>(state: &AppState, user: &Console<Admin>, write: F) -> Result<T, Response>
where
    F: AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<T, ApiError>,
{
    let result: Result<T, ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        let out = write(&tx).await?;
        tx.commit().await?;
        Ok(out)
    }
    .await;
    match result {
        Ok(v) => Ok(v),
        Err(ApiError::NotFound) => Err(ConsoleError::NotFound.render(user.lang)),
        Err(e) => Err(match reasons(&e) {
            Some(message) => settings_page(
                state,
                user,
                SettingsQuery::default(),
                Some(message),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
            .unwrap_or_else(|e| e.render(user.lang)),
            None => ConsoleError::from(e).render(user.lang),
        }),
    }
}

fn back() -> Response {
    Redirect::to("/console/settings").into_response()
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// The M-Pesa form: a secret left empty keeps the stored one.
#[derive(Debug, Deserialize)]
pub struct MpesaForm {
    #[serde(default)]
    pub paybill_number: String,
    #[serde(default)]
    pub shortcode: String,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub passkey: String,
    #[serde(default)]
    pub consumer_key: String,
    #[serde(default)]
    pub consumer_secret: String,
    #[serde(default)]
    pub is_active: Option<String>,
}

/// `POST /console/settings/mpesa`
pub async fn mpesa(
    State(state): State<AppState>,
    user: Console<Admin>,
    CsrfForm(form): CsrfForm<MpesaForm>,
) -> Response {
    // Secrets are taken as typed (not trimmed): they are the provider's, byte for byte.
    let secret = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let input = MpesaInput {
        paybill_number: form.paybill_number.trim().to_owned(),
        shortcode: opt(&form.shortcode),
        environment: opt(&form.environment),
        passkey: secret(&form.passkey),
        consumer_key: secret(&form.consumer_key),
        consumer_secret: secret(&form.consumer_secret),
        is_active: Some(form.is_active.is_some()),
    };
    let st = state.clone();
    match write(&state, &user, async |tx| {
        business::save_mpesa(&st, tx, &input).await
    })
    .await
    {
        Ok(view) => match view.callback_token {
            Some(token) => settings_page(
                &state,
                &user,
                SettingsQuery::default(),
                None,
                Some(Once {
                    label: "set.callback_token",
                    value: token,
                }),
                StatusCode::OK,
            )
            .await
            .unwrap_or_else(|e| e.render(user.lang)),
            None => back(),
        },
        Err(resp) => resp,
    }
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: &'a str,
    /// The file's name, for a file input (empty when none was chosen).
    pub filename: Option<&'a str>,
    pub data: &'a [u8],
}

/// Most parts in a form body (the branding form has six).
const MAX_PARTS: usize = 16;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The parts of a `multipart/form-data` body (RFC 7578), or why it cannot be read.
pub fn multipart<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<Part<'a>>, &'static str> {
    let bad = "the form could not be read";
    let (kind, params) = content_type.split_once(';').ok_or(bad)?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(bad);
    }
    let boundary = params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or(bad)?;
    let delim = format!("--{boundary}");
    let close = format!("\r\n{delim}");
    let mut rest = &body[find(body, delim.as_bytes()).ok_or(bad)? + delim.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if parts.len() == MAX_PARTS {
            return Err(bad);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(bad)?;
        let head_end = find(rest, b"\r\n\r\n").ok_or(bad)?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| bad)?;
        rest = &rest[head_end + 4..];
        let end = find(rest, close.as_bytes()).ok_or(bad)?;
        let data = &rest[..end];
        rest = &rest[end + close.len()..];
        let disposition = head
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then_some(v)
            })
            .ok_or(bad)?;
        let param = |key: &str| {
            disposition.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == key).then(|| v.trim_matches('"'))
            })
        };
        parts.push(Part {
            name: param("name").ok_or(bad)?,
            filename: param("filename"),
            data,
        });
    }
}

/// A branding form as sent (`multipart/form-data`): the texts as typed (empty when left out)
/// and the logo file, when one was chosen, in standard base64.
pub(super) struct BrandingForm {
    pub title: String,
    pub welcome: String,
    pub accent_color: String,
    pub support_phone: String,
    pub logo: Option<String>,
}

/// Reads a branding form (the settings page's and a site page's): its parts by [`multipart`]
/// and its CSRF token; the response to send when it cannot be read or the token is wrong.
pub(super) fn branding_form(
    headers: &axum::http::HeaderMap,
    body: &[u8],
    lang: super::i18n::Lang,
) -> Result<BrandingForm, Box<Response>> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parts = match multipart(content_type, body) {
        Ok(p) => p,
        Err(reason) => return Err(Box::new((StatusCode::BAD_REQUEST, reason).into_response())),
    };
    let text = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(p.data).into_owned())
            .unwrap_or_default()
    };
    if !super::csrf_ok(headers, &text("csrf")) {
        return Err(Box::new(ConsoleError::Csrf.render(lang)));
    }
    use base64::Engine;
    let logo = parts
        .iter()
        .find(|p| p.name == "logo" && p.filename.is_some() && !p.data.is_empty())
        .map(|p| base64::engine::general_purpose::STANDARD.encode(p.data));
    Ok(BrandingForm {
        title: text("title"),
        welcome: text("welcome"),
        accent_color: text("accent_color"),
        support_phone: text("support_phone"),
        logo,
    })
}

/// `POST /console/settings/branding` (`multipart/form-data`): the texts, the colour and, when a
/// file is chosen, the logo. Checked by the API's own function: a refusal re-renders the page
/// with its reasons and changes nothing.
pub async fn branding(
    State(state): State<AppState>,
    user: Console<Admin>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = match branding_form(&headers, &body, user.lang) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let input = BrandingInput {
        title: form.title,
        welcome: form.welcome,
        accent_color: form.accent_color,
        support_phone: Some(form.support_phone),
        logo: form.logo,
        remove_logo: None,
    };
    let actor = user.user_id;
    match write(&state, &user, async |tx| {
        branding::save(tx, actor, &input).await
    })
    .await
    {
        Ok(_) => Redirect::to("/console/settings#branding").into_response(),
        Err(resp) => resp,
    }
}

/// `POST /console/settings/branding/logo/remove`
pub async fn remove_branding_logo(
    State(state): State<AppState>,
    user: Console<Admin>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let actor = user.user_id;
    match write(&state, &user, async |tx| {
        branding::remove_logo(tx, actor).await
    })
    .await
    {
        Ok(_) => Redirect::to("/console/settings#branding").into_response(),
        Err(resp) => resp,
    }
}

/// `GET /console/settings/branding/logo`: the stored logo (not cached, as no console page is;
/// the page adds the version to the address all the same).
pub async fn branding_logo(State(state): State<AppState>, user: Console<Admin>) -> Response {
    let found: ConsoleResult<Option<(String, Vec<u8>)>> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let logo = branding::logo(&tx).await?;
        tx.commit().await?;
        Ok(logo)
    }
    .await;
    logo_response(found, user.lang)
}

/// A stored logo as a response, in its own content type (none: 404).
pub(super) fn logo_response(
    found: ConsoleResult<Option<(String, Vec<u8>)>>,
    lang: super::i18n::Lang,
) -> Response {
    match found {
        Ok(Some((content_type, bytes))) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            if let Ok(v) = axum::http::HeaderValue::from_str(&content_type) {
                h.insert(axum::http::header::CONTENT_TYPE, v);
            }
            resp
        }
        Ok(None) => ConsoleError::NotFound.render(lang),
        Err(e) => e.render(lang),
    }
}

/// The new-account form: each ticked role box is one repeated `role` field.
#[derive(Debug, Default)]
pub struct UserForm {
    pub email: String,
    pub full_name: String,
    pub password: String,
    /// The `role` fields, as posted.
    pub roles: Vec<String>,
}

impl UserForm {
    /// The form from its posted fields (a repeated field other than `role`: its last value).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut form = UserForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "email" => form.email = v,
                "full_name" => form.full_name = v,
                "password" => form.password = v,
                "role" => form.roles.push(v),
                _ => {}
            }
        }
        form
    }
}

/// The roles ticked on a form (its `role` fields), each once, in the order of
/// [`TENANT_ROLES`]: refused when none is ticked or one is not a role an organisation gives.
pub fn roles_of(given: &[String]) -> Result<Vec<Role>, ApiError> {
    let mut ticked = Vec::new();
    for g in given {
        let role = Role::parse(g.trim())
            .filter(|r| TENANT_ROLES.contains(r))
            .ok_or_else(|| ApiError::field("role", "must be one of the organisation's roles"))?;
        ticked.push(role);
    }
    let roles: Vec<Role> = TENANT_ROLES
        .into_iter()
        .filter(|r| ticked.contains(r))
        .collect();
    if roles.is_empty() {
        return Err(ApiError::field("role", "tick at least one role"));
    }
    Ok(roles)
}

/// The roles posted on a form (repeated `role` fields) and its token: the pairs as sent.
type Pairs = CsrfForm<Vec<(String, String)>>;

/// `POST /console/settings/users`: an account with the ticked roles (at least one).
pub async fn create_user(
    State(state): State<AppState>,
    user: Console<Admin>,
    CsrfForm(pairs): Pairs,
) -> Response {
    let form = UserForm::from_pairs(pairs);
    let actor = user.user_id;
    let made = write(&state, &user, async |tx| {
        let new = NewUser {
            email: form.email.clone(),
            password: form.password.clone(),
            full_name: opt(&form.full_name),
            roles: roles_of(&form.roles)?,
        };
        users::insert_user(tx, actor, &new).await
    })
    .await;
    made.map(|_| back()).unwrap_or_else(|r| r)
}

/// `POST /console/settings/users/{id}/role`: the account's tenant roles become the ticked ones
/// (at least one; the API's `users::update_roles` and its checks: not one's own
/// `tenant_admin`; the platform's role, if held, kept).
pub async fn set_role(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<Uuid>,
    CsrfForm(pairs): Pairs,
) -> Response {
    let given: Vec<String> = pairs
        .into_iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v)
        .collect();
    let actor = user.user_id;
    let done = write(&state, &user, async |tx| {
        users::update_roles(tx, actor, id, &roles_of(&given)?).await
    })
    .await;
    done.map(|_| back()).unwrap_or_else(|r| r)
}

/// `POST /console/settings/users/{id}/deactivate`
pub async fn deactivate(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let actor = user.user_id;
    let done = write(&state, &user, async |tx| {
        users::deactivate_user(tx, actor, id).await
    })
    .await;
    done.map(|_| back()).unwrap_or_else(|r| r)
}

/// `POST /console/settings/users/{id}/mfa-reset`: removes another account's second factor and
/// recovery codes and signs it out everywhere (`auth::reset_second_factor`, as
/// `POST /api/v1/users/{id}/mfa/reset`).
pub async fn reset_mfa(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let actor = user.user_id;
    let done = write(&state, &user, async |tx| {
        crate::api::auth::reset_second_factor(tx, actor, id).await
    })
    .await;
    done.map(|_| back()).unwrap_or_else(|r| r)
}

/// The new-NAS form.
#[derive(Debug, Deserialize)]
pub struct NasForm {
    #[serde(default)]
    pub nasname: String,
    #[serde(default)]
    pub shortname: String,
    #[serde(default, rename = "type")]
    pub nas_type: String,
    #[serde(default)]
    pub description: String,
    /// The site it serves (empty: none).
    #[serde(default)]
    pub hotspot_id: String,
}

/// `POST /console/settings/nas`: registers a NAS; its secret is shown on the answer only.
pub async fn create_nas(
    State(state): State<AppState>,
    user: Console<Admin>,
    CsrfForm(form): CsrfForm<NasForm>,
) -> Response {
    let actor = user.user_id;
    let made = write(&state, &user, async |tx| {
        let hotspot_id = site_of(tx, &form.hotspot_id).await?;
        let input = NasInput {
            nasname: form.nasname.clone(),
            shortname: form.shortname.clone(),
            nas_type: opt(&form.nas_type),
            description: opt(&form.description),
            coa_port: None,
            require_ma: None,
            limit_proxy_state: None,
            hotspot_id,
            tls_fingerprint: None,
            device_id: None,
        };
        radius::insert_nas(tx, actor, &input).await
    })
    .await;
    match made {
        Ok((id, secret)) => {
            tracing::info!(nas = id, "NAS registered");
            settings_page(
                &state,
                &user,
                SettingsQuery::default(),
                None,
                Some(Once {
                    label: "set.nas_secret",
                    value: secret,
                }),
                StatusCode::CREATED,
            )
            .await
            .unwrap_or_else(|e| e.render(user.lang))
        }
        Err(resp) => resp,
    }
}

/// `POST /console/settings/nas/{id}/delete`
pub async fn delete_nas(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<i32>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let done = write(&state, &user, async |tx| radius::remove_nas(tx, id).await).await;
    match done {
        Ok(()) => {
            tracing::info!(nas = id, "NAS removed");
            back()
        }
        Err(resp) => resp,
    }
}

/// The site chosen in a form (empty: none), one of the tenant's in `tx`.
async fn site_of(
    tx: &deadpool_postgres::Transaction<'_>,
    given: &str,
) -> Result<Option<Uuid>, ApiError> {
    let site = match given.trim() {
        "" => return Ok(None),
        s => Uuid::parse_str(s).map_err(|_| ApiError::field("hotspot_id", "not a site"))?,
    };
    if tx
        .query_opt("SELECT 1 FROM hotspots WHERE id = $1", &[&site])
        .await?
        .is_none()
    {
        return Err(ApiError::field("hotspot_id", "not a site"));
    }
    Ok(Some(site))
}

/// A NAS's edit form: the fields of the API's change, as typed. An empty site or router
/// removes it; an empty CoA port or certificate fingerprint keeps the stored one.
#[derive(Debug, Default, Deserialize)]
pub struct NasEditForm {
    #[serde(default)]
    pub nasname: String,
    #[serde(default)]
    pub shortname: String,
    #[serde(default, rename = "type")]
    pub nas_type: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub coa_port: String,
    #[serde(default)]
    pub require_ma: String,
    #[serde(default)]
    pub limit_proxy_state: String,
    #[serde(default)]
    pub hotspot_id: String,
    #[serde(default)]
    pub tls_fingerprint: String,
    /// The claimed router it is (`hotspot_devices.id`; empty: none).
    #[serde(default)]
    pub device_id: String,
}

impl NasEditForm {
    /// The API's change, the site checked in `tx`; a router is checked by the change itself.
    async fn patch(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<NasPatch, ApiError> {
        let coa_port = match self.coa_port.trim() {
            "" => None,
            p => Some(
                p.parse::<i32>()
                    .map_err(|_| ApiError::field("coa_port", "must be a port, 1 to 65535"))?,
            ),
        };
        let device_id = match self.device_id.trim() {
            "" => None,
            d => Some(Uuid::parse_str(d).map_err(|_| {
                ApiError::field("device_id", "is not a router of this organisation")
            })?),
        };
        Ok(NasPatch {
            nasname: Some(self.nasname.clone()),
            shortname: Some(self.shortname.clone()),
            nas_type: opt(&self.nas_type),
            description: Some(self.description.trim().to_owned()),
            coa_port,
            require_ma: opt(&self.require_ma),
            limit_proxy_state: opt(&self.limit_proxy_state),
            hotspot_id: Some(site_of(tx, &self.hotspot_id).await?),
            tls_fingerprint: opt(&self.tls_fingerprint),
            device_id: Some(device_id),
        })
    }
}

/// One option of a select: value, label, whether it is the chosen one.
#[derive(Debug)]
struct Choice {
    value: String,
    label: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "console/nas.html")]
struct NasPage {
    f: Frame,
    id: i32,
    form: NasEditForm,
    types: Vec<Choice>,
    require_ma: Vec<Choice>,
    limit_proxy_state: Vec<Choice>,
    sites: Vec<Choice>,
    routers: Vec<Choice>,
    error: Option<String>,
}

/// The options `values`, the one equal to `given` chosen.
fn choices(values: &[&str], given: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: (*v).to_owned(),
            label: (*v).to_owned(),
            chosen: *v == given,
        })
        .collect()
}

/// The page of NAS `id`: `form` as typed, or the stored NAS when `None`; the tenant's sites and
/// its claimed routers (and the one linked now, claimed or not) to choose from. Not found for
/// another tenant's NAS.
async fn nas_page(
    state: &AppState,
    user: &Console<Admin>,
    id: i32,
    form: Option<NasEditForm>,
    error: Option<String>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT n.nasname::text, coalesce(n.shortname, '')::text,
                        coalesce(n.type, '')::text, coalesce(n.description, '')::text,
                        n.coa_port, coalesce(n.require_ma, '')::text,
                        coalesce(n.limit_proxy_state, '')::text, n.hotspot_id,
                        coalesce(n.tls_fingerprint, '')::text, n.device_id
                 FROM ({}) n WHERE n.id = $1",
                radius::NAS_SELECT
            ),
            &[&id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let linked: Option<Uuid> = row.get(9);
    let text = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    let form = form.unwrap_or_else(|| NasEditForm {
        nasname: row.get(0),
        shortname: row.get(1),
        nas_type: row.get(2),
        description: row.get(3),
        coa_port: row
            .get::<_, Option<i32>>(4)
            .map(|p| p.to_string())
            .unwrap_or_default(),
        require_ma: row.get(5),
        limit_proxy_state: row.get(6),
        hotspot_id: text(row.get(7)),
        tls_fingerprint: row.get(8),
        device_id: text(linked),
    });
    let none = |label: &str, chosen: bool| Choice {
        value: String::new(),
        label: label.to_owned(),
        chosen,
    };
    let t = super::i18n::Tr(user.lang);
    let mut sites = vec![none(t.get("v.any"), form.hotspot_id.is_empty())];
    sites.extend(
        tx.query(
            "SELECT id::text, coalesce(name, '')::text FROM hotspots ORDER BY name, id LIMIT $1",
            &[&LIST_LIMIT],
        )
        .await?
        .iter()
        .map(|r| Choice {
            value: r.get(0),
            label: r.get(1),
            chosen: r.get::<_, String>(0) == form.hotspot_id,
        }),
    );
    let mut routers = vec![none(t.get("set.nas_no_router"), form.device_id.is_empty())];
    routers.extend(
        tx.query(
            "SELECT d.id::text, coalesce(d.hostname, d.id::text)::text, coalesce(h.name, '')::text
             FROM hotspot_devices d LEFT JOIN hotspots h ON h.id = d.hotspot_id
             WHERE (d.token_hash IS NOT NULL AND d.revoked_at IS NULL) OR d.id = $1
             ORDER BY h.name, d.hostname, d.id LIMIT $2",
            &[&linked, &LIST_LIMIT],
        )
        .await?
        .iter()
        .map(|r| Choice {
            value: r.get(0),
            label: format!("{} ({})", r.get::<_, String>(1), r.get::<_, String>(2)),
            chosen: r.get::<_, String>(0) == form.device_id,
        }),
    );
    tx.commit().await?;
    let mut types = choices(&NAS_TYPES, &form.nas_type);
    if !types.iter().any(|c| c.chosen) && !form.nas_type.is_empty() {
        // A type the list does not offer (`routeros`) stays as it is unless changed.
        types.push(Choice {
            value: form.nas_type.clone(),
            label: form.nas_type.clone(),
            chosen: true,
        });
    }
    let body = NasPage {
        f: user.frame(&format!("/console/settings/nas/{id}"), "settings"),
        id,
        types,
        require_ma: choices(&["yes", "auto", "no"], &form.require_ma),
        limit_proxy_state: choices(&["yes", "auto", "no"], &form.limit_proxy_state),
        sites,
        routers,
        form,
        error,
    };
    page(status, &body)
}

/// `GET /console/settings/nas/{id}`: the NAS's edit form and its secret's replacement.
pub async fn edit_nas(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<i32>,
) -> Response {
    nas_page(&state, &user, id, None, None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

/// `POST /console/settings/nas/{id}`: the changes (the API's, checked as it checks them), then
/// the settings; a refusal shows the form again with its reasons and changes nothing.
pub async fn update_nas(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<i32>,
    CsrfForm(form): CsrfForm<NasEditForm>,
) -> Response {
    let lang = user.lang;
    let result: Result<(), ApiError> = async {
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        // Another tenant's NAS is not found, whatever the form says.
        if tx
            .query_opt("SELECT 1 FROM nas WHERE id = $1", &[&id])
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound);
        }
        let patch = form.patch(&tx).await?;
        radius::change_nas(&tx, user.user_id, id, &patch).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(nas = id, "NAS changed");
            back()
        }
        Err(ApiError::NotFound) => ConsoleError::NotFound.render(lang),
        Err(e) => match reasons(&e) {
            Some(message) => nas_page(
                &state,
                &user,
                id,
                Some(form),
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
            .unwrap_or_else(|e| e.render(lang)),
            None => ConsoleError::from(e).render(lang),
        },
    }
}

/// `POST /console/settings/nas/{id}/secret`: replaces the NAS's secret; the new one is shown on
/// the answer only.
pub async fn replace_secret(
    State(state): State<AppState>,
    user: Console<Admin>,
    Path(id): Path<i32>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let actor = user.user_id;
    let done = write(&state, &user, async |tx| {
        radius::replace_secret(tx, actor, id).await
    })
    .await;
    match done {
        Ok(secret) => {
            tracing::info!(nas = id, "NAS secret replaced");
            settings_page(
                &state,
                &user,
                SettingsQuery::default(),
                None,
                Some(Once {
                    label: "set.nas_new_secret",
                    value: secret,
                }),
                StatusCode::OK,
            )
            .await
            .unwrap_or_else(|e| e.render(user.lang))
        }
        Err(resp) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticked_roles_are_the_organisations_each_once_and_at_least_one() {
        let given = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            roles_of(&given(&["field_tech", "tenant_admin", "field_tech"])).unwrap(),
            [Role::TenantAdmin, Role::FieldTech]
        );
        for bad in [
            &[][..],
            &["platform_admin"],
            &["support_agent", "root"],
            &[""],
        ] {
            assert!(roles_of(&given(bad)).is_err(), "{bad:?}");
        }
        let form = UserForm::from_pairs(
            [
                ("csrf", "t"),
                ("email", "a@b.test"),
                ("role", "noc_engineer"),
                ("role", "support_agent"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec(),
        );
        assert_eq!(form.email, "a@b.test");
        assert_eq!(form.roles, ["noc_engineer", "support_agent"]);
    }

    #[test]
    fn every_tenant_role_has_a_label_in_both_languages() {
        use super::super::i18n::{Lang, lookup};
        for r in TENANT_ROLES {
            for lang in Lang::ALL {
                assert!(lookup(lang, role_label(&r)).is_some(), "{r:?}");
            }
        }
    }

    #[test]
    fn multipart_bodies_are_split_into_their_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"a.png\"\r\n\
            Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n--X\r\n--XyZ\r\n\
            Content-Disposition: form-data; name=\"title\"\r\n\r\n\r\n--XyZ--\r\n";
        let parts = multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(
            parts,
            [
                Part {
                    name: "csrf",
                    filename: None,
                    data: b"tok"
                },
                Part {
                    name: "logo",
                    filename: Some("a.png"),
                    data: b"\x89PNG\r\n\x1a\n--X"
                },
                Part {
                    name: "title",
                    filename: None,
                    data: b""
                },
            ]
        );
        let quoted = multipart("multipart/form-data; boundary=\"XyZ\"", body).unwrap();
        assert_eq!(quoted.len(), 3);
        for (ct, b) in [
            ("application/x-www-form-urlencoded", &body[..]),
            ("multipart/form-data", &body[..]),
            ("multipart/form-data; boundary=Other", &body[..]),
            (
                "multipart/form-data; boundary=XyZ",
                &body[..body.len() - 12],
            ),
            (
                "multipart/form-data; boundary=XyZ",
                b"--XyZ\r\nNo-Disposition: x\r\n\r\nv\r\n--XyZ--",
            ),
        ] {
            assert!(multipart(ct, b).is_err(), "{ct}");
        }
    }
}
