//! The operators' console in headless Chromium, served by the real hotspot-cloud binary on the
//! demo tenant: signing in, the dashboard at a phone's width (360 px) and a desktop's (1280 px),
//! a voucher batch made through the form and printed, each card's QR code read back from the
//! browser's drawing and decoded to the portal link with its code; the clients, a client's page
//! and the tickets at 360 px, a ticket opened from its form and answered on its page; the keyboard reaching every control in order with its focus shown,
//! and the contrast of every text against its background; a second factor enrolled from the QR
//! code on the account page and then asked at sign-in, a site and a package made through their
//! forms.

use std::path::PathBuf;
use std::time::Duration;

use hotspot_system_tests::a11y::{
    assert_inputs_labelled, assert_keyboard_reaches_every_control, assert_text_contrast,
};
use hotspot_system_tests::browser::Browser;
use hotspot_system_tests::stack::{Db, DemoConsole};

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
    let console = DemoConsole::start(&db, "console-demo-pass");
    let base = console.base.clone();
    // Exactly a phone's width: the window Chromium starts with headless may be wider.
    browser.set_size(360, 740);

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
    assert_inputs_labelled(&browser, "the dashboard");

    // A batch of 4 through the form, then its A4 sheet with a QR code per card.
    browser.goto(&format!("{base}/console/vouchers"));
    browser
        .wait_for_text("New batch", Duration::from_secs(10))
        .unwrap();
    assert_inputs_labelled(&browser, "the voucher page");
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
    // Two of them ticked and printed on their own: the list's checkboxes feed a plain GET form.
    assert_eq!(
        browser.script(fits),
        true,
        "the voucher list with its checkboxes overflows 360 px"
    );
    browser.click("#vouchers tbody tr:nth-child(1) input[name=id]");
    browser.click("#vouchers tbody tr:nth-child(3) input[name=id]");
    let picked = browser.script(
        "return [...document.querySelectorAll('#vouchers input[name=id]:checked')]\
         .map(e => e.closest('tr').querySelector('.mono').textContent.trim()).sort().join(',')",
    );
    browser.click("#print-selected button[value=a4]");
    browser
        .wait_for_text("Print (2)", Duration::from_secs(10))
        .unwrap();
    let printed = browser.script(
        "return [...document.querySelectorAll('.sheet .voucher .vcode')]\
         .map(e => e.textContent.trim()).sort().join(',')",
    );
    assert_eq!(
        printed, picked,
        "the printed cards are not the ticked vouchers"
    );
    assert_eq!(picked.as_str().map(|p| p.split(',').count()), Some(2));
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
    assert_inputs_labelled(&browser, "the clients");
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
    assert_inputs_labelled(&browser, "a client's page");
    assert_keyboard_reaches_every_control(&browser, "a client's page");
    assert_text_contrast(&browser, "a client's page");
    browser.screenshot(&shot("client-360"));
    browser.goto(&format!("{base}/console/tickets"));
    browser
        .wait_for_text("Support tickets", Duration::from_secs(10))
        .unwrap();
    assert_eq!(browser.script(fits), true, "the tickets overflow 360 px");
    assert_inputs_labelled(&browser, "the tickets");
    // A ticket opened from the form, answered on its page, the reply shown.
    browser.click("#new-ticket");
    browser
        .wait_for_text("Open the ticket", Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        browser.script(fits),
        true,
        "the new ticket form overflows 360 px"
    );
    assert_inputs_labelled(&browser, "the new ticket form");
    browser.type_into("#ticket-form input[name=title]", "Router keeps restarting");
    browser.type_into(
        "#ticket-form textarea[name=description]",
        "Since the power cut the router restarts every hour.",
    );
    browser.click("#ticket-form button[type=submit]");
    browser
        .wait_for_text("The ticket was opened.", Duration::from_secs(10))
        .unwrap();
    browser.type_into(
        "#reply-form textarea[name=content]",
        "A technician will call before noon.",
    );
    browser.click("#reply-form button[type=submit]");
    let page = browser
        .wait_for_text("The reply was added.", Duration::from_secs(10))
        .unwrap();
    assert!(page.contains("Router keeps restarting"));
    assert!(page.contains("A technician will call before noon."));
    assert_eq!(
        browser.script("return document.querySelectorAll('#replies li').length"),
        1,
        "the reply is listed"
    );
    assert_eq!(
        browser.script(fits),
        true,
        "a ticket's page overflows 360 px"
    );
    assert_inputs_labelled(&browser, "a ticket's page");
    browser.screenshot(&shot("ticket-360"));
    browser.goto(&format!("{base}/console/devices"));
    browser
        .wait_for_text("Add a device", Duration::from_secs(10))
        .unwrap();
    assert_eq!(browser.script(fits), true, "the devices overflow 360 px");
    assert_inputs_labelled(&browser, "the devices page");
    assert_keyboard_reaches_every_control(&browser, "the devices page");
    browser.screenshot(&shot("devices-360"));

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

/// The demo operator, at 360 px: enrols a second factor on the account page (the QR code read
/// back from the browser's drawing, the code computed from its secret), signs out, signs in again
/// with the password and a code (a wrong code refused first), then makes a site (its claim code
/// and QR shown) and, at 1280 px, a package through the forms, and finds both listed.
#[test]
fn an_operator_enrols_totp_signs_in_with_it_and_makes_a_site_and_a_package() {
    let Some(db) = Db::new("console_totp") else {
        return;
    };
    let Some(browser) = Browser::start() else {
        return;
    };
    let console = DemoConsole::start(&db, "console-demo-pass");
    let base = console.base.clone();
    // Exactly a phone's width: the window Chromium starts with headless may be wider.
    browser.set_size(360, 740);
    let email = "operator@demo.hotspot.test";
    let mfa_enabled = || {
        db.query(&format!(
            "SELECT coalesce(mfa_enabled, false) FROM users WHERE email = '{email}'"
        ))
    };
    let fits = "return document.documentElement.scrollWidth <= window.innerWidth";
    let wait = |text: &str| {
        browser
            .wait_for_text(text, Duration::from_secs(15))
            .unwrap_or_else(|seen| panic!("{text:?} not shown; the page: {seen}"))
    };

    let sign_in_with_password = || {
        browser.goto(&format!("{base}/console/signin"));
        wait("Password");
        browser.type_into("input[name=email]", email);
        browser.type_into("input[name=password]", "console-demo-pass");
        browser.click("form[action='/console/signin'] button[type=submit]");
    };
    sign_in_with_password();
    wait("Guests online now");

    // The account page, linked from the header.
    browser.click("header.top a[href='/console/account']");
    wait("Two-step sign-in");
    assert_eq!(mfa_enabled(), "f");
    browser.click("#mfa-start button[type=submit]");
    wait("Key (to type in");
    assert_eq!(browser.script(fits), true, "the enrolment overflows 360 px");
    assert_inputs_labelled(&browser, "the enrolment page");
    assert_eq!(
        browser.script("return document.querySelectorAll('#mfa-enrol svg.qr').length"),
        1
    );
    browser.script("document.querySelector('#mfa-enrol').scrollIntoView()");
    browser.screenshot(&shot("account-enrol-360"));
    assert_keyboard_reaches_every_control(&browser, "the enrolment page");
    assert_text_contrast(&browser, "the enrolment page");
    let typed = browser
        .script("return document.querySelector('#mfa-secret').textContent")
        .as_str()
        .unwrap_or_default()
        .replace(char::is_whitespace, "");

    // The QR code as the browser draws it holds the otpauth URI of the same secret.
    browser.set_size(1280, 1200);
    browser.script(
        "const q = document.querySelector('#mfa-enrol svg.qr');\
         q.style.width = '320px'; q.style.height = '320px';",
    );
    let png = browser.element_screenshots("#mfa-enrol svg.qr").remove(0);
    std::fs::write(shot("account-qr"), &png).unwrap();
    let uri = decode_qr(&png);
    let prefix = format!("otpauth://totp/Hotspot:{email}?");
    assert!(uri.starts_with(&prefix), "the QR code holds {uri:?}");
    let params: Vec<(&str, &str)> = uri[prefix.len()..]
        .split('&')
        .filter_map(|p| p.split_once('='))
        .collect();
    for expected in [("issuer", "Hotspot"), ("digits", "6"), ("period", "30")] {
        assert!(params.contains(&expected), "{uri} lacks {expected:?}");
    }
    let secret = params
        .iter()
        .find(|(k, _)| *k == "secret")
        .map(|(_, v)| v.to_string())
        .expect("a secret in the URI");
    assert_eq!(secret, typed, "the QR code and the text give one secret");
    let seed = base32_decode(&secret);
    assert_eq!(seed.len(), 20);
    browser.set_size(360, 740);
    browser.goto(&format!("{base}/console/account"));
    wait("Key (to type in");

    // A wrong code is refused and enables nothing; the right one turns it on.
    browser.type_into("#mfa-confirm input[name=code]", &wrong_code(&seed));
    browser.click("#mfa-confirm button[type=submit]");
    wait("Wrong or expired code");
    assert_eq!(mfa_enabled(), "f");
    browser.type_into("#mfa-confirm input[name=code]", &totp_now(&seed));
    browser.click("#mfa-confirm button[type=submit]");
    wait("Two-step sign-in is on");
    assert_eq!(mfa_enabled(), "t");
    assert_eq!(
        browser.script("return document.querySelector('#mfa-state').textContent"),
        "On"
    );
    assert_eq!(
        browser.script("return document.querySelectorAll('#mfa-secret, svg.qr').length"),
        0,
        "the secret of an enabled second factor is not shown"
    );
    browser.script("document.querySelector('#mfa').scrollIntoView()");
    browser.screenshot(&shot("account-on-360"));

    // Signed out, the password alone no longer opens the console.
    browser.click("form[action='/console/signout'] button[type=submit]");
    wait("Password");
    assert!(
        browser.url().ends_with("/console/signin"),
        "{}",
        browser.url()
    );
    sign_in_with_password();
    wait("The 6-digit code from your authenticator app");
    browser.goto(&format!("{base}/console/sites"));
    assert!(
        browser.url().ends_with("/console/signin/code"),
        "a page opened before the code: {}",
        browser.url()
    );
    wait("The 6-digit code from your authenticator app");
    browser.screenshot(&shot("signin-code-360"));
    browser.type_into("input[name=code]", &wrong_code(&seed));
    browser.click("form[action='/console/signin/code'] button[type=submit]");
    wait("Wrong or expired code.");
    assert!(
        browser.url().ends_with("/console/signin/code"),
        "{}",
        browser.url()
    );
    browser.type_into("input[name=code]", &totp_now(&seed));
    browser.click("form[action='/console/signin/code'] button[type=submit]");
    wait("Guests online now");

    // A site through the form: its claim code shown once, with a QR code of it, and stored
    // (as its hash) for the new site; the site listed.
    browser.goto(&format!("{base}/console/sites"));
    wait("New site");
    assert_eq!(
        browser.script(fits),
        true,
        "the sites page overflows 360 px"
    );
    browser.type_into("#new-site input[name=name]", "Nakuru Kiosk");
    browser.type_into("#new-site input[name=location]", "Nakuru bus park");
    browser.type_into("#new-site input[name=ssid]", "Kiosk-WiFi");
    browser.click("#new-site button[type=submit]");
    wait("Router claim code");
    let claim = browser
        .script("return document.querySelector('#claim-code').textContent")
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(claim.len() >= 8, "a claim code: {claim:?}");
    browser.screenshot(&shot("site-claim-360"));
    let normalized: String = claim
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM hotspot_devices d JOIN hotspots h ON h.id = d.hotspot_id \
             WHERE h.name = 'Nakuru Kiosk' AND h.location = 'Nakuru bus park' \
               AND d.claim_code_hash = sha256(convert_to('{normalized}', 'UTF8'))"
        )),
        1,
        "the claim code shown is the new site's"
    );
    browser.set_size(1280, 1200);
    browser.script(
        "const q = document.querySelector('.qr-box svg.qr');\
         q.style.width = '320px'; q.style.height = '320px';",
    );
    let png = browser.element_screenshots(".qr-box svg.qr").remove(0);
    assert_eq!(decode_qr(&png), claim, "the QR code holds the claim code");
    browser.set_size(360, 740);
    // Back to the list by the claim page's own link (the claim page names the site too: wait
    // for the list's row, not the name).
    browser.click("main a[href='/console/sites']");
    let listed = "return [...document.querySelectorAll('#sites tbody tr')]\
        .map(r => r.textContent).filter(t => t.includes('Nakuru Kiosk') && t.includes('Kiosk-WiFi'))\
        .length";
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while browser.script(listed) != 1 {
        assert!(std::time::Instant::now() < deadline, "{}", browser.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        browser.url().ends_with("/console/sites"),
        "{}",
        browser.url()
    );

    // A package through the form on a desktop, then listed with what was typed.
    browser.set_size(1280, 900);
    browser.goto(&format!("{base}/console/packages"));
    wait("New package");
    browser.type_into("#new-package input[name=name]", "Evening 3 hours");
    browser.type_into("#new-package input[name=price]", "30");
    browser.type_into("#new-package input[name=download_mbps]", "5");
    browser.type_into("#new-package input[name=upload_mbps]", "2");
    browser.type_into("#new-package input[name=duration_minutes]", "180");
    browser.script("document.querySelector('#new-package input[name=validity_days]').value = ''");
    browser.type_into("#new-package input[name=validity_days]", "1");
    browser.screenshot(&shot("package-form-1280"));
    browser.click("#new-package button[type=submit]");
    let row = "return [...document.querySelectorAll('#packages tbody tr')]\
        .filter(r => r.textContent.includes('Evening 3 hours'))\
        .map(r => [...r.cells].map(c => c.textContent.trim()))";
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let cells = loop {
        let rows = browser.script(row);
        if let Some(r) = rows.as_array().and_then(|a| a.first()) {
            break r.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{}", browser.text());
        std::thread::sleep(Duration::from_millis(100));
    };
    let cells: Vec<&str> = cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap_or_default())
        .collect();
    assert_eq!(cells[0], "Evening 3 hours");
    assert!(cells[1].starts_with("30"), "price {cells:?}");
    assert_eq!(cells[2], "5 / 2");
    assert_eq!(cells[3], "180");
    assert_eq!(cells[5], "1");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM service_packages WHERE name = 'Evening 3 hours' \
             AND is_active AND duration_minutes = 180 AND validity_days = 1"
        ),
        1
    );
    assert_eq!(browser.script(fits), true);
    browser.screenshot(&shot("packages-1280"));
}

/// RFC 6238 (HMAC-SHA1, 6 digits, 30-second steps), the way an authenticator app computes it.
fn totp_at(seed: &[u8], unix_seconds: u64) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(seed).unwrap();
    mac.update(&(unix_seconds / 30).to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = usize::from(d[19] & 0x0f);
    let bin = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn totp_now(seed: &[u8]) -> String {
    totp_at(seed, unix_now())
}

/// A 6-digit code that is none of `seed`'s within a minute either way.
fn wrong_code(seed: &[u8]) -> String {
    let t = unix_now();
    let near: Vec<String> = (0..5).map(|i| totp_at(seed, t + i * 30 - 60)).collect();
    ["000000", "111111", "999999", "123456"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_owned()
}

/// RFC 4648 base32 without padding, as otpauth URIs carry the secret.
fn base32_decode(s: &str) -> Vec<u8> {
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes() {
        let v = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("{s:?} is not base32"));
        buf = (buf << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

#[test]
fn the_tests_totp_matches_rfc_6238() {
    // RFC 6238 appendix B, SHA-1 (the last six of its 8-digit values).
    let seed = b"12345678901234567890";
    assert_eq!(totp_at(seed, 59), "287082");
    assert_eq!(totp_at(seed, 1_111_111_109), "081804");
    assert_eq!(totp_at(seed, 2_000_000_000), "279037");
    assert_eq!(base32_decode("MZXW6YTBOI"), b"foobar");
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
