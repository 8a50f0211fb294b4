//! Portal figures: captive probe answers per second, voucher logins per second with p50/p99
//! latency, and memory with 1,000 live sessions.
//!
//! `cargo bench -p hotspot-edge --bench portal` (set `BENCH_DIR` to put the database on the
//! filesystem you want to measure; the default is the system temporary directory).
//!
//! The daemon runs in-process exactly as `hotspotd` serves it (2 runtime workers, the real
//! SQLite file with `synchronous = FULL`, the recording firewall); the load generator shares the
//! process, so the memory figure is an upper bound for the daemon. Clients are sockets bound to
//! their own loopback addresses (127.1.x.y), each with its own MAC in the neighbour table.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotspot_edge::clock::SystemClock;
use hotspot_edge::config::RawConfig;
use hotspot_edge::firewall::Recording;
use hotspot_edge::net::StaticNeighbours;
use hotspot_edge::sessions::Sessions;
use hotspot_edge::store::Store;
use hotspot_shared::MacAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const LOGINS: usize = 1000;
const PROBE_SECS: u64 = 5;
const PROBE_CONNS: usize = 32;
const LOGIN_CONCURRENCY: usize = 16;

fn client_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8))
}

/// Sends one request on a keep-alive connection and reads the whole answer.
async fn exchange(s: &mut TcpStream, req: &[u8]) -> (u16, String) {
    s.write_all(req).await.unwrap();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed");
                buf.extend_from_slice(&chunk[..n]);
            }
            return (
                status,
                String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned(),
            );
        }
    }
}

async fn connect(from: IpAddr, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(from, 0)).unwrap();
    let s = sock.connect(to).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

async fn probes(addr: SocketAddr, from: IpAddr, expect: u16) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(PROBE_SECS);
    let req = b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n";
    let mut tasks = Vec::new();
    for _ in 0..PROBE_CONNS {
        let count = Arc::clone(&count);
        tasks.push(tokio::spawn(async move {
            let mut s = connect(from, addr).await;
            while Instant::now() < deadline {
                let (status, _) = exchange(&mut s, req).await;
                assert_eq!(status, expect);
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / PROBE_SECS as f64
}

async fn login(addr: SocketAddr, i: usize) -> Duration {
    let mut s = connect(client_ip(i), addr).await;
    let (_, page) = exchange(&mut s, b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n").await;
    let at = page.find("name=\"token\" value=\"").unwrap() + 20;
    let token = &page[at..at + 32];
    let body = format!("code=B{i:09}&token={token}");
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: 10.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let start = Instant::now();
    let (status, _) = exchange(&mut s, req.as_bytes()).await;
    let took = start.elapsed();
    assert_eq!(status, 303, "login {i}");
    took
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(&base).unwrap();
    let text = format!(
        "[store]\npath = {:?}\n[lan]\naddress = \"10.0.0.1\"\n[clients]\nrequire_lease = false\n\
         [sessions]\naccounting_interval_seconds = 3600\n[vouchers]\nmax_failures = 100\n",
        dir.path().join("edge.db")
    );
    let config = Arc::new(
        RawConfig::parse(&text, Path::new("bench.toml"))
            .unwrap()
            .validate()
            .unwrap(),
    );
    let store = Store::open(&config.store_path).unwrap();
    let mut csv = String::from("code,type,duration_minutes\n");
    for i in 0..LOGINS + 1 {
        csv.push_str(&format!("B{i:09},time,60\n"));
    }
    hotspot_edge::admin::import(&store, &config, &csv, 0).unwrap();
    let neighbours = Arc::new(StaticNeighbours::default());
    for i in 0..LOGINS + 1 {
        let mut mac = [2u8, 0, 0, 0, 0, 0];
        mac[4..].copy_from_slice(&(i as u16).to_be_bytes());
        neighbours.insert(client_ip(i), MacAddr(mac));
    }
    let sessions = Arc::new(Sessions::new(
        Arc::clone(&config),
        store,
        Arc::new(Recording::default()),
        Arc::new(SystemClock),
        neighbours,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hotspot_edge::serve(sessions, listener, async {
        let _ = stopped.await;
    }));
    let rss_idle = rss_kib();

    // Captive probes from a device not yet logged in (302 to the portal).
    let captive = probes(addr, client_ip(LOGINS), 302).await;

    // Voucher logins, LOGIN_CONCURRENCY at a time.
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(LOGINS);
    let mut next = 0;
    while next < LOGINS {
        let batch: Vec<_> = (next..(next + LOGIN_CONCURRENCY).min(LOGINS))
            .map(|i| tokio::spawn(login(addr, i)))
            .collect();
        next += batch.len();
        for t in batch {
            latencies.push(t.await.unwrap());
        }
    }
    let login_secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let rss_sessions = rss_kib();

    // Probes from a logged-in device (204), with 1,000 live sessions.
    let online = probes(addr, client_ip(0), 204).await;

    println!(
        "hotspotd portal bench ({} in {})",
        env!("CARGO_PKG_VERSION"),
        base.display()
    );
    println!("captive probe answers/s (302, {PROBE_CONNS} keep-alive connections): {captive:.0}");
    println!("online probe answers/s (204, {PROBE_CONNS} keep-alive connections):  {online:.0}");
    println!(
        "voucher logins/s ({LOGIN_CONCURRENCY} at a time, {LOGINS} logins): {:.0}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        LOGINS as f64 / login_secs,
        pct(&latencies, 0.50),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0),
    );
    println!(
        "RSS: {:.1} MiB idle, {:.1} MiB with {LOGINS} live sessions (daemon and load generator in one process)",
        rss_idle as f64 / 1024.0,
        rss_sessions as f64 / 1024.0
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
