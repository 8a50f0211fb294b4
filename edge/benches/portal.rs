//! Portal figures of the real daemon: captive probe answers per second, portal page views and
//! voucher logins per second with p50/p99 latency, and the daemon's memory with 1,000 live
//! sessions.
//!
//! `cargo bench -p hotspot-edge --bench portal` (set `BENCH_DIR` to put the database on the
//! filesystem you want to measure; the default is the system temporary directory).
//!
//! The bench starts the `hotspotd` binary as its own process with its SQLite file
//! (`synchronous = FULL`) and every client checked against a dnsmasq lease file, which is also its
//! neighbour table (loopback has no ARP). The file is written again, whole, for each guest just
//! before it opens the portal, as dnsmasq does when a phone joins, so the daemon parses it at most
//! once per new guest. Unlike a router: the recording firewall (`[firewall] backend = "off"`), no
//! passive capture, no cloud (so no packages for sale on the page), the accounting cycle and the
//! wrong-code throttle out of the way. The load generator is this process, on the same two cores.
//! Clients are sockets bound to their own loopback addresses (127.1.x.y). RSS is the daemon's own,
//! read from `/proc/PID/status`.
//!
//! With `BENCH_RADIUS=1` the logins go through RADIUS instead: the bench starts FreeRADIUS
//! (Debian's `freeradius`, files backend, every voucher code a user whose password is the code,
//! accounting to its `detail` file) on 127.0.0.1, and the daemon is its NAS with
//! `[radius] login = "radius"`, so every voucher code is an Access-Request and every login an
//! accounting Start.
//!
//! A guest's login is two requests: the portal page (which carries the form token) and the
//! form post. Page views are measured for all 1,000 guests first, then the 1,000 posts, each by
//! 16 clients at a time, each client starting the next guest as soon as it is done.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const LOGINS: usize = 1000;
const PROBE_SECS: u64 = 5;
const PROBE_CONNS: usize = 32;
const LOGIN_CONCURRENCY: usize = 16;

fn client_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8))
}

/// Sends one request on a keep-alive connection and reads the whole answer.
async fn exchange(s: &mut TcpStream, req: &[u8]) -> (u16, String) {
    s.write_all(req).await.unwrap();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed");
                buf.extend_from_slice(&chunk[..n]);
            }
            return (
                status,
                String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned(),
            );
        }
    }
}

async fn connect(from: IpAddr, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(from, 0)).unwrap();
    let s = sock.connect(to).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

async fn probes(addr: SocketAddr, from: IpAddr, expect: u16) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(PROBE_SECS);
    let req = b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n";
    let mut tasks = Vec::new();
    for _ in 0..PROBE_CONNS {
        let count = Arc::clone(&count);
        tasks.push(tokio::spawn(async move {
            let mut s = connect(from, addr).await;
            while Instant::now() < deadline {
                let (status, _) = exchange(&mut s, req).await;
                assert_eq!(status, expect);
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / PROBE_SECS as f64
}

/// Runs `work(i)` for i in 0..n, `LOGIN_CONCURRENCY` at a time, each worker taking the next
/// index as soon as it is free. Returns the results in index order and the wall time.
async fn closed_loop<T, F, Fut>(n: usize, work: F) -> (Vec<T>, Duration)
where
    T: Send + 'static + Default + Clone,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let started = Instant::now();
    let workers: Vec<_> = (0..LOGIN_CONCURRENCY)
        .map(|_| {
            let (next, work) = (Arc::clone(&next), Arc::clone(&work));
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return done;
                    }
                    done.push((i, work(i).await));
                }
            })
        })
        .collect();
    let mut out = vec![T::default(); n];
    for w in workers {
        for (i, v) in w.await.unwrap() {
            out[i] = v;
        }
    }
    (out, started.elapsed())
}

/// dnsmasq's lease file as the bench writes it: the whole file again for every new lease,
/// replaced at once (written beside it, then renamed), so the daemon parses it again each time.
struct LeaseFile {
    path: std::path::PathBuf,
    text: std::sync::Mutex<String>,
}

impl LeaseFile {
    fn new(path: std::path::PathBuf) -> Self {
        Self {
            path,
            text: std::sync::Mutex::new(String::new()),
        }
    }

    /// Gives guest `i` its lease: its own address and MAC, no expiry.
    fn grant(&self, i: usize) {
        let IpAddr::V4(ip) = client_ip(i) else {
            unreachable!("clients are IPv4")
        };
        let mut text = self.text.lock().unwrap();
        text.push_str(&format!(
            "0 02:00:00:00:{:02x}:{:02x} {ip} guest{i} *\n",
            i >> 8,
            i & 0xff
        ));
        let tmp = self.path.with_extension("new");
        std::fs::write(&tmp, text.as_bytes()).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
    }
}

/// Guest `i` opens the portal: the page's form token and how long the page took.
async fn page(addr: SocketAddr, i: usize) -> (String, Duration) {
    let mut s = connect(client_ip(i), addr).await;
    let start = Instant::now();
    let (status, page) = exchange(&mut s, b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n").await;
    let took = start.elapsed();
    assert_eq!(status, 200, "page {i}: {page}");
    let at = page.find("name=\"token\" value=\"").unwrap() + 20;
    (page[at..at + 32].to_owned(), took)
}

/// Guest `i` posts its voucher with the page's token: how long the answer took.
async fn login(addr: SocketAddr, i: usize, token: &str) -> Duration {
    let mut s = connect(client_ip(i), addr).await;
    let body = format!("code=B{i:09}&token={token}");
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: 10.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let start = Instant::now();
    let (status, answer) = exchange(&mut s, req.as_bytes()).await;
    let took = start.elapsed();
    assert_eq!(status, 303, "login {i}: {answer}");
    took
}

/// The daemon's resident memory, in KiB (`VmRSS` or `VmHWM`).
fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| {
                v.trim_start_matches(':')
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn latency_line(mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(&d, 0.50),
        pct(&d, 0.99),
        pct(&d, 1.0)
    )
}

/// The daemon, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon measured: `HOTSPOTD_BIN` (for example the size-tuned build a router runs,
/// `target/edge/hotspotd`), else the one cargo built for this bench.
fn hotspotd(config: &Path, args: &[&str]) -> Command {
    let bin =
        std::env::var_os("HOTSPOTD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_hotspotd").into());
    let mut c = Command::new(bin);
    c.arg("--config").arg(config).args(args);
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// FreeRADIUS for the RADIUS mode: files backend with `users`, on free ports of 127.0.0.1;
/// killed when dropped.
struct FreeRadius {
    child: Child,
    auth: SocketAddr,
    acct: SocketAddr,
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const RADIUS_SECRET: &str = "portal-bench-secret-0123";

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn freeradius(dir: &Path, users: &str) -> FreeRadius {
    let stock = ["/etc/freeradius/3.0", "/etc/freeradius", "/etc/raddb"]
        .iter()
        .map(Path::new)
        .find(|d| d.join("mods-config").is_dir())
        .expect("FreeRADIUS is installed (Debian: freeradius)")
        .display()
        .to_string();
    let d = dir.join("raddb");
    std::fs::create_dir_all(&d).unwrap();
    let auth = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let acct = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let ds = d.display();
    let conf = format!(
        r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {ds}
sbindir = /usr/sbin
logdir = {ds}
raddbdir = {ds}
radacctdir = {ds}
name = freeradius
confdir = {ds}
modconfdir = {stock}/mods-config
certdir = {ds}
cadir = {ds}
run_dir = {ds}
db_dir = {ds}
libdir = /usr/lib/freeradius
pidfile = {ds}/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no
log {{
    destination = files
    file = {ds}/radius.log
    colourise = no
}}
security {{
    max_attributes = 200
    reject_delay = 0
    status_server = yes
}}
proxy_requests = no
client nas {{
    ipaddr = 127.0.0.1
    secret = {RADIUS_SECRET}
    require_message_authenticator = yes
}}
thread pool {{
    start_servers = 4
    max_servers = 8
    min_spare_servers = 2
    max_spare_servers = 4
}}
modules {{
    $INCLUDE {stock}/mods-available/always
    $INCLUDE {stock}/mods-available/expr
    $INCLUDE {stock}/mods-available/pap
    $INCLUDE {stock}/mods-available/preprocess
    files {{
        moddir = ${{modconfdir}}/${{.:instance}}
        filename = {ds}/users
    }}
    detail {{
        filename = {ds}/detail
        escape_filenames = no
        permissions = 0600
        header = "%t"
    }}
}}
policy {{
    $INCLUDE {stock}/policy.d/accounting
}}
server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {auth_port}
    }}
    listen {{
        type = acct
        ipaddr = 127.0.0.1
        port = {acct_port}
    }}
    authorize {{
        preprocess
        files
        pap
    }}
    authenticate {{
        Auth-Type PAP {{
            pap
        }}
    }}
    preacct {{
        preprocess
        acct_unique
    }}
    accounting {{
        detail
    }}
    post-auth {{
        update reply {{
            Message-Authenticator := 0x00
        }}
    }}
}}
"#,
        auth_port = auth.port(),
        acct_port = acct.port(),
    );
    std::fs::write(d.join("radiusd.conf"), conf).unwrap();
    std::fs::write(d.join("users"), users).unwrap();
    std::fs::write(d.join("dictionary"), "").unwrap();
    let out = std::fs::File::create(d.join("stdout.log")).unwrap();
    let mut child = Command::new("freeradius")
        .args(["-f", "-l", "stdout", "-d"])
        .arg(&d)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("FreeRADIUS is installed (Debian: freeradius)");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(d.join("stdout.log")).unwrap_or_default();
        if text.contains("Ready to process requests") {
            break;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            panic!("FreeRADIUS did not start:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    FreeRadius { child, auth, acct }
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
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(&base).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let leases = Arc::new(LeaseFile::new(dir.path().join("dhcp.leases")));
    // The probing device has its lease from the start; each guest gets its own just before it
    // opens the portal, as dnsmasq writes it when the phone joins.
    leases.grant(LOGINS);
    let radius_mode = std::env::var("BENCH_RADIUS").is_ok_and(|v| v == "1");
    let radius = radius_mode.then(|| {
        let users: String = (0..LOGINS + 1)
            .map(|i| {
                format!("B{i:09}\tCleartext-Password := \"B{i:09}\"\n\tSession-Timeout = 3600\n\n")
            })
            .collect();
        freeradius(dir.path(), &users)
    });
    let radius_section = radius.as_ref().map_or_else(String::new, |r| {
        format!(
            "[radius]\nenabled = true\nauth_servers = [\"{}\"]\nacct_servers = [\"{}\"]\n\
             secret = \"{RADIUS_SECRET}\"\nlogin = \"radius\"\n",
            r.auth, r.acct
        )
    });
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[lan]\ninterface = \"lo\"\naddress = \"10.0.0.1\"\n\
             [portal]\nlisten = \"{addr}\"\n[store]\npath = {:?}\n\
             [clients]\nneighbour_source = \"leases\"\nlease_file = {:?}\nrequire_lease = true\n\
             capture = false\n[firewall]\nbackend = \"off\"\n\
             [sessions]\naccounting_interval_seconds = 3600\n[vouchers]\nmax_failures = 100\n\
             [cloud]\ncredential = {:?}\n{radius_section}",
            dir.path().join("edge.db"),
            leases.path,
            dir.path().join("device.json"),
        ),
    )
    .unwrap();
    let mut csv = String::from("code,type,duration_minutes\n");
    for i in 0..LOGINS + 1 {
        csv.push_str(&format!("B{i:09},time,60\n"));
    }
    let csv_path = dir.path().join("vouchers.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let import = hotspotd(&config, &["vouchers", "import", csv_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");

    let daemon = Daemon(
        hotspotd(&config, &["run"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = daemon.0.id();
    let ready = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < ready, "hotspotd did not start listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_idle = rss_kib(pid, "VmRSS");

    // Captive probes from a device not yet logged in (302 to the portal).
    let captive = probes(addr, client_ip(LOGINS), 302).await;

    // Every guest opens the portal page, then posts its voucher.
    let joining = Arc::clone(&leases);
    let (pages, page_wall) = closed_loop(LOGINS, move |i| {
        let joining = Arc::clone(&joining);
        async move {
            // File work off the two runtime threads, so answers are read as they arrive.
            tokio::task::spawn_blocking(move || joining.grant(i))
                .await
                .unwrap();
            page(addr, i).await
        }
    })
    .await;
    let (tokens, page_times): (Vec<String>, Vec<Duration>) = pages.into_iter().unzip();
    let tokens = Arc::new(tokens);
    let (login_times, login_wall) = closed_loop(LOGINS, move |i| {
        let tokens = Arc::clone(&tokens);
        async move { login(addr, i, &tokens[i]).await }
    })
    .await;
    let rss_sessions = rss_kib(pid, "VmRSS");
    let (anon, file) = (rss_kib(pid, "RssAnon"), rss_kib(pid, "RssFile"));

    // Probes from a logged-in device (204), with 1,000 live sessions.
    let online = probes(addr, client_ip(0), 204).await;
    let rss_peak = rss_kib(pid, "VmHWM");

    println!(
        "hotspotd portal bench ({} in {}, daemon {})",
        env!("CARGO_PKG_VERSION"),
        base.display(),
        std::env::var("HOTSPOTD_BIN").unwrap_or_else(|_| "built for this bench".into()),
    );
    println!("captive probe answers/s (302, {PROBE_CONNS} keep-alive connections): {captive:.0}");
    println!("online probe answers/s (204, {PROBE_CONNS} keep-alive connections):  {online:.0}");
    println!(
        "portal pages/s ({LOGIN_CONCURRENCY} at a time, {LOGINS} guests): {:.0}  {}",
        LOGINS as f64 / page_wall.as_secs_f64(),
        latency_line(page_times),
    );
    let through = if radius.is_some() {
        "through RADIUS (FreeRADIUS, files backend) "
    } else {
        ""
    };
    println!(
        "voucher logins/s {through}({LOGIN_CONCURRENCY} at a time, {LOGINS} logins): {:.0}  {}",
        LOGINS as f64 / login_wall.as_secs_f64(),
        latency_line(login_times),
    );
    println!(
        "hotspotd RSS: {:.1} MiB idle, {:.1} MiB with {LOGINS} live sessions ({:.1} MiB heap \
         and stacks, {:.1} MiB code and mapped files), peak {:.1} MiB",
        rss_idle as f64 / 1024.0,
        rss_sessions as f64 / 1024.0,
        anon as f64 / 1024.0,
        file as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
    );
    drop(daemon);
    drop(radius);
}
