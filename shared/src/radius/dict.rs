//! Attribute names as FreeRADIUS's dictionaries spell them (and `radreply.attribute` holds them),
//! with their numbers and value types: the standard attributes a reply or a check uses, and the
//! vendor attributes of the NAS types we speak (MikroTik, CoovaChilli/ChilliSpot, WISPr,
//! Microsoft's MS-CHAP).

use std::net::Ipv4Addr;

use super::{Packet, attr, vendor};

/// How a value is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// Bytes; written as `0x…` hex in the tables, or taken as text.
    Octets,
    /// A 32-bit unsigned integer; some have named values.
    Integer,
    /// An IPv4 address.
    Ipv4,
}

/// One attribute of the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def {
    pub name: &'static str,
    /// 0 for a standard attribute.
    pub vendor: u32,
    pub typ: u8,
    pub kind: Kind,
}

const fn std_attr(name: &'static str, typ: u8, kind: Kind) -> Def {
    Def {
        name,
        vendor: 0,
        typ,
        kind,
    }
}

const fn vsa(name: &'static str, vendor: u32, typ: u8, kind: Kind) -> Def {
    Def {
        name,
        vendor,
        typ,
        kind,
    }
}

use Kind::{Integer, Ipv4, Octets, Text};

/// Every attribute this product reads from the tables or a packet by name.
pub static DICTIONARY: &[Def] = &[
    std_attr("User-Name", attr::USER_NAME, Text),
    std_attr("NAS-IP-Address", attr::NAS_IP_ADDRESS, Ipv4),
    std_attr("NAS-Port", attr::NAS_PORT, Integer),
    std_attr("Service-Type", attr::SERVICE_TYPE, Integer),
    std_attr("Framed-Protocol", attr::FRAMED_PROTOCOL, Integer),
    std_attr("Framed-IP-Address", attr::FRAMED_IP_ADDRESS, Ipv4),
    std_attr("Framed-IP-Netmask", 9, Ipv4),
    std_attr("Filter-Id", 11, Text),
    std_attr("Framed-MTU", 12, Integer),
    std_attr("Reply-Message", attr::REPLY_MESSAGE, Text),
    std_attr("Framed-Route", 22, Text),
    std_attr("Class", attr::CLASS, Octets),
    std_attr("Session-Timeout", attr::SESSION_TIMEOUT, Integer),
    std_attr("Idle-Timeout", attr::IDLE_TIMEOUT, Integer),
    std_attr("Termination-Action", 29, Integer),
    std_attr("Called-Station-Id", attr::CALLED_STATION_ID, Text),
    std_attr("Calling-Station-Id", attr::CALLING_STATION_ID, Text),
    std_attr("NAS-Identifier", attr::NAS_IDENTIFIER, Text),
    std_attr("NAS-Port-Type", attr::NAS_PORT_TYPE, Integer),
    std_attr("Port-Limit", 62, Integer),
    std_attr(
        "Acct-Interim-Interval",
        attr::ACCT_INTERIM_INTERVAL,
        Integer,
    ),
    std_attr("NAS-Port-Id", attr::NAS_PORT_ID, Text),
    std_attr("Framed-Pool", 88, Text),
    vsa("Mikrotik-Recv-Limit", vendor::MIKROTIK, 1, Integer),
    vsa("Mikrotik-Xmit-Limit", vendor::MIKROTIK, 2, Integer),
    vsa("Mikrotik-Group", vendor::MIKROTIK, 3, Text),
    vsa("Mikrotik-Wireless-Forward", vendor::MIKROTIK, 4, Integer),
    vsa("Mikrotik-Rate-Limit", vendor::MIKROTIK, 8, Text),
    vsa("Mikrotik-Realm", vendor::MIKROTIK, 9, Text),
    vsa("Mikrotik-Host-IP", vendor::MIKROTIK, 10, Ipv4),
    vsa("Mikrotik-Mark-Id", vendor::MIKROTIK, 11, Text),
    vsa("Mikrotik-Advertise-URL", vendor::MIKROTIK, 12, Text),
    vsa("Mikrotik-Advertise-Interval", vendor::MIKROTIK, 13, Integer),
    vsa(
        "Mikrotik-Recv-Limit-Gigawords",
        vendor::MIKROTIK,
        14,
        Integer,
    ),
    vsa(
        "Mikrotik-Xmit-Limit-Gigawords",
        vendor::MIKROTIK,
        15,
        Integer,
    ),
    vsa("Mikrotik-Total-Limit", vendor::MIKROTIK, 17, Integer),
    vsa(
        "Mikrotik-Total-Limit-Gigawords",
        vendor::MIKROTIK,
        18,
        Integer,
    ),
    vsa("Mikrotik-Address-List", vendor::MIKROTIK, 19, Text),
    vsa("WISPr-Location-ID", vendor::WISPR, 1, Text),
    vsa("WISPr-Location-Name", vendor::WISPR, 2, Text),
    vsa("WISPr-Logoff-URL", vendor::WISPR, 3, Text),
    vsa("WISPr-Redirection-URL", vendor::WISPR, 4, Text),
    vsa("WISPr-Bandwidth-Min-Up", vendor::WISPR, 5, Integer),
    vsa("WISPr-Bandwidth-Min-Down", vendor::WISPR, 6, Integer),
    vsa("WISPr-Bandwidth-Max-Up", vendor::WISPR, 7, Integer),
    vsa("WISPr-Bandwidth-Max-Down", vendor::WISPR, 8, Integer),
    vsa("WISPr-Session-Terminate-Time", vendor::WISPR, 9, Text),
    vsa(
        "WISPr-Session-Terminate-End-Of-Day",
        vendor::WISPR,
        10,
        Integer,
    ),
    vsa("WISPr-Billing-Class-Of-Service", vendor::WISPR, 11, Text),
    vsa(
        "ChilliSpot-Max-Input-Octets",
        vendor::CHILLISPOT,
        1,
        Integer,
    ),
    vsa(
        "ChilliSpot-Max-Output-Octets",
        vendor::CHILLISPOT,
        2,
        Integer,
    ),
    vsa(
        "ChilliSpot-Max-Total-Octets",
        vendor::CHILLISPOT,
        3,
        Integer,
    ),
    vsa(
        "ChilliSpot-Bandwidth-Max-Up",
        vendor::CHILLISPOT,
        4,
        Integer,
    ),
    vsa(
        "ChilliSpot-Bandwidth-Max-Down",
        vendor::CHILLISPOT,
        5,
        Integer,
    ),
    vsa("ChilliSpot-Config", vendor::CHILLISPOT, 6, Text),
    vsa("ChilliSpot-Lang", vendor::CHILLISPOT, 7, Text),
    vsa(
        "ChilliSpot-Max-Input-Gigawords",
        vendor::CHILLISPOT,
        21,
        Integer,
    ),
    vsa(
        "ChilliSpot-Max-Output-Gigawords",
        vendor::CHILLISPOT,
        22,
        Integer,
    ),
    vsa(
        "ChilliSpot-Max-Total-Gigawords",
        vendor::CHILLISPOT,
        23,
        Integer,
    ),
];

/// Named integer values (FreeRADIUS's `VALUE` lines) of the attributes that have them.
static VALUES: &[(&str, &str, u32)] = &[
    ("Service-Type", "Login-User", 1),
    ("Service-Type", "Framed-User", 2),
    ("Service-Type", "Callback-Login-User", 3),
    ("Service-Type", "Outbound-User", 5),
    ("Service-Type", "Administrative-User", 6),
    ("Service-Type", "NAS-Prompt-User", 7),
    ("Service-Type", "Authenticate-Only", 8),
    ("Service-Type", "Call-Check", 10),
    ("Service-Type", "Authorize-Only", 17),
    ("Framed-Protocol", "PPP", 1),
    ("Framed-Protocol", "SLIP", 2),
    ("Termination-Action", "Default", 0),
    ("Termination-Action", "RADIUS-Request", 1),
    ("NAS-Port-Type", "Async", 0),
    ("NAS-Port-Type", "Virtual", 5),
    ("NAS-Port-Type", "Ethernet", 15),
    ("NAS-Port-Type", "Wireless-802.11", 19),
];

/// Why a table value cannot be sent as its attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{name}: {value:?} is not a number or a known value name")]
    Integer { name: &'static str, value: String },
    #[error("{name}: {value:?} is not an IPv4 address")]
    Ipv4 { name: &'static str, value: String },
    #[error("{name}: {value:?} is not hex after 0x")]
    Hex { name: &'static str, value: String },
    #[error("{name}: value is longer than 247 bytes")]
    TooLong { name: &'static str },
}

/// The attribute called `name` (case-insensitive, as FreeRADIUS matches names).
pub fn lookup(name: &str) -> Option<&'static Def> {
    DICTIONARY
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name.trim()))
}

/// The attribute numbered `typ` of `vendor` (0: standard).
pub fn by_number(vendor: u32, typ: u8) -> Option<&'static Def> {
    DICTIONARY
        .iter()
        .find(|d| d.vendor == vendor && d.typ == typ)
}

impl Def {
    /// The wire value of `text` as the tables write it.
    pub fn encode(&self, text: &str) -> Result<Vec<u8>, ValueError> {
        let text = text.trim();
        let bytes = match self.kind {
            Text => text.as_bytes().to_vec(),
            Octets => match text.strip_prefix("0x") {
                Some(hex) => decode_hex(hex).ok_or_else(|| ValueError::Hex {
                    name: self.name,
                    value: text.to_owned(),
                })?,
                None => text.as_bytes().to_vec(),
            },
            Integer => {
                let n = text.parse::<u32>().ok().or_else(|| {
                    VALUES
                        .iter()
                        .find(|(a, v, _)| *a == self.name && v.eq_ignore_ascii_case(text))
                        .map(|(_, _, n)| *n)
                });
                n.ok_or_else(|| ValueError::Integer {
                    name: self.name,
                    value: text.to_owned(),
                })?
                .to_be_bytes()
                .to_vec()
            }
            Ipv4 => text
                .parse::<Ipv4Addr>()
                .map_err(|_| ValueError::Ipv4 {
                    name: self.name,
                    value: text.to_owned(),
                })?
                .octets()
                .to_vec(),
        };
        if bytes.len() > 247 {
            return Err(ValueError::TooLong { name: self.name });
        }
        Ok(bytes)
    }

    /// The text form of a wire value (what a check item compares against).
    pub fn format(&self, value: &[u8]) -> String {
        match self.kind {
            Text | Octets => String::from_utf8_lossy(value).into_owned(),
            Integer => super::be_u32(value)
                .map(|n| {
                    VALUES
                        .iter()
                        .find(|(a, _, v)| *a == self.name && *v == n)
                        .map_or_else(|| n.to_string(), |(_, name, _)| (*name).to_owned())
                })
                .unwrap_or_default(),
            Ipv4 => <[u8; 4]>::try_from(value)
                .map(|o| Ipv4Addr::from(o).to_string())
                .unwrap_or_default(),
        }
    }

    /// Appends this attribute with an already encoded value.
    pub fn push(&self, packet: &mut Packet, value: &[u8]) {
        if self.vendor == 0 {
            packet.push(self.typ, value);
        } else {
            packet.push_vendor(self.vendor, self.typ, value);
        }
    }

    /// This attribute's first value in `packet`.
    pub fn get<'p>(&self, packet: &'p Packet) -> Option<&'p [u8]> {
        if self.vendor == 0 {
            packet.get(self.typ)
        } else {
            packet.get_vendor(self.vendor, self.typ)
        }
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::Code;

    #[test]
    fn names_and_values() {
        let d = lookup("mikrotik-rate-limit").unwrap();
        assert_eq!((d.vendor, d.typ), (vendor::MIKROTIK, 8));
        assert_eq!(d.encode("2M/4M").unwrap(), b"2M/4M");
        let st = lookup("Service-Type").unwrap();
        assert_eq!(st.encode("Framed-User").unwrap(), 2u32.to_be_bytes());
        assert_eq!(st.encode("7").unwrap(), 7u32.to_be_bytes());
        assert_eq!(st.format(&2u32.to_be_bytes()), "Framed-User");
        assert!(st.encode("Nonsense").is_err());
        let ip = lookup("Framed-IP-Address").unwrap();
        assert_eq!(ip.encode("10.0.0.9").unwrap(), [10, 0, 0, 9]);
        assert!(ip.encode("10.0.0").is_err());
        let class = lookup("Class").unwrap();
        assert_eq!(class.encode("0x0aff").unwrap(), [0x0a, 0xff]);
        assert!(class.encode("0xzz").is_err());
        assert!(lookup("No-Such-Attribute").is_none());
        assert_eq!(
            by_number(vendor::CHILLISPOT, 3).unwrap().name,
            "ChilliSpot-Max-Total-Octets"
        );
    }

    #[test]
    fn vendor_attributes_land_in_vendor_specific() {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        let d = lookup("WISPr-Bandwidth-Max-Down").unwrap();
        d.push(&mut p, &d.encode("2000000").unwrap());
        let bytes = p.encode_raw().unwrap();
        let back = Packet::decode(&bytes).unwrap();
        assert_eq!(d.get(&back), Some(&2_000_000u32.to_be_bytes()[..]));
        assert_eq!(back.attributes[0].typ, attr::VENDOR_SPECIFIC);
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in DICTIONARY.iter().enumerate() {
            for b in &DICTIONARY[i + 1..] {
                assert!(!a.name.eq_ignore_ascii_case(b.name), "{}", a.name);
                assert!((a.vendor, a.typ) != (b.vendor, b.typ), "{}", a.name);
            }
        }
    }
}
