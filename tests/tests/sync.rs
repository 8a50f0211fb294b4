//! Sync end to end with the real binaries and a real PostgreSQL: `hotspotd` (firewall off, no
//! DHCP lease required) claimed to a `hotspot-cloud`, pushing its outbox and pulling changes.
//!
//! Guest traffic comes from a test-only feed: a day of sessions written into the router's SQLite
//! database through the daemon's own store functions (the same ones the portal's logins and the
//! accounting cycle call), on a clock the test sets, before `hotspotd` starts.
//!
//! - a day offline: the cloud is down while the router starts with a full outbox; when the cloud
//!   comes up the outbox drains and every event is in PostgreSQL once;
//! - `kill -9` mid-push: a proxy between router and cloud holds the cloud's answer to the first
//!   push (so the cloud has committed it and the router has not deleted it) and the router is
//!   killed; after a restart the batch is sent again, answered as duplicates, and nothing is lost
//!   or doubled;
//! - a pull: a voucher, a plan, a registered device and a kick made in PostgreSQL reach the
//!   router's SQLite, and the kicked device's session ends;
//! - an operator's extension of a live session reaches the router's SQLite once: the session's
//!   end moves by the minutes added, while the session runs on.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use hotspot_edge::clock::{Clock, ManualClock};
use hotspot_edge::config::RawConfig;
use hotspot_edge::store::Store;
use hotspot_edge::store::access::{self as q, NewSession, SessionType};
use hotspot_shared::MacAddr;
use hotspot_shared::plan::{EndReason, Limits};
use hotspot_system_tests::binary;
use hotspot_system_tests::stack::{Db, Killed, cloud, free_port, serve_cloud, wait_until};

fn serve(db: &Db, port: u16) -> Killed {
    let log = std::env::temp_dir().join(format!("hotspot-sync-cloud-{}.log", std::process::id()));
    serve_cloud(db, port, &[], &log)
}

/// A router: its directory, configuration and database, claimed to the demo hotspot.
struct Router {
    dir: tempfile::TempDir,
    config: PathBuf,
    hotspot: String,
    tenant: String,
}

impl Router {
    /// Seeds the demo tenant and claims its first hotspot through `cloud_port` (the cloud must
    /// answer there now); the router will reach the cloud at `sync_port`.
    fn claim(db: &Db, cloud_port: u16, sync_port: u16) -> Self {
        Self::claim_with(db, cloud_port, sync_port, "")
    }

    /// [`Self::claim`], with more lines for the `[sync]` section.
    fn claim_with(db: &Db, cloud_port: u16, sync_port: u16, sync_extra: &str) -> Self {
        cloud(db, &[], &["seed", "--demo"]);
        let hotspot = db.query("SELECT id FROM hotspots ORDER BY created_at LIMIT 1");
        let tenant = db.query(&format!(
            "SELECT tenant_id FROM hotspots WHERE id = '{hotspot}'"
        ));
        let code = String::from_utf8(cloud(db, &[], &["claim-code", "--hotspot", &hotspot]).stdout)
            .unwrap()
            .trim()
            .to_owned();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("edge.toml");
        let text = format!(
            "[lan]\naddress = \"127.0.0.1\"\n\
             [portal]\nlisten = \"127.0.0.1:{}\"\n\
             [store]\npath = {:?}\n\
             [clients]\nrequire_lease = false\nneighbour_source = \"leases\"\nlease_file = {:?}\n\
             [firewall]\nbackend = \"off\"\n\
             [cloud]\nurl = \"http://127.0.0.1:{sync_port}/\"\ncredential = {:?}\n\
             [sync]\ninterval_seconds = 1\n{sync_extra}",
            free_port(),
            dir.path().join("edge.db"),
            dir.path().join("dhcp.leases"),
            dir.path().join("device.json"),
        );
        std::fs::write(&config, text).unwrap();
        let claimed = Command::new(binary("hotspotd"))
            .arg("--config")
            .arg(&config)
            .args([
                "claim",
                "--cloud",
                &format!("http://127.0.0.1:{cloud_port}/"),
                &code,
            ])
            .output()
            .unwrap();
        assert!(
            claimed.status.success(),
            "{}",
            String::from_utf8_lossy(&claimed.stderr)
        );
        Router {
            dir,
            config,
            hotspot,
            tenant,
        }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("edge.db")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("hotspotd.log")
    }

    /// Starts `hotspotd run`, appending its log to [`Self::log`].
    fn start(&self) -> Killed {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        Killed(
            Command::new(binary("hotspotd"))
                .arg("--config")
                .arg(&self.config)
                .arg("run")
                .env("RUST_LOG", "info,hotspot_edge::sync=debug")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }

    fn store(&self) -> Store {
        Store::open(&self.db_path()).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        let sql = sql.to_owned();
        self.store()
            .blocking(move |c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
            .unwrap()
    }

    fn text(&self, sql: &str) -> Option<String> {
        let sql = sql.to_owned();
        self.store()
            .blocking(move |c| Ok(c.query_row(&sql, [], |r| r.get(0)).ok()))
            .unwrap()
    }
}

/// Outbox events by kind, as `kind=count` lines in order of kind.
fn outbox_kinds(router: &Router) -> Vec<(String, i64)> {
    router
        .store()
        .blocking(|c| {
            let mut st =
                c.prepare("SELECT kind, count(*) FROM outbox GROUP BY kind ORDER BY kind")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

fn code(n: usize) -> String {
    let mut s = String::from("DAY");
    let mut x = n;
    for _ in 0..7 {
        s.push(ALPHABET[x % ALPHABET.len()] as char);
        x /= ALPHABET.len();
    }
    s
}

/// A day of guest traffic written through the daemon's store functions, every session ended:
/// `sessions` sessions spread over 24 hours from `day_start`, every third on a voucher (one
/// redemption each), each reporting its totals and ending. Returns the sessions written.
fn day_of_traffic(router: &Router, sessions: usize, day_start: i64) -> usize {
    let store = router.store();
    let config = RawConfig::load(&router.config).unwrap().validate().unwrap();
    let csv: String = std::iter::once("code,type,duration_minutes\n".to_owned())
        .chain(
            (0..sessions)
                .step_by(3)
                .map(|i| format!("{},time,60\n", code(i))),
        )
        .collect();
    hotspot_edge::admin::import(&store, &config, &csv, day_start).unwrap();
    let clock = ManualClock::new(day_start);
    store
        .blocking(|c| {
            for i in 0..sessions {
                let tx = c.transaction()?;
                let start = day_start + (i as i64 * 86_000) / sessions as i64;
                clock.set(start);
                let mac = MacAddr([2, 0x5e, 0, 0, (i >> 8) as u8, i as u8]);
                let voucher = if i % 3 == 0 {
                    q::find_voucher(&tx, &code(i))?
                } else {
                    None
                };
                let mut s = q::start_session(
                    &tx,
                    &NewSession {
                        mac,
                        ip: Some(format!("10.1.{}.{}", i / 250, i % 250 + 2)),
                        session_type: if voucher.is_some() {
                            SessionType::Voucher
                        } else {
                            SessionType::Guest
                        },
                        voucher: voucher.as_ref().map(|v| (v.id.as_str(), v.code.as_str())),
                        limits: Limits::default(),
                        down_kbps: 0,
                        up_kbps: 0,
                        user_agent: Some("feed".into()),
                    },
                    &clock.reading(),
                )?;
                if let Some(v) = &voucher {
                    q::redeem(&tx, v, mac, &s.id, &clock.reading())?;
                }
                // Three accounting cycles five minutes apart, then the end.
                for k in 1..=3 {
                    clock.set(start + 300 * k);
                    s.bytes_down += 1_000_000;
                    s.bytes_up += 100_000;
                    s.last_activity = clock.now();
                    q::update_usage(&tx, &s)?;
                    q::note_progress(&tx, &s, 300, &clock.reading())?;
                }
                clock.set(start + 1200);
                q::end_session(&tx, &s, EndReason::Logout, &clock.reading())?;
                tx.commit()?;
            }
            Ok(())
        })
        .unwrap();
    sessions
}

/// 2026-11-22 00:00 UTC.
const DAY: i64 = 1_795_305_600;

#[test]
fn a_day_offline_drains_into_postgres_once_when_the_cloud_returns() {
    let Some(db) = Db::new("offline") else { return };
    let port = free_port();
    let router = {
        let _cloud = serve(&db, port);
        Router::claim(&db, port, port)
    };
    // The cloud is down now. A day of guests.
    let sessions = day_of_traffic(&router, 900, DAY);
    let written = outbox_kinds(&router);
    let total: i64 = written.iter().map(|(_, n)| n).sum();
    assert_eq!(
        written,
        [
            ("session_ended".to_owned(), 900),
            ("session_started".to_owned(), 900),
            ("session_updated".to_owned(), 900),
            ("voucher_redeemed".to_owned(), 300),
        ],
        "one update per session: each replaced the unsent one before"
    );

    let _edge = router.start();
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        router.count("SELECT count(*) FROM outbox") >= total,
        "nothing leaves the outbox while the cloud is down"
    );
    let log = std::fs::read_to_string(router.log()).unwrap();
    assert!(log.contains("sync failed"), "{log}");

    let _cloud = serve(&db, port);
    wait_until("the outbox drains", 90, || {
        router.count("SELECT count(*) FROM outbox") == 0
    });
    for (kind, n) in &written {
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM edge_events WHERE kind = '{kind}'"
            )),
            *n,
            "{kind}"
        );
    }
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM hotspot_sessions WHERE hotspot_id = '{}' AND user_agent = 'feed'",
            router.hotspot
        )),
        sessions as i64
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM hotspot_sessions WHERE user_agent = 'feed' \
             AND end_time IS NOT NULL AND session_status = 'ended' AND data_used_mb > 3"
        ),
        sessions as i64,
        "every session ended with its totals"
    );
    // Placed on the day they happened (the router's clock was trusted), not at arrival.
    assert_eq!(
        db.count(
            "SELECT count(DISTINCT date_trunc('hour', start_time)) FROM hotspot_sessions \
             WHERE user_agent = 'feed'"
        ),
        24
    );
    let ids = db.count("SELECT count(DISTINCT event_id) FROM edge_events");
    assert_eq!(ids, db.count("SELECT count(*) FROM edge_events"));
}

#[test]
fn an_event_the_cloud_refuses_is_set_aside_and_the_rest_flows() {
    let Some(db) = Db::new("refused") else { return };
    let port = free_port();
    let _cloud = serve(&db, port);
    let router = Router::claim(&db, port, port);
    let sessions = day_of_traffic(&router, 60, DAY);
    // One session_started the cloud must refuse (a user agent past its 1024-byte limit), in
    // the middle of the queue.
    router
        .store()
        .blocking(|c| {
            c.execute(
                "UPDATE outbox SET event = json_set(event, '$.data.user_agent',
                   replace(hex(zeroblob(1000)), '0', 'x'))
                 WHERE seq = (SELECT seq FROM outbox WHERE kind = 'session_started'
                              ORDER BY seq LIMIT 1 OFFSET 30)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    let total = router.count("SELECT count(*) FROM outbox");
    let _edge = router.start();
    wait_until("the outbox drains around the refused event", 60, || {
        router.count("SELECT count(*) FROM outbox") == 0
    });
    assert_eq!(
        router.count("SELECT value FROM sync_state WHERE key = 'outbox_refused'"),
        1
    );
    let feed_kinds = "('session_started', 'session_updated', 'session_ended', 'voucher_redeemed')";
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM edge_events WHERE kind IN {feed_kinds}"
        )),
        total - 1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM hotspot_sessions WHERE user_agent = 'feed'"),
        sessions as i64 - 1
    );
    let log = std::fs::read_to_string(router.log()).unwrap();
    assert!(log.contains("the cloud refused an event"), "{log}");
}

/// A TCP proxy to `upstream` that, while `hold` is set, keeps the first answer it sees from
/// the upstream to itself (and says so on `held`); otherwise it forwards both ways.
fn holding_proxy(upstream: u16, hold: Arc<AtomicBool>) -> (u16, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
                let _ = s_write.shutdown(Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            let hold = Arc::clone(&hold);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match s_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if hold.load(Ordering::SeqCst) {
                        let _ = tx.send(());
                        // Held until the router is gone; then the connection just closes.
                        while hold.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        break;
                    }
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Both);
            });
        }
    });
    (port, rx)
}

#[test]
fn kill_9_while_a_push_is_in_flight_loses_and_doubles_nothing() {
    let Some(db) = Db::new("kill") else { return };
    let cloud_port = free_port();
    let _cloud = serve(&db, cloud_port);
    let hold = Arc::new(AtomicBool::new(true));
    let (proxy, held) = holding_proxy(cloud_port, Arc::clone(&hold));
    let router = Router::claim(&db, cloud_port, proxy);
    let sessions = day_of_traffic(&router, 450, DAY);
    let total = router.count("SELECT count(*) FROM outbox");
    assert!(total > 1000, "more than two batches: {total}");

    let mut edge = router.start();
    held.recv_timeout(Duration::from_secs(30))
        .expect("the first push reaches the cloud");
    // The cloud answered: its transaction is committed. The router never hears it.
    assert_eq!(db.count("SELECT count(*) FROM edge_events"), 500);
    edge.0.kill().unwrap();
    edge.0.wait().unwrap();
    assert_eq!(
        router.count("SELECT count(*) FROM outbox"),
        total,
        "nothing deleted without the cloud's answer"
    );

    hold.store(false, Ordering::SeqCst);
    let _edge = router.start();
    wait_until("the outbox drains after the restart", 60, || {
        router.count("SELECT count(*) FROM outbox") == 0
    });
    let log = std::fs::read_to_string(router.log()).unwrap();
    assert!(
        log.contains("duplicates=500"),
        "the first batch was sent again and recognised: {log}"
    );
    // Every event once: the outbox's events plus what the daemon reported itself.
    let feed_kinds = "('session_started', 'session_updated', 'session_ended', 'voucher_redeemed')";
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM edge_events WHERE kind IN {feed_kinds}"
        )),
        total
    );
    assert_eq!(
        db.count("SELECT count(*) FROM hotspot_sessions WHERE user_agent = 'feed'"),
        sessions as i64
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM hotspot_voucher_redemptions r \
             JOIN hotspot_sessions s ON s.id = r.session_id"
        ),
        0,
        "codes the cloud does not hold are not counted"
    );
}

#[test]
fn an_operators_extension_reaches_the_router_and_moves_the_sessions_end_once() {
    let Some(db) = Db::new("extend") else { return };
    let port = free_port();
    let _cloud = serve(&db, port);
    let router = Router::claim(&db, port, port);
    // A guest online now with an hour left.
    let mac = MacAddr([2, 0x6b, 0, 0, 0, 2]);
    let ends_at = hotspot_edge::clock::SystemClock.now() + 3600;
    let session = router
        .store()
        .blocking(move |c| {
            let clock = hotspot_edge::clock::SystemClock;
            Ok(q::start_session(
                c,
                &NewSession {
                    mac,
                    ip: Some("10.9.0.3".into()),
                    session_type: SessionType::Guest,
                    voucher: None,
                    limits: Limits {
                        ends_at: Some(ends_at),
                        data_bytes: None,
                    },
                    down_kbps: 0,
                    up_kbps: 0,
                    user_agent: None,
                },
                &clock.reading(),
            )?
            .id)
        })
        .unwrap();
    let _edge = router.start();
    let (h, t) = (&router.hotspot, &router.tenant);
    db.query(&format!(
        "INSERT INTO hotspot_session_extensions (tenant_id, hotspot_id, session_id, \
         session_start, mac_address, minutes) \
         VALUES ('{t}', '{h}', '{session}', now(), '{mac}', 30) RETURNING id"
    ));
    let extended = ends_at + 30 * 60;
    wait_until("the extension reaches the router", 30, || {
        router.count(&format!(
            "SELECT count(*) FROM sessions WHERE id = '{session}' \
             AND session_status = 'active' AND ends_at = {extended}"
        )) == 1
    });
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM hotspot_session_extensions \
             WHERE session_id = '{session}' AND delivered_at IS NOT NULL"
        )),
        1
    );
    // Later rounds (one a second) pull it no more, and would not apply it twice if they did.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        router.count(&format!(
            "SELECT count(*) FROM sessions WHERE id = '{session}' AND ends_at = {extended}"
        )),
        1,
        "applied once"
    );
}

#[test]
fn operator_changes_and_a_kick_reach_the_router_on_the_next_pull() {
    let Some(db) = Db::new("pull") else { return };
    let port = free_port();
    let _cloud = serve(&db, port);
    let router = Router::claim(&db, port, port);
    // A guest online now.
    let mac = MacAddr([2, 0x6b, 0, 0, 0, 1]);
    router
        .store()
        .blocking(move |c| {
            let clock = hotspot_edge::clock::SystemClock;
            q::start_session(
                c,
                &NewSession {
                    mac,
                    ip: Some("10.9.0.2".into()),
                    session_type: SessionType::Guest,
                    voucher: None,
                    limits: Limits::default(),
                    down_kbps: 0,
                    up_kbps: 0,
                    user_agent: None,
                },
                &clock.reading(),
            )?;
            Ok(())
        })
        .unwrap();
    let _edge = router.start();
    // The first pull brings the demo tenant's state and stores a cursor.
    wait_until("a first pull", 30, || {
        router
            .text("SELECT value FROM sync_state WHERE key = 'pull_cursor'")
            .is_some()
    });
    let first_cursor = router.text("SELECT value FROM sync_state WHERE key = 'pull_cursor'");

    let (h, t) = (&router.hotspot, &router.tenant);
    let plan = db.query(&format!(
        "INSERT INTO service_packages (tenant_id, name, package_type, connection_type, \
         download_mbps, upload_mbps, price, duration_minutes) \
         VALUES ('{t}', 'Sync test hour', 'hotspot', 'hotspot', 4, 2, 30, 60) RETURNING id"
    ));
    let voucher = db.query(&format!(
        "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, voucher_type, \
         duration_minutes, max_devices, service_package_id) \
         VALUES ('{t}', '{h}', 'SYNCTESTAB', 'time_based', 60, 2, '{plan}') RETURNING id"
    ));
    let client = db.query(&format!(
        "SELECT id FROM clients WHERE tenant_id = '{t}' ORDER BY created_at LIMIT 1"
    ));
    let access = db.query(&format!(
        "INSERT INTO client_hotspot_access (tenant_id, client_id, hotspot_id, mac_address, \
         device_name, bandwidth_allocation) \
         VALUES ('{t}', '{client}', '{h}', '02:6b:00:00:00:99', 'Till', 7) RETURNING id"
    ));
    db.query(&format!(
        "INSERT INTO hotspot_session_kicks (tenant_id, hotspot_id, session_id, session_start, \
         mac_address, reason) VALUES ('{t}', '{h}', gen_random_uuid(), now(), '{mac}', 'test')"
    ));

    wait_until("the changes reach the router", 30, || {
        router.count(&format!(
            "SELECT count(*) FROM vouchers WHERE id = '{voucher}' AND voucher_code = 'SYNCTESTAB' \
             AND max_devices = 2 AND plan_id = '{plan}'"
        )) == 1
            && router.count(&format!(
                "SELECT count(*) FROM plans WHERE id = '{plan}' AND down_kbps = 4000 \
                 AND duration_minutes = 60 AND price = '30.00'"
            )) == 1
            && router.count(&format!(
                "SELECT count(*) FROM access_list WHERE id = '{access}' \
                 AND mac_address = '02:6b:00:00:00:99' AND bandwidth_allocation = 7"
            )) == 1
            && router.count(&format!(
                "SELECT count(*) FROM sessions WHERE mac_address = '{mac}' \
                 AND session_status = 'ended' AND end_reason = 'kick'"
            )) == 1
    });
    assert_ne!(
        router.text("SELECT value FROM sync_state WHERE key = 'pull_cursor'"),
        first_cursor,
        "the cursor moved with the changes"
    );
    // The kick's session_ended reaches the cloud too.
    wait_until("the kicked session's end is pushed", 30, || {
        db.count(&format!(
            "SELECT count(*) FROM hotspot_sessions WHERE mac_address = '{mac}' \
             AND session_status = 'terminated'"
        )) == 1
    });
    // A deletion is pulled as one.
    db.query(&format!(
        "DELETE FROM client_hotspot_access WHERE id = '{access}'"
    ));
    wait_until("the deletion reaches the router", 30, || {
        router.count(&format!(
            "SELECT count(*) FROM access_list WHERE id = '{access}'"
        )) == 0
    });

    // The operator revokes the router: sync stops with a clear line and events are kept.
    db.query(&format!(
        "UPDATE hotspot_devices SET revoked_at = now() WHERE hotspot_id = '{h}'"
    ));
    wait_until("the router notices the revocation", 30, || {
        std::fs::read_to_string(router.log())
            .unwrap()
            .contains("refused this router's credential (401): sync stopped")
    });
    let other = MacAddr([2, 0x6b, 0, 0, 0, 2]);
    router
        .store()
        .blocking(move |c| {
            q::start_session(
                c,
                &NewSession {
                    mac: other,
                    ip: None,
                    session_type: SessionType::Guest,
                    voucher: None,
                    limits: Limits::default(),
                    down_kbps: 0,
                    up_kbps: 0,
                    user_agent: None,
                },
                &hotspot_edge::clock::SystemClock.reading(),
            )?;
            Ok(())
        })
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        router.count("SELECT count(*) FROM outbox WHERE kind = 'session_started'"),
        1,
        "kept for a new credential"
    );
}

/// The router's push throughput: events per second from a full outbox into the cloud's
/// PostgreSQL, through the real binaries on this machine. A benchmark, not a test:
///
///     cargo build --release -p hotspot-edge -p hotspot-cloud --bins
///     cargo test --release -p hotspot-system-tests --test sync -- --ignored --nocapture push_throughput
#[test]
#[ignore = "a benchmark; run it with --ignored"]
fn push_throughput() {
    let Some(db) = Db::new("bench") else { return };
    let port = free_port();
    let _cloud = serve(&db, port);
    let router = Router::claim_with(
        &db,
        port,
        port,
        "outbox_max_events = 1000000\noutbox_max_bytes = 1073741824\n",
    );
    let sessions = 6000;
    day_of_traffic(&router, sessions, DAY);
    let total = router.count("SELECT count(*) FROM outbox");
    let start = Instant::now();
    let _edge = router.start();
    wait_until("the outbox drains", 600, || {
        router.count("SELECT count(*) FROM outbox") == 0
    });
    let secs = start.elapsed().as_secs_f64();
    let stored = db.count("SELECT count(*) FROM edge_events WHERE kind <> 'device_health' AND kind <> 'daily_analytics' AND kind <> 'mac_seen'");
    assert_eq!(stored, total);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "push throughput: {total} events in {secs:.2} s = {:.0} events/s (batches of 500, \
         gzip, one router; load average {})",
        total as f64 / secs,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
