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
use std::sync::{Arc, RwLock};

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
#[derive(Debug)]
pub struct LeaseNeighbours {
    leases: Arc<LeaseFile>,
}

impl LeaseNeighbours {
    /// Reads `leases`, which the session engine may share ([`crate::sessions::Sessions::with_leases`])
    /// so that one parse serves both.
    pub fn new(leases: Arc<LeaseFile>) -> Self {
        Self { leases }
    }
}

impl Neighbours for LeaseNeighbours {
    fn lookup(&self, ip: IpAddr) -> Option<MacAddr> {
        self.leases.current().get(&ip).map(|l| l.mac)
    }

    fn entries(&self) -> Vec<(IpAddr, MacAddr)> {
        self.leases
            .current()
            .values()
            .map(|l| (l.ip, l.mac))
            .collect()
    }
}

/// The leases by address.
pub type LeaseMap = HashMap<IpAddr, Lease>;

/// dnsmasq's lease file, parsed again only when it changes: every portal request and captive
/// probe checks its client's lease, and a campus has a thousand of them.
///
/// A change is seen by the file's size, modification time or inode (dnsmasq rewrites the file
/// on every lease it grants). A copy older than [`LEASES_MAX_AGE`] is read again all the same,
/// in case a rewrite landed within one timestamp tick at the same size.
#[derive(Debug)]
pub struct LeaseFile {
    path: PathBuf,
    cache: std::sync::Mutex<Option<LeaseCopy>>,
}

/// A parse of the lease file, with the file's stamp and when it was read.
#[derive(Debug)]
struct LeaseCopy {
    stamp: Option<FileStamp>,
    read_at: std::time::Instant,
    leases: Arc<LeaseMap>,
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    dev: u64,
    ino: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            len: m.len(),
            modified: m.modified().ok(),
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// The longest a parse of the lease file is trusted without reading it again.
pub const LEASES_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(2);

impl LeaseFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache: std::sync::Mutex::new(None),
        }
    }

    /// The leases as the file holds them now; a missing or unreadable file is no leases.
    ///
    /// One caller parses a changed file while the others wait for its result: after dnsmasq
    /// writes the file, a burst of requests parses it once, not once each.
    pub fn current(&self) -> Arc<LeaseMap> {
        let parse = || -> Arc<LeaseMap> {
            Arc::new(
                read_leases(&self.path)
                    .into_iter()
                    .map(|l| (l.ip, l))
                    .collect(),
            )
        };
        let Ok(mut cache) = self.cache.lock() else {
            return parse();
        };
        let stamp = FileStamp::of(&self.path);
        if let Some(copy) = cache.as_ref()
            && copy.stamp == stamp
            && copy.read_at.elapsed() < LEASES_MAX_AGE
        {
            return Arc::clone(&copy.leases);
        }
        let read_at = std::time::Instant::now();
        let leases = parse();
        // Kept only when the file did not change while it was read: a half-written file is
        // used for this request and read again on the next.
        if FileStamp::of(&self.path) == stamp {
            *cache = Some(LeaseCopy {
                stamp,
                read_at,
                leases: Arc::clone(&leases),
            });
        }
        leases
    }

    /// True when `ip` holds a lease for `mac` that has not expired at `now`.
    pub fn holds(&self, ip: IpAddr, mac: MacAddr, now: i64) -> bool {
        holds_in(&self.current(), ip, mac, now)
    }
}

/// True when `ip` holds a lease for `mac` in `leases` that has not expired at `now`.
pub fn holds_in(leases: &LeaseMap, ip: IpAddr, mac: MacAddr, now: i64) -> bool {
    leases.get(&ip).is_some_and(|l| lease_is_live(l, mac, now))
}

fn lease_is_live(l: &Lease, mac: MacAddr, now: i64) -> bool {
    l.mac == mac && (l.expires == 0 || l.expires > now)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    #[test]
    fn the_lease_file_is_read_again_when_dnsmasq_rewrites_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dhcp.leases");
        let leases = LeaseFile::new(&path);
        let (a, b) = ("10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        assert!(leases.current().is_empty(), "no file is no leases");
        std::fs::write(&path, "0 02:00:00:00:00:02 10.0.0.2 phone *\n").unwrap();
        assert!(leases.holds(a, mac(2), 1));
        assert!(
            !leases.holds(a, mac(3), 1),
            "another device on that address"
        );
        assert!(!leases.holds(b, mac(3), 1));
        // A new guest's lease, written the way dnsmasq does (truncate and write again).
        std::fs::write(
            &path,
            "0 02:00:00:00:00:02 10.0.0.2 phone *\n100 02:00:00:00:00:03 10.0.0.3 * *\n",
        )
        .unwrap();
        assert!(leases.holds(b, mac(3), 99));
        assert!(!leases.holds(b, mac(3), 100), "expired");
        // Released: the file shrinks.
        std::fs::write(&path, "100 02:00:00:00:00:03 10.0.0.3 * *\n").unwrap();
        assert!(!leases.holds(a, mac(2), 1));
        std::fs::remove_file(&path).unwrap();
        assert!(leases.current().is_empty());
    }

    #[test]
    fn an_unchanged_lease_file_is_not_parsed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dhcp.leases");
        std::fs::write(&path, "0 02:00:00:00:00:02 10.0.0.2 phone *\n").unwrap();
        let leases = LeaseFile::new(&path);
        let first = leases.current();
        assert!(Arc::ptr_eq(&first, &leases.current()), "the same parse");
        // A copy past its age is read again whatever the stamp says.
        if let Ok(mut cache) = leases.cache.lock() {
            cache.as_mut().unwrap().read_at -= LEASES_MAX_AGE;
        }
        let again = leases.current();
        assert!(
            !Arc::ptr_eq(&first, &again),
            "read again after {LEASES_MAX_AGE:?}"
        );
        assert_eq!(*first, *again);
    }

    #[test]
    fn lease_neighbours_map_addresses_to_macs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dhcp.leases");
        std::fs::write(
            &path,
            "0 02:00:00:00:00:02 10.0.0.2 phone *\n0 02:00:00:00:00:03 10.0.0.3 * *\n",
        )
        .unwrap();
        let n = LeaseNeighbours::new(Arc::new(LeaseFile::new(&path)));
        assert_eq!(n.lookup("10.0.0.3".parse().unwrap()), Some(mac(3)));
        assert_eq!(n.lookup("10.0.0.4".parse().unwrap()), None);
        let mut all = n.entries();
        all.sort();
        assert_eq!(
            all,
            [
                ("10.0.0.2".parse().unwrap(), mac(2)),
                ("10.0.0.3".parse().unwrap(), mac(3))
            ]
        );
    }
}
