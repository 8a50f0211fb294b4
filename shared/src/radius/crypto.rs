//! What the shared secret protects: request and response authenticators (RFC 2865 §3, RFC 2866
//! §3, RFC 5176 §2.3), Message-Authenticator (RFC 3579 §3.2), User-Password hiding (RFC 2865
//! §5.2) and CHAP (RFC 1994 as RFC 2865 §5.3 carries it).
//!
//! Signing always computes Message-Authenticator where it is sent, and places it **first** in
//! Access-Accept/Reject/Challenge (draft-ietf-radext-deprecating-radius, against BlastRADIUS,
//! CVE-2024-3596); verifying does not depend on its position.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};

use super::{Code, EncodeError, HEADER, Packet, attr};

/// Why a packet fails its cryptographic checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("request authenticator does not match the shared secret")]
    RequestAuthenticator,
    #[error("response authenticator does not match the shared secret and request")]
    ResponseAuthenticator,
    #[error("Message-Authenticator does not match the shared secret")]
    MessageAuthenticator,
    #[error("Message-Authenticator is not 16 bytes, or appears more than once")]
    MalformedMessageAuthenticator,
    #[error("the packet is shorter than its header")]
    Short,
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hmac_md5(secret: &[u8], data: &[u8]) -> [u8; 16] {
    let mut m = <Hmac<Md5> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Equality that takes the same time wherever the first difference is.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Offsets of the Message-Authenticator values in encoded bytes: `Err` when one is malformed.
fn message_authenticator_offsets(bytes: &[u8]) -> Result<Vec<usize>, VerifyError> {
    let mut found = Vec::new();
    let mut at = HEADER;
    while at + 2 <= bytes.len() {
        let len = usize::from(bytes[at + 1]);
        if len < 2 || at + len > bytes.len() {
            break;
        }
        if bytes[at] == attr::MESSAGE_AUTHENTICATOR {
            if len != 18 {
                return Err(VerifyError::MalformedMessageAuthenticator);
            }
            found.push(at + 2);
        }
        at += len;
    }
    if found.len() > 1 {
        return Err(VerifyError::MalformedMessageAuthenticator);
    }
    Ok(found)
}

/// The bytes a packet's length field covers.
fn covered(raw: &[u8]) -> Result<&[u8], VerifyError> {
    if raw.len() < HEADER {
        return Err(VerifyError::Short);
    }
    let len = usize::from(u16::from_be_bytes([raw[2], raw[3]])).min(raw.len());
    Ok(&raw[..len.max(HEADER)])
}

/// Checks a received request. For Accounting, CoA and Disconnect requests the authenticator is
/// checked; for every request a Message-Authenticator present is checked. Returns whether one
/// was present (the caller decides whether it was required).
pub fn verify_request(raw: &[u8], secret: &[u8]) -> Result<bool, VerifyError> {
    let raw = covered(raw)?;
    let code = Code::from_u8(raw[0]);
    let hashed = code.is_some_and(Code::has_hashed_request_authenticator);
    let mas = message_authenticator_offsets(raw)?;
    let mut work = raw.to_vec();
    if hashed {
        work[4..20].fill(0);
        let want = md5(&[&work, secret]);
        if !ct_eq(&want, &raw[4..20]) {
            return Err(VerifyError::RequestAuthenticator);
        }
    }
    if let Some(&at) = mas.first() {
        work[at..at + 16].fill(0);
        let want = hmac_md5(secret, &work);
        if !ct_eq(&want, &raw[at..at + 16]) {
            return Err(VerifyError::MessageAuthenticator);
        }
    }
    Ok(!mas.is_empty())
}

/// Whether a reply's Message-Authenticator is computed over the request's authenticator (Access
/// replies, CoA and Disconnect ACK/NAK as RFC 5176 §3.5 says and FreeRADIUS's `radclient`
/// checks, and any reply to Status-Server) or over 16 zero octets (Accounting-Response).
pub fn ma_over_request_authenticator(reply: Code, request: Code) -> bool {
    reply.is_access_reply() || is_das_reply(reply) || request == Code::StatusServer
}

fn is_das_reply(code: Code) -> bool {
    matches!(
        code,
        Code::DisconnectAck | Code::DisconnectNak | Code::CoaAck | Code::CoaNak
    )
}

/// Checks a reply to a `request_code` request we sent with `request_authenticator`: the response
/// authenticator, and Message-Authenticator when present. Returns whether one was present.
pub fn verify_response(
    raw: &[u8],
    request_code: Code,
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<bool, VerifyError> {
    let raw = covered(raw)?;
    let mut work = raw.to_vec();
    work[4..20].copy_from_slice(request_authenticator);
    let want = md5(&[&work, secret]);
    if !ct_eq(&want, &raw[4..20]) {
        return Err(VerifyError::ResponseAuthenticator);
    }
    let mas = message_authenticator_offsets(raw)?;
    if let Some(&at) = mas.first() {
        let reply_code = Code::from_u8(raw[0]).ok_or(VerifyError::Short)?;
        if !ma_over_request_authenticator(reply_code, request_code) {
            work[4..20].fill(0);
        }
        work[at..at + 16].fill(0);
        if !ct_eq(&hmac_md5(secret, &work), &raw[at..at + 16]) {
            // Some NASes sign their CoA and Disconnect answers over zeros, as for an
            // Accounting-Response; still keyed by the secret, so just as unforgeable.
            work[4..20].fill(0);
            if !is_das_reply(reply_code) || !ct_eq(&hmac_md5(secret, &work), &raw[at..at + 16]) {
                return Err(VerifyError::MessageAuthenticator);
            }
        }
    }
    Ok(!mas.is_empty())
}

/// Fills the Message-Authenticator value in `bytes` (which hold a zeroed one, if any).
fn fill_message_authenticator(bytes: &mut [u8], secret: &[u8]) {
    if let Ok(offsets) = message_authenticator_offsets(bytes)
        && let Some(&at) = offsets.first()
    {
        bytes[at..at + 16].fill(0);
        let mac = hmac_md5(secret, bytes);
        bytes[at..at + 16].copy_from_slice(&mac);
    }
}

/// Encodes a reply to the `request_code` request whose authenticator is
/// `request_authenticator`. With `message_authenticator`, one is put first and computed; any the
/// caller added is replaced.
pub fn sign_response(
    reply: &Packet,
    request_code: Code,
    request_authenticator: &[u8; 16],
    secret: &[u8],
    message_authenticator: bool,
) -> Result<Vec<u8>, EncodeError> {
    let mut p = reply.clone();
    p.remove(attr::MESSAGE_AUTHENTICATOR);
    if message_authenticator {
        p.attributes.insert(
            0,
            super::Attribute {
                typ: attr::MESSAGE_AUTHENTICATOR,
                value: vec![0; 16],
            },
        );
    }
    p.authenticator = if ma_over_request_authenticator(p.code, request_code) {
        *request_authenticator
    } else {
        [0; 16]
    };
    let mut bytes = p.encode_raw()?;
    fill_message_authenticator(&mut bytes, secret);
    bytes[4..20].copy_from_slice(request_authenticator);
    let auth = md5(&[&bytes, secret]);
    bytes[4..20].copy_from_slice(&auth);
    Ok(bytes)
}

/// Encodes a request. Access-Request and Status-Server keep the caller's random authenticator
/// and always carry a Message-Authenticator (first); Accounting, CoA and Disconnect requests get
/// their hashed authenticator (and a Message-Authenticator when `message_authenticator`).
pub fn sign_request(
    request: &Packet,
    secret: &[u8],
    message_authenticator: bool,
) -> Result<Vec<u8>, EncodeError> {
    let mut p = request.clone();
    let hashed = p.code.has_hashed_request_authenticator();
    p.remove(attr::MESSAGE_AUTHENTICATOR);
    if message_authenticator || !hashed {
        p.attributes.insert(
            0,
            super::Attribute {
                typ: attr::MESSAGE_AUTHENTICATOR,
                value: vec![0; 16],
            },
        );
    }
    if hashed {
        p.authenticator = [0; 16];
    }
    let mut bytes = p.encode_raw()?;
    fill_message_authenticator(&mut bytes, secret);
    if hashed {
        let auth = md5(&[&bytes, secret]);
        bytes[4..20].copy_from_slice(&auth);
    }
    Ok(bytes)
}

/// Hides a User-Password (RFC 2865 §5.2): padded to 16-byte blocks, at most 128 bytes.
pub fn hide_password(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let mut padded = password[..password.len().min(128)].to_vec();
    let blocks = padded.len().div_ceil(16).max(1);
    padded.resize(blocks * 16, 0);
    let mut prev: [u8; 16] = *authenticator;
    for chunk in padded.chunks_mut(16) {
        let b = md5(&[secret, &prev]);
        for (c, k) in chunk.iter_mut().zip(b) {
            *c ^= k;
        }
        prev.copy_from_slice(chunk);
    }
    padded
}

/// Recovers a User-Password hidden with [`hide_password`]; trailing NUL padding is removed.
/// `None` when the value is not 16..=128 bytes in 16-byte blocks.
pub fn unhide_password(hidden: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Option<Vec<u8>> {
    if hidden.is_empty() || hidden.len() > 128 || !hidden.len().is_multiple_of(16) {
        return None;
    }
    let mut out = Vec::with_capacity(hidden.len());
    let mut prev: &[u8] = authenticator;
    for chunk in hidden.chunks(16) {
        let b = md5(&[secret, prev]);
        out.extend(chunk.iter().zip(b).map(|(c, k)| c ^ k));
        prev = chunk;
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Some(out)
}

/// Whether a CHAP-Password (identifier + 16-byte response) answers `challenge` (CHAP-Challenge,
/// or the request authenticator when there is none) with `password`.
pub fn chap_matches(chap_password: &[u8], challenge: &[u8], password: &[u8]) -> bool {
    if chap_password.len() != 17 {
        return false;
    }
    let want = md5(&[&chap_password[..1], password, challenge]);
    ct_eq(&want, &chap_password[1..])
}

/// The CHAP-Password a client sends for `password` (tests, and NAS clients that use CHAP).
pub fn chap_response(ident: u8, challenge: &[u8], password: &[u8]) -> [u8; 17] {
    let mut out = [0u8; 17];
    out[0] = ident;
    out[1..].copy_from_slice(&md5(&[&[ident], password, challenge]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::{Code, Packet, attr};

    const SECRET: &[u8] = b"xyzzy5461";

    /// RFC 2865 §7.1: nemo / arctangent, the Access-Request and the Access-Accept as printed.
    #[test]
    fn rfc2865_example() {
        let request: [u8; 56] = [
            0x01, 0x00, 0x00, 0x38, 0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83,
            0xd5, 0xcb, 0x98, 0xf4, 0x22, 0x7a, 0x01, 0x06, 0x6e, 0x65, 0x6d, 0x6f, 0x02, 0x12,
            0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a,
            0x0a, 0xee, 0x04, 0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x03,
        ];
        let p = Packet::decode(&request).unwrap();
        assert_eq!(p.code, Code::AccessRequest);
        assert_eq!(p.get_text(attr::USER_NAME).as_deref(), Some("nemo"));
        let pw = unhide_password(
            p.get(attr::USER_PASSWORD).unwrap(),
            SECRET,
            &p.authenticator,
        );
        assert_eq!(pw.as_deref(), Some(&b"arctangent"[..]));
        assert_eq!(
            hide_password(b"arctangent", SECRET, &p.authenticator),
            p.get(attr::USER_PASSWORD).unwrap()
        );
        // No Message-Authenticator, nothing hashed: verifies, reporting none present.
        assert_eq!(verify_request(&request, SECRET), Ok(false));

        let accept: [u8; 38] = [
            0x02, 0x00, 0x00, 0x26, 0x86, 0xfe, 0x22, 0x0e, 0x76, 0x24, 0xba, 0x2a, 0x10, 0x05,
            0xf6, 0xbf, 0x9b, 0x55, 0xe0, 0xb2, 0x06, 0x06, 0x00, 0x00, 0x00, 0x01, 0x0f, 0x06,
            0x00, 0x00, 0x00, 0x00, 0x0e, 0x06, 0xc0, 0xa8, 0x01, 0x03,
        ];
        let reply = Packet::decode(&accept).unwrap();
        assert_eq!(
            sign_response(&reply, Code::AccessRequest, &p.authenticator, SECRET, false).unwrap(),
            accept
        );
        assert_eq!(
            verify_response(&accept, Code::AccessRequest, &p.authenticator, SECRET),
            Ok(false)
        );
        assert_eq!(
            verify_response(&accept, Code::AccessRequest, &p.authenticator, b"wrong"),
            Err(VerifyError::ResponseAuthenticator)
        );
    }

    #[test]
    fn message_authenticator_is_first_and_checked() {
        let mut req = Packet::new(Code::AccessRequest, 42, [7; 16]);
        req.push(attr::USER_NAME, "bob");
        let bytes = sign_request(&req, SECRET, false).unwrap();
        assert_eq!(bytes[20], attr::MESSAGE_AUTHENTICATOR);
        assert_eq!(verify_request(&bytes, SECRET), Ok(true));
        assert_eq!(
            verify_request(&bytes, b"other"),
            Err(VerifyError::MessageAuthenticator)
        );
        let mut tampered = bytes.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            verify_request(&tampered, SECRET),
            Err(VerifyError::MessageAuthenticator)
        );

        let mut reply = Packet::new(Code::AccessAccept, 42, [0; 16]);
        reply.push_u32(attr::SESSION_TIMEOUT, 3600);
        let out = sign_response(
            &reply,
            Code::AccessRequest,
            &req.authenticator,
            SECRET,
            true,
        )
        .unwrap();
        assert_eq!(out[20], attr::MESSAGE_AUTHENTICATOR);
        assert_eq!(
            verify_response(&out, Code::AccessRequest, &req.authenticator, SECRET),
            Ok(true)
        );
        let mut bad = out.clone();
        bad[30] ^= 0x80; // inside the Message-Authenticator value
        assert!(verify_response(&bad, Code::AccessRequest, &req.authenticator, SECRET).is_err());
    }

    #[test]
    fn accounting_authenticator_is_hashed_and_checked() {
        let mut req = Packet::new(Code::AccountingRequest, 3, [0; 16]);
        req.push_u32(attr::ACCT_STATUS_TYPE, 1);
        req.push(attr::ACCT_SESSION_ID, "abc");
        let bytes = sign_request(&req, SECRET, false).unwrap();
        assert_ne!(&bytes[4..20], &[0u8; 16]);
        assert_eq!(verify_request(&bytes, SECRET), Ok(false));
        assert_eq!(
            verify_request(&bytes, b"nope"),
            Err(VerifyError::RequestAuthenticator)
        );
        let with_ma = sign_request(&req, SECRET, true).unwrap();
        assert_eq!(verify_request(&with_ma, SECRET), Ok(true));
        let mut two = Packet::decode(&with_ma).unwrap();
        two.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
        assert_eq!(
            verify_request(&two.encode_raw().unwrap(), SECRET),
            Err(VerifyError::MalformedMessageAuthenticator)
        );
    }

    #[test]
    fn coa_replies_sign_message_authenticator_over_the_request_authenticator() {
        let req_auth = [0x5a; 16];
        let mut ack = Packet::new(Code::CoaAck, 4, [0; 16]);
        ack.push_u32(attr::ERROR_CAUSE, 201);
        let bytes = sign_response(&ack, Code::CoaRequest, &req_auth, SECRET, true).unwrap();
        assert_eq!(
            verify_response(&bytes, Code::CoaRequest, &req_auth, SECRET),
            Ok(true)
        );
        // Recomputed by hand (RFC 5176 §3.5): HMAC over the packet with the request's
        // authenticator and a zero MA.
        let mut work = bytes.clone();
        work[4..20].copy_from_slice(&req_auth);
        work[22..38].fill(0);
        assert_eq!(hmac_md5(SECRET, &work), bytes[22..38]);
        // An answer signed over zeros (as some NASes do) is still believed, and one under
        // another secret is not.
        let mut zeros = bytes.clone();
        work[4..20].fill(0);
        let mac = hmac_md5(SECRET, &work);
        zeros[22..38].copy_from_slice(&mac);
        zeros[4..20].copy_from_slice(&req_auth);
        let auth = md5(&[&zeros, SECRET]);
        zeros[4..20].copy_from_slice(&auth);
        assert_eq!(
            verify_response(&zeros, Code::CoaRequest, &req_auth, SECRET),
            Ok(true)
        );
        assert!(verify_response(&zeros, Code::CoaRequest, &req_auth, b"another-secret!!").is_err());
        // Accounting-Responses stay over zeros.
        let resp = Packet::new(Code::AccountingResponse, 4, [0; 16]);
        let bytes = sign_response(&resp, Code::AccountingRequest, &req_auth, SECRET, true).unwrap();
        let mut work = bytes.clone();
        work[4..20].fill(0);
        work[22..38].fill(0);
        assert_eq!(hmac_md5(SECRET, &work), bytes[22..38]);
        // A reply to Status-Server uses the request's authenticator instead.
        let resp = Packet::new(Code::AccountingResponse, 4, [0; 16]);
        let bytes = sign_response(&resp, Code::StatusServer, &req_auth, SECRET, true).unwrap();
        assert_eq!(
            verify_response(&bytes, Code::StatusServer, &req_auth, SECRET),
            Ok(true)
        );
        assert!(verify_response(&bytes, Code::AccountingRequest, &req_auth, SECRET).is_err());
    }

    #[test]
    fn chap() {
        let challenge = [5u8; 16];
        let resp = chap_response(9, &challenge, b"secret-pw");
        assert!(chap_matches(&resp, &challenge, b"secret-pw"));
        assert!(!chap_matches(&resp, &challenge, b"secret-px"));
        assert!(!chap_matches(&resp[..16], &challenge, b"secret-pw"));
    }

    #[test]
    fn long_passwords_round_trip() {
        let auth = [3u8; 16];
        for len in [0usize, 1, 15, 16, 17, 40, 128] {
            let pw = vec![b'p'; len];
            let hidden = hide_password(&pw, SECRET, &auth);
            assert_eq!(hidden.len() % 16, 0);
            assert_eq!(unhide_password(&hidden, SECRET, &auth).unwrap(), pw);
        }
        assert_eq!(unhide_password(&[0; 15], SECRET, &auth), None);
    }
}
