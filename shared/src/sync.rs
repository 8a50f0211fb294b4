//! The edge ↔ cloud sync protocol, version 1: the edge pushes batches of events and pulls the
//! changes made in the cloud since a cursor.
//!
//! - `POST /sync/v1/events` with a [`PushRequest`] (JSON, optionally gzip); the answer is a
//!   [`PushResponse`]. Every [`Event`] carries an `id` the cloud upserts on, so a retry or a replay
//!   of the same batch never counts anything twice.
//! - `GET /sync/v1/changes?cursor=…&limit=…` answers a [`PullResponse`]: changes in the order they
//!   were made, an opaque cursor to ask from next time, and whether more are waiting.
//!
//! Routers often boot without the right time (no RTC, no NTP before the uplink is up). Every event
//! therefore carries an [`EdgeClock`]: the boot it happened in and the milliseconds since that
//! boot, plus the wall clock when the edge believed it. Each push carries the same reading taken
//! when it was sent; the cloud places an event by `sent.wall_ms - (sent.uptime_ms - at.uptime_ms)`
//! when both readings share a boot id, and otherwise trusts `at.wall_ms` only if `wall_trusted`.
//!
//! The committed JSON fixtures in `shared/fixtures/sync/` are decoded by the tests of this crate
//! and of the cloud, so a change to these types that breaks the wire format fails CI.
//!
//! Within version 1 the protocol only grows by optional fields: a field a router may not know is
//! sent only to a router that asked for it, and one the cloud may not send defaults to empty.
//! So [`PullResponse::extensions`] goes only to a pull with `extensions=1` (routers that predate
//! it refuse unknown fields), and a router asking an older cloud simply receives none.
//! Likewise [`PullResponse::branding`] goes only to a pull with `branding=1`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::MacAddr;

/// The protocol version this build speaks; sent in every request.
pub const VERSION: u32 = 1;

/// Most events in one push. The cloud refuses a larger batch with 413.
pub const MAX_EVENTS_PER_PUSH: usize = 500;

/// Largest push body the cloud accepts, after gzip decoding.
pub const MAX_PUSH_BYTES: usize = 2 * 1024 * 1024;

/// Most changes in one pull answer.
pub const MAX_CHANGES_PER_PULL: usize = 1000;

/// A reading of the edge's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeClock {
    /// Changes on every boot (the kernel's `/proc/sys/kernel/random/boot_id`).
    pub boot_id: Uuid,
    /// Milliseconds since that boot, from the monotonic clock: never goes back.
    pub uptime_ms: u64,
    /// Unix milliseconds by the edge's wall clock.
    pub wall_ms: i64,
    /// Whether the wall clock was synchronised (NTP) when read.
    pub wall_trusted: bool,
}

/// When an event happened, in Unix milliseconds, from the clocks the edge sent and the time the
/// cloud received the push (see the module docs). Never later than `received_ms`.
pub fn place(at: &EdgeClock, sent: &EdgeClock, received_ms: i64) -> i64 {
    let placed = if at.boot_id == sent.boot_id && at.uptime_ms <= sent.uptime_ms {
        // Same boot: the monotonic clock gives the exact age of the event at sending.
        // Saturating: the readings come from the network and may be anything.
        let age = i64::try_from(sent.uptime_ms - at.uptime_ms).unwrap_or(i64::MAX);
        let sent_wall = if sent.wall_trusted {
            sent.wall_ms
        } else {
            received_ms
        };
        sent_wall.saturating_sub(age)
    } else if at.wall_trusted {
        at.wall_ms
    } else {
        // An earlier boot with an unsynchronised clock: nothing better than arrival.
        received_ms
    };
    placed.min(received_ms)
}

/// A batch of events from one edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub version: u32,
    /// The clocks when this batch was sent.
    pub sent: EdgeClock,
    pub events: Vec<Event>,
}

/// One thing that happened at the edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Chosen by the edge when the event is recorded; the cloud's idempotency key.
    pub id: Uuid,
    /// When it happened.
    pub at: EdgeClock,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened. Serialised as `"kind": "session_started", "data": {…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EventBody {
    SessionStarted(SessionStarted),
    SessionUpdated(SessionUpdated),
    SessionEnded(SessionEnded),
    VoucherRedeemed(VoucherRedeemed),
    MacSeen(MacSeen),
    DailyAnalytics(DailyAnalytics),
    DeviceHealth(DeviceHealth),
}

impl EventBody {
    /// Sessions and redemptions are money and must never be dropped; the edge's outbox may drop
    /// the oldest of the others when its disk budget runs out.
    pub fn is_droppable(&self) -> bool {
        matches!(
            self,
            Self::MacSeen(_) | Self::DailyAnalytics(_) | Self::DeviceHealth(_)
        )
    }
}

/// How a guest got online (`hotspot_sessions.session_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionType {
    /// A voucher typed at the portal (or issued after an M-Pesa payment).
    Voucher,
    /// A registered device let in by its MAC.
    Client,
    /// Free access granted by the site (walled-garden time, promotions).
    Guest,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The time bought ran out.
    TimeUsedUp,
    /// The data bought ran out.
    DataUsedUp,
    /// The device was silent longer than the idle timeout.
    Idle,
    /// The guest logged out.
    Logout,
    /// An operator or technician kicked it.
    Kicked,
    /// The cloud refused an offline redemption (see [`EdgeAction::EndSession`]).
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStarted {
    pub session_id: Uuid,
    pub mac: MacAddr,
    pub ip: Option<IpAddr>,
    pub session_type: SessionType,
    /// The voucher used, for voucher sessions.
    pub voucher_code: Option<String>,
    /// The cloud's id of the registered device, for client sessions.
    pub access_id: Option<Uuid>,
    pub device_fingerprint: Option<String>,
    pub user_agent: Option<String>,
}

/// Running totals of an open session (sent on the accounting cycle, latest wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionUpdated {
    pub session_id: Uuid,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEnded {
    pub session_id: Uuid,
    pub reason: EndReason,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Seconds online, measured on the monotonic clock.
    pub duration_s: u64,
}

/// A voucher's first use on a device (`hotspot_vouchers.is_used/used_at/used_by_mac`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoucherRedeemed {
    pub voucher_code: String,
    pub mac: MacAddr,
    pub session_id: Uuid,
}

/// A device seen on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacSeen {
    pub mac: MacAddr,
    pub ip: Option<IpAddr>,
    pub hostname: Option<String>,
    /// DHCP option 55 (parameter request list) as decimal numbers joined by commas.
    pub dhcp_fingerprint: Option<String>,
}

/// One day's totals at the site (`hotspot_analytics`; the edge's local date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyAnalytics {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub total_sessions: u32,
    pub unique_users: u32,
    pub bytes: u64,
    pub peak_concurrent_users: u32,
    pub avg_session_duration_s: u64,
    pub guest_sessions: u32,
    pub client_sessions: u32,
    pub voucher_sessions: u32,
    /// Seconds the daemon was up that day.
    pub uptime_s: u32,
}

/// The router's state, sent periodically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceHealth {
    pub version: String,
    pub uptime_s: u64,
    pub clients_online: u32,
    /// Events waiting in the outbox when this was recorded.
    pub outbox_len: u32,
}

/// The cloud's answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushResponse {
    /// Events stored now.
    pub accepted: u32,
    /// Events the cloud already had (a retry): the edge may forget them too.
    pub duplicates: u32,
    /// What the edge must do as a result.
    pub actions: Vec<EdgeAction>,
}

/// Something the cloud tells the edge to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum EdgeAction {
    /// An offline redemption the cloud cannot accept: the voucher is already used on
    /// `max_devices` devices. The edge ends the session and shows `message` to the guest.
    EndSession { session_id: Uuid, message: String },
}

/// Changes since a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullResponse {
    pub version: u32,
    /// Ask from here next time. Opaque to the edge.
    pub cursor: String,
    /// More changes are waiting: pull again at once.
    pub more: bool,
    pub changes: Vec<Change>,
    /// Operators' extensions of live sessions, applied after `changes`. Only for a pull that
    /// asked with `extensions=1`; absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Extension>,
    /// The tenant's portal branding, when it changed since the cursor. Only for a pull that
    /// asked with `branding=1`; absent means no change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branding: Option<crate::branding::Branding>,
}

/// An operator's extension of a live session (`hotspot_session_extensions`): more time, more
/// data or both, added to what the session has left. A router applies each one once, by `id`,
/// and only to that session while it is live on that device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    pub id: Uuid,
    pub session_id: Uuid,
    pub mac: MacAddr,
    pub minutes: Option<u32>,
    pub data_mb: Option<u32>,
}

/// One change made in the cloud, to apply at the edge in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "data", rename_all = "snake_case")]
pub enum Change {
    PlanUpsert(Plan),
    PlanDelete {
        id: Uuid,
    },
    VoucherUpsert(Voucher),
    VoucherDelete {
        id: Uuid,
    },
    AccessUpsert(Access),
    AccessDelete {
        id: Uuid,
    },
    /// A site setting; `value: null` removes it.
    Setting {
        key: String,
        value: Option<String>,
    },
    /// An operator's kick of a device that is online now.
    Kick {
        mac: MacAddr,
    },
}

/// A package guests can buy or a voucher can grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: Uuid,
    pub name: String,
    pub duration_minutes: Option<u32>,
    pub data_limit_mb: Option<u32>,
    pub down_kbps: u32,
    pub up_kbps: u32,
    /// Price in the currency's minor unit (KES cents).
    pub price_minor: u64,
    pub currency: String,
    pub active: bool,
}

/// Whether a voucher grants time or data (`hotspot_vouchers.voucher_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoucherType {
    TimeBased,
    DataBased,
    /// Neither time nor data runs out; ends by expiry date or an operator.
    Unlimited,
}

/// A voucher of this hotspot (`hotspot_vouchers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voucher {
    pub id: Uuid,
    pub code: String,
    pub voucher_type: VoucherType,
    pub plan_id: Option<Uuid>,
    pub duration_minutes: Option<u32>,
    pub data_limit_mb: Option<u32>,
    pub max_devices: u32,
    /// Unix milliseconds after which it cannot be redeemed.
    pub expires_ms: Option<i64>,
    /// Devices the cloud already counts as using it (redemptions at other times or edges).
    pub used_by: Vec<MacAddr>,
    pub revoked: bool,
}

/// A registered device (`client_hotspot_access`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    pub id: Uuid,
    pub mac: MacAddr,
    pub device_name: Option<String>,
    pub auto_connect: bool,
    /// Mbit/s (`bandwidth_allocation`).
    pub bandwidth_mbps: u32,
    pub blocked: bool,
    pub blocked_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUSH: &str = include_str!("../fixtures/sync/push_request.json");
    const PUSH_RESPONSE: &str = include_str!("../fixtures/sync/push_response.json");
    const PULL: &str = include_str!("../fixtures/sync/pull_response.json");

    #[test]
    fn push_fixture_decodes_and_round_trips() {
        let push: PushRequest = serde_json::from_str(PUSH).unwrap();
        assert_eq!(push.version, VERSION);
        let kinds: Vec<&str> = push
            .events
            .iter()
            .map(|e| match e.body {
                EventBody::SessionStarted(_) => "session_started",
                EventBody::SessionUpdated(_) => "session_updated",
                EventBody::SessionEnded(_) => "session_ended",
                EventBody::VoucherRedeemed(_) => "voucher_redeemed",
                EventBody::MacSeen(_) => "mac_seen",
                EventBody::DailyAnalytics(_) => "daily_analytics",
                EventBody::DeviceHealth(_) => "device_health",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "session_started",
                "voucher_redeemed",
                "session_updated",
                "session_ended",
                "mac_seen",
                "daily_analytics",
                "device_health"
            ],
            "the fixture shows every event kind"
        );
        let again: PushRequest =
            serde_json::from_str(&serde_json::to_string(&push).unwrap()).unwrap();
        assert_eq!(again, push);
    }

    #[test]
    fn pull_and_push_response_fixtures_decode() {
        let pull: PullResponse = serde_json::from_str(PULL).unwrap();
        assert_eq!(pull.changes.len(), 8, "one of each change");
        assert!(matches!(pull.changes.last(), Some(Change::Kick { .. })));
        assert_eq!(pull.extensions.len(), 1);
        assert_eq!(pull.extensions[0].minutes, Some(30));
        let branding = pull
            .branding
            .as_ref()
            .expect("the fixture carries a branding");
        assert_eq!(branding.accent_color, "#c0392b");
        assert!(branding.logo.is_some());
        let again: PullResponse =
            serde_json::from_str(&serde_json::to_string(&pull).unwrap()).unwrap();
        assert_eq!(again, pull);
        let resp: PushResponse = serde_json::from_str(PUSH_RESPONSE).unwrap();
        assert!(matches!(resp.actions[0], EdgeAction::EndSession { .. }));
    }

    #[test]
    fn a_pull_without_extensions_decodes_and_none_are_sent() {
        // An older cloud sends no `extensions`; a page without any does not mention them, so a
        // router that predates them (it refuses unknown fields) still reads it.
        let mut v: serde_json::Value = serde_json::from_str(PULL).unwrap();
        v.as_object_mut().unwrap().remove("extensions");
        v.as_object_mut().unwrap().remove("branding");
        let pull: PullResponse = serde_json::from_value(v).unwrap();
        assert!(pull.extensions.is_empty());
        assert!(pull.branding.is_none());
        let json = serde_json::to_value(&pull).unwrap();
        assert!(json.get("extensions").is_none(), "{json}");
        assert!(json.get("branding").is_none(), "{json}");
        let mut v: serde_json::Value = serde_json::from_str(PULL).unwrap();
        v["extensions"][0]["hours"] = 1.into();
        assert!(serde_json::from_value::<PullResponse>(v).is_err());
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let mut v: serde_json::Value = serde_json::from_str(PUSH).unwrap();
        v["events"][0]["data"]["surprise"] = 1.into();
        assert!(serde_json::from_value::<PushRequest>(v).is_err());
        let mut v: serde_json::Value = serde_json::from_str(PUSH).unwrap();
        v["events"][0]["kind"] = "session_exploded".into();
        assert!(serde_json::from_value::<PushRequest>(v).is_err());
        let mut v: serde_json::Value = serde_json::from_str(PUSH).unwrap();
        v["events"][1]["data"]["mac"] = "not-a-mac".into();
        assert!(serde_json::from_value::<PushRequest>(v).is_err());
    }

    #[test]
    fn events_are_placed_by_the_monotonic_clock_when_the_wall_clock_was_wrong() {
        let boot = Uuid::from_u128(1);
        let clock = |boot_id, uptime_ms, wall_ms, wall_trusted| EdgeClock {
            boot_id,
            uptime_ms,
            wall_ms,
            wall_trusted,
        };
        let received = 1_800_000_000_000;
        // Booted in 1970 (no RTC), NTP synced later: the push's clock is right.
        let at = clock(boot, 60_000, 60_000, false);
        let sent = clock(boot, 3_660_000, received - 500, true);
        assert_eq!(place(&at, &sent, received), received - 500 - 3_600_000);
        // Never synced: arrival stands in for the send time.
        let sent = clock(boot, 3_660_000, 3_660_000, false);
        assert_eq!(place(&at, &sent, received), received - 3_600_000);
        // Another boot: only a trusted wall clock helps, else arrival.
        let old = clock(Uuid::from_u128(2), 5, received - 86_400_000, true);
        assert_eq!(place(&old, &sent, received), received - 86_400_000);
        let old = clock(Uuid::from_u128(2), 5, 12, false);
        assert_eq!(place(&old, &sent, received), received);
        // A clock ahead of the cloud's is not believed past arrival.
        let ahead = clock(Uuid::from_u128(2), 5, received + 10_000, true);
        assert_eq!(place(&ahead, &sent, received), received);
        // Found by fuzzing: readings at the ends of their ranges do not overflow.
        let first = clock(boot, 0, 0, false);
        let last = clock(boot, u64::MAX, i64::MIN, true);
        assert_eq!(place(&first, &last, received), i64::MIN);
        let last = clock(boot, 1 << 63, 0, true);
        assert_eq!(place(&first, &last, received), -i64::MAX);
    }

    #[test]
    fn only_analytics_kinds_may_be_dropped() {
        let push: PushRequest = serde_json::from_str(PUSH).unwrap();
        let droppable: Vec<bool> = push.events.iter().map(|e| e.body.is_droppable()).collect();
        assert_eq!(droppable, [false, false, false, false, true, true, true]);
    }
}
