//! hotspotd as a NAS of a real FreeRADIUS 3.2 (Debian's `freeradius`, files backend) started by
//! the test on 127.0.0.1: logins with the WISPr, ChilliSpot and MikroTik reply attributes of its
//! `users` file, a reject's Reply-Message shown, Status-Server, accounting as FreeRADIUS's
//! `detail` file records it, Disconnect and CoA sent with `radclient`, a silent first server,
//! and accounting kept while FreeRADIUS is down then replayed exactly once.
//!
//! Skipped with a message when FreeRADIUS is not installed, except under CI (`CI=true`), where
//! it must run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

const SECRET: &str = "freeradius-nas-secret-01";

/// Where Debian keeps the stock configuration (for the `mods-config` tree).
const RADDB_DIRS: &[&str] = &["/etc/freeradius/3.0", "/etc/freeradius", "/etc/raddb"];

/// The stock configuration directory, when FreeRADIUS and `radclient` are installed; `None`
/// (after saying why) when the test is skipped. Under CI a missing FreeRADIUS fails the test.
fn installed_or_skip() -> Option<PathBuf> {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let found = (runs("freeradius", "-v") && runs("radclient", "-h"))
        .then(|| {
            RADDB_DIRS
                .iter()
                .map(PathBuf::from)
                .find(|d| d.join("mods-config").is_dir())
        })
        .flatten();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: FreeRADIUS 3.2 and radclient must be installed (Debian: freeradius freeradius-utils)"
        );
        eprintln!("skipped: FreeRADIUS is not installed (Debian: freeradius freeradius-utils)");
    }
    found
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The users FreeRADIUS knows: one per reply dialect, a MAC for MAC authentication, and a
/// Reply-Message on every reject.
const USERS: &str = r#"alice	Cleartext-Password := "wonderland"
	Session-Timeout = 3600,
	Idle-Timeout = 120,
	Acct-Interim-Interval = 300,
	ChilliSpot-Bandwidth-Max-Up = 512,
	ChilliSpot-Bandwidth-Max-Down = 2048,
	ChilliSpot-Max-Total-Octets = 10000000,
	Class = "plan:alice",
	Reply-Message = "Welcome alice"

wispr	Cleartext-Password := "pw-wispr"
	WISPr-Bandwidth-Max-Up = 256000,
	WISPr-Bandwidth-Max-Down = 1024000

mikro	Cleartext-Password := "pw-mikro"
	Mikrotik-Rate-Limit = "1M/4M"

"02-00-00-00-00-09"	Cleartext-Password := "02-00-00-00-00-09"
	Session-Timeout = 1800
"#;

/// A FreeRADIUS process serving a configuration written in a temporary directory; killed when
/// dropped.
struct FreeRadius {
    child: Option<Child>,
    auth: SocketAddr,
    acct: SocketAddr,
    dir: tempfile::TempDir,
}

impl FreeRadius {
    fn start(stock: &Path) -> FreeRadius {
        let dir = tempfile::tempdir().unwrap();
        let auth: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let acct: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let mut fr = FreeRadius {
            child: None,
            auth,
            acct,
            dir,
        };
        fr.run(stock);
        fr
    }

    /// Writes the configuration and starts the server on its ports; waits (bounded) until it
    /// is ready.
    fn run(&mut self, stock: &Path) {
        let d = self.dir.path();
        let dir_s = d.display();
        let stock = stock.display();
        let conf = format!(
            r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {dir_s}
sbindir = /usr/sbin
logdir = {dir_s}
raddbdir = {dir_s}
radacctdir = {dir_s}
name = freeradius
confdir = {dir_s}
modconfdir = {stock}/mods-config
certdir = {dir_s}
cadir = {dir_s}
run_dir = {dir_s}
db_dir = {dir_s}
libdir = /usr/lib/freeradius
pidfile = {dir_s}/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
    destination = files
    file = {dir_s}/radius.log
    colourise = no
    auth = yes
}}
security {{
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = yes
}}
proxy_requests = no
client nas {{
    ipaddr = 127.0.0.1
    secret = {SECRET}
    require_message_authenticator = yes
}}
thread pool {{
    start_servers = 2
    max_servers = 4
    min_spare_servers = 1
    max_spare_servers = 2
}}
modules {{
    $INCLUDE {stock}/mods-available/always
    $INCLUDE {stock}/mods-available/expr
    $INCLUDE {stock}/mods-available/pap
    $INCLUDE {stock}/mods-available/preprocess
    files {{
        moddir = ${{modconfdir}}/${{.:instance}}
        filename = {dir_s}/users
    }}
    detail {{
        filename = {dir_s}/detail
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
        ipaddr = {auth_ip}
        port = {auth_port}
    }}
    listen {{
        type = acct
        ipaddr = {acct_ip}
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
        Post-Auth-Type REJECT {{
            update reply {{
                Reply-Message := "Unknown user or wrong password"
                Message-Authenticator := 0x00
            }}
        }}
    }}
}}
"#,
            auth_ip = self.auth.ip(),
            auth_port = self.auth.port(),
            acct_ip = self.acct.ip(),
            acct_port = self.acct.port(),
        );
        std::fs::write(d.join("radiusd.conf"), conf).unwrap();
        std::fs::write(d.join("users"), USERS).unwrap();
        std::fs::write(d.join("dictionary"), "").unwrap();
        let _ = std::fs::remove_file(d.join("radius.log"));
        let out = std::fs::File::create(d.join("stdout.log")).unwrap();
        let mut child = Command::new("freeradius")
            .args(["-f", "-l", "stdout", "-d"])
            .arg(d)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
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
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// FreeRADIUS's accounting records (the `detail` file), one text block each.
    fn detail(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("detail"))
            .unwrap_or_default()
            .split("\n\n")
            .filter(|b| b.contains("Acct-Status-Type"))
            .map(str::to_owned)
            .collect()
    }

    /// Waits (up to 5 s) for `n` accounting records.
    async fn wait_detail(&self, n: usize) -> Vec<String> {
        for _ in 0..250 {
            if self.detail().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.detail()
    }

    /// The `[radius]` section of an edge that uses this server (`first`, when given, as the
    /// preferred server that is tried before it).
    fn config(&self, first: Option<SocketAddr>, extra: &str) -> String {
        let auth: Vec<String> = first
            .into_iter()
            .chain([self.auth])
            .map(|a| format!("\"{a}\""))
            .collect();
        format!(
            "[radius]\nenabled = true\nauth_servers = [{}]\nacct_servers = [\"{}\"]\n\
             secret = \"{SECRET}\"\nnas_identifier = \"cafe-1\"\ncalled_station_id = \"Cafe WiFi\"\n\
             timeout_ms = 300\nretries = 1\ndas_listen = \"127.0.0.1:0\"\n{extra}",
            auth.join(", "),
            self.acct
        )
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn login_user(g: &Guest, user: &str, password: &str) -> Resp {
    let token = g.token().await;
    g.post(
        "/login/user",
        format!("user={user}&password={password}&token={token}").as_bytes(),
    )
    .await
}

/// `radclient` sends `attrs` as a `kind` (`disconnect`, `coa`) to the edge's DAS; its output.
async fn radclient(edge: &TestEdge, kind: &str, attrs: &str) -> String {
    let to = *edge.sessions.nas().unwrap().das_addr.get().unwrap();
    let (kind, attrs) = (kind.to_owned(), attrs.to_owned());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new("radclient")
            .args(["-x", "-r", "1", "-t", "2"])
            .arg(to.to_string())
            .arg(kind)
            .arg(SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(attrs.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
    .await
    .unwrap()
}

fn grant_of(edge: &TestEdge, g: &Guest) -> (u32, u32) {
    let grant = edge
        .firewall
        .granted()
        .into_iter()
        .find(|x| x.mac == g.mac)
        .expect("granted");
    (grant.down_kbps, grant.up_kbps)
}

#[tokio::test]
async fn logins_accounting_and_dynamic_authorization_with_freeradius() {
    let Some(stock) = installed_or_skip() else {
        return;
    };
    let fr = FreeRadius::start(&stock);
    let edge = spawn_edge(&fr.config(None, "mac_auth = true\n")).await;

    // ChilliSpot attributes: rates in kbit/s, time, data; Class kept; Reply-Message shown.
    let alice = edge.guest(5);
    let r = login_user(&alice, "alice", "wonderland").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Welcome alice"), "{}", r.body);
    assert_eq!(grant_of(&edge, &alice), (2048, 512));
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE mac_address = '02:00:00:00:00:05'"),
        T0 + 3600
    );
    assert_eq!(
        edge.count("SELECT data_limit_bytes FROM sessions WHERE mac_address = '02:00:00:00:00:05'"),
        10_000_000
    );
    assert_eq!(edge.count("SELECT idle_timeout FROM radius_sessions"), 120);

    // WISPr in bit/s, MikroTik's rx/tx.
    let w = edge.guest(6);
    assert_eq!(login_user(&w, "wispr", "pw-wispr").await.status, 303);
    assert_eq!(grant_of(&edge, &w), (1024, 256));
    let m = edge.guest(7);
    assert_eq!(login_user(&m, "mikro", "pw-mikro").await.status, 303);
    assert_eq!(grant_of(&edge, &m), (4000, 1000));

    // A reject shows FreeRADIUS's Reply-Message and lets nobody in.
    let r = login_user(&edge.guest(8), "alice", "guess").await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body.contains("Unknown user or wrong password"),
        "{}",
        r.body
    );

    // MAC authentication: the device FreeRADIUS knows by its MAC is online at its first page.
    let page = edge.guest(9).get("/", "10.0.0.1:2050").await;
    assert!(page.body.contains("/logout"), "{}", page.body);

    // Accounting: On, then a Start per session, as FreeRADIUS recorded them.
    let detail = fr.wait_detail(5).await;
    assert!(
        detail[0].contains("Acct-Status-Type = Accounting-On"),
        "{detail:?}"
    );
    let starts: Vec<&String> = detail
        .iter()
        .filter(|b| b.contains("Acct-Status-Type = Start"))
        .collect();
    assert_eq!(starts.len(), 4, "{detail:?}");
    let alice_start = starts
        .iter()
        .find(|b| b.contains("User-Name = \"alice\""))
        .unwrap();
    for want in [
        "Calling-Station-Id = \"02-00-00-00-00-05\"",
        "Called-Station-Id = \"Cafe WiFi\"",
        "Framed-IP-Address = 127.0.0.5",
        "NAS-Identifier = \"cafe-1\"",
        "Class = 0x706c616e3a616c696365",
        "Acct-Session-Id = ",
    ] {
        assert!(alice_start.contains(want), "{want} in {alice_start}");
    }

    // CoA from radclient: new rates and time, the guest stays on.
    let out = radclient(
        &edge,
        "coa",
        "User-Name = \"alice\"\nSession-Timeout = 60\n\
         ChilliSpot-Bandwidth-Max-Down = 4096\nChilliSpot-Bandwidth-Max-Up = 1024\n",
    )
    .await;
    assert!(out.contains("CoA-ACK"), "{out}");
    assert_eq!(grant_of(&edge, &alice), (4096, 1024));
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE mac_address = '02:00:00:00:00:05'"),
        T0 + 60
    );
    // Disconnect from radclient: the session ends at once, the Stop says Admin-Reset.
    let out = radclient(&edge, "disconnect", "User-Name = \"wispr\"\n").await;
    assert!(out.contains("Disconnect-ACK"), "{out}");
    assert!(!edge.granted().contains(&w.mac.to_string()));
    let detail = fr.wait_detail(6).await;
    let stop = detail
        .iter()
        .find(|b| b.contains("Acct-Status-Type = Stop"))
        .expect("a Stop");
    assert!(stop.contains("User-Name = \"wispr\""), "{stop}");
    assert!(
        stop.contains("Acct-Terminate-Cause = Admin-Reset"),
        "{stop}"
    );
    // No such session: a NAK with Error-Cause Session-Context-Not-Found.
    let out = radclient(&edge, "disconnect", "User-Name = \"nobody\"\n").await;
    assert!(out.contains("Disconnect-NAK"), "{out}");
    assert!(out.contains("Session-Context-Not-Found"), "{out}");
}

#[tokio::test]
async fn a_silent_server_then_freeradius_and_accounting_replayed_once() {
    let Some(stock) = installed_or_skip() else {
        return;
    };
    let mut fr = FreeRadius::start(&stock);
    // The preferred server is a socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    silent
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let edge = spawn_edge(&fr.config(Some(silent.local_addr().unwrap()), "")).await;
    let g = edge.guest(5);
    let started = Instant::now();
    let r = login_user(&g, "alice", "wonderland").await;
    assert_eq!(r.status, 200, "{r:?}");
    // Two copies (retries = 1) to the silent one, 300 ms each, then FreeRADIUS.
    assert!(started.elapsed() >= Duration::from_millis(600));
    let mut copies = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = silent.recv(&mut buf) {
        copies.push(buf[..n].to_vec());
    }
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0], copies[1], "a retransmission is the same bytes");
    let nas = edge.sessions.nas().unwrap();
    assert_eq!(nas.auth.current_server(), Some(fr.auth));
    // The next login goes straight to FreeRADIUS.
    let started = Instant::now();
    assert_eq!(
        login_user(&edge.guest(6), "wispr", "pw-wispr").await.status,
        303
    );
    assert!(started.elapsed() < Duration::from_millis(300));
    assert!(silent.recv(&mut buf).is_err());
    fr.wait_detail(3).await;

    // FreeRADIUS goes down; the guest logs out; the Stop waits in the database.
    fr.stop();
    let token = g.token().await;
    g.post("/logout", format!("token={token}").as_bytes()).await;
    let _ = edge.sessions.radius_flush().await;
    assert_eq!(edge.count("SELECT count(*) FROM radius_acct_queue"), 1);
    edge.clock.advance(40);
    // Back up: sent once, with the time it waited.
    fr.run(&stock);
    edge.sessions.radius_flush().await.unwrap();
    let _ = edge.sessions.radius_flush().await;
    assert_eq!(edge.count("SELECT count(*) FROM radius_acct_queue"), 0);
    let detail = fr.wait_detail(4).await;
    let stops: Vec<&String> = detail
        .iter()
        .filter(|b| b.contains("Acct-Status-Type = Stop"))
        .collect();
    assert_eq!(stops.len(), 1, "{detail:?}");
    assert!(stops[0].contains("Acct-Terminate-Cause = User-Request"));
    assert!(stops[0].contains("Acct-Delay-Time = 40"), "{}", stops[0]);
}
