//! Live top-ups: an online guest enters another voucher on the status page and the running
//! session is extended in place, without a new session or a new firewall grant.

use crate::helpers::*;

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
