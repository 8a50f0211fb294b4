//! Each bound acts as it is given, over real sockets on loopback: the idle keep-alive timeout,
//! the cap on open connections (the longest idle closed for a newcomer), the cap per client
//! address and the request size.

use std::net::SocketAddr;
use std::time::Duration;

use hotspot_listener::{Bounds, Guarded};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// A server answering `ok` to everything, behind `bounds`.
async fn serve(bounds: Bounds) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move {
        axum::serve(Guarded::new(listener, bounds), app)
            .await
            .unwrap();
    });
    addr
}

fn bounds(max_open: usize, max_per_client: usize, deadline_ms: u64, bytes: usize) -> Bounds {
    Bounds {
        max_open,
        max_per_client,
        request_deadline: Duration::from_millis(deadline_ms),
        max_request_bytes: bytes,
    }
}

/// Sends a GET on `s` and reads its answer (kept alive); true when it was `200 ok`.
async fn answered(s: &mut TcpStream) -> bool {
    if s.write_all(GET).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 1024];
    let mut got = Vec::new();
    while !got.ends_with(b"ok") {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

/// What reading `s` for up to `wait` gives: `Some(true)` closed (or reset), `Some(false)` data,
/// `None` nothing yet.
async fn closed(s: &mut TcpStream, wait: Duration) -> Option<bool> {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Some(true),
        Ok(Ok(_)) => Some(false),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_after_sitting_idle_past_the_deadline() {
    let addr = serve(bounds(16, 16, 1500, 16 * 1024)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(answered(&mut s).await);
    // Still open a moment after the answer: a second request on it is answered.
    assert_eq!(closed(&mut s, Duration::from_millis(100)).await, None);
    assert!(answered(&mut s).await);
    // Then left idle: closed once the deadline passes (within a bounded wait).
    let started = tokio::time::Instant::now();
    assert_eq!(closed(&mut s, Duration::from_secs(20)).await, Some(true));
    assert!(started.elapsed() >= Duration::from_millis(1000));
}

#[tokio::test]
async fn past_the_cap_the_longest_idle_connection_makes_room() {
    let addr = serve(bounds(2, 16, 60_000, 16 * 1024)).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    assert!(answered(&mut first).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(answered(&mut second).await);
    // A third: the first (idle longest) is closed and the newcomer is answered.
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert!(answered(&mut third).await);
    assert_eq!(
        closed(&mut first, Duration::from_secs(10)).await,
        Some(true)
    );
    // The second is still served.
    assert!(answered(&mut second).await);
}

#[tokio::test]
async fn connections_past_a_clients_share_are_closed_at_once() {
    let addr = serve(bounds(16, 2, 60_000, 16 * 1024)).await;
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert!(answered(&mut s).await);
        kept.push(s);
    }
    let mut surplus = TcpStream::connect(addr).await.unwrap();
    assert!(!answered(&mut surplus).await);
    // The client's first connections are still served.
    for s in &mut kept {
        assert!(answered(s).await);
    }
}

#[tokio::test]
async fn a_request_larger_than_the_bound_is_refused_and_closes_the_connection() {
    let addr = serve(bounds(16, 16, 60_000, 1024)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(4096)
    );
    let _ = s.write_all(big.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    // A request within the bound on a new connection is answered.
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(answered(&mut s).await);
}

#[tokio::test]
async fn an_answer_slower_than_the_deadline_still_goes_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        "ok"
    });
    tokio::spawn(async move {
        axum::serve(Guarded::new(listener, bounds(16, 16, 300, 16 * 1024)), app)
            .await
            .unwrap();
    });
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(answered(&mut s).await);
}
