//! The daemon served in-process on a real socket, against a real SQLite file.

use std::path::Path;
use std::sync::Arc;

use hotspot_edge::config::RawConfig;
use hotspot_edge::firewall::Recording;
use hotspot_edge::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

struct TestEdge {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn spawn_edge(extra: &str) -> TestEdge {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\npath = {:?}\n[lan]\naddress = \"10.0.0.1\"\n{extra}",
        dir.path().join("edge.db")
    );
    let config = Arc::new(
        RawConfig::parse(&text, Path::new("t.toml"))
            .unwrap()
            .validate()
            .unwrap(),
    );
    let store = Store::open(&config.store_path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(hotspot_edge::serve(
        config,
        store,
        Arc::new(Recording::default()),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    TestEdge {
        addr,
        stop: Some(stop),
        done,
        _dir: dir,
    }
}

/// One HTTP/1.1 request over a socket; returns the status, the headers block and the body.
async fn request(addr: std::net::SocketAddr, raw: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn serves_the_branded_portal_page() {
    let edge = spawn_edge("[branding]\ntitle = \"Mama Mboga <WiFi>\"\n").await;
    let (status, head, body) = request(edge.addr, &get("/", "10.0.0.1")).await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(
        body.contains("Mama Mboga &lt;WiFi&gt;"),
        "title escaped: {body}"
    );
    assert!(!body.contains("<WiFi>"));
}

#[tokio::test]
async fn captive_requests_are_sent_to_the_portal() {
    let edge = spawn_edge("").await;
    for (path, host) in [
        ("/generate_204", "connectivitycheck.gstatic.com"),
        ("/hotspot-detect.html", "captive.apple.com"),
        ("/connecttest.txt", "www.msftconnecttest.com"),
        ("/some/page?q=1", "example.com"),
    ] {
        let (status, head, _) = request(edge.addr, &get(path, host)).await;
        assert_eq!(status, 303, "{path}");
        assert!(
            head.contains("location: http://10.0.0.1:2050/"),
            "{path}: {head}"
        );
    }
}

#[tokio::test]
async fn health_reports_the_store_and_shutdown_is_graceful() {
    let mut edge = spawn_edge("").await;
    let (status, _, body) = request(edge.addr, &get("/healthz", "10.0.0.1")).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    edge.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), &mut edge.done)
        .await
        .expect("server stops within 5 s")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(edge.addr).await.is_err(),
        "listener closed"
    );
}
