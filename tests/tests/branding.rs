//! The portal branding end to end: a real cloud and a real hotspotd. The operator sets the
//! branding through the API, the router pulls it on its next round, and its portal page over
//! HTTP shows the title, welcome text and colour and serves the logo; a site's own title and logo
//! replace them there, and its reset brings them back. And the console's form in
//! headless Chromium at a phone's width: a logo uploaded from a file input, shown back under the
//! console's Content-Security-Policy.
//!
//! Needs PostgreSQL (`DATABASE_URL`, or the local server with trust auth), and Chromium for the
//! console's test; each is skipped without them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hotspot_system_tests::browser::Browser;
use hotspot_system_tests::stack::{Db, DemoConsole, PaymentsCloud, Router, wait_until};
use serde_json::{Value, json};

const OPERATOR: &str = "operator@demo.hotspot.test";
const PASSWORD: &str = "branding-pass";
/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";

/// The 1×1 PNG with its header's width set to 2 (another logo, another SHA-256).
const PNG_2X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";

/// One HTTP/1.1 exchange with 127.0.0.1:`port`: status, lower-cased head, body bytes.
fn http(port: u16, request: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, raw[end + 4..].to_vec())
}

fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

fn page(port: u16) -> String {
    String::from_utf8(get(port, "/").2).unwrap()
}

/// The operators' API: JSON in, JSON out.
fn api(port: u16, method: &str, path: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.to_string();
    let (status, _, text) = http(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let text = String::from_utf8(text).unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

#[test]
fn branding_set_through_the_api_reaches_the_routers_portal() {
    let Some(db) = Db::new("branding") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let stack = PaymentsCloud::start_with(
        &db,
        &logs.path().join("cloud.log"),
        &[("HOTSPOT_DEMO_PASSWORD", PASSWORD.to_owned())],
    );
    let router = Router::claim(
        &db,
        stack.port,
        "[sync]\ninterval_seconds = 1\n[branding]\ntitle = \"Configured WiFi\"\n",
    );
    let _edge = router.start();
    let portal = router.portal_port;
    let before = page(portal);
    assert!(before.contains("Configured WiFi"), "{before}");
    assert!(!before.contains("<img"));

    let (status, login) = api(
        stack.port,
        "POST",
        "/api/v1/auth/login",
        None,
        &json!({"email": OPERATOR, "password": PASSWORD}),
    );
    assert_eq!(status, 200, "{login}");
    let bearer = login["token"].as_str().unwrap().to_owned();
    let (status, set) = api(
        stack.port,
        "PUT",
        "/api/v1/settings/branding",
        Some(&bearer),
        &json!({"title": "Mama Mboga WiFi", "welcome": "Karibu! Weka vocha yako.",
                "accent_color": "#c0392b", "support_phone": "+254 700 000000", "logo": PNG}),
    );
    assert_eq!(status, 200, "{set}");
    let sha = set["logo"]["sha256"].as_str().unwrap().to_owned();

    let logs_of = || {
        format!(
            "\ncloud: {}\nhotspotd: {}",
            std::fs::read_to_string(logs.path().join("cloud.log")).unwrap_or_default(),
            std::fs::read_to_string(router.log()).unwrap_or_default(),
        )
    };
    // The cloud delivers a change once every transaction older than it on the server has
    // finished: on a shared test server that can take a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !page(portal).contains("Mama Mboga WiFi") {
        assert!(
            std::time::Instant::now() < deadline,
            "the branding did not reach the portal{}",
            logs_of()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let html = page(portal);
    assert!(html.contains("Karibu! Weka vocha yako."), "{html}");
    assert!(html.contains("color:#c0392b"), "{html}");
    assert!(html.contains("+254 700 000000"));
    assert!(!html.contains("Configured WiFi"));
    let logo_path = format!("/brand/logo-{}.png", &sha[..16]);
    assert!(html.contains(&format!("src=\"{logo_path}\"")), "{html}");

    let (status, head, bytes) = get(portal, &logo_path);
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "content-type"), Some("image/png"));
    assert!(
        header(&head, "cache-control")
            .unwrap_or("")
            .contains("max-age=31536000"),
        "{head}"
    );
    use base64::Engine;
    assert_eq!(
        bytes,
        base64::engine::general_purpose::STANDARD
            .decode(PNG)
            .unwrap()
    );
    // Stored in the router's own database (what the portal shows offline and after a restart).
    assert_eq!(
        router
            .query("SELECT title FROM branding WHERE id = 1")
            .as_deref(),
        Some("Mama Mboga WiFi")
    );
    wait_until("the unknown logo name is not found", 5, || {
        get(portal, "/brand/logo-0000000000000000.png").0 == 404
    });

    // The site's own title and logo, over the organisation's: the router replaces both.
    let site_url = format!("/api/v1/hotspots/{}/branding", router.hotspot);
    let (status, set) = api(
        stack.port,
        "PUT",
        &site_url,
        Some(&bearer),
        &json!({"title": "Estate WiFi", "logo": PNG_2X1}),
    );
    assert_eq!(status, 200, "{set}");
    let site_sha = set["logo"]["sha256"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !page(portal).contains("Estate WiFi") {
        assert!(
            std::time::Instant::now() < deadline,
            "the site's branding did not reach the portal{}",
            logs_of()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let html = page(portal);
    assert!(
        html.contains("Karibu! Weka vocha yako."),
        "inherited: {html}"
    );
    let site_logo = format!("/brand/logo-{}.png", &site_sha[..16]);
    assert!(html.contains(&format!("src=\"{site_logo}\"")), "{html}");
    assert_eq!(get(portal, &site_logo).0, 200);

    // Reset: the organisation's title and logo again.
    let (status, _) = api(stack.port, "DELETE", &site_url, Some(&bearer), &json!({}));
    assert_eq!(status, 204);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !page(portal).contains("Mama Mboga WiFi") {
        assert!(
            std::time::Instant::now() < deadline,
            "the reset did not reach the portal{}",
            logs_of()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(page(portal).contains(&format!("src=\"{logo_path}\"")));
}

#[test]
fn an_operator_uploads_a_logo_from_the_console_at_a_phones_width() {
    let Some(db) = Db::new("branding_console") else {
        return;
    };
    let Some(browser) = Browser::start() else {
        return;
    };
    let console = DemoConsole::start(&db, PASSWORD);
    let base = console.base.clone();
    browser.set_size(360, 740);
    browser.goto(&format!("{base}/console/signin"));
    browser.type_into("input[name=email]", OPERATOR);
    browser.type_into("input[name=password]", PASSWORD);
    browser.click("form[action='/console/signin'] button[type=submit]");
    browser
        .wait_for_text("Guests online now", Duration::from_secs(15))
        .unwrap();

    browser.goto(&format!("{base}/console/settings#branding"));
    browser
        .wait_for_text("Portal branding", Duration::from_secs(10))
        .unwrap();
    let fits = "return document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(browser.script(fits), true, "the settings overflow 360 px");
    let unlabelled = "return [...document.querySelectorAll('#branding-form input:not([type=hidden]),\
                      #branding-form textarea')].filter(e => !e.closest('label')).length";
    assert_eq!(browser.script(unlabelled), 0);

    let logo = console.dir.path().join("logo.png");
    use base64::Engine;
    std::fs::write(
        &logo,
        base64::engine::general_purpose::STANDARD
            .decode(PNG)
            .unwrap(),
    )
    .unwrap();
    browser.script(
        "const f = document.querySelector('#branding-form'); \
         f.querySelector('[name=title]').value = 'Mama Mboga WiFi'; \
         f.querySelector('[name=accent_color]').value = '#c0392b'; return true",
    );
    browser.type_into("#branding-form input[name=logo]", logo.to_str().unwrap());
    browser.click("#branding-form button[type=submit]");
    browser
        .wait_for_text("Current logo", Duration::from_secs(15))
        .unwrap();
    assert_eq!(
        db.query(
            "SELECT title || ' ' || accent_color || ' ' || octet_length(logo) FROM portal_branding"
        ),
        "Mama Mboga WiFi #c0392b 70"
    );
    // The logo loaded from the console's own route (the policy allows images from itself only).
    wait_until("the logo is drawn", 10, || {
        browser.script(
            "const i = document.querySelector('#branding-logo img'); \
                        return !!i && i.complete && i.naturalWidth === 1",
        ) == true
    });
    assert_eq!(browser.script(fits), true, "the settings overflow 360 px");
    browser.script("document.querySelector('#branding').scrollIntoView(); return true");
    browser.screenshot(
        &std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("branding-settings-360.png"),
    );
    browser.set_size(1280, 900);
    assert_eq!(browser.script(fits), true);
}
