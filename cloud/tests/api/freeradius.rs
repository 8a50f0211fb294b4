//! A real FreeRADIUS 3.2 (Debian's `freeradius` and `freeradius-postgresql`) and our server on one
//! database, set up as docs/freeradius.md says: the stock PostgreSQL queries, a login role in
//! `hotspot_radius`, the NAS read from the `nas` table. One NAS sends the accounting of a session
//! to either server, in every order, with retransmissions; there is always exactly one `radacct`
//! row per session, with the tenant, counters and stop time of the last word. A session either
//! opened counts in our Simultaneous-Use check, and Accounting-On/Off to either closes the
//! NAS's sessions whoever opened them. FreeRADIUS also answers Access-Requests from the same
//! `radcheck`/`radreply`/group rows our server reads.
//!
//! Skipped with a message when FreeRADIUS is not installed, except under CI (`CI=true`), where
//! it must run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hotspot_cloud::radius::{self, Running, Settings};
use hotspot_shared::radius::crypto::{hide_password, sign_request, verify_response};
use hotspot_shared::radius::{Code, Packet, acct_status, attr};
use tokio::net::UdpSocket;
use uuid::Uuid;

use crate::helpers::{TestDb, admin_execute_blocking, admin_url, migrated_db, seed_tenant};

const SECRET: &str = "a-long-shared-secret-1";

/// Where Debian (and FreeRADIUS's own packages) keep the stock configuration and the modules.
const RADDB_DIRS: &[&str] = &["/etc/freeradius/3.0", "/etc/freeradius", "/etc/raddb"];
const LIB_DIRS: &[&str] = &[
    "/usr/lib/freeradius",
    "/usr/lib64/freeradius",
    "/usr/local/lib/freeradius",
];

/// The stock configuration directory (for its queries, policies and module settings) and the
/// module directory, when FreeRADIUS with its PostgreSQL driver is installed.
fn installed() -> Option<(PathBuf, PathBuf)> {
    Command::new("freeradius")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let raddb = RADDB_DIRS.iter().map(PathBuf::from).find(|d| {
        d.join("mods-config/sql/main/postgresql/queries.conf")
            .is_file()
    })?;
    let lib = LIB_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join("rlm_sql_postgresql.so").is_file())?;
    Some((raddb, lib))
}

/// `Some` when the test can run; `None` (after saying why) when it is skipped. Under CI a
/// missing FreeRADIUS fails the test instead.
fn freeradius_or_skip() -> Option<(PathBuf, PathBuf)> {
    let found = installed();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: FreeRADIUS 3.2 with its PostgreSQL driver must be installed \
             (Debian: freeradius freeradius-postgresql)"
        );
        eprintln!(
            "skipped: FreeRADIUS is not installed (Debian: freeradius freeradius-postgresql)"
        );
    }
    found
}

/// A free UDP port on 127.0.0.1 (bound, read, released).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A FreeRADIUS process serving a configuration generated in a temporary directory; killed
/// when dropped.
struct FreeRadius {
    child: Child,
    auth: SocketAddr,
    acct: SocketAddr,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl FreeRadius {
    /// Starts FreeRADIUS on free ports of 127.0.0.1 against database `dbname` as `login`, and
    /// waits (bounded) until it is ready. A port taken meanwhile is retried on others.
    fn start(stock: &Path, lib: &Path, dbname: &str, login: &str, password: &str) -> FreeRadius {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(stock, lib, dbname, login, password) {
                Ok(fr) => return fr,
                Err(log) => last = log,
            }
        }
        panic!("FreeRADIUS did not start:\n{last}");
    }

    fn try_start(
        stock: &Path,
        lib: &Path,
        dbname: &str,
        login: &str,
        password: &str,
    ) -> Result<FreeRadius, String> {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let auth: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let acct: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let db: tokio_postgres::Config = admin_url().parse().unwrap();
        let host = match db.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "127.0.0.1".to_owned(),
        };
        let port = db.get_ports().first().copied().unwrap_or(5432);
        let (stock, lib, dir_s) = (stock.display(), lib.display(), d.display());
        // The sql module exactly as docs/freeradius.md gives it, with the test's database.
        let sql = format!(
            r#"sql {{
    dialect = "postgresql"
    driver = "rlm_sql_${{dialect}}"
    server = "{host}"
    port = {port}
    login = "{login}"
    password = "{password}"
    radius_db = "{dbname}"
    acct_table1 = "radacct"
    acct_table2 = "radacct"
    postauth_table = "radpostauth"
    authcheck_table = "radcheck"
    groupcheck_table = "radgroupcheck"
    authreply_table = "radreply"
    groupreply_table = "radgroupreply"
    usergroup_table = "radusergroup"
    group_attribute = "SQL-Group"
    client_table = "nas"
    read_clients = yes
    read_groups = yes
    $INCLUDE ${{modconfdir}}/${{.:name}}/main/${{dialect}}/queries.conf
}}
"#
        );
        // A minimal server: the stock modules and policies it needs, the stock default site's
        // sections for PAP/CHAP, accounting and post-auth, and no clients but the nas table's.
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
libdir = {lib}
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
$INCLUDE clients.conf
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
    $INCLUDE {stock}/mods-available/chap
    $INCLUDE {stock}/mods-available/preprocess
    $INCLUDE sql.conf
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
        chap
        sql
        pap
    }}
    authenticate {{
        Auth-Type PAP {{
            pap
        }}
        Auth-Type CHAP {{
            chap
        }}
    }}
    preacct {{
        preprocess
        acct_unique
    }}
    accounting {{
        sql
    }}
    post-auth {{
        sql
        Post-Auth-Type REJECT {{
            sql
        }}
    }}
}}
"#,
            auth_ip = auth.ip(),
            auth_port = auth.port(),
            acct_ip = acct.ip(),
            acct_port = acct.port(),
        );
        std::fs::write(d.join("radiusd.conf"), conf).unwrap();
        std::fs::write(d.join("sql.conf"), sql).unwrap();
        std::fs::write(
            d.join("clients.conf"),
            "# clients come from the nas table\n",
        )
        .unwrap();
        std::fs::write(d.join("dictionary"), "").unwrap();
        let log = d.join("radius.log");
        let out = std::fs::File::create(d.join("stdout.log")).unwrap();
        let child = Command::new("freeradius")
            .args(["-f", "-xx", "-d"])
            .arg(d)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut fr = FreeRadius {
            child,
            auth,
            acct,
            log,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if fr.log_text().contains("Ready to process requests") {
                return Ok(fr);
            }
            let exited = fr.child.try_wait().unwrap().is_some();
            if exited || Instant::now() > deadline {
                let stdout = std::fs::read_to_string(fr.dir.path().join("stdout.log"));
                return Err(format!("{}\n{}", stdout.unwrap_or_default(), fr.log_text()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The end of FreeRADIUS's log, for assertion messages.
    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The database login FreeRADIUS uses (docs/freeradius.md step 2); dropped afterwards.
struct Login {
    name: String,
    password: String,
}

impl Login {
    async fn create(owner: &tokio_postgres::Client) -> Login {
        let name = format!("fr_{}", Uuid::new_v4().simple());
        let password = Uuid::new_v4().simple().to_string();
        owner
            .batch_execute(&format!(
                "CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE hotspot_radius; \
                 ALTER ROLE {name} SET role = 'hotspot_radius';"
            ))
            .await
            .unwrap();
        Login { name, password }
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        admin_execute_blocking(format!("DROP ROLE IF EXISTS {}", self.name));
    }
}

/// Both servers on one database. Fields drop in order: FreeRADIUS, its login, the database.
struct Rig {
    fr: FreeRadius,
    _login: Login,
    ours: Running,
    db: TestDb,
    tenant: Uuid,
    other: Uuid,
}

impl Rig {
    async fn new(stock: &Path, lib: &Path) -> Rig {
        let db = migrated_db().await;
        let owner = db.connect().await;
        let tenant = seed_tenant(&owner, 211).await;
        let other = seed_tenant(&owner, 212).await;
        owner
            .batch_execute(&format!(
                "INSERT INTO nas (tenant_id, nasname, shortname, type, secret) VALUES \
                   ('{tenant}', '127.0.0.1', 'mt', 'mikrotik', '{SECRET}'); \
                 INSERT INTO radcheck (tenant_id, username, attribute, op, value) VALUES \
                   ('{tenant}', 'alice', 'Cleartext-Password', ':=', 'wonderland'), \
                   ('{tenant}', 'solo', 'Cleartext-Password', ':=', 'pw'), \
                   ('{tenant}', 'solo', 'Simultaneous-Use', ':=', '1'); \
                 INSERT INTO radreply (tenant_id, username, attribute, op, value) VALUES \
                   ('{tenant}', 'alice', 'Session-Timeout', '=', '7200'); \
                 INSERT INTO radusergroup (tenant_id, username, groupname) VALUES \
                   ('{tenant}', 'alice', 't211-fast'); \
                 INSERT INTO radgroupreply (tenant_id, groupname, attribute, op, value) VALUES \
                   ('{tenant}', 't211-fast', 'Idle-Timeout', '=', '600');"
            ))
            .await
            .unwrap();
        let login = Login::create(&owner).await;
        let (stock, lib, dbname) = (stock.to_owned(), lib.to_owned(), db.name.clone());
        let (name, password) = (login.name.clone(), login.password.clone());
        // It waits for FreeRADIUS in plain sleeps: off the runtime's thread.
        let fr = tokio::task::spawn_blocking(move || {
            FreeRadius::start(&stock, &lib, &dbname, &name, &password)
        })
        .await
        .unwrap();
        let settings = Settings {
            auth_listen: Some("127.0.0.1:0".parse().unwrap()),
            acct_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        };
        let ours = radius::start(db.pool(), db.url.clone(), settings)
            .await
            .unwrap();
        Rig {
            fr,
            _login: login,
            ours,
            db,
            tenant,
            other,
        }
    }

    fn ours(&self) -> SocketAddr {
        self.ours.acct_addr.unwrap()
    }
}

/// The NAS: one socket (one source port), as a router sends from, so a retransmission is the
/// same datagram from the same place.
struct Nas {
    socket: UdpSocket,
    /// FreeRADIUS's log, shown when an answer does not come.
    log: PathBuf,
}

impl Nas {
    async fn new(fr: &FreeRadius) -> Nas {
        Nas {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            log: fr.log.clone(),
        }
    }

    /// Sends `bytes` to `to` and returns the verified answer's raw bytes, retransmitting the
    /// same datagram as a NAS does when no answer comes within a second (four tries). FreeRADIUS
    /// ignores a duplicate that arrives while it is still finishing the original.
    async fn send(&self, to: SocketAddr, bytes: &[u8], what: &str) -> Vec<u8> {
        for _ in 0..4 {
            if let Some(answer) = self.try_send(to, bytes).await {
                return answer;
            }
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(80)..].join("\n");
        panic!("no answer from {to} to {what}\nFreeRADIUS log:\n{tail}")
    }

    async fn try_send(&self, to: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        self.socket.send_to(bytes, to).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let got = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf)).await;
            let (n, from) = got.ok()?.unwrap();
            // Only the answer to this request (a late answer to an earlier one is skipped).
            if from == to && n >= 20 && buf[1] == bytes[1] {
                let request_code = Code::from_u8(bytes[0]).unwrap();
                let authenticator: [u8; 16] = bytes[4..20].try_into().unwrap();
                verify_response(&buf[..n], request_code, &authenticator, SECRET.as_bytes())
                    .expect("the answer is signed with the NAS's secret");
                return Some(buf[..n].to_vec());
            }
        }
    }
}

/// One session's accounting as a MikroTik sends it.
struct Session {
    id: &'static str,
    user: &'static str,
    class: Option<&'static str>,
    start: u32,
}

impl Session {
    /// An Accounting-Request of this session: `n` (the identifier) must differ between the
    /// distinct requests of a test; octets above 4 GiB go into Gigawords.
    fn request(&self, n: u8, status: u32, at: u32, input: u64, output: u64) -> Vec<u8> {
        let mut p = Packet::new(Code::AccountingRequest, n, [0; 16]);
        p.push_u32(attr::ACCT_STATUS_TYPE, status);
        p.push(attr::USER_NAME, self.user);
        p.push(attr::ACCT_SESSION_ID, self.id);
        p.push(attr::NAS_IP_ADDRESS, [127, 0, 0, 1]);
        p.push(attr::NAS_IDENTIFIER, "mt-hq");
        p.push_u32(attr::NAS_PORT, 15);
        p.push(attr::NAS_PORT_ID, "bridge-hotspot");
        p.push_u32(attr::NAS_PORT_TYPE, 19);
        p.push(attr::CALLING_STATION_ID, "02:00:00:00:00:0A");
        p.push(attr::CALLED_STATION_ID, "hotspot1");
        p.push(attr::FRAMED_IP_ADDRESS, [10, 5, 50, 23]);
        if let Some(class) = self.class {
            p.push(attr::CLASS, class);
        }
        p.push_u32(attr::EVENT_TIMESTAMP, at);
        if status != acct_status::START {
            p.push_u32(attr::ACCT_SESSION_TIME, at - self.start);
            p.push_u32(attr::ACCT_INPUT_OCTETS, input as u32);
            p.push_u32(attr::ACCT_INPUT_GIGAWORDS, (input >> 32) as u32);
            p.push_u32(attr::ACCT_OUTPUT_OCTETS, output as u32);
            p.push_u32(attr::ACCT_OUTPUT_GIGAWORDS, (output >> 32) as u32);
        }
        if status == acct_status::STOP {
            p.push_u32(attr::ACCT_TERMINATE_CAUSE, 1); // User-Request
        }
        sign_request(&p, SECRET.as_bytes(), false).unwrap()
    }
}

/// What `radacct` holds for a session.
#[derive(Debug, PartialEq)]
struct Row {
    rows: i64,
    tenant: Option<Uuid>,
    input: Option<i64>,
    output: Option<i64>,
    start: Option<i64>,
    stop: Option<i64>,
    session_time: Option<i64>,
    cause: Option<String>,
}

async fn row(owner: &tokio_postgres::Client, session: &str) -> Row {
    let rows = owner
        .query(
            "SELECT tenant_id, acctinputoctets, acctoutputoctets, \
               extract(epoch FROM acctstarttime)::bigint, \
               extract(epoch FROM acctstoptime)::bigint, acctsessiontime, acctterminatecause \
             FROM radacct WHERE acctsessionid = $1",
            &[&session],
        )
        .await
        .unwrap();
    let first = rows.first();
    Row {
        rows: rows.len() as i64,
        tenant: first.map(|r| r.get(0)),
        input: first.and_then(|r| r.get(1)),
        output: first.and_then(|r| r.get(2)),
        start: first.and_then(|r| r.get(3)),
        stop: first.and_then(|r| r.get(4)),
        session_time: first.and_then(|r| r.get(5)),
        cause: first.and_then(|r| r.get(6)),
    }
}

async fn assert_rows(
    owner: &tokio_postgres::Client,
    fr: &FreeRadius,
    session: &str,
    want: (i64, Option<i64>, Option<i64>),
) {
    let got = row(owner, session).await;
    assert_eq!(
        (got.rows, got.input, got.stop),
        want,
        "{session}: {got:?}\nFreeRADIUS log:\n{}",
        fr.log_tail()
    );
}

const GIB4: u64 = 1 << 32;

#[tokio::test]
async fn freeradius_and_our_server_share_accounting_and_users() {
    let Some((stock, lib)) = freeradius_or_skip() else {
        return;
    };
    let rig = Rig::new(&stock, &lib).await;
    let owner = rig.db.connect().await;
    let nas = Nas::new(&rig.fr).await;
    let (fr, ours) = (rig.fr.acct, rig.ours());
    let t0 = chrono::Utc::now().timestamp() as u32 - 3600;

    // Start to FreeRADIUS, Interim to ours, Interim to FreeRADIUS, Stop to ours; each request
    // retransmitted to the server that had it, the Stop also to the other (a NAS failing over).
    let s = Session {
        id: "81a00001",
        user: "alice",
        class: None,
        start: t0,
    };
    let start = s.request(1, acct_status::START, t0, 0, 0);
    nas.send(fr, &start, "Start").await;
    assert_eq!(
        nas.send(fr, &start, "Start again").await.len(),
        20,
        "an Accounting-Response"
    );
    assert_rows(&owner, &rig.fr, s.id, (1, Some(0), None)).await;
    let interim = s.request(2, acct_status::INTERIM_UPDATE, t0 + 300, GIB4 + 5, 700);
    let first = nas.send(ours, &interim, "Interim").await;
    assert_eq!(nas.send(ours, &interim, "Interim again").await, first);
    assert_rows(&owner, &rig.fr, s.id, (1, Some((GIB4 + 5) as i64), None)).await;
    let interim = s.request(3, acct_status::INTERIM_UPDATE, t0 + 600, GIB4 + 900, 1400);
    nas.send(fr, &interim, "Interim").await;
    nas.send(fr, &interim, "Interim again").await;
    assert_rows(&owner, &rig.fr, s.id, (1, Some((GIB4 + 900) as i64), None)).await;
    let stop = s.request(4, acct_status::STOP, t0 + 660, 2 * GIB4 + 1, 2000);
    nas.send(ours, &stop, "Stop").await;
    nas.send(ours, &stop, "Stop again").await;
    nas.send(fr, &stop, "Stop to the other server").await;
    let closed = row(&owner, s.id).await;
    assert_eq!(
        closed,
        Row {
            rows: 1,
            tenant: Some(rig.tenant),
            input: Some((2 * GIB4 + 1) as i64),
            output: Some(2000),
            start: Some(i64::from(t0)),
            stop: Some(i64::from(t0 + 660)),
            session_time: Some(660),
            cause: Some("User-Request".to_owned()),
        },
        "FreeRADIUS log:\n{}",
        rig.fr.log_tail()
    );

    // The reverse: Start to ours, Interim to FreeRADIUS, Interim to ours, Stop to FreeRADIUS;
    // this NAS echoes a FreeRADIUS-style Class, so both derive the session's key from it.
    let s = Session {
        id: "81a00002",
        user: "alice",
        class: Some("ai:0123456789abcdef0123456789abcdef"),
        start: t0 + 1000,
    };
    let start = s.request(11, acct_status::START, s.start, 0, 0);
    let first = nas.send(ours, &start, "Start").await;
    assert_eq!(nas.send(ours, &start, "Start again").await, first);
    assert_rows(&owner, &rig.fr, s.id, (1, Some(0), None)).await;
    let interim = s.request(12, acct_status::INTERIM_UPDATE, s.start + 300, 10, 20);
    nas.send(fr, &interim, "Interim").await;
    nas.send(fr, &interim, "Interim again").await;
    assert_rows(&owner, &rig.fr, s.id, (1, Some(10), None)).await;
    let interim = s.request(13, acct_status::INTERIM_UPDATE, s.start + 600, GIB4, 40);
    nas.send(ours, &interim, "Interim").await;
    assert_rows(&owner, &rig.fr, s.id, (1, Some(GIB4 as i64), None)).await;
    let stop = s.request(14, acct_status::STOP, s.start + 900, GIB4 + 70, 80);
    nas.send(fr, &stop, "Stop").await;
    nas.send(fr, &stop, "Stop again").await;
    nas.send(ours, &stop, "Stop to the other server").await;
    let closed = row(&owner, s.id).await;
    assert_eq!(
        closed,
        Row {
            rows: 1,
            tenant: Some(rig.tenant),
            input: Some((GIB4 + 70) as i64),
            output: Some(80),
            start: Some(i64::from(s.start)),
            stop: Some(i64::from(s.start + 900)),
            session_time: Some(900),
            cause: Some("User-Request".to_owned()),
        },
        "FreeRADIUS log:\n{}",
        rig.fr.log_tail()
    );

    // A Start lost on the way: the first word FreeRADIUS hears is an Interim, ours the Stop.
    let s = Session {
        id: "81a00003",
        user: "alice",
        class: None,
        start: t0 + 2000,
    };
    nas.send(
        fr,
        &s.request(21, acct_status::INTERIM_UPDATE, s.start + 60, 5, 6),
        "Interim",
    )
    .await;
    nas.send(
        ours,
        &s.request(22, acct_status::STOP, s.start + 120, 50, 60),
        "Stop",
    )
    .await;
    let closed = row(&owner, s.id).await;
    assert_eq!(
        (closed.rows, closed.tenant, closed.input, closed.stop),
        (
            1,
            Some(rig.tenant),
            Some(50),
            Some(i64::from(s.start + 120))
        )
    );

    // Class values FreeRADIUS's acct_unique policy hashes (the digits as sent, in their case)
    // or passes over (not starting with `ai:` exactly): both servers key the session alike.
    let classes = [
        ("81a00004", "ai:0123456789ABCDEF0123456789abcdef"),
        ("81a00005", "AI:0123456789abcdef0123456789abcdef"),
        ("81a00006", "x ai:0123456789abcdef0123456789abcdef"),
    ];
    for (n, (id, class)) in (0u8..).zip(classes) {
        let s = Session {
            id,
            user: "alice",
            class: Some(class),
            start: t0 + 3000,
        };
        let (first, then) = if n % 2 == 0 { (fr, ours) } else { (ours, fr) };
        let start = s.request(40 + 2 * n, acct_status::START, s.start, 0, 0);
        nas.send(first, &start, "Start").await;
        let stop = s.request(41 + 2 * n, acct_status::STOP, s.start + 30, 3, 4);
        nas.send(then, &stop, "Stop").await;
        assert_rows(
            &owner,
            &rig.fr,
            id,
            (1, Some(3), Some(i64::from(s.start + 30))),
        )
        .await;
    }

    // A session FreeRADIUS opened counts in our Simultaneous-Use check; Accounting-On to ours
    // closes it, and Accounting-Off to FreeRADIUS closes the one ours opened.
    let now = chrono::Utc::now().timestamp() as u32;
    let login = |id: u8| {
        let authenticator = *Uuid::new_v4().as_bytes();
        let mut p = Packet::new(Code::AccessRequest, id, authenticator);
        p.push(attr::USER_NAME, "solo");
        p.push(
            attr::USER_PASSWORD,
            hide_password(b"pw", SECRET.as_bytes(), &authenticator),
        );
        p.push(attr::CALLING_STATION_ID, "02:00:00:00:00:0B");
        sign_request(&p, SECRET.as_bytes(), true).unwrap()
    };
    let our_auth = rig.ours.auth_addr.unwrap();
    let on_fr = Session {
        id: "81a00010",
        user: "solo",
        class: None,
        start: now - 60,
    };
    nas.send(
        fr,
        &on_fr.request(50, acct_status::START, now - 60, 0, 0),
        "Start",
    )
    .await;
    let refused = Packet::decode(&nas.send(our_auth, &login(51), "login").await).unwrap();
    assert_eq!(refused.code, Code::AccessReject);
    assert_eq!(
        refused.get_text(attr::REPLY_MESSAGE).as_deref(),
        Some("You are already logged in - access denied")
    );
    let nas_state = |n: u8, status: u32| {
        let mut p = Packet::new(Code::AccountingRequest, n, [0; 16]);
        p.push_u32(attr::ACCT_STATUS_TYPE, status);
        p.push(attr::NAS_IP_ADDRESS, [127, 0, 0, 1]);
        p.push_u32(attr::EVENT_TIMESTAMP, now);
        sign_request(&p, SECRET.as_bytes(), false).unwrap()
    };
    nas.send(
        ours,
        &nas_state(52, acct_status::ACCOUNTING_ON),
        "Accounting-On",
    )
    .await;
    let closed = row(&owner, on_fr.id).await;
    assert_eq!(
        (closed.rows, closed.stop, closed.cause.as_deref()),
        (1, Some(i64::from(now)), Some("NAS-Reboot"))
    );
    let admitted = Packet::decode(&nas.send(our_auth, &login(53), "login").await).unwrap();
    assert_eq!(admitted.code, Code::AccessAccept);
    let on_ours = Session {
        id: "81a00011",
        user: "solo",
        class: None,
        start: now - 30,
    };
    nas.send(
        ours,
        &on_ours.request(54, acct_status::START, now - 30, 0, 0),
        "Start",
    )
    .await;
    nas.send(
        fr,
        &nas_state(55, acct_status::ACCOUNTING_OFF),
        "Accounting-Off",
    )
    .await;
    let closed = row(&owner, on_ours.id).await;
    assert_eq!(
        (closed.rows, closed.stop, closed.cause.as_deref()),
        (1, Some(i64::from(now)), Some("NAS-Reboot")),
        "FreeRADIUS log:\n{}",
        rig.fr.log_tail()
    );

    // Nothing leaked to the other tenant, and no session is left open.
    let stray: i64 = owner
        .query_one(
            "SELECT count(*) FROM radacct WHERE tenant_id = $1 AND acctsessionid LIKE '81a%'",
            &[&rig.other],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stray, 0);
    let open: i64 = owner
        .query_one(
            "SELECT count(*) FROM radacct WHERE acctsessionid LIKE '81a%' \
             AND acctstoptime IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0);

    // FreeRADIUS authenticates from the same rows: radcheck, radreply and the user's group.
    let auth = rig.fr.auth;
    let ask = |id: u8, password: &str| {
        let authenticator = *Uuid::new_v4().as_bytes();
        let mut p = Packet::new(Code::AccessRequest, id, authenticator);
        p.push(attr::USER_NAME, "alice");
        p.push(
            attr::USER_PASSWORD,
            hide_password(password.as_bytes(), SECRET.as_bytes(), &authenticator),
        );
        p.push(attr::NAS_IP_ADDRESS, [127, 0, 0, 1]);
        sign_request(&p, SECRET.as_bytes(), true).unwrap()
    };
    let accept = Packet::decode(&nas.send(auth, &ask(31, "wonderland"), "PAP").await).unwrap();
    assert_eq!(
        accept.code,
        Code::AccessAccept,
        "FreeRADIUS log:\n{}",
        rig.fr.log_tail()
    );
    assert_eq!(
        accept.get_u32(attr::SESSION_TIMEOUT),
        Some(7200),
        "radreply"
    );
    assert_eq!(
        accept.get_u32(attr::IDLE_TIMEOUT),
        Some(600),
        "radgroupreply"
    );
    let reject = Packet::decode(&nas.send(auth, &ask(32, "guess"), "PAP").await).unwrap();
    assert_eq!(reject.code, Code::AccessReject);
    // Its post-auth lines land under the user's tenant.
    let logged: Vec<(String, Uuid)> = owner
        .query(
            "SELECT reply, tenant_id FROM radpostauth WHERE username = 'alice' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        logged,
        [
            ("Access-Accept".to_owned(), rig.tenant),
            ("Access-Reject".to_owned(), rig.tenant)
        ]
    );

    rig.ours.stop().await;
}
