//! The portal in headless Chromium with a phone-sized window, served by the real hotspotd binary:
//! what a guest on a cheap Android phone sees and does.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hotspot_system_tests::binary;
use hotspot_system_tests::browser::Browser;

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// hotspotd on 127.0.0.1 with the browser's address (127.0.0.1) leased to a guest MAC, so the
/// daemon identifies the browser as that guest.
fn edge(dir: &std::path::Path, extra: &str) -> (Daemon, String) {
    let port = free_port();
    let config = dir.join("edge.toml");
    let leases = dir.join("dhcp.leases");
    std::fs::write(&leases, "0 02:00:00:00:00:07 127.0.0.1 phone *\n").unwrap();
    std::fs::write(
        &config,
        format!(
            "[lan]\naddress = \"127.0.0.1\"\n[portal]\nlisten = \"127.0.0.1:{port}\"\n\
             [store]\npath = {:?}\n[firewall]\nbackend = \"off\"\n\
             [clients]\nneighbour_source = \"leases\"\nlease_file = {leases:?}\n{extra}",
            dir.join("edge.db"),
        ),
    )
    .unwrap();
    let import = dir.join("vouchers.csv");
    std::fs::write(&import, "code,type,duration_minutes\nPHNE234567,time,90\n").unwrap();
    let out = Command::new(binary("hotspotd"))
        .arg("--config")
        .arg(&config)
        .args(["vouchers", "import"])
        .arg(&import)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child = Command::new(binary("hotspotd"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "hotspotd did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Daemon(child), format!("http://127.0.0.1:{port}/"))
}

#[test]
fn a_guest_logs_in_with_a_voucher_on_a_phone_sized_screen() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_edge, portal) = edge(dir.path(), "");
    browser.goto(&portal);
    let text = browser.text();
    assert!(text.contains("Voucher code"), "{text}");
    // Readable at 360 px: nothing wider than the screen, the code field as wide as the page.
    let widths = browser.script(
        "return [document.documentElement.scrollWidth, window.innerWidth, \
         document.getElementById('code').getBoundingClientRect().width]",
    );
    let (page, screen, field) = (
        widths[0].as_f64().unwrap(),
        widths[1].as_f64().unwrap(),
        widths[2].as_f64().unwrap(),
    );
    assert!(
        page <= screen,
        "no sideways scrolling: page {page} px, screen {screen} px"
    );
    assert!(
        field >= screen * 0.8,
        "the code field fills the width: {field} of {screen}"
    );
    // No outside requests: every resource of the page is the page itself.
    let resources =
        browser.script("return performance.getEntriesByType('resource').map(r => r.name)");
    assert_eq!(
        resources,
        serde_json::json!([]),
        "the page loads nothing else"
    );

    // A wrong code: a sentence, and the form again.
    browser.type_into("#code", "WRNG234567");
    browser.click("form[action='/login'] button");
    let text = browser
        .wait_for_text("does not exist", Duration::from_secs(10))
        .unwrap_or_else(|t| panic!("no refusal shown: {t}"));
    assert!(text.contains("Voucher code"));

    // The right code typed the way people type it: lower case, spaces.
    browser.type_into("#code", "phne 2345 67");
    browser.click("form[action='/login'] button");
    let text = browser
        .wait_for_text("You are online", Duration::from_secs(10))
        .unwrap_or_else(|t| panic!("not online: {t}"));
    assert!(browser.url().ends_with("/status"), "{}", browser.url());
    assert!(text.contains("1 h 30 min"), "time left shown: {text}");

    // Swahili by the link in the footer; remembered for the next page.
    browser.click("footer a[href='?lang=sw']");
    browser
        .wait_for_text("Umeunganishwa", Duration::from_secs(10))
        .unwrap_or_else(|t| panic!("no Swahili: {t}"));
    browser.goto(&format!("{portal}status"));
    browser
        .wait_for_text("Muda uliobaki", Duration::from_secs(10))
        .unwrap_or_else(|t| panic!("language not remembered: {t}"));

    // Log out: back to the voucher form.
    browser.click("form[action='/logout'] button");
    browser
        .wait_for_text("Umeondoka", Duration::from_secs(10))
        .unwrap_or_else(|t| panic!("not logged out: {t}"));
}
