//! Throwaway network namespaces for firewall tests: the hotspot topology
//! `guest1, guest2 ↔ edge ↔ upstream` over veth pairs, IPv4 and IPv6.
//!
//! Every namespace gets a name unique to the process and the test, and is deleted when its
//! [`Netns`] drops, panicking test or not; processes started in it are killed first.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Why namespace tests cannot run here, if they cannot: not root, or `ip`/`nft` missing.
pub fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not running as root".into());
    }
    for (tool, arg) in [("ip", "-V"), ("nft", "--version")] {
        let ok = Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// True when `program --version`-style probing finds it.
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a command, panicking with its stderr when it fails.
pub fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `hs<pid>-<n>-<role>` with its loopback up.
    pub fn new(role: &str) -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "hs{}-{}-{role}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        // Addresses usable at once: no duplicate address detection on this private link.
        ns.sysctl("net.ipv6.conf.all.accept_dad=0");
        ns.sysctl("net.ipv6.conf.default.accept_dad=0");
        ns
    }

    /// `ip -n NS ARGS…`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["ip", "-n", &self.name];
        full.extend_from_slice(args);
        run(&full);
    }

    /// The command prefix that runs a program inside this namespace.
    pub fn prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Runs `args` inside the namespace and returns its output, success or not.
    pub fn output(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {args:?} in {}: {e}", self.name))
    }

    /// Runs `args` inside the namespace; true when it exits 0.
    pub fn ok(&self, args: &[&str]) -> bool {
        self.output(args).status.success()
    }

    /// Starts `args` inside the namespace in the background.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?} in {}: {e}", self.name));
        Background(child)
    }

    /// Sets a sysctl inside the namespace.
    pub fn sysctl(&self, key_value: &str) {
        run(&[
            "ip", "netns", "exec", &self.name, "sysctl", "-qw", key_value,
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A process started in a namespace, killed on drop.
#[derive(Debug)]
pub struct Background(pub Child);

impl Background {
    /// Waits for the process to end, at most `limit`, and returns its output.
    pub fn finish(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        while self.0.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.0.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let child = std::mem::replace(
            &mut self.0,
            Command::new("true").spawn().expect("spawn true"),
        );
        let out = child.wait_with_output().expect("output");
        let _ = self.0.wait();
        out
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Addresses of the test topology.
pub mod addr {
    pub const GUEST1_MAC: &str = "02:00:00:00:00:01";
    pub const GUEST2_MAC: &str = "02:00:00:00:00:02";
    pub const GUEST1_V4: &str = "10.77.1.2";
    pub const GUEST2_V4: &str = "10.77.1.3";
    pub const GUEST1_V6: &str = "fd77:1::2";
    pub const GUEST2_V6: &str = "fd77:1::3";
    pub const EDGE_LAN_V4: &str = "10.77.1.1";
    pub const EDGE_LAN_V6: &str = "fd77:1::1";
    pub const UPSTREAM_V4: &str = "10.77.0.2";
    pub const UPSTREAM_V6: &str = "fd77::2";
    /// A second upstream address, in the walled garden.
    pub const GARDEN_V4: &str = "10.77.0.3";
    pub const GARDEN_V6: &str = "fd77::3";
    /// The edge's LAN bridge.
    pub const LAN: &str = "brlan";
}

/// guest1, guest2 ↔ edge (bridge `brlan` of two ports, routing) ↔ upstream.
///
/// Fields drop in order: processes first, then namespaces.
#[derive(Debug)]
pub struct Topology {
    pub processes: Vec<Background>,
    pub guest1: Netns,
    pub guest2: Netns,
    pub edge: Netns,
    pub upstream: Netns,
}

impl Topology {
    pub fn new() -> Topology {
        use addr::*;
        let t = Topology {
            processes: Vec::new(),
            guest1: Netns::new("g1"),
            guest2: Netns::new("g2"),
            edge: Netns::new("edge"),
            upstream: Netns::new("up"),
        };
        let e = &t.edge;
        e.ip(&[
            "link",
            "add",
            LAN,
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ]);
        for (guest, port, mac, v4, v6) in [
            (&t.guest1, "lan1", GUEST1_MAC, GUEST1_V4, GUEST1_V6),
            (&t.guest2, "lan2", GUEST2_MAC, GUEST2_V4, GUEST2_V6),
        ] {
            run(&[
                "ip",
                "link",
                "add",
                "g0",
                "netns",
                &guest.name,
                "address",
                mac,
                "type",
                "veth",
                "peer",
                "name",
                port,
                "netns",
                &e.name,
            ]);
            e.ip(&["link", "set", port, "master", LAN, "up"]);
            guest.ip(&["addr", "add", &format!("{v4}/24"), "dev", "g0"]);
            guest.ip(&["addr", "add", &format!("{v6}/64"), "dev", "g0", "nodad"]);
            // One packet per frame, as a phone sends them over the air (no GSO super-packets).
            guest.ip(&["link", "set", "g0", "gso_max_segs", "1", "up"]);
            guest.ip(&["route", "add", "default", "via", EDGE_LAN_V4]);
            guest.ip(&["-6", "route", "add", "default", "via", EDGE_LAN_V6]);
        }
        e.ip(&["addr", "add", &format!("{EDGE_LAN_V4}/24"), "dev", LAN]);
        e.ip(&[
            "addr",
            "add",
            &format!("{EDGE_LAN_V6}/64"),
            "dev",
            LAN,
            "nodad",
        ]);
        e.ip(&["link", "set", LAN, "up"]);
        run(&[
            "ip",
            "link",
            "add",
            "up0",
            "netns",
            &e.name,
            "type",
            "veth",
            "peer",
            "name",
            "wan0",
            "netns",
            &t.upstream.name,
        ]);
        e.ip(&["addr", "add", "10.77.0.1/24", "dev", "up0"]);
        e.ip(&["addr", "add", "fd77::1/64", "dev", "up0", "nodad"]);
        e.ip(&["link", "set", "up0", "gso_max_segs", "1", "up"]);
        e.sysctl("net.ipv4.ip_forward=1");
        e.sysctl("net.ipv6.conf.all.forwarding=1");
        let u = &t.upstream;
        for a in [UPSTREAM_V4, GARDEN_V4] {
            u.ip(&["addr", "add", &format!("{a}/24"), "dev", "wan0"]);
        }
        for a in [UPSTREAM_V6, GARDEN_V6] {
            u.ip(&["addr", "add", &format!("{a}/64"), "dev", "wan0", "nodad"]);
        }
        u.ip(&["link", "set", "wan0", "gso_max_segs", "1", "up"]);
        u.ip(&["route", "add", "10.77.1.0/24", "via", "10.77.0.1"]);
        u.ip(&["-6", "route", "add", "fd77:1::/64", "via", "fd77::1"]);
        t
    }

    /// Keeps a background process until the topology drops.
    pub fn keep(&mut self, p: Background) {
        self.processes.push(p);
    }
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls `check` every 50 ms until it is true or `limit` passes; returns whether it became true.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
