//! MS-CHAP (RFC 2433) and MS-CHAPv2 (RFC 2759) as a RADIUS server checks them (RFC 2548's
//! Microsoft attributes): the NT-Response against the stored cleartext password, and for v2 the
//! authenticator response the client checks in return (`S=…`). PPPoE servers (MikroTik's
//! included) offer both.

use des::Des;
use des::cipher::{BlockCipherEncrypt, KeyInit};
use md4::{Digest, Md4};
use sha1::Sha1;

/// MS-CHAP attribute numbers of vendor 311 (RFC 2548).
pub mod attr {
    pub const MS_CHAP_RESPONSE: u8 = 1;
    pub const MS_CHAP_ERROR: u8 = 2;
    pub const MS_CHAP_CHALLENGE: u8 = 11;
    pub const MS_CHAP2_RESPONSE: u8 = 25;
    pub const MS_CHAP2_SUCCESS: u8 = 26;
    pub const MS_MPPE_ENCRYPTION_POLICY: u8 = 7;
    pub const MS_MPPE_ENCRYPTION_TYPES: u8 = 8;
    pub const MS_MPPE_SEND_KEY: u8 = 16;
    pub const MS_MPPE_RECV_KEY: u8 = 17;
}

/// The server's MPPE start keys of an MS-CHAPv2 login (RFC 3079 §3.3, 128-bit): the NAS
/// encrypts the link with them (MS-MPPE-Send-Key and MS-MPPE-Recv-Key, RFC 2548).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MppeKeys {
    pub send: [u8; 16],
    pub recv: [u8; 16],
}

/// A proven MS-CHAPv2 response: the MS-CHAP2-Success value (ident, then `S=…`) and the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    pub value: Vec<u8>,
    pub keys: MppeKeys,
}

/// GetMasterKey and GetAsymmetricStartKey (RFC 3079 §3.4) as the server (authenticator)
/// derives them: its send key with Magic3, its receive key with Magic2.
pub fn mppe_keys(password: &str, nt_response: &[u8; 24]) -> MppeKeys {
    const MAGIC1: &[u8] = b"This is the MPPE Master Key";
    const MAGIC2: &[u8] =
        b"On the client side, this is the send key; on the server side, it is the receive key.";
    const MAGIC3: &[u8] =
        b"On the client side, this is the receive key; on the server side, it is the send key.";
    let hash_hash: [u8; 16] = Md4::digest(nt_password_hash(password)).into();
    let mut h = Sha1::new();
    h.update(hash_hash);
    h.update(nt_response);
    h.update(MAGIC1);
    let master: [u8; 20] = h.finalize().into();
    let start = |magic: &[u8]| {
        let mut h = Sha1::new();
        h.update(&master[..16]);
        h.update([0u8; 40]);
        h.update(magic);
        h.update([0xf2u8; 40]);
        let d: [u8; 20] = h.finalize().into();
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        k
    };
    MppeKeys {
        send: start(MAGIC3),
        recv: start(MAGIC2),
    }
}

/// Decrypts what [`encrypt_mppe_key`] made (as a NAS does): the key, or `None` when the value
/// is malformed or its length byte does not fit (a wrong secret, most likely).
pub fn decrypt_mppe_key(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Option<Vec<u8>> {
    use md5::Md5;
    if value.len() < 18 || !(value.len() - 2).is_multiple_of(16) || value[0] & 0x80 == 0 {
        return None;
    }
    let mut prev: Vec<u8> = [request_authenticator.as_slice(), &value[..2]].concat();
    let mut plain = Vec::with_capacity(value.len() - 2);
    for c in value[2..].chunks(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(&prev);
        let b: [u8; 16] = h.finalize().into();
        plain.extend(c.iter().zip(b).map(|(c, b)| c ^ b));
        prev = c.to_vec();
    }
    let len = usize::from(plain[0]);
    (len < plain.len()).then(|| plain[1..=len].to_vec())
}

/// Encrypts an MS-MPPE-Send-Key/Recv-Key value (RFC 2548 §2.4.2): a two-byte salt (high bit
/// set, different for each attribute of a packet), then the key's length, the key and zero
/// padding to 16-byte blocks, each block XORed with MD5(secret + request authenticator + salt)
/// for the first and MD5(secret + previous cipher block) after.
pub fn encrypt_mppe_key(
    key: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: [u8; 2],
) -> Vec<u8> {
    use md5::Md5;
    let salt = [salt[0] | 0x80, salt[1]];
    let mut plain = vec![key.len() as u8];
    plain.extend_from_slice(key);
    plain.resize(plain.len().div_ceil(16) * 16, 0);
    let mut out = salt.to_vec();
    let mut prev: Vec<u8> = [request_authenticator.as_slice(), &salt].concat();
    for block in plain.chunks(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(&prev);
        let b: [u8; 16] = h.finalize().into();
        let c: Vec<u8> = block.iter().zip(b).map(|(p, b)| p ^ b).collect();
        out.extend_from_slice(&c);
        prev = c;
    }
    out
}

/// NtPasswordHash: MD4 of the password in UTF-16LE.
pub fn nt_password_hash(password: &str) -> [u8; 16] {
    let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    Md4::digest(&utf16).into()
}

/// DES-encrypts the 8-byte `clear` with a 7-byte key spread over 8 (parity bits unused).
fn des_encrypt(key7: &[u8], clear: &[u8; 8]) -> [u8; 8] {
    let k = key7;
    let key = [
        k[0] & 0xfe,
        ((k[0] << 7) | (k[1] >> 1)) & 0xfe,
        ((k[1] << 6) | (k[2] >> 2)) & 0xfe,
        ((k[2] << 5) | (k[3] >> 3)) & 0xfe,
        ((k[3] << 4) | (k[4] >> 4)) & 0xfe,
        ((k[4] << 3) | (k[5] >> 5)) & 0xfe,
        ((k[5] << 2) | (k[6] >> 6)) & 0xfe,
        (k[6] << 1) & 0xfe,
    ];
    let cipher = Des::new_from_slice(&key).expect("a DES key is 8 bytes");
    let mut block = des::cipher::Block::<Des>::default();
    block.copy_from_slice(clear);
    cipher.encrypt_block(&mut block);
    let mut out = [0u8; 8];
    out.copy_from_slice(&block);
    out
}

/// ChallengeResponse (RFC 2759 §8.5): the 24-byte response to an 8-byte challenge.
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(password_hash);
    let mut out = [0u8; 24];
    for i in 0..3 {
        out[i * 8..i * 8 + 8].copy_from_slice(&des_encrypt(&z[i * 7..i * 7 + 7], challenge));
    }
    out
}

/// ChallengeHash (RFC 2759 §8.2).
pub fn challenge_hash(peer: &[u8; 16], authenticator: &[u8; 16], user_name: &str) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer);
    h.update(authenticator);
    h.update(user_name.as_bytes());
    let d: [u8; 20] = h.finalize().into();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// GenerateNTResponse (RFC 2759 §8.1).
pub fn v2_nt_response(
    authenticator: &[u8; 16],
    peer: &[u8; 16],
    user_name: &str,
    password: &str,
) -> [u8; 24] {
    challenge_response(
        &challenge_hash(peer, authenticator, user_name),
        &nt_password_hash(password),
    )
}

/// GenerateAuthenticatorResponse (RFC 2759 §8.7): `S=` and 40 upper-case hex digits.
pub fn v2_authenticator_response(
    password: &str,
    nt_response: &[u8; 24],
    peer: &[u8; 16],
    authenticator: &[u8; 16],
    user_name: &str,
) -> String {
    const MAGIC1: &[u8] = b"Magic server to client signing constant";
    const MAGIC2: &[u8] = b"Pad to make it do more than one iteration";
    let hash_hash: [u8; 16] = Md4::digest(nt_password_hash(password)).into();
    let mut h = Sha1::new();
    h.update(hash_hash);
    h.update(nt_response);
    h.update(MAGIC1);
    let digest: [u8; 20] = h.finalize().into();
    let mut h = Sha1::new();
    h.update(digest);
    h.update(challenge_hash(peer, authenticator, user_name));
    h.update(MAGIC2);
    let d: [u8; 20] = h.finalize().into();
    let mut s = String::from("S=");
    for b in d {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// What a request's MS-CHAP attributes ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// MS-CHAP v1: an 8-byte challenge and the 24-byte NT-Response.
    V1 {
        challenge: [u8; 8],
        ident: u8,
        nt_response: [u8; 24],
    },
    /// MS-CHAPv2: the 16-byte authenticator challenge, the peer's challenge and NT-Response.
    V2 {
        challenge: [u8; 16],
        ident: u8,
        peer: [u8; 16],
        nt_response: [u8; 24],
    },
}

impl Attempt {
    /// Reads MS-CHAP-Challenge with MS-CHAP-Response (v1) or MS-CHAP2-Response (v2); `None`
    /// when the request carries neither, or they are malformed.
    pub fn from_attributes(
        challenge: Option<&[u8]>,
        v1: Option<&[u8]>,
        v2: Option<&[u8]>,
    ) -> Option<Attempt> {
        let challenge = challenge?;
        if let Some(r) = v2 {
            if r.len() != 50 || challenge.len() != 16 {
                return None;
            }
            return Some(Attempt::V2 {
                challenge: challenge.try_into().ok()?,
                ident: r[0],
                peer: r[2..18].try_into().ok()?,
                nt_response: r[26..50].try_into().ok()?,
            });
        }
        let r = v1?;
        // Flags bit 0: the NT-Response is the one to use (LM responses are not accepted).
        if r.len() != 50 || challenge.len() != 8 || r[1] & 1 == 0 {
            return None;
        }
        Some(Attempt::V1 {
            challenge: challenge.try_into().ok()?,
            ident: r[0],
            nt_response: r[26..50].try_into().ok()?,
        })
    }

    /// Whether `password` produced this response for `user_name`; on success, for v2, the
    /// MS-CHAP2-Success value to send back and the link's MPPE keys.
    pub fn check(&self, user_name: &str, password: &str) -> Option<Option<Success>> {
        match self {
            Attempt::V1 {
                challenge,
                nt_response,
                ..
            } => {
                let want = challenge_response(challenge, &nt_password_hash(password));
                hotspot_shared::radius::crypto::ct_eq(&want, nt_response).then_some(None)
            }
            Attempt::V2 {
                challenge,
                ident,
                peer,
                nt_response,
            } => {
                // The user name in the hash is the part after any domain (RFC 2759 §4).
                let name = user_name.rsplit('\\').next().unwrap_or(user_name);
                let want = v2_nt_response(challenge, peer, name, password);
                if !hotspot_shared::radius::crypto::ct_eq(&want, nt_response) {
                    return None;
                }
                let s = v2_authenticator_response(password, nt_response, peer, challenge, name);
                let mut value = vec![*ident];
                value.extend_from_slice(s.as_bytes());
                Some(Some(Success {
                    value,
                    keys: mppe_keys(password, nt_response),
                }))
            }
        }
    }

    /// The MS-CHAP-Error value for a refusal (RFC 2759 §6: E=691 authentication failure).
    pub fn error_value(&self) -> Vec<u8> {
        let ident = match self {
            Attempt::V1 { ident, .. } | Attempt::V2 { ident, .. } => *ident,
        };
        let mut v = vec![ident];
        v.extend_from_slice(b"E=691 R=0 V=3");
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 2759 §9.2's worked example.
    #[test]
    fn rfc2759_vectors() {
        let auth: [u8; 16] = hex("5B5D7C7D7B3F2F3E3C2C602132262628").try_into().unwrap();
        let peer: [u8; 16] = hex("21402324255E262A28295F2B3A337C7E").try_into().unwrap();
        assert_eq!(
            challenge_hash(&peer, &auth, "User").to_vec(),
            hex("D02E4386BCE91226")
        );
        assert_eq!(
            nt_password_hash("clientPass").to_vec(),
            hex("44EBBA8D5312B8D611474411F56989AE")
        );
        let nt = v2_nt_response(&auth, &peer, "User", "clientPass");
        assert_eq!(
            nt.to_vec(),
            hex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
        assert_eq!(
            v2_authenticator_response("clientPass", &nt, &peer, &auth, "User"),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
    }

    /// RFC 3079 §3.5.3's example (the same login as RFC 2759's): master key, and the server's
    /// send key (Magic3), which the RFC prints as SendStartKey128.
    #[test]
    fn rfc3079_mppe_keys() {
        let nt: [u8; 24] = hex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
            .try_into()
            .unwrap();
        let keys = mppe_keys("clientPass", &nt);
        assert_eq!(keys.send.to_vec(), hex("8B7CDC149B993A1BA118CB153F56DCCB"));
        assert_eq!(keys.recv.to_vec(), hex("D5F0E9521E3EA9589645E86051C82226"));
    }

    /// The salt-encrypted form decrypts to the key with the same secret and request
    /// authenticator, and not with another secret.
    #[test]
    fn mppe_key_attributes_are_salt_encrypted() {
        let key = hex("8B7CDC149B993A1BA118CB153F56DCCB");
        let auth = [7u8; 16];
        let v = encrypt_mppe_key(&key, b"secret", &auth, [0x01, 0x02]);
        assert_eq!(v.len(), 2 + 32);
        assert_eq!(&v[..2], &[0x81, 0x02], "the salt's high bit is set");
        assert_eq!(decrypt_mppe_key(&v, b"secret", &auth), Some(key.clone()));
        assert_ne!(decrypt_mppe_key(&v, b"other", &auth), Some(key.clone()));
        assert_ne!(decrypt_mppe_key(&v, b"secret", &[8u8; 16]), Some(key));
        assert_eq!(decrypt_mppe_key(&v[..20], b"secret", &auth), None);
    }

    #[test]
    fn attempts_from_attributes() {
        let auth = [1u8; 16];
        let peer = [2u8; 16];
        let nt = v2_nt_response(&auth, &peer, "alice", "pw");
        let mut r = vec![7u8, 0];
        r.extend_from_slice(&peer);
        r.extend_from_slice(&[0; 8]);
        r.extend_from_slice(&nt);
        let a = Attempt::from_attributes(Some(&auth), None, Some(&r)).unwrap();
        let ok = a.check("alice", "pw").unwrap().unwrap();
        assert_eq!(ok.value[0], 7);
        assert!(ok.value[1..].starts_with(b"S="));
        assert_eq!(ok.keys, mppe_keys("pw", &nt));
        assert!(a.check("alice", "pX").is_none());
        assert!(a.check("DOMAIN\\alice", "pw").is_some());
        assert!(Attempt::from_attributes(Some(&auth[..8]), None, Some(&r)).is_none());

        let ch = [3u8; 8];
        let mut v1 = vec![1u8, 1];
        v1.extend_from_slice(&[0; 24]);
        v1.extend_from_slice(&challenge_response(&ch, &nt_password_hash("pw")));
        let a = Attempt::from_attributes(Some(&ch), Some(&v1), None).unwrap();
        assert_eq!(a.check("bob", "pw"), Some(None));
        assert_eq!(a.check("bob", "nope"), None);
        v1[1] = 0; // LM response only
        assert!(Attempt::from_attributes(Some(&ch), Some(&v1), None).is_none());
    }
}
