//! The one error type of the operators' API, rendered as RFC 9457 `application/problem+json`.
//!
//! Client errors (4xx) are expected and logged at debug level only; server errors (5xx) are
//! logged at error level with the route, and their body says nothing of the cause.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name in the request (JSON key or query parameter).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (relative to the API).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Present for validation errors: each offending field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// What can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials, bad credentials, or an expired or revoked token.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// The password was right but the account needs a TOTP code.
    #[error("a second factor is required")]
    MfaRequired,
    /// Signed in, but the role does not allow this.
    #[error("forbidden")]
    Forbidden,
    /// Absent, or belongs to another tenant (never distinguished).
    #[error("not found")]
    NotFound,
    /// Malformed request (syntax: unreadable JSON, bad query string).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Well-formed but invalid input, field by field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A uniqueness or state conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many attempts.
    #[error("too many requests")]
    TooMany,
    /// No database connection came free in time: the service is overloaded. 503 with
    /// `Retry-After`.
    #[error("overloaded: no database connection free in time")]
    Busy,
    /// Anything else: a bug or an outage. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A single-field validation error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) | ApiError::MfaRequired => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooMany => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let (kind, title, detail, errors) = match self {
            ApiError::Unauthorized(why) => (
                "unauthorized",
                "Authentication required",
                Some(why.to_string()),
                vec![],
            ),
            ApiError::MfaRequired => (
                "mfa-required",
                "A one-time code is required",
                Some("send the current TOTP code as `totp`".to_owned()),
                vec![],
            ),
            ApiError::Forbidden => ("forbidden", "Not allowed for your role", None, vec![]),
            ApiError::NotFound => ("not-found", "Not found", None, vec![]),
            ApiError::BadRequest(d) => ("bad-request", "Bad request", Some(d.clone()), vec![]),
            ApiError::Validation(errors) => (
                "validation",
                "Invalid input",
                Some("see `errors`".to_owned()),
                errors.clone(),
            ),
            ApiError::Conflict(d) => ("conflict", "Conflict", Some(d.clone()), vec![]),
            ApiError::TooMany => ("too-many-requests", "Too many requests", None, vec![]),
            ApiError::Busy => ("overloaded", "Overloaded: try again shortly", None, vec![]),
            ApiError::Internal(_) => ("internal", "Internal server error", None, vec![]),
        };
        Problem {
            kind: format!("/problems/{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // Logged with the route by `log_server_errors` (it knows the route); keep the cause.
            tracing::debug!(error = %self, "server error");
        } else {
            tracing::debug!(status = status.as_u16(), error = %self, "request refused");
        }
        let mut resp = (status, Json(self.problem())).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::Busy = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::Internal(cause) = self {
            resp.extensions_mut().insert(InternalCause(cause));
        }
        resp
    }
}

/// The hidden cause of a 5xx, carried to the logging layer (never serialised).
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            let column = db.column().unwrap_or("").to_owned();
            let constraint = db.constraint().unwrap_or("").to_owned();
            if *code == SqlState::UNIQUE_VIOLATION {
                return ApiError::Conflict(format!("already exists ({constraint})"));
            }
            if *code == SqlState::NOT_NULL_VIOLATION {
                return ApiError::field(&column, "is required");
            }
            if *code == SqlState::CHECK_VIOLATION {
                return ApiError::field(
                    &constraint_field(&constraint),
                    format!("violates {constraint}"),
                );
            }
            if *code == SqlState::FOREIGN_KEY_VIOLATION {
                let field = db
                    .detail()
                    .and_then(key_columns)
                    .unwrap_or_else(|| constraint_field(&constraint));
                return ApiError::field(&field, "refers to nothing of this tenant");
            }
            if *code == SqlState::INVALID_TEXT_REPRESENTATION
                || *code == SqlState::INVALID_DATETIME_FORMAT
                || *code == SqlState::DATETIME_FIELD_OVERFLOW
                || *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE
                || *code == SqlState::STRING_DATA_RIGHT_TRUNCATION
                || *code == SqlState::INVALID_PARAMETER_VALUE
                || *code == SqlState::DATA_EXCEPTION
                || code.code().starts_with("22")
            {
                return ApiError::field(&column, db.message().to_owned());
            }
            if *code == SqlState::INSUFFICIENT_PRIVILEGE
                && db.message().contains("row-level security")
            {
                // Writing a row of another tenant: indistinguishable from absence.
                return ApiError::NotFound;
            }
        }
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Sql(e) => e.into(),
            crate::db::DbError::Busy => ApiError::Busy,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        if crate::db::is_busy(&e) {
            return ApiError::Busy;
        }
        ApiError::Internal(format!("database pool: {e}"))
    }
}

/// The column a foreign key error is about, from its detail ("Key (tenant_id, olt_id)=(…) is not
/// present…"): the last column of the key that is not the tenant.
fn key_columns(detail: &str) -> Option<String> {
    let inner = detail.strip_prefix("Key (")?.split_once(')')?.0;
    inner
        .split(',')
        .map(str::trim)
        .rfind(|c| *c != "tenant_id")
        .map(str::to_owned)
}

/// The column a constraint is about, from the names PostgreSQL gives (`<table>_<column>_check`,
/// `<table>_<column>_fkey`); the constraint's name when it does not follow that pattern.
fn constraint_field(constraint: &str) -> String {
    let trimmed = constraint
        .strip_suffix("_check")
        .or_else(|| constraint.strip_suffix("_fkey"))
        .unwrap_or(constraint);
    trimmed.to_owned()
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_key_details_name_the_column() {
        assert_eq!(
            key_columns("Key (tenant_id, olt_id)=(a, b) is not present in table \"olts\".")
                .as_deref(),
            Some("olt_id")
        );
        assert_eq!(key_columns("something else"), None);
        assert_eq!(constraint_field("onus_status_check"), "onus_status");
    }

    #[test]
    fn problems_carry_type_status_and_fields() {
        let p = ApiError::field("name", "is required").problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.kind, "/problems/validation");
        assert_eq!(p.errors[0].field, "name");
        let p = ApiError::Internal("secret cause".into()).problem();
        assert_eq!(p.status, 500);
        assert!(p.detail.is_none(), "the cause of a 5xx is never sent");
    }
}
