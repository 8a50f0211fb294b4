//! Queries over `radius_sessions`: what a RADIUS server's Access-Accept said about a session.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_values_round_trip() {
        let class = vec![b"hotspot:voucher:1".to_vec(), Vec::new(), vec![0xff; 253]];
        assert_eq!(unpack_class(&pack_class(&class)), class);
        assert_eq!(unpack_class(&[5, 1, 2]), Vec::<Vec<u8>>::new());
    }
}
