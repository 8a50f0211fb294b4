//! The operators' console in headless Chromium, served by the real hotspot-cloud binary on the
//! demo tenant: signing in, the dashboard at a phone's width (360 px) and a desktop's (1280 px),
//! a voucher batch made through the form and printed.

use std::path::PathBuf;
use std::time::Duration;

use hotspot_system_tests::browser::Browser;
use hotspot_system_tests::stack::{Db, SECRETS_KEY, cloud, free_port, serve_cloud};

/// Where the screenshots go (kept as test artifacts under the target directory).
fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("console-screenshots")
        .join(format!("{name}.png"))
}

#[test]
fn an_operator_signs_in_and_prints_a_batch_of_vouchers() {
    let Some(db) = Db::new("console") else {
        return;
    };
    let Some(browser) = Browser::start() else {
        return;
    };
    let env = [
        ("HOTSPOT_SECRETS_KEY", SECRETS_KEY.to_owned()),
        ("HOTSPOT_DEMO_PASSWORD", "console-demo-pass".to_owned()),
        // Plain HTTP on loopback: cookies without Secure, as in development.
        ("HOTSPOT_CONSOLE_INSECURE_COOKIES", "1".to_owned()),
    ];
    cloud(&db, &env, &["seed", "--demo"]);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _cloud = serve_cloud(&db, port, &env, &dir.path().join("cloud.log"));
    let base = format!("http://127.0.0.1:{port}");

    browser.goto(&format!("{base}/console/"));
    assert!(
        browser.url().ends_with("/console/signin"),
        "{}",
        browser.url()
    );
    browser.type_into("input[name=email]", "operator@demo.hotspot.test");
    browser.type_into("input[name=password]", "console-demo-pass");
    browser.screenshot(&shot("signin-360"));
    browser.click("form[action='/console/signin'] button[type=submit]");
    browser
        .wait_for_text("Guests online now", Duration::from_secs(15))
        .unwrap();

    // The stylesheet and htmx loaded under the Content-Security-Policy (their own files only).
    assert_eq!(browser.script("return typeof htmx"), "object");
    assert_eq!(
        browser.script("return getComputedStyle(document.querySelector('header.top')).display"),
        "flex"
    );
    // Nothing wider than the phone's screen (tables scroll inside their own box).
    let fits = "return document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(browser.script(fits), true, "the dashboard overflows 360 px");
    browser.screenshot(&shot("dashboard-360"));
    // Every input of the page has a label.
    let unlabelled = "return [...document.querySelectorAll('input:not([type=hidden]),select')]\
        .filter(e => !e.closest('label') && !e.labels.length).length";
    assert_eq!(browser.script(unlabelled), 0);

    // A batch of 4 through the form, then its A4 sheet with a QR code per card.
    browser.goto(&format!("{base}/console/vouchers"));
    browser
        .wait_for_text("New batch", Duration::from_secs(10))
        .unwrap();
    assert_eq!(browser.script(unlabelled), 0);
    assert_eq!(
        browser.script(fits),
        true,
        "the voucher page overflows 360 px"
    );
    browser.script("document.querySelector('#new-batch input[name=count]').value = ''");
    browser.type_into("#new-batch input[name=count]", "4");
    browser.click("#new-batch button[type=submit]");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !browser.url().contains("batch_id=") {
        assert!(std::time::Instant::now() < deadline, "{}", browser.url());
        std::thread::sleep(Duration::from_millis(100));
    }
    let batch = browser.url().split("batch_id=").nth(1).unwrap().to_owned();
    let rows = "return document.querySelectorAll('#vouchers tbody tr').length";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while browser.script(rows) != 4 {
        assert!(std::time::Instant::now() < deadline, "{}", browser.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let stored = db.count(&format!(
        "SELECT count(*) FROM hotspot_vouchers WHERE batch_id = '{batch}'"
    ));
    assert_eq!(stored, 4);
    browser.goto(&format!(
        "{base}/console/vouchers/print?batch_id={batch}&layout=a4"
    ));
    browser
        .wait_for_text("Print (4)", Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        browser.script("return document.querySelectorAll('.sheet .voucher').length"),
        4
    );
    assert_eq!(
        browser.script("return document.querySelectorAll('.voucher svg.qr').length"),
        4
    );
    browser.screenshot(&shot("print-a4-360"));

    // On a desktop the figures stand in four columns.
    browser.set_size(1280, 900);
    browser.goto(&format!("{base}/console/"));
    browser
        .wait_for_text("Guests online now", Duration::from_secs(10))
        .unwrap();
    assert_eq!(browser.script(fits), true);
    let columns = "return getComputedStyle(document.querySelector('.grid')).gridTemplateColumns\
        .split(' ').length";
    assert_eq!(browser.script(columns), 4);
    browser.screenshot(&shot("dashboard-1280"));
}
