//! A pushed batch, applied once. Every event's id goes into `edge_events` first; only the events
//! that were new there are applied, all in the one transaction, so a retry or a replay changes
//! nothing and a failure changes nothing either. Statements are per kind over arrays (`unnest`),
//! not per event, to keep a 500-event batch at a handful of round trips.
//!
//! Everything lands under the device's tenant (row-level security) and at the device's hotspot:
//! nothing in an event can name another hotspot.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::{Pool, Transaction};
use hotspot_shared::sync::{
    self, EdgeAction, EndReason, EventBody, MAX_EVENTS_PER_PUSH, PushRequest, PushResponse,
    SessionType,
};
use uuid::Uuid;

use super::SyncError;
use super::device::Device;
use crate::db::tenant_transaction;

fn kind(body: &EventBody) -> &'static str {
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

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// Checks what can be checked before touching the database.
pub fn validate(push: &PushRequest) -> Result<(), SyncError> {
    if push.version != sync::VERSION {
        return Err(SyncError::Version(push.version));
    }
    if push.events.len() > MAX_EVENTS_PER_PUSH {
        return Err(SyncError::TooManyEvents {
            got: push.events.len(),
            max: MAX_EVENTS_PER_PUSH,
        });
    }
    for e in &push.events {
        let bad = |what: &str| Err(SyncError::Invalid(format!("event {}: {what}", e.id)));
        // PostgreSQL text cannot hold a NUL: refused here, not failed on in the transaction.
        if texts(&e.body).any(|t| t.contains('\0')) {
            return bad("text with a NUL character");
        }
        match &e.body {
            EventBody::SessionStarted(s) => {
                if s.voucher_code.as_ref().is_some_and(|c| c.len() > 20) {
                    return bad("voucher code longer than 20 characters");
                }
                if s.user_agent.as_ref().is_some_and(|u| u.len() > 1024)
                    || s.device_fingerprint
                        .as_ref()
                        .is_some_and(|f| f.len() > 1024)
                {
                    return bad("user agent or fingerprint longer than 1024 bytes");
                }
            }
            EventBody::VoucherRedeemed(v)
                if v.voucher_code.is_empty() || v.voucher_code.len() > 20 =>
            {
                return bad("voucher code must have 1 to 20 characters");
            }
            EventBody::DailyAnalytics(a)
                if chrono::NaiveDate::parse_from_str(&a.date, "%Y-%m-%d").is_err() =>
            {
                return bad("date must be YYYY-MM-DD");
            }
            EventBody::DeviceHealth(h) if h.version.len() > 50 => {
                return bad("version longer than 50 characters");
            }
            EventBody::MacSeen(m) if m.hostname.as_ref().is_some_and(|h| h.len() > 255) => {
                return bad("hostname longer than 255 characters");
            }
            _ => {}
        }
    }
    Ok(())
}

/// The free text an event carries.
fn texts(body: &EventBody) -> impl Iterator<Item = &str> {
    let fields: [Option<&String>; 3] = match body {
        EventBody::SessionStarted(s) => [
            s.voucher_code.as_ref(),
            s.user_agent.as_ref(),
            s.device_fingerprint.as_ref(),
        ],
        EventBody::VoucherRedeemed(v) => [Some(&v.voucher_code), None, None],
        EventBody::MacSeen(m) => [m.hostname.as_ref(), m.dhcp_fingerprint.as_ref(), None],
        EventBody::DailyAnalytics(a) => [Some(&a.date), None, None],
        EventBody::DeviceHealth(h) => [Some(&h.version), None, None],
        EventBody::SessionUpdated(_) | EventBody::SessionEnded(_) => [None, None, None],
    };
    fields.into_iter().flatten().map(String::as_str)
}

/// Applies a batch for `device`; `received` is when the push arrived.
pub async fn ingest(
    pool: &Pool,
    device: &Device,
    push: &PushRequest,
    received: DateTime<Utc>,
) -> Result<PushResponse, SyncError> {
    validate(push)?;
    let received_ms = received.timestamp_millis();
    let at = |e: &sync::Event| -> DateTime<Utc> {
        Utc.timestamp_millis_opt(sync::place(&e.at, &push.sent, received_ms))
            .single()
            .unwrap_or(received)
    };

    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, device.tenant_id, None).await?;
    tx.execute(
        "UPDATE hotspot_devices SET last_seen_at = $2 WHERE id = $1",
        &[&device.id, &received],
    )
    .await?;

    // 1. Which events are new.
    let ids: Vec<Uuid> = push.events.iter().map(|e| e.id).collect();
    let kinds: Vec<&str> = push.events.iter().map(|e| kind(&e.body)).collect();
    let times: Vec<DateTime<Utc>> = push.events.iter().map(at).collect();
    let rows = tx
        .query(
            "INSERT INTO edge_events (tenant_id, event_id, device_id, kind, occurred_at)
             SELECT $1, e.id, $2, e.kind, e.at FROM unnest($3::uuid[], $4::text[], $5::timestamptz[]) AS e(id, kind, at)
             ON CONFLICT DO NOTHING RETURNING event_id",
            &[&device.tenant_id, &device.id, &ids, &kinds, &times],
        )
        .await?;
    let fresh: HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    let mut seen = HashSet::new();
    let new: Vec<(&sync::Event, DateTime<Utc>)> = push
        .events
        .iter()
        .zip(times.iter().copied())
        .filter(|(e, _)| fresh.contains(&e.id) && seen.insert(e.id))
        .collect();

    let mut actions = Vec::new();
    let folds = fold(&new);
    apply_sessions_started(&tx, device, &new, &folds).await?;
    apply_redemptions(&tx, device, &new, &mut actions).await?;
    apply_session_updates(&tx, device, &new, &folds).await?;
    apply_sessions_ended(&tx, device, &new, &folds).await?;
    apply_rest(&tx, device, &new).await?;
    tx.commit().await?;
    Ok(PushResponse {
        accepted: new.len() as u32,
        duplicates: (push.events.len() - new.len()) as u32,
        actions,
    })
}

/// What the later events of a batch say about a session the batch also starts. A router that
/// was offline sends a session's whole life in one batch; inserting the row with its final state
/// saves updating a just-inserted row of a partitioned table with seven indexes (each update there
/// costs about as much as the insert). Client sessions' ends are not folded: they also add to the
/// registered device's totals, which the end's own statement does.
#[derive(Debug, Default)]
struct Folds {
    /// Sessions started in this batch.
    started: HashSet<Uuid>,
    /// Their largest total of bytes seen in the batch's updates and end.
    bytes: HashMap<Uuid, u64>,
    /// Their end, when in the batch: (placed time, minutes, status).
    ended: HashMap<Uuid, (DateTime<Utc>, i32, &'static str)>,
}

fn status_of(reason: EndReason) -> &'static str {
    match reason {
        EndReason::TimeUsedUp | EndReason::DataUsedUp => "expired",
        EndReason::Kicked | EndReason::Refused => "terminated",
        EndReason::Idle | EndReason::Logout => "ended",
    }
}

fn minutes_of(duration_s: u64) -> i32 {
    i32::try_from(duration_s.div_ceil(60)).unwrap_or(i32::MAX)
}

fn fold(events: &[(&sync::Event, DateTime<Utc>)]) -> Folds {
    let mut f = Folds::default();
    let mut clients = HashSet::new();
    for (e, _) in events {
        if let EventBody::SessionStarted(s) = &e.body {
            f.started.insert(s.session_id);
            if s.session_type == SessionType::Client {
                clients.insert(s.session_id);
            }
        }
    }
    for (e, t) in events {
        match &e.body {
            EventBody::SessionUpdated(u) if f.started.contains(&u.session_id) => {
                let slot = f.bytes.entry(u.session_id).or_default();
                *slot = (*slot).max(u.bytes_up.saturating_add(u.bytes_down));
            }
            EventBody::SessionEnded(s)
                if f.started.contains(&s.session_id) && !clients.contains(&s.session_id) =>
            {
                let slot = f.bytes.entry(s.session_id).or_default();
                *slot = (*slot).max(s.bytes_up.saturating_add(s.bytes_down));
                f.ended.insert(
                    s.session_id,
                    (*t, minutes_of(s.duration_s), status_of(s.reason)),
                );
            }
            _ => {}
        }
    }
    f
}

async fn apply_sessions_started(
    tx: &Transaction<'_>,
    device: &Device,
    events: &[(&sync::Event, DateTime<Utc>)],
    folds: &Folds,
) -> Result<(), SyncError> {
    let (mut id, mut mac, mut kind, mut start, mut ip, mut code, mut access, mut fp, mut ua) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    let (mut end, mut minutes, mut mbs, mut status) = (vec![], vec![], vec![], vec![]);
    for (e, t) in events {
        if let EventBody::SessionStarted(s) = &e.body {
            id.push(s.session_id);
            mac.push(s.mac.to_string());
            kind.push(match s.session_type {
                SessionType::Voucher => "voucher",
                SessionType::Client => "client",
                SessionType::Guest => "guest",
            });
            start.push(*t);
            ip.push(s.ip.map(|a| a.to_string()));
            code.push(s.voucher_code.clone());
            access.push(s.access_id);
            fp.push(s.device_fingerprint.clone());
            ua.push(s.user_agent.clone());
            let ended = folds.ended.get(&s.session_id);
            end.push(ended.map(|e| e.0));
            minutes.push(ended.map(|e| e.1));
            status.push(ended.map_or("active", |e| e.2));
            mbs.push(mb(folds.bytes.get(&s.session_id).copied().unwrap_or(0)));
        }
    }
    if id.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO hotspot_sessions (id, tenant_id, hotspot_id, client_id, mac_address, session_type,
                                       start_time, ip_address, voucher_code, device_fingerprint, user_agent,
                                       end_time, duration_minutes, data_used_mb, session_status)
         SELECT s.id, $1, $2, a.client_id, s.mac, s.kind, s.start, s.ip::inet, s.code, s.fp, s.ua,
                CASE WHEN s.end_at IS NOT NULL THEN GREATEST(s.end_at, s.start) END,
                s.minutes, s.mb::numeric, s.status
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[],
                     $9::uuid[], $10::text[], $11::text[], $12::timestamptz[], $13::int[],
                     $14::float8[], $15::text[])
              AS s(id, mac, kind, start, ip, code, access, fp, ua, end_at, minutes, mb, status)
         LEFT JOIN client_hotspot_access a ON a.id = s.access AND a.hotspot_id = $2
         ON CONFLICT (id, start_time) DO NOTHING",
        &[
            &device.tenant_id,
            &device.hotspot_id,
            &id,
            &mac,
            &kind,
            &start,
            &ip,
            &code,
            &access,
            &fp,
            &ua,
            &end,
            &minutes,
            &mbs,
            &status,
        ],
    )
    .await?;
    Ok(())
}

/// The conflict rule for redemptions made offline: a device already counted is fine; a new one is
/// accepted while the voucher counts fewer than `max_devices` accepted devices; otherwise it is
/// recorded as refused and the edge is told to end that session.
async fn apply_redemptions(
    tx: &Transaction<'_>,
    device: &Device,
    events: &[(&sync::Event, DateTime<Utc>)],
    actions: &mut Vec<EdgeAction>,
) -> Result<(), SyncError> {
    for (e, t) in events {
        let EventBody::VoucherRedeemed(r) = &e.body else {
            continue;
        };
        let code = r.voucher_code.trim().to_ascii_uppercase();
        let voucher = tx
            .query_opt(
                "SELECT id, COALESCE(max_devices, 1) FROM hotspot_vouchers
                 WHERE voucher_code = $1 AND hotspot_id = $2 FOR UPDATE",
                &[&code, &device.hotspot_id],
            )
            .await?;
        let Some(voucher) = voucher else {
            // A code the cloud does not know (imported at the router): nothing to count against.
            tracing::info!(hotspot = %device.hotspot_id, "redemption of a voucher the cloud does not hold");
            continue;
        };
        let (voucher_id, max): (Uuid, i32) = (voucher.get(0), voucher.get(1));
        let mac = r.mac.to_string();
        let counts = tx
            .query_one(
                "SELECT count(*) FILTER (WHERE accepted),
                        bool_or(mac_address = $2 AND accepted)
                 FROM hotspot_voucher_redemptions WHERE voucher_id = $1",
                &[&voucher_id, &mac],
            )
            .await?;
        let (used, already): (i64, Option<bool>) = (counts.get(0), counts.get(1));
        let accepted = already == Some(true) || used < i64::from(max);
        tx.execute(
            "INSERT INTO hotspot_voucher_redemptions
                 (tenant_id, voucher_id, hotspot_id, mac_address, session_id, redeemed_at, accepted)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (voucher_id, mac_address) DO NOTHING",
            &[
                &device.tenant_id,
                &voucher_id,
                &device.hotspot_id,
                &mac,
                &r.session_id,
                t,
                &accepted,
            ],
        )
        .await?;
        if accepted {
            tx.execute(
                "UPDATE hotspot_vouchers SET is_used = true, used_at = COALESCE(used_at, $2),
                        used_by_mac = COALESCE(used_by_mac, $3)
                 WHERE id = $1",
                &[&voucher_id, t, &mac],
            )
            .await?;
        } else {
            let message = if used == 1 {
                "This voucher is already in use on 1 device.".to_owned()
            } else {
                format!("This voucher is already in use on {used} devices.")
            };
            actions.push(EdgeAction::EndSession {
                session_id: r.session_id,
                message,
            });
        }
    }
    Ok(())
}

async fn apply_session_updates(
    tx: &Transaction<'_>,
    device: &Device,
    events: &[(&sync::Event, DateTime<Utc>)],
    folds: &Folds,
) -> Result<(), SyncError> {
    // Latest totals per session (counters only grow); sessions started in this batch were
    // inserted with theirs.
    let mut latest: HashMap<Uuid, u64> = HashMap::new();
    for (e, _) in events {
        if let EventBody::SessionUpdated(u) = &e.body
            && !folds.started.contains(&u.session_id)
        {
            let total = u.bytes_up.saturating_add(u.bytes_down);
            let slot = latest.entry(u.session_id).or_default();
            *slot = (*slot).max(total);
        }
    }
    if latest.is_empty() {
        return Ok(());
    }
    let (ids, mbs): (Vec<Uuid>, Vec<f64>) = latest.into_iter().map(|(k, v)| (k, mb(v))).unzip();
    tx.execute(
        "UPDATE hotspot_sessions s SET data_used_mb = GREATEST(COALESCE(s.data_used_mb, 0), u.mb::numeric)
         FROM unnest($2::uuid[], $3::float8[]) AS u(id, mb)
         WHERE s.id = u.id AND s.hotspot_id = $1 AND s.end_time IS NULL",
        &[&device.hotspot_id, &ids, &mbs],
    )
    .await?;
    Ok(())
}

async fn apply_sessions_ended(
    tx: &Transaction<'_>,
    device: &Device,
    events: &[(&sync::Event, DateTime<Utc>)],
    folds: &Folds,
) -> Result<(), SyncError> {
    let (mut ids, mut ends, mut mbs, mut minutes, mut statuses) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (e, t) in events {
        if let EventBody::SessionEnded(s) = &e.body
            && !folds.ended.contains_key(&s.session_id)
        {
            ids.push(s.session_id);
            ends.push(*t);
            mbs.push(mb(s.bytes_up.saturating_add(s.bytes_down)));
            minutes.push(minutes_of(s.duration_s));
            statuses.push(status_of(s.reason));
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    // The session's end, and for a registered device its running totals.
    tx.execute(
        "WITH ended AS (
             UPDATE hotspot_sessions s
             SET end_time = GREATEST(u.end_at, s.start_time), duration_minutes = u.minutes,
                 data_used_mb = GREATEST(COALESCE(s.data_used_mb, 0), u.mb::numeric),
                 session_status = u.status
             FROM unnest($2::uuid[], $3::timestamptz[], $4::float8[], $5::int[], $6::text[])
                  AS u(id, end_at, mb, minutes, status)
             WHERE s.id = u.id AND s.hotspot_id = $1 AND s.end_time IS NULL
             RETURNING s.mac_address, s.data_used_mb, s.end_time, s.session_type
         )
         UPDATE client_hotspot_access a
         SET total_sessions = COALESCE(a.total_sessions, 0) + 1,
             total_data_used_mb = COALESCE(a.total_data_used_mb, 0) + e.data_used_mb,
             last_connected_at = GREATEST(a.last_connected_at, e.end_time)
         FROM ended e
         WHERE a.hotspot_id = $1 AND lower(a.mac_address) = lower(e.mac_address)
           AND e.session_type = 'client'",
        &[&device.hotspot_id, &ids, &ends, &mbs, &minutes, &statuses],
    )
    .await?;
    Ok(())
}

async fn apply_rest(
    tx: &Transaction<'_>,
    device: &Device,
    events: &[(&sync::Event, DateTime<Utc>)],
) -> Result<(), SyncError> {
    for (e, t) in events {
        match &e.body {
            EventBody::MacSeen(m) => {
                tx.execute(
                    "UPDATE client_hotspot_access SET last_connected_at = GREATEST(last_connected_at, $3)
                     WHERE hotspot_id = $1 AND lower(mac_address) = $2",
                    &[&device.hotspot_id, &m.mac.to_string(), t],
                )
                .await?;
            }
            EventBody::DailyAnalytics(a) => {
                let date = chrono::NaiveDate::parse_from_str(&a.date, "%Y-%m-%d")
                    .map_err(|_| SyncError::Invalid("date".into()))?;
                let gb = a.bytes as f64 / 1_073_741_824.0;
                let avg_minutes = a.avg_session_duration_s as f64 / 60.0;
                let uptime = (f64::from(a.uptime_s) / 864.0).min(100.0);
                let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                tx.execute(
                    "INSERT INTO hotspot_analytics
                         (tenant_id, hotspot_id, date, total_sessions, unique_users, total_data_used_gb,
                          peak_concurrent_users, avg_session_duration_minutes, uptime_percentage,
                          guest_sessions, client_sessions, voucher_sessions)
                     VALUES ($1, $2, $3, $4, $5, $6::float8::numeric, $7, $8::float8::numeric,
                             $9::float8::numeric, $10, $11, $12)
                     ON CONFLICT (hotspot_id, date) DO UPDATE SET
                         total_sessions = EXCLUDED.total_sessions, unique_users = EXCLUDED.unique_users,
                         total_data_used_gb = EXCLUDED.total_data_used_gb,
                         peak_concurrent_users = EXCLUDED.peak_concurrent_users,
                         avg_session_duration_minutes = EXCLUDED.avg_session_duration_minutes,
                         uptime_percentage = EXCLUDED.uptime_percentage,
                         guest_sessions = EXCLUDED.guest_sessions,
                         client_sessions = EXCLUDED.client_sessions,
                         voucher_sessions = EXCLUDED.voucher_sessions",
                    &[
                        &device.tenant_id,
                        &device.hotspot_id,
                        &date,
                        &n(a.total_sessions),
                        &n(a.unique_users),
                        &gb,
                        &n(a.peak_concurrent_users),
                        &avg_minutes,
                        &uptime,
                        &n(a.guest_sessions),
                        &n(a.client_sessions),
                        &n(a.voucher_sessions),
                    ],
                )
                .await?;
            }
            EventBody::DeviceHealth(h) => {
                tx.execute(
                    "UPDATE hotspot_devices SET software_version = $2 WHERE id = $1",
                    &[&device.id, &h.version],
                )
                .await?;
                // A sample for the console's router health graph; a week is kept per router.
                let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                tx.execute(
                    "WITH old AS (
                         DELETE FROM hotspot_device_health
                         WHERE device_id = $2 AND recorded_at < now() - interval '7 days')
                     INSERT INTO hotspot_device_health (tenant_id, device_id, hotspot_id,
                         recorded_at, uptime_s, clients_online, outbox_len)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &device.tenant_id,
                        &device.id,
                        &device.hotspot_id,
                        t,
                        &clamp(h.uptime_s),
                        &(i32::try_from(h.clients_online).unwrap_or(i32::MAX)),
                        &(i32::try_from(h.outbox_len).unwrap_or(i32::MAX)),
                    ],
                )
                .await?;
            }
            _ => {}
        }
    }
    Ok(())
}
