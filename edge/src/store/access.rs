//! Queries over vouchers, the access list, sessions, analytics and the outbox. Plain functions on
//! a connection or transaction; the caller decides the transaction boundaries.

use rusqlite::{Connection, OptionalExtension, Row, params};

use hotspot_shared::MacAddr;
use hotspot_shared::plan::{EndReason, Limits, MB};
use hotspot_shared::sync::{self as wire, EdgeClock, EventBody};

use super::{StoreError, outbox};
use crate::clock::{date_of, secs_of, system_reading_at};
use crate::vouchers::{ImportRow, Usage, Voucher, VoucherKind};

/// `session_type` of seed 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionType {
    Guest,
    /// A registered device (access list, auto-connect).
    Client,
    Voucher,
}

impl SessionType {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionType::Guest => "guest",
            SessionType::Client => "client",
            SessionType::Voucher => "voucher",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "client" => SessionType::Client,
            "voucher" => SessionType::Voucher,
            _ => SessionType::Guest,
        }
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub mac: MacAddr,
    pub ip: Option<String>,
    pub session_type: SessionType,
    pub start_time: i64,
    pub voucher_id: Option<String>,
    pub limits: Limits,
    pub down_kbps: u32,
    pub up_kbps: u32,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub counter_up: u64,
    pub counter_down: u64,
    pub last_activity: i64,
}

impl SessionRow {
    pub fn bytes(&self) -> u64 {
        self.bytes_up.saturating_add(self.bytes_down)
    }
}

const SESSION_COLS: &str = "id, mac_address, ip_address, session_type, start_time, voucher_id, \
     ends_at, data_limit_bytes, down_kbps, up_kbps, bytes_up, bytes_down, counter_up, \
     counter_down, last_activity";

fn session_from(r: &Row<'_>) -> rusqlite::Result<SessionRow> {
    let mac: String = r.get(1)?;
    let kind: String = r.get(3)?;
    Ok(SessionRow {
        id: r.get(0)?,
        mac: mac.parse().unwrap_or(MacAddr([0; 6])),
        ip: r.get(2)?,
        session_type: SessionType::parse(&kind),
        start_time: r.get(4)?,
        voucher_id: r.get(5)?,
        limits: Limits {
            ends_at: r.get(6)?,
            data_bytes: r.get::<_, Option<i64>>(7)?.map(|b| b.max(0) as u64),
        },
        down_kbps: r.get::<_, i64>(8)?.clamp(0, u32::MAX as i64) as u32,
        up_kbps: r.get::<_, i64>(9)?.clamp(0, u32::MAX as i64) as u32,
        bytes_up: r.get::<_, i64>(10)?.max(0) as u64,
        bytes_down: r.get::<_, i64>(11)?.max(0) as u64,
        counter_up: r.get::<_, i64>(12)?.max(0) as u64,
        counter_down: r.get::<_, i64>(13)?.max(0) as u64,
        last_activity: r.get(14)?,
    })
}

/// The device's live session.
pub fn active_session(c: &Connection, mac: MacAddr) -> Result<Option<SessionRow>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE mac_address = ?1 AND session_status = 'active'"
    ))?
    .query_row([mac.to_string()], session_from)
    .optional()?)
}

/// The session with id `id`, live or not.
pub fn session_by_id(c: &Connection, id: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE id = ?1"
    ))?
    .query_row([id], session_from)
    .optional()?)
}

/// Every live session.
pub fn active_sessions(c: &Connection) -> Result<Vec<SessionRow>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE session_status = 'active' ORDER BY start_time"
    ))?;
    let rows = st.query_map([], session_from)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What a session starts with.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub mac: MacAddr,
    pub ip: Option<String>,
    pub session_type: SessionType,
    pub voucher: Option<(&'a str, &'a str)>,
    pub limits: Limits,
    pub down_kbps: u32,
    pub up_kbps: u32,
    pub user_agent: Option<String>,
}

/// The protocol's name for why a session ended.
pub fn wire_reason(r: EndReason) -> wire::EndReason {
    match r {
        EndReason::Time => wire::EndReason::TimeUsedUp,
        EndReason::Data => wire::EndReason::DataUsedUp,
        EndReason::Idle => wire::EndReason::Idle,
        EndReason::Logout => wire::EndReason::Logout,
        EndReason::Kick | EndReason::Blocked => wire::EndReason::Kicked,
        EndReason::Refused => wire::EndReason::Refused,
    }
}

fn wire_type(t: SessionType) -> wire::SessionType {
    match t {
        SessionType::Guest => wire::SessionType::Guest,
        SessionType::Client => wire::SessionType::Client,
        SessionType::Voucher => wire::SessionType::Voucher,
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn uuid_of(id: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(id).unwrap_or_default()
}

/// Inserts a live session, its `session_started` event and its analytics, at `at`.
pub fn start_session(
    c: &Connection,
    s: &NewSession<'_>,
    at: &EdgeClock,
) -> Result<SessionRow, StoreError> {
    let now = secs_of(at);
    let session_id = uuid::Uuid::new_v4();
    let id = session_id.to_string();
    // Learnt passively from the device's DHCP request, when the capture runs.
    let fingerprint = crate::net::capture::fingerprint_for(s.mac);
    c.prepare_cached(
        "INSERT INTO sessions (id, mac_address, ip_address, session_type, start_time, voucher_id, \
         voucher_code, user_agent, ends_at, data_limit_bytes, down_kbps, up_kbps, last_activity, \
         created_at, start_boot_id, start_uptime_ms, update_sent_at, device_fingerprint) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?5, ?5, ?13, ?14, ?5, ?15)",
    )?
    .execute(params![
        id,
        s.mac.to_string(),
        s.ip,
        s.session_type.as_str(),
        now,
        s.voucher.map(|v| v.0),
        s.voucher.map(|v| v.1),
        s.user_agent,
        s.limits.ends_at,
        s.limits.data_bytes.map(|b| b.min(i64::MAX as u64) as i64),
        i64::from(s.down_kbps),
        i64::from(s.up_kbps),
        at.boot_id.to_string(),
        at.uptime_ms.min(i64::MAX as u64) as i64,
        fingerprint,
    ])?;
    let date = date_of(now);
    let kind_col = match s.session_type {
        SessionType::Guest => "guest_sessions",
        SessionType::Client => "client_sessions",
        SessionType::Voucher => "voucher_sessions",
    };
    c.prepare_cached(&format!(
        "INSERT INTO analytics_daily (date, total_sessions, {kind_col}) VALUES (?1, 1, 1)
             ON CONFLICT (date) DO UPDATE SET total_sessions = total_sessions + 1,
             {kind_col} = {kind_col} + 1"
    ))?
    .execute([&date])?;
    // A device's first session of the day counts it once (no recount of the day's devices on
    // every login: this runs on the single writer).
    let first_today = c
        .prepare_cached(
            "INSERT OR IGNORE INTO analytics_daily_devices (date, mac_address) VALUES (?1, ?2)",
        )?
        .execute(params![date, s.mac.to_string()])?;
    if first_today > 0 {
        c.prepare_cached(
            "UPDATE analytics_daily SET unique_users = unique_users + 1 WHERE date = ?1",
        )?
        .execute([&date])?;
    }
    let access_id: Option<String> = if s.session_type == SessionType::Client {
        c.prepare_cached("SELECT id FROM access_list WHERE mac_address = ?1")?
            .query_row([s.mac.to_string()], |r| r.get(0))
            .optional()?
    } else {
        None
    };
    outbox::enqueue(
        c,
        EventBody::SessionStarted(wire::SessionStarted {
            session_id,
            mac: s.mac,
            ip: s.ip.as_deref().and_then(|i| i.parse().ok()),
            session_type: wire_type(s.session_type),
            voucher_code: s.voucher.map(|v| v.1.to_owned()),
            access_id: access_id.as_deref().and_then(|a| a.parse().ok()),
            device_fingerprint: fingerprint,
            // The cloud refuses a batch with a longer one (and would refuse it on every retry).
            user_agent: s
                .user_agent
                .as_deref()
                .map(|u| truncate(u, 1024).to_owned()),
        }),
        at,
    )?;
    if s.session_type == SessionType::Client {
        c.prepare_cached(
            "UPDATE access_list SET total_sessions = total_sessions + 1, last_connected_at = ?2,
             first_connected_at = coalesce(first_connected_at, ?2), updated_at = ?2
             WHERE mac_address = ?1",
        )?
        .execute(params![s.mac.to_string(), now])?;
    }
    active_session(c, s.mac)?.ok_or(StoreError::Worker)
}

/// Records new counter readings of a live session.
pub fn update_usage(c: &Connection, s: &SessionRow) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE sessions SET bytes_up = ?2, bytes_down = ?3, counter_up = ?4, counter_down = ?5,
         last_activity = ?6 WHERE id = ?1",
    )?
    .execute(params![
        s.id,
        s.bytes_up as i64,
        s.bytes_down as i64,
        s.counter_up as i64,
        s.counter_down as i64,
        s.last_activity
    ])?;
    Ok(())
}

/// Writes a `session_updated` event with the session's totals when its last one is at least
/// `every` seconds old and the totals moved since the session started. Returns whether it did.
pub fn note_progress(
    c: &Connection,
    s: &SessionRow,
    every: i64,
    at: &EdgeClock,
) -> Result<bool, StoreError> {
    let now = secs_of(at);
    let changed = c
        .prepare_cached(
            "UPDATE sessions SET update_sent_at = ?2 WHERE id = ?1 AND session_status = 'active'
             AND coalesce(update_sent_at, start_time) <= ?3",
        )?
        .execute(params![s.id, now, now - every])?;
    if changed == 0 || s.bytes() == 0 {
        return Ok(false);
    }
    outbox::enqueue(
        c,
        EventBody::SessionUpdated(wire::SessionUpdated {
            session_id: uuid_of(&s.id),
            bytes_up: s.bytes_up,
            bytes_down: s.bytes_down,
        }),
        at,
    )?;
    Ok(true)
}

/// Ends a live session (with its latest usage), with its `session_ended` event, analytics and
/// the access list's totals, at `at`. Returns false when it was no longer live.
pub fn end_session(
    c: &Connection,
    s: &SessionRow,
    reason: EndReason,
    at: &EdgeClock,
) -> Result<bool, StoreError> {
    let now = secs_of(at);
    let minutes = (now - s.start_time).max(0) / 60;
    // Seconds online by the boot clock when the session began in this boot (the wall clock may
    // have jumped since), else by the wall clock.
    let start: Option<(Option<String>, Option<i64>)> = c
        .prepare_cached("SELECT start_boot_id, start_uptime_ms FROM sessions WHERE id = ?1")?
        .query_row([&s.id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let duration_s = match start {
        Some((Some(boot), Some(up))) if boot == at.boot_id.to_string() && up >= 0 => {
            at.uptime_ms.saturating_sub(up as u64) / 1000
        }
        _ => (now - s.start_time).max(0) as u64,
    };
    let changed = c
        .prepare_cached(
            "UPDATE sessions SET session_status = 'ended', end_reason = ?2, end_time = ?3,
         duration_minutes = ?4, bytes_up = ?5, bytes_down = ?6, counter_up = ?7,
         counter_down = ?8, last_activity = ?9
         WHERE id = ?1 AND session_status = 'active'",
        )?
        .execute(params![
            s.id,
            reason.as_str(),
            now,
            minutes,
            s.bytes_up as i64,
            s.bytes_down as i64,
            s.counter_up as i64,
            s.counter_down as i64,
            s.last_activity
        ])?;
    if changed == 0 {
        return Ok(false);
    }
    // A session a RADIUS server authorised gets its Accounting Stop in the same transaction.
    super::radius::queue_session(
        c,
        s,
        hotspot_shared::radius::acct_status::STOP,
        Some(super::radius::terminate_cause(reason)),
        now,
    )?;
    let gb = s.bytes() as f64 / (MB as f64 * 1024.0);
    c.prepare_cached(
        "INSERT INTO analytics_daily (date, ended_sessions, total_data_used_gb,
           avg_session_duration_minutes) VALUES (?1, 1, ?2, ?3)
         ON CONFLICT (date) DO UPDATE SET
           avg_session_duration_minutes =
             (avg_session_duration_minutes * ended_sessions + ?3) / (ended_sessions + 1),
           ended_sessions = ended_sessions + 1,
           total_data_used_gb = total_data_used_gb + ?2",
    )?
    .execute(params![date_of(now), gb, minutes as f64])?;
    if s.session_type == SessionType::Client {
        c.prepare_cached(
            "UPDATE access_list SET total_data_used_mb = total_data_used_mb + ?2, updated_at = ?3
             WHERE mac_address = ?1",
        )?
        .execute(params![
            s.mac.to_string(),
            s.bytes() as f64 / MB as f64,
            now
        ])?;
    }
    outbox::enqueue(
        c,
        EventBody::SessionEnded(wire::SessionEnded {
            session_id: uuid_of(&s.id),
            reason: wire_reason(reason),
            bytes_up: s.bytes_up,
            bytes_down: s.bytes_down,
            duration_s,
        }),
        at,
    )?;
    Ok(true)
}

/// A device not seen for this long is new again when it comes back (and its row is pruned).
const MAC_FORGET_SECS: i64 = 30 * 86_400;

/// Records devices seen on the LAN; one seen for the first time (or after a month away) gets a
/// `mac_seen` event. `last_seen` is refreshed at most hourly, to spare the flash.
pub fn note_macs(
    c: &Connection,
    seen: &[(std::net::IpAddr, MacAddr)],
    at: &EdgeClock,
) -> Result<usize, StoreError> {
    let now = secs_of(at);
    let mut new = 0;
    for (ip, mac) in seen {
        let last: Option<i64> = c
            .prepare_cached("SELECT last_seen FROM macs_seen WHERE mac_address = ?1")?
            .query_row([mac.to_string()], |r| r.get(0))
            .optional()?;
        match last {
            Some(l) if now - l < 3600 && l <= now => continue,
            Some(l) if now - l < MAC_FORGET_SECS => {
                c.prepare_cached("UPDATE macs_seen SET last_seen = ?2 WHERE mac_address = ?1")?
                    .execute(params![mac.to_string(), now])?;
                continue;
            }
            _ => {}
        }
        c.prepare_cached(
            "INSERT INTO macs_seen (mac_address, first_seen, last_seen) VALUES (?1, ?2, ?2)
             ON CONFLICT (mac_address) DO UPDATE SET first_seen = ?2, last_seen = ?2",
        )?
        .execute(params![mac.to_string(), now])?;
        outbox::enqueue(
            c,
            EventBody::MacSeen(wire::MacSeen {
                mac: *mac,
                ip: Some(*ip),
                hostname: crate::net::capture::hostname_for(*mac),
                dhcp_fingerprint: crate::net::capture::fingerprint_for(*mac),
            }),
            at,
        )?;
        new += 1;
    }
    c.prepare_cached("DELETE FROM macs_seen WHERE last_seen < ?1")?
        .execute([now - MAC_FORGET_SECS])?;
    Ok(new)
}

/// Raises today's peak of concurrent users to `n` if higher.
pub fn note_concurrency(c: &Connection, n: usize, now: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO analytics_daily (date, peak_concurrent_users) VALUES (?1, ?2)
         ON CONFLICT (date) DO UPDATE SET
           peak_concurrent_users = max(peak_concurrent_users, excluded.peak_concurrent_users)",
    )?
    .execute(params![date_of(now), n as i64])?;
    Ok(())
}

const VOUCHER_COLS: &str = "id, hotspot_id, voucher_code, voucher_type, duration_minutes, \
     data_limit_mb, max_devices, expiry_date, used_at, used_by_mac, plan_id";

/// The voucher with this (normalised) code.
pub fn find_voucher(c: &Connection, code: &str) -> Result<Option<Voucher>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {VOUCHER_COLS} FROM vouchers WHERE voucher_code = ?1 AND revoked = 0"
    ))?
    .query_row([code], |r| {
        let kind: String = r.get(3)?;
        Ok(Voucher {
            id: r.get(0)?,
            hotspot_id: r.get(1)?,
            code: r.get(2)?,
            kind: VoucherKind::parse(&kind).unwrap_or(VoucherKind::Time),
            duration_minutes: r.get(4)?,
            data_limit_mb: r.get(5)?,
            max_devices: r.get(6)?,
            expiry_date: r.get(7)?,
            used_at: r.get(8)?,
            used_by_mac: r.get(9)?,
            plan_id: r.get(10)?,
        })
    })
    .optional()?)
}

/// Devices and bytes a voucher has used so far.
pub fn voucher_usage(c: &Connection, voucher_id: &str) -> Result<Usage, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT mac_address FROM voucher_redemptions WHERE voucher_id = ?1 ORDER BY redeemed_at",
    )?;
    let devices = st
        .query_map([voucher_id], |r| r.get::<_, String>(0))?
        .filter_map(|m| m.ok()?.parse().ok())
        .collect();
    let bytes: i64 = c
        .prepare_cached(
            "SELECT coalesce(sum(bytes_up + bytes_down), 0) FROM sessions WHERE voucher_id = ?1",
        )?
        .query_row([voucher_id], |r| r.get(0))?;
    Ok(Usage {
        devices,
        bytes: bytes.max(0) as u64,
    })
}

/// Records a device's redemption that began session `session_id`, with its `voucher_redeemed`
/// event; on first use binds `used_at`/`used_by_mac`.
pub fn redeem(
    c: &Connection,
    voucher: &Voucher,
    mac: MacAddr,
    session_id: &str,
    at: &EdgeClock,
) -> Result<(), StoreError> {
    let now = secs_of(at);
    c.prepare_cached(
        "INSERT OR IGNORE INTO voucher_redemptions (voucher_id, mac_address, redeemed_at)
         VALUES (?1, ?2, ?3)",
    )?
    .execute(params![voucher.id, mac.to_string(), now])?;
    c.prepare_cached(
        "UPDATE vouchers SET is_used = 1, used_at = coalesce(used_at, ?2),
         used_by_mac = coalesce(used_by_mac, ?3) WHERE id = ?1",
    )?
    .execute(params![voucher.id, now, mac.to_string()])?;
    outbox::enqueue(
        c,
        EventBody::VoucherRedeemed(wire::VoucherRedeemed {
            voucher_code: voucher.code.clone(),
            mac,
            session_id: uuid_of(session_id),
        }),
        at,
    )?;
    Ok(())
}

/// Sets a live session's time and data limits (a top-up); `None` is unlimited.
pub fn extend_session(
    c: &Connection,
    id: &str,
    ends_at: Option<i64>,
    data_bytes: Option<u64>,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE sessions SET ends_at = ?2, data_limit_bytes = ?3
         WHERE id = ?1 AND session_status = 'active'",
    )?
    .execute(params![
        id,
        ends_at,
        data_bytes.map(|b| b.min(i64::MAX as u64) as i64)
    ])?;
    Ok(())
}

/// The rates (down, up kbit/s) of a plan, if it exists.
pub fn plan_rates(c: &Connection, plan_id: &str) -> Result<Option<(u32, u32)>, StoreError> {
    Ok(c.query_row(
        "SELECT down_kbps, up_kbps FROM plans WHERE id = ?1",
        [plan_id],
        |r| {
            Ok((
                r.get::<_, i64>(0)?.clamp(0, u32::MAX as i64) as u32,
                r.get::<_, i64>(1)?.clamp(0, u32::MAX as i64) as u32,
            ))
        },
    )
    .optional()?)
}

/// A device in the access list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub mac: MacAddr,
    pub auto_connect: bool,
    /// Mbit/s each way.
    pub bandwidth_allocation: i64,
    pub is_blocked: bool,
    pub blocked_reason: Option<String>,
}

fn access_from(r: &Row<'_>) -> rusqlite::Result<AccessEntry> {
    let mac: String = r.get(0)?;
    Ok(AccessEntry {
        mac: mac.parse().unwrap_or(MacAddr([0; 6])),
        auto_connect: r.get(1)?,
        bandwidth_allocation: r.get::<_, Option<i64>>(2)?.unwrap_or(5),
        is_blocked: r.get(3)?,
        blocked_reason: r.get(4)?,
    })
}

/// The device's access-list entry.
pub fn access_entry(c: &Connection, mac: MacAddr) -> Result<Option<AccessEntry>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT mac_address, auto_connect, bandwidth_allocation, is_blocked, blocked_reason
         FROM access_list WHERE mac_address = ?1",
    )?
    .query_row([mac.to_string()], access_from)
    .optional()?)
}

/// Adds or updates a registered device.
pub fn upsert_access(
    c: &Connection,
    mac: MacAddr,
    auto_connect: bool,
    bandwidth_mbps: i64,
    now: i64,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO access_list (id, mac_address, auto_connect, bandwidth_allocation,
           created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (mac_address) DO UPDATE SET auto_connect = excluded.auto_connect,
           bandwidth_allocation = excluded.bandwidth_allocation, updated_at = excluded.updated_at",
    )?
    .execute(params![
        uuid::Uuid::new_v4().to_string(),
        mac.to_string(),
        auto_connect,
        bandwidth_mbps,
        now
    ])?;
    Ok(())
}

/// Blocks a device (adding it to the list if needed) and ends its live session. The running
/// daemon removes it from the firewall on its next accounting cycle.
pub fn block(c: &Connection, mac: MacAddr, reason: &str, now: i64) -> Result<bool, StoreError> {
    c.prepare_cached(
        "INSERT INTO access_list (id, mac_address, auto_connect, is_blocked, blocked_reason,
           created_at, updated_at) VALUES (?1, ?2, 0, 1, ?3, ?4, ?4)
         ON CONFLICT (mac_address) DO UPDATE SET is_blocked = 1,
           blocked_reason = excluded.blocked_reason, updated_at = excluded.updated_at",
    )?
    .execute(params![
        uuid::Uuid::new_v4().to_string(),
        mac.to_string(),
        reason,
        now
    ])?;
    match active_session(c, mac)? {
        Some(s) => end_session(
            c,
            &s,
            EndReason::Blocked,
            &system_reading_at(now.saturating_mul(1000)),
        ),
        None => Ok(false),
    }
}

/// Ends the device's live session as an operator kick (from the command line, on the system's
/// clocks). False when it had none.
pub fn kick(c: &Connection, mac: MacAddr, now: i64) -> Result<bool, StoreError> {
    kick_at(c, mac, &system_reading_at(now.saturating_mul(1000)))
}

/// Ends the device's live session as an operator kick at `at`. False when it had none.
pub fn kick_at(c: &Connection, mac: MacAddr, at: &EdgeClock) -> Result<bool, StoreError> {
    match active_session(c, mac)? {
        Some(s) => end_session(c, &s, EndReason::Kick, at),
        None => Ok(false),
    }
}

/// The reason of the device's most recent ended session and when it ended.
pub fn last_end(c: &Connection, mac: MacAddr) -> Result<Option<(String, i64)>, StoreError> {
    Ok(c.query_row(
        "SELECT end_reason, end_time FROM sessions WHERE mac_address = ?1
         AND session_status = 'ended' ORDER BY end_time DESC LIMIT 1",
        [mac.to_string()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?)
}

/// Imports vouchers; codes already present are skipped. Returns (added, skipped).
pub fn import_vouchers(
    c: &Connection,
    rows: &[ImportRow],
    hotspot_id: Option<&str>,
    now: i64,
) -> Result<(usize, usize), StoreError> {
    let mut added = 0;
    for r in rows {
        added += c
            .prepare_cached(
                "INSERT OR IGNORE INTO vouchers (id, hotspot_id, voucher_code, voucher_type,
               duration_minutes, data_limit_mb, plan_id, price, max_devices, expiry_date,
               created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                uuid::Uuid::new_v4().to_string(),
                hotspot_id,
                r.code,
                r.kind.as_str(),
                r.duration_minutes,
                r.data_limit_mb,
                r.plan_id,
                r.price,
                r.max_devices,
                r.expiry_date,
                now
            ])?;
    }
    Ok((added, rows.len() - added))
}

/// Counts for `hotspotd status`.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub active_sessions: i64,
    pub vouchers_unused: i64,
    pub vouchers_used: i64,
    pub devices_registered: i64,
    pub devices_blocked: i64,
    pub outbox_pending: i64,
    /// Analytics events dropped because the outbox was full.
    pub outbox_dropped: i64,
    /// Events the cloud refused as malformed, set aside.
    pub outbox_refused: i64,
    pub today_sessions: i64,
    pub today_peak: i64,
}

pub fn summary(c: &Connection, now: i64) -> Result<Summary, StoreError> {
    let one = |sql: &str| -> Result<i64, StoreError> { Ok(c.query_row(sql, [], |r| r.get(0))?) };
    let (today_sessions, today_peak) = c
        .query_row(
            "SELECT total_sessions, peak_concurrent_users FROM analytics_daily WHERE date = ?1",
            [date_of(now)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, 0));
    Ok(Summary {
        active_sessions: one("SELECT count(*) FROM sessions WHERE session_status = 'active'")?,
        vouchers_unused: one("SELECT count(*) FROM vouchers WHERE is_used = 0")?,
        vouchers_used: one("SELECT count(*) FROM vouchers WHERE is_used = 1")?,
        devices_registered: one("SELECT count(*) FROM access_list WHERE is_blocked = 0")?,
        devices_blocked: one("SELECT count(*) FROM access_list WHERE is_blocked = 1")?,
        outbox_pending: one("SELECT count(*) FROM outbox")?,
        outbox_dropped: outbox::counter(c, "outbox_dropped")?,
        outbox_refused: outbox::counter(c, "outbox_refused")?,
        today_sessions,
        today_peak,
    })
}
