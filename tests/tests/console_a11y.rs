//! Every page of the operators' console in headless Chromium, checked for accessibility at a
//! phone's width (360 px) and then a desktop's (1280 px): every input labelled, the keyboard
//! reaching every control in the page's order with its focus shown, text contrast of at least
//! 4.5:1, `<html lang>` set, one `<h1>`, images with `alt`, links and buttons with a name.
//!
//! The pages are those of `hotspot_cloud::console::ROUTES`, so a new page is checked without
//! touching this test; the `{id}` of a route is filled with an object of the demo tenant.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

use hotspot_cloud::console::ROUTES;
use hotspot_system_tests::a11y::assert_accessible;
use hotspot_system_tests::browser::Browser;
use hotspot_system_tests::stack::{Db, DemoConsole};

/// Where the screenshots go (kept as test artifacts under the target directory): a few pages,
/// and every page whose check failed.
fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("console-a11y-screenshots")
        .join(format!("{name}.png"))
}

/// GET routes that are not pages of the console, and why they are not checked here.
const NOT_PAGES: &[(&str, &str)] = &[
    // CSV downloads, not HTML.
    ("/console/vouchers/export.csv", "a CSV file"),
    ("/console/payments/export.csv", "a CSV file"),
    ("/console/payments/c2b/export.csv", "a CSV file"),
    // The logo's bytes, shown inside the settings page (checked there for its alt).
    ("/console/settings/branding/logo", "an image"),
    ("/console/sites/{id}/branding/logo", "an image"),
    // The stylesheet and script.
    ("/console/assets/{name}", "a static asset"),
];

/// The language switch answers with a redirect to the page it was asked from; it is followed
/// last, and the page it lands on is checked in Swahili.
const LANGUAGE: &str = "/console/lang/sw";

/// The cookie of a session waiting for its second factor, made by the test in the database (43
/// characters, as the console's session secrets are).
const PENDING: &str = "a11y-second-step-abcdefghijklmnopqrstuvwxyz";

/// Pages seen before signing in.
const SIGNED_OUT: &[&str] = &["/console/signin", "/console/signin/code"];

#[test]
fn every_console_page_is_labelled_keyboard_reachable_and_legible() {
    let Some(db) = Db::new("console_a11y") else {
        return;
    };
    let Some(browser) = Browser::start() else {
        return;
    };
    let started = Instant::now();
    // Only this run's screenshots: a failure's of an earlier run would mislead.
    let _ = std::fs::remove_dir_all(shot("x").parent().unwrap());
    let console = DemoConsole::start(&db, "console-a11y-pass");
    let base = console.base.clone();
    let tenant = db.query("SELECT id FROM tenants WHERE slug = 'demo'");
    let operator = db.query(&format!(
        "SELECT id FROM users WHERE tenant_id = '{tenant}' AND email = 'operator@demo.hotspot.test'"
    ));
    // What the demo seed lacks for a page of its own: a ticket, a message, a NAS and a printed
    // batch.
    db.query(&format!(
        "INSERT INTO support_tickets (tenant_id, ticket_number, title, description, created_by)
         VALUES ('{tenant}', 'TK-A11Y-1', 'Router keeps restarting',
                 'Since the power cut the router restarts every hour.', '{operator}')"
    ));
    // A colleague who wrote to the operator, and the operator's answer: a thread to show.
    let colleague = db.query(&format!(
        "INSERT INTO users (tenant_id, email, password_hash, full_name, roles)
         VALUES ('{tenant}', 'desk@demo.hotspot.test', 'not-a-password', 'Amina Wanjiru',
                 '[\"support_agent\"]') RETURNING id"
    ));
    let first = db.query(&format!(
        "INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content,
             sent_at)
         VALUES ('{tenant}', '{colleague}', '{operator}', 'Keys to the tower',
                 'Who has the keys to the tower cabinet?', now() - interval '1 hour')
         RETURNING id"
    ));
    db.query(&format!(
        "INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content,
             thread_id, reply_to_id)
         SELECT '{tenant}', '{operator}', '{colleague}', 'Re: Keys to the tower',
                'They are in the office drawer.', thread_id, id
         FROM internal_messages WHERE id = '{first}'"
    ));
    db.query(&format!(
        "INSERT INTO nas (tenant_id, nasname, shortname, secret)
         VALUES ('{tenant}', '192.0.2.10', 'town-nas', 'a-shared-secret')"
    ));
    db.query(&format!(
        "UPDATE hotspot_vouchers SET batch_id = 'a1100000-0000-4000-8000-000000000001'
         WHERE id IN (SELECT id FROM hotspot_vouchers WHERE tenant_id = '{tenant}'
                      AND NOT is_used LIMIT 3)"
    ));
    let one = |sql: &str| {
        let id = db.query(&format!("{sql} LIMIT 1"));
        assert!(!id.is_empty(), "the demo tenant has none: {sql}");
        id
    };
    let object = |prefix: &str| -> String {
        let t = &tenant;
        match prefix {
            "/console/sites" => one(&format!(
                "SELECT id FROM hotspots WHERE tenant_id = '{t}' ORDER BY created_at"
            )),
            "/console/packages" => one(&format!(
                "SELECT id FROM service_packages WHERE tenant_id = '{t}' \
                 AND package_type = 'hotspot' ORDER BY name"
            )),
            "/console/devices" => one(&format!(
                "SELECT id FROM client_hotspot_access WHERE tenant_id = '{t}'"
            )),
            "/console/clients" => one(&format!(
                "SELECT id FROM clients WHERE tenant_id = '{t}' ORDER BY name"
            )),
            "/console/tickets" => one(&format!(
                "SELECT id FROM support_tickets WHERE tenant_id = '{t}'"
            )),
            "/console/messages" => one(&format!(
                "SELECT id FROM internal_messages WHERE tenant_id = '{t}' AND reply_to_id IS NULL"
            )),
            "/console/settings/nas" => one(&format!("SELECT id FROM nas WHERE tenant_id = '{t}'")),
            other => panic!("the test knows no object of the demo tenant for {other}/{{id}}"),
        }
    };
    // Query strings a page needs to show what it is for.
    let query = |route: &str| match route {
        "/console/vouchers/print" => "?batch_id=a1100000-0000-4000-8000-000000000001&layout=a4",
        _ => "",
    };

    let gets: Vec<&str> = ROUTES
        .iter()
        .filter(|(method, _)| *method == "GET")
        .map(|(_, route)| *route)
        .collect();
    let skipped = gets
        .iter()
        .filter(|r| NOT_PAGES.iter().any(|(p, _)| p == *r))
        .count();
    let mut failures: Vec<String> = Vec::new();
    let mut visited = 0;
    // Checks the page shown at 360 px, then at 1280 px, and back to 360 px; a failure is noted
    // (with a screenshot) and the next pages still checked.
    let mut check = |name: &str, shoot: bool| {
        visited += 1;
        for (width, height) in [(360, 740), (1280, 900)] {
            browser.set_size(width, height);
            let page = format!("{name} at {width} px");
            let result = catch_unwind(AssertUnwindSafe(|| assert_accessible(&browser, &page)));
            let file = name
                .trim_start_matches('/')
                .replace(['/', '?', '&', '='], "_");
            if let Err(e) = result {
                let message = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(message);
                browser.screenshot(&shot(&format!("failed-{file}-{width}")));
            } else if shoot {
                browser.screenshot(&shot(&format!("{file}-{width}")));
            }
        }
        browser.set_size(360, 740);
    };
    let visit = |path: &str| {
        browser.goto(&format!("{base}{path}"));
        let at = browser.url();
        let error = browser.script("return document.title.startsWith('Something went wrong')");
        (at, error == true)
    };

    // Signed out: the sign-in page, and the second step as a browser whose password was right
    // sees it (a session waiting for its code, made in the database, its cookie set by hand).
    browser.set_size(360, 740);
    let (at, error) = visit("/console/signin");
    assert!(at.ends_with("/console/signin") && !error, "{at}");
    check("/console/signin", true);
    db.query(&format!(
        "INSERT INTO console_sessions (tenant_id, user_id, session_hash, mfa_pending, expires_at)
         VALUES ('{tenant}', '{operator}', sha256(convert_to('{PENDING}', 'UTF8')), true,
                 now() + interval '10 minutes')"
    ));
    assert_eq!(PENDING.len(), 43);
    browser.script(&format!("document.cookie = 'hs_console={PENDING}; path=/'"));
    let (at, error) = visit("/console/signin/code");
    assert!(at.ends_with("/console/signin/code") && !error, "{at}");
    check("/console/signin/code", false);
    browser.script("document.cookie = 'hs_console=; path=/; max-age=0'");

    // Signed in as the demo administrator: every other page.
    browser.goto(&format!("{base}/console/signin"));
    browser.type_into("input[name=email]", "operator@demo.hotspot.test");
    browser.type_into("input[name=password]", "console-a11y-pass");
    browser.click("form[action='/console/signin'] button[type=submit]");
    hotspot_system_tests::stack::wait_until("signed in", 15, || {
        browser.url().trim_end_matches('/').ends_with("/console")
    });
    for route in &gets {
        if SIGNED_OUT.contains(route) || *route == LANGUAGE {
            continue;
        }
        if let Some((_, why)) = NOT_PAGES.iter().find(|(p, _)| p == route) {
            eprintln!("{route}: not checked, {why}");
            continue;
        }
        let path = match route.split_once("/{id}") {
            Some((prefix, rest)) => format!("{prefix}/{}{rest}", object(prefix)),
            None => route.to_string(),
        };
        let path = format!("{path}{}", query(route));
        let (at, error) = visit(&path);
        assert!(
            !error && !at.ends_with("/console/signin"),
            "{path} did not show its page: at {at}"
        );
        check(
            &path,
            matches!(
                *route,
                "/console/" | "/console/settings" | "/console/clients/{id}"
            ),
        );
    }
    // The language switch, asked from the dashboard, lands there in Swahili.
    assert!(gets.contains(&LANGUAGE), "{LANGUAGE} is a route");
    let (at, error) = visit(&format!("{LANGUAGE}?next=/console/"));
    assert!(at.ends_with("/console/") && !error, "{at}");
    assert_eq!(browser.script("return document.documentElement.lang"), "sw");
    check(LANGUAGE, true);

    eprintln!(
        "{visited} of {} GET routes checked at 360 and 1280 px in {:.1} s",
        gets.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failed checks:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        visited >= gets.len() - skipped,
        "{visited} pages checked of {} GET routes ({skipped} not pages)",
        gets.len()
    );
}
