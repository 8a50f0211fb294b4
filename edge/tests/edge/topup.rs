//! Live top-ups: an online guest enters another voucher, or buys a package with M-Pesa, on the
//! status page and the running session is extended in place, without a new session or a new
//! firewall grant.

use hotspot_shared::purchase::{PaymentFailure, PurchaseStatus};
use hotspot_shared::sync::{Voucher, VoucherType};

use crate::helpers::*;
use crate::payments::{HOUR, add_packages, buy_body, dead_cloud};

async fn top_up(g: &Guest, code: &str) -> Resp {
    let token = g.token().await;
    g.post("/topup", format!("code={code}&token={token}").as_bytes())
        .await
}

#[tokio::test]
async fn another_voucher_extends_the_running_session_in_place() {
    let edge = spawn_edge("").await;
    edge.import(
        "code,type,duration_minutes,data_limit_mb\nFIRST23456,time,60,100\n\
         SECOND2345,time,30,50\nTHIRD23456,time,30,\n",
    );
    let g = edge.guest(2);
    assert_eq!(g.login("FIRST23456").await.status, 303);
    let session: Option<String> = edge.text("SELECT id FROM sessions");
    edge.clock.advance(600);
    // The status page offers it.
    let page = g.get("/status", "10.0.0.1:2050").await;
    assert!(page.body.contains("action=\"/topup\""), "{}", page.body);

    let r = top_up(&g, "second2345").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Voucher added"), "{}", r.body);
    // The same session, 30 more minutes and 50 more MB; the firewall was not touched.
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 1);
    assert_eq!(edge.text("SELECT id FROM sessions"), session);
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE session_status = 'active'"),
        T0 + 3600 + 1800
    );
    assert_eq!(
        edge.count("SELECT data_limit_bytes FROM sessions"),
        150 * 1_048_576
    );
    assert_eq!(edge.firewall.granted().len(), 1);
    assert_eq!(
        edge.count("SELECT count(*) FROM voucher_redemptions WHERE voucher_id IN (SELECT id FROM vouchers WHERE voucher_code = 'SECOND2345')"),
        1
    );
    let doc: serde_json::Value =
        serde_json::from_str(&g.get("/api/captive", "10.0.0.1:2050").await.body).unwrap();
    assert_eq!(doc["seconds-remaining"], 3000 + 1800);
    assert_eq!(doc["can-extend-session"], true);

    // A voucher already used, the session's own, or an unknown code: refused on the status page,
    // nothing changed, still online.
    for code in ["SECOND2345", "FIRST23456", "NOSUCH2345"] {
        let r = top_up(&g, code).await;
        assert_eq!(r.status, 403, "{code}: {r:?}");
        assert!(r.body.contains("action=\"/logout\""), "{}", r.body);
    }
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE session_status = 'active'"),
        T0 + 3600 + 1800
    );
    // A time-only voucher adds time; the data limit stays.
    assert_eq!(top_up(&g, "THIRD23456").await.status, 200);
    assert_eq!(
        edge.count("SELECT ends_at FROM sessions WHERE session_status = 'active'"),
        T0 + 3600 + 3600
    );
    assert_eq!(
        edge.count("SELECT data_limit_bytes FROM sessions"),
        150 * 1_048_576
    );
    // The time runs out at the new end, not the first voucher's (traffic every 5 minutes, so
    // idleness does not end it first).
    for _ in 0..12 {
        edge.clock.advance(300);
        edge.firewall.add_traffic(g.mac, 10, 10);
        let report = edge.sessions.run_once().await.unwrap();
        assert!(report.ended.is_empty(), "{report:?}");
    }
    edge.clock.advance(3000);
    let report = edge.sessions.run_once().await.unwrap();
    assert_eq!(
        report.ended,
        vec![(g.mac, hotspot_shared::plan::EndReason::Time)]
    );
}

#[tokio::test]
async fn a_top_up_from_a_guest_not_online_is_a_login() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nFIRST23456,time,60\n");
    let g = edge.guest(3);
    let r = top_up(&g, "FIRST23456").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        edge.count("SELECT count(*) FROM sessions WHERE session_status = 'active'"),
        1
    );
    assert_eq!(edge.granted().len(), 1);
}

const ENDS_AT: &str = "SELECT ends_at FROM sessions WHERE session_status = 'active'";

/// What the cloud answers once an Hour pass is paid: the voucher it issued.
fn paid(code: &str) -> PurchaseStatus {
    PurchaseStatus::Paid {
        voucher: Voucher {
            id: uuid::Uuid::new_v4(),
            code: code.into(),
            voucher_type: VoucherType::TimeBased,
            plan_id: Some(HOUR.parse().unwrap()),
            duration_minutes: Some(60),
            data_limit_mb: None,
            max_devices: 1,
            expires_ms: None,
            used_by: vec![],
            revoked: false,
        },
        receipt: "UAB1C2D3E4".into(),
    }
}

/// An edge selling packages through `cloud`, with a guest online on a one-hour voucher.
async fn online_guest(cloud: &str) -> (TestEdge, Guest) {
    let edge = spawn_edge_with_cloud(cloud).await;
    add_packages(&edge);
    edge.import("code,type,duration_minutes\nFIRST23456,time,60\n");
    let g = edge.guest(2);
    assert_eq!(g.login("FIRST23456").await.status, 303);
    (edge, g)
}

/// Buys the package `package` from the status page; the purchase page's path.
async fn buy_more(g: &Guest, package: &str) -> Resp {
    let page = g.get("/status", "10.0.0.1:2050").await;
    let rid = uuid::Uuid::new_v4().to_string();
    g.post(
        "/buy",
        &buy_body(&page.token(), package, "0712345678", &rid),
    )
    .await
}

fn redemptions(edge: &TestEdge, code: &str) -> i64 {
    edge.count(&format!(
        "SELECT count(*) FROM voucher_redemptions WHERE voucher_id IN \
         (SELECT id FROM vouchers WHERE voucher_code = '{code}')"
    ))
}

#[tokio::test]
async fn an_online_guest_buys_more_time_and_the_session_grows_in_place() {
    let cloud = FakeCloud::start().await;
    let (edge, g) = online_guest(&cloud.url).await;
    let session = edge.text("SELECT id FROM sessions");
    let firewall_calls = edge.firewall.calls();
    edge.clock.advance(600);

    let page = g.get("/status", "10.0.0.1:2050").await;
    let b = &page.body;
    assert!(b.contains("Or buy more with M-Pesa"), "{b}");
    assert!(b.contains("Hour pass") && b.contains("KES 20"), "{b}");
    assert!(
        b.contains("action=\"/topup\""),
        "the voucher form stays: {b}"
    );
    let sw = g
        .get_with("/status", "10.0.0.1:2050", "Accept-Language: sw\r\n")
        .await;
    assert!(sw.body.contains("Au nunua zaidi kwa M-Pesa"), "{}", sw.body);

    let r = buy_more(&g, HOUR).await;
    assert_eq!(r.status, 303, "{r:?}");
    let pay = r.header("location").unwrap().to_owned();
    assert!(pay.starts_with("/pay/"), "{pay}");
    // Marked as a top-up in the purchase row, for the guest's own device.
    assert_eq!(edge.count("SELECT top_up FROM purchases"), 1);
    let sent = cloud.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].mac, g.mac);
    let r = g.get(&pay, "10.0.0.1:2050").await;
    assert!(r.body.contains("Check your phone"), "{}", r.body);
    assert_eq!(
        edge.count(ENDS_AT),
        T0 + 3600,
        "nothing added before payment"
    );

    cloud.settle(paid("TOPUP23456"));
    eventually("the paid hour is added to the session", || {
        edge.count(ENDS_AT) == T0 + 7200
    })
    .await;
    assert_eq!(
        edge.text("SELECT status FROM purchases").as_deref(),
        Some("paid")
    );
    // The purchase page and the status page, loaded again and again while paid: applied once.
    for _ in 0..3 {
        let (a, b, c) = tokio::join!(
            g.get(&pay, "10.0.0.1:2050"),
            g.get(&pay, "10.0.0.1:2050"),
            g.get("/status", "10.0.0.1:2050"),
        );
        for r in [&a, &b] {
            assert_eq!(r.status, 200, "{r:?}");
            assert!(r.body.contains("Payment received: your time"), "{}", r.body);
            assert!(r.body.contains("action=\"/logout\""), "{}", r.body);
        }
        assert_eq!(c.status, 200);
    }
    assert_eq!(edge.count(ENDS_AT), T0 + 7200);
    assert_eq!(redemptions(&edge, "TOPUP23456"), 1);
    // The same session, the firewall left alone.
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 1);
    assert_eq!(edge.text("SELECT id FROM sessions"), session);
    assert_eq!(edge.firewall.calls(), firewall_calls);
    assert_eq!(edge.granted(), [g.mac.to_string()]);
    let doc: serde_json::Value =
        serde_json::from_str(&g.get("/api/captive", "10.0.0.1:2050").await.body).unwrap();
    assert_eq!(doc["seconds-remaining"], 7200 - 600);
    assert_eq!(doc["can-extend-session"], true);
}

#[tokio::test]
async fn a_paid_top_up_is_applied_once_when_pages_see_it_paid_together() {
    // As after a restart between storing the paid voucher and applying it.
    let (edge, g) = online_guest(&dead_cloud()).await;
    edge.import("code,type,duration_minutes\nPAID234567,time,60\n");
    let id = "0b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d05";
    let mac = g.mac.to_string();
    edge.store
        .blocking(move |c| {
            c.execute(
                "INSERT INTO purchases (id, request_id, mac_address, plan_id, phone_hint,
                                        amount_kes, status, voucher_code, receipt, created_at,
                                        updated_at, top_up)
                 VALUES (?1, ?1, ?2, 'p', '0712 *** 678', 20, 'paid', 'PAID234567',
                         'UAB1C2D3E4', 0, 0, 1)",
                rusqlite::params![id, mac],
            )?;
            Ok(())
        })
        .unwrap();
    let path = format!("/pay/{id}");
    let pages = futures_join(&g, &path).await;
    for r in &pages {
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("Payment received: your time"), "{}", r.body);
    }
    assert_eq!(edge.count(ENDS_AT), T0 + 7200);
    assert_eq!(redemptions(&edge, "PAID234567"), 1);
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 1);
    let sw = g
        .get_with(&path, "10.0.0.1:2050", "Accept-Language: sw\r\n")
        .await;
    assert!(sw.body.contains("Malipo yamepokelewa: muda"), "{}", sw.body);
    assert_eq!(edge.count(ENDS_AT), T0 + 7200);
}

/// Four loads of `path` at once.
async fn futures_join(g: &Guest, path: &str) -> [Resp; 4] {
    let (a, b, c, d) = tokio::join!(
        g.get(path, "10.0.0.1:2050"),
        g.get(path, "10.0.0.1:2050"),
        g.get(path, "10.0.0.1:2050"),
        g.get(path, "10.0.0.1:2050"),
    );
    [a, b, c, d]
}

#[tokio::test]
async fn a_failed_or_unfitting_top_up_changes_nothing() {
    let cloud = FakeCloud::start().await;
    let (edge, g) = online_guest(&cloud.url).await;
    edge.store
        .blocking(|c| {
            c.execute(
                "INSERT INTO plans (id, name, duration_minutes, data_limit_mb, down_kbps, up_kbps,
                                    price, is_active, updated_at)
                 VALUES ('9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c07', 'Data pack', NULL, 500, 0, 0,
                         '30', 1, 0)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    // A data package adds nothing to a session limited by time alone: not offered, refused.
    let page = g.get("/status", "10.0.0.1:2050").await;
    assert!(page.body.contains("Hour pass"), "{}", page.body);
    assert!(!page.body.contains("Data pack"), "{}", page.body);
    let r = buy_more(&g, "9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c07").await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("no longer for sale"), "{}", r.body);
    assert!(
        r.body.contains("action=\"/logout\""),
        "still the status page"
    );
    // A number M-Pesa cannot charge: the status page again with the reason.
    let page = g.get("/status", "10.0.0.1:2050").await;
    let rid = uuid::Uuid::new_v4().to_string();
    let r = g
        .post("/buy", &buy_body(&page.token(), HOUR, "0812345678", &rid))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("Kenyan mobile number"), "{}", r.body);
    assert!(
        r.body.contains("action=\"/logout\""),
        "still the status page"
    );
    assert!(cloud.requests().is_empty());
    assert_eq!(edge.count("SELECT count(*) FROM purchases"), 0);

    // A payment the guest cancels.
    let r = buy_more(&g, HOUR).await;
    assert_eq!(r.status, 303, "{r:?}");
    let pay = r.header("location").unwrap().to_owned();
    cloud.settle(PurchaseStatus::Failed {
        reason: PaymentFailure::Cancelled,
    });
    eventually("the purchase is failed", || {
        edge.text("SELECT status FROM purchases").as_deref() == Some("failed")
    })
    .await;
    let r = g.get(&pay, "10.0.0.1:2050").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("You cancelled"), "{}", r.body);
    assert_eq!(edge.count(ENDS_AT), T0 + 3600);
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 1);
    assert_eq!(edge.count("SELECT count(*) FROM voucher_redemptions"), 1);
    assert_eq!(edge.count("SELECT count(*) FROM vouchers"), 1);
}

#[tokio::test]
async fn a_top_up_paid_after_the_session_ended_logs_the_guest_in() {
    let cloud = FakeCloud::start().await;
    let (edge, g) = online_guest(&cloud.url).await;
    let r = buy_more(&g, HOUR).await;
    assert_eq!(r.status, 303, "{r:?}");
    let token = g.get("/status", "10.0.0.1:2050").await.token();
    let r = g.post("/logout", format!("token={token}").as_bytes()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(edge.granted().is_empty());
    cloud.settle(paid("TOPUP23456"));
    eventually("the buyer is let in with the paid code", || {
        edge.granted() == [g.mac.to_string()]
    })
    .await;
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 2);
    assert_eq!(
        edge.count("SELECT count(*) FROM sessions WHERE session_status = 'active'"),
        1
    );
    assert_eq!(redemptions(&edge, "TOPUP23456"), 1);
}

#[tokio::test]
async fn a_pending_top_up_is_applied_when_paid_after_a_restart() {
    let cloud = FakeCloud::start().await;
    let (edge, g) = online_guest(&cloud.url).await;
    let session = edge.text("SELECT id FROM sessions");
    // A top-up bought before the restart, still pending.
    let mac = g.mac.to_string();
    edge.store
        .blocking(move |c| {
            c.execute(
                "INSERT INTO purchases (id, request_id, mac_address, ip_address, plan_id,
                                        phone_hint, amount_kes, created_at, updated_at, top_up)
                 VALUES ('0b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d06', 'r6', ?1, '127.0.0.2', 'p',
                         '0712 *** 678', 20, ?2, ?2, 1)",
                rusqlite::params![mac, T0],
            )?;
            Ok(())
        })
        .unwrap();
    let edge = edge.restart().await;
    cloud.settle(paid("TOPUP23456"));
    eventually("the paid hour is added to the restored session", || {
        edge.count(ENDS_AT) == T0 + 7200
    })
    .await;
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 1);
    assert_eq!(edge.text("SELECT id FROM sessions"), session);
    assert_eq!(redemptions(&edge, "TOPUP23456"), 1);
}

#[tokio::test]
async fn there_is_no_m_pesa_top_up_where_m_pesa_is_off() {
    let edge = spawn_edge("").await;
    add_packages(&edge);
    edge.import("code,type,duration_minutes\nFIRST23456,time,60\n");
    let g = edge.guest(2);
    assert_eq!(g.login("FIRST23456").await.status, 303);
    let page = g.get("/status", "10.0.0.1:2050").await;
    assert!(page.body.contains("action=\"/topup\""), "{}", page.body);
    assert!(!page.body.contains("action=\"/buy\""), "{}", page.body);
    assert!(!page.body.contains("M-Pesa"), "{}", page.body);
    let r = buy_more(&g, HOUR).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(edge.count("SELECT count(*) FROM purchases"), 0);
    assert_eq!(edge.count(ENDS_AT), T0 + 3600);
    // The voucher top-up is still there, so the session can still be extended.
    let doc: serde_json::Value =
        serde_json::from_str(&g.get("/api/captive", "10.0.0.1:2050").await.body).unwrap();
    assert_eq!(doc["can-extend-session"], true);
}
