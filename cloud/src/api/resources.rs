//! The generic resource API over the table registry ([`super::registry`]): for every registered
//! table, list (filters, sorting, cursor pagination), get, create, update and delete (soft where
//! the table has `deleted_at`), under the same row-level security and role rules as the typed
//! endpoints.
//!
//! SQL is assembled only from identifiers that are both in the registry and in PostgreSQL's
//! catalogue, always double-quoted; every value travels as a parameter (text cast to the
//! column's type, or a JSON object through `jsonb_populate_record`).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::{Auth, Role, Staff};
use super::error::{ApiError, ApiResult, FieldError};
use super::registry::{self, Catalog, Column, Table};
use super::{Body, Page, Params, decode_cursor, encode_cursor, page_limit};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/resources", get(index))
        .route("/api/v1/resources/{table}", get(list).post(create))
        .route(
            "/api/v1/resources/{table}/{id}",
            get(show).patch(update).delete(remove),
        )
}

/// The catalogue, read on first use.
pub async fn catalog(state: &AppState) -> ApiResult<&Catalog> {
    state
        .api
        .catalog
        .get_or_try_init(|| async {
            let client = state.pool.get().await?;
            Catalog::load(&client).await.map_err(ApiError::from)
        })
        .await
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The table named in the URL, if the caller may read it.
fn table_for(name: &str, roles: &[Role]) -> ApiResult<&'static Table> {
    let table = registry::find(name).ok_or(ApiError::NotFound)?;
    if !table.can_read(roles) {
        return Err(ApiError::Forbidden);
    }
    Ok(table)
}

/// One column of a resource as the index describes it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub sql_type: String,
    pub required: bool,
    pub writable: bool,
}

/// One resource of the generic API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceInfo {
    pub name: &'static str,
    pub key: &'static str,
    pub writable: bool,
    pub soft_delete: bool,
    pub columns: Vec<ColumnInfo>,
}

/// `GET /api/v1/resources`: the resources the caller may read, with their columns.
#[utoipa::path(get, path = "/api/v1/resources", tag = "resources",
    responses((status = 200, body = Vec<ResourceInfo>)), security(("bearer" = [])))]
pub async fn index(
    State(state): State<AppState>,
    auth: Auth<Staff>,
) -> ApiResult<Json<Vec<ResourceInfo>>> {
    let catalog = catalog(&state).await?;
    let out = registry::TABLES
        .iter()
        .filter(|t| t.can_read(&auth.roles))
        .map(|t| {
            let cols = catalog.columns(t.name);
            ResourceInfo {
                name: t.name,
                key: t.key,
                writable: t.can_write(&auth.roles),
                soft_delete: cols.iter().any(|c| c.name == "deleted_at"),
                columns: cols
                    .iter()
                    .filter(|c| t.readable(&c.name, &auth.roles))
                    .map(|c| ColumnInfo {
                        name: c.name.clone(),
                        sql_type: c.sql_type.clone(),
                        required: c.not_null && !c.has_default && t.writable(&c.name, &auth.roles),
                        writable: t.writable(&c.name, &auth.roles),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Json(out))
}

/// The SELECT list: the row as JSON without the columns this caller may not see.
fn projection(table: &Table, cols: &[Column], roles: &[Role]) -> String {
    let hidden: Vec<String> = cols
        .iter()
        .filter(|c| !table.readable(&c.name, roles))
        .map(|c| format!("'{}'", c.name.replace('\'', "''")))
        .collect();
    if hidden.is_empty() {
        "to_jsonb(t)".to_owned()
    } else {
        format!("to_jsonb(t) - ARRAY[{}]::text[]", hidden.join(", "))
    }
}

fn column<'c>(cols: &'c [Column], name: &str) -> Option<&'c Column> {
    cols.iter().find(|c| c.name == name)
}

fn key_column<'c>(table: &Table, cols: &'c [Column]) -> ApiResult<&'c Column> {
    column(cols, table.key).ok_or_else(|| ApiError::internal(format!("{}: no key", table.name)))
}

fn soft(cols: &[Column]) -> bool {
    cols.iter().any(|c| c.name == "deleted_at")
}

/// `GET /api/v1/resources/{table}`: `?column=value` (equality), `?column.gte=`, `.lte=`,
/// `.like=` (text pattern), `sort=column` or `sort=-column` (a NOT NULL column; the key by
/// default), `limit` (1-500), `cursor` (from the previous page), `deleted=true` for soft-deleted
/// rows.
#[utoipa::path(get, path = "/api/v1/resources/{table}", tag = "resources",
    params(("table" = String, Path, description = "a registered table")),
    responses((status = 200, body = Page), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path(name): Path<String>,
    Params(query): Params<Vec<(String, String)>>,
) -> ApiResult<Json<Page>> {
    let table = table_for(&name, &auth.roles)?;
    let catalog = catalog(&state).await?;
    let cols = catalog.columns(table.name);
    let key = key_column(table, cols)?;

    let mut params: Vec<String> = Vec::new();
    let mut wheres: Vec<String> = Vec::new();
    let mut errors: Vec<FieldError> = Vec::new();
    let mut sort: Option<(&Column, bool)> = None;
    let mut limit = None;
    let mut cursor = None;
    let mut deleted = false;
    for (k, v) in &query {
        match k.as_str() {
            "sort" => {
                let (desc, name) = match v.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, v.as_str()),
                };
                match column(cols, name) {
                    Some(c)
                        if table.readable(&c.name, &auth.roles)
                            && (c.not_null || c.name == table.key) =>
                    {
                        sort = Some((c, desc))
                    }
                    _ => errors.push(FieldError {
                        field: "sort".into(),
                        message: format!("cannot sort by {name:?} (a visible NOT NULL column)"),
                    }),
                }
            }
            "limit" => match v.parse::<i64>() {
                Ok(n) => limit = Some(n),
                Err(_) => errors.push(FieldError {
                    field: "limit".into(),
                    message: "must be a number".into(),
                }),
            },
            "cursor" => cursor = Some(v.clone()),
            "deleted" => deleted = v == "true",
            _ => {
                let (name, op) = match k.rsplit_once('.') {
                    Some((n, "gte")) => (n, ">="),
                    Some((n, "lte")) => (n, "<="),
                    Some((n, "like")) => (n, "LIKE"),
                    _ => (k.as_str(), "="),
                };
                match column(cols, name) {
                    Some(c) if table.readable(&c.name, &auth.roles) => {
                        params.push(v.clone());
                        let n = params.len();
                        if op == "LIKE" {
                            wheres.push(format!("t.{}::text LIKE ${n}::text", quote(&c.name)));
                        } else {
                            wheres.push(format!(
                                "t.{} {op} CAST(${n}::text AS {})",
                                quote(&c.name),
                                c.sql_type
                            ));
                        }
                    }
                    _ => errors.push(FieldError {
                        field: k.clone(),
                        message: "no such column".into(),
                    }),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let limit = page_limit(limit)?;
    let (sort_col, desc) = sort.unwrap_or((key, false));
    if soft(cols) && !deleted {
        wheres.push("t.deleted_at IS NULL".into());
    }
    if let Some(c) = &cursor {
        let parts = decode_cursor(c, 2)?;
        params.push(parts[0].clone());
        params.push(parts[1].clone());
        let n = params.len();
        wheres.push(format!(
            "(t.{s}, t.{k}) {cmp} (CAST(${a}::text AS {st}), CAST(${n}::text AS {kt}))",
            s = quote(&sort_col.name),
            k = quote(&key.name),
            cmp = if desc { "<" } else { ">" },
            a = n - 1,
            st = sort_col.sql_type,
            kt = key.sql_type,
        ));
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let where_sql = if wheres.is_empty() {
        "true".to_owned()
    } else {
        wheres.join(" AND ")
    };
    let sql = format!(
        "SELECT {proj}, t.{s}::text, t.{k}::text FROM {table} t WHERE {where_sql}
         ORDER BY t.{s} {dir}, t.{k} {dir} LIMIT {lim}",
        proj = projection(table, cols, &auth.roles),
        s = quote(&sort_col.name),
        k = quote(&key.name),
        table = quote(table.name),
        lim = limit + 1,
    );
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = tx.query(&sql, &refs).await?;
    tx.commit().await?;
    let more = rows.len() as i64 > limit;
    let kept = &rows[..rows.len().min(limit as usize)];
    let next_cursor = if more {
        kept.last().map(|r| {
            encode_cursor(&[
                r.get::<_, Option<String>>(1).unwrap_or_default(),
                r.get::<_, Option<String>>(2).unwrap_or_default(),
            ])
        })
    } else {
        None
    };
    Ok(Json(Page {
        items: kept.iter().map(|r| r.get::<_, Value>(0)).collect(),
        next_cursor,
    }))
}

/// `GET /api/v1/resources/{table}/{id}`
#[utoipa::path(get, path = "/api/v1/resources/{table}/{id}", tag = "resources",
    params(("table" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let table = table_for(&name, &auth.roles)?;
    let catalog = catalog(&state).await?;
    let cols = catalog.columns(table.name);
    let key = key_column(table, cols)?;
    let sql = format!(
        "SELECT {proj} FROM {t} t WHERE t.{k} = CAST($1::text AS {kt}){live}",
        proj = projection(table, cols, &auth.roles),
        t = quote(table.name),
        k = quote(&key.name),
        kt = key.sql_type,
        live = if soft(cols) {
            " AND t.deleted_at IS NULL"
        } else {
            ""
        },
    );
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = tx
        .query_opt(&sql, &[&id])
        .await
        .map_err(not_found_on_bad_key)?;
    tx.commit().await?;
    row.map(|r| Json(r.get(0))).ok_or(ApiError::NotFound)
}

/// An id that does not parse as the key's type names nothing: 404, like a missing row.
fn not_found_on_bad_key(e: tokio_postgres::Error) -> ApiError {
    match ApiError::from(e) {
        ApiError::Validation(_) => ApiError::NotFound,
        other => other,
    }
}

/// Checks a body against what the caller may write; returns the columns to set.
fn writable_fields<'a>(
    table: &Table,
    cols: &[Column],
    roles: &[Role],
    body: &'a Map<String, Value>,
) -> ApiResult<Vec<&'a str>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for k in body.keys() {
        match column(cols, k) {
            None => errors.push(FieldError {
                field: k.clone(),
                message: "no such column".into(),
            }),
            Some(c) if !table.writable(&c.name, roles) => errors.push(FieldError {
                field: k.clone(),
                message: "not writable".into(),
            }),
            Some(_) => out.push(k.as_str()),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn require_write(table: &Table, roles: &[Role]) -> ApiResult<()> {
    if table.can_write(roles) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// `POST /api/v1/resources/{table}`: a JSON object of column values.
#[utoipa::path(post, path = "/api/v1/resources/{table}", tag = "resources",
    params(("table" = String, Path)), request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path(name): Path<String>,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let table = table_for(&name, &auth.roles)?;
    let catalog = catalog(&state).await?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = insert_row(&tx, catalog, table, &auth.roles, &body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// Inserts a row of `table` from a JSON object of column values in the caller's tenant
/// transaction, with the API's rules: the caller's `roles` must be allowed to write the table
/// and each column given, required columns must be there, `tenant_id` and `created_by` are the
/// caller's. Answers the row as the caller may read it. What `POST /api/v1/resources/{table}`
/// does, and the console's forms over the same tables (a ticket's reply).
pub(crate) async fn insert_row(
    tx: &deadpool_postgres::Transaction<'_>,
    catalog: &Catalog,
    table: &'static Table,
    roles: &[Role],
    body: &Map<String, Value>,
) -> ApiResult<Value> {
    require_write(table, roles)?;
    let cols = catalog.columns(table.name);
    let fields = writable_fields(table, cols, roles, body)?;
    // Required columns missing from the body, named before the database is asked.
    let missing: Vec<FieldError> = cols
        .iter()
        .filter(|c| {
            c.not_null
                && !c.has_default
                && table.writable(&c.name, roles)
                && body.get(&c.name).is_none_or(Value::is_null)
        })
        .map(|c| FieldError {
            field: c.name.clone(),
            message: "is required".into(),
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    let mut targets: Vec<String> = fields.iter().map(|f| quote(f)).collect();
    let mut values: Vec<String> = fields.iter().map(|f| format!("r.{}", quote(f))).collect();
    if column(cols, "tenant_id").is_some() {
        targets.push("\"tenant_id\"".into());
        values.push("app_current_tenant()".into());
    }
    if column(cols, "created_by").is_some_and(|c| c.sql_type == "uuid") {
        targets.push("\"created_by\"".into());
        values.push("app_current_user()".into());
    }
    let sql = format!(
        "INSERT INTO {t} AS t ({targets}) SELECT {values} FROM jsonb_populate_record(NULL::{t}, $1) r
         RETURNING {proj}",
        t = quote(table.name),
        targets = targets.join(", "),
        values = values.join(", "),
        proj = projection(table, cols, roles),
    );
    let row = tx
        .query_one(&sql, &[&Value::Object(body.clone())])
        .await
        .map_err(|e| match ApiError::from(e) {
            // The row would not be this caller's to see (user-scoped tables).
            ApiError::NotFound => ApiError::field("", "the row would not be yours"),
            other => other,
        })?;
    Ok(row.get(0))
}

/// `PATCH /api/v1/resources/{table}/{id}`: the columns to change.
#[utoipa::path(patch, path = "/api/v1/resources/{table}/{id}", tag = "resources",
    params(("table" = String, Path), ("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path((name, id)): Path<(String, String)>,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let table = table_for(&name, &auth.roles)?;
    let catalog = catalog(&state).await?;
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let row = update_row(&tx, catalog, table, &auth.roles, &id, &body).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Changes the columns given in `body` of the row `id` of `table` in the caller's tenant
/// transaction, with the API's rules (the table and each column writable by `roles`,
/// `updated_by` the caller, soft-deleted rows absent). Answers the row as the caller may read
/// it; an absent row, another tenant's or a key that does not parse is `NotFound`. What
/// `PATCH /api/v1/resources/{table}/{id}` does, and the console's forms over the same tables (a
/// ticket closed or reopened).
pub(crate) async fn update_row(
    tx: &deadpool_postgres::Transaction<'_>,
    catalog: &Catalog,
    table: &'static Table,
    roles: &[Role],
    id: &str,
    body: &Map<String, Value>,
) -> ApiResult<Value> {
    require_write(table, roles)?;
    let cols = catalog.columns(table.name);
    let key = key_column(table, cols)?;
    let fields = writable_fields(table, cols, roles, body)?;
    if fields.is_empty() {
        return Err(ApiError::field("", "nothing to change"));
    }
    let mut sets: Vec<String> = fields
        .iter()
        .map(|f| format!("{c} = r.{c}", c = quote(f)))
        .collect();
    if column(cols, "updated_by").is_some_and(|c| c.sql_type == "uuid") {
        sets.push("\"updated_by\" = app_current_user()".into());
    }
    let sql = format!(
        "UPDATE {t} AS t SET {sets} FROM jsonb_populate_record(NULL::{t}, $1) r
         WHERE t.{k} = CAST($2::text AS {kt}){live} RETURNING {proj}",
        t = quote(table.name),
        sets = sets.join(", "),
        k = quote(&key.name),
        kt = key.sql_type,
        live = if soft(cols) {
            " AND t.deleted_at IS NULL"
        } else {
            ""
        },
        proj = projection(table, cols, roles),
    );
    // A key that does not parse is a missing row; a bad value in the body stays a 422.
    check_key(tx, key, id).await?;
    let row = tx
        .query_opt(&sql, &[&Value::Object(body.clone()), &id])
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(row.get(0))
}

async fn check_key(
    tx: &deadpool_postgres::Transaction<'_>,
    key: &Column,
    id: &str,
) -> ApiResult<()> {
    tx.query_one(
        &format!("SELECT CAST($1::text AS {})", key.sql_type),
        &[&id],
    )
    .await
    .map_err(not_found_on_bad_key)?;
    Ok(())
}

/// `DELETE /api/v1/resources/{table}/{id}`: soft (sets `deleted_at`) where the table has it.
#[utoipa::path(delete, path = "/api/v1/resources/{table}/{id}", tag = "resources",
    params(("table" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    auth: Auth<Staff>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let table = table_for(&name, &auth.roles)?;
    require_write(table, &auth.roles)?;
    let catalog = catalog(&state).await?;
    let cols = catalog.columns(table.name);
    let key = key_column(table, cols)?;
    let sql = if soft(cols) {
        format!(
            "UPDATE {t} AS t SET deleted_at = now() WHERE t.{k} = CAST($1::text AS {kt})
             AND t.deleted_at IS NULL",
            t = quote(table.name),
            k = quote(&key.name),
            kt = key.sql_type
        )
    } else {
        format!(
            "DELETE FROM {t} AS t WHERE t.{k} = CAST($1::text AS {kt})",
            t = quote(table.name),
            k = quote(&key.name),
            kt = key.sql_type
        )
    };
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    check_key(&tx, key, &id).await?;
    let n = tx.execute(&sql, &[&id]).await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
