//! Who a client is: its MAC from its IP (the neighbour table, a seam so tests supply their own),
//! and whether its address came from our DHCP server (dnsmasq's lease file).
//!
//! Parsers are pure functions over text; reading files and running `ip` happens only in
//! [`KernelNeighbours`] and [`read_leases`]. [`capture`] learns clients passively from the
//! frames on the LAN interface (DHCP fingerprints and host names, ARP, IPv6 ND).

pub mod capture;
pub mod leases;
pub mod neigh;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use hotspot_shared::MacAddr;

pub use leases::{Lease, parse_dnsmasq_leases};
pub use neigh::{parse_ip_neigh, parse_proc_arp};

/// IP → MAC, as the LAN sees it.
pub trait Neighbours: Send + Sync + 'static {
    /// The MAC of the host using `ip` on the LAN, if known.
    fn lookup(&self, ip: IpAddr) -> Option<MacAddr>;
    /// Every known (IP, MAC) pair, for finding auto-connect devices as soon as they appear.
    fn entries(&self) -> Vec<(IpAddr, MacAddr)>;
}

/// The kernel's neighbour table: `/proc/net/arp` for IPv4, `ip -6 neigh show` for IPv6.
///
/// Read at most once a second (every captive probe asks), and again sooner only when an address
/// is missing from a snapshot older than 100 ms: a phone that just joined is found on
/// its first request.
#[derive(Debug)]
pub struct KernelNeighbours {
    /// The LAN interface: entries on other interfaces (the uplink) are not clients.
    interface: String,
    /// The last snapshot and when it was taken.
    cache: std::sync::Mutex<Option<Snapshot>>,
}

/// A read of the table and when it was taken.
type Snapshot = (std::time::Instant, Vec<(IpAddr, MacAddr)>);

/// Age after which a snapshot is re-read.
const SNAPSHOT_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Age after which a lookup that misses re-reads the table.
const MISS_REFRESH: std::time::Duration = std::time::Duration::from_millis(100);

impl KernelNeighbours {
    pub fn new(interface: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            cache: std::sync::Mutex::new(None),
        }
    }

    /// The table, from the cache when it is younger than `max_age`.
    fn snapshot(&self, max_age: std::time::Duration) -> Vec<(IpAddr, MacAddr)> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, entries)) = cache.as_ref()
            && at.elapsed() < max_age
        {
            return entries.clone();
        }
        let mut all = self.v4();
        all.extend(self.v6());
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((std::time::Instant::now(), all.clone()));
        }
        all
    }

    fn v4(&self) -> Vec<(IpAddr, MacAddr)> {
        match std::fs::read_to_string("/proc/net/arp") {
            Ok(text) => parse_proc_arp(&text, Some(&self.interface)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read /proc/net/arp");
                Vec::new()
            }
        }
    }

    fn v6(&self) -> Vec<(IpAddr, MacAddr)> {
        match std::process::Command::new("ip")
            .args(["-6", "neigh", "show", "dev", &self.interface])
            .output()
        {
            Ok(out) if out.status.success() => {
                parse_ip_neigh(&String::from_utf8_lossy(&out.stdout))
            }
            _ => Vec::new(),
        }
    }
}

impl Neighbours for KernelNeighbours {
    fn lookup(&self, ip: IpAddr) -> Option<MacAddr> {
        let find = |entries: Vec<(IpAddr, MacAddr)>| {
            entries.into_iter().find(|(a, _)| *a == ip).map(|(_, m)| m)
        };
        find(self.snapshot(SNAPSHOT_TTL)).or_else(|| find(self.snapshot(MISS_REFRESH)))
    }

    fn entries(&self) -> Vec<(IpAddr, MacAddr)> {
        self.snapshot(SNAPSHOT_TTL)
    }
}

/// dnsmasq's lease file as the neighbour table (IPv4 clients with a lease).
#[derive(Debug, Clone)]
pub struct LeaseNeighbours {
    pub path: PathBuf,
}

impl Neighbours for LeaseNeighbours {
    fn lookup(&self, ip: IpAddr) -> Option<MacAddr> {
        read_leases(&self.path)
            .into_iter()
            .find(|l| l.ip == ip)
            .map(|l| l.mac)
    }

    fn entries(&self) -> Vec<(IpAddr, MacAddr)> {
        read_leases(&self.path)
            .into_iter()
            .map(|l| (l.ip, l.mac))
            .collect()
    }
}

/// A table set by hand: for tests and for the benchmark.
#[derive(Debug, Default)]
pub struct StaticNeighbours(RwLock<HashMap<IpAddr, MacAddr>>);

impl StaticNeighbours {
    pub fn insert(&self, ip: IpAddr, mac: MacAddr) {
        if let Ok(mut m) = self.0.write() {
            m.insert(ip, mac);
        }
    }
    pub fn remove(&self, ip: IpAddr) {
        if let Ok(mut m) = self.0.write() {
            m.remove(&ip);
        }
    }
}

impl Neighbours for StaticNeighbours {
    fn lookup(&self, ip: IpAddr) -> Option<MacAddr> {
        self.0.read().ok()?.get(&ip).copied()
    }
    fn entries(&self) -> Vec<(IpAddr, MacAddr)> {
        self.0
            .read()
            .map(|m| m.iter().map(|(i, m)| (*i, *m)).collect())
            .unwrap_or_default()
    }
}

/// Reads and parses the lease file; a missing or unreadable file is no leases.
pub fn read_leases(path: &Path) -> Vec<Lease> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_dnsmasq_leases(&text),
        Err(e) => {
            tracing::debug!(error = %e, path = %path.display(), "no DHCP leases");
            Vec::new()
        }
    }
}

/// True when `ip` holds a lease for `mac` that has not expired at `now`.
pub fn has_lease(leases: &[Lease], ip: IpAddr, mac: MacAddr, now: i64) -> bool {
    leases
        .iter()
        .any(|l| l.ip == ip && l.mac == mac && (l.expires == 0 || l.expires > now))
}
