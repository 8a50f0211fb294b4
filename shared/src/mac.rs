//! MAC addresses as the product stores and compares them.
//!
//! The canonical text form is lower-case, colon-separated (`aa:bb:cc:dd:ee:ff`): the form the
//! kernel neighbour table and dnsmasq print, and the one kept in `mac_address VARCHAR(17)` columns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// Why a MAC address did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address: expected six hex pairs such as aa:bb:cc:dd:ee:ff")]
pub struct MacParseError;

impl MacAddr {
    /// The octets, most significant first.
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True for a group (multicast or broadcast) address: never a client.
    pub fn is_group(self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True when the address is locally administered, as phones' randomised Wi-Fi MACs are.
    pub fn is_locally_administered(self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff` and `aabbccddeeff`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() > 17 {
            return Err(MacParseError);
        }
        let mut out = [0u8; 6];
        let mut n = 0usize;
        let mut high: Option<u8> = None;
        for c in s.chars() {
            match c {
                ':' | '-' | '.' => {
                    if high.is_some() {
                        return Err(MacParseError);
                    }
                }
                _ => {
                    let v = c.to_digit(16).ok_or(MacParseError)? as u8;
                    match high.take() {
                        None => high = Some(v),
                        Some(h) => {
                            if n == 6 {
                                return Err(MacParseError);
                            }
                            out[n] = (h << 4) | v;
                            n += 1;
                        }
                    }
                }
            }
        }
        if n != 6 || high.is_some() {
            return Err(MacParseError);
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_common_spelling_to_one_form() {
        for s in [
            "aa:bb:cc:dd:ee:0f",
            "AA-BB-CC-DD-EE-0F",
            "aabb.ccdd.ee0f",
            "aabbccddee0f",
            " aa:bb:cc:dd:ee:0f\n",
        ] {
            let mac: MacAddr = s.parse().unwrap();
            assert_eq!(mac.to_string(), "aa:bb:cc:dd:ee:0f", "from {s:?}");
        }
    }

    #[test]
    fn refuses_malformed_addresses() {
        for s in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:fg",
            "a:bb:cc:dd:ee:ff0",
            "aabbccddeeff00",
            "ä",
        ] {
            assert_eq!(s.parse::<MacAddr>(), Err(MacParseError), "{s:?}");
        }
    }

    #[test]
    fn tells_group_and_randomised_addresses() {
        let bcast: MacAddr = "ff:ff:ff:ff:ff:ff".parse().unwrap();
        assert!(bcast.is_group());
        let random: MacAddr = "da:a1:19:00:00:01".parse().unwrap();
        assert!(random.is_locally_administered() && !random.is_group());
        let vendor: MacAddr = "00:1a:2b:3c:4d:5e".parse().unwrap();
        assert!(!vendor.is_locally_administered());
    }

    #[test]
    fn round_trips_through_json() {
        let mac: MacAddr = "00:1a:2b:3c:4d:5e".parse().unwrap();
        let json = serde_json::to_string(&mac).unwrap();
        assert_eq!(json, "\"00:1a:2b:3c:4d:5e\"");
        assert_eq!(serde_json::from_str::<MacAddr>(&json).unwrap(), mac);
        assert!(serde_json::from_str::<MacAddr>("\"nope\"").is_err());
    }
}
