//! The built binaries run as an administrator would run them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hotspot_system_tests::binary;

/// A port free at the moment of asking.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GETs `path` from 127.0.0.1:`port`, retrying until `deadline` while the daemon starts.
fn get_when_up(port: u16, path: &str, child: &mut Child) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("daemon exited early ({status}): {err}");
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            let status = text.split(' ').nth(1).unwrap().parse().unwrap();
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            return (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "daemon did not listen on {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn hotspotd_prints_an_example_that_its_own_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary("hotspotd"))
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, &out.stdout).unwrap();
    let check = Command::new(binary("hotspotd"))
        .arg("--config")
        .arg(&path)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn hotspotd_refuses_a_bad_config_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, "[portal]\nlisten = \"everywhere\"\n").unwrap();
    let out = Command::new(binary("hotspotd"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("portal.listen"), "{err}");
    let missing = Command::new(binary("hotspotd"))
        .args(["--config", "/nonexistent/edge.toml", "config", "check"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/edge.toml"));
}

#[test]
fn hotspotd_serves_the_portal_from_a_fresh_database_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("edge.toml");
    let db = dir.path().join("state/edge.db");
    std::fs::write(
        &path,
        format!(
            "[portal]\nlisten = \"127.0.0.1:{port}\"\n[store]\npath = {db:?}\n\
             [firewall]\nbackend = \"off\"\n[clients]\nrequire_lease = false\n"
        ),
    )
    .unwrap();
    let mut child = Killed(
        Command::new(binary("hotspotd"))
            .arg("--config")
            .arg(&path)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (status, body) = get_when_up(port, "/", &mut child.0);
    assert_eq!(status, 200);
    assert!(body.contains("Free WiFi"), "{body}");
    assert!(db.exists(), "database created");
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "hotspotd did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit on SIGTERM: {status}");
}
