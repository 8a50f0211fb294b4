//! Voucher guessing throttle: after `max_failures` wrong codes a client waits, and each further
//! wrong code doubles the wait up to a ceiling. Pure: every call takes `now`.
//!
//! Keyed by the client's MAC (its IP when the MAC is unknown). A guest rotating its MAC starts
//! every new MAC with a clean record, so the site as a whole has a budget too: [`SITE_BURST`]
//! wrong codes, one more every [`SITE_REFILL_SECS`]; when it is spent every client waits for the
//! next one. The price: a guesser can keep everyone's voucher entry at that pace (payments and
//! registered devices do not go through the throttle).
//!
//! Records are written to the `voucher_throttle` table ([`save`]) and read back at start
//! ([`load`]), so a restart of the router does not reset a guesser's wait.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::config::VoucherSettings;
use crate::store::StoreError;

/// Wrong codes the whole site may see at once before everyone waits.
pub const SITE_BURST: u32 = 30;
/// One more site-wide wrong code is allowed every this many seconds (360 an hour).
pub const SITE_REFILL_SECS: i64 = 10;
/// The key of the site-wide record in the table (no MAC or IP looks like it).
pub const SITE_KEY: &str = "*";

/// A client's recent failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    pub failures: u32,
    pub last_failure: i64,
    pub blocked_until: i64,
}

/// The rules, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_failures: u32,
    pub cooldown: i64,
    pub max_cooldown: i64,
}

impl Policy {
    pub fn from_settings(s: &VoucherSettings) -> Self {
        Self {
            max_failures: s.max_failures,
            cooldown: s.cooldown_secs,
            max_cooldown: s.max_cooldown_secs,
        }
    }

    /// Failures older than this are forgotten.
    fn forget_after(&self) -> i64 {
        self.max_cooldown.max(3600)
    }

    /// `Err(seconds to wait)` when the client must not try now.
    pub fn check(&self, r: &Record, now: i64) -> Result<(), i64> {
        if now < r.blocked_until {
            Err(r.blocked_until - now)
        } else {
            Ok(())
        }
    }

    /// Records a wrong code; returns the wait it starts, if any.
    pub fn fail(&self, r: &mut Record, now: i64) -> Option<i64> {
        if now - r.last_failure > self.forget_after() {
            *r = Record::default();
        }
        r.failures = r.failures.saturating_add(1);
        r.last_failure = now;
        if r.failures < self.max_failures {
            return None;
        }
        let doublings = (r.failures - self.max_failures).min(30);
        let wait = self
            .cooldown
            .saturating_mul(1i64 << doublings)
            .min(self.max_cooldown);
        r.blocked_until = now + wait;
        Some(wait)
    }
}

/// Records of every client, bounded in size, and the site-wide bucket.
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    records: HashMap<String, Record>,
    /// `failures`: wrong codes in the site bucket as of `last_failure`.
    site: Record,
}

/// Most clients remembered; beyond it, forgotten records are dropped first.
const MAX_RECORDS: usize = 4096;

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            records: HashMap::new(),
            site: Record::default(),
        }
    }

    /// Takes over records read back by [`load`] (the site's under [`SITE_KEY`]).
    pub fn restore(&mut self, rows: Vec<(String, Record)>) {
        for (key, r) in rows {
            if key == SITE_KEY {
                self.site = r;
            } else if self.records.len() < MAX_RECORDS {
                self.records.insert(key, r);
            }
        }
    }

    /// The site bucket brought up to `now`: one wrong code leaves it per refill period.
    fn site_at(&self, now: i64) -> Record {
        let mut s = self.site;
        let elapsed = (now - s.last_failure).max(0);
        let drained = elapsed / SITE_REFILL_SECS;
        let left = i64::from(s.failures).saturating_sub(drained).max(0);
        s.failures = u32::try_from(left).unwrap_or(0);
        s.last_failure = if s.failures == 0 {
            now
        } else {
            s.last_failure + drained * SITE_REFILL_SECS
        };
        s
    }

    pub fn check(&self, key: &str, now: i64) -> Result<(), i64> {
        if let Some(r) = self.records.get(key) {
            self.policy.check(r, now)?;
        }
        let site = self.site_at(now);
        if site.failures >= SITE_BURST {
            return Err((site.last_failure + SITE_REFILL_SECS - now).max(1));
        }
        Ok(())
    }

    /// Records a wrong code for `key` and the site; returns the wait it starts, if any.
    pub fn fail(&mut self, key: &str, now: i64) -> Option<i64> {
        self.site = self.site_at(now);
        self.site.failures = self.site.failures.saturating_add(1);
        if self.records.len() >= MAX_RECORDS && !self.records.contains_key(key) {
            let horizon = now - self.policy.forget_after();
            self.records
                .retain(|_, r| r.blocked_until > now || r.last_failure > horizon);
            if self.records.len() >= MAX_RECORDS {
                return None;
            }
        }
        let r = self.records.entry(key.to_owned()).or_default();
        self.policy.fail(r, now)
    }

    /// A successful login clears the client's record (not the site's).
    pub fn succeed(&mut self, key: &str) {
        self.records.remove(key);
    }

    /// The rows to store after a change to `key`: its record (`None`: delete it) and the site's.
    pub fn rows(&self, key: &str) -> [(String, Option<Record>); 2] {
        [
            (key.to_owned(), self.records.get(key).copied()),
            (SITE_KEY.to_owned(), Some(self.site)),
        ]
    }
}

/// Writes `rows` (from [`Throttle::rows`]) to the `voucher_throttle` table.
pub fn save(c: &Connection, rows: &[(String, Option<Record>)]) -> Result<(), StoreError> {
    for (key, record) in rows {
        match record {
            Some(r) => {
                c.prepare_cached(
                    "INSERT INTO voucher_throttle (key, failures, last_failure, blocked_until)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
                         last_failure = excluded.last_failure,
                         blocked_until = excluded.blocked_until
                     WHERE excluded.last_failure >= voucher_throttle.last_failure",
                )?
                .execute(params![
                    key,
                    r.failures,
                    r.last_failure,
                    r.blocked_until
                ])?;
            }
            None => {
                c.prepare_cached("DELETE FROM voucher_throttle WHERE key = ?1")?
                    .execute(params![key])?;
            }
        }
    }
    Ok(())
}

/// The stored records worth keeping at `now` (blocked, or failures not yet forgotten), at most
/// as many as the throttle remembers.
pub fn load(
    c: &Connection,
    policy: &Policy,
    now: i64,
) -> Result<Vec<(String, Record)>, StoreError> {
    let horizon = now - policy.forget_after();
    let mut stmt = c.prepare(
        "SELECT key, failures, last_failure, blocked_until FROM voucher_throttle
         WHERE key = ?1 OR blocked_until > ?2 OR last_failure > ?3
         ORDER BY last_failure DESC LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(
            params![SITE_KEY, now, horizon, MAX_RECORDS as i64 + 1],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Record {
                        failures: r.get(1)?,
                        last_failure: r.get(2)?,
                        blocked_until: r.get(3)?,
                    },
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        max_failures: 5,
        cooldown: 30,
        max_cooldown: 100,
    };

    #[test]
    fn five_failures_then_growing_waits() {
        let mut t = Throttle::new(P);
        for i in 0..4 {
            assert_eq!(t.fail("m", 1000 + i), None);
            assert_eq!(t.check("m", 1000 + i), Ok(()));
        }
        assert_eq!(t.fail("m", 1004), Some(30));
        assert_eq!(t.check("m", 1010), Err(24));
        assert_eq!(t.check("other", 1010), Ok(()));
        assert_eq!(t.check("m", 1034), Ok(()));
        assert_eq!(t.fail("m", 1034), Some(60));
        assert_eq!(t.fail("m", 1094), Some(100), "capped");
    }

    #[test]
    fn a_guest_rotating_its_mac_meets_the_site_wide_budget() {
        let mut t = Throttle::new(P);
        // One wrong code from each of many MACs: no client reaches its own limit.
        for i in 0..SITE_BURST {
            let mac = format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256);
            assert_eq!(t.check(&mac, 1000), Ok(()), "try {i}");
            assert_eq!(t.fail(&mac, 1000), None);
        }
        // The budget is spent: a new MAC, and everyone else, waits for the next refill.
        assert_eq!(t.check("02:00:00:00:ff:ff", 1000), Err(SITE_REFILL_SECS));
        assert_eq!(
            t.check("02:00:00:00:ff:ff", 1004),
            Err(SITE_REFILL_SECS - 4)
        );
        assert_eq!(
            t.check("02:00:00:00:ff:ff", 1000 + SITE_REFILL_SECS),
            Ok(())
        );
        t.fail("02:00:00:00:ff:ff", 1000 + SITE_REFILL_SECS);
        assert!(
            t.check("x", 1000 + SITE_REFILL_SECS).is_err(),
            "one refill, one try"
        );
        // Over an hour, at most the burst plus one per refill period get through.
        let mut tries = 0;
        for s in 0..3600 {
            let now = 2000 + s;
            let mac = format!("m{s}");
            if t.check(&mac, now).is_ok() {
                tries += 1;
                t.fail(&mac, now);
            }
        }
        assert!(
            tries <= SITE_BURST as i64 + 3600 / SITE_REFILL_SECS,
            "{tries}"
        );
        assert!(tries >= 3600 / SITE_REFILL_SECS - 1, "{tries}");
    }

    #[test]
    fn records_survive_a_restart_through_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.db");
        drop(crate::store::Store::open(&path).unwrap()); // the schema, as the daemon makes it
        let c = Connection::open(&path).unwrap();
        let mut t = Throttle::new(P);
        for i in 0..5 {
            t.fail("m", 1000 + i);
            save(&c, &t.rows("m")).unwrap();
        }
        for i in 0..SITE_BURST {
            let key = format!("k{i}");
            t.fail(&key, 1004);
            save(&c, &t.rows(&key)).unwrap();
        }
        assert!(t.check("m", 1010).is_err());
        assert!(t.check("new", 1010).is_err());
        // A restart: a new throttle from what was stored.
        let mut again = Throttle::new(P);
        again.restore(load(&c, &P, 1010).unwrap());
        assert_eq!(again.check("m", 1010), t.check("m", 1010));
        assert_eq!(again.check("new", 1010), t.check("new", 1010));
        // A success deletes the client's row; forgotten rows are not loaded.
        again.succeed("m");
        save(&c, &again.rows("m")).unwrap();
        let later = load(&c, &P, 1004 + 7200).unwrap();
        assert_eq!(later.iter().filter(|(k, _)| k == "m").count(), 0);
        assert_eq!(later.len(), 1, "only the site's row: {later:?}");
    }

    #[test]
    fn success_and_time_forget() {
        let mut t = Throttle::new(P);
        for i in 0..5 {
            t.fail("m", i);
        }
        assert!(t.check("m", 5).is_err());
        t.succeed("m");
        assert_eq!(t.check("m", 5), Ok(()));
        for i in 0..4 {
            t.fail("n", i);
        }
        assert_eq!(t.fail("n", 10_000), None, "old failures forgotten");
    }
}
