//! `fw_bench`: how fast the nftables backend is at scale, in a throwaway network namespace.
//!
//! Prints the time to authorize the 1st and the 5,000th client, a full reconcile of 5,000
//! clients and one counter sweep over them. Needs root, `ip` and `nft`.
//! Usage: `fw_bench [CLIENTS]` (default 5000).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hotspot_edge::firewall::nft::{Nft, NftSettings};
use hotspot_edge::firewall::render::Layout;
use hotspot_edge::firewall::{Firewall, Grant};
use hotspot_shared::MacAddr;
use hotspot_system_tests::netns::{self, Netns};

fn client(i: u32) -> Grant {
    let [_, a, b, c] = i.to_be_bytes();
    Grant {
        mac: MacAddr([0x02, 0, 0, a, b, c]),
        addrs: vec![
            IpAddr::V4(Ipv4Addr::new(10, a, b, c)),
            IpAddr::V6(Ipv6Addr::new(
                0xfd00,
                0,
                0,
                0,
                0,
                0,
                u16::from(a),
                u16::from_be_bytes([b, c]),
            )),
        ],
        down_kbps: 5000,
        up_kbps: 2000,
    }
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    println!("{what:<44} {:>9.1} ms", took.as_secs_f64() * 1000.0);
    (out, took)
}

/// Median times in ms to grant `g` (a client not yet through) and to revoke it again, over 21
/// tries.
fn median_grant(fw: &Nft, g: &Grant) -> (f64, f64) {
    let (mut grants, mut revokes): (Vec<f64>, Vec<f64>) = (0..21)
        .map(|_| {
            let start = Instant::now();
            fw.grant(g).expect("grant");
            let granted = start.elapsed().as_secs_f64() * 1000.0;
            let start = Instant::now();
            fw.revoke(g.mac).expect("revoke");
            (granted, start.elapsed().as_secs_f64() * 1000.0)
        })
        .unzip();
    grants.sort_by(f64::total_cmp);
    revokes.sort_by(f64::total_cmp);
    (grants[grants.len() / 2], revokes[revokes.len() / 2])
}

fn main() -> ExitCode {
    if let Some(why) = netns::unavailable() {
        eprintln!("fw_bench needs root, ip and nft: {why}");
        return ExitCode::FAILURE;
    }
    let n: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("client count"))
        .unwrap_or(5000);
    // The bench runs itself again inside a fresh namespace, so every nft call is a plain `nft`
    // as on a router (no `ip netns exec` in the timings).
    if std::env::var_os("FW_BENCH_INSIDE").is_none() {
        let ns = Netns::new("bench");
        let exe = std::env::current_exe().expect("own path");
        let status = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(exe)
            .arg(n.to_string())
            .env("FW_BENCH_INSIDE", "1")
            .status()
            .expect("re-run inside the namespace");
        return if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let command = vec!["nft".to_string()];
    let fw = Nft::new(NftSettings {
        layout: Layout {
            lan_interface: "br-lan".into(),
            portal_port: 2050,
            garden: vec!["192.0.2.0/24".parse().unwrap()],
        },
        command,
        stop_removes_clients: false,
    });
    let all: Vec<Grant> = (1..=n).map(client).collect();
    fw.reconcile(&[]).expect("empty table");
    let (first, first_revoke) = median_grant(&fw, &all[0]);
    println!(
        "{:<44} {:>9.1} ms",
        "authorize client 1 (median of 21)", first
    );
    println!(
        "{:<44} {:>9.1} ms",
        "revoke client 1 (median of 21)", first_revoke
    );
    fw.reconcile(&all[..all.len() - 1]).expect("fill");
    let (last, last_revoke) = median_grant(&fw, &all[all.len() - 1]);
    println!(
        "{:<44} {:>9.1} ms",
        format!("authorize client {n} (median of 21)"),
        last
    );
    println!(
        "{:<44} {:>9.1} ms",
        format!("revoke client {n} (median of 21)"),
        last_revoke
    );
    fw.grant(&all[all.len() - 1]).expect("grant n");
    let mut topup = all[all.len() - 1].clone();
    topup.down_kbps = 10_000;
    timed(&format!("change client {n}'s rate (new tier)"), || {
        fw.grant(&topup)
    })
    .0
    .expect("top-up");
    topup.down_kbps = 5000;
    timed(&format!("change client {n}'s rate (known tier)"), || {
        fw.grant(&topup)
    })
    .0
    .expect("top-up");
    timed(&format!("revoke client {n}"), || fw.revoke(topup.mac))
        .0
        .expect("revoke");
    timed(&format!("full reconcile of {n} clients"), || {
        fw.reconcile(&all)
    })
    .0
    .expect("reconcile");
    let (counters, _) = timed(&format!("counter sweep over {n} clients"), || fw.counters());
    let counters = counters.expect("counters");
    assert_eq!(counters.len(), all.len(), "one entry per client");
    ExitCode::SUCCESS
}
