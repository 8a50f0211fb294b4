//! The OpenAPI document: served, complete, and the committed copy (`cloud/openapi.json`) in step
//! with the code. `UPDATE_OPENAPI=1 cargo test -p hotspot-cloud --test api openapi` rewrites it.

use crate::helpers::{get, spawn_app};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn the_committed_document_matches_the_code() {
    let doc = hotspot_cloud::api::openapi::document() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &doc).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == doc,
        "cloud/openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test -p hotspot-cloud \
         --test api openapi and commit the result"
    );
}

#[tokio::test]
async fn the_document_and_its_page_are_served() {
    let app = spawn_app().await;
    let (status, body) = get(&app.url("/api/openapi.json")).await;
    assert_eq!(status, 200);
    let served: serde_json::Value = serde_json::from_str(&body).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&hotspot_cloud::api::openapi::document()).unwrap();
    assert_eq!(served, doc);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/hotspots/{id}",
        "/api/v1/vouchers/batches",
        "/api/v1/sessions/{id}/kick",
        "/api/v1/access/{id}/block",
        "/api/v1/mpesa-settings",
        "/api/v1/resources/{table}/{id}",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the document");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());

    let (status, html) = get(&app.url("/api/docs")).await;
    assert_eq!(status, 200);
    assert!(html.contains("/api/openapi.json"));
    // Self-contained: no script or style from elsewhere.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}
