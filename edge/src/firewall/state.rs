//! What the nftables backend last applied, kept so the table can be rebuilt at any time: after
//! OpenWrt's fw4 reload flushed the ruleset, or when a one-client change finds the table not as
//! expected.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use hotspot_shared::MacAddr;

use super::render::{ClientId, Tiers, client_ids, dedupe};
use super::{Counters, Grant};

/// The clients through, as applied to the kernel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    clients: BTreeMap<MacAddr, Grant>,
    /// Whose each address is: download counters are kept per address.
    owners: BTreeMap<IpAddr, MacAddr>,
    /// Bytes counted before the table was last rebuilt (the kernel's counters restart at zero
    /// with every new element), added to what the kernel reports.
    base: BTreeMap<MacAddr, Counters>,
    /// The rate tiers the table has.
    tiers: Tiers,
    /// Each client's download id (the mark its download is policed by), as in the table.
    ids: BTreeMap<MacAddr, ClientId>,
    /// Ids below `next_id` that no client holds (freed by revokes), smallest first.
    free_ids: BTreeSet<ClientId>,
    /// The smallest id never handed out since the last rebuild.
    next_id: ClientId,
}

impl Applied {
    /// The state after a rebuild from `grants` ([`dedupe`]d, as the rebuild is), with `base`
    /// bytes carried over.
    pub fn from_grants(grants: &[Grant], base: BTreeMap<MacAddr, Counters>) -> Self {
        let mut s = Applied::default();
        let grants = dedupe(grants);
        s.ids = client_ids(&grants);
        s.next_id = ClientId::try_from(s.ids.len())
            .unwrap_or(ClientId::MAX)
            .saturating_add(1);
        for g in grants {
            s.set(g);
        }
        s.base = base
            .into_iter()
            .filter(|(m, _)| s.clients.contains_key(m))
            .collect();
        s
    }

    /// The grant applied for `mac`, if any.
    pub fn get(&self, mac: MacAddr) -> Option<&Grant> {
        self.clients.get(&mac)
    }

    /// `grant` without the addresses another client already holds (the first holder keeps an
    /// address, as in a rebuild).
    pub fn without_foreign_addrs(&self, grant: &Grant) -> Grant {
        let mut g = grant.clone();
        g.addrs
            .retain(|a| self.owners.get(a).is_none_or(|m| *m == grant.mac));
        g.addrs.dedup();
        g
    }

    /// The download id of `mac`: the one it has, or for a client not through the smallest id
    /// no client holds (what [`Applied::set`] will record).
    pub fn id(&self, mac: MacAddr) -> ClientId {
        if let Some(id) = self.ids.get(&mac) {
            return *id;
        }
        self.free_ids
            .first()
            .copied()
            .unwrap_or(self.next_id.max(1))
    }

    /// Records `grant` as applied (with the id [`Applied::id`] gives it).
    pub fn set(&mut self, grant: Grant) {
        let id = self.id(grant.mac);
        if self.ids.insert(grant.mac, id).is_none() {
            self.free_ids.remove(&id);
            self.next_id = self.next_id.max(id.saturating_add(1));
        }
        if let Some(old) = self.clients.get(&grant.mac) {
            for a in &old.addrs {
                self.owners.remove(a);
            }
        }
        for a in &grant.addrs {
            self.owners.insert(*a, grant.mac);
        }
        self.tiers.add(&grant);
        self.clients.insert(grant.mac, grant);
    }

    /// Records `mac` as gone.
    pub fn remove(&mut self, mac: MacAddr) -> Option<Grant> {
        let g = self.clients.remove(&mac)?;
        if let Some(id) = self.ids.remove(&mac) {
            self.free_ids.insert(id);
        }
        for a in &g.addrs {
            self.owners.remove(a);
        }
        self.base.remove(&mac);
        Some(g)
    }

    /// Every applied grant, in MAC order.
    pub fn grants(&self) -> Vec<Grant> {
        self.clients.values().cloned().collect()
    }

    /// The rate tiers in the table (kept after their last client left, until a rebuild).
    pub fn tiers(&self) -> &Tiers {
        &self.tiers
    }

    /// Address → client, for reading download counters.
    pub fn owners(&self) -> &BTreeMap<IpAddr, MacAddr> {
        &self.owners
    }

    /// Bytes carried over from before the last rebuild.
    pub fn base(&self, mac: MacAddr) -> Counters {
        self.base.get(&mac).copied().unwrap_or_default()
    }

    /// Every client's counters: `kernel` (as read now) plus the carried-over bytes. Clients the
    /// kernel did not list count from their carried bytes alone.
    pub fn totals(&self, kernel: &BTreeMap<MacAddr, Counters>) -> BTreeMap<MacAddr, Counters> {
        self.clients
            .keys()
            .map(|m| {
                let k = kernel.get(m).copied().unwrap_or_default();
                let b = self.base(*m);
                (
                    *m,
                    Counters {
                        bytes_up: k.bytes_up + b.bytes_up,
                        bytes_down: k.bytes_down + b.bytes_down,
                    },
                )
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(n: u8, addrs: &[&str]) -> Grant {
        Grant {
            mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            down_kbps: 0,
            up_kbps: 0,
        }
    }

    #[test]
    fn addresses_belong_to_their_first_holder_and_follow_changes() {
        let mut s = Applied::from_grants(&[g(1, &["10.0.0.1"])], BTreeMap::new());
        assert_eq!(
            s.without_foreign_addrs(&g(2, &["10.0.0.1", "10.0.0.2"]))
                .addrs,
            vec!["10.0.0.2".parse::<IpAddr>().unwrap()]
        );
        s.set(g(1, &["10.0.0.3"]));
        assert_eq!(s.owners().len(), 1);
        assert_eq!(s.without_foreign_addrs(&g(2, &["10.0.0.1"])).addrs.len(), 1);
        s.remove(g(1, &[]).mac);
        assert!(s.owners().is_empty() && s.is_empty());
    }

    #[test]
    fn download_ids_are_unique_match_a_rebuild_and_are_reused_after_a_revoke() {
        let grants = [g(1, &[]), g(2, &[]), g(1, &[]), g(3, &[])];
        let mut s = Applied::from_grants(&grants, BTreeMap::new());
        assert_eq!(
            (
                s.id(g(1, &[]).mac),
                s.id(g(2, &[]).mac),
                s.id(g(3, &[]).mac)
            ),
            (1, 2, 3)
        );
        assert_eq!(client_ids(&dedupe(&grants))[&g(3, &[]).mac], 3);
        s.remove(g(2, &[]).mac);
        assert_eq!(s.id(g(9, &[]).mac), 2);
        s.set(g(9, &[]));
        assert_eq!(s.id(g(9, &[]).mac), 2);
        assert_eq!(s.id(g(8, &[]).mac), 4);
        s.set(g(1, &["10.0.0.1"]));
        assert_eq!(s.id(g(1, &[]).mac), 1, "a change keeps the id");
    }

    #[test]
    fn totals_add_the_carried_bytes_and_forget_revoked_clients() {
        let mac = g(1, &[]).mac;
        let base = BTreeMap::from([
            (
                mac,
                Counters {
                    bytes_up: 10,
                    bytes_down: 20,
                },
            ),
            (
                g(9, &[]).mac,
                Counters {
                    bytes_up: 1,
                    bytes_down: 1,
                },
            ),
        ]);
        let mut s = Applied::from_grants(&[g(1, &["10.0.0.1"])], base);
        let kernel = BTreeMap::from([(
            mac,
            Counters {
                bytes_up: 1,
                bytes_down: 2,
            },
        )]);
        assert_eq!(
            s.totals(&kernel),
            BTreeMap::from([(
                mac,
                Counters {
                    bytes_up: 11,
                    bytes_down: 22
                }
            )])
        );
        s.remove(mac);
        s.set(g(1, &[]));
        assert_eq!(s.totals(&BTreeMap::new())[&mac], Counters::default());
    }
}
