//! Secrets at rest (M-Pesa credentials, TOTP seeds): XChaCha20-Poly1305 with a 32-byte key from
//! the service's configuration (`HOTSPOT_SECRETS_KEY`, base64). A stored value is
//! `v1:` + base64(nonce ‖ ciphertext); the associated data binds it to its column, so a value
//! copied into another column does not decrypt.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};

/// The key that seals secrets. Debug never prints it.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

/// A key that cannot be used, or a stored value that does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    #[error("HOTSPOT_SECRETS_KEY must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("a stored secret does not decrypt with this key")]
    Open,
}

const PREFIX: &str = "v1:";

impl SecretsKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the configured base64 form.
    pub fn from_base64(text: &str) -> Result<Self, SecretsError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretsError::BadKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SecretsError::BadKey)?;
        Ok(Self(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(&self.0).expect("32-byte key")
    }

    /// Encrypts `plain` for the column named `purpose` (e.g. `mpesa_settings.passkey`).
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> String {
        let mut nonce = [0u8; 24];
        rand::fill(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plain,
                    aad: purpose.as_bytes(),
                },
            )
            .expect("encryption of a small value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// Decrypts what [`seal`](Self::seal) gave for the same `purpose`.
    pub fn open(&self, purpose: &str, stored: &str) -> Result<Vec<u8>, SecretsError> {
        let raw = stored
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or(SecretsError::Open)?;
        if raw.len() < 24 + 16 {
            return Err(SecretsError::Open);
        }
        let (nonce, sealed) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SecretsError::Open)?;
        self.cipher()
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: sealed,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let key = SecretsKey::from_bytes([7; 32]);
        let sealed = key.seal("a.b", b"passkey");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("passkey"));
        assert_eq!(key.open("a.b", &sealed).unwrap(), b"passkey");
        assert_eq!(key.open("a.c", &sealed), Err(SecretsError::Open));
        let other = SecretsKey::from_bytes([8; 32]);
        assert_eq!(other.open("a.b", &sealed), Err(SecretsError::Open));
        // Two seals of one value differ (random nonce).
        assert_ne!(sealed, key.seal("a.b", b"passkey"));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretsKey::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
        assert_eq!(
            SecretsKey::from_base64(&STANDARD.encode([1u8; 31])).unwrap_err(),
            SecretsError::BadKey
        );
        assert_eq!(
            SecretsKey::from_base64("not base64!").unwrap_err(),
            SecretsError::BadKey
        );
    }
}
