//! Who is calling: bearer tokens, roles, sign-in, sign-out and the TOTP second factor.
//!
//! A token is 32 random bytes (base64url, prefixed `hsk_`); only its SHA-256 is stored
//! (`api_tokens`). [`Auth`] is the extractor every protected handler takes: it resolves the
//! token through `api_token_lookup()` (the tenant is not known before), refuses missing, unknown,
//! expired and revoked tokens with 401, and a role outside the handler's [`Allowed`] set with 403.
//! The handler then does its work in [`Auth::begin`]'s transaction, under row-level security as
//! the caller's tenant and user.

use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::{secrets::SecretsKey, totp};
use crate::AppState;
use crate::db;

/// A role of a tenant's staff (seed 004), or the platform's own administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything within the tenant, including its users and M-Pesa settings.
    TenantAdmin,
    /// Sites, routers, sessions and the network inventory.
    NocEngineer,
    /// Guests and clients: vouchers, devices, sessions, tickets.
    SupportAgent,
    /// Installation work: sites and equipment, read mostly.
    FieldTech,
    /// Creates and suspends tenants (the platform operator's staff).
    PlatformAdmin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::TenantAdmin,
        Role::NocEngineer,
        Role::SupportAgent,
        Role::FieldTech,
        Role::PlatformAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::TenantAdmin => "tenant_admin",
            Role::NocEngineer => "noc_engineer",
            Role::SupportAgent => "support_agent",
            Role::FieldTech => "field_tech",
            Role::PlatformAdmin => "platform_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Which roles may call a handler: a marker type per set, so the rule is in the signature.
pub trait Allowed: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

macro_rules! role_set {
    ($(#[$doc:meta])* $name:ident = [$($role:ident),*]) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl Allowed for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),*];
        }
    };
}

role_set!(
    /// Any member of a tenant's staff.
    Staff = [TenantAdmin, NocEngineer, SupportAgent, FieldTech]
);
role_set!(
    /// The tenant's administrators.
    Admin = [TenantAdmin]
);
role_set!(
    /// Who manages sites and the network.
    Noc = [TenantAdmin, NocEngineer]
);
role_set!(
    /// Who serves guests and clients.
    Support = [TenantAdmin, NocEngineer, SupportAgent]
);
role_set!(
    /// Who sees money.
    Finance = [TenantAdmin, SupportAgent]
);
role_set!(
    /// The platform's administrators.
    Platform = [PlatformAdmin]
);

/// The signed-in caller, checked against `R`.
#[derive(Debug)]
pub struct Auth<R = Staff> {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub token_id: Uuid,
    pub roles: Vec<Role>,
    _allowed: PhantomData<R>,
}

impl<R> Auth<R> {
    /// Opens the request's transaction: as the service role, with this caller's tenant and user.
    pub async fn begin<'a>(
        &self,
        client: &'a mut deadpool_postgres::Object,
    ) -> ApiResult<deadpool_postgres::Transaction<'a>> {
        Ok(db::tenant_transaction(client, self.tenant_id, Some(self.user_id)).await?)
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl<R: Allowed> FromRequestParts<AppState> for Auth<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized("no bearer token"))?;
        let hash = token_hash(token);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let client = state.pool.get().await?;
        // One round trip: a multi-statement simple query is one implicit transaction (rolled back
        // whole on error, never left open), so SET LOCAL makes the lookup run as the service
        // role. The only value in the text is the hash's hex digits.
        let messages = client
            .simple_query(&format!(
                "SET LOCAL ROLE hotspot_app; \
                 SELECT token_id, user_id, tenant_id, roles, expires_at <= now(), revoked \
                 FROM api_token_lookup('\\x{hex}'::bytea)"
            ))
            .await?;
        let row = messages
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .ok_or(ApiError::Unauthorized("unknown token"))?;
        let text = |i: usize| row.get(i).unwrap_or_default();
        let uuid = |i: usize| Uuid::parse_str(text(i)).map_err(ApiError::internal);
        if text(5) == "t" {
            return Err(ApiError::Unauthorized("token revoked"));
        }
        if text(4) == "t" {
            return Err(ApiError::Unauthorized("token expired"));
        }
        let (token_id, user_id, tenant_id) = (uuid(0)?, uuid(1)?, uuid(2)?);
        let roles_json: serde_json::Value =
            serde_json::from_str(text(3)).map_err(ApiError::internal)?;
        let roles: Vec<Role> = roles_json
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().and_then(Role::parse))
                    .collect()
            })
            .unwrap_or_default();
        if !roles.iter().any(|r| R::ROLES.contains(r)) {
            return Err(ApiError::Forbidden);
        }
        Ok(Auth {
            token_id,
            user_id,
            tenant_id,
            roles,
            _allowed: PhantomData,
        })
    }
}

/// Sign-in request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The tenant's slug; needed only when the address has accounts at several tenants.
    pub tenant: Option<String>,
    /// The current TOTP code, or one of the account's unspent recovery codes, for accounts
    /// with a second factor.
    pub totp: Option<String>,
}

/// A new session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`. Shown once; only its hash is kept.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
}

/// A PHC argon2 hash of a password nobody has, verified when the account is unknown so that an
/// unknown address costs the same time as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                          Wm2Q0qHFJ6ZVb2mQ1ZrM8nJ9yQ8gC7f8c1q9mZk1j4Q";

fn verify_password(hash: Option<String>, password: String) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
    let ok = match PasswordHash::new(&hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    };
    known && ok
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Purpose string binding sealed TOTP seeds to their column.
const MFA_PURPOSE: &str = "users.mfa_secret";

fn open_mfa_secret(key: &SecretsKey, sealed: &str) -> ApiResult<Vec<u8>> {
    key.open(MFA_PURPOSE, sealed).map_err(ApiError::internal)
}

/// Failed sign-ins per e-mail address: after [`LoginThrottle::MAX_FAILURES`] within
/// [`LoginThrottle::WINDOW`], further attempts are refused (429) until the window ends, whatever
/// the password. A success clears the count. Kept in memory: each replica counts its own.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    /// address → (failures, start of the window). A std mutex, never held across an await.
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

impl LoginThrottle {
    pub const MAX_FAILURES: u32 = 10;
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);

    fn key(email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// Whether another attempt for `email` may be checked now.
    pub fn allowed(&self, email: &str, now: std::time::Instant) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&Self::key(email)) {
            Some((n, start)) => {
                *n < Self::MAX_FAILURES || now.duration_since(*start) >= Self::WINDOW
            }
            None => true,
        }
    }

    pub fn failed(&self, email: &str, now: std::time::Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, start)| now.duration_since(*start) < Self::WINDOW);
        }
        let entry = map.entry(Self::key(email)).or_insert((0, now));
        if now.duration_since(entry.1) >= Self::WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Self::key(email));
    }
}

/// An account whose password was right; the second factor is still to be checked when it has
/// one.
#[derive(Debug)]
pub struct PasswordChecked {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    /// The opened TOTP seed of an account with a second factor.
    pub mfa_secret: Option<Vec<u8>>,
}

/// The first step of every sign-in (the API's and the console's): the address and password
/// checked as input, the [`LoginThrottle`], the account found by `api_login_lookup()` and its
/// argon2 hash verified (an unknown address costs the same time). A failure counts against the
/// address.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
    tenant: Option<&str>,
) -> ApiResult<PasswordChecked> {
    let email = email.trim();
    if email.is_empty() || !email.contains('@') || email.len() > 255 {
        return Err(ApiError::field("email", "must be an e-mail address"));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(ApiError::field("password", "must be 1 to 1024 characters"));
    }
    let throttle = &state.api.login_throttle;
    if !throttle.allowed(email, std::time::Instant::now()) {
        return Err(ApiError::TooMany);
    }
    let mut client = state.pool.get().await?;
    let tx = db::service_transaction(&mut client).await?;
    let rows = tx
        .query(
            "SELECT user_id, tenant_id, password_hash, mfa_enabled, mfa_secret
             FROM api_login_lookup($1, $2)",
            &[&email, &tenant],
        )
        .await?;
    tx.commit().await?;
    if rows.len() > 1 {
        return Err(ApiError::field(
            "tenant",
            "this address has accounts at several tenants: name the tenant's slug",
        ));
    }
    let row = rows.into_iter().next();
    let hash = row.as_ref().and_then(|r| r.get::<_, Option<String>>(2));
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(hash, password))
        .await
        .map_err(ApiError::internal)?;
    let row = match (ok, row) {
        (true, Some(row)) => row,
        _ => {
            throttle.failed(email, std::time::Instant::now());
            return Err(ApiError::Unauthorized("wrong e-mail or password"));
        }
    };
    let mfa_secret = if row.get::<_, bool>(3) {
        let sealed: Option<String> = row.get(4);
        Some(open_mfa_secret(
            state.api.secrets()?,
            sealed
                .as_deref()
                .ok_or_else(|| ApiError::internal("mfa without a secret"))?,
        )?)
    } else {
        None
    };
    Ok(PasswordChecked {
        user_id: row.get(0),
        tenant_id: row.get(1),
        mfa_secret,
    })
}

/// The second step for an account with a second factor: the TOTP `code` against its seed. A
/// wrong code counts against the address in the same [`LoginThrottle`], which is consulted
/// first.
pub fn check_second_factor(
    state: &AppState,
    email: &str,
    secret: &[u8],
    code: &str,
) -> ApiResult<()> {
    let throttle = &state.api.login_throttle;
    if !throttle.allowed(email, std::time::Instant::now()) {
        return Err(ApiError::TooMany);
    }
    if !totp::verify(secret, code, unix_now()) {
        throttle.failed(email, std::time::Instant::now());
        return Err(ApiError::Unauthorized("wrong one-time code"));
    }
    Ok(())
}

/// The opened TOTP seed of a user with a second factor enabled, read in the caller's tenant
/// transaction; `None` without one.
pub async fn second_factor_of(
    state: &AppState,
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
) -> ApiResult<Option<Vec<u8>>> {
    let row = tx
        .query_opt(
            "SELECT mfa_secret FROM users WHERE id = $1 AND coalesce(mfa_enabled, false)",
            &[&user_id],
        )
        .await?;
    match row.and_then(|r| r.get::<_, Option<String>>(0)) {
        Some(sealed) => Ok(Some(open_mfa_secret(state.api.secrets()?, &sealed)?)),
        None => Ok(None),
    }
}

/// `POST /api/v1/auth/login`
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = super::error::Problem),
              (status = 429, body = super::error::Problem),
              (status = 422, body = super::error::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    super::Body(req): super::Body<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let email = req.email.trim().to_owned();
    let checked = check_password(&state, &email, &req.password, req.tenant.as_deref()).await?;
    if let Some(secret) = &checked.mfa_secret {
        match req.totp.as_deref() {
            None => return Err(ApiError::MfaRequired),
            Some(code) => {
                check_second_step(
                    &state,
                    checked.tenant_id,
                    checked.user_id,
                    &email,
                    secret,
                    code,
                )
                .await?
            }
        }
    }
    let (user_id, tenant_id) = (checked.user_id, checked.tenant_id);
    let mut client = state.pool.get().await?;
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    let token = format!("hsk_{}", URL_SAFE_NO_PAD.encode(raw));
    let expires_at =
        Utc::now() + chrono::Duration::from_std(state.api.token_ttl).map_err(ApiError::internal)?;
    let tx = db::tenant_transaction(&mut client, tenant_id, Some(user_id)).await?;
    tx.execute(
        "INSERT INTO api_tokens (tenant_id, user_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4)",
        &[&tenant_id, &user_id, &token_hash(&token), &expires_at],
    )
    .await?;
    tx.execute(
        "UPDATE users SET last_login_at = now() WHERE id = $1",
        &[&user_id],
    )
    .await?;
    tx.commit().await?;
    state.api.login_throttle.succeeded(&email);
    tracing::info!(%user_id, %tenant_id, "signed in");
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user_id,
        tenant_id,
    }))
}

/// `POST /api/v1/auth/logout`: revokes the token the request carries.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn logout(State(state): State<AppState>, auth: Auth<AnyUser>) -> ApiResult<StatusCode> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    tx.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        &[&auth.token_id],
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

role_set!(
    /// Anyone signed in, whatever the role (sign-out, own profile, second factor).
    AnyUser = [TenantAdmin, NocEngineer, SupportAgent, FieldTech, PlatformAdmin]
);

/// The signed-in user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub full_name: Option<String>,
    pub roles: Vec<Role>,
    pub mfa_enabled: bool,
}

/// `GET /api/v1/auth/me`
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn me(State(state): State<AppState>, auth: Auth<AnyUser>) -> ApiResult<Json<Me>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = tx
        .query_opt(
            "SELECT email, full_name, coalesce(mfa_enabled, false) FROM users WHERE id = $1",
            &[&auth.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(Me {
        user_id: auth.user_id,
        tenant_id: auth.tenant_id,
        email: row.get(0),
        full_name: row.get(1),
        roles: auth.roles.clone(),
        mfa_enabled: row.get(2),
    }))
}

/// A second factor being set up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaEnrollment {
    /// The shared secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// The same as an `otpauth://` URI (for a QR code).
    pub otpauth_uri: String,
}

impl MfaEnrollment {
    /// What an authenticator app needs of `secret`, labelled with the account's address.
    fn of(secret: &[u8], email: &str) -> Self {
        let b32 = totp::base32(secret);
        MfaEnrollment {
            otpauth_uri: format!(
                "otpauth://totp/Hotspot:{}?secret={b32}&issuer=Hotspot&digits=6&period=30",
                label_escaped(email)
            ),
            secret: b32,
        }
    }
}

/// `text` percent-encoded for the label of an `otpauth://` URI (a path segment): every byte
/// but letters, digits, `-._~` and `@`, so an address with `+`, `&`, `?`, `#`, `/` or spaces
/// still makes one URI that apps read back as that address.
fn label_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Starts enrolling `user_id`'s second factor in the caller's tenant transaction: a new random
/// seed, sealed into `users.mfa_secret` and not yet required at sign-in (a seed of an earlier,
/// unfinished enrolment is replaced). Refused with 409 while a second factor is enabled, so a
/// session alone cannot swap the seed of an account that has one. The API's enrol and the
/// console's account page both call this.
pub async fn start_mfa_enrolment(
    state: &AppState,
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
) -> ApiResult<MfaEnrollment> {
    let mut secret = [0u8; 20];
    rand::fill(&mut secret);
    let sealed = state.api.secrets()?.seal(MFA_PURPOSE, &secret);
    let row = tx
        .query_opt(
            "UPDATE users SET mfa_secret = $2
             WHERE id = $1 AND NOT coalesce(mfa_enabled, false)
             RETURNING email",
            &[&user_id, &sealed],
        )
        .await?
        .ok_or_else(|| ApiError::Conflict("a second factor is already enabled".into()))?;
    let email: String = row.get(0);
    Ok(MfaEnrollment::of(&secret, &email))
}

/// The enrolment `user_id` started and has not confirmed yet (a seed stored, not enabled), to
/// show again; `None` when there is none or the second factor is already enabled.
pub async fn pending_mfa_enrolment(
    state: &AppState,
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
) -> ApiResult<Option<MfaEnrollment>> {
    let row = tx
        .query_opt(
            "SELECT mfa_secret, email FROM users
             WHERE id = $1 AND NOT coalesce(mfa_enabled, false) AND mfa_secret IS NOT NULL",
            &[&user_id],
        )
        .await?;
    match row {
        Some(row) => {
            let sealed: String = row.get(0);
            let email: String = row.get(1);
            let secret = open_mfa_secret(state.api.secrets()?, &sealed)?;
            Ok(Some(MfaEnrollment::of(&secret, &email)))
        }
        None => Ok(None),
    }
}

/// Confirms `user_id`'s enrolment with a `code` of its seed (RFC 6238, one step of drift): from
/// then on sign-in needs a code. Answers its new recovery codes ([`issue_recovery_codes`]), to
/// be shown once. Without a started enrolment 409; a wrong code is a validation error of the
/// field `code` and enables nothing. The API's verify and the console's account page both call
/// this.
pub async fn confirm_mfa_enrolment(
    state: &AppState,
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
    code: &str,
) -> ApiResult<Vec<String>> {
    let row = tx
        .query_opt(
            "SELECT mfa_secret, coalesce(mfa_enabled, false) FROM users WHERE id = $1",
            &[&user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let sealed: Option<String> = row.get(0);
    let sealed = sealed.ok_or_else(|| ApiError::Conflict("enroll first".into()))?;
    let secret = open_mfa_secret(state.api.secrets()?, &sealed)?;
    if !totp::verify(&secret, code, unix_now()) {
        return Err(ApiError::field("code", "wrong or expired one-time code"));
    }
    tx.execute(
        "UPDATE users SET mfa_enabled = true WHERE id = $1",
        &[&user_id],
    )
    .await?;
    issue_recovery_codes(tx, user_id).await
}

/// How many recovery codes an enrolment (or a regeneration) issues.
pub const RECOVERY_CODES: usize = 10;

/// A recovery code as typed, normalised (no dashes or spaces, upper case), if it has the form
/// of one: 16 characters of the base32 alphabet. A TOTP code (6 digits) never does.
fn recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    (code.len() == 16
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)))
    .then_some(code)
}

/// Issues `user_id`'s recovery codes in the caller's tenant transaction, replacing any earlier
/// ones: [`RECOVERY_CODES`] random codes (80 bits each, shown as four groups of four), of which
/// only the argon2 hash is stored, each found by its first group. Answers the codes, to be shown
/// once.
pub async fn issue_recovery_codes(
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
) -> ApiResult<Vec<String>> {
    let mut codes: Vec<String> = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let mut raw = [0u8; 10];
        rand::fill(&mut raw);
        let code = totp::base32(&raw);
        if !codes.iter().any(|c| c[..4] == code[..4]) {
            codes.push(code);
        }
    }
    let to_hash = codes.clone();
    let hashes = tokio::task::spawn_blocking(move || {
        to_hash
            .iter()
            .map(|c| crate::db::demo::hash_password(c))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    tx.execute(
        "DELETE FROM user_recovery_codes WHERE user_id = $1",
        &[&user_id],
    )
    .await?;
    for (code, hash) in codes.iter().zip(&hashes) {
        tx.execute(
            "INSERT INTO user_recovery_codes (tenant_id, user_id, lookup, code_hash)
             VALUES (app_current_tenant(), $1, $2, $3)",
            &[&user_id, &&code[..4], hash],
        )
        .await?;
    }
    Ok(codes
        .iter()
        .map(|c| {
            c.as_bytes()
                .chunks(4)
                .map(|g| String::from_utf8_lossy(g).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect())
}

/// How many unspent recovery codes `user_id` has.
pub async fn recovery_codes_left(
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
) -> ApiResult<i64> {
    Ok(tx
        .query_one(
            "SELECT count(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            &[&user_id],
        )
        .await?
        .get(0))
}

/// Spends `user_id`'s recovery code `code` (normalised) if it is one of its unspent ones: marked
/// used in the same statement that finds it unspent, so two sign-ins with one code cannot both
/// pass. `false` for any other code.
async fn spend_recovery_code(
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
    code: &str,
) -> ApiResult<bool> {
    let row = tx
        .query_opt(
            "SELECT id, code_hash FROM user_recovery_codes
             WHERE user_id = $1 AND lookup = $2 AND used_at IS NULL
             FOR UPDATE",
            &[&user_id, &&code[..4]],
        )
        .await?;
    let (id, hash) = match row {
        Some(r) => (Some(r.get::<_, Uuid>(0)), Some(r.get::<_, String>(1))),
        None => (None, None),
    };
    // An unknown group costs a hash check too.
    let typed = code.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(hash, typed))
        .await
        .map_err(ApiError::internal)?;
    match (ok, id) {
        (true, Some(id)) => Ok(tx
            .execute(
                "UPDATE user_recovery_codes SET used_at = now() WHERE id = $1 AND used_at IS NULL",
                &[&id],
            )
            .await?
            == 1),
        _ => Ok(false),
    }
}

/// The second step of a sign-in (the API's and the console's) for an account with a second
/// factor: a TOTP `code` of its seed ([`check_second_factor`]), or one of its unspent recovery
/// codes, spent by this sign-in in its own tenant transaction. A wrong code of either kind counts
/// against the address in the [`LoginThrottle`], which is consulted first.
pub async fn check_second_step(
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    email: &str,
    secret: &[u8],
    code: &str,
) -> ApiResult<()> {
    let Some(recovery) = recovery_code(code) else {
        return check_second_factor(state, email, secret, code);
    };
    let throttle = &state.api.login_throttle;
    if !throttle.allowed(email, std::time::Instant::now()) {
        return Err(ApiError::TooMany);
    }
    let mut client = state.pool.get().await?;
    let tx = db::tenant_transaction(&mut client, tenant_id, Some(user_id)).await?;
    let spent = spend_recovery_code(&tx, user_id, &recovery).await?;
    tx.commit().await?;
    if !spent {
        throttle.failed(email, std::time::Instant::now());
        return Err(ApiError::Unauthorized("wrong one-time code"));
    }
    tracing::info!(%user_id, %tenant_id, "a recovery code was spent to sign in");
    Ok(())
}

/// New recovery codes for `user_id` in place of the earlier ones, given a current TOTP `code`
/// (wrong codes count in the sign-in throttle of `email`). Without an enabled second factor 409.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
    email: &str,
    code: &str,
) -> ApiResult<Vec<String>> {
    let secret = second_factor_of(state, tx, user_id)
        .await?
        .ok_or_else(|| ApiError::Conflict("no second factor is enabled".into()))?;
    check_second_factor(state, email, &secret, code)?;
    issue_recovery_codes(tx, user_id).await
}

/// An administrator's reset of another account's second factor (one who lost the device and the
/// codes): the seed and every recovery code erased, its API tokens revoked and its console
/// sessions ended, so it signs in again with the password alone and may enrol anew. Not one's
/// own (the account page turns it off with a code); not found for another tenant's account.
pub async fn reset_second_factor(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
    id: Uuid,
) -> ApiResult<()> {
    if id == actor {
        return Err(ApiError::field(
            "id",
            "turn your own second factor off from your account",
        ));
    }
    let n = tx
        .execute(
            "UPDATE users SET mfa_enabled = false, mfa_secret = NULL, updated_by = $2
             WHERE id = $1 AND deleted_at IS NULL",
            &[&id, &actor],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    tx.execute("DELETE FROM user_recovery_codes WHERE user_id = $1", &[&id])
        .await?;
    tx.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        &[&id],
    )
    .await?;
    tx.execute("DELETE FROM console_sessions WHERE user_id = $1", &[&id])
        .await?;
    tracing::info!(user_id = %id, by = %actor, "second factor reset by an administrator");
    Ok(())
}

/// Turns `user_id`'s second factor off, given a current `code` of it: checked by
/// [`check_second_factor`], so wrong codes count in the sign-in throttle of `email` and a
/// session alone cannot guess its way to removing the factor. The seed and the recovery codes
/// are erased. Without an
/// enabled second factor 409.
pub async fn disable_second_factor(
    state: &AppState,
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
    email: &str,
    code: &str,
) -> ApiResult<()> {
    let secret = second_factor_of(state, tx, user_id)
        .await?
        .ok_or_else(|| ApiError::Conflict("no second factor is enabled".into()))?;
    check_second_factor(state, email, &secret, code)?;
    tx.execute(
        "UPDATE users SET mfa_enabled = false, mfa_secret = NULL WHERE id = $1",
        &[&user_id],
    )
    .await?;
    tx.execute(
        "DELETE FROM user_recovery_codes WHERE user_id = $1",
        &[&user_id],
    )
    .await?;
    Ok(())
}

/// `POST /api/v1/auth/mfa/enroll`: makes a new TOTP secret (not yet required at sign-in).
#[utoipa::path(post, path = "/api/v1/auth/mfa/enroll", tag = "auth",
    responses((status = 200, body = MfaEnrollment), (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn mfa_enroll(
    State(state): State<AppState>,
    auth: Auth<AnyUser>,
) -> ApiResult<Json<MfaEnrollment>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let enrollment = start_mfa_enrolment(&state, &tx, auth.user_id).await?;
    tx.commit().await?;
    Ok(Json(enrollment))
}

/// A TOTP code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    pub code: String,
}

/// One-time recovery codes, shown once: each signs in once in place of a TOTP code.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `POST /api/v1/auth/mfa/verify`: proves the app has the secret; from then on sign-in needs a
/// code. Answers the account's recovery codes (shown once).
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "auth", request_body = MfaCode,
    responses((status = 200, body = RecoveryCodes), (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn mfa_verify(
    State(state): State<AppState>,
    auth: Auth<AnyUser>,
    super::Body(req): super::Body<MfaCode>,
) -> ApiResult<Json<RecoveryCodes>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let recovery_codes = confirm_mfa_enrolment(&state, &tx, auth.user_id, &req.code).await?;
    tx.commit().await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// `POST /api/v1/auth/mfa/recovery-codes`: new recovery codes in place of the earlier ones,
/// given a current TOTP code (wrong codes count in the sign-in throttle).
#[utoipa::path(post, path = "/api/v1/auth/mfa/recovery-codes", tag = "auth",
    request_body = MfaCode,
    responses((status = 200, body = RecoveryCodes), (status = 401, body = super::error::Problem),
              (status = 409, body = super::error::Problem),
              (status = 429, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn mfa_recovery_codes(
    State(state): State<AppState>,
    auth: Auth<AnyUser>,
    super::Body(req): super::Body<MfaCode>,
) -> ApiResult<Json<RecoveryCodes>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let email: String = tx
        .query_one("SELECT email FROM users WHERE id = $1", &[&auth.user_id])
        .await?
        .get(0);
    let recovery_codes =
        regenerate_recovery_codes(&state, &tx, auth.user_id, &email, &req.code).await?;
    tx.commit().await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// How long a sign-in lasts unless configured.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_told_from_totp_codes() {
        assert_eq!(
            recovery_code("abcd-efgh-ijkl-mn23").as_deref(),
            Some("ABCDEFGHIJKLMN23")
        );
        assert_eq!(
            recovery_code(" ABCD EFGH IJKL MN23 ").as_deref(),
            Some("ABCDEFGHIJKLMN23")
        );
        assert_eq!(recovery_code("123456"), None);
        assert_eq!(recovery_code("ABCD-EFGH-IJKL-MN2"), None);
        assert_eq!(
            recovery_code("ABCD-EFGH-IJKL-MN21"),
            None,
            "1 is not base32"
        );
    }

    #[test]
    fn otpauth_labels_are_percent_encoded() {
        assert_eq!(label_escaped("ann@example.test"), "ann@example.test");
        assert_eq!(
            label_escaped("a+b&c?d#e/f g@x.test"),
            "a%2Bb%26c%3Fd%23e%2Ff%20g@x.test"
        );
        assert_eq!(label_escaped("wanjikū@x.ke"), "wanjik%C5%AB@x.ke");
        let e = MfaEnrollment::of(b"12345678901234567890", "a+b@x.test");
        assert!(
            e.otpauth_uri
                .starts_with("otpauth://totp/Hotspot:a%2Bb@x.test?secret="),
            "{}",
            e.otpauth_uri
        );
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2_hash_so_unknown_users_cost_the_same() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("a valid PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(!verify_password(None, "anything".into()));
    }

    #[test]
    fn the_login_throttle_closes_after_ten_failures_for_the_window() {
        let t = LoginThrottle::default();
        let now = std::time::Instant::now();
        for _ in 0..LoginThrottle::MAX_FAILURES {
            assert!(t.allowed("A@x.test", now));
            t.failed("a@x.test ", now);
        }
        assert!(!t.allowed("a@x.test", now));
        assert!(t.allowed("other@x.test", now));
        assert!(t.allowed("a@x.test", now + LoginThrottle::WINDOW));
        t.succeeded("a@x.test");
        assert!(t.allowed("a@x.test", now));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
