//! Form bodies and form tokens.
//!
//! Bodies are parsed strictly: URL-encoded, every name and value valid UTF-8 after decoding,
//! bounded in count, no repeated names. Tokens are an HMAC of the client's address and the hour
//! under a key made at start, so a page from another site cannot post a login or a logout for a
//! guest (CSRF): it cannot read the token, which is bound to the guest's own address.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a body is not an acceptable form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("malformed form body")]
    Malformed,
    #[error("form body is not UTF-8")]
    NotUtf8,
    #[error("too many fields")]
    TooMany,
}

/// Parses `application/x-www-form-urlencoded`.
pub fn parse(body: &[u8]) -> Result<HashMap<String, String>, FormError> {
    let mut out = HashMap::new();
    if body.is_empty() {
        return Ok(out);
    }
    for pair in body.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        if out.len() >= 8 {
            return Err(FormError::TooMany);
        }
        let mut it = pair.splitn(2, |&b| b == b'=');
        let name = decode(it.next().unwrap_or_default())?;
        let value = decode(it.next().unwrap_or_default())?;
        if out.insert(name, value).is_some() {
            return Err(FormError::Malformed);
        }
    }
    Ok(out)
}

fn decode(s: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or(FormError::Malformed)?;
                let hex = std::str::from_utf8(hex).map_err(|_| FormError::Malformed)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| FormError::Malformed)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

/// Makes and checks form tokens.
#[derive(Clone)]
pub struct Tokens {
    key: [u8; 32],
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Tokens {
    /// A fresh random key (from the operating system, through UUID v4 generation).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self { key }
    }

    fn mac(&self, client: &str, hour: i64) -> String {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("any key length");
        m.update(b"hotspot-form\0");
        m.update(client.as_bytes());
        m.update(&hour.to_be_bytes());
        m.finalize()
            .into_bytes()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The token for a form shown to `client` (its IP) at `now`.
    pub fn issue(&self, client: &str, now: i64) -> String {
        self.mac(client, now.div_euclid(3600))
    }

    /// True for a token issued to `client` this hour or the previous one.
    pub fn verify(&self, client: &str, now: i64, token: &str) -> bool {
        let hour = now.div_euclid(3600);
        [hour, hour - 1]
            .iter()
            .any(|&h| hotspot_shared::voucher::codes_equal(&self.mac(client, h), token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strictly() {
        let f = parse(b"code=abcd+efgh&token=%41%42").unwrap();
        assert_eq!(f["code"], "abcd efgh");
        assert_eq!(f["token"], "AB");
        assert_eq!(parse(b"code=%ff").unwrap_err(), FormError::NotUtf8);
        assert_eq!(parse(b"code=\xff").unwrap_err(), FormError::NotUtf8);
        assert_eq!(parse(b"code=%4").unwrap_err(), FormError::Malformed);
        assert_eq!(parse(b"a=1&a=2").unwrap_err(), FormError::Malformed);
        assert_eq!(parse(b"a&b&c&d&e&f&g&h&i").unwrap_err(), FormError::TooMany);
        assert!(parse(b"").unwrap().is_empty());
    }

    #[test]
    fn tokens_are_bound_to_client_and_hour() {
        let t = Tokens::random();
        let tok = t.issue("10.0.0.5", 7200);
        assert!(t.verify("10.0.0.5", 7200 + 3599, &tok));
        assert!(t.verify("10.0.0.5", 7200 + 3600, &tok));
        assert!(!t.verify("10.0.0.5", 7200 + 7200, &tok));
        assert!(!t.verify("10.0.0.6", 7200, &tok));
        assert!(!Tokens::random().verify("10.0.0.5", 7200, &tok));
        assert!(!t.verify("10.0.0.5", 7200, ""));
    }
}
