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

/// Every operation of the document, with placeholders for its path parameters.
fn operations() -> Vec<(reqwest::Method, String)> {
    let doc: serde_json::Value =
        serde_json::from_str(&hotspot_cloud::api::openapi::document()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{table}", "departments");
            out.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    out
}

#[tokio::test]
async fn every_protected_operation_refuses_missing_expired_and_wrong_role_tokens() {
    let api = crate::operators::Api::new().await;
    let user = api.user(api.a, "late@a.test", &["tenant_admin"]).await;
    api.owner
        .execute(
            "INSERT INTO api_tokens (tenant_id, user_id, token_hash, expires_at)
             VALUES ($1, $2, digest('hsk_old', 'sha256'), now() - interval '1 minute')",
            &[&api.a, &user],
        )
        .await
        .unwrap();
    // A platform administrator with no role in its tenant: every tenant endpoint is refused.
    let platform_only = api.token(api.a, &["platform_admin"]).await;
    let body = Some(serde_json::json!({}));
    let mut checked = 0;
    for (method, path) in operations() {
        if path == "/api/v1/auth/login" {
            continue;
        }
        let (status, v) = api.call(method.clone(), &path, None, body.clone()).await;
        assert_eq!(status, 401, "{method} {path} without a token: {v}");
        let (status, v) = api
            .call(method.clone(), &path, Some("hsk_old"), body.clone())
            .await;
        assert_eq!(status, 401, "{method} {path} with an expired token: {v}");
        assert_eq!(v["detail"], "token expired");
        let for_everyone = path.starts_with("/api/v1/auth/");
        let platform = path.starts_with("/api/v1/tenants");
        if !for_everyone && !platform {
            let (status, v) = api
                .call(method.clone(), &path, Some(&platform_only), body.clone())
                .await;
            assert_eq!(status, 403, "{method} {path} for the wrong role: {v}");
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} operations");
}
