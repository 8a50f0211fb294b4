//! Load shedding over real sockets: past the cap on requests in flight a request is answered
//! 503 with `Retry-After` at once, health checks and M-Pesa callbacks still get through, and
//! service is normal again once the load is gone; a request that cannot have a database
//! connection within the pool's wait gets 503 too (API, sync, console), while a callback waits
//! its turn; idle connections are closed, and past the connection cap the longest idle makes room.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotspot_cloud::routes::shed::Limits;
use hotspot_cloud::{AppState, db};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestDb, migrated_db, test_api_state};

/// The service with `limits`, a pool of `pool_size` whose waits end after `wait`.
async fn spawn(
    limits: Limits,
    pool_size: usize,
    wait: Duration,
) -> (SocketAddr, deadpool_postgres::Pool, TestDb) {
    let test_db = migrated_db().await;
    let pool = db::pool_with_wait(&test_db.url, pool_size, Some(wait)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        pool: pool.clone(),
        api: test_api_state(),
        payments: hotspot_cloud::payments::Payments::disabled(),
    };
    tokio::spawn(hotspot_cloud::serve_with(
        state,
        listener,
        std::future::pending(),
        limits,
    ));
    (addr, pool, test_db)
}

/// An answer read off a socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    took: Duration,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `request` (a whole HTTP/1.1 request; `Connection: close` is added) and reads the
/// answer, within 30 s.
async fn send(addr: SocketAddr, request: &str) -> Answer {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    let request = format!("{head}\r\nConnection: close\r\n\r\n{body}");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("no answer within 30 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Answer {
        status,
        head: text.split("\r\n\r\n").next().unwrap_or_default().to_owned(),
        took: started.elapsed(),
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: cloud\r\n\r\n")
}

/// An STK callback for a purchase nobody made, under a token nobody has: stored nowhere,
/// answered 200 like any other (after a database lookup).
fn stray_callback() -> String {
    let body = r#"{"Body":{"stkCallback":{"MerchantRequestID":"1-2-3","CheckoutRequestID":"ws_CO_shed","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}"#;
    format!(
        "POST /mpesa/callback/{} HTTP/1.1\r\nHost: cloud\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        "t".repeat(40),
        body.len()
    )
}

/// A request that holds a place: its headers sent, its body promised and never sent, so the
/// handler waits for it.
async fn hold_a_place(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /sync/v1/events HTTP/1.1\r\nHost: cloud\r\nContent-Type: application/json\r\n\
          Content-Length: 100000\r\n\r\n{\"version\":",
    )
    .await
    .unwrap();
    s
}

#[tokio::test]
async fn past_the_cap_requests_get_503_at_once_and_service_resumes_after() {
    let limits = Limits {
        max_in_flight: 8,
        ..Limits::default()
    };
    let (addr, _pool, _db) = spawn(limits, 4, Duration::from_secs(5)).await;
    assert_eq!(send(addr, &get("/api/openapi.json")).await.status, 200);

    // Fill every place with requests that do not finish.
    let mut held = Vec::new();
    for _ in 0..limits.max_in_flight {
        held.push(hold_a_place(addr).await);
    }
    // Each of the next requests is refused at once, with a time to come back.
    let mut shed = None;
    for _ in 0..100 {
        let a = send(addr, &get("/api/openapi.json")).await;
        if a.status == 503 {
            shed = Some(a);
            break;
        }
        // The held requests may still be on their way to the handler.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shed = shed.expect("the cap was full and a request was still served");
    assert_eq!(shed.header("retry-after"), Some("1"), "{}", shed.head);
    assert_eq!(
        shed.header("content-type"),
        Some("application/problem+json")
    );
    for path in ["/api/v1/hotspots", "/sync/v1/changes", "/console/"] {
        let a = send(addr, &get(path)).await;
        assert_eq!(a.status, 503, "{path}: {}", a.head);
        // At once: nothing waited for a database or a body (generous for a loaded machine).
        assert!(a.took < Duration::from_secs(1), "{path} took {:?}", a.took);
    }
    // Never shed: health checks, metrics, and what Daraja posts.
    assert_eq!(send(addr, &get("/health/live")).await.status, 200);
    assert_eq!(send(addr, &get("/health/ready")).await.status, 200);
    assert_eq!(send(addr, &get("/metrics")).await.status, 200);
    let cb = send(addr, &stray_callback()).await;
    assert_eq!(
        cb.status, 200,
        "a callback was refused under load: {}",
        cb.head
    );

    // The load goes away: every place comes back, and so does service.
    drop(held);
    let started = Instant::now();
    loop {
        let a = send(addr, &get("/api/openapi.json")).await;
        if a.status == 200 {
            break;
        }
        assert_eq!(a.status, 503);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "places not given back after the held requests closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // All of them: as many requests at once as the cap are all served.
    let mut at_once = Vec::new();
    for _ in 0..limits.max_in_flight {
        at_once.push(tokio::spawn(async move {
            send(addr, &get("/health/ready")).await.status
                + send(addr, &get("/api/openapi.json")).await.status
        }));
    }
    for t in at_once {
        assert_eq!(t.await.unwrap(), 400);
    }
}

#[tokio::test]
async fn no_database_connection_in_time_is_503_and_a_callback_waits_for_one() {
    let wait = Duration::from_millis(300);
    let (addr, pool, _db) = spawn(Limits::default(), 1, wait).await;
    // The pool's only connection, held by someone else.
    let busy = pool.get().await.unwrap();

    // Requests that need the database: refused once the pool's wait is over, not queued.
    let login = r#"{"email":"someone@example.test","password":"not-this-one"}"#;
    let requests = [
        (
            "/sync/v1/changes",
            format!(
                "GET /sync/v1/changes HTTP/1.1\r\nHost: cloud\r\nAuthorization: Bearer hsd_{}\r\n\r\n",
                "x".repeat(40)
            ),
        ),
        (
            "/api/v1/auth/login",
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: cloud\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{login}",
                login.len()
            ),
        ),
        (
            "/console/",
            format!(
                "GET /console/ HTTP/1.1\r\nHost: cloud\r\nCookie: hs_console={}\r\n\r\n",
                "c".repeat(43)
            ),
        ),
    ];
    for (path, request) in requests {
        let a = send(addr, &request).await;
        assert_eq!(a.status, 503, "{path}: {}", a.head);
        assert_eq!(a.header("retry-after"), Some("1"), "{path}: {}", a.head);
        assert!(
            a.took >= wait,
            "{path} answered before the wait: {:?}",
            a.took
        );
        assert!(a.took < Duration::from_secs(3), "{path} took {:?}", a.took);
    }

    // A callback is not refused: it waits for the connection, however long.
    let callback = tokio::spawn(async move { send(addr, &stray_callback()).await });
    tokio::time::sleep(wait * 3).await;
    assert!(
        !callback.is_finished(),
        "the callback did not wait for a connection"
    );
    drop(busy);
    let a = callback.await.unwrap();
    assert_eq!(a.status, 200, "{}", a.head);

    // Once the connection is free, requests are served again.
    assert_eq!(send(addr, &get("/health/ready")).await.status, 200);
}

/// Reads `s` for up to `wait`: true when the server closed (or reset) it.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn idle_connections_are_closed_and_past_the_cap_the_longest_idle_makes_room() {
    let deadline = Duration::from_secs(3);
    let limits = Limits {
        connections: hotspot_cloud::routes::shed::connection_bounds(3, deadline),
        ..Limits::default()
    };
    let (addr, _pool, _db) = spawn(limits, 2, Duration::from_secs(5)).await;
    // Three connections that send nothing fill the cap; a fourth is answered at once (not
    // after the silent ones' deadline), the oldest of them closed to make room for it.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a = send(addr, &get("/health/live")).await;
    assert_eq!(a.status, 200);
    assert!(a.took < deadline / 2, "answered after {:?}", a.took);
    assert!(closed_within(&mut silent[0], Duration::from_secs(1)).await);
    assert!(!closed_within(&mut silent[2], Duration::from_millis(50)).await);
    drop(silent);

    // A kept-alive connection left idle is closed once the deadline passes.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(get("/health/live").as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(20)).await);
    assert!(started.elapsed() >= deadline - Duration::from_millis(500));
}

/// Sends `request` on the kept-alive connection `s` and reads one answer (its head, then as
/// many body bytes as it announces), within 10 s.
async fn exchange(s: &mut TcpStream, request: &str) -> Answer {
    let started = Instant::now();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        while !buf.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).await.unwrap(), 1, "closed mid-answer");
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        s.read_exact(&mut body).await.unwrap();
        head
    };
    let head = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no answer within 10 s");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    Answer {
        status,
        head,
        took: started.elapsed(),
    }
}

/// A push of `n` bytes of body, sent whole.
fn push_of(n: usize) -> String {
    let body = format!("{{\"version\":1,\"pad\":\"{}\"}}", "x".repeat(n));
    format!(
        "POST /sync/v1/events HTTP/1.1\r\nHost: cloud\r\nAuthorization: Bearer nobody\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn an_answer_given_before_its_body_was_read_closes_the_connection_and_says_so() {
    let limits = Limits {
        max_in_flight: 2,
        ..Limits::default()
    };
    let (addr, _pool, _db) = spawn(limits, 2, Duration::from_secs(5)).await;

    // A request without a body, and one whose body is read (a wrong sign-in): the connection
    // stays open for the next request, and the answers do not say close.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    let login = r#"{"email":"someone@example.test","password":"not-this-one"}"#;
    let sign_in = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: cloud\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{login}",
        login.len()
    );
    for request in [get("/health/live"), sign_in.clone(), get("/health/live")] {
        let a = exchange(&mut kept, &request).await;
        assert!(a.status == 200 || a.status == 401, "{}", a.head);
        assert_eq!(a.header("connection"), None, "{}", a.head);
    }

    // Every place held: a push of 20 kB, sent whole, is shed before its body is read. The 503
    // says close, and the server does close: a client that reused the connection would find it
    // gone under its next request.
    let mut held = Vec::new();
    for _ in 0..limits.max_in_flight {
        held.push(hold_a_place(addr).await);
    }
    let mut shed = None;
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let a = exchange(&mut s, &push_of(20_000)).await;
        if a.status == 503 {
            shed = Some((a, s));
            break;
        }
        // The held requests may still be on their way to the handler.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (a, mut s) = shed.expect("the cap was full and a push was still served");
    assert_eq!(a.header("connection"), Some("close"), "{}", a.head);
    assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    // A GET shed the same way keeps its connection: there is no body to be left unread.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let a = exchange(&mut s, &get("/api/v1/hotspots")).await;
    assert_eq!(a.status, 503, "{}", a.head);
    assert_eq!(a.header("connection"), None, "{}", a.head);
    assert!(!closed_within(&mut s, Duration::from_millis(200)).await);
}
