//! The Daraja client: OAuth tokens, STK push, STK query and C2B URL registration.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use hotspot_shared::phone::Msisdn;
use reqwest::Url;
use serde_json::{Value, json};

use super::codes::{MpesaError, ResultCode};
use super::{nairobi_timestamp, stk_password};

/// Paybill or till (Buy Goods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionType {
    /// `CustomerPayBillOnline`: PartyB is the paybill shortcode.
    PayBill,
    /// `CustomerBuyGoodsOnline`: PartyB is the till number.
    BuyGoods,
}

impl TransactionType {
    fn as_daraja(self) -> &'static str {
        match self {
            Self::PayBill => "CustomerPayBillOnline",
            Self::BuyGoods => "CustomerBuyGoodsOnline",
        }
    }
}

/// One tenant's Daraja app and shortcode, decrypted from `mpesa_settings`.
#[derive(Clone)]
pub struct DarajaCredentials {
    pub consumer_key: String,
    pub consumer_secret: String,
    /// Paybill number, or the head-office/store number for a till.
    pub shortcode: String,
    pub passkey: String,
    pub transaction_type: TransactionType,
    /// The credit party: the paybill number, or the till number.
    pub party_b: String,
}

impl fmt::Debug for DarajaCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DarajaCredentials")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"<redacted>")
            .field("shortcode", &self.shortcode)
            .field("passkey", &"<redacted>")
            .field("transaction_type", &self.transaction_type)
            .field("party_b", &self.party_b)
            .finish()
    }
}

#[derive(Clone)]
struct Token {
    /// Never printed: see the Debug impl.
    value: String,
    refresh_at: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Token>>>;

/// Access tokens, one per (Daraja base URL, consumer key). A new token may invalidate the previous
/// one, so everyone using a consumer key shares its slot, and one caller at a time refreshes it.
/// Never one token for all tenants: each tenant's app has its own key.
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<(String, String), Slot>>,
}

impl TokenCache {
    fn slot(&self, base: &str, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(slots.entry((base.to_owned(), key.to_owned())).or_default())
    }
}

/// An STK push to send.
#[derive(Debug, Clone)]
pub struct StkPush {
    pub phone: Msisdn,
    /// Whole shillings, at least 1.
    pub amount_kes: u32,
    /// Shown on the phone's prompt; cut to Daraja's 12 characters.
    pub account_reference: String,
    /// Cut to Daraja's 13 characters; must not be empty.
    pub description: String,
    pub callback_url: Url,
}

/// Daraja accepted the push; the result comes by callback or query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StkAccepted {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
    pub customer_message: Option<String>,
}

/// What an STK query says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryResult {
    /// Not final yet (ResultCode 4999, or HTTP 500 with 500.001.1001): ask again later.
    Pending,
    Final {
        code: ResultCode,
        description: String,
    },
}

/// What Daraja does with a C2B payment when our validation URL does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C2bResponseType {
    Completed,
    Cancelled,
}

/// A client for one tenant's Daraja app.
#[derive(Debug, Clone)]
pub struct DarajaClient {
    http: reqwest::Client,
    /// `https://api.safaricom.co.ke`, the sandbox, or a simulator: configuration, never code.
    base: Url,
    creds: Arc<DarajaCredentials>,
    tokens: Arc<TokenCache>,
}

/// An HTTP client for Daraja: rustls with ring, bounded timeouts.
pub fn http_client() -> Result<reqwest::Client, MpesaError> {
    // reqwest is built without a default provider; installing one twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("hotspot-cloud/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| MpesaError::Transport(e.to_string()))
}

fn transport(e: reqwest::Error) -> MpesaError {
    MpesaError::Transport(e.to_string())
}

/// Reads a Daraja error body (`errorCode`/`errorMessage`, sometimes capitalised).
fn error_from(status: u16, body: &[u8]) -> MpesaError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |a: &str, b: &str| {
        v.get(a)
            .or_else(|| v.get(b))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (
        field("errorCode", "ErrorCode"),
        field("errorMessage", "ErrorMessage"),
    ) {
        (Some(code), message) => MpesaError::from_code(status, &code, &message.unwrap_or_default()),
        (None, _) => MpesaError::Unexpected {
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
        },
    }
}

/// A field Daraja sends as a string or a number, as text.
fn text(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl DarajaClient {
    pub fn new(
        http: reqwest::Client,
        base: Url,
        creds: DarajaCredentials,
        tokens: Arc<TokenCache>,
    ) -> Self {
        Self {
            http,
            base,
            creds: Arc::new(creds),
            tokens,
        }
    }

    fn url(&self, path: &str) -> Result<Url, MpesaError> {
        self.base
            .join(path)
            .map_err(|e| MpesaError::Transport(format!("bad Daraja URL: {e}")))
    }

    fn slot(&self) -> Slot {
        self.tokens
            .slot(self.base.as_str(), &self.creds.consumer_key)
    }

    /// A valid token, fetching a new one when the cached one is within a minute of expiry.
    pub async fn token(&self) -> Result<String, MpesaError> {
        let slot = self.slot();
        let mut cached = slot.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.refresh_at > Instant::now()) {
            return Ok(t.value.clone());
        }
        let token = self.fetch_token().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forgets `stale` if it is still the cached token (Daraja refused it).
    async fn invalidate(&self, stale: &str) {
        let slot = self.slot();
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == stale) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<Token, MpesaError> {
        let resp = self
            .http
            .get(self.url("/oauth/v1/generate?grant_type=client_credentials")?)
            .basic_auth(&self.creds.consumer_key, Some(&self.creds.consumer_secret))
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        if status == 400 && body.iter().all(u8::is_ascii_whitespace) {
            return Err(MpesaError::BadCredentials);
        }
        if !(200..300).contains(&status) {
            return Err(error_from(status, &body));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|_| error_from(status, &body))?;
        let value = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        // expires_in arrives as a string or a number.
        let expires = text(&v, "expires_in").and_then(|s| s.trim().parse::<u64>().ok());
        match (value, expires) {
            (Some(value), Some(secs)) => {
                let margin = if secs > 120 { 60 } else { secs / 2 };
                let refresh_at = Instant::now() + Duration::from_secs(secs - margin);
                Ok(Token {
                    value: value.to_owned(),
                    refresh_at,
                })
            }
            _ => Err(error_from(status, &body)),
        }
    }

    /// POSTs `body` with a bearer token; a refused token is replaced once.
    async fn call(&self, path: &str, body: &Value) -> Result<(u16, Value), MpesaError> {
        let url = self.url(path)?;
        for attempt in 0..2 {
            let token = self.token().await?;
            let resp = self
                .http
                .post(url.clone())
                .bearer_auth(&token)
                .json(body)
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.map_err(transport)?;
            if (200..300).contains(&status) {
                let v = serde_json::from_slice(&bytes).map_err(|_| error_from(status, &bytes))?;
                return Ok((status, v));
            }
            let err = error_from(status, &bytes);
            if matches!(err, MpesaError::InvalidToken) && attempt == 0 {
                self.invalidate(&token).await;
                continue;
            }
            return Err(err);
        }
        Err(MpesaError::InvalidToken)
    }

    fn credentials_now(&self) -> (String, String) {
        let timestamp = nairobi_timestamp(Utc::now());
        let password = stk_password(&self.creds.shortcode, &self.creds.passkey, &timestamp);
        (timestamp, password)
    }

    /// Sends an STK push (Lipa na M-Pesa Online) to the guest's phone.
    pub async fn stk_push(&self, push: &StkPush) -> Result<StkAccepted, MpesaError> {
        let (timestamp, password) = self.credentials_now();
        let description = if push.description.trim().is_empty() {
            "Payment"
        } else {
            &push.description
        };
        let body = json!({
            "BusinessShortCode": self.creds.shortcode,
            "Password": password,
            "Timestamp": timestamp,
            "TransactionType": self.creds.transaction_type.as_daraja(),
            "Amount": push.amount_kes.max(1),
            "PartyA": push.phone.as_str(),
            "PartyB": self.creds.party_b,
            "PhoneNumber": push.phone.as_str(),
            "CallBackURL": push.callback_url.as_str(),
            "AccountReference": cut(&push.account_reference, 12),
            "TransactionDesc": cut(description, 13),
        });
        let (status, v) = self.call("/mpesa/stkpush/v1/processrequest", &body).await?;
        match (
            text(&v, "ResponseCode").as_deref(),
            text(&v, "CheckoutRequestID"),
        ) {
            (Some("0"), Some(checkout_request_id)) => Ok(StkAccepted {
                merchant_request_id: text(&v, "MerchantRequestID").unwrap_or_default(),
                checkout_request_id,
                customer_message: text(&v, "CustomerMessage"),
            }),
            _ => Err(MpesaError::Unexpected {
                status,
                body: v.to_string(),
            }),
        }
    }

    /// Asks how a push ended. Both of Daraja's "still processing" forms are [`QueryResult::Pending`].
    pub async fn stk_query(&self, checkout_request_id: &str) -> Result<QueryResult, MpesaError> {
        let (timestamp, password) = self.credentials_now();
        let body = json!({
            "BusinessShortCode": self.creds.shortcode,
            "Password": password,
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_request_id,
        });
        match self.call("/mpesa/stkpushquery/v1/query", &body).await {
            Ok((status, v)) => match text(&v, "ResultCode") {
                Some(code) => match ResultCode::parse(&code) {
                    ResultCode::StillProcessing => Ok(QueryResult::Pending),
                    code => Ok(QueryResult::Final {
                        code,
                        description: text(&v, "ResultDesc").unwrap_or_default(),
                    }),
                },
                None => Err(MpesaError::Unexpected {
                    status,
                    body: v.to_string(),
                }),
            },
            Err(MpesaError::MerchantOrSubscriber(_)) => Ok(QueryResult::Pending),
            Err(e) => Err(e),
        }
    }

    /// Registers the C2B confirmation and validation URLs for the shortcode.
    pub async fn register_c2b_urls(
        &self,
        response_type: C2bResponseType,
        confirmation: &Url,
        validation: &Url,
    ) -> Result<(), MpesaError> {
        let body = json!({
            "ShortCode": self.creds.shortcode,
            "ResponseType": match response_type {
                C2bResponseType::Completed => "Completed",
                C2bResponseType::Cancelled => "Cancelled",
            },
            "ConfirmationURL": confirmation.as_str(),
            "ValidationURL": validation.as_str(),
        });
        let (status, v) = self.call("/mpesa/c2b/v1/registerurl", &body).await?;
        match text(&v, "ResponseCode").as_deref() {
            Some("0") => Ok(()),
            _ => Err(MpesaError::Unexpected {
                status,
                body: v.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_in_both_spellings() {
        let lower = br#"{"requestId":"1","errorCode":"400.002.02","errorMessage":"Bad Request - Invalid PhoneNumber"}"#;
        assert!(
            matches!(error_from(400, lower), MpesaError::InvalidField(m) if m.ends_with("PhoneNumber"))
        );
        let upper = br#"{"RequestID":"1","ErrorCode":"500.001.1001","ErrorMessage":"The transaction is being processed"}"#;
        assert!(matches!(
            error_from(500, upper),
            MpesaError::MerchantOrSubscriber(_)
        ));
        assert!(matches!(
            error_from(502, b"<html>bad gateway</html>"),
            MpesaError::Unexpected { status: 502, .. }
        ));
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = DarajaCredentials {
            consumer_key: "key".into(),
            consumer_secret: "s3cret".into(),
            shortcode: "174379".into(),
            passkey: "pa55".into(),
            transaction_type: TransactionType::PayBill,
            party_b: "174379".into(),
        };
        let text = format!("{c:?}");
        assert!(!text.contains("s3cret") && !text.contains("pa55"), "{text}");
    }

    #[test]
    fn long_references_are_cut_by_characters() {
        assert_eq!(cut("HOTSPOT-ŁÓDŹ-CAFÉ", 12), "HOTSPOT-ŁÓDŹ");
        assert_eq!(cut("WiFi", 13), "WiFi");
    }
}
