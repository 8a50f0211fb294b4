//! The periodic reports to the cloud: the day's analytics (`daily_analytics`) and the router's
//! health (`device_health`), written to the outbox every `[sync] report_seconds`, plus a final
//! report of the previous day once the date changes.

use rusqlite::{Connection, OptionalExtension};

use hotspot_shared::sync::{DailyAnalytics, DeviceHealth, EdgeClock, EventBody};

use crate::clock::{date_of, secs_of};
use crate::store::{StoreError, outbox};

/// The `sync_state` key of the last report's unix second.
const LAST: &str = "report_at";

/// Writes the reports when the last ones are `every` seconds old or of another day. Returns
/// whether it did. `started`: when the daemon started (unix seconds); `online`: live sessions.
pub fn maybe_report(
    c: &Connection,
    every: i64,
    started: i64,
    online: usize,
    at: &EdgeClock,
) -> Result<bool, StoreError> {
    let now = secs_of(at);
    let last = outbox::counter(c, LAST)?;
    let day_changed = last > 0 && date_of(last) != date_of(now);
    if last > 0 && now - last < every && !day_changed && last <= now {
        return Ok(false);
    }
    if day_changed {
        // The finished day's final totals.
        report_day(c, &date_of(last), started, last, at)?;
    }
    report_day(c, &date_of(now), started, now, at)?;
    let (events, _) = outbox::size(c)?;
    outbox::enqueue(
        c,
        EventBody::DeviceHealth(DeviceHealth {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: at.uptime_ms / 1000,
            clients_online: online.min(u32::MAX as usize) as u32,
            outbox_len: events.min(u64::from(u32::MAX)) as u32,
        }),
        at,
    )?;
    outbox::set_state(c, LAST, now)?;
    Ok(true)
}

/// A `daily_analytics` event for `date` from `analytics_daily`, as of `upto` (unix seconds).
fn report_day(
    c: &Connection,
    date: &str,
    started: i64,
    upto: i64,
    at: &EdgeClock,
) -> Result<(), StoreError> {
    let row = c
        .prepare_cached(
            "SELECT total_sessions, unique_users, total_data_used_gb, peak_concurrent_users,
               avg_session_duration_minutes, guest_sessions, client_sessions, voucher_sessions
             FROM analytics_daily WHERE date = ?1",
        )?
        .query_row([date], |r| {
            let n = |i| -> rusqlite::Result<u32> {
                Ok(r.get::<_, i64>(i)?.clamp(0, i64::from(u32::MAX)) as u32)
            };
            Ok(DailyAnalytics {
                date: date.to_owned(),
                total_sessions: n(0)?,
                unique_users: n(1)?,
                bytes: (r.get::<_, f64>(2)?.max(0.0) * 1024.0 * 1024.0 * 1024.0) as u64,
                peak_concurrent_users: n(3)?,
                avg_session_duration_s: (r.get::<_, f64>(4)?.max(0.0) * 60.0) as u64,
                guest_sessions: n(5)?,
                client_sessions: n(6)?,
                voucher_sessions: n(7)?,
                uptime_s: 0,
            })
        })
        .optional()?;
    let Some(mut day) = row else {
        return Ok(());
    };
    let day_start = upto - upto.rem_euclid(86_400);
    day.uptime_s = (upto - started.max(day_start)).clamp(0, 86_400) as u32;
    outbox::enqueue(c, EventBody::DailyAnalytics(day), at)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn at(s: i64) -> EdgeClock {
        EdgeClock {
            boot_id: uuid::Uuid::from_u128(3),
            uptime_ms: 5_000,
            wall_ms: s * 1000,
            wall_trusted: true,
        }
    }

    #[test]
    fn reports_are_rate_limited_and_a_new_day_sends_the_last_one_final() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        // 2026-11-23 23:00 UTC.
        let t = 1_795_474_800;
        store
            .blocking(|c| {
                c.execute(
                    "INSERT INTO analytics_daily (date, total_sessions, voucher_sessions)
                     VALUES ('2026-11-23', 4, 4)",
                    [],
                )?;
                assert!(maybe_report(c, 7200, t - 600, 2, &at(t))?);
                assert!(!maybe_report(c, 7200, t - 600, 2, &at(t + 60))?);
                let kinds = |c: &Connection| -> Vec<String> {
                    c.prepare("SELECT kind FROM outbox ORDER BY seq")
                        .unwrap()
                        .query_map([], |r| r.get(0))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect()
                };
                assert_eq!(kinds(c), ["daily_analytics", "device_health"]);
                let first = outbox::oldest(c, 1)?;
                match &first[0].1.body {
                    EventBody::DailyAnalytics(d) => {
                        assert_eq!((d.total_sessions, d.voucher_sessions), (4, 4));
                        assert_eq!(d.uptime_s, 600, "up since ten minutes before");
                    }
                    other => panic!("{other:?}"),
                }
                // Just past midnight, before the next report is due: the 23rd's final report
                // goes anyway.
                assert!(maybe_report(c, 7200, t - 600, 0, &at(t + 3700))?);
                assert_eq!(
                    kinds(c),
                    [
                        "daily_analytics",
                        "device_health",
                        "daily_analytics",
                        "device_health"
                    ],
                    "the new day has no row yet: only the old day's final totals"
                );
                Ok(())
            })
            .unwrap();
    }
}
