//! Vouchers: batches generated for a package with `generate_voucher_code()`, listing with
//! filters, revocation, CSV export and a printable page of cards.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Auth, Staff, Support};
use super::error::{ApiError, ApiResult};
use super::{
    Body, Page, Params, decode_cursor, json_row, json_rows, json_text, page_limit, page_of,
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/vouchers", get(list))
        .route("/api/v1/vouchers/batches", post(generate))
        .route("/api/v1/vouchers/export.csv", get(export_csv))
        .route("/api/v1/vouchers/cards", get(cards))
        .route("/api/v1/vouchers/{id}", get(show))
        .route("/api/v1/vouchers/{id}/revoke", post(revoke))
}

/// A batch to generate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub hotspot_id: Uuid,
    /// A hotspot package: its duration, data limit, devices and price go on every voucher.
    pub package_id: Uuid,
    /// 1 to 10,000.
    pub count: i32,
    /// Days until unused vouchers expire (default 90).
    pub valid_days: Option<i32>,
}

/// A generated batch.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Batch {
    pub batch_id: Uuid,
    pub count: i64,
    pub codes: Vec<String>,
}

/// Checks a batch request and stores its vouchers in the caller's tenant transaction (the API's
/// and the console's); returns the batch id and the codes.
pub async fn insert_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
    req: &BatchRequest,
) -> ApiResult<(Uuid, Vec<String>)> {
    if !(1..=10_000).contains(&req.count) {
        return Err(ApiError::field("count", "must be between 1 and 10000"));
    }
    let valid_days = req.valid_days.unwrap_or(90);
    if !(1..=3650).contains(&valid_days) {
        return Err(ApiError::field("valid_days", "must be between 1 and 3650"));
    }
    // Both must be this tenant's (RLS hides the others): 422 naming the field, nothing written.
    let hotspot = tx
        .query_opt("SELECT 1 FROM hotspots WHERE id = $1", &[&req.hotspot_id])
        .await?;
    if hotspot.is_none() {
        return Err(ApiError::field("hotspot_id", "no such hotspot"));
    }
    let package = tx
        .query_opt(
            "SELECT 1 FROM service_packages
             WHERE id = $1 AND deleted_at IS NULL AND is_active AND package_type = 'hotspot'",
            &[&req.package_id],
        )
        .await?;
    if package.is_none() {
        return Err(ApiError::field(
            "package_id",
            "no such active hotspot package",
        ));
    }
    let batch_id = Uuid::new_v4();
    let rows = tx
        .query(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, voucher_type,
                 duration_minutes, data_limit_mb, price, currency, max_devices, expiry_date,
                 generated_by, service_package_id, batch_id)
             SELECT p.tenant_id, $1, generate_voucher_code(),
                    CASE WHEN p.duration_minutes IS NOT NULL THEN 'time_based'
                         WHEN p.data_limit_mb IS NOT NULL THEN 'data_based'
                         ELSE 'unlimited' END,
                    p.duration_minutes, p.data_limit_mb, p.price, p.currency, p.max_devices,
                    now() + make_interval(days => $3), $4, p.id, $5
             FROM service_packages p, generate_series(1, $6) g
             WHERE p.id = $2
             RETURNING voucher_code",
            &[
                &req.hotspot_id,
                &req.package_id,
                &valid_days,
                &user_id,
                &batch_id,
                &req.count,
            ],
        )
        .await?;
    Ok((batch_id, rows.iter().map(|r| r.get(0)).collect()))
}

/// `POST /api/v1/vouchers/batches`
#[utoipa::path(post, path = "/api/v1/vouchers/batches", tag = "vouchers",
    request_body = BatchRequest,
    responses((status = 201, body = Batch), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn generate(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Body(req): Body<BatchRequest>,
) -> ApiResult<(StatusCode, Json<Batch>)> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let (batch_id, codes) = insert_batch(&tx, auth.user_id, &req).await?;
    tx.commit().await?;
    tracing::info!(%batch_id, count = codes.len(), "vouchers generated");
    Ok((
        StatusCode::CREATED,
        Json(Batch {
            batch_id,
            count: codes.len() as i64,
            codes,
        }),
    ))
}

/// Filters of the voucher list (all optional).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VoucherFilter {
    pub hotspot_id: Option<Uuid>,
    pub package_id: Option<Uuid>,
    pub batch_id: Option<Uuid>,
    /// `unused`, `used`, `revoked` or `expired`.
    pub status: Option<String>,
    pub code: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn status_clause(status: Option<&str>) -> ApiResult<&'static str> {
    Ok(match status {
        None => "true",
        Some("unused") => {
            "NOT v.is_used AND v.revoked_at IS NULL AND (v.expiry_date IS NULL OR v.expiry_date > now())"
        }
        Some("used") => "v.is_used",
        Some("revoked") => "v.revoked_at IS NOT NULL",
        Some("expired") => "v.revoked_at IS NULL AND NOT v.is_used AND v.expiry_date <= now()",
        Some(_) => {
            return Err(ApiError::field(
                "status",
                "must be unused, used, revoked or expired",
            ));
        }
    })
}

const VOUCHER_COLUMNS: &str = "v.*, CASE WHEN v.revoked_at IS NOT NULL THEN 'revoked'
    WHEN v.is_used THEN 'used' WHEN v.expiry_date <= now() THEN 'expired' ELSE 'unused' END
    AS status";

pub(crate) async fn query_vouchers(
    tx: &deadpool_postgres::Transaction<'_>,
    f: &VoucherFilter,
    limit: Option<i64>,
) -> ApiResult<Vec<Value>> {
    let status = status_clause(f.status.as_deref())?;
    let (after_t, after_id) = match &f.cursor {
        Some(c) => {
            let parts = decode_cursor(c, 2)?;
            let t = chrono::DateTime::parse_from_rfc3339(&parts[0])
                .map_err(|_| ApiError::field("cursor", "is not a cursor this API gave"))?
                .with_timezone(&chrono::Utc);
            let id = Uuid::parse_str(&parts[1])
                .map_err(|_| ApiError::field("cursor", "is not a cursor this API gave"))?;
            (Some(t), Some(id))
        }
        None => (None, None),
    };
    let sql = format!(
        "SELECT {VOUCHER_COLUMNS} FROM hotspot_vouchers v
         WHERE ($1::uuid IS NULL OR v.hotspot_id = $1)
           AND ($2::uuid IS NULL OR v.service_package_id = $2)
           AND ($3::uuid IS NULL OR v.batch_id = $3)
           AND ($4::text IS NULL OR v.voucher_code = upper($4))
           AND ($5::timestamptz IS NULL OR (v.created_at, v.id) > ($5, $6::uuid))
           AND {status}
         ORDER BY v.created_at, v.id
         LIMIT $7"
    );
    json_rows(
        tx,
        &sql,
        &[
            &f.hotspot_id,
            &f.package_id,
            &f.batch_id,
            &f.code,
            &after_t,
            &after_id,
            &limit.unwrap_or(i64::MAX),
        ],
    )
    .await
}

/// `GET /api/v1/vouchers`
#[utoipa::path(get, path = "/api/v1/vouchers", tag = "vouchers", params(VoucherFilter),
    responses((status = 200, body = Page), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Params(f): Params<VoucherFilter>,
) -> ApiResult<Json<Page>> {
    let limit = page_limit(f.limit)?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = query_vouchers(&tx, &f, Some(limit + 1)).await?;
    tx.commit().await?;
    Ok(Json(page_of(rows, limit, |v| {
        vec![rfc3339(&v["created_at"]), json_text(&v["id"])]
    })))
}

/// PostgreSQL's JSON timestamps ("2026-01-01T10:00:00.123456+00:00") are RFC 3339 already.
fn rfc3339(v: &Value) -> String {
    json_text(v)
}

/// `GET /api/v1/vouchers/{id}`
#[utoipa::path(get, path = "/api/v1/vouchers/{id}", tag = "vouchers",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = json_row(
        &tx,
        &format!("SELECT {VOUCHER_COLUMNS} FROM hotspot_vouchers v WHERE v.id = $1"),
        &[&id],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// `POST /api/v1/vouchers/{id}/revoke`: an unused voucher stops working (on routers too: its
/// expiry becomes now).
#[utoipa::path(post, path = "/api/v1/vouchers/{id}/revoke", tag = "vouchers",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    revoke_voucher(&tx, id, auth.user_id).await?;
    let row = json_row(
        &tx,
        &format!("SELECT {VOUCHER_COLUMNS} FROM hotspot_vouchers v WHERE v.id = $1"),
        &[&id],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Revokes unused voucher `id` in the caller's tenant transaction (its expiry becomes now, so
/// routers stop it too): 404 if absent or another tenant's, 409 if already revoked. The API's
/// revoke and the console's.
pub(crate) async fn revoke_voucher(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    user_id: Uuid,
) -> ApiResult<()> {
    let current = tx
        .query_opt(
            "SELECT revoked_at IS NOT NULL FROM hotspot_vouchers WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    if current.get::<_, bool>(0) {
        return Err(ApiError::Conflict("already revoked".into()));
    }
    tx.execute(
        "UPDATE hotspot_vouchers SET revoked_at = now(), revoked_by = $2,
             expiry_date = least(coalesce(expiry_date, now()), now())
         WHERE id = $1",
        &[&id, &user_id],
    )
    .await?;
    Ok(())
}

/// Quotes a CSV field when needed (RFC 4180), and defuses spreadsheet formulas.
pub(crate) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `GET /api/v1/vouchers/export.csv` (same filters as the list, no paging).
#[utoipa::path(get, path = "/api/v1/vouchers/export.csv", tag = "vouchers", params(VoucherFilter),
    responses((status = 200, content_type = "text/csv", body = String)),
    security(("bearer" = [])))]
pub async fn export_csv(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Params(f): Params<VoucherFilter>,
) -> ApiResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = query_vouchers(&tx, &f, None).await?;
    tx.commit().await?;
    let out = vouchers_csv(&rows);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"vouchers.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// The CSV of voucher rows (as [`query_vouchers`] gives them): a header line and one line a
/// voucher, CRLF-ended, formulas defused. The API's export and the console's.
pub(crate) fn vouchers_csv(rows: &[Value]) -> String {
    let columns = [
        "voucher_code",
        "status",
        "hotspot_id",
        "voucher_type",
        "duration_minutes",
        "data_limit_mb",
        "price",
        "currency",
        "max_devices",
        "expiry_date",
        "batch_id",
        "created_at",
    ];
    rows_csv(&columns, rows)
}

/// `rows` (JSON objects) as CSV: a header line of `columns`, then one CRLF-ended line a row of
/// those fields, formulas defused ([`csv_field`]).
pub(crate) fn rows_csv(columns: &[&str], rows: &[Value]) -> String {
    let mut out = columns.join(",");
    out.push_str("\r\n");
    for r in rows {
        let line: Vec<String> = columns
            .iter()
            .map(|c| csv_field(&json_text(&r[*c])))
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// One voucher as its printed card shows it.
#[derive(Debug, Clone)]
pub struct Card {
    /// The site's WiFi name.
    pub ssid: String,
    pub code: String,
    /// "1 day(s)", "3 hour(s)", "500 MB", "Unlimited".
    pub what: String,
    pub currency: String,
    pub price: String,
    /// The expiry date (YYYY-MM-DD), empty without one.
    pub valid_until: String,
}

/// The cards of the vouchers `f` selects (at most 2,000), in the caller's tenant transaction:
/// what the API's printable page and the console's print views show.
pub async fn printable(
    tx: &deadpool_postgres::Transaction<'_>,
    f: &VoucherFilter,
) -> ApiResult<Vec<Card>> {
    let rows = query_vouchers(tx, f, Some(2000)).await?;
    cards_of(tx, &rows).await
}

/// Most vouchers a hand-picked selection prints ([`printable_ids`]).
pub const MAX_PICKED: usize = 200;

/// The cards of the vouchers `ids` names (at most [`MAX_PICKED`], whatever their status), oldest
/// first, in the caller's tenant transaction: another tenant's ids find nothing (row-level
/// security), so they are simply not printed.
pub async fn printable_ids(
    tx: &deadpool_postgres::Transaction<'_>,
    ids: &[Uuid],
) -> ApiResult<Vec<Card>> {
    if ids.len() > MAX_PICKED {
        return Err(ApiError::field(
            "id",
            format!("at most {MAX_PICKED} vouchers at once"),
        ));
    }
    let rows = json_rows(
        tx,
        &format!(
            "SELECT {VOUCHER_COLUMNS} FROM hotspot_vouchers v WHERE v.id = ANY($1)
             ORDER BY v.created_at, v.id"
        ),
        &[&ids],
    )
    .await?;
    cards_of(tx, &rows).await
}

/// Vouchers (rows as [`query_vouchers`] gives them) as cards.
async fn cards_of(tx: &deadpool_postgres::Transaction<'_>, rows: &[Value]) -> ApiResult<Vec<Card>> {
    let names = json_rows(tx, "SELECT id, ssid, name FROM hotspots", &[]).await?;
    let ssid_of = |id: &Value| {
        names
            .iter()
            .find(|h| &h["id"] == id)
            .map(|h| json_text(&h["ssid"]))
            .unwrap_or_default()
    };
    Ok(rows
        .iter()
        .map(|v| Card {
            ssid: ssid_of(&v["hotspot_id"]),
            code: json_text(&v["voucher_code"]),
            what: match (v["duration_minutes"].as_i64(), v["data_limit_mb"].as_i64()) {
                (Some(m), _) if m % 1440 == 0 => format!("{} day(s)", m / 1440),
                (Some(m), _) if m % 60 == 0 => format!("{} hour(s)", m / 60),
                (Some(m), _) => format!("{m} minutes"),
                (None, Some(mb)) => format!("{mb} MB"),
                _ => "Unlimited".to_owned(),
            },
            currency: json_text(&v["currency"]),
            price: json_text(&v["price"]),
            valid_until: json_text(&v["expiry_date"])
                .get(..10)
                .unwrap_or("")
                .to_owned(),
        })
        .collect())
}

/// `GET /api/v1/vouchers/cards`: a printable A4 page of voucher cards (same filters as the
/// list; unused vouchers by default).
#[utoipa::path(get, path = "/api/v1/vouchers/cards", tag = "vouchers", params(VoucherFilter),
    responses((status = 200, content_type = "text/html", body = String)),
    security(("bearer" = [])))]
pub async fn cards(
    State(state): State<AppState>,
    auth: Auth<Support>,
    Params(mut f): Params<VoucherFilter>,
) -> ApiResult<Response> {
    f.status.get_or_insert_with(|| "unused".to_owned());
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let cards = printable(&tx, &f).await?;
    tx.commit().await?;
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Vouchers</title><style>\
         body{font-family:sans-serif;margin:10mm}\
         .grid{display:grid;grid-template-columns:repeat(3,1fr);gap:4mm}\
         .card{border:1px dashed #555;padding:4mm;break-inside:avoid}\
         .code{font:bold 16pt monospace;letter-spacing:2px}\
         .meta{font-size:9pt;color:#333}\
         @media print{body{margin:0}}</style></head><body><div class=\"grid\">\n",
    );
    for c in &cards {
        html.push_str(&format!(
            "<div class=\"card\"><div class=\"meta\">WiFi: {}</div><div class=\"code\">{}</div>\
             <div class=\"meta\">{} · {} {} · valid until {}</div></div>\n",
            html_escape(&c.ssid),
            html_escape(&c.code),
            html_escape(&c.what),
            html_escape(&c.currency),
            html_escape(&c.price),
            html_escape(&c.valid_until),
        ));
    }
    html.push_str("</div></body></html>\n");
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("ABC"), "ABC");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<a href='x'>&"),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
    }
}
