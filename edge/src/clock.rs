//! Time as the daemon sees it: a seam, because routers have no real-time clock (time jumps when
//! NTP first syncs) and tests move time by hand.
//!
//! Also the calendar arithmetic the store needs (UTC dates of unix seconds), kept pure, and the
//! [`EdgeClock`] reading every sync event carries:
//!
//! - `boot_id`: `/proc/sys/kernel/random/boot_id`, new on every boot;
//! - `uptime_ms`: milliseconds since boot on the boot clock (`/proc/uptime`, i.e.
//!   `CLOCK_BOOTTIME`, which never jumps when NTP sets the wall clock);
//! - `wall_ms`: the wall clock;
//! - `wall_trusted`: the wall clock reads later than [`NOT_BEFORE_MS`] (a router without a
//!   real-time clock boots in 1970, or at its firmware's date) and, where the system can say
//!   (systemd-timesyncd's mark file), it is synchronised. See [`wall_trusted`] and its limits.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

use hotspot_shared::sync::EdgeClock;
use uuid::Uuid;

/// A wall clock earlier than this (2026-11-01 UTC, before this code was written) is certainly
/// wrong: a router without a real-time clock that has not synced yet.
pub const NOT_BEFORE_MS: i64 = 1_793_491_200_000;

/// A source of the current time in unix seconds.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;

    /// The reading stamped on sync events. `wall_ms` agrees with [`Clock::now`].
    fn reading(&self) -> EdgeClock {
        system_reading_at(self.now().saturating_mul(1000))
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        wall_ms().div_euclid(1000)
    }

    fn reading(&self) -> EdgeClock {
        system_reading_at(wall_ms())
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The unix second of a reading.
pub fn secs_of(at: &EdgeClock) -> i64 {
    at.wall_ms.div_euclid(1000)
}

/// This boot's id, read once. A machine without it (not Linux, or no procfs) gets a random id
/// per process start: readings are then only comparable within one run, which is still right.
pub fn boot_id() -> Uuid {
    static ID: OnceLock<Uuid> = OnceLock::new();
    *ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .and_then(|t| parse_boot_id(&t))
            .unwrap_or_else(Uuid::new_v4)
    })
}

/// Parses the kernel's `boot_id` file (a UUID and a newline).
pub fn parse_boot_id(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim()).ok()
}

/// Milliseconds since boot on the boot clock: `/proc/uptime`, which the kernel reads from
/// `CLOCK_BOOTTIME` (10 ms resolution is plenty for placing events). Without procfs, the time
/// since this process first asked (still monotonic, so never going back).
pub fn uptime_ms() -> u64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| parse_uptime_ms(&t))
        .unwrap_or_else(|| {
            static START: OnceLock<std::time::Instant> = OnceLock::new();
            START
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_millis() as u64
        })
}

/// Parses `/proc/uptime` ("12345.67 54321.00") into milliseconds.
pub fn parse_uptime_ms(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    let secs: f64 = first.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as u64)
}

/// Where systemd-timesyncd marks a synchronised clock (it creates the file once synced).
const TIMESYNCD_MARK: &str = "/run/systemd/timesync/synchronized";

/// Whether the system says its wall clock is synchronised; `None` when it has no way to say.
/// systemd-timesyncd leaves a mark file; OpenWrt's busybox ntpd leaves nothing a program can
/// read (the kernel's `adjtimex` status would say, but this crate has no unsafe code to call it),
/// so there only the date heuristic of [`wall_trusted`] applies.
pub fn kernel_synced() -> Option<bool> {
    let timesyncd = std::path::Path::new("/run/systemd/timesync");
    if timesyncd.is_dir() {
        return Some(std::path::Path::new(TIMESYNCD_MARK).exists());
    }
    None
}

/// Whether to trust a wall clock reading: never before [`NOT_BEFORE_MS`]; after it, what the
/// kernel says when it can say, else the date alone.
pub fn wall_trusted(wall_ms: i64, kernel_synced: Option<bool>) -> bool {
    wall_ms >= NOT_BEFORE_MS && kernel_synced.unwrap_or(true)
}

/// A reading of this machine's boot clock with `wall_ms` as the wall clock.
pub fn system_reading_at(wall_ms: i64) -> EdgeClock {
    EdgeClock {
        boot_id: boot_id(),
        uptime_ms: uptime_ms(),
        wall_ms,
        wall_trusted: wall_trusted(wall_ms, kernel_synced()),
    }
}

/// A clock tests set and advance. Its readings are of one pretend boot that started at the
/// time it was made with, wall clock trusted.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64, i64);

impl ManualClock {
    /// The boot id of every [`ManualClock`] reading.
    pub const BOOT_ID: Uuid = Uuid::from_u128(0x5e55_1015);

    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now), now)
    }
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn reading(&self) -> EdgeClock {
        let now = self.now();
        EdgeClock {
            boot_id: Self::BOOT_ID,
            uptime_ms: (now - self.1).max(0) as u64 * 1000,
            wall_ms: now * 1000,
            wall_trusted: true,
        }
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC date of a unix second as `YYYY-MM-DD`.
pub fn date_of(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A unix second as `YYYY-MM-DD HH:MM UTC`.
pub fn datetime_of(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        date_of(unix),
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// Parses `YYYY-MM-DD` (the end of that UTC day), `YYYY-MM-DDTHH:MM:SSZ`, or unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 12 {
        return s.parse().ok();
    }
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if d == 0 || civil_from_days(days) != (y, m, d) {
        return None;
    }
    match time {
        None => Some(days * 86_400 + 86_399),
        Some(t) => {
            let t = t.strip_suffix('Z').unwrap_or(t);
            let mut p = t.split(':');
            let hh: i64 = p.next()?.parse().ok()?;
            let mm: i64 = p.next()?.parse().ok()?;
            let ss: i64 = p.next().map(str::parse).unwrap_or(Ok(0)).ok()?;
            if p.next().is_some() || hh > 23 || mm > 59 || ss > 59 {
                return None;
            }
            Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(1_700_000_000), "2023-11-14");
        assert_eq!(datetime_of(1_700_000_000), "2023-11-14 22:13 UTC");
        for days in [-1000, 0, 59, 60, 11_016, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn parses_import_times() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_time("1970-01-01"), Some(86_399));
        for bad in [
            "",
            "2023-02-30",
            "2023-13-01",
            "yesterday",
            "2023-11-14T25:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_the_kernels_clock_files() {
        assert_eq!(
            parse_boot_id("0f5a5c5e-1b2c-4d3e-8f90-a1b2c3d4e5f6\n"),
            Some(Uuid::from_u128(0x0f5a5c5e_1b2c_4d3e_8f90_a1b2c3d4e5f6))
        );
        assert_eq!(parse_boot_id("not a uuid"), None);
        assert_eq!(parse_uptime_ms("12345.67 54321.00\n"), Some(12_345_670));
        assert_eq!(parse_uptime_ms("0.01 0.00"), Some(10));
        assert_eq!(parse_uptime_ms(""), None);
        assert_eq!(parse_uptime_ms("-5 1"), None);
    }

    #[test]
    fn a_wall_clock_is_trusted_only_after_the_build_date_and_when_synced() {
        // OpenWrt without NTP yet: plausible date, kernel says unsynchronised.
        assert!(!wall_trusted(NOT_BEFORE_MS + 1, Some(false)));
        assert!(wall_trusted(NOT_BEFORE_MS + 1, Some(true)));
        // 1970 after a boot without a real-time clock: never, whatever the kernel says.
        assert!(!wall_trusted(60_000, Some(true)));
        assert!(!wall_trusted(NOT_BEFORE_MS - 1, None));
        // No way to ask the kernel: the date alone.
        assert!(wall_trusted(NOT_BEFORE_MS, None));
    }

    #[test]
    fn the_boot_clock_never_goes_back_and_readings_share_a_boot() {
        let a = SystemClock.reading();
        let b = SystemClock.reading();
        assert_eq!(a.boot_id, b.boot_id);
        assert!(b.uptime_ms >= a.uptime_ms);
        assert!(a.uptime_ms > 0);
        let m = ManualClock::new(1_000);
        m.advance(90);
        let r = m.reading();
        assert_eq!(
            (r.uptime_ms, r.wall_ms, r.wall_trusted),
            (90_000, 1_090_000, true)
        );
        assert_eq!(secs_of(&r), m.now());
    }

    #[test]
    fn manual_clock_moves() {
        let c = ManualClock::new(10);
        c.advance(5);
        assert_eq!(c.now(), 15);
        c.set(1);
        assert_eq!(c.now(), 1);
    }
}
