//! Kenyan mobile numbers as M-Pesa wants them: `2547XXXXXXXX` or `2541XXXXXXXX`.
//!
//! Guests type `0712 345 678`, `+254712345678`, `254712345678` or `712345678`; all become
//! [`Msisdn`]`("254712345678")`. Anything else is refused with a sentence the portal can show.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalised Safaricom-style MSISDN (`^254[17]\d{8}$`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Msisdn(String);

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("enter your M-Pesa phone number")]
    Empty,
    #[error("enter a Kenyan mobile number such as 0712 345 678")]
    NotKenyanMobile,
}

impl Msisdn {
    /// Normalises what a guest typed.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        if input.len() > 32 {
            return Err(PhoneError::NotKenyanMobile);
        }
        let mut digits = String::with_capacity(12);
        for (i, c) in input.trim().chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' | '.' => {}
                '+' if i == 0 => {}
                _ => return Err(PhoneError::NotKenyanMobile),
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        let national = if let Some(rest) = digits.strip_prefix("254") {
            rest
        } else if let Some(rest) = digits.strip_prefix('0') {
            rest
        } else {
            digits.as_str()
        };
        if national.len() == 9 && matches!(national.as_bytes()[0], b'7' | b'1') {
            Ok(Self(format!("254{national}")))
        } else {
            Err(PhoneError::NotKenyanMobile)
        }
    }

    /// The 12-digit form Daraja takes.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `2547•••••678`: enough for a guest or an operator to recognise, no more (logs, receipts).
    pub fn masked(&self) -> String {
        format!("{}•••••{}", &self.0[..4], &self.0[9..])
    }
}

impl TryFrom<String> for Msisdn {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Msisdn> for String {
    fn from(m: Msisdn) -> Self {
        m.0
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Msisdn {
    /// Masked: phone numbers are personal data and do not belong in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msisdn({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_common_spelling_normalises() {
        for input in [
            "0712345678",
            "0712 345 678",
            "+254712345678",
            "254712345678",
            "712345678",
            "+254 712-345-678",
            " (0712) 345678 ",
        ] {
            assert_eq!(
                Msisdn::parse(input).unwrap().as_str(),
                "254712345678",
                "{input:?}"
            );
        }
        assert_eq!(
            Msisdn::parse("0110 123 456").unwrap().as_str(),
            "254110123456"
        );
    }

    #[test]
    fn others_are_refused_with_a_reason() {
        assert_eq!(Msisdn::parse("  "), Err(PhoneError::Empty));
        for input in [
            "0612345678",
            "071234567",
            "07123456789",
            "+255712345678",
            "2547123456789",
            "07l2345678",
            "0712+345678",
            "12345678901234567890123456789012345",
        ] {
            assert_eq!(
                Msisdn::parse(input),
                Err(PhoneError::NotKenyanMobile),
                "{input:?}"
            );
        }
    }

    #[test]
    fn debug_and_masked_hide_the_middle() {
        let m = Msisdn::parse("0712345678").unwrap();
        assert_eq!(m.masked(), "2547•••••678");
        assert!(!format!("{m:?}").contains("12345"));
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"254712345678\"");
        assert!(serde_json::from_str::<Msisdn>("\"0612345678\"").is_err());
    }
}
