//! Voucher guessing throttle: after `max_failures` wrong codes a client waits, and each further
//! wrong code doubles the wait up to a ceiling. Pure: every call takes `now`.
//!
//! Kept in memory, keyed by the client's MAC (its IP when the MAC is unknown): a restart forgets
//! it, which costs a guesser one restart of the router per few tries.

use std::collections::HashMap;

use crate::config::VoucherSettings;

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

/// Records of every client, bounded in size.
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    records: HashMap<String, Record>,
}

/// Most clients remembered; beyond it, forgotten records are dropped first.
const MAX_RECORDS: usize = 4096;

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            records: HashMap::new(),
        }
    }

    pub fn check(&self, key: &str, now: i64) -> Result<(), i64> {
        match self.records.get(key) {
            Some(r) => self.policy.check(r, now),
            None => Ok(()),
        }
    }

    pub fn fail(&mut self, key: &str, now: i64) -> Option<i64> {
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

    /// A successful login clears the client's record.
    pub fn succeed(&mut self, key: &str) {
        self.records.remove(key);
    }
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
