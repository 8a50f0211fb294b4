//! M-Pesa through Safaricom's Daraja API: the client the cloud calls it with, and the parsing of
//! what Daraja sends back (STK callbacks, C2B validation and confirmation).
//!
//! Owns the wire contract (how the product uses it is in `docs/payments.md`) and nothing else: which order a payment
//! belongs to, what it buys and whether it is final are the payments domain's decisions.
//!
//! - [`client`]: [`DarajaClient`], one per tenant's Daraja app, with the token cache shared per
//!   (base URL, consumer key) so a tenant's replicas and requests never fight over tokens.
//! - [`callback`]: STK callback and C2B payload parsing, by item name, tolerant of Daraja's shapes.
//! - [`codes`]: every Daraja error code and result code as a typed value.

pub mod callback;
pub mod client;
pub mod codes;

pub use client::{
    C2bResponseType, DarajaClient, DarajaCredentials, QueryResult, StkAccepted, StkPush,
    TokenCache, TransactionType,
};
pub use codes::{MpesaError, ResultCode};

use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};

/// Daraja wants timestamps in Nairobi time, UTC+3 all year.
pub fn nairobi_timestamp(now: DateTime<Utc>) -> String {
    let eat = FixedOffset::east_opt(3 * 3600).expect("UTC+3 is a valid offset");
    now.with_timezone(&eat).format("%Y%m%d%H%M%S").to_string()
}

/// The Lipa na M-Pesa Online password: base64(shortcode + passkey + timestamp).
pub fn stk_password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{shortcode}{passkey}{timestamp}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
    fn timestamps_are_nairobi_time() {
        let utc = Utc.with_ymd_and_hms(2021, 6, 28, 6, 24, 8).unwrap();
        assert_eq!(nairobi_timestamp(utc), "20210628092408");
        let late = Utc.with_ymd_and_hms(2025, 12, 31, 22, 0, 0).unwrap();
        assert_eq!(
            nairobi_timestamp(late),
            "20260101010000",
            "crosses midnight and the year"
        );
    }
}
