//! The dashboard: the business at a glance. Revenue (M-Pesa purchases paid, and vouchers used
//! that no purchase issued, so nothing counts twice) for today, 7 days and this month in the
//! tenant's time zone, guests online now, sites online or offline by their router's last
//! contact, unused vouchers per package, and 30-day charts drawn on the server as SVG.
//!
//! Money is shown only to the roles that see money in the API ([`Finance`]).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, NaiveDate};

use super::{Console, ConsoleError, ConsoleResult, Frame, page};
use crate::AppState;
use crate::api::auth::{Finance, Staff};
use crate::api::hotspots::HOTSPOT_SELECT;

/// A router not heard from for this long counts as offline.
pub const ONLINE_WITHIN_MINUTES: i32 = 10;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    f: Frame,
    /// Revenue figures, for roles that see money.
    money: Option<Money>,
    guests_now: i64,
    sites_online: i64,
    sites_offline: i64,
    sites: Vec<SiteRow>,
    stock: Vec<(String, i64)>,
    sessions_chart: Chart,
}

#[derive(Debug)]
struct Money {
    today: String,
    week: String,
    month: String,
    chart: Chart,
}

#[derive(Debug)]
struct SiteRow {
    name: String,
    online: bool,
    last_seen: Option<String>,
    guests: i64,
}

/// A bar chart as SVG geometry (viewBox 0 0 [`Chart::WIDTH`] [`Chart::HEIGHT`]).
#[derive(Debug)]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// The largest value (the top of the scale), as text.
    pub max_label: String,
    pub first_label: String,
    pub last_label: String,
}

/// One day's bar.
#[derive(Debug)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    /// "2026-12-04: 1,200" (the bar's tooltip and accessible text).
    pub title: String,
}

impl Chart {
    pub const WIDTH: f64 = 600.0;
    pub const HEIGHT: f64 = 160.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 16.0;

    /// Bars of `values`, one per day from `first`.
    pub fn days(first: NaiveDate, values: &[f64]) -> Chart {
        let max = values.iter().cloned().fold(0.0, f64::max);
        let n = values.len().max(1) as f64;
        let slot = Self::WIDTH / n;
        let plot = Self::HEIGHT - Self::TOP - Self::BOTTOM;
        let bars = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let h = if max > 0.0 { v / max * plot } else { 0.0 };
                let day = first + chrono::Days::new(i as u64);
                Bar {
                    x: round(i as f64 * slot + slot * 0.1),
                    y: round(Self::TOP + plot - h),
                    w: round(slot * 0.8),
                    h: round(h),
                    title: format!("{day}: {}", thousands(*v)),
                }
            })
            .collect();
        let last = first + chrono::Days::new(values.len().saturating_sub(1) as u64);
        Chart {
            bars,
            max_label: thousands(max),
            first_label: first.format("%d %b").to_string(),
            last_label: last.format("%d %b").to_string(),
        }
    }

    pub fn width(&self) -> f64 {
        Self::WIDTH
    }

    pub fn height(&self) -> f64 {
        Self::HEIGHT
    }

    pub fn base(&self) -> f64 {
        Self::HEIGHT - Self::BOTTOM
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// 1234567.0 → "1,234,567" (whole units: shillings, sessions).
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `GET /console/`
pub async fn page_handler(state: AppState, user: Console<Staff>) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    // The tenant's date today and its time zone, as every figure below counts days.
    let now = tx
        .query_one(
            "SELECT (now() AT TIME ZONE z)::date, z
             FROM (SELECT zone_or_utc((SELECT timezone FROM tenants LIMIT 1)) AS z) x",
            &[],
        )
        .await?;
    let today: NaiveDate = now.get(0);
    let zone: String = now.get(1);
    let first = today - chrono::Days::new(29);
    // The revenue figures run at the same time in a tenant transaction of their own (row-level
    // security as here): the other figures do not wait for them.
    let money = async {
        if user.can::<Finance>() {
            let mut client = state.pool.get().await?;
            let tx = user.begin(&mut client).await?;
            let money = revenue(&tx, today).await?;
            tx.commit().await?;
            Ok::<_, ConsoleError>(Some(money))
        } else {
            Ok(None)
        }
    };
    let rest = async {
        // Sessions started per day, from the daily roll-up the sessions' triggers keep (migration
        // 0034), in the tenant's time zone: a few thousand rows instead of every session.
        let mut sessions = vec![0.0; 30];
        for r in tx
            .query(
                "SELECT day, sum(sessions)::float8 FROM hotspot_session_days
                 WHERE day BETWEEN $1 AND $2 GROUP BY day",
                &[&first, &today],
            )
            .await?
        {
            let day: NaiveDate = r.get(0);
            if let Ok(i) = usize::try_from((day - first).num_days())
                && i < 30
            {
                sessions[i] = r.get(1);
            }
        }
        let sessions_chart = Chart::days(first, &sessions);
        let guests_now: i64 = tx
            .query_one(
                "SELECT count(*) FROM hotspot_sessions WHERE session_status = 'active'",
                &[],
            )
            .await?
            .get(0);
        let sites = tx
            .query(
                &format!(
                    "SELECT coalesce(x.name, '')::text, x.last_seen_at > now() - make_interval(mins => $1),
                            to_char(x.last_seen_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI'),
                            x.clients_now
                     FROM ({HOTSPOT_SELECT}) x
                     ORDER BY x.clients_now DESC, x.name, x.id"
                ),
                &[&ONLINE_WITHIN_MINUTES, &zone],
            )
            .await?;
        let sites: Vec<SiteRow> = sites
            .iter()
            .map(|r| SiteRow {
                name: r.get(0),
                online: r.get::<_, Option<bool>>(1).unwrap_or(false),
                last_seen: r.get(2),
                guests: r.get(3),
            })
            .collect();
        // Unused vouchers per package, from the stock roll-up (migration 0040) for the days
        // after today (UTC) and from the vouchers themselves for those expiring today, which
        // expire while the page is looked at.
        let stock: Vec<(String, i64)> = tx
            .query(
                "SELECT coalesce(p.name, '—'), sum(c.n)::int8
                 FROM (SELECT service_package_id, vouchers AS n FROM hotspot_voucher_stock
                       WHERE expires_on > (now() AT TIME ZONE 'UTC')::date
                     UNION ALL
                       SELECT service_package_id, count(*) FROM hotspot_vouchers
                       WHERE NOT is_used AND revoked_at IS NULL
                         AND expiry_date > now()
                         AND expiry_date < (((now() AT TIME ZONE 'UTC')::date + 1)::timestamp
                                            AT TIME ZONE 'UTC')
                       GROUP BY 1) c
                 LEFT JOIN service_packages p ON p.id = c.service_package_id
                 GROUP BY 1 HAVING sum(c.n) > 0 ORDER BY 1",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok::<_, ConsoleError>((sessions_chart, guests_now, sites, stock))
    };
    let (money, (sessions_chart, guests_now, sites, stock)) = tokio::try_join!(money, rest)?;
    tx.commit().await?;
    let sites_online = sites.iter().filter(|s| s.online).count() as i64;
    let body = DashboardPage {
        f: user.frame("/console/", "dashboard"),
        money,
        guests_now,
        sites_online,
        sites_offline: sites.len() as i64 - sites_online,
        sites: sites.into_iter().take(20).collect(),
        stock,
        sessions_chart,
    };
    page(StatusCode::OK, &body)
}

/// Revenue for today, 7 days and this month, and the 30-day chart: paid purchases by settlement
/// and used vouchers no purchase names by use, per day in the tenant's zone, from the revenue
/// roll-up the purchases' and vouchers' triggers keep (migration 0040), from the earlier of the
/// month's first day and 30 days back.
async fn revenue(
    tx: &deadpool_postgres::Transaction<'_>,
    today: NaiveDate,
) -> ConsoleResult<Money> {
    let first = today - chrono::Days::new(29);
    let month_start = today.with_day(1).unwrap_or(today);
    let since = month_start.min(first);
    let rows = tx
        .query(
            "SELECT day, sum(amount)::float8 FROM hotspot_revenue_days
             WHERE day >= $1 GROUP BY day",
            &[&since],
        )
        .await?;
    let mut today_sum = 0.0;
    let mut week = 0.0;
    let mut month = 0.0;
    let mut values = vec![0.0; 30];
    for r in &rows {
        let day: NaiveDate = r.get(0);
        let v: f64 = r.get(1);
        if day == today {
            today_sum += v;
        }
        if day > today - chrono::Days::new(7) && day <= today {
            week += v;
        }
        if day >= month_start && day <= today {
            month += v;
        }
        if let Ok(i) = usize::try_from((day - first).num_days())
            && i < 30
        {
            values[i] += v;
        }
    }
    Ok(Money {
        today: format!("KES {}", thousands(today_sum)),
        week: format!("KES {}", thousands(week)),
        month: format!("KES {}", thousands(month)),
        chart: Chart::days(first, &values),
    })
}

/// `GET /console/`
pub async fn page_route(State(state): State<AppState>, user: Console<Staff>) -> Response {
    let lang = user.lang;
    page_handler(state, user)
        .await
        .unwrap_or_else(|e| e.render(lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.4), "1,234,567");
    }

    #[test]
    fn bars_scale_to_the_largest_day() {
        let first = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let c = Chart::days(first, &[0.0, 50.0, 100.0]);
        assert_eq!(c.bars.len(), 3);
        assert_eq!(c.bars[0].h, 0.0);
        assert_eq!(c.bars[2].h, Chart::HEIGHT - Chart::TOP - Chart::BOTTOM);
        assert_eq!(c.bars[1].h * 2.0, c.bars[2].h);
        assert_eq!(c.bars[2].title, "2026-12-03: 100");
        assert_eq!(c.max_label, "100");
        let empty = Chart::days(first, &[0.0; 30]);
        assert!(empty.bars.iter().all(|b| b.h == 0.0));
    }
}
