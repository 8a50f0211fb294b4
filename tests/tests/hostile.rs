//! Hostile guests against the real nftables table, in namespaces these tests create and remove
//! (guest1, guest2 ↔ edge ↔ upstream, as in `firewall.rs`). Each test fails if its attack works;
//! each first shows, where it can, that the attack works without our table, so a pass means the
//! table stopped it.
//!
//! Skipped (with a message) unless run as root with `ip` and `nft` installed.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hotspot_edge::firewall::nft::{Nft, NftSettings};
use hotspot_edge::firewall::render::{self, Layout};
use hotspot_edge::firewall::{Firewall, Grant};
use hotspot_system_tests::binary;
use hotspot_system_tests::netns::{self, Netns, Topology, addr::*, wait_until};

const PORTAL_PORT: u16 = 2050;
const PROBE: &str = env!("CARGO_BIN_EXE_fwprobe");

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

macro_rules! require_netns {
    () => {
        if let Some(why) = netns::unavailable() {
            eprintln!(
                "SKIPPED: network-namespace hostile-guest test needs root, ip and nft: {why}"
            );
            return;
        }
    };
}

/// The topology with servers upstream (HTTP, TCP 5001, UDP 5002, and DNS on 53), on the router
/// (DNS, and services guests must not reach: TCP 5001, UDP 5002) and the real portal.
struct Site {
    t: Topology,
    _state: tempfile::TempDir,
}

impl Site {
    fn start() -> Site {
        let mut t = Topology::new();
        for (ns, what) in [
            (&t.upstream, "serve-upstream"),
            (&t.upstream, "serve-dns"),
            (&t.edge, "serve-dns"),
            (&t.edge, "serve-upstream"),
        ] {
            let p = ns.spawn(&[PROBE, what]);
            t.processes.push(p);
        }
        let state = tempfile::tempdir().unwrap();
        let config = state.path().join("edge.toml");
        std::fs::write(
            &config,
            format!(
                "[lan]\ninterface = \"{LAN}\"\naddress = \"{EDGE_LAN_V4}\"\n[portal]\nlisten = \"[::]:{PORTAL_PORT}\"\n[store]\npath = {:?}\n[firewall]\nbackend = \"off\"\n",
                state.path().join("edge.db")
            ),
        )
        .unwrap();
        let hotspotd = binary("hotspotd");
        let portal = t.edge.spawn(&[
            hotspotd.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ]);
        t.keep(portal);
        let port = PORTAL_PORT.to_string();
        assert!(
            wait_until(Duration::from_secs(20), || t.edge.ok(&[
                PROBE,
                "http-get",
                "127.0.0.1",
                &port
            ])),
            "the portal did not start in the edge namespace"
        );
        for g in [&t.guest1, &t.guest2] {
            for a in [UPSTREAM_V4, UPSTREAM_V6] {
                assert!(
                    wait_until(Duration::from_secs(10), || tcp(g, a)),
                    "{a} not reachable from {} without a firewall",
                    g.name
                );
            }
        }
        Site { t, _state: state }
    }

    fn firewall(&self) -> Nft {
        let mut command = self.t.edge.prefix();
        command.push("nft".into());
        Nft::new(NftSettings {
            layout: Layout {
                lan_interface: LAN.into(),
                portal_port: PORTAL_PORT,
                garden: vec![],
            },
            command,
            stop_removes_clients: false,
        })
    }
}

fn guest1() -> Grant {
    Grant {
        mac: GUEST1_MAC.parse().unwrap(),
        addrs: vec![GUEST1_V4.parse().unwrap(), GUEST1_V6.parse().unwrap()],
        down_kbps: 0,
        up_kbps: 0,
    }
}

fn tcp(ns: &Netns, addr: &str) -> bool {
    ns.ok(&[PROBE, "tcp-hello", addr, "5001", WAIT_MS])
}

fn udp(ns: &Netns, addr: &str, port: &str) -> bool {
    ns.ok(&[PROBE, "udp-ask", addr, port, WAIT_MS])
}

fn ping(ns: &Netns, addr: &str) -> bool {
    ns.ok(&[PROBE, "icmp-echo", addr, WAIT_MS])
}

fn http(ns: &Netns, addr: &str) -> String {
    let out = ns.output(&[PROBE, "http-get", addr, "80"]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// How long a probe waits for an answer: the namespaces answer within a few milliseconds.
const WAIT_MS: &str = "400";

/// Runs each probe (fwprobe arguments, with a label) in `ns` at the same time; the labels of
/// those that succeeded.
fn through(ns: &Netns, probes: Vec<(String, Vec<String>)>) -> Vec<String> {
    let running: Vec<_> = probes
        .into_iter()
        .map(|(label, args)| {
            let mut full = vec![PROBE];
            full.extend(args.iter().map(String::as_str));
            (label, ns.spawn(&full))
        })
        .collect();
    running
        .into_iter()
        .filter_map(|(label, p)| {
            p.finish(Duration::from_secs(5))
                .status
                .success()
                .then_some(label)
        })
        .collect()
}

/// TCP 5001, UDP 5002 and an ICMP echo to each of `addrs`, which a guest that escapes the
/// portal would get answered; the ones that were.
fn escapes(ns: &Netns, addrs: &[&str]) -> Vec<String> {
    let mut probes = Vec::new();
    for a in addrs {
        let a = a.to_string();
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        probes.push((
            format!("TCP 5001 to {a}"),
            args(&["tcp-hello", &a, "5001", WAIT_MS]),
        ));
        probes.push((
            format!("UDP 5002 to {a}"),
            args(&["udp-ask", &a, "5002", WAIT_MS]),
        ));
        probes.push((
            format!("ICMP echo to {a}"),
            args(&["icmp-echo", &a, WAIT_MS]),
        ));
    }
    through(ns, probes)
}

/// The addresses the edge namespace holds on `brlan`.
fn edge_addrs(site: &Site) -> String {
    let out = site
        .t
        .edge
        .output(&["ip", "-6", "addr", "show", "dev", LAN]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ipv6_global_link_local_rogue_router_adverts_and_the_routers_other_addresses_get_nowhere() {
    require_netns!();
    let _serial = serial();
    let site = Site::start();
    let (g, edge) = (&site.t.guest1, &site.t.edge);
    // The router would take an address from any router advertisement on its LAN.
    edge.sysctl(&format!("net.ipv6.conf.{LAN}.accept_ra=2"));
    edge.sysctl(&format!("net.ipv6.conf.{LAN}.autoconf=1"));
    // A global address the guest made up (not from the router's prefix), with its own route.
    g.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:66::2/64",
        "dev",
        "g0",
        "nodad",
    ]);
    let link_local = {
        let out = edge.output(&[
            "ip", "-6", "-o", "addr", "show", "dev", LAN, "scope", "link",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let a = text
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("the edge's link-local address: {text}"))
            .to_owned();
        format!("{a}%g0")
    };
    let link_local = link_local.as_str();
    // The router's addresses other than the LAN one, and its LAN and link-local addresses on
    // ports other than DNS, DHCP and the portal.
    let router = ["10.77.0.1", "fd77::1", EDGE_LAN_V4, EDGE_LAN_V6];

    // The made-up address is the guest's source for IPv6 to outside, and the network routes it.
    g.ip(&[
        "-6",
        "route",
        "replace",
        "default",
        "via",
        EDGE_LAN_V6,
        "src",
        "2001:db8:66::2",
    ]);
    edge.ip(&["-6", "route", "add", "2001:db8:66::/64", "dev", LAN]);
    site.t
        .upstream
        .ip(&["-6", "route", "add", "2001:db8:66::/64", "via", "fd77::1"]);

    // Without our table all of it works, so the test can tell.
    assert!(
        wait_until(Duration::from_secs(5), || tcp(g, UPSTREAM_V6)),
        "without the table, IPv6 from a made-up global address"
    );
    assert!(
        tcp(g, link_local),
        "without the table, the router's link-local"
    );
    assert!(g.ok(&[PROBE, "send-ra", "2001:db8:aa::"]));
    assert!(
        wait_until(Duration::from_secs(3), || edge_addrs(&site)
            .contains("2001:db8:aa:")),
        "without the table a guest's router advertisement configures the router: {}",
        edge_addrs(&site)
    );
    let open = escapes(g, &router);
    assert!(open.len() >= 8, "without the table: {open:?}");

    let fw = site.firewall();
    fw.reconcile(&[]).unwrap();
    let mut got = escapes(g, &router);
    // Link-local: the router's services on its link-local address.
    if tcp(g, link_local) {
        got.push(format!("TCP 5001 to {link_local}"));
    }
    if udp(g, link_local, "5002") {
        got.push(format!("UDP 5002 to {link_local}"));
    }
    // Forwarded IPv6 from the made-up global address, then from the router's prefix.
    got.extend(
        escapes(g, &[UPSTREAM_V6])
            .into_iter()
            .map(|e| e + " from 2001:db8:66::2"),
    );
    g.ip(&[
        "-6",
        "route",
        "replace",
        "default",
        "via",
        EDGE_LAN_V6,
        "src",
        GUEST1_V6,
    ]);
    got.extend(escapes(g, &[UPSTREAM_V6]));
    // A rogue router advertisement to all nodes: the router must not hear it.
    assert!(g.ok(&[PROBE, "send-ra", "2001:db8:bb::"]));
    std::thread::sleep(Duration::from_millis(800));
    if edge_addrs(&site).contains("2001:db8:bb:") {
        got.push("the router took a prefix from a guest's router advertisement".into());
    }
    assert!(got.is_empty(), "got through before login: {got:#?}");

    // After login the same guest reaches the router's services (fw4 decides there) and the
    // upstream over IPv6: the drops above are the portal's, not a broken setup.
    fw.grant(&guest1()).unwrap();
    assert!(tcp(g, "fd77::1"), "logged in: the router over IPv6");
    assert!(tcp(g, UPSTREAM_V6), "logged in: the upstream over IPv6");
}

#[test]
fn a_device_copying_a_logged_in_guests_mac_or_address_does_not_ride_on_its_session() {
    require_netns!();
    let _serial = serial();
    let site = Site::start();
    let (g1, g2) = (&site.t.guest1, &site.t.guest2);
    let fw = site.firewall();
    fw.reconcile(&[guest1()]).unwrap();
    assert!(
        tcp(g1, UPSTREAM_V4) && tcp(g1, UPSTREAM_V6),
        "guest1 is logged in"
    );
    let to_portal = |ns: &Netns| {
        let page = http(ns, UPSTREAM_V4);
        !page.contains("UPSTREAM")
    };

    // The upstream counts what arrives from guest2's addresses: one-way traffic (a UDP upload
    // whose answers are dropped) would still be a way out.
    let up = &site.t.upstream;
    let counted = || {
        let out = up.output(&["nft", "list", "table", "inet", "arrivals"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split("packets ")
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let rules = format!(
        "add table inet arrivals; \
         add chain inet arrivals input {{ type filter hook input priority 0; }}; \
         add rule inet arrivals input ip saddr {GUEST2_V4} counter; \
         add rule inet arrivals input ip6 saddr {GUEST2_V6} counter"
    );
    assert!(up.ok(&["nft", &rules]), "counting rules upstream");

    // guest2 takes guest1's MAC and keeps its own addresses.
    g2.ip(&["link", "set", "g0", "address", GUEST1_MAC]);
    let mut got = escapes(
        g2,
        &[
            UPSTREAM_V4,
            UPSTREAM_V6,
            "10.77.0.1",
            "fd77::1",
            EDGE_LAN_V4,
        ],
    );
    let arrived = counted();
    if arrived > 0 {
        got.push(format!(
            "{arrived} packets from guest2's addresses arrived upstream"
        ));
    }
    if !to_portal(g2) {
        got.push("HTTP with guest1's MAC was not sent to the portal".into());
    }
    assert!(got.is_empty(), "guest1's MAC on guest2's address: {got:#?}");
    assert!(tcp(g1, UPSTREAM_V4), "guest1 is still through");

    // guest2, with its own MAC again, takes guest1's IPv4 address (guest1 still online).
    g2.ip(&["link", "set", "g0", "address", GUEST2_MAC]);
    g2.ip(&["addr", "flush", "dev", "g0"]);
    g2.ip(&["addr", "add", &format!("{GUEST1_V4}/24"), "dev", "g0"]);
    g2.ip(&["route", "replace", "default", "via", EDGE_LAN_V4]);
    let mut got = Vec::new();
    if tcp(g2, UPSTREAM_V4) {
        got.push("TCP".to_string());
    }
    if udp(g2, UPSTREAM_V4, "5002") {
        got.push("UDP".into());
    }
    if !to_portal(g2) {
        got.push("HTTP not sent to the portal".into());
    }
    assert!(got.is_empty(), "guest1's address on guest2's MAC: {got:#?}");
}

/// Runs `fwprobe dns-flood` and returns (sent, answered).
fn dns_flood(ns: &Netns, to: &str, count: u32, ms: u32) -> (u32, u32) {
    let out = ns.output(&[PROBE, "dns-flood", to, &count.to_string(), &ms.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let n: Vec<u32> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(n.len(), 2, "dns-flood printed {text:?}");
    (n[0], n[1])
}

#[test]
fn before_login_dns_reaches_only_the_router_tunnels_are_rate_limited_and_other_ways_out_fail() {
    require_netns!();
    let _serial = serial();
    let site = Site::start();
    let (g1, g2) = (&site.t.guest1, &site.t.guest2);
    // Without our table: DNS to an outside resolver, pings and a low-TTL trick work.
    assert!(udp(g1, UPSTREAM_V4, "53"), "without the table, outside DNS");
    assert!(
        ping(g1, UPSTREAM_V4) && ping(g1, UPSTREAM_V6),
        "without the table, ping"
    );
    let fw = site.firewall();
    fw.reconcile(&[]).unwrap();

    let mut got = escapes(g1, &[UPSTREAM_V4, UPSTREAM_V6]);
    let mut probes = Vec::new();
    for a in [UPSTREAM_V4, UPSTREAM_V6] {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        probes.push((
            format!("DNS to the outside resolver {a}"),
            args(&["udp-ask", a, "53", WAIT_MS]),
        ));
        probes.push((
            format!("TCP 443 to {a}"),
            args(&["tcp-open", a, "443", WAIT_MS]),
        ));
        for ttl in ["1", "2", "3", "255"] {
            probes.push((
                format!("UDP with TTL {ttl} to {a}"),
                args(&["udp-ttl", a, "5002", WAIT_MS, ttl]),
            ));
        }
    }
    got.extend(through(g1, probes));
    assert!(got.is_empty(), "got out before login: {got:#?}");
    for dns in [EDGE_LAN_V4, EDGE_LAN_V6] {
        assert!(udp(g1, dns, "53"), "DNS to the router at {dns} works");
    }

    // A tunnel's pattern: 300 long random names in 2 s (150 a second) from one socket.
    let (secs, count) = (2, 300);
    std::thread::sleep(Duration::from_secs(1)); // the probes above used some of the burst
    let (sent, answered) = dns_flood(g1, EDGE_LAN_V4, count, secs * 1000);
    let allowed = render::DNS_BURST + render::DNS_RATE_PER_S * (secs + 1);
    eprintln!(
        "DNS flood before login: sent {sent}, answered {answered} (burst {} + {}/s)",
        render::DNS_BURST,
        render::DNS_RATE_PER_S
    );
    assert_eq!(sent, count);
    assert!(
        answered <= allowed,
        "{answered} of {sent} tunnel queries answered; at most {allowed} may be"
    );
    assert!(answered >= 10, "the guest still gets some DNS: {answered}");
    // The limit is per client: guest2 is not held back by guest1's flood.
    assert!(
        udp(g2, EDGE_LAN_V4, "53"),
        "guest2's DNS during guest1's flood"
    );
    // A logged-in guest is not limited.
    fw.grant(&guest1()).unwrap();
    let (sent, answered) = dns_flood(g1, EDGE_LAN_V4, count, secs * 1000);
    eprintln!("DNS flood after login: sent {sent}, answered {answered}");
    assert!(answered * 10 >= sent * 9, "logged in: {answered} of {sent}");
}
