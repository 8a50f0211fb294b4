//! A tenant's staff accounts, managed by its administrators: list, create (with a password and
//! roles), change roles, deactivate (which also revokes the account's tokens). The platform
//! administrator role cannot be granted here.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::{Admin, Auth, Role};
use super::error::{ApiError, ApiResult, FieldError};
use super::{Body, json_row, json_rows};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list).post(create))
        .route("/api/v1/users/{id}/roles", post(set_roles))
        .route("/api/v1/users/{id}/deactivate", post(deactivate))
        .route("/api/v1/users/{id}/mfa/reset", post(reset_mfa))
}

/// What is shown of an account (never its hashes or second-factor secret).
pub(crate) const USER_SELECT: &str = "SELECT id, email, full_name, phone, roles, is_active,
    coalesce(mfa_enabled, false) AS mfa_enabled, last_login_at, created_at FROM users
    WHERE deleted_at IS NULL";

/// `GET /api/v1/users`
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: Auth<Admin>) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let rows = json_rows(&tx, &format!("{USER_SELECT} ORDER BY email"), &[]).await?;
    tx.commit().await?;
    Ok(Json(Value::Array(rows)))
}

fn check_roles(roles: &[Role]) -> ApiResult<()> {
    if roles.is_empty() {
        return Err(ApiError::field("roles", "at least one role"));
    }
    if roles.contains(&Role::PlatformAdmin) {
        return Err(ApiError::field(
            "roles",
            "platform_admin is granted by the platform, not by a tenant",
        ));
    }
    Ok(())
}

/// A new staff account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    pub full_name: Option<String>,
    pub roles: Vec<Role>,
}

/// `POST /api/v1/users`
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = Object), (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Body(u): Body<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    let id = insert_user(&tx, auth.user_id, &u).await?;
    let row = json_row(&tx, &format!("{USER_SELECT} AND id = $1"), &[&id]).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// Checks and adds a staff account of the tenant in `tx` (made by `actor`); its id.
pub async fn insert_user(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
    u: &NewUser,
) -> ApiResult<Uuid> {
    let mut errors = Vec::new();
    let email = u.email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 255 {
        errors.push(FieldError {
            field: "email".into(),
            message: "must be an e-mail address".into(),
        });
    }
    if u.password.chars().count() < 12 || u.password.len() > 1024 {
        errors.push(FieldError {
            field: "password".into(),
            message: "must be 12 to 1024 characters".into(),
        });
    }
    if let Err(ApiError::Validation(mut e)) = check_roles(&u.roles) {
        errors.append(&mut e);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let password = u.password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::db::demo::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let roles = json!(u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>());
    let id: Uuid = tx
        .query_one(
            "INSERT INTO users (tenant_id, email, password_hash, full_name, roles, is_active,
                                created_by)
             VALUES (app_current_tenant(), $1, $2, $3, $4, true, $5) RETURNING id",
            &[&email, &hash, &u.full_name, &roles, &actor],
        )
        .await?
        .get(0);
    Ok(id)
}

/// New roles for an account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    pub roles: Vec<Role>,
}

/// `POST /api/v1/users/{id}/roles`: replaces the account's tenant roles (a platform
/// administrator keeps that role).
#[utoipa::path(post, path = "/api/v1/users/{id}/roles", tag = "users",
    params(("id" = Uuid, Path)), request_body = Roles,
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn set_roles(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<Uuid>,
    Body(r): Body<Roles>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    update_roles(&tx, auth.user_id, id, &r.roles).await?;
    let row = json_row(&tx, &format!("{USER_SELECT} AND id = $1"), &[&id]).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Replaces account `id`'s tenant roles in `tx` (`actor` may not drop their own
/// `tenant_admin`; a platform administrator keeps that role); not found for another tenant's.
pub async fn update_roles(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
    id: Uuid,
    roles: &[Role],
) -> ApiResult<()> {
    check_roles(roles)?;
    if id == actor && !roles.contains(&Role::TenantAdmin) {
        return Err(ApiError::field(
            "roles",
            "you cannot remove your own tenant_admin role",
        ));
    }
    let roles = json!(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>());
    let n = tx
        .execute(
            "UPDATE users SET roles = $2 ||
                 CASE WHEN roles ? 'platform_admin' THEN '[\"platform_admin\"]'::jsonb
                      ELSE '[]'::jsonb END,
                 updated_by = $3
             WHERE id = $1 AND deleted_at IS NULL",
            &[&id, &roles, &actor],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// `POST /api/v1/users/{id}/deactivate`: the account can no longer sign in, and its tokens stop
/// working at once.
#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", tag = "users",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    deactivate_user(&tx, auth.user_id, id).await?;
    let row = json_row(&tx, &format!("{USER_SELECT} AND id = $1"), &[&id]).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// `POST /api/v1/users/{id}/mfa/reset`: an administrator removes another account's second
/// factor and recovery codes (a lost device), and signs it out everywhere.
#[utoipa::path(post, path = "/api/v1/users/{id}/mfa/reset", tag = "users",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn reset_mfa(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let mut client = state.pool.get().await?;
    let tx = auth.begin(&mut client).await?;
    super::auth::reset_second_factor(&tx, auth.user_id, id).await?;
    let row = json_row(&tx, &format!("{USER_SELECT} AND id = $1"), &[&id]).await?;
    tx.commit().await?;
    Ok(Json(row))
}

/// Deactivates account `id` in `tx`, revokes its tokens and ends its console sessions (`actor`
/// may not deactivate themselves); not found for another tenant's.
pub async fn deactivate_user(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: Uuid,
    id: Uuid,
) -> ApiResult<()> {
    if id == actor {
        return Err(ApiError::field("id", "you cannot deactivate yourself"));
    }
    let n = tx
        .execute(
            "UPDATE users SET is_active = false, updated_by = $2 WHERE id = $1 AND deleted_at IS NULL",
            &[&id, &actor],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    tx.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        &[&id],
    )
    .await?;
    // Its console sign-ins end too (the lookup already refuses a disabled user; the rows go).
    tx.execute("DELETE FROM console_sessions WHERE user_id = $1", &[&id])
        .await?;
    Ok(())
}
