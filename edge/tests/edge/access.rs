//! Client identity (neighbour table, DHCP leases), MAC auto-connect and blocking.

use hotspot_edge::admin;

use crate::helpers::*;

#[tokio::test]
async fn a_registered_device_is_let_in_when_seen_with_its_bandwidth() {
    let edge = spawn_edge("").await;
    let phone = edge.guest(2);
    admin::allow(&edge.store, &phone.mac.to_string(), 8, T0).unwrap();
    // Its first captive check lets it in: no portal page, just success.
    let r = phone
        .get("/generate_204", "connectivitycheck.gstatic.com")
        .await;
    assert_eq!(r.status, 204);
    let g = edge.firewall.granted();
    assert_eq!(
        (g[0].mac, g[0].down_kbps, g[0].up_kbps),
        (phone.mac, 8000, 8000)
    );
    assert_eq!(
        edge.count("SELECT count(*) FROM sessions WHERE session_type = 'client' AND session_status = 'active'"),
        1
    );
    assert_eq!(edge.count("SELECT total_sessions FROM access_list"), 1);
    assert_eq!(edge.count("SELECT last_connected_at FROM access_list"), T0);
    // Its usage is added to the access list when the session ends.
    edge.firewall.add_traffic(phone.mac, 1_048_576, 1_048_576);
    edge.sessions.run_once().await.unwrap();
    admin::kick(&edge.store, &phone.mac.to_string(), T0).unwrap();
    edge.sessions.run_once().await.unwrap();
    assert!(
        edge.granted().is_empty(),
        "kick applied by the daemon's cycle"
    );
    assert_eq!(
        edge.text("SELECT CAST(total_data_used_mb AS TEXT) FROM access_list")
            .as_deref(),
        Some("2.0")
    );
}

#[tokio::test]
async fn a_registered_device_in_the_neighbour_table_is_let_in_by_the_cycle() {
    let edge = spawn_edge("").await;
    let laptop = edge.guest(2);
    // On the LAN with a lease but not registered: stays out.
    let _stranger = edge.guest(3);
    admin::allow(&edge.store, &laptop.mac.to_string(), 5, T0).unwrap();
    let report = edge.sessions.run_once().await.unwrap();
    assert_eq!(report.auto_connected, 1);
    assert_eq!(edge.granted(), [laptop.mac.to_string()]);
    // Not brought back by the table alone right after it ends for idleness.
    edge.clock.advance(600);
    let report = edge.sessions.run_once().await.unwrap();
    assert_eq!(report.ended.len(), 1);
    assert_eq!(report.auto_connected, 0);
    assert!(edge.granted().is_empty());
    // ...but its next request is.
    assert_eq!(laptop.get("/generate_204", "x").await.status, 204);
}

#[tokio::test]
async fn a_blocked_device_sees_why_and_never_passes() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nGOOD234567,time,60\n");
    let device = edge.guest(2);
    admin::allow(&edge.store, &device.mac.to_string(), 5, T0).unwrap();
    // A token from before the block: the blocked page has no form.
    let token = Guest::new(edge.addr, 2).token().await;
    edge.sessions
        .end(device.mac, hotspot_shared::plan::EndReason::Logout)
        .await
        .unwrap();
    admin::block(&edge.store, &device.mac.to_string(), "Unpaid <bill>", T0).unwrap();
    let r = device.get("/", "10.0.0.1").await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("This device is blocked"));
    assert!(r.body.contains("Unpaid &lt;bill&gt;"), "{}", r.body);
    let r = device
        .post(
            "/login",
            format!("code=GOOD234567&token={token}").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Unpaid &lt;bill&gt;"), "{}", r.body);
    assert_eq!(device.get("/generate_204", "x").await.status, 302);
    edge.sessions.run_once().await.unwrap();
    assert!(edge.granted().is_empty());
    assert_eq!(
        edge.count("SELECT is_used FROM vouchers"),
        0,
        "voucher untouched"
    );
}

#[tokio::test]
async fn blocking_an_online_device_removes_it_on_the_next_cycle() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nGOOD234567,time,60\n");
    let device = edge.guest(2);
    assert_eq!(device.login("GOOD234567").await.status, 303);
    let out = admin::block(&edge.store, &device.mac.to_string(), "abuse", T0).unwrap();
    assert!(out.contains("session ended"), "{out}");
    assert_eq!(edge.granted().len(), 1, "until the daemon's next cycle");
    let report = edge.sessions.run_once().await.unwrap();
    assert_eq!(report.revoked_strays, 1);
    assert!(edge.granted().is_empty());
    assert_eq!(
        edge.text("SELECT end_reason FROM sessions").as_deref(),
        Some("blocked")
    );
}

#[tokio::test]
async fn clients_without_a_lease_or_a_mac_are_refused() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nGOOD234567,time,60\n");
    let spoofer = edge.unleased_guest(2);
    let r = spoofer.login("GOOD234567").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("did not get its address from this WiFi"),
        "{}",
        r.body
    );
    // A lease for another MAC on that IP does not help.
    std::fs::write(
        edge.leases(),
        format!("0 02:00:00:00:00:99 {} x *\n", spoofer.ip),
    )
    .unwrap();
    assert_eq!(spoofer.login("GOOD234567").await.status, 403);
    let ghost = Guest::new(edge.addr, 3);
    let r = ghost.login("GOOD234567").await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("We cannot identify your device"));
    assert!(edge.granted().is_empty());
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 0);
    assert_eq!(edge.count("SELECT is_used FROM vouchers"), 0);
}

#[tokio::test]
async fn without_require_lease_a_laptop_setup_works() {
    let edge = spawn_edge_with_clients("require_lease = false\n").await;
    edge.import("code,type,duration_minutes\nGOOD234567,time,60\n");
    let guest = edge.unleased_guest(2);
    assert_eq!(guest.login("GOOD234567").await.status, 303);
}
