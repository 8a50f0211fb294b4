//! The portal branding in the console's settings: the form (with a logo uploaded as
//! `multipart/form-data`), its refusals, the logo shown through a console route, removal, roles
//! and both languages; and a site's own branding on its page, over the organisation's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::console::{Browser, Page};
use crate::operators::Api;

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";

/// Posts the settings page's branding form as a browser does.
async fn post_branding(
    b: &Browser,
    api: &Api,
    fields: &[(&str, &str)],
    logo: Option<(&str, &[u8])>,
) -> Page {
    post_branding_to(b, api, "/console/settings/branding", fields, logo).await
}

/// Posts a branding form to `path` as a browser does: `multipart/form-data`, the logo as a file
/// part.
async fn post_branding_to(
    b: &Browser,
    api: &Api,
    path: &str,
    fields: &[(&str, &str)],
    logo: Option<(&str, &[u8])>,
) -> Page {
    let boundary = "----brandingFormBoundary7MA4YWxk";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    let (filename, bytes) = logo.unwrap_or(("", b""));
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; \
             filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let cookies = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let resp = b
        .http
        .post(api.app.url(path))
        .header("cookie", cookies)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    Page {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

async fn stored(api: &Api) -> Option<(i64, String, String, Option<i32>)> {
    api.owner
        .query_opt(
            "SELECT version, title, accent_color, octet_length(logo) FROM portal_branding
             WHERE tenant_id = $1",
            &[&api.a],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
}

#[tokio::test]
async fn an_administrator_brands_the_portal_from_the_settings_page() {
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let page = a.get("/console/settings").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"branding-form\""), "{}", page.body);
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    assert!(
        page.body.contains("value=\"#0a7d55\""),
        "the portal's default colour"
    );
    assert!(!page.body.contains("id=\"branding-logo\""), "no logo yet");
    let csrf = page.csrf();
    let png = STANDARD.decode(PNG).unwrap();
    let fields = |title: &'static str, colour: &'static str| {
        vec![
            ("title", title),
            ("welcome", "Karibu! Weka vocha yako."),
            ("accent_color", colour),
            ("support_phone", "+254 700 000000"),
        ]
    };

    // Without the token, nothing is stored.
    let refused = post_branding(&a, &api, &fields("Mama Mboga WiFi", "#c0392b"), None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(stored(&api).await, None);

    let mut f = fields("Mama Mboga WiFi", "#C0392B");
    f.push(("csrf", &csrf));
    let saved = post_branding(&a, &api, &f, Some(("logo.png", &png))).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        stored(&api).await,
        Some((1, "Mama Mboga WiFi".into(), "#c0392b".into(), Some(70)))
    );
    let page = a.get("/console/settings").await;
    assert!(page.body.contains("value=\"Mama Mboga WiFi\""));
    assert!(page.body.contains("value=\"#c0392b\""));
    assert!(
        page.body
            .contains("src=\"/console/settings/branding/logo?v=1\"")
    );
    let logo = a.get("/console/settings/branding/logo?v=1").await;
    assert_eq!(logo.status, 200);
    assert_eq!(
        logo.headers.get("content-type").unwrap().to_str().unwrap(),
        "image/png"
    );
    assert_eq!(logo.body.len(), String::from_utf8_lossy(&png).len());

    // Refused: an SVG, an oversized file, a bad colour. The page says why; nothing changes.
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    let mut big = png.clone();
    big.resize(40 * 1024, 0);
    let mut bad_colour = fields("Changed", "red");
    bad_colour.push(("csrf", &csrf));
    for (fields, logo, reason) in [
        (f.clone(), Some(("logo.svg", &svg[..])), "PNG or JPEG"),
        (f.clone(), Some(("big.png", &big[..])), "32 KiB"),
        (bad_colour, None, "accent_color"),
    ] {
        let page = post_branding(&a, &api, &fields, logo).await;
        assert_eq!(page.status, 422, "{reason}: {}", page.body);
        assert!(page.body.contains(reason), "{reason}: {}", page.body);
        assert_eq!(
            stored(&api).await,
            Some((1, "Mama Mboga WiFi".into(), "#c0392b".into(), Some(70))),
            "{reason}"
        );
    }

    // Saved again without a file: the logo stays. Then removed.
    let mut f = fields("Cafe WiFi", "#112233");
    f.push(("csrf", &csrf));
    let saved = post_branding(&a, &api, &f, None).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        stored(&api).await,
        Some((2, "Cafe WiFi".into(), "#112233".into(), Some(70)))
    );
    let removed = a
        .post("/console/settings/branding/logo/remove", &[("csrf", &csrf)])
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(stored(&api).await.unwrap().3, None);
    assert_eq!(a.get("/console/settings/branding/logo").await.status, 404);
    assert!(
        !a.get("/console/settings")
            .await
            .body
            .contains("id=\"branding-logo\"")
    );
}

#[tokio::test]
async fn only_administrators_brand_the_portal_and_swahili_is_spoken() {
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    let mut noc = Browser::new(&api);
    noc.sign_in("noc@a.test").await;
    let csrf = noc.get("/console/sites").await.csrf();
    let page = noc.get("/console/settings").await;
    assert_eq!(page.status, 403);
    assert!(!page.body.contains("branding-form"));
    let refused = post_branding(
        &noc,
        &api,
        &[
            ("csrf", &csrf),
            ("title", "Noc WiFi"),
            ("welcome", "Hi"),
            ("accent_color", "#000000"),
        ],
        None,
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(stored(&api).await, None);
    assert_eq!(noc.get("/console/settings/branding/logo").await.status, 403);

    let mut boss = Browser::new(&api);
    boss.sign_in("boss@a.test").await;
    boss.get("/console/lang/sw?next=/console/settings").await;
    let page = boss.get("/console/settings").await;
    assert!(
        page.body.contains("Mwonekano wa ukurasa wa WiFi"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Hifadhi mwonekano"));
}

/// Site `site`'s override as stored: (version, title, welcome, accent, logo length).
async fn site_stored(
    api: &Api,
    site: uuid::Uuid,
) -> Option<(
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
)> {
    api.owner
        .query_opt(
            "SELECT version, title, welcome, accent_color, octet_length(logo)
             FROM hotspot_branding WHERE hotspot_id = $1",
            &[&site],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
}

#[tokio::test]
async fn an_administrator_gives_a_site_its_own_branding_on_its_page() {
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    api.owner
        .execute(
            "INSERT INTO portal_branding (tenant_id, title, welcome, accent_color)
             VALUES ($1, 'Mama Mboga WiFi', 'Karibu!', '#c0392b')",
            &[&api.a],
        )
        .await
        .unwrap();
    let site: uuid::Uuid = api
        .owner
        .query_one("SELECT id FROM hotspots WHERE tenant_id = $1", &[&api.a])
        .await
        .unwrap()
        .get(0);
    let path = format!("/console/sites/{site}");
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let page = a.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("id=\"site-branding-form\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("placeholder=\"Mama Mboga WiFi\""),
        "the organisation's, as the placeholder"
    );
    assert!(page.body.contains("This site uses the organisation"));
    assert!(
        !page.body.contains("site-branding-reset"),
        "nothing to reset"
    );
    let csrf = page.csrf();
    let png = STANDARD.decode(PNG).unwrap();
    let form = format!("{path}/branding");

    // Without the token, nothing is stored.
    let refused = post_branding_to(&a, &api, &form, &[("title", "Estate WiFi")], None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(site_stored(&api, site).await, None);

    // A title and a logo; the other fields left empty inherit.
    let fields = [
        ("csrf", csrf.as_str()),
        ("title", "Estate WiFi"),
        ("welcome", ""),
        ("accent_color", ""),
        ("support_phone", ""),
    ];
    let saved = post_branding_to(&a, &api, &form, &fields, Some(("logo.png", &png))).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        site_stored(&api, site).await,
        Some((1, Some("Estate WiFi".into()), None, None, Some(70)))
    );
    let page = a.get(&path).await;
    assert!(page.body.contains("value=\"Estate WiFi\""));
    assert!(
        page.body.contains("own branding, over the organisation"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "<strong>Estate WiFi</strong> · Karibu! · <span class=\"mono\">#c0392b</span>"
        ),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("src=\"{path}/branding/logo?v=1\""))
    );
    let logo = a.get(&format!("{path}/branding/logo")).await;
    assert_eq!(logo.status, 200);
    assert_eq!(
        logo.headers.get("content-type").unwrap().to_str().unwrap(),
        "image/png"
    );

    // Refused: a bad colour, an SVG. The page says why; nothing changes.
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>";
    let mut bad_colour = fields.to_vec();
    bad_colour[3] = ("accent_color", "red");
    for (fields, logo, reason) in [
        (bad_colour, None, "accent_color"),
        (fields.to_vec(), Some(("logo.svg", &svg[..])), "PNG or JPEG"),
    ] {
        let page = post_branding_to(&a, &api, &form, &fields, logo).await;
        assert_eq!(page.status, 422, "{reason}: {}", page.body);
        assert!(page.body.contains(reason), "{reason}: {}", page.body);
        assert_eq!(site_stored(&api, site).await.unwrap().0, 1, "{reason}");
    }

    // The logo removed, then the whole override: the organisation's shows again.
    let removed = a
        .post(&format!("{path}/branding/logo/remove"), &[("csrf", &csrf)])
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(site_stored(&api, site).await.unwrap().4, None);
    assert_eq!(a.get(&format!("{path}/branding/logo")).await.status, 404);
    assert!(a.get(&path).await.body.contains("site-branding-reset"));
    let reset = a
        .post(&format!("{path}/branding/reset"), &[("csrf", &csrf)])
        .await;
    assert_eq!(reset.status, 303, "{}", reset.body);
    assert_eq!(
        site_stored(&api, site).await,
        Some((3, None, None, None, None))
    );
    let page = a.get(&path).await;
    assert!(!page.body.contains("site-branding-reset"));
    assert!(page.body.contains("<strong>Mama Mboga WiFi</strong>"));

    // In Swahili.
    a.get(&format!("/console/lang/sw?next={path}")).await;
    assert!(
        a.get(&path)
            .await
            .body
            .contains("Mwonekano wa ukurasa wa kuingia wa tovuti hii")
    );

    // A NOC engineer sees the site, not the form, and cannot post it.
    let mut noc = Browser::new(&api);
    noc.sign_in("noc@a.test").await;
    let page = noc.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("site-branding-form"), "{}", page.body);
    let csrf = page.csrf();
    let refused = post_branding_to(
        &noc,
        &api,
        &form,
        &[("csrf", &csrf), ("title", "Noc WiFi")],
        None,
    )
    .await;
    assert_eq!(refused.status, 403);
    let reset = noc
        .post(&format!("{path}/branding/reset"), &[("csrf", &csrf)])
        .await;
    assert_eq!(reset.status, 403);
    assert_eq!(site_stored(&api, site).await.unwrap().0, 3);
}
