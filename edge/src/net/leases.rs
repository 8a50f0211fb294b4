//! dnsmasq's lease file: `EXPIRY MAC IP HOSTNAME CLIENT-ID` per line (expiry 0: infinite), plus a
//! `duid …` line and DHCPv6 lines (IAID in the MAC column) that are skipped. Pure.

use std::net::IpAddr;

use hotspot_shared::MacAddr;

/// One DHCP lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Unix second it ends; 0 for an infinite lease.
    pub expires: i64,
    pub mac: MacAddr,
    pub ip: IpAddr,
    /// The name the client sent, `None` for `*`.
    pub hostname: Option<String>,
}

/// Parses the whole file, skipping lines it does not understand.
pub fn parse_dnsmasq_leases(text: &str) -> Vec<Lease> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let expires: i64 = f.next()?.parse().ok()?;
            let mac: MacAddr = f.next()?.parse().ok()?;
            let ip: IpAddr = f.next()?.parse().ok()?;
            let hostname = f
                .next()
                .filter(|h| *h != "*" && h.len() <= 64)
                .map(str::to_owned);
            Some(Lease {
                expires,
                mac,
                ip,
                hostname,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_leases_and_skips_the_rest() {
        let text = "1700003600 aa:bb:cc:00:00:01 192.168.1.20 phone 01:aa:bb:cc:00:00:01\n\
0 aa:bb:cc:00:00:02 192.168.1.21 * *\n\
duid 00:01:00:01:2c:3d:4e:5f:00:11:22:33:44:55\n\
1700003600 12345678 2001:db8::20 laptop 00:01:00:01\n\
not a lease\n";
        let l = parse_dnsmasq_leases(text);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].hostname.as_deref(), Some("phone"));
        assert_eq!(l[1].expires, 0);
        assert_eq!(l[1].hostname, None);
        let ip = "192.168.1.20".parse().unwrap();
        let map: super::super::LeaseMap = l.iter().map(|x| (x.ip, x.clone())).collect();
        let has_lease = |ip, mac, now| super::super::holds_in(&map, ip, mac, now);
        assert!(has_lease(ip, l[0].mac, 1_700_000_000));
        assert!(!has_lease(ip, l[0].mac, 1_700_003_600));
        assert!(!has_lease(ip, l[1].mac, 1_700_000_000));
        assert!(has_lease(l[1].ip, l[1].mac, i64::MAX));
    }
}
