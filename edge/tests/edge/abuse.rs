//! The portal under abuse: slow requests (slowloris) from one guest and from many addresses,
//! more connections than a guest's share, huge headers. Others keep being answered, the
//! abusers' connections are closed, and memory stays bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotspot_edge::portal::limits::{MAX_OPEN, MAX_PER_CLIENT, MAX_REQUEST_BYTES, REQUEST_DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn connect_from(n: u8, server: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::from(([127, 0, 0, n], 0))).unwrap();
    sock.connect(server).await.unwrap()
}

/// A connection from 127.1.x.y, a different address for each `i` below 62,500.
async fn connect_from_many(i: usize, server: SocketAddr) -> TcpStream {
    let (x, y) = ((i / 250) as u8, (i % 250 + 1) as u8);
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::from(([127, 1, x, y], 0))).unwrap();
    sock.connect(server).await.unwrap()
}

/// Resident memory of this process (the portal serves in it), KiB.
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

/// True when the server closed (or reset) `s` within `limit` without answering.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(limit, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[tokio::test]
async fn slow_and_surplus_connections_are_closed_and_others_are_still_answered() {
    let edge = spawn_edge("").await;
    let other = edge.guest(2);
    // The abuser opens its share of connections and trickles a request on each.
    let mut slow = Vec::new();
    for _ in 0..MAX_PER_CLIENT {
        let mut s = connect_from(9, edge.addr).await;
        s.write_all(b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\nX-a: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // One more from the same address is closed at once.
    let mut surplus = connect_from(9, edge.addr).await;
    assert!(
        closed_within(&mut surplus, Duration::from_secs(2)).await,
        "connection {} from one client was kept",
        MAX_PER_CLIENT + 1
    );
    // Everyone else is answered meanwhile, quickly.
    let started = Instant::now();
    assert_eq!(other.get("/", "10.0.0.1").await.status, 200);
    // (Generous for emulated CPUs; natively it takes milliseconds.)
    assert!(started.elapsed() < Duration::from_secs(5));
    // The slow requests are cut at the deadline even while bytes keep trickling in.
    let started = Instant::now();
    let mut cut = 0;
    for _ in 0..(REQUEST_DEADLINE.as_secs() * 2 + 4) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for s in &mut slow {
            let _ = s.write_all(b"a").await;
        }
        cut = 0;
        for s in &mut slow {
            if closed_within(s, Duration::from_millis(1)).await {
                cut += 1;
            }
        }
        if cut == slow.len() {
            break;
        }
    }
    let waited = started.elapsed();
    assert_eq!(cut, slow.len(), "slow requests still open after {waited:?}");
    assert!(
        waited <= REQUEST_DEADLINE + Duration::from_secs(2),
        "{waited:?}"
    );
    // The abuser's address can connect again once its connections are gone.
    assert_eq!(edge.guest(9).get("/", "10.0.0.1").await.status, 200);
}

#[tokio::test]
async fn huge_headers_close_the_connection_and_change_nothing() {
    let edge = spawn_edge("").await;
    let mut s = connect_from(9, edge.addr).await;
    let filler = "a".repeat(1000);
    let mut request = b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n".to_vec();
    while request.len() <= MAX_REQUEST_BYTES * 4 {
        request.extend_from_slice(format!("X-f: {filler}\r\n").as_bytes());
    }
    // The server may close while the request is still being written.
    let _ = s.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.starts_with("HTTP/1.1 200"),
        "a request of {} bytes was served: {text}",
        request.len()
    );
    assert_eq!(edge.guest(2).get("/", "10.0.0.1").await.status, 200);
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 0);
}

#[tokio::test]
async fn slow_clients_from_many_addresses_make_room_for_new_ones_within_bounded_memory() {
    const WAVES: usize = 4;
    let edge = spawn_edge("").await;
    let guest = edge.guest(2);
    assert_eq!(guest.get("/", "10.0.0.1").await.status, 200);
    let rss_before = rss_kib();
    let mut waves: Vec<Vec<TcpStream>> = Vec::new();
    let mut rss_max = rss_before;
    for wave in 0..WAVES {
        // Every place taken by a slow request, each from an address of its own (so the
        // per-address bound does not apply), each newer than the last wave's.
        let mut slow = Vec::new();
        for i in 0..MAX_OPEN {
            let mut s = connect_from_many(wave * MAX_OPEN + i, edge.addr).await;
            s.write_all(b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\nX-a: ")
                .await
                .unwrap();
            slow.push(s);
        }
        // The last wave's connections were the oldest idle ones: closed to make room.
        if let Some(last) = waves.last_mut() {
            let mut closed = 0;
            for s in last.iter_mut() {
                if closed_within(s, Duration::from_secs(2)).await {
                    closed += 1;
                }
            }
            assert_eq!(closed, MAX_OPEN, "wave {wave}: older slow connections kept");
        }
        // A real guest is answered at once, not after the slow requests' deadline.
        let started = Instant::now();
        assert_eq!(guest.get("/", "10.0.0.1").await.status, 200);
        let took = started.elapsed();
        assert!(
            took < REQUEST_DEADLINE / 3,
            "wave {wave}: answered after {took:?}"
        );
        // Room was made by closing the oldest slow connection of this wave, not a newer one.
        assert!(
            closed_within(&mut slow[0], Duration::from_secs(2)).await,
            "wave {wave}: the oldest slow connection is still open"
        );
        assert!(
            !closed_within(&mut slow[MAX_OPEN - 1], Duration::from_millis(50)).await,
            "wave {wave}: the newest slow connection was closed"
        );
        rss_max = rss_max.max(rss_kib());
        waves.push(slow);
    }
    let rss_after = rss_kib();
    println!(
        "portal under slowloris from {} addresses ({WAVES} waves of {MAX_OPEN}): RSS of the \
         process before {:.1} MiB, max {:.1} MiB, after {:.1} MiB",
        WAVES * MAX_OPEN,
        rss_before as f64 / 1024.0,
        rss_max as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    // Each open connection costs the portal a few KiB (buffers, timers); generous for the
    // test process's own sockets and allocator.
    assert!(
        rss_max < rss_before + 32 * 1024,
        "memory grew from {rss_before} KiB to {rss_max} KiB"
    );
}
