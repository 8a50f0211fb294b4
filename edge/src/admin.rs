//! The site technician's command line: `hotspotd status`, `clients`, `kick`, `block`, `allow`,
//! `vouchers import`, `vouchers check`.
//!
//! Each command works on the SQLite file directly, so it works whether or not the daemon runs.
//! A running daemon applies kicks and blocks on its next accounting cycle
//! (`sessions.accounting_interval_seconds`): it removes from the firewall every client without a
//! live session. Functions return the text to print so tests can read it.

use std::fmt::Write as _;

use hotspot_shared::MacAddr;
use hotspot_shared::voucher::{CodeError, display, normalize};

use crate::clock::datetime_of;
use crate::config::Config;
use crate::store::access as q;
use crate::store::{Store, StoreError};
use crate::vouchers;

/// A command that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Mac(#[from] hotspot_shared::mac::MacParseError),
    #[error("{0}")]
    Code(#[from] CodeError),
    #[error("nothing imported; fix these lines:\n{}", .0.join("\n"))]
    Import(Vec<String>),
}

/// Counts of what the site holds.
pub fn status(store: &Store, config: &Config, now: i64) -> Result<String, AdminError> {
    let (version, s, radius) = store.blocking(|c| {
        let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let radius = (
            crate::store::radius::queue_len(c)?,
            crate::store::outbox::counter(c, "radius_acct_dropped")?,
        );
        Ok((v, q::summary(c, now)?, radius))
    })?;
    // Only where this router is a RADIUS NAS.
    let radius = match &config.radius {
        Some(_) => format!(
            "RADIUS accounting waiting for a server: {}
             RADIUS Interim-Updates dropped (queue full): {}
",
            radius.0, radius.1
        ),
        None => String::new(),
    };
    Ok(format!(
        "site: {}\nhotspot id: {}\ndatabase: {} (schema {version})\nportal: {}\n\
         live sessions: {}\nvouchers: {} unused, {} used\ndevices: {} registered, {} blocked\n\
         today: {} sessions, peak {} at once\nevents waiting for the cloud: {}\n\
         analytics events dropped (outbox full): {}\nevents the cloud refused, set aside: {}\n\
         {radius}",
        config.site_name,
        config.hotspot_id.as_deref().unwrap_or("(not claimed)"),
        config.store_path.display(),
        config.base_url,
        s.active_sessions,
        s.vouchers_unused,
        s.vouchers_used,
        s.devices_registered,
        s.devices_blocked,
        s.today_sessions,
        s.today_peak,
        s.outbox_pending,
        s.outbox_dropped,
        s.outbox_refused,
    ))
}

/// The live sessions, one a line.
pub fn clients(store: &Store, now: i64) -> Result<String, AdminError> {
    let rows = store.blocking(|c| q::active_sessions(c))?;
    let mut out = String::from(
        "MAC                IP               TYPE     SINCE                 TIME LEFT  DATA USED\n",
    );
    for s in &rows {
        let left = s
            .limits
            .seconds_remaining(now)
            .map_or_else(|| "-".to_owned(), crate::portal::text::duration);
        let _ = writeln!(
            out,
            "{:<18} {:<16} {:<8} {:<21} {:<10} {}",
            s.mac.to_string(),
            s.ip.as_deref().unwrap_or("-"),
            s.session_type.as_str(),
            datetime_of(s.start_time),
            left,
            crate::portal::text::megabytes(s.bytes()),
        );
    }
    let _ = writeln!(out, "{} live", rows.len());
    Ok(out)
}

/// Ends a device's session.
pub fn kick(store: &Store, mac: &str, now: i64) -> Result<String, AdminError> {
    let mac: MacAddr = mac.parse()?;
    let ended = store.blocking(|c| {
        let tx = c.transaction()?;
        let ended = q::kick(&tx, mac, now)?;
        tx.commit()?;
        Ok(ended)
    })?;
    Ok(if ended {
        format!("{mac}: session ended; the daemon removes it from the firewall on its next cycle\n")
    } else {
        format!("{mac}: no live session\n")
    })
}

/// Blocks a device and ends its session.
pub fn block(store: &Store, mac: &str, reason: &str, now: i64) -> Result<String, AdminError> {
    let mac: MacAddr = mac.parse()?;
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(280)
        .collect();
    let ended = store.blocking(|c| {
        let tx = c.transaction()?;
        let ended = q::block(&tx, mac, &reason, now)?;
        tx.commit()?;
        Ok(ended)
    })?;
    Ok(format!(
        "{mac}: blocked{}\n",
        if ended { "; its session ended" } else { "" }
    ))
}

/// Registers a device for auto-connect at `mbps` each way (and unblocks it).
pub fn allow(store: &Store, mac: &str, mbps: i64, now: i64) -> Result<String, AdminError> {
    let mac: MacAddr = mac.parse()?;
    store.blocking(|c| {
        q::upsert_access(c, mac, true, mbps, now)?;
        c.execute(
            "UPDATE access_list SET is_blocked = 0, blocked_reason = NULL WHERE mac_address = ?1",
            [mac.to_string()],
        )?;
        Ok(())
    })?;
    Ok(format!("{mac}: connects automatically at {mbps} Mbit/s\n"))
}

/// Imports vouchers from CSV text (see [`vouchers::parse_import`]), all or nothing.
pub fn import(store: &Store, config: &Config, csv: &str, now: i64) -> Result<String, AdminError> {
    let rows = vouchers::parse_import(csv).map_err(AdminError::Import)?;
    let hotspot = config.hotspot_id.clone();
    let (added, skipped) = store.blocking(|c| {
        let tx = c.transaction()?;
        let r = q::import_vouchers(&tx, &rows, hotspot.as_deref(), now)?;
        tx.commit()?;
        Ok(r)
    })?;
    Ok(format!(
        "{added} vouchers imported, {skipped} already present\n"
    ))
}

/// What the voucher is and what a new device entering it now would be told.
pub fn check(store: &Store, config: &Config, code: &str, now: i64) -> Result<String, AdminError> {
    let code = normalize(code)?;
    let lookup = code.clone();
    let found = store.blocking(move |c| {
        let v = q::find_voucher(c, &lookup)?;
        let u = match &v {
            Some(v) => q::voucher_usage(c, &v.id)?,
            None => vouchers::Usage::default(),
        };
        Ok((v, u))
    })?;
    let (v, usage) = found;
    let Some(v) = v else {
        return Ok(format!("{}: no such voucher\n", display(&code)));
    };
    let mut out = String::new();
    let _ = writeln!(out, "code: {}", display(&v.code));
    let _ = writeln!(out, "type: {}", v.kind.as_str());
    if let Some(m) = v.duration_minutes {
        let _ = writeln!(out, "duration: {m} min");
    }
    if let Some(mb) = v.data_limit_mb {
        let _ = writeln!(out, "data limit: {mb} MB");
    }
    let _ = writeln!(out, "devices: {} of {}", usage.devices.len(), v.max_devices);
    if let Some(at) = v.expiry_date {
        let _ = writeln!(out, "redeemable until: {}", datetime_of(at));
    }
    match (v.used_at, &v.used_by_mac) {
        (Some(at), Some(mac)) => {
            let _ = writeln!(out, "first used: {} by {mac}", datetime_of(at));
        }
        _ => {
            let _ = writeln!(out, "first used: never");
        }
    }
    let _ = writeln!(
        out,
        "data used: {}",
        crate::portal::text::megabytes(usage.bytes)
    );
    // A device that has not used it yet.
    let newcomer = MacAddr([0x02, 0, 0, 0, 0, 0]);
    let verdict = match vouchers::check(
        Some(&v),
        &v.code,
        &usage,
        newcomer,
        config.hotspot_id.as_deref(),
        now,
    ) {
        Ok(_) => "a new device can use it now".to_owned(),
        Err(r) => crate::portal::text::refusal(crate::config::Language::English, &r),
    };
    let _ = writeln!(out, "now: {verdict}");
    Ok(out)
}
