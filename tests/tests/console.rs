//! The operators' console in headless Chromium, served by the real hotspot-cloud binary on the
//! demo tenant: signing in, the dashboard at a phone's width (360 px) and a desktop's (1280 px),
//! a voucher batch made through the form and printed, each card's QR code read back from the
//! browser's drawing and decoded to the portal link with its code; the clients, a client's page
//! and the tickets at 360 px; the keyboard reaching every control in order with its focus shown,
//! and the contrast of every text against its background.

use std::path::PathBuf;
use std::time::Duration;

use hotspot_system_tests::browser::Browser;
use hotspot_system_tests::stack::{Db, SECRETS_KEY, cloud, free_port, serve_cloud};
use serde_json::Value;

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
    assert_keyboard_reaches_every_control(&browser, "the sign-in page");
    assert_text_contrast(&browser, "the sign-in page");
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
    assert_keyboard_reaches_every_control(&browser, "the dashboard");
    assert_text_contrast(&browser, "the dashboard");
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
    // Each card's QR code, as the browser draws it, decodes to the portal's link with that
    // card's code: the four codes of the batch, each once.
    let mut codes: Vec<String> = db
        .query(&format!(
            "SELECT string_agg(voucher_code, ',') FROM hotspot_vouchers WHERE batch_id = '{batch}'"
        ))
        .split(',')
        .map(str::to_owned)
        .collect();
    // Drawn larger on a desktop-wide window, so each module is several pixels.
    browser.set_size(1280, 1200);
    browser.script(
        "document.querySelectorAll('.voucher svg.qr')\
         .forEach(q => { q.style.width = '200px'; q.style.height = '200px'; })",
    );
    let mut decoded: Vec<String> = browser
        .element_screenshots(".voucher svg.qr")
        .iter()
        .enumerate()
        .map(|(i, png)| {
            std::fs::write(shot(&format!("qr-{i}")), png).unwrap();
            decode_qr(png)
        })
        .collect();
    for link in &decoded {
        assert!(
            link.starts_with("http") && link.contains("/?code="),
            "a QR code holds {link:?}, not a portal link"
        );
    }
    decoded.iter_mut().for_each(|l| {
        *l = l.rsplit("code=").next().unwrap_or_default().to_owned();
    });
    decoded.sort();
    codes.sort();
    assert_eq!(
        decoded, codes,
        "the printed QR codes are not the batch's codes"
    );

    // The clients, a client's page with its wallet forms, and the tickets fit a phone too.
    browser.set_size(360, 740);
    browser.goto(&format!("{base}/console/clients"));
    browser
        .wait_for_text("Amina Wanjiku", Duration::from_secs(10))
        .unwrap();
    assert_eq!(browser.script(fits), true, "the clients overflow 360 px");
    assert_eq!(browser.script(unlabelled), 0);
    browser.screenshot(&shot("clients-360"));
    browser.click("#clients tbody a");
    browser
        .wait_for_text("Credit the wallet", Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        browser.script(fits),
        true,
        "a client's page overflows 360 px"
    );
    assert_eq!(browser.script(unlabelled), 0);
    assert_keyboard_reaches_every_control(&browser, "a client's page");
    assert_text_contrast(&browser, "a client's page");
    browser.screenshot(&shot("client-360"));
    browser.goto(&format!("{base}/console/tickets"));
    browser
        .wait_for_text("Support tickets", Duration::from_secs(10))
        .unwrap();
    assert_eq!(browser.script(fits), true, "the tickets overflow 360 px");
    assert_eq!(browser.script(unlabelled), 0);

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

/// The WebDriver key code of Tab.
const TAB: &str = "\u{E004}";

/// A script's function naming an element: tag, then its name, link or text.
const DESCRIBE: &str = "const describe = e => e.tagName + ' ' + (e.getAttribute('name') \
    || e.getAttribute('href') || e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 40));";

/// Tabbing from the first control of the page (the skip link) reaches every link, button and
/// input in the order of the page, each showing its focus (an outline of 2 px or more), and the
/// skip link comes into view when focused.
fn assert_keyboard_reaches_every_control(browser: &Browser, page: &str) {
    let controls = browser.script(&format!(
        "{DESCRIBE} const c = [...document.querySelectorAll(\
             'a[href],button,input,select,textarea,[tabindex]')]\
             .filter(e => e.tabIndex >= 0 && !e.disabled && e.type !== 'hidden' \
                          && e.getClientRects().length);\
         c[0].focus();\
         return c.map(describe);"
    ));
    let controls: Vec<String> = controls
        .as_array()
        .unwrap_or_else(|| panic!("{page}: {controls}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(controls.len() >= 4, "{page}: {controls:?}");
    assert!(controls[0].starts_with("A "), "{page}: {controls:?}");
    let skip_shown = "const r = document.activeElement.getBoundingClientRect();\
        return r.left >= 0 && r.top >= 0 && r.width > 0";
    assert_eq!(
        browser.script(skip_shown),
        true,
        "{page}: the skip link stays out of sight when focused"
    );
    let focused = format!(
        "{DESCRIBE} const e = document.activeElement; const s = getComputedStyle(e);\
         return [describe(e), s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2];"
    );
    for (i, expected) in controls.iter().enumerate().skip(1) {
        browser.type_into(":focus", TAB);
        let now = browser.script(&focused);
        assert_eq!(
            now[0].as_str().unwrap_or_default(),
            expected,
            "{page}: Tab number {i} went elsewhere"
        );
        assert_eq!(
            now[1],
            Value::Bool(true),
            "{page}: no visible focus on {expected}"
        );
    }
}

/// Every visible text of the page, in the colour it is drawn in, against the first background
/// behind it, has a WCAG 2 contrast ratio of at least 4.5:1 (the lowest is printed).
fn assert_text_contrast(browser: &Browser, page: &str) {
    let worst = browser.script(
        "const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);\
         const lum = c => { const [r, g, b] = rgb(c).map(v => v / 255)\
             .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));\
             return 0.2126 * r + 0.7152 * g + 0.0722 * b; };\
         const behind = e => { for (; e; e = e.parentElement) {\
             const c = getComputedStyle(e).backgroundColor; const v = rgb(c);\
             if (v.length === 3 || (v.length === 4 && v[3] > 0)) return c; }\
             return 'rgb(255, 255, 255)'; };\
         let worst = [99, ''];\
         for (const e of document.querySelectorAll('body *')) {\
             if (e.closest('svg') || !e.getClientRects().length) continue;\
             if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;\
             const s = getComputedStyle(e);\
             if (s.visibility !== 'visible' || e.getBoundingClientRect().left < 0) continue;\
             const a = lum(s.color), b = lum(behind(e));\
             const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);\
             if (ratio < worst[0]) worst = [ratio, e.tagName + '.' + e.className + ' ' \
                 + s.color + ' on ' + behind(e)];\
         }\
         return worst;",
    );
    let ratio = worst[0].as_f64().unwrap_or_default();
    eprintln!("{page}: lowest text contrast {ratio:.2}:1 ({})", worst[1]);
    assert!(
        ratio >= 4.5,
        "{page}: contrast {ratio:.2}:1 for {}",
        worst[1]
    );
}

/// The text of the one QR code in a PNG screenshot.
fn decode_qr(png: &[u8]) -> String {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let grey = |x: usize, y: usize| {
        let i = (y * w + x) * channels;
        let px = &buf[i..i + channels.min(3)];
        (px.iter().map(|&v| u32::from(v)).sum::<u32>() / px.len() as u32) as u8
    };
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, grey);
    let grids = img.detect_grids();
    assert_eq!(
        grids.len(),
        1,
        "{} QR codes in one card's image",
        grids.len()
    );
    grids[0].decode().expect("a readable QR code").1
}
