//! M-Pesa from the portal to a guest online, end to end with every real part: headless Chromium
//! on the portal of a claimed hotspotd, hotspot-cloud on PostgreSQL, and the Daraja simulator
//! (the one stand-in, for Safaricom). Each Daraja outcome is driven by the phone number, as the
//! simulator's contract says; the recording firewall (`backend = "off"`) stands for nftables.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hotspot_system_tests::browser::Browser;
use hotspot_system_tests::stack::{Db, PaymentsCloud, Router, http_status, wait_until};

/// POSTs JSON to the simulator's control API.
fn sim_post(port: u16, path: &str, body: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 2"), "{path}: {text}");
}

/// Picks the first package, types `phone`, pays; returns the page text once it shows `expect`.
fn buy(browser: &Browser, portal: &str, phone: &str, expect: &str) -> String {
    browser.goto(portal);
    browser
        .wait_for_text("Buy with M-Pesa", Duration::from_secs(10))
        .unwrap_or_else(|t| panic!("no packages on the portal: {t}"));
    browser.type_into("#phone", phone);
    browser.click("form[action='/buy'] button");
    browser
        .wait_for_text(expect, Duration::from_secs(45))
        .unwrap_or_else(|t| panic!("{phone}: expected {expect:?}, page says: {t}"))
}

#[test]
fn every_daraja_outcome_reaches_the_guest_and_a_payment_lets_them_in() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let Some(db) = Db::new("pay") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let stack = PaymentsCloud::start(&db, &logs.path().join("cloud.log"));
    let cloud_port = stack.port;
    let sim_port = stack.sim_port;
    let router = Router::claim(&db, cloud_port, "[sync]\ninterval_seconds = 1\n");
    let _edge = router.start();
    assert_eq!(http_status(router.portal_port, "/"), Some(200));
    // The packages reach the router through the change log.
    wait_until("packages pulled to the router", 30, || {
        router
            .query("SELECT name FROM plans WHERE name = '1 Hour' AND is_active = 1")
            .is_some()
    });
    let portal = router.portal();

    // A number M-Pesa refuses to push to.
    sim_post(
        sim_port,
        "/sim/behaviour",
        r#"{"phone": "254712000402", "reject_push": "400.002.02"}"#,
    );
    for (phone, says) in [
        ("0712 001 032", "You cancelled the M-Pesa request"),
        ("0712 001 037", "did not answer the M-Pesa request"),
        ("+254 712 000 001", "balance is not enough"),
        ("0712002001", "PIN was wrong"),
        ("254712001001", "cannot reach your line"),
        ("0712 000 402", "did not send the request"),
    ] {
        let text = buy(&browser, &portal, phone, says);
        assert!(
            text.contains("Nothing was charged")
                || text.contains("Wait a minute")
                || text.contains("Check the number")
                || text.contains("Top up"),
            "{phone}: {text}"
        );
        assert!(text.contains("Try again"), "{phone}: {text}");
        assert!(!text.contains("You are online"), "{phone}");
    }
    // This router's hotspot only: the demo's other sites have a month of paid purchases.
    let failed = db.count(&format!(
        "SELECT count(*) FROM hotspot_purchases WHERE status = 'failed' AND hotspot_id = '{}'",
        router.hotspot
    ));
    assert_eq!(
        failed,
        6,
        "{}",
        db.query("SELECT phone_number, status, failure_reason FROM hotspot_purchases")
    );
    assert_eq!(
        db.count("SELECT count(*) FROM wallet_transactions WHERE mpesa_receipt_number IS NOT NULL"),
        0
    );
    assert_eq!(
        router
            .query("SELECT CAST(count(*) AS TEXT) FROM sessions")
            .as_deref(),
        Some("0"),
        "nobody got in without paying"
    );

    // Paid, but Daraja's callback never comes: the cloud's STK query settles it.
    sim_post(
        sim_port,
        "/sim/behaviour",
        r#"{"phone": "254712000555", "delivery": "lost"}"#,
    );
    let text = buy(&browser, &portal, "0712 000 555", "You are online");
    assert!(text.contains("Time left"), "{text}");
    // STK query answers carry no receipt number: the purchase is settled by the query and its
    // voucher tied to the payment by its reference.
    let voucher = db.query(
        "SELECT voucher_id FROM hotspot_purchases \
         WHERE phone_number = '254712000555' AND status = 'paid' AND settled_by = 'query'",
    );
    assert!(
        !voucher.is_empty(),
        "settled by the query: {}",
        db.query(
            "SELECT status, settled_by FROM hotspot_purchases WHERE phone_number = '254712000555'"
        )
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM hotspot_vouchers WHERE id = '{voucher}' \
             AND payment_reference IS NOT NULL AND hotspot_id = '{}'",
            router.hotspot
        )),
        1,
        "a voucher for this hotspot, tied to the payment"
    );
    assert_eq!(
        router
            .query(&format!(
                "SELECT s.mac_address FROM sessions s JOIN vouchers v ON v.id = s.voucher_id \
                 WHERE v.id = '{voucher}' AND s.session_status = 'active'"
            ))
            .as_deref(),
        Some(Router::MAC),
        "the buyer's device is online on the paid voucher"
    );

    // Log out, buy again; Daraja delivers this callback twice: one payment, one voucher.
    browser.click("form[action='/logout'] button");
    browser
        .wait_for_text("You are logged out", Duration::from_secs(10))
        .unwrap();
    sim_post(
        sim_port,
        "/sim/behaviour",
        r#"{"phone": "254712000777", "delivery": "twice"}"#,
    );
    buy(&browser, &portal, "0712000777", "You are online");
    let receipt = db.query(
        "SELECT mpesa_receipt_number FROM hotspot_purchases \
         WHERE phone_number = '254712000777' AND settled_by = 'callback'",
    );
    assert!(!receipt.is_empty(), "a callback brings the receipt number");
    // Let the second delivery arrive and be processed.
    wait_until("both callbacks stored", 20, || {
        db.count("SELECT count(*) FROM mpesa_callbacks") >= 3
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM hotspot_vouchers WHERE mpesa_receipt_number = '{receipt}'"
        )),
        1
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM wallet_transactions WHERE mpesa_receipt_number = '{receipt}' \
             AND transaction_type = 'credit'"
        )),
        1,
        "credited once"
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM wallet_transactions WHERE mpesa_receipt_number = '{receipt}'"
        )),
        2,
        "the payment in and the package bought with it, once each"
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM hotspot_purchases WHERE status = 'paid' AND hotspot_id = '{}'",
            router.hotspot
        )),
        2
    );
}
