//! Plan and quota arithmetic: what a session may still use and when it must end.
//!
//! Times are unix seconds and amounts bytes, passed in by the caller; nothing here reads a clock.
//! A megabyte is 1,048,576 bytes, as phones and operators' bundles count it.

/// Bytes in one megabyte of a plan or voucher (`data_limit_mb`).
pub const MB: u64 = 1_048_576;

/// What a session is allowed: an absolute end time and a byte allowance, each optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Unix second at which the session's time runs out.
    pub ends_at: Option<i64>,
    /// Bytes (up plus down) the session may move in total.
    pub data_bytes: Option<u64>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Its time ran out.
    Time,
    /// Its data allowance ran out.
    Data,
    /// No traffic for the idle timeout.
    Idle,
    /// The guest logged out.
    Logout,
    /// An operator ended it.
    Kick,
    /// The device was blocked.
    Blocked,
    /// The cloud refused the offline redemption it began with (`sync::EdgeAction::EndSession`).
    Refused,
}

impl EndReason {
    /// The stored and synced name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Time => "time",
            EndReason::Data => "data",
            EndReason::Idle => "idle",
            EndReason::Logout => "logout",
            EndReason::Kick => "kick",
            EndReason::Blocked => "blocked",
            EndReason::Refused => "refused",
        }
    }
}

impl Limits {
    /// Seconds left at `now`, `None` when time is unlimited.
    pub fn seconds_remaining(&self, now: i64) -> Option<u64> {
        self.ends_at
            .map(|end| end.saturating_sub(now).max(0) as u64)
    }

    /// Bytes left after `used`, `None` when data is unlimited.
    pub fn bytes_remaining(&self, used: u64) -> Option<u64> {
        self.data_bytes.map(|limit| limit.saturating_sub(used))
    }

    /// These limits with `secs` more time and `bytes` more data at `now` (a voucher top-up, an
    /// operator's extension): time from the later of now and the current end, so time already
    /// run out is not given back twice; a limit the session does not have (unlimited) stays
    /// unlimited.
    pub fn extended(self, secs: Option<i64>, bytes: Option<u64>, now: i64) -> Limits {
        Limits {
            ends_at: match (self.ends_at, secs) {
                (Some(end), Some(more)) => Some(end.max(now).saturating_add(more.max(0))),
                (end, _) => end,
            },
            data_bytes: match (self.data_bytes, bytes) {
                (Some(d), Some(more)) => Some(d.saturating_add(more)),
                (d, _) => d,
            },
        }
    }

    /// Whether a session with these limits, having moved `used` bytes and last seen moving
    /// traffic at `last_activity`, must end at `now`, and why. Time is checked before data and
    /// data before idleness, so the guest is told the most useful reason.
    pub fn verdict(
        &self,
        used: u64,
        last_activity: i64,
        idle_timeout: i64,
        now: i64,
    ) -> Option<EndReason> {
        if self.ends_at.is_some_and(|end| now >= end) {
            return Some(EndReason::Time);
        }
        if self.data_bytes.is_some_and(|limit| used >= limit) {
            return Some(EndReason::Data);
        }
        if now.saturating_sub(last_activity) >= idle_timeout {
            return Some(EndReason::Idle);
        }
        None
    }
}

/// The limits of a voucher for a session starting now: time counts from the voucher's first use
/// (shared by all its devices), data from what all its sessions have used.
pub fn voucher_limits(
    first_used_at: i64,
    duration_minutes: Option<i64>,
    data_limit_mb: Option<i64>,
) -> Limits {
    Limits {
        ends_at: duration_minutes.map(|m| first_used_at.saturating_add(m.max(0) * 60)),
        data_bytes: data_limit_mb.map(|mb| (mb.max(0) as u64).saturating_mul(MB)),
    }
}

/// Bytes moved since the last reading of a cumulative firewall counter. A reading below the last
/// one means the counter restarted (a reboot or a re-added client): all of it is new.
pub fn counter_delta(last: u64, reading: u64) -> u64 {
    if reading >= last {
        reading - last
    } else {
        reading
    }
}

/// A plan's rate in Mbit/s (as `bandwidth_allocation` stores it) in kbit/s; 0 stays unlimited.
pub fn mbps_to_kbps(mbps: i64) -> u32 {
    mbps.clamp(0, i64::from(u32::MAX / 1000)) as u32 * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_adds_to_what_is_left_and_keeps_unlimited_unlimited() {
        let l = Limits {
            ends_at: Some(1_000),
            data_bytes: Some(5 * MB),
        };
        // Before the end: added to the end. After it: counted from now.
        assert_eq!(l.extended(Some(600), None, 900).ends_at, Some(1_600));
        assert_eq!(l.extended(Some(600), None, 1_200).ends_at, Some(1_800));
        assert_eq!(
            l.extended(None, Some(3 * MB), 900),
            Limits {
                ends_at: Some(1_000),
                data_bytes: Some(8 * MB)
            }
        );
        let unlimited = Limits::default();
        assert_eq!(
            unlimited.extended(Some(600), Some(MB), 900),
            Limits::default()
        );
        assert_eq!(
            l.extended(Some(i64::MAX), Some(u64::MAX), 0),
            Limits {
                ends_at: Some(i64::MAX),
                data_bytes: Some(u64::MAX)
            }
        );
    }

    #[test]
    fn time_then_data_then_idle() {
        let l = Limits {
            ends_at: Some(1000),
            data_bytes: Some(10 * MB),
        };
        assert_eq!(l.verdict(0, 900, 300, 999), None);
        assert_eq!(l.verdict(0, 900, 300, 1000), Some(EndReason::Time));
        assert_eq!(l.verdict(10 * MB, 900, 300, 999), Some(EndReason::Data));
        assert_eq!(l.verdict(10 * MB - 1, 600, 300, 900), Some(EndReason::Idle));
        assert_eq!(l.verdict(10 * MB - 1, 601, 300, 900), None);
        let unlimited = Limits::default();
        assert_eq!(unlimited.verdict(u64::MAX, 0, 300, 299), None);
        assert_eq!(unlimited.seconds_remaining(5), None);
        assert_eq!(unlimited.bytes_remaining(5), None);
    }

    #[test]
    fn remaining_never_goes_negative() {
        let l = voucher_limits(100, Some(2), Some(1));
        assert_eq!(l.ends_at, Some(220));
        assert_eq!(l.seconds_remaining(200), Some(20));
        assert_eq!(l.seconds_remaining(500), Some(0));
        assert_eq!(l.bytes_remaining(MB / 2), Some(MB / 2));
        assert_eq!(l.bytes_remaining(2 * MB), Some(0));
    }

    #[test]
    fn counters_that_restart_are_not_negative() {
        assert_eq!(counter_delta(100, 150), 50);
        assert_eq!(counter_delta(100, 100), 0);
        assert_eq!(counter_delta(100, 30), 30);
    }

    #[test]
    fn megabits_to_kilobits() {
        assert_eq!(mbps_to_kbps(5), 5000);
        assert_eq!(mbps_to_kbps(0), 0);
        assert_eq!(mbps_to_kbps(-3), 0);
    }
}
