//! What hotspotd puts in its requests and reads from the server's replies: plain functions over
//! [`Packet`]s, no I/O.
//!
//! An Access-Accept's limits, in the dialects NAS vendors' servers speak (RFC 2865/2869,
//! CoovaChilli, WISPr, MikroTik): Session-Timeout, Idle-Timeout, Acct-Interim-Interval,
//! ChilliSpot-Bandwidth-Max-Up/Down (kbit/s), WISPr-Bandwidth-Max-Up/Down (bit/s),
//! Mikrotik-Rate-Limit (`rx/tx`, where rx is the guest's upload), and
//! ChilliSpot-Max-Total-Octets (+ Gigawords). Where several name a rate, the first found in
//! that order wins (ChilliSpot, then WISPr, then MikroTik).

use std::net::IpAddr;

use hotspot_shared::MacAddr;
use hotspot_shared::radius::{Code, Packet, attr, vendor};

use super::settings::RadiusConfig;

/// NAS-Port-Type Wireless-802.11 (RFC 2865 §5.41).
pub const PORT_TYPE_WIRELESS: u32 = 19;
/// Service-Type Login-User (RFC 2865 §5.6), what a captive portal login is.
pub const SERVICE_LOGIN: u32 = 1;
/// Service-Type Call-Check (RFC 2865 §5.6): a MAC authentication, nothing typed by the guest.
pub const SERVICE_CALL_CHECK: u32 = 10;

const CHILLI_MAX_TOTAL_OCTETS: u8 = 3;
const CHILLI_BANDWIDTH_MAX_UP: u8 = 4;
const CHILLI_BANDWIDTH_MAX_DOWN: u8 = 5;
const CHILLI_MAX_TOTAL_GIGAWORDS: u8 = 23;
const WISPR_BANDWIDTH_MAX_UP: u8 = 7;
const WISPR_BANDWIDTH_MAX_DOWN: u8 = 8;
const MIKROTIK_RATE_LIMIT: u8 = 8;

/// What an Access-Accept grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    /// Seconds the session may last (Session-Timeout).
    pub session_timeout: Option<u32>,
    /// Seconds without traffic that end it (Idle-Timeout).
    pub idle_timeout: Option<u32>,
    /// Seconds between Interim-Updates (Acct-Interim-Interval, raised to 60 when lower).
    pub interim_interval: Option<u32>,
    /// Rates in kbit/s; `None` (or 0): not limited by the server.
    pub down_kbps: Option<u32>,
    pub up_kbps: Option<u32>,
    /// Bytes (up plus down) the session may move.
    pub data_bytes: Option<u64>,
    /// The Class attributes, in order, to echo in accounting (RFC 2865 §5.25).
    pub class: Vec<Vec<u8>>,
    /// The Reply-Message lines joined, for the guest.
    pub reply_message: Option<String>,
}

/// The Reply-Message attributes of a reply, joined by spaces; control characters dropped.
pub fn reply_message(p: &Packet) -> Option<String> {
    let joined = p
        .get_all(attr::REPLY_MESSAGE)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let clean: String = joined
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(253)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// A MikroTik rate (`512k`, `2M`, `1G`, or plain bits per second) in kbit/s.
pub fn mikrotik_rate(text: &str) -> Option<u32> {
    let t = text.trim();
    let (digits, scale) = match t.as_bytes().last()? {
        b'k' | b'K' => (&t[..t.len() - 1], 1u64),
        b'M' | b'm' => (&t[..t.len() - 1], 1_000),
        b'G' | b'g' => (&t[..t.len() - 1], 1_000_000),
        _ => return t.parse::<u64>().ok().map(|bps| clamp_kbps(bps / 1000)),
    };
    digits
        .parse::<u64>()
        .ok()
        .map(|n| clamp_kbps(n.saturating_mul(scale)))
}

fn clamp_kbps(k: u64) -> u32 {
    k.min(u64::from(u32::MAX)) as u32
}

/// Mikrotik-Rate-Limit `rx[/tx] [bursts…]` as (up, down) kbit/s: rx is what the router receives
/// from the guest, so the guest's upload. Bursts and priorities are not applied.
pub fn mikrotik_rate_limit(text: &str) -> Option<(u32, u32)> {
    let first = text.split_whitespace().next()?;
    let (rx, tx) = match first.split_once('/') {
        Some((rx, tx)) => (rx, tx),
        None => (first, first),
    };
    Some((mikrotik_rate(rx)?, mikrotik_rate(tx)?))
}

fn nonzero(v: Option<u32>) -> Option<u32> {
    v.filter(|&k| k > 0)
}

/// Reads an Access-Accept.
pub fn authorization(accept: &Packet) -> Authorization {
    let u32_of = |v: Option<&[u8]>| v.and_then(hotspot_shared::radius::be_u32);
    let chilli = |t| u32_of(accept.get_vendor(vendor::CHILLISPOT, t));
    let wispr = |t| u32_of(accept.get_vendor(vendor::WISPR, t)).map(|bps| bps / 1000);
    let mikrotik = accept
        .get_vendor(vendor::MIKROTIK, MIKROTIK_RATE_LIMIT)
        .and_then(|v| mikrotik_rate_limit(&String::from_utf8_lossy(v)));
    let up = nonzero(chilli(CHILLI_BANDWIDTH_MAX_UP))
        .or(nonzero(wispr(WISPR_BANDWIDTH_MAX_UP)))
        .or(nonzero(mikrotik.map(|m| m.0)));
    let down = nonzero(chilli(CHILLI_BANDWIDTH_MAX_DOWN))
        .or(nonzero(wispr(WISPR_BANDWIDTH_MAX_DOWN)))
        .or(nonzero(mikrotik.map(|m| m.1)));
    let octets = chilli(CHILLI_MAX_TOTAL_OCTETS);
    let giga = chilli(CHILLI_MAX_TOTAL_GIGAWORDS);
    let data_bytes = match (octets, giga) {
        (None, None) => None,
        (o, g) => Some((u64::from(g.unwrap_or(0)) << 32) | u64::from(o.unwrap_or(0))),
    };
    Authorization {
        session_timeout: accept.get_u32(attr::SESSION_TIMEOUT),
        idle_timeout: accept.get_u32(attr::IDLE_TIMEOUT).filter(|&s| s > 0),
        interim_interval: accept
            .get_u32(attr::ACCT_INTERIM_INTERVAL)
            .filter(|&s| s > 0)
            .map(|s| s.max(60)),
        down_kbps: down,
        up_kbps: up,
        data_bytes,
        class: accept
            .get_all(attr::CLASS)
            .map(<[u8]>::to_vec)
            .take(8)
            .collect(),
        reply_message: reply_message(accept),
    }
}

/// The attributes every request of this NAS carries: NAS-Identifier, NAS-IP-Address,
/// Called-Station-Id.
fn push_nas(p: &mut Packet, cfg: &RadiusConfig) {
    p.push(attr::NAS_IDENTIFIER, cfg.nas_identifier.as_bytes());
    if let Some(ip) = cfg.nas_ip_address {
        p.push(attr::NAS_IP_ADDRESS, ip.octets());
    }
    if !cfg.called_station_id.is_empty() {
        p.push(attr::CALLED_STATION_ID, cfg.called_station_id.as_bytes());
    }
}

/// The guest's attributes: Calling-Station-Id (its MAC in the configured format) and
/// Framed-IP-Address (IPv4 guests).
fn push_guest(p: &mut Packet, cfg: &RadiusConfig, mac: MacAddr, ip: Option<IpAddr>) {
    p.push(attr::CALLING_STATION_ID, cfg.mac_format.format(mac));
    if let Some(IpAddr::V4(v4)) = ip {
        p.push(attr::FRAMED_IP_ADDRESS, v4.octets());
    }
}

/// A Status-Server (RFC 5997) to see whether a server is alive: NAS-Identifier and
/// NAS-IP-Address only (the client adds Message-Authenticator, which RFC 5997 requires).
pub fn status_server(cfg: &RadiusConfig) -> Packet {
    let mut p = Packet::new(Code::StatusServer, 0, [0; 16]);
    p.push(attr::NAS_IDENTIFIER, cfg.nas_identifier.as_bytes());
    if let Some(ip) = cfg.nas_ip_address {
        p.push(attr::NAS_IP_ADDRESS, ip.octets());
    }
    p
}

/// A PAP Access-Request for `user` at `mac`/`ip` (the client adds User-Password,
/// Message-Authenticator, the identifier and the authenticator).
pub fn access_request(cfg: &RadiusConfig, user: &str, mac: MacAddr, ip: Option<IpAddr>) -> Packet {
    let mut p = Packet::new(Code::AccessRequest, 0, [0; 16]);
    // The same User-Name goes in the session's accounting: never shortened here (the portal
    // refuses names over 253 bytes, what one attribute holds).
    p.push(attr::USER_NAME, user.as_bytes());
    p.push_u32(attr::SERVICE_TYPE, SERVICE_LOGIN);
    push_nas(&mut p, cfg);
    p.push_u32(attr::NAS_PORT_TYPE, PORT_TYPE_WIRELESS);
    push_guest(&mut p, cfg, mac, ip);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept() -> Packet {
        Packet::new(Code::AccessAccept, 1, [0; 16])
    }

    #[test]
    fn mikrotik_rates() {
        assert_eq!(mikrotik_rate("512k"), Some(512));
        assert_eq!(mikrotik_rate("2M"), Some(2000));
        assert_eq!(mikrotik_rate("1G"), Some(1_000_000));
        assert_eq!(mikrotik_rate("64000"), Some(64));
        assert_eq!(mikrotik_rate("x"), None);
        assert_eq!(mikrotik_rate(""), None);
        assert_eq!(mikrotik_rate_limit("1M/4M"), Some((1000, 4000)));
        assert_eq!(
            mikrotik_rate_limit("1M/4M 2M/8M 768k/3M 16/16 8 256k/1M"),
            Some((1000, 4000))
        );
        assert_eq!(mikrotik_rate_limit("2M"), Some((2000, 2000)));
        assert_eq!(mikrotik_rate_limit("2M/"), None);
    }

    #[test]
    fn standard_and_chillispot_attributes() {
        let mut p = accept();
        p.push_u32(attr::SESSION_TIMEOUT, 3600);
        p.push_u32(attr::IDLE_TIMEOUT, 300);
        p.push_u32(attr::ACCT_INTERIM_INTERVAL, 30);
        p.push_vendor(
            vendor::CHILLISPOT,
            CHILLI_BANDWIDTH_MAX_UP,
            &512u32.to_be_bytes(),
        );
        p.push_vendor(
            vendor::CHILLISPOT,
            CHILLI_BANDWIDTH_MAX_DOWN,
            &2048u32.to_be_bytes(),
        );
        p.push_vendor(
            vendor::CHILLISPOT,
            CHILLI_MAX_TOTAL_OCTETS,
            &5u32.to_be_bytes(),
        );
        p.push_vendor(
            vendor::CHILLISPOT,
            CHILLI_MAX_TOTAL_GIGAWORDS,
            &1u32.to_be_bytes(),
        );
        // Lower precedence: ignored while ChilliSpot names the rates.
        p.push_vendor(
            vendor::WISPR,
            WISPR_BANDWIDTH_MAX_DOWN,
            &9_000_000u32.to_be_bytes(),
        );
        p.push(attr::CLASS, "hotspot:voucher:1");
        p.push(attr::CLASS, vec![0, 1, 2]);
        p.push(attr::REPLY_MESSAGE, "Welcome,");
        p.push(attr::REPLY_MESSAGE, "alice\n");
        let a = authorization(&p);
        assert_eq!(
            a,
            Authorization {
                session_timeout: Some(3600),
                idle_timeout: Some(300),
                interim_interval: Some(60),
                down_kbps: Some(2048),
                up_kbps: Some(512),
                data_bytes: Some((1 << 32) + 5),
                class: vec![b"hotspot:voucher:1".to_vec(), vec![0, 1, 2]],
                reply_message: Some("Welcome, alice".into()),
            }
        );
    }

    #[test]
    fn wispr_then_mikrotik() {
        let mut p = accept();
        p.push_vendor(
            vendor::WISPR,
            WISPR_BANDWIDTH_MAX_UP,
            &1_000_000u32.to_be_bytes(),
        );
        p.push_vendor(vendor::MIKROTIK, MIKROTIK_RATE_LIMIT, b"256k/8M");
        let a = authorization(&p);
        assert_eq!((a.up_kbps, a.down_kbps), (Some(1000), Some(8000)));
        assert_eq!(a.data_bytes, None);
        assert_eq!(a.session_timeout, None);
        assert_eq!(authorization(&accept()), Authorization::default());
    }

    #[test]
    fn access_requests_carry_the_nas_and_the_guest() {
        let raw: super::super::settings::RawRadius = toml::from_str(
            "enabled = true\nauth_servers = [\"127.0.0.1\"]\nsecret = \"0123456789abcdef\"\n\
             nas_identifier = \"site-1\"\nnas_ip_address = \"192.0.2.1\"\n\
             called_station_id = \"Cafe WiFi\"\nmac_format = \"aa:bb:cc:dd:ee:ff\"",
        )
        .unwrap();
        let cfg = raw.validate().unwrap().unwrap();
        let mac: MacAddr = "02:00:00:00:00:0a".parse().unwrap();
        let p = access_request(&cfg, "alice", mac, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(p.get_text(attr::USER_NAME).as_deref(), Some("alice"));
        assert_eq!(p.get_text(attr::NAS_IDENTIFIER).as_deref(), Some("site-1"));
        assert_eq!(
            p.get_ipv4(attr::NAS_IP_ADDRESS),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            p.get_text(attr::CALLED_STATION_ID).as_deref(),
            Some("Cafe WiFi")
        );
        assert_eq!(
            p.get_text(attr::CALLING_STATION_ID).as_deref(),
            Some("02:00:00:00:00:0a")
        );
        assert_eq!(p.get_u32(attr::NAS_PORT_TYPE), Some(PORT_TYPE_WIRELESS));
        assert_eq!(
            p.get_ipv4(attr::FRAMED_IP_ADDRESS),
            Some("10.0.0.9".parse().unwrap())
        );
    }
}
