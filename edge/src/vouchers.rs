//! The technician's CSV import format for vouchers. The redemption rules themselves live in
//! [`hotspot_shared::redeem`] (the cloud's RADIUS server applies the same ones) and are
//! re-exported here.

pub use hotspot_shared::redeem::{Admission, Refusal, Usage, Voucher, VoucherKind, check};

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
