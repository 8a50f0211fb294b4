//! The OpenAPI document of the operators' API, generated from the handlers' annotations
//! (utoipa), served at `/api/openapi.json`, with a small self-contained page at `/api/docs` to
//! try requests. `cloud/openapi.json` is the committed copy; a test fails when it drifts.

use axum::Json;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    auth, branding, business, error, hotspots, payments, radius, resources, sessions, users,
    vouchers,
};
use crate::AppState;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Hotspot platform: operators' API",
        description = "For ISP staff and platform administrators. Errors are \
                       application/problem+json; another tenant's ids are not found (404).",
        version = "1"
    ),
    modifiers(&BearerAuth),
    paths(
        auth::login, auth::logout, auth::me, auth::mfa_enroll, auth::mfa_verify,
        auth::mfa_recovery_codes,
        business::list_tenants, business::show_tenant, business::create_tenant,
        business::set_tenant_status, business::own_tenant, business::analytics, business::wallet,
        business::mpesa_get, business::mpesa_put, branding::get_branding,
        branding::put_branding, branding::get_site_branding, branding::put_site_branding,
        branding::delete_site_branding,
        payments::wallet_credit, payments::process_payment, payments::history, payments::status,
        payments::receipt, payments::renew, payments::run_renewals, payments::register_c2b,
        payments::purchases, payments::c2b_payments,
        users::list, users::create, users::set_roles, users::deactivate, users::reset_mfa,
        hotspots::list, hotspots::show, hotspots::create, hotspots::update, hotspots::claim_code,
        hotspots::list_packages, hotspots::show_package, hotspots::create_package,
        hotspots::update_package, hotspots::delete_package,
        vouchers::generate, vouchers::list, vouchers::show, vouchers::revoke,
        vouchers::export_csv, vouchers::cards,
        sessions::list, sessions::show, sessions::active, sessions::kick, sessions::extend,
        sessions::list_access, sessions::show_access, sessions::add_access, sessions::patch_access, sessions::block,
        sessions::unblock,
        radius::list_nas, radius::create_nas, radius::update_nas, radius::delete_nas,
        radius::rotate_secret, radius::list_sessions,
        radius::disconnect, radius::coa,
        resources::index, resources::list, resources::show, resources::create, resources::update,
        resources::remove,
    ),
    components(schemas(error::Problem, error::FieldError, auth::Role, super::Page)),
    tags(
        (name = "auth", description = "sign-in, tokens, second factor"),
        (name = "users", description = "a tenant's staff accounts"),
        (name = "tenants", description = "tenants (platform administrators) and the own tenant"),
        (name = "hotspots", description = "sites, their routers and claim codes"),
        (name = "packages", description = "what guests and clients buy"),
        (name = "vouchers", description = "batches, revocation, CSV, printable cards"),
        (name = "sessions", description = "guest sessions; kicks"),
        (name = "access", description = "registered devices (MAC auto-connect), blocking"),
        (name = "analytics", description = "per hotspot per day, totals"),
        (name = "wallet", description = "client wallet transactions"),
        (name = "mpesa", description = "M-Pesa settings (secrets write-only)"),
        (name = "settings", description = "the portal branding every router of the tenant shows"),
        (name = "payments", description = "payments received, their status, receipts"),
        (name = "radius", description = "NAS devices, live RADIUS sessions, Disconnect and CoA"),
        (name = "resources", description = "every other table, through the registry"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what is served and committed).
pub fn document() -> String {
    let mut doc = ApiDoc::openapi();
    // The registered tables, listed in the document so clients know the valid `{table}`s.
    let names: Vec<&str> = super::registry::TABLES.iter().map(|t| t.name).collect();
    doc.info.description = Some(format!(
        "{}\n\nRegistered resources: {}.",
        doc.info.description.unwrap_or_default(),
        names.join(", ")
    ));
    doc.to_pretty_json().expect("the document serialises")
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs_page))
}

async fn openapi_json() -> impl IntoResponse {
    let doc: serde_json::Value = serde_json::from_str(&document()).expect("the document is JSON");
    Json(doc)
}

async fn docs_page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("assets/docs.html"),
    )
}
