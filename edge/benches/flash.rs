//! Flash writes of a busy site: what the daemon's database writes to storage in an hour.
//!
//! The session engine runs against a real SQLite file (WAL, `synchronous = FULL`, as on a
//! router) with the recording firewall and a clock the bench moves, so an hour of a busy site
//! runs in seconds: guests log in with vouchers at `BENCH_LOGINS_PER_HOUR` (default 120), each
//! session lasts `BENCH_SESSION_MINUTES` (30: about 60 guests online at once) moving 1 MB a
//! minute, the accounting cycle runs every `BENCH_ACCOUNTING_SECS` (30, the default setting), and
//! the outbox is pushed and acknowledged every 60 s as the sync loop does with the cloud reachable.
//! The first hour fills the site; the figures are of the hours after it (`BENCH_HOURS`, 2).
//!
//! Figures: bytes the process sent to storage (`write_bytes` of /proc/self/io, which counts the
//! pages it dirtied: WAL frames and checkpoints alike, before any flash translation layer's own
//! amplification), and the size of the database and WAL files at the end. Put the database on
//! the storage to measure with `BENCH_DIR` (default: the system temporary directory; on tmpfs
//! the kernel reports no storage writes at all).
//!
//! `cargo bench -p hotspot-edge --bench flash`

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use hotspot_edge::clock::ManualClock;
use hotspot_edge::config::RawConfig;
use hotspot_edge::firewall::Recording;
use hotspot_edge::net::StaticNeighbours;
use hotspot_edge::sessions::{Client, Sessions};
use hotspot_edge::store::{Store, outbox};
use hotspot_shared::MacAddr;
use hotspot_shared::voucher::ALPHABET;

/// 2026-11-23 12:00 UTC.
const T0: i64 = 1_795_435_200;
const HOUR: i64 = 3600;
const SYNC: i64 = 60;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bytes this process has caused to be written to storage so far.
fn write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("write_bytes: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The `n`th voucher code: ten characters of the generated alphabet.
fn code(n: usize) -> String {
    let mut x = n;
    (0..10)
        .map(|_| {
            let c = ALPHABET[x % ALPHABET.len()] as char;
            x /= ALPHABET.len();
            c
        })
        .collect()
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let logins_per_hour = env_or("BENCH_LOGINS_PER_HOUR", 120).clamp(1, 3600);
    let session_minutes = env_or("BENCH_SESSION_MINUTES", 30).clamp(1, 600);
    let hours = env_or("BENCH_HOURS", 2).clamp(2, 48);
    // The accounting interval (`[sessions] accounting_interval_seconds`; UCI
    // `limits.accounting_interval`), a divisor of the push interval.
    let cycle = env_or("BENCH_ACCOUNTING_SECS", 30).clamp(1, SYNC);
    let cycle = (1..=cycle).rev().find(|c| SYNC % c == 0).unwrap_or(1);
    let base = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).expect("a directory for the database");
    let db = dir.path().join("edge.db");
    let text = format!(
        "[store]\npath = {db:?}\n[lan]\naddress = \"10.0.0.1\"\n\
         [clients]\nrequire_lease = false\n\
         [sessions]\naccounting_interval_seconds = {cycle}\nidle_timeout_seconds = 900\n"
    );
    let config = Arc::new(
        RawConfig::parse(&text, Path::new("bench.toml"))
            .expect("bench configuration parses")
            .validate()
            .expect("bench configuration is valid"),
    );
    let store = Store::open(&config.store_path).expect("store opens");
    let clock = Arc::new(ManualClock::new(T0));
    let firewall = Arc::new(Recording::default());
    let sessions = Arc::new(Sessions::new(
        Arc::clone(&config),
        store.clone(),
        firewall.clone(),
        clock.clone(),
        Arc::new(StaticNeighbours::default()),
    ));
    let total = (logins_per_hour * hours) as usize;
    let mut csv = String::from("code,type,duration_minutes\n");
    for n in 0..total {
        csv.push_str(&format!("{},time,{session_minutes}\n", code(n)));
    }
    hotspot_edge::admin::import(&store, &config, &csv, T0).expect("vouchers import");

    // The first hour fills the site; the figures are of the hours after it (steady state).
    let mut next_login = 0usize;
    let login_every = HOUR / logins_per_hour;
    let mut measured_from = None;
    let mut logins = 0u64;
    let mut cycles = 0u64;
    let mut pushes = 0u64;
    let mut events = 0u64;
    let started = std::time::Instant::now();
    for t in (0..=(hours * HOUR)).step_by(cycle as usize) {
        if t == HOUR {
            measured_from = Some((write_bytes(), logins, cycles, pushes, events));
        }
        clock.set(T0 + t);
        while next_login < total && (next_login as i64) * login_every <= t {
            let n = next_login + 1;
            let mac = MacAddr([2, 0, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, (n >> 8) as u8, n as u8));
            sessions
                .login(Client { ip, mac }, &code(next_login), None)
                .await
                .expect("voucher login");
            next_login += 1;
            logins += 1;
        }
        // Every guest online moves a megabyte a minute, a quarter of it up.
        let bytes = 1_048_576 * cycle as u64 / 60;
        for g in firewall.granted() {
            firewall.add_traffic(g.mac, bytes / 4, bytes - bytes / 4);
        }
        sessions.run_once().await.expect("accounting cycle");
        cycles += 1;
        if t % SYNC == 0 {
            let batch = store
                .read(|c| outbox::oldest(c, 500))
                .await
                .expect("outbox read");
            events += batch.len() as u64;
            let seqs = batch.into_iter().map(|(s, _)| s).collect();
            sessions
                .pushed(seqs, Vec::new())
                .await
                .expect("push acknowledged");
            pushes += 1;
        }
    }
    let (w0, l0, c0, p0, e0) = measured_from.expect("at least two hours run");
    let measured_hours = (hours - 1) as f64;
    let per_hour = |x: u64| x as f64 / measured_hours;
    let written = write_bytes() - w0;
    println!(
        "busy site: {logins_per_hour} logins/h, {session_minutes}-minute sessions, \
         accounting every {cycle} s, push every {SYNC} s; {hours} h simulated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "per hour after the first: {:.0} logins, {:.0} accounting cycles, {:.0} pushes of \
         {:.0} events",
        per_hour(logins - l0),
        per_hour(cycles - c0),
        per_hour(pushes - p0),
        per_hour(events - e0)
    );
    println!(
        "written to storage: {:.2} MiB/h ({:.1} KiB per accounting cycle)",
        per_hour(written) / 1_048_576.0,
        written as f64 / (cycles - c0).max(1) as f64 / 1024.0
    );
    println!(
        "files at the end: database {} KiB, WAL {} KiB",
        file_size(&db) / 1024,
        file_size(&dir.path().join("edge.db-wal")) / 1024
    );
}
