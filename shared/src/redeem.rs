//! Voucher redemption rules (seed 000 `hotspot_vouchers`), as pure functions: may this device use
//! this code now, and what does it get. The edge's portal and the cloud's RADIUS server both apply
//! them, so a code means the same on a router of ours and on an operator's own NAS.
//!
//! Rules, in the order they are checked:
//! 1. the code exists (compared in constant time after the indexed lookup);
//! 2. it belongs to this hotspot (a voucher with no hotspot belongs to any: imported locally on
//!    an unclaimed router);
//! 3. a device that already redeemed it may come back while it has time and data left;
//! 4. otherwise it has not passed its `expiry_date` (the last moment it can be redeemed);
//! 5. its time (from first use, shared by its devices) and data (shared) are not used up;
//! 6. fewer than `max_devices` devices have redeemed it.

use crate::MacAddr;
use crate::plan::{Limits, voucher_limits};
use crate::voucher::codes_equal;

/// `voucher_type` of seed 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoucherKind {
    /// `time_based`: `duration_minutes` from first use.
    Time,
    /// `data_based`: `data_limit_mb` in total.
    Data,
}

impl VoucherKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherKind::Time => "time_based",
            VoucherKind::Data => "data_based",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "time_based" | "time" => Some(VoucherKind::Time),
            "data_based" | "data" => Some(VoucherKind::Data),
            _ => None,
        }
    }
}

/// A voucher as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub id: String,
    pub hotspot_id: Option<String>,
    pub code: String,
    pub kind: VoucherKind,
    pub duration_minutes: Option<i64>,
    pub data_limit_mb: Option<i64>,
    pub max_devices: i64,
    pub expiry_date: Option<i64>,
    pub used_at: Option<i64>,
    pub used_by_mac: Option<String>,
    pub plan_id: Option<String>,
}

/// What the voucher has been used for so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Devices that redeemed it.
    pub devices: Vec<MacAddr>,
    /// Bytes all its sessions moved.
    pub bytes: u64,
}

/// Why a code does not let this device in. Each has a sentence for the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    WrongHotspot,
    Expired { at: i64 },
    UsedUp,
    TooManyDevices { max: i64 },
}

/// A code that lets the device in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub limits: Limits,
    /// This is the voucher's first use: `used_at`/`used_by_mac` are set now.
    pub first_use: bool,
    /// This device had not redeemed it before.
    pub new_device: bool,
}

/// Applies the rules. `voucher` is what the lookup by `typed` (normalised) found.
pub fn check(
    voucher: Option<&Voucher>,
    typed: &str,
    usage: &Usage,
    mac: MacAddr,
    site_hotspot: Option<&str>,
    now: i64,
) -> Result<Admission, Refusal> {
    let v = match voucher {
        Some(v) if codes_equal(&v.code, typed) => v,
        _ => return Err(Refusal::Unknown),
    };
    if let Some(h) = &v.hotspot_id
        && Some(h.as_str()) != site_hotspot
    {
        return Err(Refusal::WrongHotspot);
    }
    let returning = usage.devices.contains(&mac);
    if !returning
        && let Some(at) = v.expiry_date
        && now > at
    {
        return Err(Refusal::Expired { at });
    }
    let first_used = v.used_at.unwrap_or(now);
    let limits = voucher_limits(first_used, v.duration_minutes, v.data_limit_mb);
    if limits.seconds_remaining(now) == Some(0) || limits.bytes_remaining(usage.bytes) == Some(0) {
        return Err(Refusal::UsedUp);
    }
    if !returning && usage.devices.len() as i64 >= v.max_devices.max(1) {
        return Err(Refusal::TooManyDevices {
            max: v.max_devices.max(1),
        });
    }
    Ok(Admission {
        limits,
        first_use: v.used_at.is_none(),
        new_device: !returning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::MB;

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    fn voucher() -> Voucher {
        Voucher {
            id: "v".into(),
            hotspot_id: Some("h1".into()),
            code: "ABCDEFGH23".into(),
            kind: VoucherKind::Time,
            duration_minutes: Some(60),
            data_limit_mb: None,
            max_devices: 2,
            expiry_date: Some(10_000),
            used_at: None,
            used_by_mac: None,
            plan_id: None,
        }
    }

    #[test]
    fn first_use_starts_the_clock() {
        let a = check(
            Some(&voucher()),
            "ABCDEFGH23",
            &Usage::default(),
            mac(1),
            Some("h1"),
            500,
        )
        .unwrap();
        assert!(a.first_use && a.new_device);
        assert_eq!(a.limits.ends_at, Some(500 + 3600));
        assert_eq!(a.limits.data_bytes, None);
    }

    #[test]
    fn every_refusal() {
        let v = voucher();
        let none = Usage::default();
        assert_eq!(
            check(None, "ABCDEFGH23", &none, mac(1), Some("h1"), 0),
            Err(Refusal::Unknown)
        );
        assert_eq!(
            check(Some(&v), "ABCDEFGH24", &none, mac(1), Some("h1"), 0),
            Err(Refusal::Unknown)
        );
        assert_eq!(
            check(Some(&v), "ABCDEFGH23", &none, mac(1), Some("h2"), 0),
            Err(Refusal::WrongHotspot)
        );
        assert_eq!(
            check(Some(&v), "ABCDEFGH23", &none, mac(1), None, 0),
            Err(Refusal::WrongHotspot)
        );
        assert_eq!(
            check(Some(&v), "ABCDEFGH23", &none, mac(1), Some("h1"), 10_001),
            Err(Refusal::Expired { at: 10_000 })
        );
        let used = Voucher {
            used_at: Some(100),
            ..v.clone()
        };
        let two = Usage {
            devices: vec![mac(1), mac(2)],
            bytes: 0,
        };
        assert_eq!(
            check(Some(&used), "ABCDEFGH23", &two, mac(3), Some("h1"), 200),
            Err(Refusal::TooManyDevices { max: 2 })
        );
        assert_eq!(
            check(Some(&used), "ABCDEFGH23", &two, mac(2), Some("h1"), 200).map(|a| a.new_device),
            Ok(false),
            "a device that redeemed it comes back"
        );
        assert_eq!(
            check(
                Some(&used),
                "ABCDEFGH23",
                &two,
                mac(2),
                Some("h1"),
                100 + 3600
            ),
            Err(Refusal::UsedUp)
        );
        let data = Voucher {
            kind: VoucherKind::Data,
            duration_minutes: None,
            data_limit_mb: Some(5),
            used_at: Some(100),
            ..v.clone()
        };
        let spent = Usage {
            devices: vec![mac(1)],
            bytes: 5 * MB,
        };
        assert_eq!(
            check(Some(&data), "ABCDEFGH23", &spent, mac(1), Some("h1"), 200),
            Err(Refusal::UsedUp)
        );
        let local = Voucher {
            hotspot_id: None,
            ..v
        };
        assert!(check(Some(&local), "ABCDEFGH23", &none, mac(1), None, 0).is_ok());
    }

    #[test]
    fn returning_device_may_pass_after_expiry_date_while_time_remains() {
        let v = Voucher {
            used_at: Some(9_900),
            ..voucher()
        };
        let u = Usage {
            devices: vec![mac(1)],
            bytes: 0,
        };
        assert!(check(Some(&v), "ABCDEFGH23", &u, mac(1), Some("h1"), 10_100).is_ok());
        assert!(check(Some(&v), "ABCDEFGH23", &u, mac(2), Some("h1"), 10_100).is_err());
    }
}
