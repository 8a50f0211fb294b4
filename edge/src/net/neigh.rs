//! Parsers of the kernel neighbour table's two text forms. Pure: they take the text.

use std::net::IpAddr;

use hotspot_shared::MacAddr;

/// ATF_COM: the entry is complete (the MAC is known).
const ATF_COM: u32 = 0x2;

/// Parses `/proc/net/arp`:
/// `IP address  HW type  Flags  HW address  Mask  Device`. Keeps complete entries with a unicast
/// MAC, on `interface` when given.
pub fn parse_proc_arp(text: &str, interface: Option<&str>) -> Vec<(IpAddr, MacAddr)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
            if flags & ATF_COM == 0 || interface.is_some_and(|i| i != f[5]) {
                return None;
            }
            let ip: IpAddr = f[0].parse().ok()?;
            let mac: MacAddr = f[3].parse().ok()?;
            (!mac.is_group() && mac.0 != [0; 6]).then_some((ip, mac))
        })
        .collect()
}

/// Parses `ip neigh show` output: `ADDR [dev IF] lladdr MAC [router] STATE`. Entries without a
/// link-layer address or in state FAILED/INCOMPLETE are skipped.
pub fn parse_ip_neigh(text: &str) -> Vec<(IpAddr, MacAddr)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let ip: IpAddr = f.first()?.parse().ok()?;
            let state = *f.last()?;
            if matches!(state, "FAILED" | "INCOMPLETE") {
                return None;
            }
            let at = f.iter().position(|w| *w == "lladdr")?;
            let mac: MacAddr = f.get(at + 1)?.parse().ok()?;
            (!mac.is_group()).then_some((ip, mac))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_arp_keeps_complete_entries_on_the_lan() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
192.168.1.20     0x1         0x2         aa:bb:cc:00:00:01     *        br-lan\n\
192.168.1.21     0x1         0x0         00:00:00:00:00:00     *        br-lan\n\
10.0.0.1         0x1         0x2         aa:bb:cc:00:00:02     *        wan\n\
192.168.1.22     0x1         0x6         AA:BB:CC:00:00:03     *        br-lan\n\
garbage\n";
        let got = parse_proc_arp(text, Some("br-lan"));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.to_string(), "192.168.1.20");
        assert_eq!(got[1].1.to_string(), "aa:bb:cc:00:00:03");
        assert_eq!(parse_proc_arp(text, None).len(), 3);
    }

    #[test]
    fn ip_neigh_skips_failed_and_unresolved() {
        let text = "fe80::1 dev br-lan lladdr aa:bb:cc:00:00:01 router REACHABLE\n\
2001:db8::5 dev br-lan lladdr aa:bb:cc:00:00:02 STALE\n\
2001:db8::6 dev br-lan  FAILED\n\
2001:db8::7 dev br-lan lladdr aa:bb:cc:00:00:03 INCOMPLETE\n\
192.168.1.9 lladdr aa:bb:cc:00:00:04 DELAY\n";
        let got = parse_ip_neigh(text);
        let ips: Vec<String> = got.iter().map(|(i, _)| i.to_string()).collect();
        assert_eq!(ips, ["fe80::1", "2001:db8::5", "192.168.1.9"]);
    }
}
