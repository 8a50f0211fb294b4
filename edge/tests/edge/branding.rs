//! The cloud's portal branding at the edge: applied over the configuration's `[branding]`,
//! its logo served under a name that changes with it, and kept across a restart.

use hotspot_shared::branding::{Branding, Logo};

use crate::helpers::spawn_edge;

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";
const PNG_SHA: &str = "4ff6ab670a58c14270e034e2090d9a432caa263a14e0a25785386b0c12f880b5";
const LOGO_PATH: &str = "/brand/logo-4ff6ab670a58c142.png";
const HOST: &str = "10.0.0.1:2050";

fn branding(version: i64) -> Branding {
    Branding {
        version,
        title: "Mama Mboga <WiFi>".into(),
        welcome: "Karibu sana! Weka vocha yako.".into(),
        accent_color: "#c0392b".into(),
        support_phone: Some("+254 711 111111".into()),
        logo: Some(Logo {
            content_type: "image/png".into(),
            sha256: PNG_SHA.into(),
            data: PNG.into(),
        }),
    }
}

fn png_bytes() -> Vec<u8> {
    hotspot_shared::branding::decode_base64(PNG).unwrap()
}

#[tokio::test]
async fn a_synced_branding_replaces_the_configured_one_and_survives_a_restart() {
    let edge =
        spawn_edge("[branding]\ntitle = \"Configured WiFi\"\naccent_color = \"#0a7d55\"\n").await;
    let guest = edge.guest(2);
    let page = guest.get("/", HOST).await;
    assert!(page.body.contains("Configured WiFi"), "{}", page.body);
    assert!(page.body.contains("color:#0a7d55"));
    assert!(!page.body.contains("<img"), "no logo configured");
    assert_eq!(guest.get(LOGO_PATH, HOST).await.status, 404);

    assert!(edge.sessions.apply_branding(&branding(3)).await.unwrap());
    let page = guest.get("/", HOST).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<h1>Mama Mboga &lt;WiFi&gt;</h1>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Configured WiFi"));
    assert!(page.body.contains("Karibu sana! Weka vocha yako."));
    assert!(page.body.contains("color:#c0392b"));
    assert!(!page.body.contains("#0a7d55"));
    assert!(page.body.contains("+254 711 111111"));
    assert!(
        page.body.contains(&format!("src=\"{LOGO_PATH}\"")),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script"));

    // The logo: its bytes, its type, cached for long (its name changes with it).
    let logo = guest.get(LOGO_PATH, HOST).await;
    assert_eq!(logo.status, 200);
    assert_eq!(logo.header("content-type"), Some("image/png"));
    assert_eq!(logo.header("content-length"), Some("70"));
    assert!(
        logo.header("cache-control")
            .unwrap()
            .contains("max-age=31536000")
    );
    assert_eq!(logo.body, String::from_utf8_lossy(&png_bytes()));
    for other in [
        "/brand/logo-0000000000000000.png",
        "/brand/logo-4ff6ab670a58c142.jpg",
    ] {
        assert_eq!(guest.get(other, HOST).await.status, 404, "{other}");
    }

    // An older or a bad branding changes nothing.
    let mut old = branding(2);
    old.title = "Old".into();
    assert!(!edge.sessions.apply_branding(&old).await.unwrap());
    let mut bad = branding(4);
    bad.accent_color = "red;}body{display:none".into();
    assert!(!edge.sessions.apply_branding(&bad).await.unwrap());
    assert!(guest.get("/", HOST).await.body.contains("Mama Mboga"));

    // A restart (power cut) keeps it.
    let edge = edge.restart().await;
    let guest = edge.guest(2);
    let page = guest.get("/", HOST).await;
    assert!(
        page.body.contains("Mama Mboga &lt;WiFi&gt;"),
        "{}",
        page.body
    );
    assert!(page.body.contains("color:#c0392b"));
    let logo = guest.get(LOGO_PATH, HOST).await;
    assert_eq!(logo.status, 200);
    assert_eq!(logo.body, String::from_utf8_lossy(&png_bytes()));

    // A newer one without a logo: the old logo's name is gone.
    let mut plain = branding(5);
    plain.logo = None;
    assert!(edge.sessions.apply_branding(&plain).await.unwrap());
    assert!(!guest.get("/", HOST).await.body.contains("<img"));
    assert_eq!(guest.get(LOGO_PATH, HOST).await.status, 404);
}
