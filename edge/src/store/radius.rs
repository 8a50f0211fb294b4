//! Queries over `radius_sessions` (what a RADIUS server's Access-Accept said about a session)
//! and `radius_acct_queue` (accounting waiting for a server, in order).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use hotspot_shared::MacAddr;
use hotspot_shared::plan::EndReason;
use hotspot_shared::radius::acct_status;

use super::StoreError;
use super::access::SessionRow;

/// Most rows the accounting queue keeps before dropping the oldest Interim-Updates: about a day
/// of a busy site with the server unreachable, a few hundred kilobytes of flash.
pub const QUEUE_MAX_ROWS: i64 = 5000;

/// A RADIUS-authorised session's extra state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusSession {
    pub session_id: String,
    /// The User-Name it was authorised as.
    pub user_name: String,
    /// Acct-Session-Id of its accounting.
    pub acct_session_id: String,
    /// Class attributes to echo in accounting, in order.
    pub class: Vec<Vec<u8>>,
    /// Idle-Timeout from the server, seconds.
    pub idle_timeout: Option<i64>,
    /// Seconds between Interim-Updates.
    pub interim_interval: i64,
    /// The Access-Accept's Reply-Message.
    pub reply_message: Option<String>,
}

/// Class values as stored: each a length byte and its bytes (each is at most 253 bytes).
pub fn pack_class(class: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in class {
        let c = &c[..c.len().min(253)];
        out.push(c.len() as u8);
        out.extend_from_slice(c);
    }
    out
}

/// The inverse of [`pack_class`]; a truncated tail is dropped.
pub fn unpack_class(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = bytes.split_first() {
        let len = usize::from(len);
        if rest.len() < len {
            break;
        }
        out.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    out
}

/// Records `r` (in the session's own transaction).
pub fn insert(c: &Connection, r: &RadiusSession, now: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO radius_sessions (session_id, user_name, acct_session_id, class,
         idle_timeout, interim_interval, reply_message, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        r.session_id,
        r.user_name,
        r.acct_session_id,
        (!r.class.is_empty()).then(|| pack_class(&r.class)),
        r.idle_timeout,
        r.interim_interval,
        r.reply_message,
        now,
    ])?;
    Ok(())
}

/// The RADIUS state of session `session_id`, when a RADIUS server authorised it.
pub fn get(c: &Connection, session_id: &str) -> Result<Option<RadiusSession>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT session_id, user_name, acct_session_id, class, idle_timeout,
             interim_interval, reply_message FROM radius_sessions WHERE session_id = ?1",
    )?
    .query_row([session_id], |r| {
        Ok(RadiusSession {
            session_id: r.get(0)?,
            user_name: r.get(1)?,
            acct_session_id: r.get(2)?,
            class: r
                .get::<_, Option<Vec<u8>>>(3)?
                .map(|b| unpack_class(&b))
                .unwrap_or_default(),
            idle_timeout: r.get(4)?,
            interim_interval: r.get(5)?,
            reply_message: r.get(6)?,
        })
    })
    .optional()?)
}

/// Idle-Timeouts the server set for live sessions, by session id.
pub fn live_idle_timeouts(c: &Connection) -> Result<HashMap<String, i64>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT r.session_id, r.idle_timeout FROM radius_sessions r
         JOIN sessions s ON s.id = r.session_id
         WHERE s.session_status = 'active' AND r.idle_timeout IS NOT NULL",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Live RADIUS sessions matching every identifier `sel` gives.
pub fn find_live(
    c: &Connection,
    sel: &crate::radius::das::Selector,
) -> Result<Vec<SessionRow>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT s.id FROM sessions s JOIN radius_sessions r ON r.session_id = s.id
         WHERE s.session_status = 'active'
           AND (?1 IS NULL OR r.user_name = ?1)
           AND (?2 IS NULL OR r.acct_session_id = ?2)
           AND (?3 IS NULL OR s.ip_address = ?3)
           AND (?4 IS NULL OR s.mac_address = ?4)",
    )?;
    let ids: Vec<String> = st
        .query_map(
            params![
                sel.user_name,
                sel.acct_session_id,
                sel.framed_ip.map(|i| i.to_string()),
                sel.mac.map(|m| m.to_string()),
            ],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for id in ids {
        out.extend(super::access::session_by_id(c, &id)?);
    }
    Ok(out)
}

/// A CoA's changes to live session `id`: the new session as stored, `None` when it is no
/// longer live.
pub fn change(
    c: &Connection,
    id: &str,
    a: &crate::radius::attrs::Authorization,
    now: i64,
) -> Result<Option<SessionRow>, StoreError> {
    let n = c
        .prepare_cached(
            "UPDATE sessions SET
               ends_at = CASE WHEN ?2 IS NULL THEN ends_at ELSE ?2 END,
               data_limit_bytes = coalesce(?3, data_limit_bytes),
               down_kbps = coalesce(?4, down_kbps),
               up_kbps = coalesce(?5, up_kbps)
             WHERE id = ?1 AND session_status = 'active'",
        )?
        .execute(params![
            id,
            a.session_timeout.map(|t| now + i64::from(t)),
            a.data_bytes.map(|b| b.min(i64::MAX as u64) as i64),
            a.down_kbps.map(i64::from),
            a.up_kbps.map(i64::from),
        ])?;
    if n == 0 {
        return Ok(None);
    }
    if let Some(idle) = a.idle_timeout {
        c.prepare_cached("UPDATE radius_sessions SET idle_timeout = ?2 WHERE session_id = ?1")?
            .execute(params![id, i64::from(idle)])?;
    }
    super::access::session_by_id(c, id)
}

/// Acct-Terminate-Cause (RFC 2866 §5.10) for why a session ended.
pub fn terminate_cause(r: EndReason) -> u32 {
    match r {
        EndReason::Logout => 1,                 // User-Request
        EndReason::Idle => 4,                   // Idle-Timeout
        EndReason::Time | EndReason::Data => 5, // Session-Timeout (a limit of the session)
        EndReason::Kick | EndReason::Blocked | EndReason::Refused => 6, // Admin-Reset
    }
}

/// Queues an Accounting-Request about session `s` (Start, Interim-Update or Stop) with its
/// totals at `now`, when a RADIUS server authorised it; records when a Start or Interim-Update
/// was queued. Returns whether `s` is a RADIUS session. Runs in the caller's transaction.
pub fn queue_session(
    c: &Connection,
    s: &SessionRow,
    status_type: u32,
    cause: Option<u32>,
    now: i64,
) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached(
            "INSERT INTO radius_acct_queue (status_type, session_id, input_octets, output_octets,
             session_time, terminate_cause, event_time, droppable)
             SELECT ?2, session_id, ?3, ?4, ?5, ?6, ?7, ?8 FROM radius_sessions
             WHERE session_id = ?1",
        )?
        .execute(params![
            s.id,
            status_type,
            s.bytes_up.min(i64::MAX as u64) as i64,
            s.bytes_down.min(i64::MAX as u64) as i64,
            (now - s.start_time).max(0),
            cause,
            now,
            status_type == acct_status::INTERIM_UPDATE,
        ])?;
    if n > 0 && status_type != acct_status::STOP {
        c.prepare_cached("UPDATE radius_sessions SET interim_at = ?2 WHERE session_id = ?1")?
            .execute(params![s.id, now])?;
    }
    Ok(n > 0)
}

/// Queues Accounting-On or -Off (no session).
pub fn queue_nas(c: &Connection, status_type: u32, now: i64) -> Result<(), StoreError> {
    c.prepare_cached("INSERT INTO radius_acct_queue (status_type, event_time) VALUES (?1, ?2)")?
        .execute(params![status_type, now])?;
    Ok(())
}

/// Ids of live RADIUS sessions whose next Interim-Update is due at `now`.
pub fn interims_due(c: &Connection, now: i64) -> Result<Vec<String>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT r.session_id FROM radius_sessions r JOIN sessions s ON s.id = r.session_id
         WHERE s.session_status = 'active'
           AND coalesce(r.interim_at, r.created_at) + r.interim_interval <= ?1",
    )?;
    let rows = st.query_map([now], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One queued Accounting-Request with what its packet needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedAcct {
    pub seq: i64,
    pub status_type: u32,
    /// The session's identity; `None` for Accounting-On/Off.
    pub session: Option<AcctSession>,
    pub input_octets: u64,
    pub output_octets: u64,
    pub session_time: u32,
    pub terminate_cause: Option<u32>,
    pub event_time: i64,
}

/// The session an Accounting-Request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctSession {
    pub acct_session_id: String,
    pub user_name: String,
    pub class: Vec<Vec<u8>>,
    pub mac: MacAddr,
    pub ip: Option<String>,
}

/// The oldest queued request, if any.
pub fn queue_head(c: &Connection) -> Result<Option<QueuedAcct>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT q.seq, q.status_type, q.input_octets, q.output_octets, q.session_time,
             q.terminate_cause, q.event_time, r.acct_session_id, r.user_name, r.class,
             s.mac_address, s.ip_address
             FROM radius_acct_queue q
             LEFT JOIN radius_sessions r ON r.session_id = q.session_id
             LEFT JOIN sessions s ON s.id = q.session_id
             ORDER BY q.seq LIMIT 1",
    )?
    .query_row([], |r| {
        let acct_id: Option<String> = r.get(7)?;
        let session = match acct_id {
            Some(acct_session_id) => Some(AcctSession {
                acct_session_id,
                user_name: r.get(8)?,
                class: r
                    .get::<_, Option<Vec<u8>>>(9)?
                    .map(|b| unpack_class(&b))
                    .unwrap_or_default(),
                mac: r.get::<_, String>(10)?.parse().unwrap_or(MacAddr([0; 6])),
                ip: r.get(11)?,
            }),
            None => None,
        };
        Ok(QueuedAcct {
            seq: r.get(0)?,
            status_type: r.get(1)?,
            session,
            input_octets: r.get::<_, i64>(2)?.max(0) as u64,
            output_octets: r.get::<_, i64>(3)?.max(0) as u64,
            session_time: r.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
            terminate_cause: r.get(5)?,
            event_time: r.get(6)?,
        })
    })
    .optional()?)
}

/// Forgets a request a server answered.
pub fn dequeue(c: &Connection, seq: i64) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM radius_acct_queue WHERE seq = ?1")?
        .execute([seq])?;
    Ok(())
}

/// Rows waiting.
pub fn queue_len(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row("SELECT count(*) FROM radius_acct_queue", [], |r| r.get(0))?)
}

/// Keeps the queue within `max` rows by dropping the oldest Interim-Updates (a later update or
/// the Stop carries the same totals); Start, Stop, On and Off are kept. Returns how many it
/// dropped.
pub fn enforce_bound(c: &Connection, max: i64) -> Result<i64, StoreError> {
    let over = queue_len(c)? - max;
    if over <= 0 {
        return Ok(0);
    }
    let dropped = c
        .prepare_cached(
            "DELETE FROM radius_acct_queue WHERE seq IN (SELECT seq FROM radius_acct_queue
             WHERE droppable = 1 ORDER BY seq LIMIT ?1)",
        )?
        .execute([over])? as i64;
    if dropped > 0 {
        super::outbox::add_counter(c, "radius_acct_dropped", dropped)?;
        tracing::warn!(
            dropped,
            "RADIUS accounting queue full: dropped the oldest Interim-Updates"
        );
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_drops_the_oldest_interims_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("e.db")).unwrap();
        store
            .blocking(|c| {
                for (i, status) in [7, 3, 3, 2, 3, 8].iter().enumerate() {
                    c.execute(
                        "INSERT INTO radius_acct_queue (status_type, event_time, droppable)
                         VALUES (?1, ?2, ?3)",
                        params![status, i as i64, *status == 3],
                    )?;
                }
                assert_eq!(enforce_bound(c, 10)?, 0);
                assert_eq!(enforce_bound(c, 4)?, 2);
                let left: Vec<(u32, i64)> = c
                    .prepare("SELECT status_type, event_time FROM radius_acct_queue ORDER BY seq")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                assert_eq!(left, [(7, 0), (2, 3), (3, 4), (8, 5)]);
                // Only non-droppable rows left past the bound: kept.
                assert_eq!(enforce_bound(c, 1)?, 1);
                assert_eq!(queue_len(c)?, 3);
                assert_eq!(queue_head(c)?.map(|q| q.status_type), Some(7));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn class_values_round_trip() {
        let class = vec![b"hotspot:voucher:1".to_vec(), Vec::new(), vec![0xff; 253]];
        assert_eq!(unpack_class(&pack_class(&class)), class);
        assert_eq!(unpack_class(&[5, 1, 2]), Vec::<Vec<u8>>::new());
    }
}
