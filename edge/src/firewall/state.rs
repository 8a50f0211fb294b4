//! What the nftables backend last applied, kept so the table can be rebuilt at any time: after
//! OpenWrt's fw4 reload flushed the ruleset, or when a one-client change finds the table not as
//! expected.

use std::collections::BTreeMap;

use hotspot_shared::MacAddr;

use super::Grant;

/// The clients through, as applied to the kernel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    clients: BTreeMap<MacAddr, Grant>,
}

impl Applied {
    /// The state after a rebuild from `grants` (later duplicates of a MAC are ignored, as
    /// [`super::render::rebuild`] does).
    pub fn from_grants(grants: &[Grant]) -> Self {
        let mut clients = BTreeMap::new();
        for g in grants {
            clients.entry(g.mac).or_insert_with(|| g.clone());
        }
        Applied { clients }
    }

    /// The grant applied for `mac`, if any.
    pub fn get(&self, mac: MacAddr) -> Option<&Grant> {
        self.clients.get(&mac)
    }

    /// Records `grant` as applied.
    pub fn set(&mut self, grant: Grant) {
        self.clients.insert(grant.mac, grant);
    }

    /// Records `mac` as gone.
    pub fn remove(&mut self, mac: MacAddr) -> Option<Grant> {
        self.clients.remove(&mac)
    }

    /// Every applied grant, in MAC order.
    pub fn grants(&self) -> Vec<Grant> {
        self.clients.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}
