//! The nftables backend: [`Firewall`] enforced by the kernel through `nft -j -f -`.
//!
//! Owns the product's table ([`render::TABLE`]) and nothing else. Every call renders one batch
//! with [`render`] and applies it as one transaction; the kernel applies all of it or none, so a
//! crash at any moment leaves either the old or the new table. What was applied is remembered in
//! [`Applied`] so [`Firewall::reapply`] can rebuild the table after OpenWrt's fw4 reload flushed
//! the ruleset.
//!
//! This module must not decide who may pass: it enforces what the session logic hands it.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use hotspot_shared::MacAddr;

use super::render::{self, Layout};
use super::state::Applied;
use super::{Counters, Firewall, FirewallError, Grant};

/// How the backend is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftSettings {
    pub layout: Layout,
    /// The `nft` program and any arguments before ours: `["nft"]` on a router; tests use
    /// `["ip", "netns", "exec", "NS", "nft"]` to drive a namespace.
    pub command: Vec<String>,
    /// Whether [`Firewall::stop`] takes every client out (the portal stays enforced either way).
    pub stop_removes_clients: bool,
}

/// The nftables backend.
#[derive(Debug)]
pub struct Nft {
    settings: NftSettings,
    /// What the kernel holds now, as far as this process applied it. Locked for the whole of each
    /// change so two changes never interleave.
    applied: Mutex<Applied>,
}

impl Nft {
    /// A backend that has applied nothing yet: call [`Firewall::reconcile`] first.
    pub fn new(settings: NftSettings) -> Self {
        Nft {
            settings,
            applied: Mutex::new(Applied::default()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Applied>, FirewallError> {
        self.applied.lock().map_err(|_| FirewallError::Poisoned)
    }

    /// Runs nft with `args`, feeding `input`; returns stdout, or stderr in the error.
    fn nft(&self, args: &[&str], input: Option<&str>) -> Result<String, FirewallError> {
        let (program, pre) = self
            .settings
            .command
            .split_first()
            .ok_or_else(|| FirewallError::Nft("no nft command configured".into()))?;
        let mut child = Command::new(program)
            .args(pre)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| FirewallError::Nft(format!("cannot run {program}: {e}")))?;
        // nft reads all its input before it writes anything, so writing first cannot deadlock.
        // A write error (nft gone early) is reported after its exit status and stderr.
        let written = match (input, child.stdin.take()) {
            (Some(text), Some(mut stdin)) => stdin.write_all(text.as_bytes()),
            _ => Ok(()),
        };
        let out = child
            .wait_with_output()
            .map_err(|e| FirewallError::Nft(format!("waiting for {program}: {e}")))?;
        if out.status.success() {
            written.map_err(|e| FirewallError::Nft(format!("writing to {program}: {e}")))?;
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(FirewallError::Nft(format!(
                "{} {} ({}): {}",
                program,
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    fn apply(&self, batch: &[serde_json::Value]) -> Result<(), FirewallError> {
        self.nft(&["-j", "-f", "-"], Some(&render::payload_text(batch)))
            .map(drop)
    }

    /// The kernel's counters (since each element was added), per client.
    fn kernel_counters(
        &self,
        owners: &BTreeMap<IpAddr, MacAddr>,
    ) -> Result<BTreeMap<MacAddr, Counters>, FirewallError> {
        // One nft per counted set, run at the same time (see render::COUNTED_SETS).
        let listings: Vec<Result<String, FirewallError>> = std::thread::scope(|s| {
            let running: Vec<_> = render::COUNTED_SETS
                .iter()
                .map(|name| {
                    s.spawn(move || {
                        self.nft(&["-j", "list", "set", "inet", render::TABLE, name], None)
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(FirewallError::Nft("counter listing panicked".into()))
                    })
                })
                .collect()
        });
        let mut text = String::new();
        for l in listings {
            text.push_str(&l?);
        }
        render::parse_counters(&text, owners).map_err(FirewallError::Nft)
    }

    /// Rebuilds the whole table from `grants`, carrying over the bytes counted so far.
    fn rebuild(&self, applied: &mut Applied, grants: &[Grant]) -> Result<(), FirewallError> {
        // Whose addresses are whose, as applied and as about to be (after a restart only the
        // grants know): the old table's counters are read with both.
        let mut owners = applied.owners().clone();
        for g in render::dedupe(grants) {
            for a in &g.addrs {
                owners.entry(*a).or_insert(g.mac);
            }
        }
        // No table yet (first start, or flushed by a reload): nothing to carry from the kernel.
        let kernel = self.kernel_counters(&owners).unwrap_or_default();
        let base = grants
            .iter()
            .map(|g| {
                let k = kernel.get(&g.mac).copied().unwrap_or_default();
                let b = applied.base(g.mac);
                (
                    g.mac,
                    Counters {
                        bytes_up: k.bytes_up + b.bytes_up,
                        bytes_down: k.bytes_down + b.bytes_down,
                    },
                )
            })
            .collect();
        self.apply(&render::rebuild(&self.settings.layout, grants))?;
        *applied = Applied::from_grants(grants, base);
        Ok(())
    }

    /// Removes the table and every client in it (uninstall). Guests then pass unchecked unless
    /// another firewall stops them.
    pub fn remove(&self) -> Result<(), FirewallError> {
        let mut applied = self.lock()?;
        self.apply(&render::remove_table())?;
        *applied = Applied::default();
        Ok(())
    }

    /// Flowtables of others (OpenWrt's fw4 flow offloading), which let established flows bypass
    /// the forward hook and with it our counters and limits. Reads the ruleset, changes nothing.
    pub fn foreign_flowtables(&self) -> Result<Vec<String>, FirewallError> {
        let text = self.nft(&render::LIST_FLOWTABLES, None)?;
        render::foreign_flowtables(&text).map_err(FirewallError::Nft)
    }

    fn read_counters(&self) -> Result<BTreeMap<MacAddr, Counters>, FirewallError> {
        let applied = self.lock()?;
        let kernel = self.kernel_counters(applied.owners())?;
        Ok(applied.totals(&kernel))
    }
}

impl Firewall for Nft {
    fn grant(&self, grant: &Grant) -> Result<(), FirewallError> {
        let mut applied = self.lock()?;
        let grant = &applied.without_foreign_addrs(grant);
        let id = applied.id(grant.mac);
        let batch = render::grant(applied.tiers(), applied.get(grant.mac), grant, id);
        match self.apply(&batch) {
            Ok(()) => {
                applied.set(grant.clone());
                Ok(())
            }
            Err(e) => {
                // The table is not what we applied (flushed by a reload, changed by hand):
                // rebuild it whole, with this client in.
                tracing::warn!(error = %e, mac = %grant.mac, "one-client change failed; rebuilding the table");
                let mut grants = applied.grants();
                grants.retain(|g| g.mac != grant.mac);
                grants.push(grant.clone());
                self.rebuild(&mut applied, &grants)
            }
        }
    }

    fn revoke(&self, mac: MacAddr) -> Result<(), FirewallError> {
        let mut applied = self.lock()?;
        let Some(previous) = applied.get(mac).cloned() else {
            return Ok(());
        };
        match self.apply(&render::revoke(&previous, applied.id(mac))) {
            Ok(()) => {
                applied.remove(mac);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, %mac, "one-client removal failed; rebuilding the table");
                let mut grants = applied.grants();
                grants.retain(|g| g.mac != mac);
                self.rebuild(&mut applied, &grants)
            }
        }
    }

    fn reconcile(&self, grants: &[Grant]) -> Result<(), FirewallError> {
        match self.foreign_flowtables() {
            Ok(f) if !f.is_empty() => tracing::warn!(
                flowtables = ?f,
                "flow offloading is on: offloaded flows of logged-in clients bypass their rate \
                 limits and byte counters (turn off flow_offloading in /etc/config/firewall)"
            ),
            _ => {}
        }
        let mut applied = self.lock()?;
        self.rebuild(&mut applied, grants)
    }

    fn counters(&self) -> Result<BTreeMap<MacAddr, Counters>, FirewallError> {
        match self.read_counters() {
            Ok(c) => Ok(c),
            Err(e) => {
                // Most likely a fw4 reload flushed the ruleset: put the clients back (their
                // counters restart from zero) rather than leave everyone cut off.
                tracing::warn!(error = %e, "cannot read counters; re-applying the table");
                self.reapply()?;
                self.read_counters()
            }
        }
    }

    fn reapply(&self) -> Result<(), FirewallError> {
        let mut applied = self.lock()?;
        let grants = applied.grants();
        self.rebuild(&mut applied, &grants)
    }

    fn stop(&self) -> Result<(), FirewallError> {
        if self.settings.stop_removes_clients {
            let mut applied = self.lock()?;
            // The table stays: guests not logged in still meet the portal, not an open network.
            self.rebuild(&mut applied, &[])
        } else {
            Ok(())
        }
    }
}
