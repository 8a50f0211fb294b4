//! Queries over vouchers, the access list, sessions, analytics and the outbox. Plain functions on
//! a connection or transaction; the caller decides the transaction boundaries.

use rusqlite::{Connection, OptionalExtension, Row, params};

use hotspot_shared::MacAddr;
use hotspot_shared::plan::{EndReason, Limits, MB};

use super::StoreError;
use crate::clock::date_of;
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

/// Inserts a live session, its outbox event and its analytics.
pub fn start_session(
    c: &Connection,
    s: &NewSession<'_>,
    now: i64,
) -> Result<SessionRow, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    c.prepare_cached(
        "INSERT INTO sessions (id, mac_address, ip_address, session_type, start_time, voucher_id, \
         voucher_code, user_agent, ends_at, data_limit_bytes, down_kbps, up_kbps, last_activity, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?5, ?5)",
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
    c.prepare_cached(
        "INSERT OR IGNORE INTO analytics_daily_devices (date, mac_address) VALUES (?1, ?2)",
    )?
    .execute(params![date, s.mac.to_string()])?;
    c.prepare_cached(
        "UPDATE analytics_daily SET unique_users =
           (SELECT count(*) FROM analytics_daily_devices WHERE date = ?1) WHERE date = ?1",
    )?
    .execute([&date])?;
    push_event(
        c,
        "session.started",
        &serde_json::json!({
            "session_id": id,
            "mac_address": s.mac,
            "ip_address": s.ip,
            "session_type": s.session_type.as_str(),
            "voucher_code": s.voucher.map(|v| v.1),
            "start_time": now,
        }),
        now,
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

/// Ends a live session (with its latest usage), with its outbox event, analytics and the access
/// list's totals. Returns false when it was no longer live.
pub fn end_session(
    c: &Connection,
    s: &SessionRow,
    reason: EndReason,
    now: i64,
) -> Result<bool, StoreError> {
    let minutes = (now - s.start_time).max(0) / 60;
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
    push_event(
        c,
        "session.ended",
        &serde_json::json!({
            "session_id": s.id,
            "mac_address": s.mac,
            "end_time": now,
            "end_reason": reason.as_str(),
            "duration_minutes": minutes,
            "bytes_up": s.bytes_up,
            "bytes_down": s.bytes_down,
        }),
        now,
    )?;
    Ok(true)
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

/// Appends an event for the cloud.
pub fn push_event(
    c: &Connection,
    kind: &str,
    payload: &serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    c.prepare_cached("INSERT INTO outbox (id, kind, payload, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![
            uuid::Uuid::new_v4().to_string(),
            kind,
            payload.to_string(),
            now
        ])?;
    Ok(())
}

const VOUCHER_COLS: &str = "id, hotspot_id, voucher_code, voucher_type, duration_minutes, \
     data_limit_mb, max_devices, expiry_date, used_at, used_by_mac, plan_id";

/// The voucher with this (normalised) code.
pub fn find_voucher(c: &Connection, code: &str) -> Result<Option<Voucher>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {VOUCHER_COLS} FROM vouchers WHERE voucher_code = ?1"
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

/// Records a device's redemption; on first use binds `used_at`/`used_by_mac`.
pub fn redeem(c: &Connection, voucher: &Voucher, mac: MacAddr, now: i64) -> Result<(), StoreError> {
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
    push_event(
        c,
        "voucher.redeemed",
        &serde_json::json!({
            "voucher_id": voucher.id,
            "voucher_code": voucher.code,
            "mac_address": mac,
            "redeemed_at": now,
        }),
        now,
    )
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
    push_event(
        c,
        "access.blocked",
        &serde_json::json!({ "mac_address": mac, "blocked_reason": reason, "at": now }),
        now,
    )?;
    match active_session(c, mac)? {
        Some(s) => end_session(c, &s, EndReason::Blocked, now),
        None => Ok(false),
    }
}

/// Ends the device's live session as an operator kick. False when it had none.
pub fn kick(c: &Connection, mac: MacAddr, now: i64) -> Result<bool, StoreError> {
    match active_session(c, mac)? {
        Some(s) => end_session(c, &s, EndReason::Kick, now),
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
        today_sessions,
        today_peak,
    })
}
