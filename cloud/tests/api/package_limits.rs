//! A package's time or data limit taken away (the API's `clear`, the console's edit form with
//! the field left empty), and a package deleted from the console; refusals change nothing.

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::console::Browser;
use crate::operators::{Api, hotspot_package};

async fn limits(api: &Api, id: Uuid) -> (Option<i32>, Option<i32>, bool) {
    let r = api
        .owner
        .query_one(
            "SELECT duration_minutes, data_limit_mb, deleted_at IS NOT NULL
             FROM service_packages WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

#[tokio::test]
async fn the_api_takes_a_limit_away_only_when_asked_and_refuses_what_does_not_read() {
    let api = Api::new().await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let id = hotspot_package(&api, api.a).await;
    api.owner
        .execute(
            "UPDATE service_packages SET data_limit_mb = 500 WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let before = limits(&api, id).await;
    assert!(before.0.is_some() && before.1 == Some(500));
    let path = format!("/api/v1/packages/{id}");
    for bad in [
        json!({"clear": ["price"]}),
        json!({"clear": ["duration_minutes"], "duration_minutes": 30}),
    ] {
        let (status, body) = api
            .call(Method::PATCH, &path, Some(&noc), Some(bad.clone()))
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(limits(&api, id).await, before, "{bad}");
    }
    let (status, body) = api
        .post(
            "/api/v1/packages",
            &noc,
            json!({"name": "New", "download_mbps": 2, "upload_mbps": 1,
                   "clear": ["data_limit_mb"]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // A price change alone keeps both limits.
    let (status, _) = api
        .call(Method::PATCH, &path, Some(&noc), Some(json!({"price": 30})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(limits(&api, id).await, before);
    let (status, body) = api
        .call(
            Method::PATCH,
            &path,
            Some(&noc),
            Some(json!({"clear": ["data_limit_mb"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data_limit_mb"], serde_json::Value::Null);
    assert_eq!(limits(&api, id).await, (before.0, None, false));
}

#[tokio::test]
async fn the_console_takes_away_an_emptied_limit_and_deletes_a_package_when_confirmed() {
    let api = Api::new().await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    let id = hotspot_package(&api, api.a).await;
    let mut a = Browser::new(&api);
    a.sign_in("noc@a.test").await;
    let path = format!("/console/packages/{id}");
    let edit = a.get(&path).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("id=\"delete-package\""));
    let csrf = edit.csrf();
    let field = |name: &str| {
        edit.body
            .split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .unwrap_or_else(|| panic!("{name}"))
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let (name, price, down, up, minutes) = (
        field("name"),
        field("price"),
        field("download_mbps"),
        field("upload_mbps"),
        field("duration_minutes"),
    );
    assert!(
        !minutes.is_empty(),
        "the fixture's package has a time limit"
    );
    let saved = a
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", &name),
                ("price", &price),
                ("download_mbps", &down),
                ("upload_mbps", &up),
                ("duration_minutes", ""),
                ("data_limit_mb", "750"),
                ("validity_days", "30"),
                ("max_devices", "1"),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(limits(&api, id).await, (None, Some(750), false));

    // Delete: not without the box ticked, not another tenant's, then for good.
    let unconfirmed = a.post(&format!("{path}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(unconfirmed.status, 422);
    assert!(unconfirmed.body.contains("Tick the box"));
    assert!(!limits(&api, id).await.2);
    let b_package = hotspot_package(&api, api.b).await;
    let other = a
        .post(
            &format!("/console/packages/{b_package}/delete"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(other.status, 404);
    assert!(!limits(&api, b_package).await.2);
    let deleted = a
        .post(
            &format!("{path}/delete"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        (deleted.status, deleted.location()),
        (303, "/console/packages")
    );
    assert!(limits(&api, id).await.2);
    assert!(!a.get("/console/packages").await.body.contains(&path));
    assert_eq!(a.get(&path).await.status, 404);
}
