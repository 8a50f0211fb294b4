//! Fuzz targets of what hotspotd parses from the network (`fuzz/mutate.rs`, corpus in
//! `fuzz/corpus/`): form bodies, dnsmasq's lease file, the cloud's pull pages and push answers,
//! and whole portal requests (query strings, headers, forms, the RFC 8908 captive API) over a
//! socket. None may panic; a refused input changes nothing; the portal answers no 5xx.
//! `FUZZ_SECONDS=300 cargo test -p hotspot-edge --test edge fuzz -- --nocapture` runs each long.

#[path = "../../../fuzz/mutate.rs"]
mod mutate;

use std::time::{Duration, Instant};

use hotspot_edge::net::leases::parse_dnsmasq_leases;
use hotspot_edge::portal::form;
use hotspot_shared::sync::{PullResponse, PushResponse, VERSION};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

#[test]
fn fuzz_portal_form() {
    mutate::run("portal_form", 2.0, |input| {
        if let Ok(f) = form::parse(input) {
            prop_assert!(f.len() <= 8);
            let decoded: usize = f.iter().map(|(k, v)| k.len() + v.len()).sum();
            prop_assert!(decoded <= input.len(), "decoding never grows the text");
        }
        Ok(())
    });
}

#[test]
fn fuzz_leases() {
    mutate::run("leases", 2.0, |input| {
        let text = String::from_utf8_lossy(input);
        let leases = parse_dnsmasq_leases(&text);
        prop_assert!(leases.len() <= text.lines().count());
        let names_bounded = leases.iter().all(|l| {
            l.hostname
                .as_ref()
                .is_none_or(|h| h.len() <= 64 && h != "*")
        });
        prop_assert!(names_bounded, "a host name over 64 bytes or `*`");
        Ok(())
    });
}

#[test]
fn fuzz_push_answer() {
    mutate::run("push_answer", 1.0, |input| {
        let _ = serde_json::from_slice::<PushResponse>(input);
        Ok(())
    });
}

/// What a pull page or a portal request could change.
fn snapshot(edge: &TestEdge) -> Vec<i64> {
    let mut v: Vec<i64> = [
        "plans",
        "vouchers",
        "access_list",
        "settings",
        "sync_state",
        "sessions",
        "voucher_redemptions",
        "outbox",
        "purchases",
    ]
    .iter()
    .map(|t| edge.count(&format!("SELECT count(*) FROM {t}")))
    .collect();
    v.push(edge.count("SELECT count(*) FROM vouchers WHERE is_used = 1"));
    // Who the firewall lets through (a logout revokes even a client that is not online).
    v.push(edge.firewall.granted().len() as i64);
    v
}

/// Pull pages as the cloud would send them: a page that does not decode, or that the store
/// refuses, changes nothing; none panics the daemon.
#[tokio::test]
async fn fuzz_pull_body() {
    let edge = spawn_edge("").await;
    let budget = mutate::budget(3.0);
    let started = Instant::now();
    let mut inputs = mutate::Inputs::new("pull_body");
    let (mut execs, mut applied) = (0u64, 0u64);
    while started.elapsed() < budget || execs < inputs.seeds.len() as u64 {
        let input = inputs.next().unwrap();
        execs += 1;
        let Ok(page) = serde_json::from_slice::<PullResponse>(&input) else {
            continue;
        };
        if page.version != VERSION {
            continue;
        }
        let before = snapshot(&edge);
        let sessions = std::sync::Arc::clone(&edge.sessions);
        let result = tokio::spawn(async move {
            sessions
                .apply_pull(page.changes, page.extensions, page.cursor)
                .await
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", mutate::finding("pull_body", &input)));
        match result {
            Ok(_) => applied += 1,
            Err(_) => assert_eq!(
                snapshot(&edge),
                before,
                "a refused page changed the store: {}",
                mutate::finding("pull_body", &input)
            ),
        }
    }
    eprintln!(
        "fuzz pull_body: {execs} executions ({applied} pages applied) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Sends one request as `guest` and returns its status (None when the server closed without
/// an answer, as it may for a request it cannot frame).
async fn send(guest: &Guest, server: std::net::SocketAddr, req: &[u8]) -> Option<u16> {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(std::net::SocketAddr::new(guest.ip, 0)).unwrap();
    let mut s = sock.connect(server).await.unwrap();
    let _ = s.write_all(req).await;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("the portal answers within 20 s")
        .ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Whole portal requests from guests with a lease (so logins get as far as the vouchers):
/// mutated request lines, query strings, headers and form bodies, with a valid form token put
/// in where the seed has `@TOKEN@` and the body's length added. No answer is a 5xx, nothing
/// is stored and the firewall is not touched (no seed holds a valid code).
#[tokio::test]
async fn fuzz_portal_http() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nGOOD234567,time,60\n");
    let mut guests = Vec::new();
    for n in 2..34 {
        let g = edge.guest(n);
        let token = g.token().await;
        guests.push((g, token));
    }
    let before = snapshot(&edge);
    let budget = mutate::budget(6.0);
    let started = Instant::now();
    let mut inputs = mutate::Inputs::new("portal_http");
    let (mut execs, mut unanswered) = (0u64, 0u64);
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    while started.elapsed() < budget || execs < inputs.seeds.len() as u64 {
        let input = inputs.next().unwrap();
        let (guest, token) = &guests[execs as usize % guests.len()];
        execs += 1;
        let pos = input.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, body) = match pos {
            Some(p) => (&input[..p], &input[p + 4..]),
            None => (&input[..], &[][..]),
        };
        let body = String::from_utf8_lossy(body)
            .replace("@TOKEN@", token)
            .into_bytes();
        let mut req = head.to_vec();
        req.extend_from_slice(
            format!(
                "\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        req.extend_from_slice(&body);
        match send(guest, edge.addr, &req).await {
            Some(status) => {
                assert!(
                    status < 500,
                    "{status}: {}",
                    mutate::finding("portal_http", &input)
                );
                *statuses.entry(status).or_default() += 1;
            }
            None => unanswered += 1,
        }
    }
    assert_eq!(
        snapshot(&edge),
        before,
        "fuzzed requests changed the store or the firewall (calls: {:?})",
        edge.firewall.calls()
    );
    eprintln!(
        "fuzz portal_http: {execs} executions in {:.1} s, statuses {statuses:?}, \
         {unanswered} closed unanswered",
        started.elapsed().as_secs_f64()
    );
}
