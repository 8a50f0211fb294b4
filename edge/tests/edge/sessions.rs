//! Sessions end on time, data, idleness, logout and kicks; a restart restores live ones.

use hotspot_edge::admin;

use crate::helpers::*;

async fn online(edge: &TestEdge, n: u8, code: &str) -> Guest {
    let g = edge.guest(n);
    let r = g.login(code).await;
    assert_eq!(r.status, 303, "{code}: {r:?}");
    g
}

fn reason(edge: &TestEdge, g: &Guest) -> Option<String> {
    edge.text(&format!(
        "SELECT end_reason FROM sessions WHERE mac_address = '{}' ORDER BY start_time DESC LIMIT 1",
        g.mac
    ))
}

#[tokio::test]
async fn a_time_voucher_ends_when_its_time_is_up() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nHOUR234567,time,60\n");
    let g = online(&edge, 2, "HOUR234567").await;
    for _ in 0..6 {
        edge.clock.advance(590);
        edge.firewall.add_traffic(g.mac, 1000, 5000);
        assert!(edge.sessions.run_once().await.unwrap().ended.is_empty());
    }
    assert_eq!(edge.granted().len(), 1);
    edge.clock.advance(60);
    edge.firewall.add_traffic(g.mac, 1000, 5000);
    let report = edge.sessions.run_once().await.unwrap();
    assert_eq!(
        report.ended,
        vec![(g.mac, hotspot_shared::plan::EndReason::Time)]
    );
    assert!(edge.granted().is_empty());
    assert_eq!(reason(&edge, &g).as_deref(), Some("time"));
    assert_eq!(
        edge.count("SELECT bytes_up + bytes_down FROM sessions"),
        7 * 6000
    );
    assert_eq!(edge.count("SELECT duration_minutes FROM sessions"), 60);
    assert_eq!(
        g.get("/generate_204", "x").await.status,
        302,
        "captive again"
    );
    assert_eq!(g.get("/status", "10.0.0.1").await.status, 303);
    assert_eq!(
        edge.text("SELECT kind FROM outbox ORDER BY seq DESC LIMIT 1")
            .as_deref(),
        Some("session_ended")
    );
}

#[tokio::test]
async fn a_data_voucher_ends_when_its_data_is_used_across_its_devices() {
    let edge = spawn_edge("").await;
    edge.import("code,type,data_limit_mb,max_devices\nDATA234567,data,2,2\n");
    let a = online(&edge, 2, "DATA234567").await;
    let b = online(&edge, 3, "DATA234567").await;
    edge.firewall.add_traffic(a.mac, 100_000, 900_000);
    edge.sessions.run_once().await.unwrap();
    let status = a.get("/status", "10.0.0.1").await;
    assert!(status.body.contains("1.0 MB"), "{}", status.body);
    edge.firewall.add_traffic(b.mac, 0, 1_097_152);
    let report = edge.sessions.run_once().await.unwrap();
    assert_eq!(
        report.ended.len(),
        2,
        "the voucher's shared allowance is spent: {report:?}"
    );
    assert!(edge.granted().is_empty());
    assert_eq!(reason(&edge, &a).as_deref(), Some("data"));
}

#[tokio::test]
async fn idle_sessions_end_and_active_ones_do_not() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes,max_devices\nIDLE234567,time,600,2\n");
    let busy = online(&edge, 2, "IDLE234567").await;
    let idle = online(&edge, 3, "IDLE234567").await;
    for _ in 0..3 {
        edge.clock.advance(300);
        edge.firewall.add_traffic(busy.mac, 10, 10);
        edge.sessions.run_once().await.unwrap();
    }
    assert_eq!(edge.granted(), [busy.mac.to_string()]);
    assert_eq!(reason(&edge, &idle).as_deref(), Some("idle"));
}

#[tokio::test]
async fn logout_and_kick_end_sessions_and_leave_the_firewall() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes,max_devices\nBYE2345678,time,60,2\n");
    let a = online(&edge, 2, "BYE2345678").await;
    let b = online(&edge, 3, "BYE2345678").await;
    let token = a.token().await;
    let r = a.post("/logout", format!("token={token}").as_bytes()).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("You are logged out."));
    assert_eq!(reason(&edge, &a).as_deref(), Some("logout"));
    assert_eq!(edge.granted(), [b.mac.to_string()]);
    let out = admin::kick(&edge.store, &b.mac.to_string(), T0).unwrap();
    assert!(out.contains("session ended"), "{out}");
    assert!(
        admin::kick(&edge.store, &b.mac.to_string(), T0)
            .unwrap()
            .contains("no live session")
    );
    edge.sessions.run_once().await.unwrap();
    assert!(edge.granted().is_empty());
    assert_eq!(reason(&edge, &b).as_deref(), Some("kick"));
    let clients = admin::clients(&edge.store, T0).unwrap();
    assert!(clients.ends_with("0 live\n"), "{clients}");
}

#[tokio::test]
async fn a_restart_restores_every_live_session_and_drops_expired_ones() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nLONG234567,time,600\nSHRT234567,time,10\n");
    let long = online(&edge, 2, "LONG234567").await;
    let short = online(&edge, 3, "SHRT234567").await;
    let phone = edge.guest(4);
    admin::allow(&edge.store, &phone.mac.to_string(), 5, T0).unwrap();
    assert_eq!(phone.get("/generate_204", "x").await.status, 204);
    assert_eq!(edge.granted().len(), 3);
    let status = admin::status(&edge.store, &edge.config, T0).unwrap();
    assert!(status.contains("live sessions: 3"), "{status}");
    // Not a RADIUS NAS: no RADIUS lines.
    assert!(!status.contains("RADIUS"), "{status}");
    let clients = admin::clients(&edge.store, T0).unwrap();
    assert!(
        clients.contains("02:00:00:00:00:02") && clients.ends_with("3 live\n"),
        "{clients}"
    );

    edge.clock.advance(15 * 60); // down for 15 minutes: the short voucher ran out meanwhile
    let edge = edge.restart().await;
    assert_eq!(edge.firewall.calls()[0], "reconcile 2");
    let mut granted = edge.granted();
    granted.sort();
    assert_eq!(granted, [long.mac.to_string(), phone.mac.to_string()]);
    assert_eq!(reason(&edge, &short).as_deref(), Some("time"));
    assert_eq!(long.get("/generate_204", "x").await.status, 204);
    let doc: serde_json::Value =
        serde_json::from_str(&long.get("/api/captive", "10.0.0.1").await.body).unwrap();
    assert_eq!(doc["seconds-remaining"], 600 * 60 - 15 * 60);
}
