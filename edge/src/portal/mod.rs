//! The captive portal: what a guest's browser and their phone's captive-portal check see.
//!
//! Owns HTTP routing and page rendering. Decisions (is this code valid, is this client through)
//! belong to the session logic; this module asks and renders the answer.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::config::Config;
use crate::firewall::Firewall;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub firewall: Arc<dyn Firewall>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("site", &self.config.site_name)
            .finish_non_exhaustive()
    }
}

/// The portal's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(portal_page))
        .route("/healthz", get(healthz))
        // Anything else is a captive request (an OS probe, a page the guest wanted): send the
        // browser to the portal, which is what opens the OS captive window.
        .fallback(to_portal)
        .with_state(state)
}

fn portal_url(config: &Config) -> String {
    match config.lan_address {
        std::net::IpAddr::V6(a) => format!("http://[{a}]:{}/", config.portal_listen.port()),
        a => format!("http://{a}:{}/", config.portal_listen.port()),
    }
}

async fn to_portal(State(state): State<AppState>) -> Response {
    let mut resp = Redirect::to(&portal_url(&state.config)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.schema_version().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

async fn portal_page(State(state): State<AppState>) -> Response {
    let b = &state.config.branding;
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:sans-serif;max-width:26rem;margin:auto;\
         padding:1rem}}h1{{color:{accent}}}</style></head><body><h1>{title}</h1><p>{welcome}</p>\
         <p>{site}</p></body></html>",
        title = escape(&b.title),
        accent = b.accent_color,
        welcome = escape(&b.welcome),
        site = escape(&state.config.site_name),
    );
    let mut resp = Html(page).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
