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

/// A second site of `tenant`, named `name`.
async fn new_site(api: &Api, tenant: Uuid, name: &str) -> Uuid {
    api.owner
        .query_one(
            "INSERT INTO hotspots (tenant_id, name, location, ssid)
             VALUES ($1, $2, 'Kisumu', $2) RETURNING id",
            &[&tenant, &name],
        )
        .await
        .unwrap()
        .get(0)
}

/// A site's stored override, as the owner sees it: (version, title, accent, logo length).
async fn site_stored(
    api: &Api,
    site: Uuid,
) -> Option<(i64, Option<String>, Option<String>, Option<i32>)> {
    api.owner
        .query_opt(
            "SELECT version, title, accent_color, octet_length(logo) FROM hotspot_branding
             WHERE hotspot_id = $1",
            &[&site],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
}

/// A 2×1 PNG (another logo than [`PNG`]).
fn png_2x1() -> String {
    let mut png = STANDARD.decode(PNG).unwrap();
    png[19] = 2; // IHDR width, big-endian
    STANDARD.encode(png)
}

#[tokio::test]
async fn a_site_overrides_the_branding_field_by_field() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let noc = api.token(api.a, &["noc_engineer"]).await;
    let admin_b = api.token(api.b, &["tenant_admin"]).await;
    let site = hotspot_of(&api, api.a).await;
    let url = format!("/api/v1/hotspots/{site}/branding");
    let (status, _) = put(&api, &admin, body()).await;
    assert_eq!(status, 200);

    // Nothing overridden: the tenant's shows.
    let (status, v) = api.get(&url, &noc).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["overridden"], false);
    assert_eq!(v["version"], 0);
    assert!(v["title"].is_null(), "{v}");
    assert_eq!(v["effective"]["title"], "Mama Mboga WiFi");
    assert_eq!(v["effective"]["version"], 1);

    // A title and a logo of its own; the rest inherits.
    let (status, v) = api
        .call(
            Method::PUT,
            &url,
            Some(&admin),
            Some(json!({"title": "  Estate WiFi ", "welcome": "", "logo": png_2x1()})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["overridden"], true);
    assert_eq!(v["title"], "Estate WiFi");
    assert!(v["welcome"].is_null() && v["accent_color"].is_null(), "{v}");
    assert_eq!(v["logo"]["width"], 2);
    assert_eq!(v["version"], 1);
    let e = &v["effective"];
    assert_eq!(e["title"], "Estate WiFi");
    assert_eq!(e["welcome"], "Karibu! Enter your code.");
    assert_eq!(e["accent_color"], "#c0392b");
    assert_eq!(e["support_phone"], "+254 700 000000");
    assert_eq!(e["logo"]["width"], 2, "the site's logo wins");
    assert_eq!(e["version"], 2);
    // Only administrators write.
    let (status, v) = api
        .call(Method::PUT, &url, Some(&noc), Some(json!({"title": "x"})))
        .await;
    assert_problem(status, &v, 403);
    let (status, v) = api.call(Method::DELETE, &url, Some(&noc), None).await;
    assert_problem(status, &v, 403);

    // Bad input: 422 with the field, nothing changed (the same rules as the tenant's).
    let before = site_stored(&api, site).await;
    let svg = STANDARD.encode("<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>");
    for (b, field) in [
        (json!({"accent_color": "red;}body{"}), "accent_color"),
        (json!({"title": "x".repeat(65)}), "title"),
        (json!({"welcome": "y".repeat(281)}), "welcome"),
        (json!({"support_phone": "<script>"}), "support_phone"),
        (json!({"logo": svg}), "logo"),
        (json!({"logo": PNG, "remove_logo": true}), "logo"),
    ] {
        let (status, v) = api.call(Method::PUT, &url, Some(&admin), Some(b)).await;
        assert_problem(status, &v, 422);
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{field}: {v}"
        );
        assert_eq!(site_stored(&api, site).await, before, "{field}");
    }
    let (status, v) = api
        .call(
            Method::PUT,
            &url,
            Some(&admin),
            Some(json!({"surprise": 1})),
        )
        .await;
    assert_problem(status, &v, 422);
    assert_eq!(site_stored(&api, site).await, before);

    // Another tenant's site is not found, for every method, and is left alone.
    let (status, v) = api.get(&url, &admin_b).await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .call(
            Method::PUT,
            &url,
            Some(&admin_b),
            Some(json!({"title": "B"})),
        )
        .await;
    assert_problem(status, &v, 404);
    let (status, v) = api.call(Method::DELETE, &url, Some(&admin_b), None).await;
    assert_problem(status, &v, 404);
    let (status, v) = api
        .get(
            &format!("/api/v1/hotspots/{}/branding", Uuid::new_v4()),
            &admin,
        )
        .await;
    assert_problem(status, &v, 404);
    assert_eq!(site_stored(&api, site).await, before);

    // A change without a logo keeps it; remove_logo removes it (the tenant's shows again).
    let (_, v) = api
        .call(
            Method::PUT,
            &url,
            Some(&admin),
            Some(json!({"accent_color": "#123ABC"})),
        )
        .await;
    assert_eq!(v["accent_color"], "#123abc");
    assert!(v["title"].is_null(), "a field left out inherits again");
    assert_eq!(v["logo"]["width"], 2);
    let (_, v) = api
        .call(
            Method::PUT,
            &url,
            Some(&admin),
            Some(json!({"accent_color": "#123abc", "remove_logo": true})),
        )
        .await;
    assert!(v["logo"].is_null(), "{v}");
    assert_eq!(v["effective"]["logo"]["width"], 1, "the tenant's logo");
    assert_eq!(v["version"], 3);

    // DELETE returns the site to the tenant's branding; the version still grows.
    let (status, _) = api.call(Method::DELETE, &url, Some(&admin), None).await;
    assert_eq!(status, 204);
    let (_, v) = api.get(&url, &admin).await;
    assert_eq!(v["overridden"], false, "{v}");
    assert_eq!(v["version"], 4);
    assert_eq!(v["effective"]["title"], "Mama Mboga WiFi");
    assert_eq!(v["effective"]["accent_color"], "#c0392b");
    assert_eq!(v["effective"]["version"], 5);
    // Nothing to clear: nothing changes.
    let (status, _) = api.call(Method::DELETE, &url, Some(&admin), None).await;
    assert_eq!(status, 204);
    assert_eq!(site_stored(&api, site).await.unwrap().0, 4);
}

#[tokio::test]
async fn without_the_tenants_branding_a_site_must_set_the_required_fields() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let site = hotspot_of(&api, api.a).await;
    let router = claim_router(&api.app, api.a, site).await;
    let first = pull(&api, &router, None, true).await;
    let url = format!("/api/v1/hotspots/{site}/branding");

    let (status, v) = api
        .call(
            Method::PUT,
            &url,
            Some(&admin),
            Some(json!({"title": "Campus"})),
        )
        .await;
    assert_problem(status, &v, 422);
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["welcome", "accent_color"], "{v}");
    assert_eq!(site_stored(&api, site).await, None);
    let (_, v) = api.get(&url, &admin).await;
    assert!(v["effective"].is_null(), "{v}");

    let (status, v) = api
        .call(
            Method::PUT,
            &url,
            Some(&admin),
            Some(json!({"title": "Campus", "welcome": "Karibu", "accent_color": "#112233"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (branding, _) = next_branding(&api, &router, &first.cursor).await;
    assert_eq!(
        (
            branding.version,
            branding.title.as_str(),
            branding.accent_color.as_str()
        ),
        (1, "Campus", "#112233")
    );
    assert!(branding.logo.is_none() && branding.support_phone.is_none());
}

#[tokio::test]
async fn a_sites_branding_is_pulled_by_that_site_alone_merged_over_the_tenants() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let estate = hotspot_of(&api, api.a).await;
    let campus = new_site(&api, api.a, "Campus").await;
    let router_estate = claim_router(&api.app, api.a, estate).await;
    let router_campus = claim_router(&api.app, api.a, campus).await;
    let (status, _) = put(&api, &admin, body()).await;
    assert_eq!(status, 200);
    let (tenant_brand, cursor_estate) = next_branding(&api, &router_estate, "c1.0.0.0").await;
    let (_, cursor_campus) = next_branding(&api, &router_campus, "c1.0.0.0").await;
    assert_eq!(tenant_brand.version, 1);

    // A partial override: the estate's router gets it merged; the campus's gets nothing.
    let url = format!("/api/v1/hotspots/{estate}/branding");
    let (status, v) = api
        .call(
            Method::PUT,
            &url,
            Some(&admin),
            Some(json!({"welcome": "Karibu Estate", "logo": png_2x1()})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (b, cursor_estate) = next_branding(&api, &router_estate, &cursor_estate).await;
    assert_eq!(b.version, 2);
    assert_eq!(b.title, "Mama Mboga WiFi", "inherited");
    assert_eq!(b.welcome, "Karibu Estate");
    assert_eq!(b.accent_color, "#c0392b");
    assert_eq!(b.support_phone.as_deref(), Some("+254 700 000000"));
    let logo = b.logo.expect("the site's logo");
    assert_eq!(logo.data, png_2x1());
    assert_ne!(logo.sha256, tenant_brand.logo.unwrap().sha256);
    let cursor_campus = no_branding(&api, &router_campus, cursor_campus).await;
    let cursor_estate = no_branding(&api, &router_estate, cursor_estate).await;
    // The change was logged for the estate alone.
    let logged: Vec<Option<Uuid>> = api
        .owner
        .query(
            "SELECT hotspot_id FROM sync_changes WHERE entity = 'branding' AND entity_id = $1",
            &[&estate],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !logged.is_empty() && logged.iter().all(|h| *h == Some(estate)),
        "{logged:?}"
    );

    // A change of the tenant's reaches both, the estate's still merged with its override.
    let mut t = body();
    t["title"] = "Mama Mboga Net".into();
    t.as_object_mut().unwrap().remove("logo");
    put(&api, &admin, t).await;
    let (b, cursor_estate) = next_branding(&api, &router_estate, &cursor_estate).await;
    assert_eq!(
        (b.version, b.title.as_str(), b.welcome.as_str()),
        (3, "Mama Mboga Net", "Karibu Estate")
    );
    let (c, cursor_campus) = next_branding(&api, &router_campus, &cursor_campus).await;
    assert_eq!(
        (c.version, c.title.as_str(), c.welcome.as_str()),
        (2, "Mama Mboga Net", "Karibu! Enter your code.")
    );
    assert_eq!(c.logo.unwrap().data, PNG);

    // DELETE: the estate's router is sent the tenant's again, at a higher version.
    let (status, _) = api.call(Method::DELETE, &url, Some(&admin), None).await;
    assert_eq!(status, 204);
    let (b, _) = next_branding(&api, &router_estate, &cursor_estate).await;
    assert_eq!(b.version, 4, "above the 3 it shows");
    assert_eq!(b.welcome, "Karibu! Enter your code.");
    assert_eq!(b.logo.unwrap().data, PNG, "the tenant's logo again");
    no_branding(&api, &router_campus, cursor_campus).await;
}
