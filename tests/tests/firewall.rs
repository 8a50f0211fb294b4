//! The nftables firewall against a real kernel, in namespaces these tests create and remove:
//! guest1, guest2 ↔ edge ↔ upstream, with the real `hotspotd` portal in the edge namespace.
//!
//! Skipped (with a message) unless run as root with `ip` and `nft` installed. The tests share one
//! lock: rate measurements must not compete with each other for the CPU.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hotspot_edge::firewall::nft::{Nft, NftSettings};
use hotspot_edge::firewall::render::{self, Layout};
use hotspot_edge::firewall::{Firewall, Grant};
use hotspot_system_tests::binary;
use hotspot_system_tests::netns::{self, Topology, addr::*, wait_until};

const PORTAL_PORT: u16 = 2050;
const PROBE: &str = env!("CARGO_BIN_EXE_fwprobe");

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

macro_rules! require_netns {
    () => {
        if let Some(why) = netns::unavailable() {
            eprintln!("SKIPPED: network-namespace firewall test needs root, ip and nft: {why}");
            return;
        }
    };
}

/// The topology with upstream servers, the DNS stand-in and the real portal running.
struct Site {
    t: Topology,
    _state: tempfile::TempDir,
}

impl Site {
    fn start() -> Site {
        Site::start_with(Topology::new(), "[firewall]\nbackend = \"off\"\n", false)
    }

    /// `t` with the servers and the portal running, configured with `extra` besides the LAN,
    /// the portal and the store. Unless the daemon is `enforcing` (its own nftables table), both
    /// guests are first seen to reach the upstream without a firewall.
    fn start_with(mut t: Topology, extra: &str, enforcing: bool) -> Site {
        let up = t.upstream.spawn(&[PROBE, "serve-upstream"]);
        t.keep(up);
        let dns = t.edge.spawn(&[PROBE, "serve-dns"]);
        t.keep(dns);
        // Services on the router that guests must not reach before login (TCP 5001, UDP 5002).
        let router = t.edge.spawn(&[PROBE, "serve-upstream"]);
        t.keep(router);
        let state = tempfile::tempdir().unwrap();
        let config = state.path().join("edge.toml");
        std::fs::write(
            &config,
            format!(
                "[lan]\ninterface = \"{LAN}\"\naddress = \"{EDGE_LAN_V4}\"\n[portal]\nlisten = \"[::]:{PORTAL_PORT}\"\n[store]\npath = {:?}\n{extra}",
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
        assert!(
            wait_until(Duration::from_secs(5), || t.upstream.ok(&[
                PROBE,
                "tcp-hello",
                "127.0.0.1",
                "5001",
                "500"
            ])),
            "upstream servers did not start"
        );
        if !enforcing {
            // No table yet: both guests reach the upstream over both families once neighbour
            // discovery has settled. Later "dropped" results mean the firewall dropped them.
            for g in [&t.guest1, &t.guest2] {
                for a in [UPSTREAM_V4, UPSTREAM_V6] {
                    assert!(
                        wait_until(Duration::from_secs(10), || tcp(g, a)),
                        "{a} not reachable from {} without a firewall",
                        g.name
                    );
                }
            }
        }
        Site { t, _state: state }
    }

    fn firewall(&self) -> Nft {
        Nft::new(self.settings())
    }

    fn settings(&self) -> NftSettings {
        let mut command = self.t.edge.prefix();
        command.push("nft".into());
        NftSettings {
            layout: Layout {
                lan_interface: LAN.into(),
                portal_port: PORTAL_PORT,
                garden: vec![
                    format!("{GARDEN_V4}/32").parse().unwrap(),
                    format!("{GARDEN_V6}/128").parse().unwrap(),
                ],
            },
            command,
            stop_removes_clients: false,
        }
    }
}

fn guest1(down: u32, up: u32) -> Grant {
    Grant {
        mac: GUEST1_MAC.parse().unwrap(),
        addrs: vec![GUEST1_V4.parse().unwrap(), GUEST1_V6.parse().unwrap()],
        down_kbps: down,
        up_kbps: up,
    }
}

fn guest2(down: u32, up: u32) -> Grant {
    Grant {
        mac: GUEST2_MAC.parse().unwrap(),
        addrs: vec![GUEST2_V4.parse().unwrap(), GUEST2_V6.parse().unwrap()],
        down_kbps: down,
        up_kbps: up,
    }
}

/// What a guest gets for `GET http://ADDR/`.
fn http(ns: &netns::Netns, addr: &str) -> String {
    let out = ns.output(&[PROBE, "http-get", addr, "80"]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn tcp(ns: &netns::Netns, addr: &str) -> bool {
    ns.ok(&[PROBE, "tcp-hello", addr, "5001", "700"])
}

fn udp(ns: &netns::Netns, addr: &str, port: &str) -> bool {
    ns.ok(&[PROBE, "udp-ask", addr, port, "700"])
}

/// Asserts that `ns` reaches the upstream over both families (TCP, UDP and HTTP).
fn assert_passes(ns: &netns::Netns, who: &str) {
    for a in [UPSTREAM_V4, UPSTREAM_V6] {
        assert!(tcp(ns, a), "{who}: TCP to {a} should pass");
        assert!(udp(ns, a, "5002"), "{who}: UDP to {a} should pass");
        let page = http(ns, a);
        assert!(
            page.contains("UPSTREAM"),
            "{who}: HTTP to {a} should reach it, got: {page}"
        );
    }
}

/// Asserts that `ns` is held at the portal over both families.
fn assert_held(ns: &netns::Netns, who: &str) {
    for a in [UPSTREAM_V4, UPSTREAM_V6] {
        assert!(!tcp(ns, a), "{who}: TCP to {a} should be dropped");
        assert!(!udp(ns, a, "5002"), "{who}: UDP to {a} should be dropped");
        // The portal answers a request meant for elsewhere with a redirect to itself (what
        // opens the OS captive window), or with its page.
        let page = http(ns, a);
        let to_portal = format!("location: http://{}:{PORTAL_PORT}/", EDGE_LAN_V4);
        assert!(
            (page.contains("Free WiFi") || page.to_ascii_lowercase().contains(&to_portal))
                && !page.contains("UPSTREAM"),
            "{who}: HTTP to {a} should land on the portal, got: {page}"
        );
    }
}

#[test]
fn before_login_a_guest_gets_dns_the_portal_and_the_walled_garden_only() {
    require_netns!();
    let _serial = serial();
    let site = Site::start();
    let fw = site.firewall();
    fw.reconcile(&[]).unwrap();
    let g = &site.t.guest1;
    // Without our table the guest would reach everything: the test can tell the difference.
    assert_held(g, "guest1 before login");
    for dns in [EDGE_LAN_V4, EDGE_LAN_V6] {
        assert!(
            udp(g, dns, "53"),
            "DNS to the router at {dns} must work before login"
        );
    }
    for a in [GARDEN_V4, GARDEN_V6] {
        assert!(
            tcp(g, a),
            "walled garden {a} must be reachable before login"
        );
        assert!(
            http(g, a).contains("UPSTREAM"),
            "HTTP to the walled garden {a} is not redirected"
        );
    }
    // Addresses dnsmasq puts into the domain sets are reachable too.
    let edge_nft = |cmd: &str| {
        let out = site.t.edge.output(&["nft", cmd]);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    edge_nft(&format!(
        "add element inet {} {} {{ {UPSTREAM_V4} }}",
        render::TABLE,
        render::names::GARDEN_DNS4
    ));
    assert!(
        tcp(g, UPSTREAM_V4),
        "an address in garden_dns4 is reachable"
    );
    assert!(!tcp(g, UPSTREAM_V6), "while other addresses stay closed");
}

#[test]
fn after_login_traffic_passes_and_a_kick_cuts_it_within_a_second() {
    require_netns!();
    let _serial = serial();
    let site = Site::start();
    let fw = site.firewall();
    fw.reconcile(&[]).unwrap();
    let started = Instant::now();
    fw.grant(&guest1(0, 0)).unwrap();
    let grant_ms = started.elapsed().as_millis();
    assert_passes(&site.t.guest1, "guest1 after login");
    assert_held(&site.t.guest2, "guest2, not logged in");
    fw.grant(&guest2(0, 0)).unwrap();

    // A download in progress when the kick comes: bytes must stop within a second.
    let watching = Instant::now();
    let watch = site
        .t
        .guest1
        .spawn(&[PROBE, "tcp-watch", UPSTREAM_V4, "5003", "3000"]);
    std::thread::sleep(Duration::from_millis(1000));
    fw.revoke(GUEST1_MAC.parse().unwrap()).unwrap();
    let kicked_at = watching.elapsed().as_millis();
    let out = watch.finish(Duration::from_secs(10));
    let slices: Vec<(u128, u64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (t, b) = l.split_once(' ')?;
            Some((t.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    assert!(slices.len() >= 25, "the stream watcher ran: {slices:?}");
    let before: u64 = slices
        .iter()
        .filter(|(t, _)| *t + 200 < kicked_at)
        .map(|(_, b)| b)
        .sum();
    let late: Vec<_> = slices
        .iter()
        .filter(|(t, b)| *t > kicked_at + 1000 && *b > 0)
        .collect();
    assert!(before > 0, "the stream flowed before the kick: {slices:?}");
    assert!(
        late.is_empty(),
        "bytes still arrived more than 1 s after the kick at {kicked_at} ms: {late:?}"
    );
    let last_bytes = slices
        .iter()
        .filter(|(_, b)| *b > 0)
        .map(|(t, _)| *t)
        .max()
        .unwrap_or(0);
    assert_held(&site.t.guest1, "guest1 after the kick");
    assert_passes(&site.t.guest2, "guest2, logged in meanwhile");
    eprintln!(
        "grant took {grant_ms} ms; the kick came at {kicked_at} ms, the last bytes arrived in \
         the 100 ms slice ending at {last_bytes} ms"
    );
}

#[test]
fn a_restart_keeps_logged_in_guests_and_drops_expired_ones_and_a_flush_is_repaired() {
    require_netns!();
    let _serial = serial();
    let site = Site::start();
    let first = site.firewall();
    first.reconcile(&[guest1(0, 0), guest2(0, 0)]).unwrap();
    assert_passes(&site.t.guest1, "guest1");
    assert_passes(&site.t.guest2, "guest2");
    let before = first.counters().unwrap()[&guest1(0, 0).mac];
    assert!(before.bytes_up > 0 && before.bytes_down > 0, "{before:?}");
    drop(first);

    // The daemon restarts; guest2's session expired while it was down.
    let second = site.firewall();
    second.reconcile(&[guest1(0, 0)]).unwrap();
    assert_passes(&site.t.guest1, "guest1 after the restart");
    assert_held(&site.t.guest2, "guest2, expired during the restart");
    let after = second.counters().unwrap();
    assert_eq!(after.len(), 1);
    assert!(
        after[&guest1(0, 0).mac].bytes_up > before.bytes_up,
        "counters carried over the restart"
    );

    // fw4 reload: the whole ruleset is flushed; everyone would pass unchecked.
    assert!(site.t.edge.ok(&["nft", "flush", "ruleset"]));
    assert!(tcp(&site.t.guest2, UPSTREAM_V4), "no table, no portal");
    second.reapply().unwrap();
    assert_passes(&site.t.guest1, "guest1 after reapply");
    assert_held(&site.t.guest2, "guest2 after reapply");

    // A change arriving while the table is gone rebuilds it rather than failing.
    assert!(site.t.edge.ok(&["nft", "flush", "ruleset"]));
    second.grant(&guest2(0, 0)).unwrap();
    assert_passes(&site.t.guest1, "guest1 after a grant rebuilt the table");
    assert_passes(&site.t.guest2, "guest2 granted onto a flushed ruleset");

    // Stopping with stop_removes_clients = false leaves them through.
    second.stop().unwrap();
    assert_passes(&site.t.guest1, "guest1 after stop");
    drop(second);
    // With stop_removes_clients = true they are out, and the portal still holds.
    let third = Nft::new(NftSettings {
        stop_removes_clients: true,
        ..site.settings()
    });
    third.reconcile(&[guest1(0, 0)]).unwrap();
    assert_passes(&site.t.guest1, "guest1 before the stop");
    third.stop().unwrap();
    assert_held(&site.t.guest1, "guest1 after a stop that removes clients");
}

/// One iperf3 run's result, as the receiver saw it.
#[derive(Debug)]
struct Iperf {
    bytes: u64,
    /// Segments the sender sent again (most after the policer dropped them).
    retransmits: u64,
    bits_per_second: f64,
    mss: u64,
}

fn iperf_result(out: &std::process::Output, who: &str) -> Iperf {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{who}: iperf3 gave no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if let Some(err) = v.get("error") {
        panic!("{who}: iperf3 failed: {err}");
    }
    let recv = &v["end"]["sum_received"];
    Iperf {
        bytes: recv["bytes"].as_u64().expect("received bytes"),
        retransmits: v["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
        bits_per_second: recv["bits_per_second"].as_f64().expect("rate"),
        mss: v["start"]["tcp_mss_default"].as_u64().unwrap_or(1448),
    }
}

#[test]
fn two_guests_hold_their_plan_rates_at_once_and_counters_match_iperf3() {
    require_netns!();
    if !netns::have("iperf3") {
        eprintln!("SKIPPED: rate test needs iperf3");
        return;
    }
    let _serial = serial();
    let mut site = Site::start();
    let fw = site.firewall();
    let plans = [(guest1(2000, 2000), "5201"), (guest2(5000, 5000), "5202")];
    fw.reconcile(&[plans[0].0.clone(), plans[1].0.clone()])
        .unwrap();
    for (_, port) in &plans {
        let server = site.t.upstream.spawn(&["iperf3", "-s", "-p", port]);
        site.t.keep(server);
        assert!(
            wait_until(Duration::from_secs(5), || site.t.upstream.ok(&[
                PROBE,
                "tcp-open",
                "127.0.0.1",
                port,
                "300"
            ])),
            "iperf3 server on {port} did not start"
        );
    }
    let guests = [&site.t.guest1, &site.t.guest2];
    let mut failures = Vec::new();
    for (direction, reverse) in [("upload", false), ("download", true)] {
        let before = fw.counters().unwrap();
        let runs: Vec<_> = plans
            .iter()
            .zip(guests)
            .map(|((_, port), g)| {
                let mut args = vec!["iperf3", "-c", UPSTREAM_V4, "-p", port, "-t", "10", "-J"];
                if reverse {
                    args.push("-R");
                }
                g.spawn(&args)
            })
            .collect();
        let outputs: Vec<_> = runs
            .into_iter()
            .map(|r| r.finish(Duration::from_secs(40)))
            .collect();
        let after = fw.counters().unwrap();
        for ((grant, _), out) in plans.iter().zip(&outputs) {
            let who = format!("{} {direction}", grant.mac);
            let r = iperf_result(out, &who);
            let plan = f64::from(if reverse {
                grant.down_kbps
            } else {
                grant.up_kbps
            }) * 1000.0;
            let ratio = r.bits_per_second / plan;
            // The counter counts IP packets: the payload plus 52 bytes of IPv4 and TCP headers
            // (with timestamps) per full segment.
            let counted = {
                let (a, b) = (after[&grant.mac], before[&grant.mac]);
                if reverse {
                    a.bytes_down - b.bytes_down
                } else {
                    a.bytes_up - b.bytes_up
                }
            };
            let expected = r.bytes + r.bytes.div_ceil(r.mss) * 52;
            let counter_error = counted as f64 / expected as f64 - 1.0;
            eprintln!(
                "{who}: plan {:.1} Mbit/s, iperf3 {:.3} Mbit/s ({:+.1}%), iperf3 {} bytes \
                 (≈{} IP bytes; {} retransmits), counter {} bytes ({:+.2}%)",
                plan / 1e6,
                r.bits_per_second / 1e6,
                (ratio - 1.0) * 100.0,
                r.bytes,
                expected,
                r.retransmits,
                counted,
                counter_error * 100.0
            );
            if !(0.85..=1.15).contains(&ratio) {
                failures.push(format!("{who}: rate {:.3} of plan", ratio));
            }
            // Policing drops segments and TCP sends them again: a resent segment that had
            // already passed the counter once is counted twice, as the wire carried it twice.
            // So the counter may exceed iperf3's bytes by up to the retransmitted bytes.
            let resent = r.retransmits * (r.mss + 52);
            let over_resent = counted as f64 / (expected + resent) as f64 - 1.0;
            if counter_error < -0.02 || over_resent > 0.02 {
                failures.push(format!(
                    "{who}: counter off by {:.2}%",
                    counter_error * 100.0
                ));
            }
        }
    }

    // A top-up while online: guest1's download goes to 5 Mbit/s (guest2's rate, so the tier
    // exists and only guest1's elements change); its counters carry on.
    let before = fw.counters().unwrap()[&plans[0].0.mac];
    fw.grant(&guest1(5000, 2000)).unwrap();
    let out = site.t.guest1.spawn(&[
        "iperf3",
        "-c",
        UPSTREAM_V4,
        "-p",
        "5201",
        "-t",
        "10",
        "-J",
        "-R",
    ]);
    let r = iperf_result(&out.finish(Duration::from_secs(30)), "guest1 after top-up");
    let after = fw.counters().unwrap()[&plans[0].0.mac];
    let ratio = r.bits_per_second / 5e6;
    eprintln!(
        "guest1 after a top-up to 5 Mbit/s: iperf3 {:.3} Mbit/s ({:+.1}%)",
        r.bits_per_second / 1e6,
        (ratio - 1.0) * 100.0
    );
    if !(0.85..=1.15).contains(&ratio) {
        failures.push(format!("guest1 after top-up: rate {ratio:.3} of 5 Mbit/s"));
    }
    if after.bytes_down < before.bytes_down + r.bytes {
        failures.push(format!(
            "guest1's counters did not carry on over the top-up: {before:?} then {after:?}"
        ));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_dual_stack_guest_gets_its_plan_rate_once_over_ipv4_and_ipv6_together() {
    require_netns!();
    if !netns::have("iperf3") {
        eprintln!("SKIPPED: rate test needs iperf3");
        return;
    }
    let _serial = serial();
    let mut site = Site::start();
    let fw = site.firewall();
    // guest1 has an IPv4 and an IPv6 address; guest2 on the same plan shows that the shared
    // bucket is guest1's own, not the plan's.
    fw.reconcile(&[guest1(2000, 2000), guest2(2000, 2000)])
        .unwrap();
    let ports = ["5211", "5212"];
    for port in ports {
        let server = site.t.upstream.spawn(&["iperf3", "-s", "-p", port]);
        site.t.keep(server);
        assert!(
            wait_until(Duration::from_secs(5), || site.t.upstream.ok(&[
                PROBE,
                "tcp-open",
                "127.0.0.1",
                port,
                "300"
            ])),
            "iperf3 server on {port} did not start"
        );
    }
    let plan = 2000.0 * 1000.0;
    let mut failures = Vec::new();
    for (direction, reverse) in [("upload", false), ("download", true)] {
        // One iperf3 over IPv4 and one over IPv6 from the same guest, at the same time. A server
        // still closing the previous run answers "busy" with no result: try again (bounded).
        let mut outs = Vec::new();
        for attempt in 1..=3 {
            let runs: Vec<_> = [UPSTREAM_V4, UPSTREAM_V6]
                .iter()
                .zip(ports)
                .map(|(addr, port)| {
                    let mut args = vec!["iperf3", "-c", addr, "-p", port, "-t", "10", "-J"];
                    if reverse {
                        args.push("-R");
                    }
                    site.t.guest1.spawn(&args)
                })
                .collect();
            outs = runs
                .into_iter()
                .map(|r| r.finish(Duration::from_secs(40)))
                .collect();
            let refused = outs.iter().any(|o| {
                serde_json::from_slice::<serde_json::Value>(&o.stdout)
                    .map_or(true, |v| v.get("error").is_some())
            });
            if !refused || attempt == 3 {
                break;
            }
            eprintln!("guest1 {direction}: an iperf3 server was not ready; again in 2 s");
            std::thread::sleep(Duration::from_secs(2));
        }
        let rates: Vec<f64> = outs
            .iter()
            .zip(["IPv4", "IPv6"])
            .map(|(out, family)| {
                iperf_result(out, &format!("guest1 {direction} over {family}")).bits_per_second
            })
            .collect();
        let total: f64 = rates.iter().sum();
        let ratio = total / plan;
        eprintln!(
            "guest1 {direction}, plan 2.0 Mbit/s: IPv4 {:.3} + IPv6 {:.3} = {:.3} Mbit/s ({:+.1}%)",
            rates[0] / 1e6,
            rates[1] / 1e6,
            total / 1e6,
            (ratio - 1.0) * 100.0
        );
        if ratio > 1.15 {
            failures.push(format!(
                "{direction}: both families together got {ratio:.3} of the plan"
            ));
        }
        if ratio < 0.5 {
            failures.push(format!(
                "{direction}: both families together got only {ratio:.3} of the plan"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_rest_of_the_ruleset_is_left_alone_and_flow_offload_is_reported() {
    require_netns!();
    let _serial = serial();
    let site = Site::start();
    let edge = &site.t.edge;
    // Another firewall's table (fw4's shape), there before us.
    let fw4 = "add table inet fw4; \
        add set inet fw4 blocked { type ipv4_addr; elements = { 192.0.2.1 }; }; \
        add chain inet fw4 forward { type filter hook forward priority filter; policy accept; }; \
        add rule inet fw4 forward ip daddr @blocked counter drop";
    let out = edge.output(&["nft", fw4]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // fw4's flow offloading, as OpenWrt writes it, where the kernel has flowtables.
    let offload = edge.output(&[
        "nft",
        "add flowtable inet fw4 ft { hook ingress priority filter; devices = { lan1, lan2, up0 }; }; \
         insert rule inet fw4 forward meta l4proto { tcp, udp } flow add @ft",
    ]);
    let has_flowtables = offload.status.success();
    if !has_flowtables {
        eprintln!(
            "flowtable part SKIPPED: this kernel has no flowtables ({})",
            String::from_utf8_lossy(&offload.stderr).trim()
        );
    }
    let list_fw4 = || {
        let out = edge.output(&["nft", "list", "table", "inet", "fw4"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = list_fw4();
    let fw = site.firewall();
    fw.reconcile(&[guest1(2000, 1000)]).unwrap();
    fw.grant(&guest2(5000, 0)).unwrap();
    fw.grant(&guest2(0, 0)).unwrap();
    fw.revoke(guest2(0, 0).mac).unwrap();
    fw.reapply().unwrap();
    assert_eq!(list_fw4(), before, "our changes touched another table");
    assert_held(&site.t.guest2, "guest2 with another firewall present");
    assert_passes(&site.t.guest1, "guest1 with another firewall present");
    if has_flowtables {
        assert_eq!(fw.foreign_flowtables().unwrap(), ["inet fw4 ft"]);
    } else {
        assert!(fw.foreign_flowtables().unwrap().is_empty());
    }
    fw.remove().unwrap();
    assert_eq!(list_fw4(), before, "removing our table touched another");
}

/// What fw4 does to the ruleset (firewall4's `sbin/fw4` and `templates/ruleset.uc`): `fw4 start`
/// and `fw4 reload` load a ruleset that begins `table inet fw4` / `flush table inet fw4`, and
/// `fw4 restart` deletes `table inet fw4` first. Our table, and the guests in it, must come
/// through all three untouched, with no SIGHUP and no sweep.
#[test]
fn fw4_start_reload_and_restart_leave_the_table_and_its_guests_alone() {
    require_netns!();
    let _serial = serial();
    let site = Site::start();
    let edge = &site.t.edge;
    // fw4's ruleset in miniature, loaded as fw4 loads its own. (Its forward policy is accept
    // here: the probes' UDP servers may answer from another of their addresses, which a
    // stateful drop policy would rightly refuse; that is fw4's business, not this test's.)
    let fw4_load: &str = &format!(
        "table inet fw4; flush table inet fw4; \
         add set inet fw4 blocked {{ type ipv4_addr; elements = {{ 192.0.2.1 }}; }}; \
         add chain inet fw4 forward {{ type filter hook forward priority filter; policy accept; }}; \
         add rule inet fw4 forward ct state established,related accept; \
         add rule inet fw4 forward iifname {LAN} ip daddr @blocked counter drop"
    );
    let nft = |command: &str| {
        let out = edge.output(&["nft", command]);
        assert!(
            out.status.success(),
            "nft {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let list_ours = || {
        let out = edge.output(&["nft", "list", "table", "inet", render::TABLE]);
        assert!(out.status.success(), "our table is gone");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    nft(fw4_load); // boot: fw4 starts before hotspotd
    let fw = site.firewall();
    fw.reconcile(&[guest1(0, 0)]).unwrap();
    assert_passes(&site.t.guest1, "guest1 behind fw4");
    assert_held(&site.t.guest2, "guest2 behind fw4");
    let survives = |what: &str, commands: &[&str]| {
        let before = list_ours();
        for c in commands {
            nft(c);
        }
        assert_eq!(list_ours(), before, "{what} changed our table");
        assert_passes(&site.t.guest1, &format!("guest1 after {what}"));
        assert_held(&site.t.guest2, &format!("guest2 after {what}"));
    };
    survives("fw4 reload", &[fw4_load]);
    survives("fw4 restart", &["delete table inet fw4", fw4_load]);
}

#[test]
fn nft_failures_carry_its_stderr_and_a_missing_program_is_named() {
    // No kernel needed: a stand-in "nft" that fails the way nft does.
    let with = |command: &[&str]| {
        Nft::new(NftSettings {
            layout: Layout {
                lan_interface: LAN.into(),
                portal_port: PORTAL_PORT,
                garden: vec![],
            },
            command: command.iter().map(|s| s.to_string()).collect(),
            stop_removes_clients: false,
        })
    };
    let failing = with(&[
        "sh",
        "-c",
        "cat >/dev/null; echo 'Error: Could not process rule: Operation not permitted' >&2; exit 1",
        "nft",
    ]);
    let err = failing.reconcile(&[guest1(1, 1)]).unwrap_err().to_string();
    assert!(err.contains("Operation not permitted"), "{err}");
    let err = with(&["/nonexistent/nft"])
        .grant(&guest1(1, 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/nft"), "{err}");
}

#[path = "../../edge/tests/support/freeradius.rs"]
mod freeradius;

const RADIUS_SECRET: &str = "netns-nas-secret-0123";

/// FreeRADIUS's users for the rate test: WISPr rates in bits/s, MikroTik's `rx/tx` from the
/// router's side (the guest's upload, then download).
const RADIUS_USERS: &str = "wispr\tCleartext-Password := \"pw-wispr\"\n\
    \tWISPr-Bandwidth-Max-Up = 2500000,\n\tWISPr-Bandwidth-Max-Down = 5000000\n\n\
    mikro\tCleartext-Password := \"pw-mikro\"\n\tMikrotik-Rate-Limit = \"2M/4M\"\n\n";

/// `curl` in `ns` (the guest's own client): the body, or the status code with `-w`.
fn curl(ns: &netns::Netns, args: &[&str]) -> String {
    let mut all = vec!["curl", "-s", "--max-time", "20"];
    all.extend_from_slice(args);
    let out = ns.output(&all);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One iperf3 run of 10 s (as the plan-rate test's) from `g` to the upstream server on `port`.
fn iperf(g: &netns::Netns, port: &str, reverse: bool, who: &str) -> Iperf {
    let mut args = vec!["iperf3", "-c", UPSTREAM_V4, "-p", port, "-t", "10", "-J"];
    if reverse {
        args.push("-R");
    }
    iperf_result(&g.spawn(&args).finish(Duration::from_secs(40)), who)
}

/// The whole chain, with the real daemon: a guest signs in on the portal with a username and
/// password, `hotspotd` (nftables backend) asks a real FreeRADIUS, and the rates of its
/// Access-Accept (WISPr for one guest, MikroTik for the other) are what iperf3 measures through
/// the table.
#[test]
fn rates_from_freeradius_replies_hold_through_nftables() {
    require_netns!();
    if !netns::have("iperf3") {
        eprintln!("SKIPPED: rate test needs iperf3");
        return;
    }
    let Some(stock) = freeradius::installed_or_skip() else {
        return;
    };
    let _serial = serial();
    let t = Topology::new();
    let fr =
        freeradius::FreeRadius::start_under(&stock, RADIUS_SECRET, RADIUS_USERS, &t.edge.prefix());
    let mut site = Site::start_with(
        t,
        &format!(
            "[clients]\nrequire_lease = false\n\
             [radius]\nenabled = true\nauth_servers = [\"{}\"]\nacct_servers = [\"{}\"]\n\
             secret = \"{RADIUS_SECRET}\"\nlogin = \"radius\"\n",
            fr.auth, fr.acct,
        ),
        true,
    );
    for port in ["5211", "5212"] {
        let server = site.t.upstream.spawn(&["iperf3", "-s", "-p", port]);
        site.t.keep(server);
        assert!(
            wait_until(Duration::from_secs(5), || site.t.upstream.ok(&[
                PROBE,
                "tcp-open",
                "127.0.0.1",
                port,
                "300"
            ])),
            "iperf3 server on {port} did not start"
        );
    }
    let t = &site.t;
    let portal = format!("http://{EDGE_LAN_V4}:{PORTAL_PORT}");
    let guests = [
        (
            &t.guest1,
            "wispr",
            "pw-wispr",
            2_500_000.0,
            5_000_000.0,
            "5211",
        ),
        (
            &t.guest2,
            "mikro",
            "pw-mikro",
            2_000_000.0,
            4_000_000.0,
            "5212",
        ),
    ];
    let mut failures = Vec::new();
    for (g, user, password, up, down, port) in guests {
        // Held before signing in.
        assert!(
            !tcp(g, UPSTREAM_V4),
            "{}: through before signing in",
            g.name
        );
        let page = curl(g, &[&format!("{portal}/")]);
        let at = page.find("name=\"token\" value=\"").expect("a form token") + 20;
        let token = &page[at..at + 32];
        let answer = curl(
            g,
            &[
                "-i",
                "--data",
                &format!("user={user}&password={password}&token={token}"),
                &format!("{portal}/login/user"),
            ],
        );
        assert!(
            wait_until(Duration::from_secs(5), || tcp(g, UPSTREAM_V4)),
            "{user}: not through after signing in; the portal answered:\n{answer}\n\
             FreeRADIUS logged:\n{}",
            fr.log()
        );
        for (direction, reverse, plan) in [("upload", false, up), ("download", true, down)] {
            let who = format!("{user} {direction}");
            let r = iperf(g, port, reverse, &who);
            let ratio = r.bits_per_second / plan;
            eprintln!(
                "{who}: FreeRADIUS {:.1} Mbit/s, iperf3 {:.3} Mbit/s ({:+.1}%)",
                plan / 1e6,
                r.bits_per_second / 1e6,
                (ratio - 1.0) * 100.0
            );
            if !(0.85..=1.15).contains(&ratio) {
                failures.push(format!("{who}: rate {ratio:.3} of FreeRADIUS's"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
