//! Packages (plans): the list (keyset-paged by name), a new package, and editing one: name,
//! price in KES, download and upload rates, time and data limits, validity, devices, whether it
//! is on sale. The checks and the writes are the API's ([`hotspots::check_package`],
//! [`hotspots::insert_package`], [`hotspots::update_package_row`]) and need its [`Noc`] roles;
//! anyone on the staff may read the list. A hotspot package is offered at the sites ticked on its
//! form, or at every site of the organisation when none is (the routers receive every change of
//! one through the sync change log; a site that stops selling it has it withdrawn).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Frame, page};
use crate::AppState;
use crate::api::auth::{Noc, Staff};
use crate::api::error::{ApiError, FieldError};
use crate::api::hotspots::{self, PackageInput};
use crate::api::{decode_cursor, encode_cursor};

/// Packages per page.
const PAGE: i64 = 50;

#[derive(Debug)]
struct PackageRow {
    id: Uuid,
    name: String,
    kind: String,
    price: String,
    down: i32,
    up: i32,
    minutes: Option<i32>,
    data_mb: Option<i32>,
    validity_days: i32,
    devices: i32,
    active: bool,
    /// Names of the sites that sell it; empty: every site.
    sites: Vec<String>,
}

/// A site on the package form, ticked when it sells the package.
#[derive(Debug)]
struct SiteChoice {
    id: Uuid,
    name: String,
    ticked: bool,
}

#[derive(Template)]
#[template(path = "console/packages.html")]
struct PackagesPage {
    f: Frame,
    rows: Vec<PackageRow>,
    next: Option<String>,
    can_manage: bool,
    form: PackageForm,
    sites: Vec<SiteChoice>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/package.html")]
struct PackagePage {
    f: Frame,
    id: Uuid,
    form: PackageForm,
    sites: Vec<SiteChoice>,
    error: Option<String>,
}

/// The list's query: the cursor of the next page.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub after: Option<String>,
}

/// The package form, as typed (numbers checked by [`PackageForm::input`]).
#[derive(Debug, Deserialize)]
pub struct PackageForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// KES, up to two decimals.
    #[serde(default)]
    pub price: String,
    #[serde(default)]
    pub download_mbps: String,
    #[serde(default)]
    pub upload_mbps: String,
    /// Empty: no time limit.
    #[serde(default)]
    pub duration_minutes: String,
    /// Empty: no data limit.
    #[serde(default)]
    pub data_limit_mb: String,
    #[serde(default)]
    pub validity_days: String,
    #[serde(default)]
    pub max_devices: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub is_active: Option<String>,
    /// The ticked sites (repeated `site` fields); none: every site.
    #[serde(skip)]
    pub sites: Vec<String>,
}

impl Default for PackageForm {
    fn default() -> Self {
        PackageForm {
            name: String::new(),
            description: String::new(),
            price: String::new(),
            download_mbps: String::new(),
            upload_mbps: String::new(),
            duration_minutes: String::new(),
            data_limit_mb: String::new(),
            validity_days: "30".into(),
            max_devices: "1".into(),
            is_active: Some("on".into()),
            sites: Vec::new(),
        }
    }
}

/// Most sites a form may tick.
const MAX_SITES: usize = 1000;

impl PackageForm {
    /// The form from its posted fields: each `site` field is one ticked site, any other field
    /// given twice keeps its last value.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut fields = serde_json::Map::new();
        let mut sites = Vec::new();
        for (k, v) in pairs {
            if k == "site" {
                sites.push(v);
            } else {
                fields.insert(k, serde_json::Value::String(v));
            }
        }
        if sites.len() > MAX_SITES {
            return Err(ApiError::field("site", "too many sites"));
        }
        let mut form: PackageForm = serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| ApiError::field("form", e.to_string()))?;
        form.sites = sites;
        Ok(form)
    }

    /// The API's input from the form: empty numbers are absent, anything else must read as a
    /// number (a whole one but for the price, which has at most two decimals).
    pub fn input(&self) -> Result<PackageInput, ApiError> {
        let mut errors = Vec::new();
        let mut whole = |field: &str, v: &str| -> Option<i32> {
            let v = v.trim();
            if v.is_empty() {
                return None;
            }
            v.parse::<i32>().ok().or_else(|| {
                errors.push(FieldError {
                    field: field.into(),
                    message: "must be a whole number".into(),
                });
                None
            })
        };
        let download_mbps = whole("download_mbps", &self.download_mbps);
        let upload_mbps = whole("upload_mbps", &self.upload_mbps);
        let duration_minutes = whole("duration_minutes", &self.duration_minutes);
        let data_limit_mb = whole("data_limit_mb", &self.data_limit_mb);
        let validity_days = whole("validity_days", &self.validity_days);
        let max_devices = whole("max_devices", &self.max_devices);
        let price = match self.price.trim() {
            "" => None,
            p => match kes(p) {
                Some(v) => Some(v),
                None => {
                    errors.push(FieldError {
                        field: "price".into(),
                        message: "must be an amount in KES such as 20 or 49.50".into(),
                    });
                    None
                }
            },
        };
        let mut site_ids = Vec::new();
        for site in &self.sites {
            match Uuid::parse_str(site.trim()) {
                Ok(id) => site_ids.push(id),
                Err(_) => {
                    errors.push(FieldError {
                        field: "site".into(),
                        message: "is not a site".into(),
                    });
                    break;
                }
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(PackageInput {
            name: Some(self.name.trim().to_owned()),
            description: Some(self.description.trim().to_owned()),
            package_type: None,
            download_mbps,
            upload_mbps,
            price,
            duration_minutes,
            data_limit_mb,
            max_devices,
            validity_days,
            is_active: Some(self.is_active.is_some()),
            site_ids: Some(site_ids),
            clear: None,
        })
    }

    /// The limits left empty: on the edit form, a package without that limit.
    fn empty_limits(&self) -> Vec<String> {
        [
            ("duration_minutes", &self.duration_minutes),
            ("data_limit_mb", &self.data_limit_mb),
        ]
        .iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(k, _)| (*k).to_owned())
        .collect()
    }
}

/// An amount in KES: digits with at most two decimals.
fn kes(s: &str) -> Option<f64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 10 || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return None;
    }
    s.parse().ok()
}

/// A refused write's reasons, one line.
fn reasons(e: &ApiError) -> Option<String> {
    match e {
        ApiError::Conflict(_) => Some("name: another package has this name".into()),
        e => super::input_reasons(e),
    }
}

/// The organisation's sites for the form, those named in `ticked` ticked.
async fn site_choices(
    tx: &deadpool_postgres::Transaction<'_>,
    ticked: &[String],
) -> Result<Vec<SiteChoice>, tokio_postgres::Error> {
    let rows = tx
        .query(
            "SELECT id, coalesce(name, '')::text FROM hotspots ORDER BY name, id LIMIT $1",
            &[&(MAX_SITES as i64)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let id: Uuid = r.get(0);
            SiteChoice {
                id,
                name: r.get(1),
                ticked: ticked.iter().any(|t| t.trim() == id.to_string()),
            }
        })
        .collect())
}

async fn list_page(
    state: &AppState,
    user: &Console<Staff>,
    after: Option<&str>,
    form: PackageForm,
    error: Option<String>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let (after_name, after_id) = match after {
        Some(c) => {
            let parts = decode_cursor(c, 2).map_err(|_| ConsoleError::NotFound)?;
            let id = Uuid::parse_str(&parts[1]).map_err(|_| ConsoleError::NotFound)?;
            (Some(parts[0].clone()), Some(id))
        }
        None => (None, None),
    };
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT x.id, x.name::text, x.package_type::text, x.price::text, x.download_mbps,
                        x.upload_mbps, x.duration_minutes, x.data_limit_mb, x.validity_days,
                        x.max_devices, x.is_active,
                        ARRAY(SELECT coalesce(h.name, '')::text
                              FROM service_package_hotspots l
                              JOIN hotspots h ON h.id = l.hotspot_id
                              WHERE l.service_package_id = x.id ORDER BY h.name, h.id)
                 FROM ({}) x
                 WHERE $1::text IS NULL OR (x.name, x.id) > ($1, $2::uuid)
                 ORDER BY x.name, x.id
                 LIMIT $3",
                hotspots::PACKAGE_SELECT
            ),
            &[&after_name, &after_id, &(PAGE + 1)],
        )
        .await?;
    let sites = site_choices(&tx, &form.sites).await?;
    tx.commit().await?;
    let mut rows: Vec<PackageRow> = rows
        .iter()
        .map(|r| PackageRow {
            id: r.get(0),
            name: r.get(1),
            kind: r.get(2),
            price: r.get(3),
            down: r.get(4),
            up: r.get(5),
            minutes: r.get(6),
            data_mb: r.get(7),
            validity_days: r.get(8),
            devices: r.get(9),
            active: r.get(10),
            sites: r.get(11),
        })
        .collect();
    let next = if rows.len() as i64 > PAGE {
        rows.truncate(PAGE as usize);
        rows.last()
            .map(|p| encode_cursor(&[p.name.clone(), p.id.to_string()]))
    } else {
        None
    };
    let body = PackagesPage {
        f: user.frame("/console/packages", "packages"),
        rows,
        next,
        can_manage: user.can::<Noc>(),
        form,
        sites,
        error,
    };
    page(status, &body)
}

/// `GET /console/packages`
pub async fn list(
    State(state): State<AppState>,
    user: Console<Staff>,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(
        &state,
        &user,
        q.after.as_deref(),
        PackageForm::default(),
        None,
        StatusCode::OK,
    )
    .await
    .unwrap_or_else(|e| e.render(user.lang))
}

/// `POST /console/packages`: a new hotspot package, then the list.
pub async fn create(
    State(state): State<AppState>,
    user: Console<Noc>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    let (form, unread) = match PackageForm::from_pairs(pairs) {
        Ok(f) => (f, None),
        Err(e) => (PackageForm::default(), Some(e)),
    };
    let result: Result<(), ApiError> = async {
        if let Some(e) = unread {
            return Err(e);
        }
        let mut input = form.input()?;
        input.package_type = Some("hotspot".into());
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        hotspots::insert_package(&tx, &input, user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/console/packages").into_response(),
        Err(e) => match reasons(&e) {
            Some(message) => {
                let staff = Console::<Staff>::from_other(&user);
                list_page(
                    &state,
                    &staff,
                    None,
                    form,
                    Some(message),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
                .unwrap_or_else(|e| e.render(lang))
            }
            None => ConsoleError::from(e).render(lang),
        },
    }
}

/// `GET /console/packages/{id}`: the edit form, filled in.
pub async fn edit(
    State(state): State<AppState>,
    user: Console<Noc>,
    Path(id): Path<Uuid>,
) -> Response {
    edit_stored(&state, &user, id, None, StatusCode::OK).await
}

/// The edit form of package `id` as stored, with `error`.
async fn edit_stored(
    state: &AppState,
    user: &Console<Noc>,
    id: Uuid,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let result: ConsoleResult<Response> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT x.name::text, coalesce(x.description, ''), x.price::text,
                            x.download_mbps, x.upload_mbps, x.duration_minutes, x.data_limit_mb,
                            x.validity_days, x.max_devices, x.is_active, x.site_ids
                     FROM ({}) x WHERE x.id = $1",
                    hotspots::PACKAGE_SELECT
                ),
                &[&id],
            )
            .await?
            .ok_or(ConsoleError::NotFound)?;
        let ticked: Vec<String> = row
            .get::<_, Vec<Uuid>>(10)
            .iter()
            .map(Uuid::to_string)
            .collect();
        let sites = site_choices(&tx, &ticked).await?;
        tx.commit().await?;
        let opt = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
        let form = PackageForm {
            name: row.get(0),
            description: row.get(1),
            price: row.get(2),
            download_mbps: row.get::<_, i32>(3).to_string(),
            upload_mbps: row.get::<_, i32>(4).to_string(),
            duration_minutes: opt(row.get(5)),
            data_limit_mb: opt(row.get(6)),
            validity_days: row.get::<_, i32>(7).to_string(),
            max_devices: row.get::<_, i32>(8).to_string(),
            is_active: row.get::<_, bool>(9).then(|| "on".to_owned()),
            sites: ticked,
        };
        edit_page(user, id, form, sites, error, status)
    }
    .await;
    result.unwrap_or_else(|e| e.render(user.lang))
}

/// The delete form: its confirmation box.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    pub confirm: Option<String>,
}

/// `POST /console/packages/{id}/delete`: the API's delete (soft: no longer sold anywhere;
/// vouchers already sold keep their terms), then the list. Without the confirmation ticked, the
/// form again (422), nothing changed.
pub async fn delete(
    State(state): State<AppState>,
    user: Console<Noc>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> Response {
    let lang = user.lang;
    if form.confirm.is_none() {
        let why = crate::console::i18n::Tr(lang)
            .get("pkg.delete_unconfirmed")
            .to_owned();
        return edit_stored(
            &state,
            &user,
            id,
            Some(why),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let result: ConsoleResult<()> = async {
        let mut client = state.pool.get().await?;
        let tx = user.begin(&mut client).await?;
        hotspots::delete_package_row(&tx, id, user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/console/packages").into_response(),
        Err(e) => e.render(lang),
    }
}

fn edit_page(
    user: &Console<Noc>,
    id: Uuid,
    form: PackageForm,
    sites: Vec<SiteChoice>,
    error: Option<String>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let body = PackagePage {
        f: user.frame(&format!("/console/packages/{id}"), "packages"),
        id,
        form,
        sites,
        error,
    };
    page(status, &body)
}

/// `POST /console/packages/{id}`: the changes through the API's update; a time or data limit
/// left empty is taken away (`clear`), so the package has none. Then the list.
pub async fn update(
    State(state): State<AppState>,
    user: Console<Noc>,
    Path(id): Path<Uuid>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let lang = user.lang;
    let (form, unread) = match PackageForm::from_pairs(pairs) {
        Ok(f) => (f, None),
        Err(e) => (PackageForm::default(), Some(e)),
    };
    let result: Result<(), ApiError> = async {
        if let Some(e) = unread {
            return Err(e);
        }
        let mut input = form.input()?;
        input.clear = Some(form.empty_limits());
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        hotspots::update_package_row(&tx, id, &input, user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/console/packages").into_response(),
        Err(ApiError::NotFound) => ConsoleError::NotFound.render(lang),
        Err(e) => match reasons(&e) {
            Some(message) => {
                let page = async {
                    let mut client = state.pool.get().await?;
                    let tx = user.begin(&mut client).await?;
                    let sites = site_choices(&tx, &form.sites).await?;
                    tx.commit().await?;
                    edit_page(
                        &user,
                        id,
                        form,
                        sites,
                        Some(message),
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                };
                page.await.unwrap_or_else(|e| e.render(lang))
            }
            None => ConsoleError::from(e).render(lang),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_kes_have_at_most_two_decimals() {
        assert_eq!(kes("20"), Some(20.0));
        assert_eq!(kes("49.50"), Some(49.5));
        for bad in ["", "-1", "1e3", "2.505", ".5", "20 ", "NaN", "inf", "1,000"] {
            assert_eq!(kes(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_that_do_not_read_are_refused_by_field() {
        let form = PackageForm {
            name: "Hour".into(),
            download_mbps: "fast".into(),
            price: "20 bob".into(),
            ..PackageForm::default()
        };
        let Err(ApiError::Validation(errors)) = form.input() else {
            panic!("accepted");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["download_mbps", "price"]);
    }
}
