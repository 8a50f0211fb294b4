//! The portal under abuse, measured: the daemon's memory and the latency another guest sees
//! while one guest (or many addresses) attacks it.
//!
//! `cargo bench -p hotspot-edge --bench abuse` (`HOTSPOTD_BIN` picks the daemon measured, for
//! example the size-tuned `target/edge/hotspotd`). Needs a few thousand file descriptors
//! (`ulimit -n 8192`).
//!
//! The real `hotspotd` runs as its own process on loopback (recording firewall, no lease check,
//! no capture). Attackers and the measuring guest are sockets bound to their own loopback
//! addresses. Phases, each followed by the daemon's RSS and the other guest's latency over 20
//! page loads made during the attack:
//! 1. idle;
//! 2. slowloris: 2,000 connections from 200 addresses, each sending a header byte every second;
//! 3. 3,000 connections opened at once from one address and held open;
//! 4. huge headers: 300 connections each sending 1 MiB of headers;
//! 5. a probe flood: one address sending `GET /generate_204` as fast as its connections allow.
//!
//! RSS is `VmRSS` from `/proc/PID/status`; the peak is `VmHWM`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn ip(a: u8, b: u8, c: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, a, b, c))
}

async fn connect(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    tokio::time::timeout(Duration::from_secs(2), sock.connect(to))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// One page load by the measuring guest on a new connection; its time, or `None` on failure.
async fn page(to: SocketAddr) -> Option<Duration> {
    let started = Instant::now();
    let mut s = connect(ip(0, 0, 2), to).await.ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.starts_with(b"HTTP/1.1 200").then(|| started.elapsed())
}

/// 20 page loads, 100 ms apart.
async fn latency(to: SocketAddr) -> String {
    let mut times = Vec::new();
    let mut failed = 0;
    for _ in 0..20 {
        match page(to).await {
            Some(t) => times.push(t),
            None => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    times.sort();
    if times.is_empty() {
        return format!("all {failed} page loads failed");
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "other guest: p50 {:.1} ms, max {:.1} ms, {failed} of 20 failed",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    )
}

fn rss(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches(':').trim().to_owned())
            .unwrap_or_default()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    format!("RSS {}, peak {}, {fds} fds", field("VmRSS"), field("VmHWM"))
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[lan]\ninterface = \"lo\"\naddress = \"10.0.0.1\"\n[portal]\nlisten = \"{to}\"\n\
             [store]\npath = {:?}\n[clients]\nrequire_lease = false\ncapture = false\n\
             [firewall]\nbackend = \"off\"\n",
            dir.path().join("edge.db"),
        ),
    )
    .unwrap();
    let bin =
        std::env::var_os("HOTSPOTD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_hotspotd").into());
    let daemon = Daemon(
        Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = daemon.0.id();
    let ready = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(to).await.is_err() {
        assert!(Instant::now() < ready, "hotspotd did not start listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("idle: {}; {}", rss(pid), latency(to).await);

    // 2. Slowloris from 200 addresses.
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..2000u32 {
        let (stop, closed) = (Arc::clone(&stop), Arc::clone(&closed));
        let from = ip(2, (i % 200 / 250) as u8, (i % 200 % 250 + 1) as u8);
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = connect(from, to).await else {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n").await;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if s.write_all(b"X").await.is_err() {
                    closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = latency(to).await;
    println!(
        "slowloris, 2,000 connections from 200 addresses: {}; {during}",
        rss(pid)
    );
    tokio::time::sleep(Duration::from_secs(12)).await;
    println!(
        "  after 16 s: {} of 2,000 closed by the portal or refused; {}",
        closed.load(Ordering::Relaxed),
        rss(pid)
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks.drain(..) {
        let _ = t.await;
    }

    // 3. Thousands of connections from one address, held open.
    let mut held = Vec::new();
    let mut refused = 0;
    let opening = async {
        for _ in 0..3000 {
            match connect(ip(3, 0, 1), to).await {
                Ok(s) => held.push(s),
                Err(_) => refused += 1,
            }
        }
    };
    opening.await;
    let during = latency(to).await;
    println!(
        "3,000 connections from one address ({} opened, {refused} not): {}; {during}",
        held.len(),
        rss(pid)
    );
    drop(held);

    // 4. Huge headers.
    for i in 0..300u32 {
        let from = ip(4, (i / 250) as u8, (i % 250 + 1) as u8);
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = connect(from, to).await else {
                return;
            };
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n").await;
            let line = format!("X-f: {}\r\n", "a".repeat(1000));
            for _ in 0..1024 {
                if s.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        }));
    }
    let during = latency(to).await;
    for t in tasks.drain(..) {
        let _ = t.await;
    }
    println!("huge headers, 300 x 1 MiB: {}; {during}", rss(pid));

    // 5. A probe flood from one address, 32 keep-alive connections.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    for _ in 0..32 {
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        tasks.push(tokio::spawn(async move {
            let req = b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n";
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = connect(ip(5, 0, 1), to).await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                while !stop.load(Ordering::Relaxed) {
                    if s.write_all(req).await.is_err() {
                        break;
                    }
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => answered.fetch_add(1, Ordering::Relaxed),
                        _ => break,
                    };
                }
            }
        }));
    }
    let started = Instant::now();
    let during = latency(to).await;
    let rate = answered.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks.drain(..) {
        let _ = t.await;
    }
    println!(
        "probe flood from one address ({rate:.0} answers/s): {}; {during}",
        rss(pid)
    );
    println!("after: {}; {}", rss(pid), latency(to).await);
}
