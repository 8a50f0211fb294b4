//! Closed-loop load on the RADIUS server: the real `hotspot-cloud serve` process on a database
//! of its own with 10,000 users in `radcheck` (Cleartext-Password, as FreeRADIUS's stock schema
//! holds them), driven over UDP on 127.0.0.1 with 1, 16 and 64 requests in flight. Prints PAP
//! Access-Requests/s and Accounting-Requests/s (Start, Interim-Update, Stop in turn), p50 and
//! p99, the server's peak RSS, and checks that no accounting row is lost or doubled when every
//! accounting request is sent twice.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p hotspot-cloud --bench radius`
//! Optional: BENCH_SECONDS (default 10 per run), BENCH_USERS (default 10000), BENCH_IN_FLIGHT
//! (default `1,16,64`), BENCH_ONLY (`auth` or `acct`), BENCH_SERVER_BIN (another build of the
//! server to compare with). After each run: the CPU used by the server,
//! PostgreSQL, this load generator and everything else on the machine.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotspot_shared::radius::crypto::{hide_password, sign_request, verify_response};
use hotspot_shared::radius::{Code, Packet, acct_status, attr};
use tokio::net::UdpSocket;

use common::{env_or, url_of};

const SECRET: &[u8] = b"bench-shared-secret-0123";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kilobytes of `field` (VmRSS, VmHWM) in /proc/<pid>/status.
fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("hotspot_bench_{}", uuid::Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let result = run(&admin_url, &name).await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    result
}

async fn run(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let seconds = env_or("BENCH_SECONDS", 10);
    let users = env_or("BENCH_USERS", 10_000);
    let mut config: tokio_postgres::Config = admin_url.parse()?;
    config.dbname(name);
    let url = url_of(&config);
    let pool = hotspot_cloud::db::pool(&url, 4)?;
    hotspot_cloud::db::migrate(&pool).await?;
    let (owner, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    owner
        .batch_execute(&format!(
            "WITH t AS (INSERT INTO tenants (name, slug, status) VALUES ('Bench', 'bench', 'active')
                        RETURNING id),
                  n AS (INSERT INTO nas (tenant_id, nasname, shortname, type, secret)
                        SELECT id, '127.0.0.1', 'bench', 'mikrotik', '{}' FROM t)
             INSERT INTO radcheck (tenant_id, username, attribute, op, value)
             SELECT t.id, 'user' || lpad(g::text, 5, '0'), 'Cleartext-Password', ':=',
                    'pw' || g
             FROM t, generate_series(0, {} - 1) g;
             ANALYZE;",
            String::from_utf8_lossy(SECRET),
            users
        ))
        .await?;

    let (auth_port, acct_port) = (free_udp_port(), free_udp_port());
    let server = Server(
        Command::new(
            std::env::var("BENCH_SERVER_BIN")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_hotspot-cloud").to_owned()),
        )
        .env("DATABASE_URL", &url)
        .env("HOTSPOT_LISTEN", "127.0.0.1:0")
        .env(
            "HOTSPOT_RADIUS_AUTH_LISTEN",
            format!("127.0.0.1:{auth_port}"),
        )
        .env(
            "HOTSPOT_RADIUS_ACCT_LISTEN",
            format!("127.0.0.1:{acct_port}"),
        )
        .env("RUST_LOG", "warn")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?,
    );
    let pid = server.0.id();
    let auth: SocketAddr = format!("127.0.0.1:{auth_port}").parse()?;
    let acct: SocketAddr = format!("127.0.0.1:{acct_port}").parse()?;
    let mut up = false;
    for _ in 0..300 {
        let status = Packet::new(Code::StatusServer, 1, *uuid::Uuid::new_v4().as_bytes());
        if one(
            auth,
            &sign_request(&status, SECRET, true)?,
            Duration::from_millis(100),
        )
        .await
        .is_some()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(up, "hotspot-cloud did not answer Status-Server");

    println!(
        "RADIUS server, {users} users in radcheck, {seconds} s per run, closed loop on 127.0.0.1"
    );
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let flights: Vec<usize> = std::env::var("BENCH_IN_FLIGHT")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 64]);
    for (kind, what) in [
        (Kind::Auth, "PAP Access-Request"),
        (Kind::Acct, "Accounting-Request (Start/Interim/Stop)"),
    ] {
        let to = if kind == Kind::Auth { auth } else { acct };
        if only == "auth" && kind != Kind::Auth || only == "acct" && kind != Kind::Acct {
            continue;
        }
        for &in_flight in &flights {
            let before = CpuSample::take(&owner, name, pid).await?;
            let r = load(to, in_flight, seconds, users, kind, false).await;
            let after = CpuSample::take(&owner, name, pid).await?;
            r.print(what, in_flight);
            after.print_since(&before, r.done);
        }
    }
    if only == "auth" {
        return Ok(());
    }
    // Interim-Updates change no indexed column: PostgreSQL should make them HOT updates.
    let hot = owner
        .query_one(
            "SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables \
             WHERE relname = 'radacct'",
            &[],
        )
        .await?;
    let (ins, upd, hot): (i64, i64, i64) = (hot.get(0), hot.get(1), hot.get(2));
    println!("  radacct: {ins} rows inserted, {upd} updated of which {hot} HOT");
    // Every accounting request twice: rows must come out exactly once per session.
    owner.batch_execute("TRUNCATE radacct").await?;
    let r = load(acct, 16, seconds.min(5), users, Kind::Acct, true).await;
    r.print("Accounting-Request, each sent twice", 16);
    let row = owner
        .query_one(
            "SELECT count(*), count(DISTINCT acctuniqueid), \
                    count(*) FILTER (WHERE acctstoptime IS NOT NULL) FROM radacct",
            &[],
        )
        .await?;
    let (rows, distinct, stopped): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    println!(
        "  sessions completed {} | radacct rows {rows}, distinct {distinct}, stopped {stopped} -> {}",
        r.sessions,
        if rows == distinct && stopped as u64 >= r.sessions && rows as u64 <= r.sessions + 64 {
            "none lost or doubled"
        } else {
            "MISMATCH"
        }
    );
    println!(
        "server RSS now {} KiB, peak {} KiB",
        proc_kb(pid, "VmRSS:"),
        proc_kb(pid, "VmHWM:")
    );
    drop(server);
    Ok(())
}

/// CPU time used so far (clock ticks, Linux's USER_HZ of 1/100 s) by the server, this load
/// generator, PostgreSQL (the backends of the bench's database and PostgreSQL's own background
/// processes: WAL writer, checkpointer, ...) and the machine as a whole.
struct CpuSample {
    server: u64,
    bench: u64,
    postgres: std::collections::HashMap<i32, u64>,
    busy: u64,
    total: u64,
}

/// utime + stime of a process (all its threads), in clock ticks.
fn proc_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of the line are the 12th and 13th after the name.
    field(11) + field(12)
}

impl CpuSample {
    async fn take(
        owner: &tokio_postgres::Client,
        database: &str,
        server: u32,
    ) -> anyhow::Result<CpuSample> {
        let pids: Vec<i32> = owner
            .query(
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = $1 OR backend_type <> 'client backend'",
                &[&database],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<u64> = machine
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|f| f.parse().ok())
            .collect();
        let total: u64 = cpu.iter().sum();
        let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
        Ok(CpuSample {
            server: proc_ticks(&server.to_string()),
            bench: proc_ticks("self"),
            postgres: pids
                .into_iter()
                .map(|p| (p, proc_ticks(&p.to_string())))
                .collect(),
            busy: total - idle,
            total,
        })
    }

    /// Each part's share of the machine (100 % per core) and its CPU time per request.
    fn print_since(&self, before: &CpuSample, requests: u64) {
        let postgres: u64 = self
            .postgres
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        let server = self.server - before.server;
        let bench = self.bench - before.bench;
        let busy = self.busy - before.busy;
        let total = (self.total - before.total).max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let share = |t: u64| t as f64 * 100.0 * cores / total as f64;
        let per = |t: u64| t as f64 * 10_000.0 / requests.max(1) as f64;
        let other = busy.saturating_sub(server + bench + postgres);
        println!(
            "{:>44} CPU % of one core: server {:.0}, postgres {:.0}, load generator {:.0}, \
             other processes {:.0}, idle {:.0}; µs per request: server {:.0}, postgres {:.0}, \
             load generator {:.0}",
            "",
            share(server),
            share(postgres),
            share(bench),
            share(other),
            share(total - busy),
            per(server),
            per(postgres),
            per(bench),
        );
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Auth,
    Acct,
}

struct Report {
    done: u64,
    lost: u64,
    sessions: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn print(&self, what: &str, in_flight: usize) {
        let mut l = self.latencies.clone();
        l.sort();
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{what:<42} in flight {in_flight:>2}: {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  (lost {})",
            self.done as f64 / self.elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1000.0,
            pct(0.99).as_secs_f64() * 1000.0,
            self.lost
        );
    }
}

async fn one(to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    s.send_to(bytes, to).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(wait, s.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(buf[..n].to_vec())
}

async fn load(
    to: SocketAddr,
    in_flight: usize,
    seconds: u64,
    users: u64,
    kind: Kind,
    twice: bool,
) -> Report {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let sessions = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..in_flight {
        let sessions = sessions.clone();
        tasks.push(tokio::spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut latencies = Vec::new();
            let (mut done, mut lost) = (0u64, 0u64);
            let mut n: u64 = worker as u64 * 7919;
            let mut id: u8 = 0;
            while Instant::now() < deadline {
                n = n.wrapping_add(1);
                let user = n % users;
                let name = format!("user{user:05}");
                let steps: &[u32] = match kind {
                    Kind::Auth => &[0],
                    Kind::Acct => &[
                        acct_status::START,
                        acct_status::INTERIM_UPDATE,
                        acct_status::STOP,
                    ],
                };
                let session = format!("{worker:02}-{n:08x}");
                let mut complete = true;
                for &step in steps {
                    id = id.wrapping_add(1);
                    let authenticator = *uuid::Uuid::new_v4().as_bytes();
                    let packet = match kind {
                        Kind::Auth => {
                            let mut p = Packet::new(Code::AccessRequest, id, authenticator);
                            p.push(attr::USER_NAME, name.as_str());
                            let pw = format!("pw{user}");
                            p.push(
                                attr::USER_PASSWORD,
                                hide_password(pw.as_bytes(), SECRET, &authenticator),
                            );
                            p.push(attr::CALLING_STATION_ID, "02:00:00:00:00:01");
                            p
                        }
                        Kind::Acct => {
                            let mut p = Packet::new(Code::AccountingRequest, id, [0; 16]);
                            p.push_u32(attr::ACCT_STATUS_TYPE, step);
                            p.push(attr::USER_NAME, name.as_str());
                            p.push(attr::ACCT_SESSION_ID, session.as_str());
                            p.push(attr::CALLING_STATION_ID, "02:00:00:00:00:01");
                            p.push(attr::FRAMED_IP_ADDRESS, [10, 0, 0, 1]);
                            p.push_u32(attr::ACCT_INPUT_OCTETS, 1000);
                            p.push_u32(attr::ACCT_OUTPUT_OCTETS, 5000);
                            p.push_u32(attr::ACCT_SESSION_TIME, 60);
                            p
                        }
                    };
                    let bytes = sign_request(&packet, SECRET, kind == Kind::Auth).unwrap();
                    let sent_auth: [u8; 16] = bytes[4..20].try_into().unwrap();
                    let t = Instant::now();
                    let _ = socket.send_to(&bytes, to).await;
                    if twice {
                        let _ = socket.send_to(&bytes, to).await;
                    }
                    let mut got = false;
                    let wait_until = t + Duration::from_secs(2);
                    while let Ok(Ok((len, _))) =
                        tokio::time::timeout_at(wait_until.into(), socket.recv_from(&mut buf)).await
                    {
                        // A duplicate answer to an earlier request is skipped.
                        if buf[1] == id
                            && verify_response(&buf[..len], packet.code, &sent_auth, SECRET).is_ok()
                        {
                            got = true;
                            break;
                        }
                    }
                    if got {
                        latencies.push(t.elapsed());
                        done += 1;
                    } else {
                        lost += 1;
                        complete = false;
                        break;
                    }
                }
                if kind == Kind::Acct && complete {
                    sessions.fetch_add(1, Ordering::Relaxed);
                }
            }
            (done, lost, latencies)
        }));
    }
    let started = Instant::now();
    let mut report = Report {
        done: 0,
        lost: 0,
        sessions: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (d, l, lat) = t.await.unwrap();
        report.done += d;
        report.lost += l;
        report.latencies.extend(lat);
    }
    report.elapsed = started.elapsed();
    report.sessions = sessions.load(Ordering::Relaxed);
    report
}
