//! Access control as the rest of the daemon sees it: who may pass, at what rates, and how many
//! bytes each client has moved.
//!
//! [`Firewall`] is a seam with two implementations: the nftables backend that enforces it on the
//! router, and [`Recording`], a fake that remembers calls so session logic is tested without root.
//! Callers pass plain data ([`Grant`]) and never build rules themselves.
//!
//! # Layout
//! - [`render`]: the product's nftables table as a pure function of plain data.
//! - [`nft`]: the backend that applies it, one atomic `nft` batch per change.
//! - [`state`]: what the backend applied, for re-applying after a reload.
//! - [`settings`]: the `[firewall]` section of the configuration.

pub mod nft;
pub mod render;
pub mod settings;
pub mod state;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;

use hotspot_shared::MacAddr;

/// One client let through, with its plan's rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub mac: MacAddr,
    /// Addresses the client uses (IPv4 from DHCP, IPv6 from SLAAC/DHCPv6).
    pub addrs: Vec<IpAddr>,
    /// Download rate toward the client, kbit/s; 0 means unlimited.
    pub down_kbps: u32,
    /// Upload rate from the client, kbit/s; 0 means unlimited.
    pub up_kbps: u32,
}

/// Bytes a client has moved since it was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// A failure to change or read the ruleset.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("nft failed: {0}")]
    Nft(String),
    #[error("firewall state is unavailable")]
    Poisoned,
}

/// What the session logic needs from the firewall. Every method is one atomic change.
pub trait Firewall: Send + Sync + 'static {
    /// Lets the client through at its rates, or updates the rates of one already through.
    fn grant(&self, grant: &Grant) -> Result<(), FirewallError>;
    /// Stops the client passing. Revoking a client that is not there is not an error.
    fn revoke(&self, mac: MacAddr) -> Result<(), FirewallError>;
    /// Makes the set of clients through exactly `grants` (start-up, after a crash or reload).
    fn reconcile(&self, grants: &[Grant]) -> Result<(), FirewallError>;
    /// Byte counters of every client through, read in one call. Counters count IP bytes and
    /// survive [`Firewall::grant`] changes and reconciles; they restart from zero when the table
    /// had to be re-applied after something else flushed it, so callers treat a decrease as a
    /// reset.
    fn counters(&self) -> Result<BTreeMap<MacAddr, Counters>, FirewallError>;
    /// Applies the remembered state again, after something else flushed the ruleset (OpenWrt's
    /// fw4 reload does).
    fn reapply(&self) -> Result<(), FirewallError> {
        Ok(())
    }
    /// The daemon is stopping: takes every client out or leaves them through, as configured.
    fn stop(&self) -> Result<(), FirewallError> {
        Ok(())
    }
}

/// A firewall that enforces nothing and records what it was told, for tests of the session logic.
#[derive(Debug, Default)]
pub struct Recording {
    state: Mutex<RecordingState>,
}

#[derive(Debug, Default)]
struct RecordingState {
    granted: BTreeMap<MacAddr, (Grant, Counters)>,
    calls: Vec<String>,
}

impl Recording {
    /// The clients currently through.
    pub fn granted(&self) -> Vec<Grant> {
        self.lock()
            .map(|s| s.granted.values().map(|(g, _)| g.clone()).collect())
            .unwrap_or_default()
    }

    /// Every call so far, as `grant aa:..`, `revoke aa:..`, `reconcile N`, `reapply`, `stop`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().map(|s| s.calls.clone()).unwrap_or_default()
    }

    /// Adds traffic to a client's counters, as if it had moved bytes.
    pub fn add_traffic(&self, mac: MacAddr, up: u64, down: u64) {
        if let Ok(mut s) = self.lock()
            && let Some((_, c)) = s.granted.get_mut(&mac)
        {
            c.bytes_up += up;
            c.bytes_down += down;
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, RecordingState>, FirewallError> {
        self.state.lock().map_err(|_| FirewallError::Poisoned)
    }
}

impl Firewall for Recording {
    fn grant(&self, grant: &Grant) -> Result<(), FirewallError> {
        let mut s = self.lock()?;
        s.calls.push(format!("grant {}", grant.mac));
        let counters = s
            .granted
            .get(&grant.mac)
            .map(|(_, c)| *c)
            .unwrap_or_default();
        s.granted.insert(grant.mac, (grant.clone(), counters));
        Ok(())
    }

    fn revoke(&self, mac: MacAddr) -> Result<(), FirewallError> {
        let mut s = self.lock()?;
        s.calls.push(format!("revoke {mac}"));
        s.granted.remove(&mac);
        Ok(())
    }

    fn reconcile(&self, grants: &[Grant]) -> Result<(), FirewallError> {
        let mut s = self.lock()?;
        s.calls.push(format!("reconcile {}", grants.len()));
        let old = std::mem::take(&mut s.granted);
        for g in grants {
            let counters = old.get(&g.mac).map(|(_, c)| *c).unwrap_or_default();
            s.granted.insert(g.mac, (g.clone(), counters));
        }
        Ok(())
    }

    fn reapply(&self) -> Result<(), FirewallError> {
        self.lock()?.calls.push("reapply".into());
        Ok(())
    }

    fn stop(&self) -> Result<(), FirewallError> {
        self.lock()?.calls.push("stop".into());
        Ok(())
    }

    fn counters(&self) -> Result<BTreeMap<MacAddr, Counters>, FirewallError> {
        Ok(self
            .lock()?
            .granted
            .iter()
            .map(|(m, (_, c))| (*m, *c))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(mac: &str, down: u32) -> Grant {
        Grant {
            mac: mac.parse().unwrap(),
            addrs: vec![],
            down_kbps: down,
            up_kbps: down / 2,
        }
    }

    #[test]
    fn recording_keeps_counters_across_rate_changes_and_drops_them_on_revoke() {
        let fw = Recording::default();
        let a = grant("02:00:00:00:00:01", 2000);
        fw.grant(&a).unwrap();
        fw.add_traffic(a.mac, 10, 20);
        fw.grant(&grant("02:00:00:00:00:01", 5000)).unwrap();
        assert_eq!(
            fw.counters().unwrap()[&a.mac],
            Counters {
                bytes_up: 10,
                bytes_down: 20
            }
        );
        assert_eq!(fw.granted()[0].down_kbps, 5000);
        fw.revoke(a.mac).unwrap();
        fw.revoke(a.mac).unwrap();
        assert!(fw.counters().unwrap().is_empty());
        assert_eq!(fw.calls().len(), 4);
    }

    #[test]
    fn reconcile_makes_the_set_exact() {
        let fw = Recording::default();
        fw.grant(&grant("02:00:00:00:00:01", 1)).unwrap();
        fw.grant(&grant("02:00:00:00:00:02", 1)).unwrap();
        fw.reconcile(&[grant("02:00:00:00:00:02", 1), grant("02:00:00:00:00:03", 1)])
            .unwrap();
        let macs: Vec<String> = fw.granted().iter().map(|g| g.mac.to_string()).collect();
        assert_eq!(macs, ["02:00:00:00:00:02", "02:00:00:00:00:03"]);
    }
}
