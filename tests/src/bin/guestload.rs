//! `guestload`: many guests at once on a portal, for the crash tests. Run inside the guests'
//! network namespace, it outlives the daemon's restarts.
//!
//! - `drive PORTAL_ADDR:PORT`: reads one request per line on stdin and runs each on a thread of
//!   its own, from the guest address it names (the socket is bound to it), printing one line per
//!   answer: `ID STATUS LOCATION` (`0 -` when the daemon did not answer: killed mid-request).
//!   - `login ID SRC CODE`: fetches the portal page for its form token, then posts the code.
//!   - `buy ID SRC PACKAGE PHONE RID`: fetches the token, then posts a purchase.
//!   - `get ID SRC PATH`: one GET (the purchase page a guest's browser refreshes).
//! - `relay PORT SOCKET`: accepts TCP on 127.0.0.1:PORT and carries each connection to the Unix
//!   socket SOCKET (how a router in a namespace reaches a cloud on the host's loopback).
//!
//! A form refused because its token is stale (the daemon restarted between the page and the
//! post) is answered `419`, so the caller can tell it from a refusal and send it again.

use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// One HTTP/1.1 exchange from `src`: (status, location header, body). Status 0 when the
/// connection failed or closed without an answer.
fn exchange(src: IpAddr, to: SocketAddr, request: &str) -> (u16, String, String) {
    let attempt = || -> std::io::Result<String> {
        let s = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
        s.bind(&SocketAddr::new(src, 0).into())?;
        s.connect_timeout(&to.into(), Duration::from_secs(3))?;
        let mut s: TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(request.as_bytes())?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    };
    let Ok(text) = attempt() else {
        return (0, "-".into(), String::new());
    };
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| "-".into());
    (status, location, body.to_owned())
}

fn get(src: IpAddr, to: SocketAddr, path: &str) -> (u16, String, String) {
    exchange(
        src,
        to,
        &format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"),
    )
}

fn post(src: IpAddr, to: SocketAddr, path: &str, body: &str) -> (u16, String, String) {
    exchange(
        src,
        to,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {to}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// The form token on the portal page, fetched from `src`.
fn token(src: IpAddr, to: SocketAddr) -> Option<String> {
    let (_, _, body) = get(src, to, "/");
    let at = body.find("name=\"token\" value=\"")? + 20;
    let end = body[at..].find('"')?;
    Some(body[at..at + end].to_owned())
}

fn run(to: SocketAddr, words: &[&str]) -> (u16, String) {
    let src: IpAddr = match words.get(2).and_then(|s| s.parse().ok()) {
        Some(a) => a,
        None => return (0, "bad-request".into()),
    };
    let (status, location, body) = match words {
        ["login", _, _, code] => {
            let Some(t) = token(src, to) else {
                return (0, "-".into());
            };
            post(src, to, "/login", &format!("code={code}&token={t}"))
        }
        ["buy", _, _, package, phone, rid] => {
            let Some(t) = token(src, to) else {
                return (0, "-".into());
            };
            post(
                src,
                to,
                "/buy",
                &format!("package={package}&phone={phone}&rid={rid}&token={t}"),
            )
        }
        ["get", _, _, path] => get(src, to, path),
        _ => return (0, "bad-request".into()),
    };
    // A form whose token a restarted daemon no longer knows (its key is made at start): the
    // guest reloads the page and sends it again. Told apart from a refusal as `419`.
    if status == 403 && body.contains("Reload the page and try again") {
        return (419, location);
    }
    (status, location)
}

fn drive(portal: &str) {
    let to: SocketAddr = portal.parse().expect("portal address");
    let out = Arc::new(Mutex::new(std::io::stdout()));
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let out = Arc::clone(&out);
        std::thread::spawn(move || {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (status, location) = run(to, &words);
            let id = words.get(1).copied().unwrap_or("?");
            if let Ok(mut o) = out.lock() {
                let _ = writeln!(o, "{id} {status} {location}");
                let _ = o.flush();
            }
        });
    }
    // stdin closed: let the requests in flight finish.
    std::thread::sleep(Duration::from_secs(5));
}

fn relay(port: &str, socket: &str) {
    let listener = TcpListener::bind(("127.0.0.1", port.parse().expect("port"))).expect("bind");
    for conn in listener.incoming() {
        let Ok(tcp) = conn else { continue };
        let socket = socket.to_owned();
        std::thread::spawn(move || {
            let Ok(unix) = UnixStream::connect(&socket) else {
                return;
            };
            let (mut tcp_r, mut unix_w) = (
                tcp.try_clone().expect("clone"),
                unix.try_clone().expect("clone"),
            );
            let up = std::thread::spawn(move || {
                let _ = std::io::copy(&mut tcp_r, &mut unix_w);
                let _ = unix_w.shutdown(std::net::Shutdown::Write);
            });
            let (mut unix_r, mut tcp_w) = (unix, tcp);
            let _ = std::io::copy(&mut unix_r, &mut tcp_w);
            let _ = tcp_w.shutdown(std::net::Shutdown::Write);
            let _ = up.join();
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["drive", portal] => drive(portal),
        ["relay", port, socket] => relay(port, socket),
        _ => {
            eprintln!("usage: guestload drive ADDR:PORT | guestload relay PORT SOCKET");
            std::process::exit(2);
        }
    }
}
