//! A real FreeRADIUS 3.2 (Debian's `freeradius`, files backend) for the tests and benches that
//! use hotspotd as its NAS: the configuration written in a temporary directory, the server on
//! free UDP ports of 127.0.0.1 (optionally inside a network namespace), PAP, a `users` file the
//! caller gives, accounting kept in a `detail` file, Message-Authenticator required of the NAS
//! and put on every reply. Killed when dropped.
//!
//! Included by path (`#[path = ...] mod freeradius;`) by the edge's tests, its portal bench and
//! the system tests, so each uses what it needs.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian keeps the stock configuration (for the `mods-config` tree).
const RADDB_DIRS: &[&str] = &["/etc/freeradius/3.0", "/etc/freeradius", "/etc/raddb"];

/// The stock configuration directory, when FreeRADIUS and `radclient` are installed; `None`
/// (after saying why) when the caller should skip. Under CI (`CI=true`) a missing FreeRADIUS
/// fails instead.
pub fn installed_or_skip() -> Option<PathBuf> {
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

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A FreeRADIUS process serving a configuration written in a temporary directory.
pub struct FreeRadius {
    child: Option<Child>,
    pub auth: SocketAddr,
    pub acct: SocketAddr,
    secret: String,
    users: String,
    /// What the command runs under (`ip netns exec NAME`), or nothing.
    prefix: Vec<String>,
    dir: tempfile::TempDir,
}

impl FreeRadius {
    /// Starts FreeRADIUS on 127.0.0.1 with `users`, trusting 127.0.0.1 as a NAS with `secret`.
    pub fn start(stock: &Path, secret: &str, users: &str) -> FreeRadius {
        Self::start_under(stock, secret, users, &[])
    }

    /// As [`FreeRadius::start`], the command run under `prefix` (e.g. `ip netns exec edge`): then
    /// 127.0.0.1 is that namespace's.
    pub fn start_under(stock: &Path, secret: &str, users: &str, prefix: &[String]) -> FreeRadius {
        let mut fr = FreeRadius {
            child: None,
            auth: SocketAddr::from(([127, 0, 0, 1], free_udp_port())),
            acct: SocketAddr::from(([127, 0, 0, 1], free_udp_port())),
            secret: secret.to_owned(),
            users: users.to_owned(),
            prefix: prefix.to_vec(),
            dir: tempfile::tempdir().unwrap(),
        };
        fr.run(stock);
        fr
    }

    /// Writes the configuration and starts the server on its ports; waits (bounded) until it
    /// is ready. Also starts it again after [`FreeRadius::stop`].
    pub fn run(&mut self, stock: &Path) {
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
    secret = {secret}
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
            secret = self.secret,
            auth_ip = self.auth.ip(),
            auth_port = self.auth.port(),
            acct_ip = self.acct.ip(),
            acct_port = self.acct.port(),
        );
        std::fs::write(d.join("radiusd.conf"), conf).unwrap();
        std::fs::write(d.join("users"), &self.users).unwrap();
        std::fs::write(d.join("dictionary"), "").unwrap();
        let _ = std::fs::remove_file(d.join("radius.log"));
        let out = std::fs::File::create(d.join("stdout.log")).unwrap();
        let (program, before) = match self.prefix.split_first() {
            Some((p, rest)) => (p.as_str(), rest.to_vec()),
            None => ("freeradius", vec![]),
        };
        let mut command = Command::new(program);
        command.args(&before);
        if !self.prefix.is_empty() {
            command.arg("freeradius");
        }
        let mut child = command
            .args(["-f", "-l", "stdout", "-d"])
            .arg(d)
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
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// FreeRADIUS's accounting records (the `detail` file), one text block each.
    pub fn detail(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("detail"))
            .unwrap_or_default()
            .split("\n\n")
            .filter(|b| b.contains("Acct-Status-Type"))
            .map(str::to_owned)
            .collect()
    }

    /// What FreeRADIUS logged (authentications, errors), for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("radius.log")).unwrap_or_default()
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        self.stop();
    }
}
