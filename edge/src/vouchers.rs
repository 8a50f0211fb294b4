//! Voucher rules (seed 000 `hotspot_vouchers`), as pure functions: may this device use this code
//! now, and what does it get. Also the technician's CSV import format.
//!
//! Rules, in the order they are checked:
//! 1. the code exists (compared in constant time after the indexed lookup);
//! 2. it belongs to this hotspot (a voucher with no hotspot belongs to any: imported locally on
//!    an unclaimed router);
//! 3. a device that already redeemed it may come back while it has time and data left;
//! 4. otherwise it has not passed its `expiry_date` (the last moment it can be redeemed);
//! 5. its time (from first use, shared by its devices) and data (shared) are not used up;
//! 6. fewer than `max_devices` devices have redeemed it.

use hotspot_shared::MacAddr;
use hotspot_shared::plan::{Limits, voucher_limits};
use hotspot_shared::voucher::codes_equal;

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

/// One voucher from an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub code: String,
    pub kind: VoucherKind,
    pub duration_minutes: Option<i64>,
    pub data_limit_mb: Option<i64>,
    pub max_devices: i64,
    pub expiry_date: Option<i64>,
    pub price: String,
    pub plan_id: Option<String>,
}

/// Parses a CSV with a header naming its columns: `code` and `type` (`time`/`data` or
/// `time_based`/`data_based`) are required; `duration_minutes`, `data_limit_mb`, `max_devices`
/// (default 1), `expires` (`YYYY-MM-DD`, RFC 3339 UTC or unix seconds), `price`, `plan` are
/// optional. Fields are plain (no quoting needed: codes, numbers and dates have no commas).
/// Every problem is reported with its line number; nothing is returned unless all lines are good.
pub fn parse_import(text: &str) -> Result<Vec<ImportRow>, Vec<String>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else {
        return Err(vec!["the file is empty".into()]);
    };
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let col = |name: &str| cols.iter().position(|c| c == name);
    let (Some(c_code), Some(c_type)) = (col("code"), col("type")) else {
        return Err(vec![
            "line 1: the header must name the columns code and type".into(),
        ]);
    };
    for c in &cols {
        if ![
            "code",
            "type",
            "duration_minutes",
            "data_limit_mb",
            "max_devices",
            "expires",
            "price",
            "plan",
        ]
        .contains(&c.as_str())
        {
            return Err(vec![format!("line 1: unknown column {c:?}")]);
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in lines {
        let n = i + 1;
        let f: Vec<&str> = line
            .split(',')
            .map(|x| x.trim().trim_matches('"'))
            .collect();
        if f.len() != cols.len() {
            errors.push(format!(
                "line {n}: expected {} fields, found {}",
                cols.len(),
                f.len()
            ));
            continue;
        }
        let get = |c: Option<usize>| c.map(|c| f[c]).filter(|v| !v.is_empty());
        let num = |name: &str| -> Result<Option<i64>, String> {
            match get(col(name)) {
                None => Ok(None),
                Some(v) => match v.parse::<i64>() {
                    Ok(x) if x > 0 && x <= 10_000_000 => Ok(Some(x)),
                    _ => Err(format!("line {n}: {name} must be a positive whole number")),
                },
            }
        };
        let result = (|| -> Result<ImportRow, String> {
            let code = hotspot_shared::voucher::normalize(f[c_code])
                .map_err(|e| format!("line {n}: {e}"))?;
            let kind = VoucherKind::parse(f[c_type])
                .ok_or_else(|| format!("line {n}: type must be time or data"))?;
            let duration_minutes = num("duration_minutes")?;
            let data_limit_mb = num("data_limit_mb")?;
            match kind {
                VoucherKind::Time if duration_minutes.is_none() => {
                    return Err(format!("line {n}: a time voucher needs duration_minutes"));
                }
                VoucherKind::Data if data_limit_mb.is_none() => {
                    return Err(format!("line {n}: a data voucher needs data_limit_mb"));
                }
                _ => {}
            }
            let max_devices = num("max_devices")?.unwrap_or(1).min(1000);
            let expiry_date = match get(col("expires")) {
                None => None,
                Some(v) => Some(crate::clock::parse_time(v).ok_or_else(|| {
                    format!("line {n}: expires must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
                })?),
            };
            let price = get(col("price")).unwrap_or("0").to_owned();
            if price.len() > 12
                || price
                    .parse::<f64>()
                    .map_or(true, |p| !(0.0..1e9).contains(&p))
            {
                return Err(format!("line {n}: price must be a number"));
            }
            let plan_id = get(col("plan")).map(str::to_owned);
            if !seen.insert(code.clone()) {
                return Err(format!("line {n}: code repeated in the file"));
            }
            Ok(ImportRow {
                code,
                kind,
                duration_minutes,
                data_limit_mb,
                max_devices,
                expiry_date,
                price,
                plan_id,
            })
        })();
        match result {
            Ok(r) => rows.push(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotspot_shared::plan::MB;

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

    #[test]
    fn import_reads_named_columns_and_reports_every_bad_line() {
        let ok = "code,type,duration_minutes,data_limit_mb,max_devices,expires\n\
abcde-fgh23,time,60,,1,2030-01-01\n\
# a comment\n\
KLMNPQRST2,data,,500,3,\n";
        let rows = parse_import(ok).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].code, "ABCDEFGH23");
        assert_eq!(rows[1].kind, VoucherKind::Data);
        assert_eq!(rows[1].max_devices, 3);
        assert_eq!(rows[0].expiry_date, crate::clock::parse_time("2030-01-01"));
        let bad = "code,type,duration_minutes\nAB,time,60\nABCDEFGH23,data,60\nABCDEFGH24,time,-5\nABCDEFGH25,time\n";
        let errs = parse_import(bad).unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].starts_with("line 2"), "{errs:?}");
        assert!(parse_import("").is_err());
        assert!(parse_import("code,kind\n").is_err());
        assert!(parse_import("code,type\nABCD,time\n").is_err());
    }
}
