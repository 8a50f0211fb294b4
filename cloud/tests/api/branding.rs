//! The portal branding: stored and checked through the API, isolated per tenant, and carried to
//! the tenant's routers by the change pull once per change.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hotspot_shared::branding::Branding;
use hotspot_shared::sync::PullResponse;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::operators::{Api, assert_problem};
use crate::sync::claim_router;

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";

fn body() -> Value {
    json!({"title": "Mama Mboga WiFi", "welcome": "Karibu! Enter your code.",
           "accent_color": "#C0392B", "support_phone": "+254 700 000000", "logo": PNG})
}

async fn put(api: &Api, token: &str, body: Value) -> (u16, Value) {
    api.call(
        Method::PUT,
        "/api/v1/settings/branding",
        Some(token),
        Some(body),
    )
    .await
}

/// What is stored for `tenant`, as the owner sees it: (version, title, logo length).
async fn stored(api: &Api, tenant: Uuid) -> Option<(i64, String, Option<i32>)> {
    api.owner
        .query_opt(
            "SELECT version, title, octet_length(logo) FROM portal_branding WHERE tenant_id = $1",
            &[&tenant],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
}

#[tokio::test]
async fn branding_is_checked_stored_and_read_by_role() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let field = api.token(api.a, &["field_tech"]).await;

    let (status, v) = api.get("/api/v1/settings/branding", &field).await;
    assert_problem(status, &v, 404);
    let (status, v) = put(&api, &admin, body()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accent_color"], "#c0392b");
    assert_eq!(v["version"], 1);
    assert_eq!(v["logo"]["content_type"], "image/png");
    assert_eq!(v["logo"]["width"], 1);
    assert_eq!(v["logo"]["bytes"], 70);
    // Any staff reads; only administrators write.
    let (status, read) = api.get("/api/v1/settings/branding", &field).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["title"], "Mama Mboga WiFi");
    let (status, v) = put(&api, &noc, body()).await;
    assert_problem(status, &v, 403);

    // Every bad value is refused with its field, and nothing changes.
    let before = stored(&api, api.a).await.unwrap();
    let svg = STANDARD
        .encode("<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><rect/></svg>");
    let mut big = STANDARD.decode(PNG).unwrap();
    big.resize(32 * 1024 + 1, 0);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"accent_color": "red;}body{"}), "accent_color"),
        (json!({"accent_color": "#12345"}), "accent_color"),
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(65)}), "title"),
        (json!({"welcome": "y".repeat(281)}), "welcome"),
        (json!({"support_phone": "<script>"}), "support_phone"),
        (json!({"logo": svg}), "logo"),
        (json!({"logo": STANDARD.encode(&big)}), "logo"),
        (
            json!({"logo": STANDARD.encode(vec![0u8; 100 * 1024])}),
            "logo",
        ),
        (json!({"logo": "GIF89a not base64 !"}), "logo"),
        (
            json!({"logo": STANDARD.encode(b"GIF89a\x01\x00\x01\x00")}),
            "logo",
        ),
        (json!({"logo": PNG, "remove_logo": true}), "logo"),
    ];
    for (patch, field_name) in cases {
        let mut b = body();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let (status, v) = put(&api, &admin, b).await;
        assert_problem(status, &v, 422);
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field_name),
            "{field_name}: {v}"
        );
        assert_eq!(stored(&api, api.a).await.unwrap(), before, "{field_name}");
    }
    let (status, v) = put(&api, &admin, json!({"title": "x", "surprise": 1})).await;
    assert_problem(status, &v, 422);
    assert_eq!(stored(&api, api.a).await.unwrap(), before);

    // A change without a logo keeps it; remove_logo removes it; each bumps the version.
    let mut b = body();
    b.as_object_mut().unwrap().remove("logo");
    b["title"] = "Cafe WiFi".into();
    let (status, v) = put(&api, &admin, b.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["version"], 2);
    assert_eq!(v["logo"]["bytes"], 70);
    b["remove_logo"] = true.into();
    let (_, v) = put(&api, &admin, b).await;
    assert_eq!(v["version"], 3);
    assert!(v["logo"].is_null(), "{v}");
    assert_eq!(
        stored(&api, api.a).await,
        Some((3, "Cafe WiFi".into(), None))
    );
}

#[tokio::test]
async fn another_tenant_neither_reads_nor_changes_the_branding() {
    let api = Api::new().await;
    let admin_a = api.token(api.a, &["tenant_admin"]).await;
    let admin_b = api.token(api.b, &["tenant_admin"]).await;
    let (status, _) = put(&api, &admin_a, body()).await;
    assert_eq!(status, 200);
    let (status, v) = api.get("/api/v1/settings/branding", &admin_b).await;
    assert_problem(status, &v, 404);
    // B's own branding is B's row; A's is untouched.
    let mut b = body();
    b["title"] = "B's WiFi".into();
    let (status, _) = put(&api, &admin_b, b).await;
    assert_eq!(status, 200);
    assert_eq!(stored(&api, api.a).await.unwrap().1, "Mama Mboga WiFi");
    assert_eq!(stored(&api, api.b).await.unwrap().1, "B's WiFi");
    let (_, v) = api.get("/api/v1/settings/branding", &admin_a).await;
    assert_eq!(v["title"], "Mama Mboga WiFi");
}

async fn pull(api: &Api, token: &str, cursor: Option<&str>, branding: bool) -> PullResponse {
    let mut url = api.app.url("/sync/v1/changes?limit=1000");
    if branding {
        url.push_str("&branding=1");
    }
    if let Some(c) = cursor {
        url.push_str(&format!("&cursor={c}"));
    }
    let resp = api.http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn hotspot_of(api: &Api, tenant: Uuid) -> Uuid {
    api.owner
        .query_one("SELECT id FROM hotspots WHERE tenant_id = $1", &[&tenant])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_pull_carries_a_changed_branding_once() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let router_a = claim_router(&api.app, api.a, hotspot_of(&api, api.a).await).await;
    let router_b = claim_router(&api.app, api.b, hotspot_of(&api, api.b).await).await;
    let first = pull(&api, &router_a, None, true).await;
    assert!(first.branding.is_none(), "nothing set yet");
    let cursor_b = pull(&api, &router_b, None, true).await.cursor;

    let (status, _) = put(&api, &admin, body()).await;
    assert_eq!(status, 200);
    let (branding, cursor) = next_branding(&api, &router_a, &first.cursor).await;

    assert_eq!(branding.version, 1);
    assert_eq!(branding.title, "Mama Mboga WiFi");
    assert_eq!(branding.accent_color, "#c0392b");
    let logo = branding.logo.expect("with its logo");
    assert_eq!(logo.content_type, "image/png");
    assert_eq!(logo.data, PNG);
    assert_eq!(
        logo.sha256,
        "4ff6ab670a58c14270e034e2090d9a432caa263a14e0a25785386b0c12f880b5"
    );
    // Once: the next pull from the new cursor has none; another tenant's router never sees it.
    let cursor = no_branding(&api, &router_a, cursor).await;
    no_branding(&api, &router_b, cursor_b).await;
    // A router that did not ask is not sent the field at all.
    let (_, _, text) = api
        .raw(
            Method::GET,
            &format!("/sync/v1/changes?cursor={}", first.cursor),
            Some(&router_a),
            None,
        )
        .await;
    assert!(!text.contains("branding"), "{text}");

    // The next change comes once more, with the new version.
    let mut b = body();
    b["accent_color"] = "#112233".into();
    b["remove_logo"] = true.into();
    b.as_object_mut().unwrap().remove("logo");
    put(&api, &admin, b).await;
    let (branding, cursor) = next_branding(&api, &router_a, &cursor).await;
    assert_eq!(
        (branding.version, branding.accent_color.as_str()),
        (2, "#112233")
    );
    assert!(branding.logo.is_none());
    no_branding(&api, &router_a, cursor).await;
}

/// Pulls from `cursor` until a branding comes (bounded: 10 s). Transactions elsewhere in the
/// cluster hold the pull's horizon back, so a change may take a few pulls to come.
async fn next_branding(api: &Api, token: &str, cursor: &str) -> (Branding, String) {
    let mut cursor = cursor.to_owned();
    for _ in 0..400 {
        let page = pull(api, token, Some(&cursor), true).await;
        cursor = page.cursor;
        if let Some(b) = page.branding {
            return (b, cursor);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no branding came");
}

/// Pulls from `cursor` for a while: no branding comes.
async fn no_branding(api: &Api, token: &str, mut cursor: String) -> String {
    for _ in 0..10 {
        let page = pull(api, token, Some(&cursor), true).await;
        assert!(page.branding.is_none(), "carried again: {page:?}");
        cursor = page.cursor;
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    cursor
}
