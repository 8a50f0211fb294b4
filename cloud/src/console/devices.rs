//! Registered devices (MAC auto-connect): adding one for a client at one site or at every site,
//! and editing one (MAC, name, auto-connect, bandwidth). The checks and writes are the API's
//! ([`sessions::insert_access`], [`sessions::update_access`]: the MAC normalised, a MAC already
//! registered at a site refused) and need its [`Support`] roles; the list and blocking are
//! [`super::guests`].

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{Console, ConsoleError, ConsoleResult, CsrfForm, Frame, page};
use crate::AppState;
use crate::api::auth::{Staff, Support};
use crate::api::error::ApiError;
use crate::api::sessions::{self, AccessInput, AccessPatch};

/// Most clients and sites the add form offers.
const CHOICES: i64 = 500;

/// The add and edit forms, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    pub client_id: String,
    /// A site, or empty: every site.
    #[serde(default)]
    pub hotspot_id: String,
    #[serde(default)]
    pub mac_address: String,
    #[serde(default)]
    pub device_name: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub auto_connect: Option<String>,
    /// Mbit/s; empty: the default (5) when adding, unchanged when editing.
    #[serde(default)]
    pub bandwidth: String,
}

/// One client or site to choose.
#[derive(Debug)]
pub struct Choice {
    pub id: String,
    pub name: String,
}

/// What the devices page needs to show the add form.
#[derive(Debug)]
pub struct AddForm {
    pub form: DeviceForm,
    pub clients: Vec<Choice>,
    pub sites: Vec<Choice>,
    pub problem: Option<String>,
}

impl AddForm {
    /// The clients and sites of the tenant (in its transaction) around `form`.
    pub async fn load(
        tx: &deadpool_postgres::Transaction<'_>,
        form: DeviceForm,
        problem: Option<String>,
    ) -> Result<Self, tokio_postgres::Error> {
        let choices = |rows: Vec<tokio_postgres::Row>| -> Vec<Choice> {
            rows.iter()
                .map(|r| Choice {
                    id: r.get::<_, Uuid>(0).to_string(),
                    name: r.get(1),
                })
                .collect()
        };
        let clients = choices(
            tx.query(
                "SELECT id, name::text FROM clients WHERE deleted_at IS NULL
                 ORDER BY name, id LIMIT $1",
                &[&CHOICES],
            )
            .await?,
        );
        let sites = choices(
            tx.query(
                "SELECT id, coalesce(name, '')::text FROM hotspots ORDER BY name, id LIMIT $1",
                &[&CHOICES],
            )
            .await?,
        );
        Ok(AddForm {
            form,
            clients,
            sites,
            problem,
        })
    }
}

/// The bandwidth field: empty is absent, anything else a whole number.
fn bandwidth(v: &str) -> Result<Option<i32>, ApiError> {
    match v.trim() {
        "" => Ok(None),
        t => t
            .parse()
            .map(Some)
            .map_err(|_| ApiError::field("bandwidth_allocation", "must be a whole number")),
    }
}

fn optional(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// A refused write's reasons, one line (None: not the operator's to fix).
fn reasons(e: &ApiError) -> Option<String> {
    match e {
        ApiError::Conflict(why) => Some(format!("mac_address: {why}")),
        e => super::input_reasons(e),
    }
}

/// `POST /console/devices`: a device registered for a client at one site, or at every site (one
/// registration each, all or none); then the list.
pub async fn create(
    State(state): State<AppState>,
    user: Console<Support>,
    CsrfForm(form): CsrfForm<DeviceForm>,
) -> Response {
    let lang = user.lang;
    let result: Result<usize, ApiError> = async {
        let client_id = Uuid::parse_str(form.client_id.trim())
            .map_err(|_| ApiError::field("client_id", "choose a client"))?;
        let site = match form.hotspot_id.trim() {
            "" => None,
            s => Some(
                Uuid::parse_str(s).map_err(|_| ApiError::field("hotspot_id", "no such site"))?,
            ),
        };
        let bandwidth = bandwidth(&form.bandwidth)?;
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        let sites: Vec<Uuid> = match site {
            Some(s) => vec![s],
            None => tx
                .query("SELECT id FROM hotspots ORDER BY name, id", &[])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect(),
        };
        if sites.is_empty() {
            return Err(ApiError::field(
                "hotspot_id",
                "the organisation has no site yet",
            ));
        }
        for hotspot_id in &sites {
            sessions::insert_access(
                &tx,
                &AccessInput {
                    client_id,
                    hotspot_id: *hotspot_id,
                    mac_address: form.mac_address.clone(),
                    device_name: optional(&form.device_name),
                    device_type: None,
                    auto_connect: Some(form.auto_connect.is_some()),
                    bandwidth_allocation: bandwidth,
                    access_level: None,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(sites.len())
    }
    .await;
    match result {
        Ok(n) => {
            tracing::info!(sites = n, "device registered in the console");
            Redirect::to("/console/devices").into_response()
        }
        Err(e) => match reasons(&e) {
            Some(problem) => {
                let staff = Console::<Staff>::from_other(&user);
                let status = if matches!(e, ApiError::Conflict(_)) {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                super::guests::devices_page_with(
                    &state,
                    &staff,
                    None,
                    None,
                    form,
                    Some(problem),
                    status,
                )
                .await
                .unwrap_or_else(|e| e.render(lang))
            }
            None => ConsoleError::from(e).render(lang),
        },
    }
}

#[derive(Template)]
#[template(path = "console/device.html")]
struct DevicePage {
    f: Frame,
    id: Uuid,
    site: String,
    client: String,
    form: DeviceForm,
    problem: Option<String>,
}

/// The device's site and client names, and its fields as the edit form shows them.
async fn load(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
) -> ConsoleResult<(String, String, DeviceForm)> {
    let row = tx
        .query_opt(
            "SELECT coalesce(h.name, '')::text, coalesce(c.name, '')::text, a.mac_address::text,
                    coalesce(a.device_name, '')::text, a.auto_connect, a.bandwidth_allocation
             FROM client_hotspot_access a
             LEFT JOIN hotspots h ON h.id = a.hotspot_id
             LEFT JOIN clients c ON c.id = a.client_id
             WHERE a.id = $1",
            &[&id],
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    Ok((
        row.get(0),
        row.get(1),
        DeviceForm {
            mac_address: row.get(2),
            device_name: row.get(3),
            auto_connect: row.get::<_, bool>(4).then(|| "on".to_owned()),
            bandwidth: row
                .get::<_, Option<i32>>(5)
                .map(|b| b.to_string())
                .unwrap_or_default(),
            ..DeviceForm::default()
        },
    ))
}

async fn edit_page(
    state: &AppState,
    user: &Console<Support>,
    id: Uuid,
    typed: Option<DeviceForm>,
    problem: Option<String>,
    status: StatusCode,
) -> ConsoleResult<Response> {
    let mut client = state.pool.get().await?;
    let tx = user.begin(&mut client).await?;
    let (site, owner, stored) = load(&tx, id).await?;
    tx.commit().await?;
    let body = DevicePage {
        f: user.frame(&format!("/console/devices/{id}"), "devices"),
        id,
        site,
        client: owner,
        form: typed.unwrap_or(stored),
        problem,
    };
    page(status, &body)
}

/// `GET /console/devices/{id}`: the edit form, filled in.
pub async fn edit(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
) -> Response {
    edit_page(&state, &user, id, None, None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| e.render(user.lang))
}

/// `POST /console/devices/{id}`: the changes (the API's PATCH); then the list.
pub async fn update(
    State(state): State<AppState>,
    user: Console<Support>,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<DeviceForm>,
) -> Response {
    let lang = user.lang;
    let result: Result<(), ApiError> = async {
        let patch = AccessPatch {
            mac_address: Some(form.mac_address.clone()),
            device_name: Some(form.device_name.trim().to_owned()),
            auto_connect: Some(form.auto_connect.is_some()),
            bandwidth_allocation: bandwidth(&form.bandwidth)?,
            access_level: None,
        };
        let mut client = state.pool.get().await?;
        let tx =
            crate::db::tenant_transaction(&mut client, user.tenant_id, Some(user.user_id)).await?;
        sessions::update_access(&tx, id, &patch).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/console/devices").into_response(),
        Err(ApiError::NotFound) => ConsoleError::NotFound.render(lang),
        Err(e) => match reasons(&e) {
            Some(problem) => {
                let status = if matches!(e, ApiError::Conflict(_)) {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                edit_page(&state, &user, id, Some(form), Some(problem), status)
                    .await
                    .unwrap_or_else(|e| e.render(lang))
            }
            None => ConsoleError::from(e).render(lang),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_is_a_whole_number_or_empty() {
        assert_eq!(bandwidth("").unwrap(), None);
        assert_eq!(bandwidth(" 10 ").unwrap(), Some(10));
        for bad in ["fast", "1.5", "-"] {
            assert!(
                matches!(bandwidth(bad), Err(ApiError::Validation(_))),
                "{bad}"
            );
        }
    }
}
