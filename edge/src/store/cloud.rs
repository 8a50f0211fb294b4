//! Applying what the cloud sends to the site's database: the changes of a pull (plans, vouchers,
//! the access list, settings, kicks, operators' extensions of sessions) and the cursor to pull
//! from next, and the actions of a push answer. Plain functions on a connection; the caller puts a whole pull page and its cursor in
//! one transaction, so a crash never stores a cursor past changes it did not apply.
//!
//! Every change is the entity's current state (or its deletion), so applying one twice is
//! harmless; an extension adds to a session, so it is recorded by its id and applied once. Values the local schema cannot hold are made to fit rather than refused: a bad
//! value must not stop the pull forever. What the live sessions must do as a result (end one,
//! change its rates) is returned as [`Effect`]s for the caller to apply to the firewall after the
//! commit.

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use hotspot_shared::MacAddr;
use hotspot_shared::plan::{EndReason, MB, mbps_to_kbps};
use hotspot_shared::sync::{Access, Change, EdgeClock, Extension, Plan, Voucher, VoucherType};

use super::StoreError;
use super::access::{self as q, SessionType};
use super::outbox;

/// What a live session must do after a change was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Its session ended: remove the device from the firewall.
    Revoke(MacAddr),
    /// Its session's rates changed: grant it again with the session's new rates.
    Regrant(MacAddr),
}

/// How long an applied extension's id is remembered, in seconds (a week).
const EXTENSIONS_KEPT_S: i64 = 7 * 86_400;

/// The `sync_state` key of the pull cursor.
const CURSOR: &str = "pull_cursor";

/// Where the next pull starts (none: from the beginning).
pub fn cursor(c: &Connection) -> Result<Option<String>, StoreError> {
    Ok(match outbox::state(c, CURSOR)? {
        Some(rusqlite::types::Value::Text(t)) => Some(t),
        _ => None,
    })
}

/// Stores the cursor to pull from next.
pub fn set_cursor(c: &Connection, cursor: &str) -> Result<(), StoreError> {
    outbox::set_state(c, CURSOR, cursor)
}

/// A price in minor units (cents) as the decimal text the `price` columns hold.
fn decimal(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn positive(v: Option<u32>) -> Option<i64> {
    v.filter(|&n| n > 0).map(i64::from)
}

/// Adds or updates a plan (a package guests can buy).
pub fn upsert_plan(c: &Connection, p: &Plan, now: i64) -> Result<(), StoreError> {
    let name: String = p.name.trim().chars().take(100).collect();
    let name = if name.is_empty() {
        "Plan".to_owned()
    } else {
        name
    };
    let currency = if p.currency.len() == 3 {
        p.currency.to_ascii_uppercase()
    } else {
        "KES".to_owned()
    };
    c.prepare_cached(
        "INSERT INTO plans (id, name, duration_minutes, data_limit_mb, down_kbps, up_kbps, price,
           currency, is_active, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
           duration_minutes = excluded.duration_minutes, data_limit_mb = excluded.data_limit_mb,
           down_kbps = excluded.down_kbps, up_kbps = excluded.up_kbps, price = excluded.price,
           currency = excluded.currency, is_active = excluded.is_active,
           updated_at = excluded.updated_at",
    )?
    .execute(params![
        p.id.to_string(),
        name,
        positive(p.duration_minutes),
        positive(p.data_limit_mb),
        i64::from(p.down_kbps),
        i64::from(p.up_kbps),
        decimal(p.price_minor),
        currency,
        p.active,
        now
    ])?;
    // Vouchers that arrived before their plan.
    c.prepare_cached(
        "UPDATE vouchers SET plan_id = ?1 WHERE cloud_plan_id = ?1 AND plan_id IS NULL",
    )?
    .execute([p.id.to_string()])?;
    Ok(())
}

/// Removes a plan; one that vouchers still name is only deactivated (they keep its rates).
pub fn delete_plan(c: &Connection, id: Uuid, now: i64) -> Result<(), StoreError> {
    let id = id.to_string();
    let used: bool = c
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM vouchers WHERE plan_id = ?1)")?
        .query_row([&id], |r| r.get(0))?;
    if used {
        c.prepare_cached("UPDATE plans SET is_active = 0, updated_at = ?2 WHERE id = ?1")?
            .execute(params![id, now])?;
    } else {
        c.prepare_cached("DELETE FROM plans WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

fn voucher_referenced(c: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM voucher_redemptions WHERE voucher_id = ?1)
                 OR EXISTS (SELECT 1 FROM sessions WHERE voucher_id = ?1)",
    )?
    .query_row([id], |r| r.get(0))?)
}

/// Adds or updates a voucher of this hotspot as the cloud holds it (also used to store a voucher
/// the cloud issued for a paid purchase). Devices the cloud already counts are recorded as
/// redemptions, so `max_devices` holds across routers; a voucher first used elsewhere starts its
/// time here when this router first hears of the use. A code already held under another id (a
/// local import) takes the cloud's id, or keeps its own when local sessions refer to it.
pub fn upsert_voucher(c: &Connection, v: &Voucher, now: i64) -> Result<(), StoreError> {
    let code = hotspot_shared::voucher::normalize(&v.code)
        .unwrap_or_else(|_| v.code.trim().to_ascii_uppercase());
    if !(4..=32).contains(&code.len()) {
        tracing::warn!(voucher = %v.id, "voucher from the cloud with an unusable code skipped");
        return Ok(());
    }
    let mut id = v.id.to_string();
    let holder: Option<String> = c
        .prepare_cached("SELECT id FROM vouchers WHERE voucher_code = ?1")?
        .query_row([&code], |r| r.get(0))
        .optional()?;
    if let Some(other) = holder.filter(|o| *o != id) {
        if voucher_referenced(c, &other)? {
            id = other;
        } else {
            c.prepare_cached("DELETE FROM vouchers WHERE id = ?1")?
                .execute([other])?;
        }
    }
    let duration = positive(v.duration_minutes);
    let data = positive(v.data_limit_mb);
    // The schema requires the limit a type names; without it the voucher limits nothing.
    let kind = match v.voucher_type {
        VoucherType::TimeBased if duration.is_some() => "time_based",
        VoucherType::DataBased if data.is_some() => "data_based",
        _ => "unlimited",
    };
    let plan = v.plan_id.map(|p| p.to_string());
    c.prepare_cached(
        "INSERT INTO vouchers (id, hotspot_id, voucher_code, voucher_type, duration_minutes,
           data_limit_mb, plan_id, cloud_plan_id, max_devices, expiry_date, revoked, created_at,
           updated_at)
         VALUES (?1, NULL, ?2, ?3, ?4, ?5,
           (SELECT id FROM plans WHERE id = ?6), ?6, ?7, ?8, ?9, ?10, ?10)
         ON CONFLICT (id) DO UPDATE SET voucher_code = excluded.voucher_code,
           voucher_type = excluded.voucher_type, duration_minutes = excluded.duration_minutes,
           data_limit_mb = excluded.data_limit_mb, plan_id = excluded.plan_id,
           cloud_plan_id = excluded.cloud_plan_id,
           max_devices = excluded.max_devices, expiry_date = excluded.expiry_date,
           revoked = excluded.revoked, updated_at = excluded.updated_at",
    )?
    .execute(params![
        id,
        code,
        kind,
        duration,
        data,
        plan,
        i64::from(v.max_devices.max(1)),
        v.expires_ms.map(|ms| ms.div_euclid(1000)),
        v.revoked,
        now
    ])?;
    for mac in &v.used_by {
        c.prepare_cached(
            "INSERT OR IGNORE INTO voucher_redemptions (voucher_id, mac_address, redeemed_at)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, mac.to_string(), now])?;
        c.prepare_cached(
            "UPDATE vouchers SET is_used = 1, used_at = coalesce(used_at, ?2),
             used_by_mac = coalesce(used_by_mac, ?3) WHERE id = ?1",
        )?
        .execute(params![id, now, mac.to_string()])?;
    }
    Ok(())
}

/// Removes a voucher; one with local redemptions or sessions is revoked instead (no new device
/// may use it; live sessions run to their limits).
pub fn delete_voucher(c: &Connection, id: Uuid, now: i64) -> Result<(), StoreError> {
    let id = id.to_string();
    if voucher_referenced(c, &id)? {
        c.prepare_cached("UPDATE vouchers SET revoked = 1, updated_at = ?2 WHERE id = ?1")?
            .execute(params![id, now])?;
    } else {
        c.prepare_cached("DELETE FROM vouchers WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// Adds or updates a registered device. A blocked device's live session ends; a live client
/// session of the device takes the new rate.
pub fn upsert_access(
    c: &Connection,
    a: &Access,
    at: &EdgeClock,
) -> Result<Vec<Effect>, StoreError> {
    let now = crate::clock::secs_of(at);
    let id = a.id.to_string();
    let mac = a.mac.to_string();
    // The MAC may be listed under another id (added with `hotspotd allow`, or the cloud moved
    // the device to a new entry): the cloud's entry replaces it.
    c.prepare_cached("DELETE FROM access_list WHERE mac_address = ?1 AND id <> ?2")?
        .execute(params![mac, id])?;
    let name: Option<String> = a
        .device_name
        .as_ref()
        .map(|n| n.chars().take(100).collect());
    let reason: Option<String> = a
        .blocked_reason
        .as_ref()
        .map(|r| r.chars().filter(|c| !c.is_control()).take(280).collect());
    c.prepare_cached(
        "INSERT INTO access_list (id, mac_address, device_name, auto_connect,
           bandwidth_allocation, is_blocked, blocked_reason, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (id) DO UPDATE SET mac_address = excluded.mac_address,
           device_name = excluded.device_name, auto_connect = excluded.auto_connect,
           bandwidth_allocation = excluded.bandwidth_allocation,
           is_blocked = excluded.is_blocked, blocked_reason = excluded.blocked_reason,
           updated_at = excluded.updated_at",
    )?
    .execute(params![
        id,
        mac,
        name,
        a.auto_connect,
        i64::from(a.bandwidth_mbps),
        a.blocked,
        reason,
        now
    ])?;
    let mut effects = Vec::new();
    if let Some(s) = q::active_session(c, a.mac)? {
        if a.blocked {
            if q::end_session(c, &s, EndReason::Blocked, at)? {
                effects.push(Effect::Revoke(a.mac));
            }
        } else if s.session_type == SessionType::Client {
            let kbps = mbps_to_kbps(i64::from(a.bandwidth_mbps));
            if (s.down_kbps, s.up_kbps) != (kbps, kbps) {
                c.prepare_cached("UPDATE sessions SET down_kbps = ?2, up_kbps = ?2 WHERE id = ?1")?
                    .execute(params![s.id, i64::from(kbps)])?;
                effects.push(Effect::Regrant(a.mac));
            }
        }
    }
    Ok(effects)
}

/// Removes a registered device. Its live session, if any, runs on until it ends.
pub fn delete_access(c: &Connection, id: Uuid) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM access_list WHERE id = ?1")?
        .execute([id.to_string()])?;
    Ok(())
}

/// Sets (or with `None` removes) a site setting.
pub fn set_setting(
    c: &Connection,
    key: &str,
    value: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    if !(1..=64).contains(&key.len()) {
        tracing::warn!("setting from the cloud with an unusable key skipped");
        return Ok(());
    }
    match value {
        Some(v) => c
            .prepare_cached(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                   updated_at = excluded.updated_at",
            )?
            .execute(params![key, v, now])?,
        None => c
            .prepare_cached("DELETE FROM settings WHERE key = ?1")?
            .execute([key])?,
    };
    Ok(())
}

/// Applies one pulled change at `at`; returns what the live sessions must do.
pub fn apply(c: &Connection, change: &Change, at: &EdgeClock) -> Result<Vec<Effect>, StoreError> {
    let now = crate::clock::secs_of(at);
    match change {
        Change::PlanUpsert(p) => upsert_plan(c, p, now)?,
        Change::PlanDelete { id } => delete_plan(c, *id, now)?,
        Change::VoucherUpsert(v) => upsert_voucher(c, v, now)?,
        Change::VoucherDelete { id } => delete_voucher(c, *id, now)?,
        Change::AccessUpsert(a) => return upsert_access(c, a, at),
        Change::AccessDelete { id } => delete_access(c, *id)?,
        Change::Setting { key, value } => set_setting(c, key, value.as_deref(), now)?,
        Change::Kick { mac } => {
            if q::kick_at(c, *mac, at)? {
                return Ok(vec![Effect::Revoke(*mac)]);
            }
        }
    }
    Ok(Vec::new())
}

/// Applies an operator's extension to its session, as a voucher top-up is applied: the minutes
/// from the later of now and the session's end, the data added to its allowance; a limit the
/// session does not have stays unlimited. Once per extension id: true when it was applied now,
/// false when it was applied before or its session is no longer live on that device (nothing to
/// extend; recorded all the same, so it is not looked at again).
pub fn apply_extension(c: &Connection, e: &Extension, at: &EdgeClock) -> Result<bool, StoreError> {
    let now = crate::clock::secs_of(at);
    let session = e.session_id.to_string();
    let fresh = c
        .prepare_cached(
            "INSERT OR IGNORE INTO applied_extensions (id, session_id, applied_at)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![e.id.to_string(), session, now])?
        == 1;
    if !fresh {
        return Ok(false);
    }
    let Some(s) = q::active_session(c, e.mac)?.filter(|s| s.id == session) else {
        tracing::info!(mac = %e.mac, session = %e.session_id, "extension for a session no longer live");
        return Ok(false);
    };
    let more = s.limits.extended(
        e.minutes.map(|m| i64::from(m) * 60),
        e.data_mb.map(|mb| u64::from(mb).saturating_mul(MB)),
        now,
    );
    q::extend_session(c, &s.id, more.ends_at, more.data_bytes)?;
    tracing::info!(mac = %e.mac, minutes = ?e.minutes, data_mb = ?e.data_mb, "session extended by an operator");
    Ok(true)
}

/// Applies a pull page (its changes, then its extensions) and stores its cursor; the caller
/// commits them together.
pub fn apply_page(
    c: &Connection,
    changes: &[Change],
    extensions: &[Extension],
    next_cursor: &str,
    at: &EdgeClock,
) -> Result<Vec<Effect>, StoreError> {
    // In order: a voucher that comes before its plan is linked when the plan comes
    // (`upsert_plan`), within this page or a later one.
    let mut effects = Vec::new();
    for change in changes {
        effects.extend(apply(c, change, at)?);
    }
    // The limits live in the session row, which the accounting cycle checks: the firewall
    // needs no change to let the session run on.
    if !extensions.is_empty() {
        // The cloud delivers an extension for a day at most: its id can come back only
        // within that day, so a week's record is plenty.
        c.prepare_cached("DELETE FROM applied_extensions WHERE applied_at < ?1")?
            .execute([crate::clock::secs_of(at).saturating_sub(EXTENSIONS_KEPT_S)])?;
    }
    for e in extensions {
        apply_extension(c, e, at)?;
    }
    set_cursor(c, next_cursor)?;
    Ok(effects)
}

/// Ends a session the cloud refused (`EdgeAction::EndSession`). Returns the device to remove
/// from the firewall, if the session was still live.
pub fn end_refused(
    c: &Connection,
    session_id: Uuid,
    at: &EdgeClock,
) -> Result<Option<MacAddr>, StoreError> {
    let mac: Option<String> = c
        .prepare_cached(
            "SELECT mac_address FROM sessions WHERE id = ?1 AND session_status = 'active'",
        )?
        .query_row([session_id.to_string()], |r| r.get(0))
        .optional()?;
    let Some(mac) = mac.and_then(|m| m.parse::<MacAddr>().ok()) else {
        return Ok(None);
    };
    match q::active_session(c, mac)? {
        Some(s) if s.id == session_id.to_string() => {
            q::end_session(c, &s, EndReason::Refused, at)?;
            Ok(Some(mac))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn at(s: i64) -> EdgeClock {
        EdgeClock {
            boot_id: Uuid::from_u128(9),
            uptime_ms: s as u64 * 1000,
            wall_ms: s * 1000,
            wall_trusted: true,
        }
    }

    fn plan() -> Plan {
        Plan {
            id: Uuid::from_u128(1),
            name: "1 hour".into(),
            duration_minutes: Some(60),
            data_limit_mb: None,
            down_kbps: 2000,
            up_kbps: 1000,
            price_minor: 5050,
            currency: "KES".into(),
            active: true,
        }
    }

    fn voucher() -> Voucher {
        Voucher {
            id: Uuid::from_u128(2),
            code: "ABCD-EFGH-JK".into(),
            voucher_type: VoucherType::TimeBased,
            plan_id: Some(Uuid::from_u128(1)),
            duration_minutes: Some(60),
            data_limit_mb: None,
            max_devices: 2,
            expires_ms: Some(2_000_000_000_000),
            used_by: vec![MacAddr([2, 0, 0, 0, 0, 9])],
            revoked: false,
        }
    }

    #[test]
    fn plans_and_vouchers_are_upserted_idempotently() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        store
            .blocking(|c| {
                upsert_plan(c, &plan(), 10)?;
                upsert_plan(c, &plan(), 11)?;
                let (price, down): (String, i64) = c.query_row(
                    "SELECT price, down_kbps FROM plans WHERE id = ?1",
                    [plan().id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                assert_eq!((price.as_str(), down), ("50.50", 2000));
                upsert_voucher(c, &voucher(), 10)?;
                upsert_voucher(c, &voucher(), 12)?;
                let found = q::find_voucher(c, "ABCDEFGHJK")?
                    .or(q::find_voucher(c, "ABCD-EFGH-JK")?)
                    .expect("stored under its normalised code");
                assert_eq!(found.id, voucher().id.to_string());
                assert_eq!(found.plan_id, Some(plan().id.to_string()));
                assert_eq!(found.expiry_date, Some(2_000_000_000));
                let usage = q::voucher_usage(c, &found.id)?;
                assert_eq!(usage.devices, [MacAddr([2, 0, 0, 0, 0, 9])]);
                // Revoked: the code no longer lets anyone in.
                upsert_voucher(
                    c,
                    &Voucher {
                        revoked: true,
                        ..voucher()
                    },
                    13,
                )?;
                assert!(q::find_voucher(c, &found.code)?.is_none());
                // Deleted with a redemption on it: revoked, kept for the records.
                delete_voucher(c, voucher().id, 14)?;
                let n: i64 = c.query_row("SELECT count(*) FROM vouchers", [], |r| r.get(0))?;
                assert_eq!(n, 1);
                delete_plan(c, plan().id, 15)?;
                let active: bool = c.query_row("SELECT is_active FROM plans", [], |r| r.get(0))?;
                assert!(!active, "named by a voucher: deactivated, not deleted");
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_voucher_before_its_plan_in_a_page_still_gets_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        store
            .blocking(|c| {
                let tx = c.transaction()?;
                // The plan was edited after the voucher was made: it comes last in the page.
                apply_page(
                    &tx,
                    &[Change::VoucherUpsert(voucher()), Change::PlanUpsert(plan())],
                    &[],
                    "c1.9.0.0",
                    &at(100),
                )?;
                tx.commit()?;
                let found = q::find_voucher(c, "ABCDEFGHJK")?.expect("stored");
                assert_eq!(found.plan_id, Some(plan().id.to_string()));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_voucher_pulled_a_page_ahead_of_its_plan_is_linked_when_the_plan_comes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        store
            .blocking(|c| {
                let tx = c.transaction()?;
                apply_page(
                    &tx,
                    &[Change::VoucherUpsert(voucher())],
                    &[],
                    "c1.8.0.0",
                    &at(100),
                )?;
                tx.commit()?;
                let early = q::find_voucher(c, "ABCDEFGHJK")?.expect("stored");
                assert_eq!(early.plan_id, None, "no such plan here yet");
                let tx = c.transaction()?;
                apply_page(
                    &tx,
                    &[Change::PlanUpsert(plan())],
                    &[],
                    "c1.9.0.0",
                    &at(101),
                )?;
                tx.commit()?;
                let linked = q::find_voucher(c, "ABCDEFGHJK")?.expect("stored");
                assert_eq!(linked.plan_id, Some(plan().id.to_string()));
                let rates = q::plan_rates(c, &plan().id.to_string())?;
                assert_eq!(rates.map(|r| r.0), Some(2000));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_kick_and_a_block_end_sessions_and_a_page_stores_its_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let other = MacAddr([2, 0, 0, 0, 0, 2]);
        store
            .blocking(|c| {
                let tx = c.transaction()?;
                for m in [mac, other] {
                    q::start_session(
                        &tx,
                        &q::NewSession {
                            mac: m,
                            ip: None,
                            session_type: SessionType::Guest,
                            voucher: None,
                            limits: Default::default(),
                            down_kbps: 0,
                            up_kbps: 0,
                            user_agent: None,
                        },
                        &at(100),
                    )?;
                }
                let access = Access {
                    id: Uuid::from_u128(5),
                    mac: other,
                    device_name: None,
                    auto_connect: true,
                    bandwidth_mbps: 3,
                    blocked: true,
                    blocked_reason: Some("unpaid".into()),
                };
                let effects = apply_page(
                    &tx,
                    &[
                        Change::Kick { mac },
                        Change::AccessUpsert(access),
                        Change::Setting {
                            key: "ssid".into(),
                            value: Some("Cafe".into()),
                        },
                    ],
                    &[],
                    "c1.5.0.0",
                    &at(200),
                )?;
                tx.commit()?;
                assert_eq!(effects, [Effect::Revoke(mac), Effect::Revoke(other)]);
                assert!(q::active_sessions(c)?.is_empty());
                assert_eq!(cursor(c)?.as_deref(), Some("c1.5.0.0"));
                let reasons: Vec<String> = c
                    .prepare("SELECT end_reason FROM sessions ORDER BY mac_address")?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                assert_eq!(reasons, ["kick", "blocked"]);
                // A kick of a device with no live session does nothing.
                assert!(apply(c, &Change::Kick { mac }, &at(300))?.is_empty());
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_pulled_extension_raises_the_live_sessions_allowance_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        let mac = MacAddr([2, 0, 0, 0, 0, 7]);
        store
            .blocking(|c| {
                let tx = c.transaction()?;
                let s = q::start_session(
                    &tx,
                    &q::NewSession {
                        mac,
                        ip: None,
                        session_type: SessionType::Voucher,
                        voucher: None,
                        limits: hotspot_shared::plan::Limits {
                            ends_at: Some(1_000),
                            data_bytes: Some(10 * MB),
                        },
                        down_kbps: 0,
                        up_kbps: 0,
                        user_agent: None,
                    },
                    &at(100),
                )?;
                tx.commit()?;
                let session_id: Uuid = s.id.parse().unwrap();
                let extension = Extension {
                    id: Uuid::from_u128(77),
                    session_id,
                    mac,
                    minutes: Some(30),
                    data_mb: Some(100),
                };
                let limits = |c: &Connection| -> Result<(Option<i64>, Option<i64>), StoreError> {
                    Ok(c.query_row(
                        "SELECT ends_at, data_limit_bytes FROM sessions WHERE id = ?1",
                        [&s.id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?)
                };
                let raised = (Some(1_000 + 30 * 60), Some(110 * MB as i64));
                // The same page pulled twice (the first cursor never stored): applied once.
                for cursor in ["c1.6.0.0", "c1.6.0.0"] {
                    let tx = c.transaction()?;
                    let effects =
                        apply_page(&tx, &[], std::slice::from_ref(&extension), cursor, &at(200))?;
                    tx.commit()?;
                    assert!(effects.is_empty(), "the session runs on: nothing to revoke");
                    assert_eq!(limits(c)?, raised);
                }
                assert_eq!(q::active_sessions(c)?.len(), 1);
                // Another extension of it adds again; one for another session changes nothing.
                let more = Extension {
                    id: Uuid::from_u128(78),
                    data_mb: None,
                    ..extension.clone()
                };
                assert!(apply_extension(c, &more, &at(300))?);
                assert_eq!(limits(c)?, (Some(1_000 + 60 * 60), raised.1));
                let elsewhere = Extension {
                    id: Uuid::from_u128(79),
                    session_id: Uuid::from_u128(1),
                    ..extension.clone()
                };
                assert!(!apply_extension(c, &elsewhere, &at(300))?);
                assert_eq!(limits(c)?, (Some(1_000 + 60 * 60), raised.1));
                Ok(())
            })
            .unwrap();
    }
}
