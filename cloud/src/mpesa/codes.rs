//! Daraja's error codes (refused requests) and result codes (how a payment ended), typed.

use std::fmt;

/// A Daraja request that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum MpesaError {
    /// The network, TLS or a timeout: the request may or may not have reached Daraja.
    #[error("cannot reach Daraja: {0}")]
    Transport(String),
    /// Wrong consumer key or secret (400 with an empty body) or `400.008.01`.
    #[error("Daraja refused the consumer key and secret")]
    BadCredentials,
    /// `400.008.02`: our OAuth request was malformed.
    #[error("Daraja refused the OAuth grant type")]
    InvalidGrant,
    /// `404.001.03`, still after a fresh token.
    #[error("Daraja refused the access token")]
    InvalidToken,
    /// `400.002.02`: a field of the request, named in Daraja's message.
    #[error("Daraja refused a field: {0}")]
    InvalidField(String),
    /// `401.003.01`: the Daraja app lacks this API product.
    #[error("the Daraja app is not enabled for this API")]
    ProductNotEnabled,
    /// `500.001.1001` on a push: wrong shortcode/passkey, or the subscriber is locked by another
    /// transaction (wait a minute). Daraja's message tells which.
    #[error("Daraja: {0}")]
    MerchantOrSubscriber(String),
    /// `500.003.02`: system busy or spike arrest; try again shortly.
    #[error("Daraja is busy")]
    Busy,
    /// `500.003.03`: the app's quota is used up.
    #[error("Daraja quota exceeded")]
    QuotaExceeded,
    /// Anything else, kept whole for the logs.
    #[error("unexpected Daraja answer (HTTP {status}): {body}")]
    Unexpected { status: u16, body: String },
}

impl MpesaError {
    /// Maps a Daraja error body's code and message.
    pub fn from_code(status: u16, code: &str, message: &str) -> Self {
        match code {
            "400.008.01" => Self::BadCredentials,
            "400.008.02" => Self::InvalidGrant,
            "404.001.03" => Self::InvalidToken,
            "400.002.02" => Self::InvalidField(message.to_owned()),
            "401.003.01" => Self::ProductNotEnabled,
            "500.001.1001" => Self::MerchantOrSubscriber(message.to_owned()),
            "500.003.02" => Self::Busy,
            "500.003.03" => Self::QuotaExceeded,
            _ => Self::Unexpected {
                status,
                body: format!("{code}: {message}"),
            },
        }
    }

    /// Worth trying again later with the same request.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Busy => true,
            Self::MerchantOrSubscriber(m) => m.to_ascii_lowercase().contains("lock subscriber"),
            Self::Unexpected { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// How an STK push ended (the callback's `ResultCode`, the query's `ResultCode`). Kept as text in
/// the database: not every code Daraja sends is numeric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultCode {
    Success,
    InsufficientFunds,
    BelowMinimum,
    AboveMaximum,
    DailyLimit,
    BalanceLimit,
    /// 17: the same amount to the same customer within two minutes.
    DuplicateWithinTwoMinutes,
    SubscriberLocked,
    Expired,
    /// 1025 or 9999: the push could not be sent (often a prompt too long).
    PushNotSent(String),
    /// 1031 or 1032.
    Cancelled(String),
    SmscTimeout,
    /// 1037: the phone could not be reached or nobody answered.
    Unreachable,
    WrongPin,
    WrongTransactionType,
    /// 4999: not final yet.
    StillProcessing,
    Other(String),
}

impl ResultCode {
    pub fn parse(code: &str) -> Self {
        match code.trim() {
            "0" => Self::Success,
            "1" => Self::InsufficientFunds,
            "2" => Self::BelowMinimum,
            "3" => Self::AboveMaximum,
            "4" => Self::DailyLimit,
            "8" => Self::BalanceLimit,
            "17" => Self::DuplicateWithinTwoMinutes,
            "1001" => Self::SubscriberLocked,
            "1019" => Self::Expired,
            c @ ("1025" | "9999") => Self::PushNotSent(c.to_owned()),
            c @ ("1031" | "1032") => Self::Cancelled(c.to_owned()),
            "1036" => Self::SmscTimeout,
            "1037" => Self::Unreachable,
            "2001" => Self::WrongPin,
            "2028" => Self::WrongTransactionType,
            "4999" => Self::StillProcessing,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as Daraja wrote it.
    pub fn as_code(&self) -> &str {
        match self {
            Self::Success => "0",
            Self::InsufficientFunds => "1",
            Self::BelowMinimum => "2",
            Self::AboveMaximum => "3",
            Self::DailyLimit => "4",
            Self::BalanceLimit => "8",
            Self::DuplicateWithinTwoMinutes => "17",
            Self::SubscriberLocked => "1001",
            Self::Expired => "1019",
            Self::SmscTimeout => "1036",
            Self::Unreachable => "1037",
            Self::WrongPin => "2001",
            Self::WrongTransactionType => "2028",
            Self::StillProcessing => "4999",
            Self::PushNotSent(c) | Self::Cancelled(c) | Self::Other(c) => c,
        }
    }

    pub fn is_success(&self) -> bool {
        *self == Self::Success
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_error_code_has_its_variant() {
        type Check = fn(&MpesaError) -> bool;
        let cases: [(&str, Check); 8] = [
            ("400.008.01", |e| matches!(e, MpesaError::BadCredentials)),
            ("400.008.02", |e| matches!(e, MpesaError::InvalidGrant)),
            ("404.001.03", |e| matches!(e, MpesaError::InvalidToken)),
            (
                "400.002.02",
                |e| matches!(e, MpesaError::InvalidField(m) if m == "msg"),
            ),
            ("401.003.01", |e| matches!(e, MpesaError::ProductNotEnabled)),
            ("500.001.1001", |e| {
                matches!(e, MpesaError::MerchantOrSubscriber(_))
            }),
            ("500.003.02", |e| matches!(e, MpesaError::Busy)),
            ("500.003.03", |e| matches!(e, MpesaError::QuotaExceeded)),
        ];
        for (code, check) in cases {
            assert!(check(&MpesaError::from_code(400, code, "msg")), "{code}");
        }
        assert!(matches!(
            MpesaError::from_code(502, "999.999.99", "x"),
            MpesaError::Unexpected { status: 502, .. }
        ));
    }

    #[test]
    fn a_locked_subscriber_is_transient_wrong_credentials_are_not() {
        let locked = MpesaError::from_code(
            500,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        );
        assert!(locked.is_transient());
        assert!(!MpesaError::from_code(500, "500.001.1001", "Wrong credentials").is_transient());
        assert!(MpesaError::Busy.is_transient() && !MpesaError::BadCredentials.is_transient());
    }

    #[test]
    fn result_codes_round_trip_as_text() {
        for code in [
            "0",
            "1",
            "2",
            "3",
            "4",
            "8",
            "17",
            "1001",
            "1019",
            "1025",
            "9999",
            "1031",
            "1032",
            "1036",
            "1037",
            "2001",
            "2028",
            "4999",
            "SFC_IC0003",
        ] {
            assert_eq!(ResultCode::parse(code).as_code(), code);
        }
        assert_eq!(
            ResultCode::parse("1032"),
            ResultCode::Cancelled("1032".into())
        );
        assert!(ResultCode::parse(" 0 ").is_success());
    }
}
