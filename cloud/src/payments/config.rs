//! The payments configuration, and the plain logic of who may post callbacks (CIDR allowlist,
//! trusted proxies and `X-Forwarded-For`).

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;

/// How the service takes M-Pesa payments. Built by `main` from flags and environment, by tests
/// directly.
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// Where Daraja reaches this service from the internet (`https://pay.example.com`): STK
    /// callback URLs are this plus `/mpesa/callback/{token}`. Without it no push is sent
    /// (purchases are refused as `payments_unavailable`).
    pub public_base_url: Option<Url>,
    /// Daraja's base URL for tenants whose settings say `sandbox`.
    pub sandbox_url: Url,
    /// Daraja's base URL for tenants whose settings say `production`.
    pub production_url: Url,
    /// Addresses callbacks may come from; empty means any (the token still has to match).
    pub allowlist: Vec<Cidr>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Time from an accepted push to its first STK query (Daraja's advice: about 45 s).
    pub first_query_after: Duration,
    /// Time between queries at first; doubles per query up to [`Self::query_max_every`].
    pub query_every: Duration,
    pub query_max_every: Duration,
    /// A push with no result this long after it was sent fails as `no_answer`.
    pub give_up_after: Duration,
    /// How often the jobs loop looks for work.
    pub job_interval: Duration,
    /// Days a purchased voucher may wait for its first use.
    pub voucher_valid_days: u32,
    /// How often the jobs loop runs `handle_automatic_renewals()` for every tenant; `None`:
    /// never (tests, or renewals run elsewhere).
    pub renewal_interval: Option<Duration>,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            public_base_url: None,
            sandbox_url: Url::parse("https://sandbox.safaricom.co.ke/").expect("valid URL"),
            production_url: Url::parse("https://api.safaricom.co.ke/").expect("valid URL"),
            allowlist: Vec::new(),
            trusted_proxies: Vec::new(),
            first_query_after: Duration::from_secs(45),
            query_every: Duration::from_secs(30),
            query_max_every: Duration::from_secs(60),
            give_up_after: Duration::from_secs(15 * 60),
            job_interval: Duration::from_secs(5),
            voucher_valid_days: 7,
            renewal_interval: Some(Duration::from_secs(3600)),
        }
    }
}

impl PaymentsConfig {
    /// Safaricom's published callback source addresses (DARAJA.md), for `--mpesa-allowlist
    /// safaricom`.
    pub const SAFARICOM_SOURCES: [&'static str; 12] = [
        "196.201.214.200/32",
        "196.201.214.206/32",
        "196.201.214.207/32",
        "196.201.214.208/32",
        "196.201.213.114/32",
        "196.201.213.44/32",
        "196.201.212.127/32",
        "196.201.212.128/32",
        "196.201.212.129/32",
        "196.201.212.132/32",
        "196.201.212.136/32",
        "196.201.212.138/32",
    ];

    /// The delay before the query after `attempts` queries already made.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.min(10);
        (self.query_every * factor).min(self.query_max_every.max(self.query_every))
    }

    /// Whether a callback from `ip` is let in.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.allowlist.is_empty() || self.allowlist.iter().any(|c| c.contains(ip))
    }

    /// Parses a comma-separated CIDR list; `safaricom` stands for Safaricom's addresses.
    pub fn parse_cidrs(list: &str) -> Result<Vec<Cidr>, String> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.eq_ignore_ascii_case("safaricom") {
                for s in Self::SAFARICOM_SOURCES {
                    out.push(s.parse()?);
                }
            } else {
                out.push(item.parse()?);
            }
        }
        Ok(out)
    }
}

/// An address block such as `196.201.214.0/24` or `2001:db8::/32` (a bare address is /32 or
/// /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not an address block: {s:?} (expected such as 196.201.214.0/24)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| bad())?,
                Some(p.parse::<u8>().map_err(|_| bad())?),
            ),
            None => (s.parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The address a request came from: the peer, or, when the peer is a trusted proxy, the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy (addresses further
/// left were written by the client and prove nothing).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut current = peer;
    for hop in header.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // A malformed hop: stop at the last address we could believe.
            return current;
        };
        current = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "196.201.214.0/24".parse().unwrap();
        assert!(c.contains(ip("196.201.214.200")));
        assert!(!c.contains(ip("196.201.215.1")));
        assert!(c.contains(ip("::ffff:196.201.214.7")), "IPv4-mapped");
        let one: Cidr = "10.0.0.1".parse().unwrap();
        assert!(one.contains(ip("10.0.0.1")) && !one.contains(ip("10.0.0.2")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        for bad in ["", "10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let list = PaymentsConfig::parse_cidrs("safaricom, 10.0.0.0/8").unwrap();
        assert_eq!(list.len(), 13);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = vec!["10.0.0.0/8".parse().unwrap()];
        // Straight from the internet: the header is the client's own claim.
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("196.201.214.200"), &proxies),
            ip("203.0.113.9")
        );
        // Through our proxy: the hop it saw.
        assert_eq!(
            client_ip(ip("10.1.1.1"), Some("196.201.214.200"), &proxies),
            ip("196.201.214.200")
        );
        // A spoofed left-most entry is ignored.
        assert_eq!(
            client_ip(
                ip("10.1.1.1"),
                Some("196.201.214.200, 203.0.113.9, 10.2.2.2"),
                &proxies
            ),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("10.1.1.1"), None, &proxies), ip("10.1.1.1"));
        assert_eq!(
            client_ip(ip("10.1.1.1"), Some("garbage"), &proxies),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = PaymentsConfig::default();
        assert_eq!(c.backoff(0), Duration::from_secs(30));
        assert_eq!(c.backoff(1), Duration::from_secs(60));
        assert_eq!(c.backoff(9), Duration::from_secs(60));
        let allow = PaymentsConfig {
            allowlist: PaymentsConfig::parse_cidrs("safaricom").unwrap(),
            ..Default::default()
        };
        assert!(allow.allowed(ip("196.201.213.44")) && !allow.allowed(ip("127.0.0.1")));
        assert!(PaymentsConfig::default().allowed(ip("127.0.0.1")));
    }
}
