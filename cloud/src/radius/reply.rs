//! What an Access-Accept grants, written in the dialect of the NAS (pure functions).
//!
//! Rates are the guest's view: `up` is what the device sends. MikroTik's Rate-Limit is written
//! from the router's side, `rx/tx`, where rx is the client's upload. Octet limits of 4 GiB or
//! more need the Gigawords attribute beside the 32-bit one.

use hotspot_shared::radius::dict::{self, Def};
use hotspot_shared::radius::{Packet, attr};

use super::clients::Dialect;

/// What a login is allowed, before the dialect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Seconds until the session must end (time left on a voucher or an account).
    pub session_timeout: Option<u32>,
    pub idle_timeout: Option<u32>,
    pub interim_interval: Option<u32>,
    pub up_kbps: Option<u32>,
    pub down_kbps: Option<u32>,
    /// Bytes (up plus down) left.
    pub total_bytes: Option<u64>,
    /// Echoed by the NAS in accounting: ties its sessions to what authorised them.
    pub class: Option<String>,
}

fn put(reply: &mut Packet, name: &str, value: &[u8]) {
    let def: &Def = dict::lookup(name).expect("attribute names here are in the dictionary");
    if def.get(reply).is_none() {
        def.push(reply, value);
    }
}

fn put_u32(reply: &mut Packet, name: &str, n: u32) {
    put(reply, name, &n.to_be_bytes());
}

/// Splits a byte count into (low 32 bits, gigawords).
pub fn split_octets(bytes: u64) -> (u32, u32) {
    (bytes as u32, (bytes >> 32).min(u64::from(u32::MAX)) as u32)
}

/// Adds the grant's attributes to `reply`, skipping any the tables already set.
pub fn apply(reply: &mut Packet, grant: &Grant, dialect: Dialect) {
    if let Some(s) = grant.session_timeout {
        put_u32(reply, "Session-Timeout", s);
    }
    if let Some(s) = grant.idle_timeout {
        put_u32(reply, "Idle-Timeout", s);
    }
    if let Some(s) = grant.interim_interval {
        // RFC 2869 §5.16: not below 60 s.
        put_u32(reply, "Acct-Interim-Interval", s.max(60));
    }
    if let Some(c) = &grant.class
        && !reply.has(attr::CLASS)
    {
        reply.push(attr::CLASS, c.as_bytes());
    }
    let up = grant.up_kbps.filter(|k| *k > 0);
    let down = grant.down_kbps.filter(|k| *k > 0);
    let total = grant.total_bytes.map(split_octets);
    match dialect {
        Dialect::Mikrotik => {
            if up.is_some() || down.is_some() {
                let rate = format!("{}k/{}k", up.unwrap_or(0), down.unwrap_or(0));
                put(reply, "Mikrotik-Rate-Limit", rate.as_bytes());
            }
            if let Some((low, giga)) = total {
                put_u32(reply, "Mikrotik-Total-Limit", low);
                if giga > 0 {
                    put_u32(reply, "Mikrotik-Total-Limit-Gigawords", giga);
                }
            }
        }
        Dialect::Chilli | Dialect::Wispr => {
            if dialect == Dialect::Chilli {
                if let Some(k) = up {
                    put_u32(reply, "ChilliSpot-Bandwidth-Max-Up", k);
                }
                if let Some(k) = down {
                    put_u32(reply, "ChilliSpot-Bandwidth-Max-Down", k);
                }
            }
            if let Some(k) = up {
                put_u32(reply, "WISPr-Bandwidth-Max-Up", k.saturating_mul(1000));
            }
            if let Some(k) = down {
                put_u32(reply, "WISPr-Bandwidth-Max-Down", k.saturating_mul(1000));
            }
            if let Some((low, giga)) = total {
                put_u32(reply, "ChilliSpot-Max-Total-Octets", low);
                if giga > 0 {
                    put_u32(reply, "ChilliSpot-Max-Total-Gigawords", giga);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotspot_shared::radius::{Code, vendor};

    fn grant() -> Grant {
        Grant {
            session_timeout: Some(3600),
            idle_timeout: Some(600),
            interim_interval: Some(30),
            up_kbps: Some(1000),
            down_kbps: Some(4000),
            total_bytes: Some(5 * (1 << 30)),
            class: Some("hotspot:v:1".into()),
        }
    }

    #[test]
    fn mikrotik() {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        apply(&mut p, &grant(), Dialect::Mikrotik);
        assert_eq!(p.get_u32(attr::SESSION_TIMEOUT), Some(3600));
        assert_eq!(p.get_u32(attr::ACCT_INTERIM_INTERVAL), Some(60));
        assert_eq!(p.get_vendor(vendor::MIKROTIK, 8), Some(&b"1000k/4000k"[..]));
        assert_eq!(
            p.get_vendor(vendor::MIKROTIK, 17),
            Some(&(1u32 << 30).to_be_bytes()[..])
        );
        assert_eq!(
            p.get_vendor(vendor::MIKROTIK, 18),
            Some(&1u32.to_be_bytes()[..])
        );
        assert_eq!(p.get_vendor(vendor::WISPR, 7), None);
    }

    #[test]
    fn chilli_and_wispr() {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        apply(&mut p, &grant(), Dialect::Chilli);
        assert_eq!(
            p.get_vendor(vendor::CHILLISPOT, 4),
            Some(&1000u32.to_be_bytes()[..])
        );
        assert_eq!(
            p.get_vendor(vendor::WISPR, 8),
            Some(&4_000_000u32.to_be_bytes()[..])
        );
        assert_eq!(
            p.get_vendor(vendor::CHILLISPOT, 23),
            Some(&1u32.to_be_bytes()[..])
        );
        let mut w = Packet::new(Code::AccessAccept, 1, [0; 16]);
        apply(&mut w, &grant(), Dialect::Wispr);
        assert_eq!(w.get_vendor(vendor::CHILLISPOT, 4), None);
        assert!(w.get_vendor(vendor::WISPR, 7).is_some());
    }

    #[test]
    fn table_values_win() {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        p.push_u32(attr::SESSION_TIMEOUT, 60);
        p.push_vendor(vendor::MIKROTIK, 8, b"512k/512k");
        apply(&mut p, &grant(), Dialect::Mikrotik);
        assert_eq!(p.get_all(attr::SESSION_TIMEOUT).count(), 1);
        assert_eq!(p.get_u32(attr::SESSION_TIMEOUT), Some(60));
        assert_eq!(p.get_vendor(vendor::MIKROTIK, 8), Some(&b"512k/512k"[..]));
    }
}
