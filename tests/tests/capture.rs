//! Passive client learning against a real kernel: the edge's capture on the LAN bridge of the
//! namespace topology learns a guest's MAC, host name, DHCP fingerprint and addresses from what
//! the guest sends (a DHCPDISCOVER, ARP, IPv6 neighbour discovery), without answering it.
//!
//! Skipped (with a message) unless run as root with `ip` and `nft` installed.

use std::time::Duration;

use hotspot_system_tests::netns::{self, Topology, addr::*};

const PROBE: &str = env!("CARGO_BIN_EXE_fwprobe");

#[test]
fn the_edge_learns_a_guests_mac_hostname_fingerprint_and_addresses_passively() {
    if let Some(why) = netns::unavailable() {
        eprintln!("SKIPPED: network-namespace capture test needs root and ip: {why}");
        return;
    }
    let t = Topology::new();
    let learning = t.edge.spawn(&[PROBE, "learn", LAN, "5000"]);
    // The capture opens at once; give the process a moment to start.
    std::thread::sleep(Duration::from_millis(800));
    let sent = t
        .guest1
        .output(&[PROBE, "dhcp-discover", GUEST1_MAC, "guest-laptop"]);
    assert!(
        sent.status.success(),
        "the guest could not send its DHCPDISCOVER: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    // Traffic to the router makes the guest resolve it: ARP over IPv4, neighbour solicitation
    // over IPv6. Nothing answers on port 9; only the resolution matters.
    for a in [EDGE_LAN_V4, EDGE_LAN_V6] {
        let _ = t.guest1.output(&[PROBE, "udp-ask", a, "9", "200"]);
    }
    let out = learning.finish(Duration::from_secs(15));
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the capture failed");
    let line = text
        .lines()
        .find(|l| l.starts_with(GUEST1_MAC))
        .unwrap_or_else(|| panic!("guest1 was not learnt: {text}"));
    assert!(line.contains("hostname=guest-laptop "), "{line}");
    assert!(
        line.contains("fingerprint=1,3,6,15,31,33,43,44,46,47,119,121,249,252 "),
        "{line}"
    );
    assert!(line.contains("vendor=MSFT 5.0 "), "{line}");
    let addrs = line.split("addrs=").nth(1).unwrap_or("");
    for a in [GUEST1_V4, GUEST1_V6] {
        assert!(
            addrs.split(',').any(|x| x == a),
            "{a} not learnt for guest1: {line}"
        );
    }
    // The router's own ARP replies and advertisements are not a client.
    assert!(
        text.lines()
            .all(|l| !l.contains(&format!("addrs={EDGE_LAN_V4}"))),
        "{text}"
    );
}
