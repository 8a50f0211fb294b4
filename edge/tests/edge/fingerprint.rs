//! What the passive capture learnt about a device reaches its session and the cloud.

use hotspot_edge::net::capture::{DhcpClient, Seen, learnt};

use crate::helpers::*;

#[tokio::test]
async fn a_session_carries_the_dhcp_fingerprint_learnt_for_its_device() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nFING234567,time,60\n");
    // A MAC of its own: the learnt table is shared by the whole process.
    let g = edge.guest(77);
    let android = "1,3,6,15,26,28,51,58,59,43";
    learnt().observe(&Seen::Dhcp(DhcpClient {
        mac: g.mac,
        message_type: 3,
        fingerprint: Some(android.to_owned()),
        hostname: Some("Galaxy-A03".to_owned()),
        vendor_class: Some("android-dhcp-13".to_owned()),
        requested_ip: None,
        client_ip: None,
    }));
    assert_eq!(g.login("FING234567").await.status, 303);
    assert_eq!(
        edge.text(&format!(
            "SELECT device_fingerprint FROM sessions WHERE mac_address = '{}'",
            g.mac
        ))
        .as_deref(),
        Some(android)
    );
    assert_eq!(
        edge.text(
            "SELECT event ->> '$.data.device_fingerprint' FROM outbox \
             WHERE kind = 'session_started' ORDER BY seq DESC LIMIT 1"
        )
        .as_deref(),
        Some(android),
        "the session_started event tells the cloud"
    );
}
