//! The RADIUS packet codec both sides share: the cloud's server (auth, accounting, Status-Server,
//! CoA/Disconnect client) and the edge's NAS client.
//!
//! A [`Packet`] is a code, an identifier, an authenticator and attributes in wire order;
//! [`Packet::decode`] checks every length (RFC 2865 §3, at most [`MAX_PACKET`] bytes, RFC 7930) and
//! refuses anything that does not add up, so a malformed datagram is an error, never a panic.
//! What the shared secret protects lives in [`crypto`]: the request and response authenticators,
//! Message-Authenticator (RFC 3579 §3.2; always computed, and placed first in replies, as
//! draft-ietf-radext-deprecating-radius asks against BlastRADIUS), User-Password hiding and
//! CHAP. [`dict`] maps the attribute names FreeRADIUS's tables use (`radreply.attribute`) to
//! their numbers and types, standard and the vendors our NAS types speak.
//!
//! Plain data only: the caller does the I/O and passes the secret in.

pub mod crypto;
pub mod dict;

use std::net::Ipv4Addr;

/// Largest RADIUS packet (RFC 7930 raised RFC 2865's 4096 to 65535 for TCP only; UDP stays 4096).
pub const MAX_PACKET: usize = 4096;
/// Header: code, identifier, length, authenticator.
pub const HEADER: usize = 20;

/// The packet types this product sends or answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    AccessRequest,
    AccessAccept,
    AccessReject,
    AccountingRequest,
    AccountingResponse,
    AccessChallenge,
    StatusServer,
    DisconnectRequest,
    DisconnectAck,
    DisconnectNak,
    CoaRequest,
    CoaAck,
    CoaNak,
}

impl Code {
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            5 => Code::AccountingResponse,
            11 => Code::AccessChallenge,
            12 => Code::StatusServer,
            40 => Code::DisconnectRequest,
            41 => Code::DisconnectAck,
            42 => Code::DisconnectNak,
            43 => Code::CoaRequest,
            44 => Code::CoaAck,
            45 => Code::CoaNak,
            _ => return None,
        })
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
            Code::StatusServer => 12,
            Code::DisconnectRequest => 40,
            Code::DisconnectAck => 41,
            Code::DisconnectNak => 42,
            Code::CoaRequest => 43,
            Code::CoaAck => 44,
            Code::CoaNak => 45,
        }
    }

    /// Requests whose authenticator is an MD5 over the packet (RFC 2866 §3, RFC 5176 §2.3)
    /// rather than a random nonce.
    pub fn has_hashed_request_authenticator(self) -> bool {
        matches!(
            self,
            Code::AccountingRequest | Code::DisconnectRequest | Code::CoaRequest
        )
    }

    /// Replies to an Access-Request or a Status-Server, where Message-Authenticator goes first.
    pub fn is_access_reply(self) -> bool {
        matches!(
            self,
            Code::AccessAccept | Code::AccessReject | Code::AccessChallenge
        )
    }
}

/// Standard attribute numbers (RFC 2865, 2866, 2869, 3162, 4818, 5176, 6911).
pub mod attr {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const CHAP_PASSWORD: u8 = 3;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const NAS_PORT: u8 = 5;
    pub const SERVICE_TYPE: u8 = 6;
    pub const FRAMED_PROTOCOL: u8 = 7;
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const STATE: u8 = 24;
    pub const CLASS: u8 = 25;
    pub const VENDOR_SPECIFIC: u8 = 26;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const IDLE_TIMEOUT: u8 = 28;
    pub const CALLED_STATION_ID: u8 = 30;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const PROXY_STATE: u8 = 33;
    pub const ACCT_STATUS_TYPE: u8 = 40;
    pub const ACCT_DELAY_TIME: u8 = 41;
    pub const ACCT_INPUT_OCTETS: u8 = 42;
    pub const ACCT_OUTPUT_OCTETS: u8 = 43;
    pub const ACCT_SESSION_ID: u8 = 44;
    pub const ACCT_AUTHENTIC: u8 = 45;
    pub const ACCT_SESSION_TIME: u8 = 46;
    pub const ACCT_INPUT_PACKETS: u8 = 47;
    pub const ACCT_OUTPUT_PACKETS: u8 = 48;
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    pub const ACCT_MULTI_SESSION_ID: u8 = 50;
    pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
    pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
    pub const EVENT_TIMESTAMP: u8 = 55;
    pub const CHAP_CHALLENGE: u8 = 60;
    pub const NAS_PORT_TYPE: u8 = 61;
    pub const CONNECT_INFO: u8 = 77;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    pub const ACCT_INTERIM_INTERVAL: u8 = 85;
    pub const NAS_PORT_ID: u8 = 87;
    pub const NAS_IPV6_ADDRESS: u8 = 95;
    pub const FRAMED_INTERFACE_ID: u8 = 96;
    pub const FRAMED_IPV6_PREFIX: u8 = 97;
    pub const ERROR_CAUSE: u8 = 101;
    pub const DELEGATED_IPV6_PREFIX: u8 = 123;
    pub const FRAMED_IPV6_ADDRESS: u8 = 168;
}

/// Vendor numbers (IANA private enterprise numbers) of the vendor attributes we read or send.
pub mod vendor {
    pub const MICROSOFT: u32 = 311;
    pub const MIKROTIK: u32 = 14988;
    pub const WISPR: u32 = 14122;
    pub const CHILLISPOT: u32 = 14559;
}

/// Acct-Status-Type values (RFC 2866 §5.1).
pub mod acct_status {
    pub const START: u32 = 1;
    pub const STOP: u32 = 2;
    pub const INTERIM_UPDATE: u32 = 3;
    pub const ACCOUNTING_ON: u32 = 7;
    pub const ACCOUNTING_OFF: u32 = 8;
}

/// Error-Cause values of RFC 5176 §3.5 that a DAS answers with.
pub mod error_cause {
    pub const UNSUPPORTED_ATTRIBUTE: u32 = 401;
    pub const MISSING_ATTRIBUTE: u32 = 402;
    pub const NAS_IDENTIFICATION_MISMATCH: u32 = 403;
    pub const INVALID_REQUEST: u32 = 404;
    pub const SESSION_CONTEXT_NOT_FOUND: u32 = 503;
    pub const RESOURCES_UNAVAILABLE: u32 = 506;
}

/// One attribute as it is on the wire: a type and up to 253 bytes of value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub typ: u8,
    pub value: Vec<u8>,
}

/// Why bytes are not a RADIUS packet, or a packet cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0} bytes is shorter than a RADIUS header")]
    Short(usize),
    #[error("length field {field} does not fit the {got} bytes received (20..=4096)")]
    Length { field: usize, got: usize },
    #[error("unknown packet code {0}")]
    Code(u8),
    #[error("attribute at offset {0} has an invalid length")]
    Attribute(usize),
}

/// Why a packet cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("attribute {typ} is {len} bytes; at most 253 fit")]
    AttributeTooLong { typ: u8, len: usize },
    #[error("the packet would be {0} bytes; at most 4096 fit")]
    TooLong(usize),
}

/// A decoded packet. Attributes keep their order (Proxy-State must be echoed in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub code: Code,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub attributes: Vec<Attribute>,
}

impl Packet {
    /// A packet with no attributes yet.
    pub fn new(code: Code, identifier: u8, authenticator: [u8; 16]) -> Self {
        Packet {
            code,
            identifier,
            authenticator,
            attributes: Vec::new(),
        }
    }

    /// Parses one packet. Bytes past the length field are padding and ignored (RFC 2865 §3);
    /// a length beyond what arrived, an attribute running past the end, or an attribute shorter
    /// than its own header is an error.
    pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
        if bytes.len() < HEADER {
            return Err(DecodeError::Short(bytes.len()));
        }
        let field = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if !(HEADER..=MAX_PACKET).contains(&field) || field > bytes.len() {
            return Err(DecodeError::Length {
                field,
                got: bytes.len(),
            });
        }
        let code = Code::from_u8(bytes[0]).ok_or(DecodeError::Code(bytes[0]))?;
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&bytes[4..20]);
        let mut attributes = Vec::new();
        let mut at = HEADER;
        while at < field {
            if at + 2 > field {
                return Err(DecodeError::Attribute(at));
            }
            let len = usize::from(bytes[at + 1]);
            if len < 2 || at + len > field {
                return Err(DecodeError::Attribute(at));
            }
            attributes.push(Attribute {
                typ: bytes[at],
                value: bytes[at + 2..at + len].to_vec(),
            });
            at += len;
        }
        Ok(Packet {
            code,
            identifier: bytes[1],
            authenticator,
            attributes,
        })
    }

    /// The wire form with the authenticator as it stands (see [`crypto`] for the signed forms).
    pub fn encode_raw(&self) -> Result<Vec<u8>, EncodeError> {
        let mut len = HEADER;
        for a in &self.attributes {
            if a.value.len() > 253 {
                return Err(EncodeError::AttributeTooLong {
                    typ: a.typ,
                    len: a.value.len(),
                });
            }
            len += 2 + a.value.len();
        }
        if len > MAX_PACKET {
            return Err(EncodeError::TooLong(len));
        }
        let mut out = Vec::with_capacity(len);
        out.push(self.code.as_u8());
        out.push(self.identifier);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&self.authenticator);
        for a in &self.attributes {
            out.push(a.typ);
            out.push((2 + a.value.len()) as u8);
            out.extend_from_slice(&a.value);
        }
        Ok(out)
    }

    /// The first value of attribute `typ`.
    pub fn get(&self, typ: u8) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|a| a.typ == typ)
            .map(|a| a.value.as_slice())
    }

    /// Every value of attribute `typ`, in order.
    pub fn get_all(&self, typ: u8) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |a| a.typ == typ)
            .map(|a| a.value.as_slice())
    }

    pub fn has(&self, typ: u8) -> bool {
        self.attributes.iter().any(|a| a.typ == typ)
    }

    /// A text attribute; invalid UTF-8 is replaced rather than refused (NAS firmware varies).
    pub fn get_text(&self, typ: u8) -> Option<String> {
        self.get(typ)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// A 32-bit integer attribute; `None` when absent or not four bytes.
    pub fn get_u32(&self, typ: u8) -> Option<u32> {
        self.get(typ).and_then(be_u32)
    }

    /// An IPv4 address attribute; `None` when absent or not four bytes.
    pub fn get_ipv4(&self, typ: u8) -> Option<Ipv4Addr> {
        self.get(typ)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(Ipv4Addr::from)
    }

    /// The value of the first vendor attribute `(vendor, typ)` (RFC 2865 §5.26 format), whether
    /// it has a Vendor-Specific of its own (as every vendor we speak sends them) or shares one
    /// with others of its vendor (as RFC 2865 allows).
    pub fn get_vendor(&self, vendor: u32, typ: u8) -> Option<&[u8]> {
        self.get_all(attr::VENDOR_SPECIFIC)
            .flat_map(vendor_attributes)
            .find(|(v, t, _)| *v == vendor && *t == typ)
            .map(|(_, _, value)| value)
    }

    /// Appends an attribute.
    pub fn push(&mut self, typ: u8, value: impl Into<Vec<u8>>) {
        self.attributes.push(Attribute {
            typ,
            value: value.into(),
        });
    }

    pub fn push_u32(&mut self, typ: u8, value: u32) {
        self.push(typ, value.to_be_bytes());
    }

    /// Appends a Vendor-Specific attribute holding one sub-attribute.
    pub fn push_vendor(&mut self, vendor: u32, typ: u8, value: &[u8]) {
        let mut v = Vec::with_capacity(6 + value.len());
        v.extend_from_slice(&vendor.to_be_bytes());
        v.push(typ);
        v.push((2 + value.len()).min(255) as u8);
        v.extend_from_slice(value);
        self.push(attr::VENDOR_SPECIFIC, v);
    }

    /// Removes every attribute `typ`.
    pub fn remove(&mut self, typ: u8) {
        self.attributes.retain(|a| a.typ != typ);
    }
}

/// A big-endian u32 of exactly four bytes.
pub fn be_u32(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
}

/// Splits a Vendor-Specific value into (vendor, sub-type, sub-value) of its first
/// sub-attribute; `None` when the value is not well formed (see [`vendor_attributes`]).
pub fn split_vendor(v: &[u8]) -> Option<(u32, u8, &[u8])> {
    vendor_attributes(v).next()
}

/// The sub-attributes of a Vendor-Specific value, in order: (vendor, sub-type, sub-value). None
/// unless the value is a vendor number and sub-attributes (type, length ≥ 2, value) that fill it
/// exactly; FreeRADIUS likewise keeps such a Vendor-Specific opaque rather than read part of it.
pub fn vendor_attributes(v: &[u8]) -> impl Iterator<Item = (u32, u8, &[u8])> {
    match v {
        [a, b, c, d, subs @ ..] if !subs.is_empty() && well_formed_subs(subs) => VendorAttributes {
            vendor: u32::from_be_bytes([*a, *b, *c, *d]),
            rest: subs,
        },
        _ => VendorAttributes {
            vendor: 0,
            rest: &[],
        },
    }
}

fn well_formed_subs(mut subs: &[u8]) -> bool {
    while !subs.is_empty() {
        let len = match subs {
            [_, len, ..] => usize::from(*len),
            _ => return false,
        };
        if len < 2 || len > subs.len() {
            return false;
        }
        subs = &subs[len..];
    }
    true
}

/// The iterator of [`vendor_attributes`] over checked sub-attributes.
struct VendorAttributes<'a> {
    vendor: u32,
    rest: &'a [u8],
}

impl<'a> Iterator for VendorAttributes<'a> {
    type Item = (u32, u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let [typ, len, ..] = *self.rest else {
            return None;
        };
        let (sub, rest) = self.rest.split_at(usize::from(len));
        self.rest = rest;
        Some((self.vendor, typ, &sub[2..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Packet {
        let mut p = Packet::new(Code::AccessRequest, 7, [9; 16]);
        p.push(attr::USER_NAME, "alice");
        p.push_u32(attr::NAS_PORT, 3);
        p.push_vendor(vendor::MIKROTIK, 8, b"2M/4M");
        p
    }

    #[test]
    fn round_trip_keeps_order_and_values() {
        let p = sample();
        let bytes = p.encode_raw().unwrap();
        assert_eq!(bytes.len(), 20 + 7 + 6 + 13);
        assert_eq!(
            u16::from_be_bytes([bytes[2], bytes[3]]) as usize,
            bytes.len()
        );
        let back = Packet::decode(&bytes).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.get_text(attr::USER_NAME).as_deref(), Some("alice"));
        assert_eq!(back.get_u32(attr::NAS_PORT), Some(3));
        assert_eq!(back.get_vendor(vendor::MIKROTIK, 8), Some(&b"2M/4M"[..]));
        assert_eq!(back.get_vendor(vendor::MIKROTIK, 9), None);
    }

    /// RFC 2865 §5.26 lets one Vendor-Specific carry several sub-attributes of its vendor; each
    /// is found. A value whose sub-attributes do not fill it exactly is read as none, as
    /// FreeRADIUS reads it, not as its first sub-attribute.
    #[test]
    fn vendor_specific_with_several_sub_attributes() {
        let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
        let mut packed = vendor::MICROSOFT.to_be_bytes().to_vec();
        packed.extend_from_slice(&[11, 18]);
        packed.extend_from_slice(&[0xc1; 16]);
        packed.extend_from_slice(&[25, 4, 0xaa, 0xbb]);
        p.push(attr::VENDOR_SPECIFIC, packed.clone());
        let p = Packet::decode(&p.encode_raw().unwrap()).unwrap();
        assert_eq!(p.get_vendor(vendor::MICROSOFT, 11), Some(&[0xc1; 16][..]));
        assert_eq!(p.get_vendor(vendor::MICROSOFT, 25), Some(&[0xaa, 0xbb][..]));
        assert_eq!(
            split_vendor(&packed),
            Some((vendor::MICROSOFT, 11, &[0xc1; 16][..]))
        );
        assert_eq!(vendor_attributes(&packed).count(), 2);

        let mut trailing = packed.clone();
        trailing.push(7);
        let mut short = packed.clone();
        short.truncate(packed.len() - 1);
        let mut zero = packed;
        zero[5] = 0;
        for bad in [
            trailing,
            short,
            zero,
            vendor::MIKROTIK.to_be_bytes().to_vec(),
        ] {
            assert_eq!(vendor_attributes(&bad).count(), 0, "{bad:?}");
            assert_eq!(split_vendor(&bad), None);
        }
    }

    #[test]
    fn padding_after_the_length_is_ignored() {
        let mut bytes = sample().encode_raw().unwrap();
        bytes.extend_from_slice(&[0xff; 10]);
        assert_eq!(Packet::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn malformed_packets_are_errors() {
        let good = sample().encode_raw().unwrap();
        assert_eq!(Packet::decode(&good[..19]), Err(DecodeError::Short(19)));
        let mut long = good.clone();
        long[3] = long[3].wrapping_add(1);
        assert!(matches!(
            Packet::decode(&long),
            Err(DecodeError::Length { .. })
        ));
        let mut code = good.clone();
        code[0] = 99;
        assert_eq!(Packet::decode(&code), Err(DecodeError::Code(99)));
        let mut zero = good.clone();
        zero[21] = 0;
        assert_eq!(Packet::decode(&zero), Err(DecodeError::Attribute(20)));
        let mut overrun = good.clone();
        overrun[21] = 200;
        assert_eq!(Packet::decode(&overrun), Err(DecodeError::Attribute(20)));
        // A length field below the header.
        let mut tiny = good;
        tiny[2] = 0;
        tiny[3] = 4;
        assert!(matches!(
            Packet::decode(&tiny),
            Err(DecodeError::Length { .. })
        ));
    }

    #[test]
    fn oversized_packets_and_attributes_are_refused() {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        p.push(attr::REPLY_MESSAGE, vec![b'x'; 254]);
        assert!(matches!(
            p.encode_raw(),
            Err(EncodeError::AttributeTooLong { typ: 18, len: 254 })
        ));
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        for _ in 0..17 {
            p.push(attr::REPLY_MESSAGE, vec![b'x'; 253]);
        }
        assert!(matches!(p.encode_raw(), Err(EncodeError::TooLong(_))));
    }

    /// Random and mutated datagrams: decoding never panics, and whatever decodes encodes back to
    /// the same bytes (up to the length field).
    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let good = sample().encode_raw().unwrap();
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                good.clone()
            } else {
                let n = (next() % 200) as usize;
                (0..n).map(|_| next() as u8).collect()
            };
            let flips = 1 + next() % 4;
            for _ in 0..flips {
                if bytes.is_empty() {
                    break;
                }
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            if let Ok(p) = Packet::decode(&bytes) {
                let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
                assert_eq!(p.encode_raw().unwrap(), bytes[..len]);
            }
        }
    }
}
