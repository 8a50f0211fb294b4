//! The outbox: protocol events ([`hotspot_shared::sync::Event`]) waiting for the cloud, oldest
//! first, written in the same transaction as the state change they describe and deleted by
//! sequence number once the cloud has answered a push of them.
//!
//! The outbox is bounded ([`Bound`]): past it, the oldest droppable events (`mac_seen`,
//! `daily_analytics`, `device_health`, see `EventBody::is_droppable`) are dropped and counted.
//! Session and redemption events are money and are never dropped, so an outbox of only those may
//! outgrow the bound (a warning is logged). A `session_updated` replaces the same session's
//! unsent one (the cloud keeps only the latest totals), so a long offline spell costs a few events
//! per session, not one per accounting cycle.

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use hotspot_shared::sync::{EdgeClock, Event, EventBody};

use super::StoreError;

/// How much the outbox may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub max_events: u64,
    pub max_bytes: u64,
}

impl Default for Bound {
    /// Fit for a router with 16 MB of flash: about 1 MiB of events (a few days of a busy site
    /// offline; SQLite's pages and indexes add roughly half again).
    fn default() -> Self {
        Self {
            max_events: 5_000,
            max_bytes: 1024 * 1024,
        }
    }
}

/// The `kind` an event is stored under (the protocol's name).
pub fn kind_of(body: &EventBody) -> &'static str {
    match body {
        EventBody::SessionStarted(_) => "session_started",
        EventBody::SessionUpdated(_) => "session_updated",
        EventBody::SessionEnded(_) => "session_ended",
        EventBody::VoucherRedeemed(_) => "voucher_redeemed",
        EventBody::MacSeen(_) => "mac_seen",
        EventBody::DailyAnalytics(_) => "daily_analytics",
        EventBody::DeviceHealth(_) => "device_health",
    }
}

fn session_of(body: &EventBody) -> Option<Uuid> {
    match body {
        EventBody::SessionStarted(s) => Some(s.session_id),
        EventBody::SessionUpdated(s) => Some(s.session_id),
        EventBody::SessionEnded(s) => Some(s.session_id),
        EventBody::VoucherRedeemed(s) => Some(s.session_id),
        _ => None,
    }
}

/// Appends an event that happened at `at`; returns its id.
pub fn enqueue(c: &Connection, body: EventBody, at: &EdgeClock) -> Result<Uuid, StoreError> {
    let kind = kind_of(&body);
    let session = session_of(&body).map(|s| s.to_string());
    if kind == "session_updated" {
        c.prepare_cached("DELETE FROM outbox WHERE kind = 'session_updated' AND session_id = ?1")?
            .execute([&session])?;
    }
    let event = Event {
        id: Uuid::new_v4(),
        at: *at,
        body,
    };
    let json = serde_json::to_string(&event).map_err(|e| StoreError::Commit(e.to_string()))?;
    c.prepare_cached(
        "INSERT INTO outbox (id, kind, droppable, session_id, event, bytes, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        event.id.to_string(),
        kind,
        event.body.is_droppable(),
        session,
        json,
        json.len() as i64,
        at.wall_ms.div_euclid(1000),
    ])?;
    Ok(event.id)
}

/// Events waiting and their bytes.
pub fn size(c: &Connection) -> Result<(u64, u64), StoreError> {
    Ok(
        c.prepare_cached("SELECT count(*), coalesce(sum(bytes), 0) FROM outbox")?
            .query_row([], |r| {
                Ok((
                    r.get::<_, i64>(0)?.max(0) as u64,
                    r.get::<_, i64>(1)?.max(0) as u64,
                ))
            })?,
    )
}

/// Drops the oldest droppable events until the outbox is within `bound` (or none droppable is
/// left). Returns how many were dropped; they are added to the `outbox_dropped` counter.
pub fn enforce(c: &Connection, bound: Bound) -> Result<u64, StoreError> {
    let (mut events, mut bytes) = size(c)?;
    if events <= bound.max_events && bytes <= bound.max_bytes {
        return Ok(0);
    }
    let mut dropped = 0u64;
    let mut oldest = c.prepare_cached(
        "SELECT seq, bytes FROM outbox WHERE droppable = 1 ORDER BY seq LIMIT 256",
    )?;
    while events > bound.max_events || bytes > bound.max_bytes {
        let batch: Vec<(i64, i64)> = oldest
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if batch.is_empty() {
            break;
        }
        let mut last = None;
        for (seq, b) in batch {
            if events <= bound.max_events && bytes <= bound.max_bytes {
                break;
            }
            events -= 1;
            bytes = bytes.saturating_sub(b.max(0) as u64);
            dropped += 1;
            last = Some(seq);
        }
        if let Some(last) = last {
            c.prepare_cached("DELETE FROM outbox WHERE droppable = 1 AND seq <= ?1")?
                .execute([last])?;
        }
    }
    if dropped > 0 {
        add_counter(c, "outbox_dropped", dropped as i64)?;
        tracing::warn!(dropped, "outbox full: dropped the oldest analytics events");
    }
    if events > bound.max_events || bytes > bound.max_bytes {
        tracing::warn!(
            events,
            bytes,
            "outbox past its bound with session and redemption events only; they are kept"
        );
    }
    Ok(dropped)
}

/// Up to `limit` of the oldest events: their sequence numbers and the events.
pub fn oldest(c: &Connection, limit: usize) -> Result<Vec<(i64, Event)>, StoreError> {
    batch(c, limit, usize::MAX)
}

/// The oldest events, at most `limit` of them and about `max_bytes` of JSON (at least one).
/// Reads only, so it runs on the read connection.
pub fn batch(
    c: &Connection,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<(i64, Event)>, StoreError> {
    let mut st = c.prepare_cached("SELECT seq, event FROM outbox ORDER BY seq LIMIT ?1")?;
    let rows = st.query_map([limit as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let (seq, json) = row?;
        bytes += json.len();
        if bytes > max_bytes && !out.is_empty() {
            break;
        }
        match serde_json::from_str::<Event>(&json) {
            Ok(e) => out.push((seq, e)),
            // Cannot happen for rows this code wrote; skipped, not deleted, so nothing is lost.
            Err(e) => tracing::error!(seq, error = %e, "undecodable outbox event skipped"),
        }
    }
    Ok(out)
}

/// Deletes exactly these events (the ones a push delivered).
pub fn delete(c: &Connection, seqs: &[i64]) -> Result<usize, StoreError> {
    let mut st = c.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
    let mut n = 0;
    for s in seqs {
        n += st.execute([s])?;
    }
    Ok(n)
}

/// A value of `sync_state`.
pub fn state(c: &Connection, key: &str) -> Result<Option<rusqlite::types::Value>, StoreError> {
    Ok(
        c.prepare_cached("SELECT value FROM sync_state WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?,
    )
}

/// An integer of `sync_state` (0 when unset).
pub fn counter(c: &Connection, key: &str) -> Result<i64, StoreError> {
    Ok(match state(c, key)? {
        Some(rusqlite::types::Value::Integer(i)) => i,
        _ => 0,
    })
}

/// Sets a value of `sync_state`.
pub fn set_state(c: &Connection, key: &str, value: impl rusqlite::ToSql) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Adds `n` to an integer of `sync_state`.
pub fn add_counter(c: &Connection, key: &str, n: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
    )?
    .execute(params![key, n])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use hotspot_shared::MacAddr;
    use hotspot_shared::sync::{DeviceHealth, MacSeen, SessionEnded, SessionUpdated};

    fn at(s: i64) -> EdgeClock {
        EdgeClock {
            boot_id: Uuid::from_u128(7),
            uptime_ms: s as u64 * 1000,
            wall_ms: s * 1000,
            wall_trusted: true,
        }
    }

    fn mac_seen(n: u8) -> EventBody {
        EventBody::MacSeen(MacSeen {
            mac: MacAddr([2, 0, 0, 0, 0, n]),
            ip: None,
            hostname: None,
            dhcp_fingerprint: None,
        })
    }

    fn ended(n: u128) -> EventBody {
        EventBody::SessionEnded(SessionEnded {
            session_id: Uuid::from_u128(n),
            reason: hotspot_shared::sync::EndReason::Idle,
            bytes_up: 1,
            bytes_down: 2,
            duration_s: 3,
        })
    }

    fn kinds(c: &Connection) -> Vec<String> {
        c.prepare("SELECT kind FROM outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn the_bound_drops_the_oldest_droppable_events_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        store
            .blocking(|c| {
                // Oldest first: two mac_seen, a session end, then more mac_seen and health.
                enqueue(c, mac_seen(1), &at(1))?;
                enqueue(c, mac_seen(2), &at(2))?;
                enqueue(c, ended(1), &at(3))?;
                for n in 3..6 {
                    enqueue(c, mac_seen(n), &at(i64::from(n) + 1))?;
                }
                let health = EventBody::DeviceHealth(DeviceHealth {
                    version: "1".into(),
                    uptime_s: 1,
                    clients_online: 0,
                    outbox_len: 6,
                });
                enqueue(c, health, &at(9))?;
                assert_eq!(size(c)?.0, 7);
                let bound = Bound {
                    max_events: 4,
                    max_bytes: u64::MAX,
                };
                assert_eq!(enforce(c, bound)?, 3);
                // mac_seen 1, 2 and 3 went; the session event stayed where it was.
                assert_eq!(
                    kinds(c),
                    ["session_ended", "mac_seen", "mac_seen", "device_health"]
                );
                let events = oldest(c, 10)?;
                let macs: Vec<_> = events
                    .iter()
                    .filter_map(|(_, e)| match &e.body {
                        EventBody::MacSeen(m) => Some(m.mac.0[5]),
                        _ => None,
                    })
                    .collect();
                assert_eq!(macs, [4, 5]);
                assert_eq!(counter(c, "outbox_dropped")?, 3);
                // Within the bound: nothing more goes.
                assert_eq!(enforce(c, bound)?, 0);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn session_and_redemption_events_are_never_dropped_and_bytes_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        store
            .blocking(|c| {
                for n in 0..10 {
                    enqueue(c, ended(n), &at(n as i64))?;
                    enqueue(c, mac_seen(n as u8), &at(n as i64))?;
                }
                assert_eq!(size(c)?.0, 20);
                let sessions: u64 = c.query_row(
                    "SELECT sum(bytes) FROM outbox WHERE kind = 'session_ended'",
                    [],
                    |r| r.get::<_, i64>(0),
                )? as u64;
                // A byte budget smaller than the session events alone: every mac_seen goes, no
                // session end does.
                let bound = Bound {
                    max_events: 1000,
                    max_bytes: sessions - 1,
                };
                assert_eq!(enforce(c, bound)?, 10);
                assert_eq!(kinds(c), vec!["session_ended"; 10]);
                assert!(size(c)?.1 > bound.max_bytes, "over the bound, but kept");
                assert_eq!(counter(c, "outbox_dropped")?, 10);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_newer_session_update_replaces_the_unsent_one_and_deletes_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        store
            .blocking(|c| {
                let update = |n: u128, b: u64| {
                    EventBody::SessionUpdated(SessionUpdated {
                        session_id: Uuid::from_u128(n),
                        bytes_up: b,
                        bytes_down: b,
                    })
                };
                enqueue(c, update(1, 10), &at(1))?;
                enqueue(c, update(2, 10), &at(2))?;
                enqueue(c, update(1, 20), &at(3))?;
                let events = oldest(c, 10)?;
                assert_eq!(events.len(), 2);
                assert_eq!(events[1].1.body, update(1, 20));
                assert_eq!(events[1].1.at, at(3));
                assert_eq!(delete(c, &[events[0].0])?, 1);
                assert_eq!(delete(c, &[events[0].0])?, 0, "already gone");
                assert_eq!(size(c)?.0, 1);
                Ok(())
            })
            .unwrap();
    }
}
