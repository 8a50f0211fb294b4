//! A local Daraja: the parts of Safaricom's M-Pesa API the product uses, following the contract the
//! product is written against, quirks included. Tests and the README's run command point the cloud's
//! Daraja base URL here; the product never links this crate.
//!
//! # Layout
//! - [`Config`]: the apps (consumer key/secret), shortcodes (with passkeys) and timing it accepts.
//! - [`router`]: the HTTP API — OAuth, STK push, STK query, C2B register and simulate — plus a
//!   `/sim/…` control API for tests.
//! - Outcomes: a push's result is chosen by the last four digits of the phone number
//!   ([`Outcome::for_phone`]) unless a test sets a behaviour for that number with
//!   `POST /sim/behaviour`; so is how its callback is delivered (once, twice, never, late).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{FixedOffset, NaiveDateTime, TimeZone, Utc};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A Daraja app's credentials.
#[derive(Debug, Clone)]
pub struct App {
    pub consumer_key: String,
    pub consumer_secret: String,
}

/// A paybill or till with its Lipa na M-Pesa Online passkey.
#[derive(Debug, Clone)]
pub struct Shortcode {
    pub shortcode: String,
    pub passkey: String,
}

/// What the simulator accepts and how fast it answers.
#[derive(Debug, Clone)]
pub struct Config {
    pub apps: Vec<App>,
    pub shortcodes: Vec<Shortcode>,
    /// Time from an accepted push to its result (and callback), unless a behaviour says otherwise.
    pub result_delay: Duration,
    /// Token lifetime announced in `expires_in`.
    pub token_ttl: Duration,
    /// Accept `http://` callback URLs (tests on loopback). Daraja itself requires HTTPS.
    pub allow_http_callbacks: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            apps: vec![App {
                consumer_key: "sim-key".into(),
                consumer_secret: "sim-secret".into(),
            }],
            shortcodes: vec![Shortcode {
                shortcode: "174379".into(),
                passkey: "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919".into(),
            }],
            result_delay: Duration::from_secs(2),
            token_ttl: Duration::from_secs(3599),
            allow_http_callbacks: true,
        }
    }
}

/// How a push ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// 1032: the guest pressed cancel.
    Cancelled,
    /// 1037: the phone could not be reached or nobody answered.
    NoAnswer,
    /// 1: not enough money.
    InsufficientFunds,
    /// 2001: wrong PIN.
    WrongPin,
    /// 1001: another transaction holds the subscriber.
    SubscriberLocked,
}

impl Outcome {
    /// The default outcome for a phone number, by its last four digits: `…1032` cancelled,
    /// `…1037` no answer, `…0001` insufficient funds, `…2001` wrong PIN, `…1001` subscriber
    /// locked; anything else succeeds.
    pub fn for_phone(phone: &str) -> Self {
        match phone.get(phone.len().saturating_sub(4)..) {
            Some("1032") => Self::Cancelled,
            Some("1037") => Self::NoAnswer,
            Some("0001") => Self::InsufficientFunds,
            Some("2001") => Self::WrongPin,
            Some("1001") => Self::SubscriberLocked,
            _ => Self::Success,
        }
    }

    pub fn result_code(self) -> i64 {
        match self {
            Self::Success => 0,
            Self::Cancelled => 1032,
            Self::NoAnswer => 1037,
            Self::InsufficientFunds => 1,
            Self::WrongPin => 2001,
            Self::SubscriberLocked => 1001,
        }
    }

    pub fn result_desc(self) -> &'static str {
        match self {
            Self::Success => "The service request is processed successfully.",
            Self::Cancelled => "Request cancelled by user",
            Self::NoAnswer => "DS timeout user cannot be reached",
            Self::InsufficientFunds => "The balance is insufficient for the transaction.",
            Self::WrongPin => "The initiator information is invalid.",
            Self::SubscriberLocked => {
                "Unable to lock subscriber, a transaction is already in process for the current subscriber"
            }
        }
    }
}

/// How a push's callback reaches the callback URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Once,
    /// Delivered twice (reported by integrators).
    Twice,
    /// Never delivered: only the STK query tells the result.
    Lost,
}

/// A test's choice for one phone number.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    pub phone: String,
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub delivery: Delivery,
    /// Overrides [`Config::result_delay`] for this number.
    pub delay_ms: Option<u64>,
    /// Refuse the push itself with this Daraja error code (for example `400.002.02`).
    pub reject_push: Option<String>,
    /// Hold the push's answer this long after accepting it (a slow Daraja); the callback's
    /// delay still counts from the push.
    pub answer_delay_ms: Option<u64>,
}

/// A push as the simulator remembers it; `GET /sim/pushes` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct Push {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
    pub shortcode: String,
    pub phone: String,
    pub amount: u64,
    pub account_reference: String,
    pub callback_url: String,
    pub outcome: Outcome,
    pub delivery: Delivery,
    pub receipt: Option<String>,
    pub callbacks_sent: u32,
    pub queries: u32,
    #[serde(skip)]
    settles_at: Instant,
}

/// A C2B payment as delivered; `GET /sim/c2b` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct C2bRecord {
    pub trans_id: String,
    pub bill_ref_number: String,
    pub amount: String,
    pub validation: Option<String>,
    pub confirmed: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// token → (consumer key, expiry)
    tokens: HashMap<String, (String, Instant)>,
    /// consumer key → its current token (a new one invalidates the previous)
    current: HashMap<String, String>,
    pushes: Vec<Push>,
    behaviours: HashMap<String, Behaviour>,
    /// shortcode → (response type, confirmation URL, validation URL)
    c2b_urls: HashMap<String, (String, String, String)>,
    c2b: Vec<C2bRecord>,
    /// Tokens issued, for tests of clients' token caches.
    oauth_calls: u64,
}

/// The simulator's state.
#[derive(Debug)]
pub struct Sim {
    config: Config,
    inner: Mutex<Inner>,
    http: reqwest::Client,
}

type Shared = Arc<Sim>;

impl Sim {
    pub fn new(config: Config) -> Arc<Self> {
        // reqwest is built without a default TLS provider; the simulator posts to loopback HTTP
        // in tests and to HTTPS elsewhere, with ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(8))
            .build()
            .expect("HTTP client with the ring provider installed");
        Arc::new(Self {
            config,
            inner: Mutex::new(Inner::default()),
            http,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock is a simulator bug; keep serving with the data as is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The simulator's routes.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/oauth/v1/generate", get(oauth))
        .route("/mpesa/stkpush/v1/processrequest", post(stk_push))
        .route("/mpesa/stkpushquery/v1/query", post(stk_query))
        .route("/mpesa/c2b/v1/registerurl", post(c2b_register))
        .route("/mpesa/c2b/v2/registerurl", post(c2b_register))
        .route("/mpesa/c2b/v1/simulate", post(c2b_simulate))
        .route("/sim/behaviour", post(set_behaviour))
        .route("/sim/pushes", get(list_pushes))
        .route("/sim/c2b", get(list_c2b))
        .route("/sim/stats", get(stats))
        .with_state(sim)
}

/// Serves on `listener` until `shutdown` completes.
pub async fn serve(
    sim: Arc<Sim>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Nairobi is UTC+3 all year.
fn nairobi() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).expect("valid offset")
}

/// The Lipa na M-Pesa Online password: base64(shortcode + passkey + timestamp).
pub fn stk_password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    B64.encode(format!("{shortcode}{passkey}{timestamp}"))
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

fn request_id() -> String {
    format!(
        "{}-{}-1",
        random_string(5, b"0123456789"),
        random_string(8, b"0123456789")
    )
}

/// A refused request: Daraja's error body with its HTTP status.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: String,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({
            "requestId": request_id(),
            "errorCode": self.code,
            "errorMessage": self.message,
        });
        (self.status, Json(body)).into_response()
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Refusal {
    Refusal {
        status,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

fn invalid(field: &str) -> Refusal {
    refuse(
        StatusCode::BAD_REQUEST,
        "400.002.02",
        &format!("Bad Request - Invalid {field}"),
    )
}

/// What the API handlers answer.
type Answer = Result<Response, Refusal>;

#[derive(Deserialize)]
struct OauthQuery {
    grant_type: Option<String>,
}

async fn oauth(State(sim): State<Shared>, q: Query<OauthQuery>, headers: HeaderMap) -> Response {
    let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "400.008.01",
            "Invalid Authentication passed",
        )
        .into_response();
    };
    if q.grant_type.as_deref() != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "400.008.02",
            "Invalid grant type passed",
        )
        .into_response();
    }
    let decoded = B64
        .decode(basic.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let app = decoded
        .as_deref()
        .and_then(|d| d.split_once(':'))
        .and_then(|(k, s)| {
            sim.config
                .apps
                .iter()
                .find(|a| a.consumer_key == k && a.consumer_secret == s)
        });
    let Some(app) = app else {
        // Wrong keys: HTTP 400 with an empty body, as Daraja does.
        return StatusCode::BAD_REQUEST.into_response();
    };
    let token = random_string(
        28,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    );
    let mut inner = sim.lock();
    inner.oauth_calls += 1;
    if let Some(old) = inner
        .current
        .insert(app.consumer_key.clone(), token.clone())
    {
        inner.tokens.remove(&old);
    }
    inner.tokens.insert(
        token.clone(),
        (
            app.consumer_key.clone(),
            Instant::now() + sim.config.token_ttl,
        ),
    );
    // expires_in is a string in Daraja's answers.
    Json(json!({ "access_token": token, "expires_in": sim.config.token_ttl.as_secs().to_string() }))
        .into_response()
}

/// Checks the bearer token; the error response when it is missing, unknown or expired.
fn check_token(sim: &Sim, headers: &HeaderMap) -> Result<(), Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = token.is_some_and(|t| {
        sim.lock()
            .tokens
            .get(t.trim())
            .is_some_and(|(_, exp)| *exp > Instant::now())
    });
    if ok {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::NOT_FOUND,
            "404.001.03",
            "Invalid Access Token",
        ))
    }
}

/// Parses a JSON body sent with `Content-Type: application/json`; Daraja reports a missing content
/// type as an invalid shortcode.
fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Refusal> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(invalid("BusinessShortCode"));
    }
    serde_json::from_slice(body).map_err(|_| invalid("JSON"))
}

/// A field given as a JSON string or number, as text.
fn text_field(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn is_msisdn(s: &str) -> bool {
    s.len() == 12
        && s.starts_with("254")
        && matches!(s.as_bytes()[3], b'1' | b'7')
        && s.bytes().all(|b| b.is_ascii_digit())
}

fn callback_url_ok(sim: &Sim, url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    parsed.host().is_some()
        && (parsed.scheme() == "https"
            || (sim.config.allow_http_callbacks && parsed.scheme() == "http"))
}

/// Checks shortcode, timestamp and password; returns the shortcode.
fn check_credentials(sim: &Sim, v: &Value) -> Result<String, Refusal> {
    let shortcode = text_field(v, "BusinessShortCode").unwrap_or_default();
    let Some(sc) = sim
        .config
        .shortcodes
        .iter()
        .find(|s| s.shortcode == shortcode)
    else {
        return Err(invalid("BusinessShortCode"));
    };
    let timestamp = text_field(v, "Timestamp").unwrap_or_default();
    let parsed = NaiveDateTime::parse_from_str(&timestamp, "%Y%m%d%H%M%S")
        .ok()
        .and_then(|t| nairobi().from_local_datetime(&t).single());
    // Nairobi time, give or take an hour of clock drift: UTC or other zones are refused.
    let fresh =
        parsed.is_some_and(|t| (Utc::now() - t.with_timezone(&Utc)).num_minutes().abs() <= 60);
    if timestamp.len() != 14 || !fresh {
        return Err(invalid("Timestamp"));
    }
    let password = text_field(v, "Password").unwrap_or_default();
    if password != stk_password(&sc.shortcode, &sc.passkey, &timestamp) {
        return Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "Wrong credentials",
        ));
    }
    Ok(shortcode)
}

async fn stk_push(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    check_token(&sim, &headers)?;
    let v = json_body(&headers, &body)?;
    let shortcode = check_credentials(&sim, &v)?;
    let kind = text_field(&v, "TransactionType").unwrap_or_default();
    if kind != "CustomerPayBillOnline" && kind != "CustomerBuyGoodsOnline" {
        return Err(invalid("TransactionType"));
    }
    let amount = match text_field(&v, "Amount").and_then(|a| a.parse::<f64>().ok()) {
        Some(a) if a >= 1.0 && a.fract() == 0.0 && a <= 250_000.0 => a as u64,
        _ => return Err(invalid("Amount")),
    };
    let party_a = text_field(&v, "PartyA").unwrap_or_default();
    if !is_msisdn(&party_a) {
        return Err(invalid("PartyA"));
    }
    let phone = text_field(&v, "PhoneNumber").unwrap_or_default();
    if !is_msisdn(&phone) {
        return Err(invalid("PhoneNumber"));
    }
    let party_b = text_field(&v, "PartyB").unwrap_or_default();
    if party_b.is_empty() || !party_b.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("PartyB"));
    }
    let callback_url = text_field(&v, "CallBackURL").unwrap_or_default();
    if !callback_url_ok(&sim, &callback_url) {
        return Err(invalid("CallBackURL"));
    }
    let account_reference = text_field(&v, "AccountReference").unwrap_or_default();
    if account_reference.is_empty() || account_reference.chars().count() > 12 {
        return Err(invalid("AccountReference"));
    }
    match text_field(&v, "TransactionDesc") {
        None => return Err(invalid("Remarks")),
        Some(d) if d.is_empty() || d.chars().count() > 13 => {
            return Err(invalid("TransactionDesc"));
        }
        Some(_) => {}
    }

    let behaviour = sim
        .lock()
        .behaviours
        .get(&phone)
        .cloned()
        .unwrap_or_default();
    if let Some(code) = behaviour.reject_push {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            &code,
            "Bad Request - Invalid PhoneNumber",
        ));
    }
    let now = Instant::now();
    let delay = behaviour
        .delay_ms
        .map(Duration::from_millis)
        .unwrap_or(sim.config.result_delay);
    let outcome = behaviour
        .outcome
        .unwrap_or_else(|| Outcome::for_phone(&phone));
    let push = {
        let mut inner = sim.lock();
        // Daraja locks a subscriber while a push to them is open.
        if inner
            .pushes
            .iter()
            .any(|p| p.phone == phone && p.settles_at > now)
        {
            drop(inner);
            return Err(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500.001.1001",
                "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            ));
        }
        let stamp = Utc::now().with_timezone(&nairobi()).format("%d%m%Y%H%M%S");
        let push = Push {
            merchant_request_id: request_id(),
            checkout_request_id: format!("ws_CO_{stamp}{}", random_string(9, b"0123456789")),
            shortcode,
            phone,
            amount,
            account_reference,
            callback_url,
            outcome,
            delivery: behaviour.delivery,
            receipt: (outcome == Outcome::Success)
                .then(|| random_string(10, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
            callbacks_sent: 0,
            queries: 0,
            settles_at: now + delay,
        };
        inner.pushes.push(push.clone());
        push
    };
    tokio::spawn(deliver_callback(Arc::clone(&sim), push.clone(), delay));
    if let Some(ms) = behaviour.answer_delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Ok(Json(json!({
        "MerchantRequestID": push.merchant_request_id,
        "CheckoutRequestID": push.checkout_request_id,
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    }))
    .into_response())
}

/// The callback body Daraja posts for `push`. Written by hand so the amount reads `1.00` and the
/// numbers are JSON numbers, as Daraja sends them.
pub fn callback_body(push: &Push) -> String {
    let head = format!(
        r#""MerchantRequestID":{},"CheckoutRequestID":{},"ResultCode":{},"ResultDesc":{}"#,
        json!(push.merchant_request_id),
        json!(push.checkout_request_id),
        push.outcome.result_code(),
        json!(push.outcome.result_desc()),
    );
    match &push.receipt {
        Some(receipt) => {
            let date = Utc::now().with_timezone(&nairobi()).format("%Y%m%d%H%M%S");
            format!(
                r#"{{"Body":{{"stkCallback":{{{head},"CallbackMetadata":{{"Item":[{{"Name":"Amount","Value":{}.00}},{{"Name":"MpesaReceiptNumber","Value":{}}},{{"Name":"Balance"}},{{"Name":"TransactionDate","Value":{date}}},{{"Name":"PhoneNumber","Value":{}}}]}}}}}}}}"#,
                push.amount,
                json!(receipt),
                push.phone,
            )
        }
        None => format!(r#"{{"Body":{{"stkCallback":{{{head}}}}}}}"#),
    }
}

async fn deliver_callback(sim: Shared, push: Push, delay: Duration) {
    tokio::time::sleep(delay).await;
    let times = match push.delivery {
        Delivery::Once => 1,
        Delivery::Twice => 2,
        Delivery::Lost => 0,
    };
    let body = callback_body(&push);
    for _ in 0..times {
        let sent = sim
            .http
            .post(&push.callback_url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                tracing::info!(status = %resp.status(), checkout = %push.checkout_request_id, "callback delivered")
            }
            // Daraja does not retry: a failed delivery is simply lost.
            Err(e) => {
                tracing::warn!(error = %e, checkout = %push.checkout_request_id, "callback failed")
            }
        }
        if let Some(p) = sim
            .lock()
            .pushes
            .iter_mut()
            .find(|p| p.checkout_request_id == push.checkout_request_id)
        {
            p.callbacks_sent += 1;
        }
    }
}

async fn stk_query(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    check_token(&sim, &headers)?;
    let v = json_body(&headers, &body)?;
    check_credentials(&sim, &v)?;
    let checkout = text_field(&v, "CheckoutRequestID").unwrap_or_default();
    let mut inner = sim.lock();
    let Some(push) = inner
        .pushes
        .iter_mut()
        .find(|p| p.checkout_request_id == checkout)
    else {
        drop(inner);
        return Err(invalid("CheckoutRequestID"));
    };
    push.queries += 1;
    if push.settles_at > Instant::now() {
        // Both pending forms, alternating; the error keys are sometimes capitalised.
        return Ok(match push.queries % 3 {
            1 => Json(json!({
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": push.merchant_request_id,
                "CheckoutRequestID": push.checkout_request_id,
                "ResultCode": "4999",
                "ResultDesc": "The transaction is still under processing",
            }))
            .into_response(),
            2 => refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500.001.1001",
                "The transaction is being processed",
            )
            .into_response(),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({
                    "RequestID": request_id(),
                    "ErrorCode": "500.001.1001",
                    "ErrorMessage": "The transaction is being processed",
                })),
            )
                .into_response(),
        });
    }
    Ok(Json(json!({
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": push.merchant_request_id,
        "CheckoutRequestID": push.checkout_request_id,
        "ResultCode": push.outcome.result_code().to_string(),
        "ResultDesc": push.outcome.result_desc(),
    }))
    .into_response())
}

const FORBIDDEN_URL_WORDS: [&str; 6] = ["mpesa", "safaricom", "sql", "query", "exe", "cmd"];

async fn c2b_register(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    check_token(&sim, &headers)?;
    let v = json_body(&headers, &body)?;
    let shortcode = text_field(&v, "ShortCode").unwrap_or_default();
    if !sim
        .config
        .shortcodes
        .iter()
        .any(|s| s.shortcode == shortcode)
    {
        return Err(invalid("ShortCode"));
    }
    let response_type = text_field(&v, "ResponseType").unwrap_or_default();
    if response_type != "Completed" && response_type != "Cancelled" {
        return Err(invalid("ResponseType"));
    }
    let mut urls = Vec::new();
    for field in ["ConfirmationURL", "ValidationURL"] {
        let url = text_field(&v, field).unwrap_or_default();
        let lower = url.to_ascii_lowercase();
        if !callback_url_ok(&sim, &url) || FORBIDDEN_URL_WORDS.iter().any(|w| lower.contains(w)) {
            return Err(invalid(field));
        }
        urls.push(url);
    }
    let validation = urls.pop().unwrap_or_default();
    let confirmation = urls.pop().unwrap_or_default();
    sim.lock()
        .c2b_urls
        .insert(shortcode, (response_type, confirmation, validation));
    // "Coversation" is Daraja's spelling.
    Ok(Json(json!({
        "OriginatorCoversationID": request_id(),
        "ResponseCode": "0",
        "ResponseDescription": "success",
    }))
    .into_response())
}

async fn c2b_simulate(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    check_token(&sim, &headers)?;
    let v = json_body(&headers, &body)?;
    let shortcode = text_field(&v, "ShortCode").unwrap_or_default();
    let Some(urls) = sim.lock().c2b_urls.get(&shortcode).cloned() else {
        return Err(invalid("ShortCode"));
    };
    let command = text_field(&v, "CommandID").unwrap_or_default();
    let kind = match command.as_str() {
        "CustomerPayBillOnline" => "Pay Bill",
        "CustomerBuyGoodsOnline" => "Buy Goods",
        _ => return Err(invalid("CommandID")),
    };
    let amount = match text_field(&v, "Amount").and_then(|a| a.parse::<f64>().ok()) {
        Some(a) if a >= 1.0 => format!("{a:.2}"),
        _ => return Err(invalid("Amount")),
    };
    let msisdn = text_field(&v, "Msisdn").unwrap_or_default();
    if !is_msisdn(&msisdn) {
        return Err(invalid("Msisdn"));
    }
    let bill_ref = text_field(&v, "BillRefNumber").unwrap_or_default();
    let trans_id = random_string(10, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    let payload = json!({
        "TransactionType": kind,
        "TransID": trans_id,
        "TransTime": Utc::now().with_timezone(&nairobi()).format("%Y%m%d%H%M%S").to_string(),
        "TransAmount": amount,
        "BusinessShortCode": shortcode,
        "BillRefNumber": bill_ref,
        "InvoiceNumber": "",
        "OrgAccountBalance": "25000.00",
        "ThirdPartyTransID": "",
        // The payer's number arrives masked.
        "MSISDN": format!("{} ***** {}", &msisdn[..4], &msisdn[9..]),
        "FirstName": "JANE",
        "MiddleName": "",
        "LastName": "",
    });
    tokio::spawn(deliver_c2b(
        Arc::clone(&sim),
        urls,
        payload,
        trans_id,
        bill_ref,
        amount,
    ));
    Ok(Json(json!({
        "OriginatorCoversationID": request_id(),
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }))
    .into_response())
}

async fn deliver_c2b(
    sim: Shared,
    (response_type, confirmation, validation): (String, String, String),
    payload: Value,
    trans_id: String,
    bill_ref_number: String,
    amount: String,
) {
    let verdict = match sim.http.post(&validation).json(&payload).send().await {
        Ok(resp) => resp
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| text_field(&v, "ResultCode")),
        Err(_) => None,
    };
    // No answer within the timeout: the registered ResponseType decides.
    let accepted = match verdict.as_deref() {
        Some("0") => true,
        Some(_) => false,
        None => response_type == "Completed",
    };
    let mut confirmed = false;
    if accepted {
        confirmed = sim
            .http
            .post(&confirmation)
            .json(&payload)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
    }
    sim.lock().c2b.push(C2bRecord {
        trans_id,
        bill_ref_number,
        amount,
        validation: verdict,
        confirmed,
    });
}

async fn set_behaviour(State(sim): State<Shared>, Json(b): Json<Behaviour>) -> StatusCode {
    if !is_msisdn(&b.phone) {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    sim.lock().behaviours.insert(b.phone.clone(), b);
    StatusCode::NO_CONTENT
}

async fn list_pushes(State(sim): State<Shared>) -> Json<Vec<Push>> {
    Json(sim.lock().pushes.clone())
}

async fn stats(State(sim): State<Shared>) -> Json<Value> {
    let inner = sim.lock();
    Json(json!({ "oauth_calls": inner.oauth_calls, "pushes": inner.pushes.len() }))
}

async fn list_c2b(State(sim): State<Shared>) -> Json<Vec<C2bRecord>> {
    Json(sim.lock().c2b.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_the_published_test_vector() {
        assert_eq!(
            stk_password(
                "174379",
                "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
                "20210628092408"
            ),
            "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
        );
    }

    #[test]
    fn outcome_follows_the_phone_suffix() {
        assert_eq!(Outcome::for_phone("254708371032"), Outcome::Cancelled);
        assert_eq!(Outcome::for_phone("254708371037"), Outcome::NoAnswer);
        assert_eq!(
            Outcome::for_phone("254708370001"),
            Outcome::InsufficientFunds
        );
        assert_eq!(Outcome::for_phone("254708372001"), Outcome::WrongPin);
        assert_eq!(
            Outcome::for_phone("254708371001"),
            Outcome::SubscriberLocked
        );
        assert_eq!(Outcome::for_phone("254708374149"), Outcome::Success);
    }

    #[test]
    fn msisdn_rule_is_daraja_s() {
        assert!(is_msisdn("254708374149") && is_msisdn("254110000000"));
        for bad in [
            "0708374149",
            "+254708374149",
            "254608374149",
            "25470837414",
            "2547083741499",
        ] {
            assert!(!is_msisdn(bad), "{bad}");
        }
    }

    #[test]
    fn success_callback_has_the_documented_shape() {
        let push = Push {
            merchant_request_id: "m".into(),
            checkout_request_id: "ws_CO_1".into(),
            shortcode: "174379".into(),
            phone: "254708374149".into(),
            amount: 20,
            account_reference: "HS".into(),
            callback_url: "http://x/".into(),
            outcome: Outcome::Success,
            delivery: Delivery::Once,
            receipt: Some("NLJ7RT61SV".into()),
            callbacks_sent: 0,
            queries: 0,
            settles_at: Instant::now(),
        };
        let text = callback_body(&push);
        assert!(text.contains(r#""Value":20.00"#), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let cb = &v["Body"]["stkCallback"];
        assert_eq!(cb["ResultCode"], 0);
        let items = cb["CallbackMetadata"]["Item"].as_array().unwrap();
        assert_eq!(items[1]["Value"], "NLJ7RT61SV");
        assert!(items[2].get("Value").is_none(), "Balance has no value");
        assert_eq!(items[4]["Value"], 254708374149u64);
        let failed = callback_body(&Push {
            outcome: Outcome::Cancelled,
            receipt: None,
            ..push
        });
        let v: Value = serde_json::from_str(&failed).unwrap();
        assert_eq!(v["Body"]["stkCallback"]["ResultCode"], 1032);
        assert!(v["Body"]["stkCallback"].get("CallbackMetadata").is_none());
    }
}
