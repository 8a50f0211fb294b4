//! Changes a router has not seen, from the `sync_changes` log.
//!
//! The cursor is `c1.<lo>.<after_xid>.<after_id>`: every change of a transaction with an id below
//! `lo` has been delivered, and within the window above it, everything up to `(after_xid,
//! after_id)`. A pull reads only changes of transactions below the snapshot's xmin (all finished),
//! so a transaction that commits after a later one is still delivered, on the next pull. Each
//! change is answered with the entity's current state (or its deletion), so delivering one twice is
//! harmless.
//!
//! An operator's extension of a session (entity `extend`) is answered in
//! [`PullResponse::extensions`], and only to a router that asked for them (`extensions`): a
//! router that predates them would refuse the field, so it passes over them. A page pulled again
//! (the router crashed before storing the cursor) carries them again; the router applies each
//! one once, by its id.
//!
//! The portal branding (entity `branding`: the tenant's, logged for every hotspot, and a site's
//! override, logged for that hotspot alone) is answered in [`PullResponse::branding`] as the
//! site's effective branding (each field the site's when set, else the tenant's), likewise only
//! to a router that asked for it (`branding`).

use std::collections::HashMap;

use deadpool_postgres::{Pool, Transaction};
use hotspot_shared::MacAddr;
use hotspot_shared::branding::{Branding, Logo};
use hotspot_shared::sync::{
    self, Access, Change, Extension, Plan, PullResponse, Voucher, VoucherType,
};
use uuid::Uuid;

use super::SyncError;
use super::device::Device;
use crate::db::tenant_transaction;

/// Where a router is in the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub lo: u64,
    pub after_xid: u64,
    pub after_id: i64,
}

impl Cursor {
    pub fn parse(s: &str) -> Result<Self, SyncError> {
        let bad = || SyncError::Invalid("malformed cursor".into());
        let mut parts = s.strip_prefix("c1.").ok_or_else(bad)?.split('.');
        let mut next = || parts.next().ok_or_else(bad);
        let cursor = Self {
            lo: next()?.parse().map_err(|_| bad())?,
            after_xid: next()?.parse().map_err(|_| bad())?,
            after_id: next()?.parse().map_err(|_| bad())?,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(cursor)
    }

    pub fn encode(&self) -> String {
        format!("c1.{}.{}.{}", self.lo, self.after_xid, self.after_id)
    }
}

/// Kicks older than this are not delivered: they were meant for then.
const KICK_TTL: &str = "1 hour";

/// Extensions older than this are not delivered: the session they were for is long over
/// (compaction removes their change rows after the same time).
const EXTENSION_TTL: &str = "1 day";

/// Up to `limit` changes after `cursor` (none: from the beginning) for the device's hotspot;
/// with `extensions`, the operators' extensions of sessions among them too.
pub async fn pull(
    pool: &Pool,
    device: &Device,
    cursor: Option<&str>,
    limit: usize,
    extensions: bool,
    branding: bool,
) -> Result<PullResponse, SyncError> {
    let cursor = cursor.map(Cursor::parse).transpose()?.unwrap_or_default();
    let limit = limit.clamp(1, sync::MAX_CHANGES_PER_PULL);
    let mut client = pool.get().await?;
    let tx = tenant_transaction(&mut client, device.tenant_id, None).await?;
    let horizon: u64 = tx
        .query_one("SELECT sync_horizon()::text", &[])
        .await?
        .get::<_, String>(0)
        .parse()
        .map_err(|_| SyncError::Invalid("transaction horizon".into()))?;
    let rows = tx
        .query(
            "SELECT id, entity, entity_id, entity_key, xid::text FROM sync_changes
             WHERE (hotspot_id = $1 OR hotspot_id IS NULL)
               AND xid >= $2::text::xid8 AND xid < $3::text::xid8
               AND (xid, id) > ($4::text::xid8, $5)
             ORDER BY xid, id LIMIT $6",
            &[
                &device.hotspot_id,
                &cursor.lo.to_string(),
                &horizon.to_string(),
                &cursor.after_xid.to_string(),
                &cursor.after_id,
                &(limit as i64 + 1),
            ],
        )
        .await?;
    let more = rows.len() > limit;
    let rows = &rows[..rows.len().min(limit)];
    let next = match rows.last() {
        Some(last) if more => Cursor {
            lo: cursor.lo,
            after_xid: last.get::<_, String>(4).parse().unwrap_or(cursor.after_xid),
            after_id: last.get(0),
        },
        _ => Cursor {
            lo: horizon.max(cursor.lo),
            after_xid: 0,
            after_id: 0,
        },
    };

    // Each entity once, at the position of its last change in this page.
    let mut order: Vec<(String, Uuid, Option<String>)> = Vec::new();
    let mut position: HashMap<(String, Uuid), usize> = HashMap::new();
    for r in rows {
        let key = (r.get::<_, String>(1), r.get::<_, Uuid>(2));
        if let Some(&i) = position.get(&key) {
            order[i].0.clear(); // superseded by the later change
        }
        position.insert(key.clone(), order.len());
        order.push((key.0, key.1, r.get(3)));
    }
    let ids = |entity: &str| -> Vec<Uuid> {
        order
            .iter()
            .filter(|(e, _, _)| e == entity)
            .map(|(_, id, _)| *id)
            .collect()
    };
    let plans = plans(&tx, device, &ids("plan")).await?;
    let vouchers = vouchers(&tx, device, &ids("voucher")).await?;
    let access = access(&tx, device, &ids("access")).await?;
    let settings = settings(&tx, &ids("setting")).await?;
    let kicks = kicks(&tx, &ids("kick")).await?;
    let extended = if extensions {
        extensions_of(&tx, device, &ids("extend")).await?
    } else {
        HashMap::new()
    };
    let branding = if branding && !ids("branding").is_empty() {
        branding_of(&tx, device.hotspot_id).await?
    } else {
        None
    };
    tx.commit().await?;

    let mut changes = Vec::with_capacity(order.len());
    let mut extensions = Vec::new();
    for (entity, id, key) in order {
        if entity == "extend" || entity == "branding" {
            extensions.extend(extended.get(&id).cloned());
            continue;
        }
        let change = match entity.as_str() {
            "plan" => Some(
                plans
                    .get(&id)
                    .cloned()
                    .map_or(Change::PlanDelete { id }, Change::PlanUpsert),
            ),
            "voucher" => Some(
                vouchers
                    .get(&id)
                    .cloned()
                    .map_or(Change::VoucherDelete { id }, Change::VoucherUpsert),
            ),
            "access" => Some(
                access
                    .get(&id)
                    .cloned()
                    .map_or(Change::AccessDelete { id }, Change::AccessUpsert),
            ),
            "setting" => match settings.get(&id) {
                Some((k, v)) => Some(Change::Setting {
                    key: k.clone(),
                    value: Some(v.clone()),
                }),
                None => key.map(|k| Change::Setting {
                    key: k,
                    value: None,
                }),
            },
            "kick" => kicks.get(&id).map(|mac| Change::Kick { mac: *mac }),
            _ => None, // superseded
        };
        changes.extend(change);
    }
    Ok(PullResponse {
        version: sync::VERSION,
        cursor: next.encode(),
        more,
        changes,
        extensions,
        branding,
    })
}

/// The site's effective branding as a router takes it (the logo base64-encoded): each field the
/// site's override when set, else the tenant's (`api::branding::EFFECTIVE_SELECT`). None while
/// the title, the welcome text or the colour is set by neither.
async fn branding_of(tx: &Transaction<'_>, hotspot: Uuid) -> Result<Option<Branding>, SyncError> {
    use base64::Engine;
    let r = tx
        .query_one(crate::api::branding::EFFECTIVE_SELECT, &[&hotspot])
        .await?;
    let (Some(title), Some(welcome), Some(accent_color)) = (r.get(1), r.get(2), r.get(3)) else {
        return Ok(None);
    };
    Ok(Some(Branding {
        version: r.get(0),
        title,
        welcome,
        accent_color,
        support_phone: r.get(4),
        logo: r.get::<_, Option<String>>(5).map(|content_type| Logo {
            content_type,
            data: base64::engine::general_purpose::STANDARD.encode(r.get::<_, Vec<u8>>(6)),
            sha256: hotspot_shared::branding::hex(&r.get::<_, Vec<u8>>(7)),
        }),
    }))
}

fn kbps(mbps: i32) -> u32 {
    u32::try_from(mbps).unwrap_or(0).saturating_mul(1000)
}

fn count(v: Option<i32>) -> Option<u32> {
    v.and_then(|n| u32::try_from(n).ok())
}

/// The plans among `ids` the device's site sells; any other (deleted, not a hotspot package, or
/// sold only at other sites) is answered with its deletion, which withdraws it from the router.
async fn plans(
    tx: &Transaction<'_>,
    device: &Device,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Plan>, SyncError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .query(
            "SELECT id, name, duration_minutes, data_limit_mb, download_mbps, upload_mbps,
                    (price * 100)::bigint, currency, is_active
             FROM service_packages
             WHERE id = ANY($1) AND package_type = 'hotspot' AND deleted_at IS NULL
               AND package_sold_at(id, $2)",
            &[&ids, &device.hotspot_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let id: Uuid = r.get(0);
            let plan = Plan {
                id,
                name: r.get(1),
                duration_minutes: count(r.get(2)),
                data_limit_mb: count(r.get(3)),
                down_kbps: kbps(r.get(4)),
                up_kbps: kbps(r.get(5)),
                price_minor: u64::try_from(r.get::<_, i64>(6)).unwrap_or(0),
                currency: r.get(7),
                active: r.get(8),
            };
            (id, plan)
        })
        .collect())
}

async fn vouchers(
    tx: &Transaction<'_>,
    device: &Device,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Voucher>, SyncError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .query(
            "SELECT v.id, v.voucher_code, v.voucher_type, v.service_package_id, v.duration_minutes,
                    v.data_limit_mb, COALESCE(v.max_devices, 1),
                    (extract(epoch FROM v.expiry_date) * 1000)::bigint,
                    COALESCE((SELECT array_agg(r.mac_address ORDER BY r.redeemed_at)
                              FROM hotspot_voucher_redemptions r
                              WHERE r.voucher_id = v.id AND r.accepted), '{}'),
                    v.used_by_mac
             FROM hotspot_vouchers v WHERE v.id = ANY($1) AND v.hotspot_id = $2",
            &[&ids, &device.hotspot_id],
        )
        .await?;
    let mut out = HashMap::new();
    for r in rows {
        let id: Uuid = r.get(0);
        let voucher_type = match r.get::<_, String>(2).as_str() {
            "data_based" => VoucherType::DataBased,
            "unlimited" => VoucherType::Unlimited,
            _ => VoucherType::TimeBased,
        };
        let mut used_by: Vec<MacAddr> = r
            .get::<_, Vec<String>>(8)
            .iter()
            .filter_map(|m| m.parse().ok())
            .collect();
        if let Some(first) = r.get::<_, Option<String>>(9).and_then(|m| m.parse().ok())
            && !used_by.contains(&first)
        {
            used_by.insert(0, first);
        }
        out.insert(
            id,
            Voucher {
                id,
                code: r.get(1),
                voucher_type,
                plan_id: r.get(3),
                duration_minutes: count(r.get(4)),
                data_limit_mb: count(r.get(5)),
                max_devices: count(Some(r.get(6))).unwrap_or(1),
                expires_ms: r.get(7),
                used_by,
                revoked: false,
            },
        );
    }
    Ok(out)
}

async fn access(
    tx: &Transaction<'_>,
    device: &Device,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Access>, SyncError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .query(
            "SELECT id, mac_address, device_name, auto_connect, COALESCE(bandwidth_allocation, 5),
                    is_blocked, blocked_reason
             FROM client_hotspot_access WHERE id = ANY($1) AND hotspot_id = $2",
            &[&ids, &device.hotspot_id],
        )
        .await?;
    let mut out = HashMap::new();
    for r in rows {
        let Ok(mac) = r.get::<_, String>(1).parse::<MacAddr>() else {
            continue;
        };
        let id: Uuid = r.get(0);
        out.insert(
            id,
            Access {
                id,
                mac,
                device_name: r.get(2),
                auto_connect: r.get(3),
                bandwidth_mbps: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
                blocked: r.get(5),
                blocked_reason: r.get(6),
            },
        );
    }
    Ok(out)
}

async fn settings(
    tx: &Transaction<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, (String, String)>, SyncError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .query(
            "SELECT id, key, value FROM hotspot_settings WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect())
}

async fn kicks(tx: &Transaction<'_>, ids: &[Uuid]) -> Result<HashMap<Uuid, MacAddr>, SyncError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Delivered now (the router applies it on receipt); delivered_at tells operators it went out.
    let rows = tx
        .query(
            &format!(
                "UPDATE hotspot_session_kicks SET delivered_at = COALESCE(delivered_at, now())
                 WHERE id = ANY($1) AND requested_at > now() - interval '{KICK_TTL}'
                 RETURNING id, mac_address"
            ),
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get::<_, String>(1).parse().ok().map(|m| (r.get(0), m)))
        .collect())
}

async fn extensions_of(
    tx: &Transaction<'_>,
    device: &Device,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Extension>, SyncError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Marked delivered when sent, as kicks are; a page pulled again carries them again.
    let rows = tx
        .query(
            &format!(
                "UPDATE hotspot_session_extensions
                 SET delivered_at = COALESCE(delivered_at, now())
                 WHERE id = ANY($1) AND hotspot_id = $2
                   AND requested_at > now() - interval '{EXTENSION_TTL}'
                 RETURNING id, session_id, mac_address, minutes, data_mb"
            ),
            &[&ids, &device.hotspot_id],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let mac = r.get::<_, String>(2).parse().ok()?;
            let id: Uuid = r.get(0);
            Some((
                id,
                Extension {
                    id,
                    session_id: r.get(1),
                    mac,
                    minutes: count(r.get(3)),
                    data_mb: count(r.get(4)),
                },
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            lo: 7512,
            after_xid: 7519,
            after_id: 42,
        };
        assert_eq!(Cursor::parse(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "c1.",
            "c1.1.2",
            "c1.1.2.3.4",
            "c2.1.2.3",
            "c1.a.2.3",
            "c1.-1.2.3",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
