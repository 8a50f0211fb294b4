//! Guest purchases paid by M-Pesa (flow 2): the cloud side of `hotspot_shared::purchase`.
//!
//! Owns which purchase a Daraja result belongs to, whether it is final, and what it buys (a
//! voucher for the hotspot, a wallet transaction, a payment record). It does not speak Daraja's
//! wire format itself (that is [`crate::mpesa`]) nor HTTP (that is `routes::payments`).
//!
//! # Layout
//! - [`config`]: [`PaymentsConfig`] (public callback URL, Daraja URLs, allowlist, job timings) and
//!   the pure address checks.
//! - [`purchase`]: start a purchase (checks, idempotency, the STK push) and read its state.
//! - [`settle`]: the one code path that makes a purchase paid or failed, whether the result came
//!   by callback, by STK query or by giving up.
//! - [`callback`]: STK callbacks: token check, stored first, processed after.
//! - [`jobs`]: the reconciliation loop (queries, time-outs, unprocessed callbacks).
//! - [`c2b`]: C2B validation and confirmation (paybill paid from the phone's menu).

pub mod c2b;
pub mod callback;
pub mod config;
pub mod jobs;
pub mod purchase;
pub mod settle;

use std::sync::Arc;

use hotspot_shared::purchase::PaymentFailure;
use reqwest::Url;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

pub use config::{Cidr, PaymentsConfig};

use crate::api::secrets::SecretsKey;
use crate::db::DbError;
use crate::mpesa::{DarajaClient, DarajaCredentials, MpesaError, ResultCode, TokenCache};

/// Everything the payment code keeps between requests.
#[derive(Debug)]
pub struct Payments {
    pub config: PaymentsConfig,
    /// Decrypts tenants' M-Pesa secrets; without it no push is sent.
    secrets: Option<SecretsKey>,
    /// One HTTP client for every Daraja call (connection reuse).
    http: reqwest::Client,
    /// Access tokens per (Daraja base URL, consumer key), shared by all of a tenant's calls.
    tokens: Arc<TokenCache>,
    /// Wakes the jobs loop early (a callback stored, a push sent).
    pub wake: Notify,
}

/// A payments failure that is not the caller's fault.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("M-Pesa settings unusable: {0}")]
    Settings(String),
    #[error(transparent)]
    Mpesa(#[from] MpesaError),
}

impl crate::db::Transient for PaymentError {
    fn is_transient(&self) -> bool {
        matches!(self, PaymentError::Db(e) if e.is_transient())
    }
}

impl From<tokio_postgres::Error> for PaymentError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(DbError::Sql(e))
    }
}

impl From<deadpool_postgres::PoolError> for PaymentError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Db(e.into())
    }
}

impl Payments {
    pub fn new(config: PaymentsConfig, secrets: Option<SecretsKey>) -> Arc<Self> {
        let http = crate::mpesa::client::http_client().unwrap_or_default();
        Arc::new(Self {
            config,
            secrets,
            http,
            tokens: Arc::new(TokenCache::default()),
            wake: Notify::new(),
        })
    }

    /// Payments switched off: every purchase is refused as `payments_unavailable`.
    pub fn disabled() -> Arc<Self> {
        Self::new(PaymentsConfig::default(), None)
    }

    /// The STK callback URL for a purchase's token.
    pub fn callback_url(&self, token: &str) -> Option<Url> {
        let base = self.config.public_base_url.as_ref()?;
        let base = base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/mpesa/callback/{token}")).ok()
    }

    /// A Daraja client for a tenant's stored settings (columns as in `mpesa_settings`).
    pub fn client(&self, s: &StoredSettings) -> Result<DarajaClient, PaymentError> {
        let key = self
            .secrets
            .as_ref()
            .ok_or_else(|| PaymentError::Settings("the service has no secrets key".into()))?;
        let open = |column: &str, v: &Option<String>| {
            let stored = v
                .as_deref()
                .ok_or_else(|| PaymentError::Settings(format!("{column} is not set")))?;
            crate::api::business::open_mpesa_secret(key, column, stored)
                .map_err(|e| PaymentError::Settings(format!("{column}: {e}")))
        };
        let shortcode = s
            .shortcode
            .clone()
            .unwrap_or_else(|| s.paybill_number.clone());
        let creds = DarajaCredentials {
            consumer_key: open("consumer_key", &s.consumer_key)?,
            consumer_secret: open("consumer_secret", &s.consumer_secret)?,
            passkey: open("passkey", &s.passkey)?,
            party_b: s.paybill_number.clone(),
            shortcode,
            transaction_type: crate::mpesa::TransactionType::PayBill,
        };
        let base = if s.environment == "production" {
            self.config.production_url.clone()
        } else {
            self.config.sandbox_url.clone()
        };
        Ok(DarajaClient::new(
            self.http.clone(),
            base,
            creds,
            Arc::clone(&self.tokens),
        ))
    }
}

/// A tenant's `mpesa_settings` row as stored (secrets still sealed).
#[derive(Debug, Clone)]
pub struct StoredSettings {
    pub paybill_number: String,
    pub shortcode: Option<String>,
    pub environment: String,
    pub passkey: Option<String>,
    pub consumer_key: Option<String>,
    pub consumer_secret: Option<String>,
}

impl StoredSettings {
    /// The tenant's active settings, read under its RLS.
    pub async fn load(
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<Option<Self>, tokio_postgres::Error> {
        let row = tx
            .query_opt(
                "SELECT paybill_number, shortcode, environment, passkey, consumer_key,
                        consumer_secret
                 FROM mpesa_settings WHERE coalesce(is_active, true)",
                &[],
            )
            .await?;
        Ok(row.map(|r| Self {
            paybill_number: r.get(0),
            shortcode: r.get(1),
            environment: r.get(2),
            passkey: r.get(3),
            consumer_key: r.get(4),
            consumer_secret: r.get(5),
        }))
    }
}

/// A new callback token: 32 random bytes, URL-safe base64 (43 characters).
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a token, the only form stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// What the guest is told for a Daraja result code.
pub fn failure_for(code: &ResultCode) -> PaymentFailure {
    match code {
        ResultCode::Cancelled(_) => PaymentFailure::Cancelled,
        ResultCode::Unreachable => PaymentFailure::NoAnswer,
        ResultCode::InsufficientFunds => PaymentFailure::InsufficientFunds,
        ResultCode::WrongPin => PaymentFailure::WrongPin,
        ResultCode::SubscriberLocked => PaymentFailure::SubscriberLocked,
        _ => PaymentFailure::Other,
    }
}

/// What the guest is told when Daraja refused to send the push at all.
pub fn failure_for_push_error(e: &MpesaError) -> PaymentFailure {
    match e {
        MpesaError::InvalidField(_) => PaymentFailure::PushRejected,
        MpesaError::MerchantOrSubscriber(m)
            if m.to_ascii_lowercase().contains("lock subscriber") =>
        {
            PaymentFailure::SubscriberLocked
        }
        MpesaError::Unexpected { status, .. } if (400..500).contains(status) => {
            PaymentFailure::PushRejected
        }
        _ => PaymentFailure::Unavailable,
    }
}

/// The snake_case name stored in `failure_reason` (the protocol's spelling).
pub fn failure_name(f: PaymentFailure) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "other".into())
}

/// The reverse of [`failure_name`]; unknown names read as `Other`.
pub fn failure_from_name(name: &str) -> PaymentFailure {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .unwrap_or(PaymentFailure::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_map_to_what_the_guest_is_told() {
        let cases = [
            ("1032", PaymentFailure::Cancelled),
            ("1031", PaymentFailure::Cancelled),
            ("1037", PaymentFailure::NoAnswer),
            ("1", PaymentFailure::InsufficientFunds),
            ("2001", PaymentFailure::WrongPin),
            ("1001", PaymentFailure::SubscriberLocked),
            ("1019", PaymentFailure::Other),
            ("2028", PaymentFailure::Other),
            ("SFC_IC0003", PaymentFailure::Other),
        ];
        for (code, want) in cases {
            assert_eq!(failure_for(&ResultCode::parse(code)), want, "{code}");
        }
    }

    #[test]
    fn push_refusals_map_to_rejected_or_unavailable() {
        let f =
            |code: &str, msg: &str| failure_for_push_error(&MpesaError::from_code(400, code, msg));
        assert_eq!(
            f("400.002.02", "Invalid PhoneNumber"),
            PaymentFailure::PushRejected
        );
        assert_eq!(
            f(
                "500.001.1001",
                "Unable to lock subscriber, a transaction is already in process"
            ),
            PaymentFailure::SubscriberLocked
        );
        assert_eq!(
            f("500.001.1001", "Wrong credentials"),
            PaymentFailure::Unavailable
        );
        assert_eq!(f("500.003.02", "busy"), PaymentFailure::Unavailable);
        assert_eq!(
            failure_for_push_error(&MpesaError::Transport("refused".into())),
            PaymentFailure::Unavailable
        );
    }

    #[test]
    fn failure_names_round_trip() {
        for f in [
            PaymentFailure::Cancelled,
            PaymentFailure::NoAnswer,
            PaymentFailure::InsufficientFunds,
            PaymentFailure::WrongPin,
            PaymentFailure::SubscriberLocked,
            PaymentFailure::PushRejected,
            PaymentFailure::Unavailable,
            PaymentFailure::Other,
        ] {
            assert_eq!(failure_from_name(&failure_name(f)), f);
        }
        assert_eq!(failure_name(PaymentFailure::NoAnswer), "no_answer");
    }

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 32);
        let p = Payments::new(
            PaymentsConfig {
                public_base_url: Some(Url::parse("https://pay.example.com/").unwrap()),
                ..Default::default()
            },
            None,
        );
        assert_eq!(
            p.callback_url("abc").unwrap().as_str(),
            "https://pay.example.com/mpesa/callback/abc"
        );
        assert!(Payments::disabled().callback_url("abc").is_none());
    }
}
