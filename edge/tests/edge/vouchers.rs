//! Voucher rules and outcomes over HTTP, and the guessing throttle.

use crate::helpers::*;

fn sessions(edge: &TestEdge) -> i64 {
    edge.count("SELECT count(*) FROM sessions")
}

#[tokio::test]
async fn a_valid_code_is_durable_then_granted_then_answered() {
    let edge = spawn_edge("").await;
    edge.store
        .blocking(|c| {
            c.execute(
                "INSERT INTO plans (id, name, down_kbps, up_kbps, updated_at)
                 VALUES ('p1', 'Daily', 4000, 1000, 0)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    edge.import("code,type,duration_minutes,plan,price\nABCDEFGH23,time,1440,p1,50\n");
    let guest = edge.guest(2);
    let r = guest.login(" abcde-fgh23 ").await;
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/status"));
    let grants = edge.firewall.granted();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].mac, guest.mac);
    assert_eq!((grants[0].down_kbps, grants[0].up_kbps), (4000, 1000));
    assert_eq!(grants[0].addrs, vec![guest.ip]);
    assert_eq!(
        edge.text("SELECT used_by_mac FROM vouchers").as_deref(),
        Some("02:00:00:00:00:02")
    );
    assert_eq!(edge.count("SELECT used_at FROM vouchers"), T0);
    assert_eq!(edge.count("SELECT is_used FROM vouchers"), 1);
    assert_eq!(edge.count("SELECT count(*) FROM voucher_redemptions"), 1);
    assert_eq!(
        edge.count("SELECT count(*) FROM sessions WHERE session_status = 'active' AND session_type = 'voucher'"),
        1
    );
    assert_eq!(
        edge.text("SELECT group_concat(kind) FROM (SELECT kind FROM outbox ORDER BY seq)")
            .as_deref(),
        Some("session_started,voucher_redeemed")
    );
    assert_eq!(
        edge.count("SELECT voucher_sessions FROM analytics_daily"),
        1
    );

    let status = guest.get("/status", "10.0.0.1:2050").await;
    assert_eq!(status.status, 200);
    assert!(status.body.contains("You are online"));
    assert!(status.body.contains("24 h 00 min"), "{}", status.body);
    assert!(status.body.contains("Log out"));
    // Entering a code again while online keeps the same session.
    assert_eq!(guest.login("ABCDEFGH23").await.status, 303);
    assert_eq!(sessions(&edge), 1);
}

#[tokio::test]
async fn every_refusal_is_a_clear_sentence_and_lets_nobody_in() {
    let edge = spawn_edge("[site]\nhotspot_id = \"11111111-1111-1111-1111-111111111111\"\n").await;
    // Imported on this hotspot, then one moved to another hotspot and one expired.
    edge.import(
        "code,type,duration_minutes,data_limit_mb,max_devices,expires\n\
         EXPRD23456,time,60,,1,2026-11-22\n\
         OTHER23456,time,60,,1,\n\
         SHARE23456,time,60,,2,\n\
         SHORT23456,time,1,,1,\n\
         TINYD23456,data,,1,1,\n",
    );
    edge.store
        .blocking(|c| {
            c.execute(
                "UPDATE vouchers SET hotspot_id = '22222222-2222-2222-2222-222222222222'
                 WHERE voucher_code = 'OTHER23456'",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    let g = |n| edge.guest(n);
    let cases: Vec<(u8, &str, &str)> = vec![
        (
            2,
            "NOSUCH2345",
            "This voucher code does not exist. Check it and try again.",
        ),
        (
            3,
            "EXPRD23456",
            "This voucher expired on 2026-11-22 23:59 UTC.",
        ),
        (4, "OTHER23456", "This voucher belongs to another hotspot."),
    ];
    for (n, code, sentence) in cases {
        let r = g(n).login(code).await;
        assert_eq!(r.status, 403, "{code}");
        assert!(r.body.contains(sentence), "{code}: {}", r.body);
    }
    // max_devices: two devices share it, the third is told the limit.
    assert_eq!(g(5).login("SHARE23456").await.status, 303);
    assert_eq!(g(6).login("SHARE23456").await.status, 303);
    let r = g(7).login("SHARE23456").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("This voucher is already in use on 2 devices, its limit."),
        "{}",
        r.body
    );
    // Used up by time: one minute from first use.
    assert_eq!(g(8).login("SHORT23456").await.status, 303);
    edge.sessions
        .end(g(8).mac, hotspot_shared::plan::EndReason::Logout)
        .await
        .unwrap();
    edge.clock.advance(61);
    let r = g(8).login("SHORT23456").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("This voucher has been used up."),
        "{}",
        r.body
    );
    // Used up by data: 1 MB moved.
    assert_eq!(g(9).login("TINYD23456").await.status, 303);
    edge.firewall.add_traffic(g(9).mac, 1_000_000, 48_576);
    edge.sessions.run_once().await.unwrap();
    let r = g(9).login("TINYD23456").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("This voucher has been used up."),
        "{}",
        r.body
    );
    // Swahili says the same.
    let token = g(10).token().await;
    let body = format!("code=NOSUCH2345&token={token}");
    let r = g(10)
        .raw(
            format!(
                "POST /login HTTP/1.1\r\nHost: 10.0.0.1\r\nAccept-Language: sw\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    assert!(r.body.contains("Nambari hii ya vocha haipo."), "{}", r.body);
    let granted = edge.granted();
    assert_eq!(
        granted,
        ["02:00:00:00:00:05", "02:00:00:00:00:06"],
        "only the shared voucher's two"
    );
}

#[tokio::test]
async fn a_device_that_redeemed_a_voucher_may_come_back_to_it() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes,max_devices\nBACK234567,time,120,1\n");
    let guest = edge.guest(2);
    assert_eq!(guest.login("BACK234567").await.status, 303);
    let token = guest.token().await;
    assert_eq!(
        guest
            .post("/logout", format!("token={token}").as_bytes())
            .await
            .status,
        200
    );
    assert!(edge.granted().is_empty());
    edge.clock.advance(1800);
    assert_eq!(guest.login("BACK234567").await.status, 303);
    let doc: serde_json::Value =
        serde_json::from_str(&guest.get("/api/captive", "10.0.0.1").await.body).unwrap();
    assert_eq!(doc["seconds-remaining"], 5400, "time counts from first use");
    assert_eq!(edge.count("SELECT count(*) FROM voucher_redemptions"), 1);
}

#[tokio::test]
async fn guessing_is_throttled_per_client_with_growing_waits() {
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nGOOD234567,time,60\n");
    let guesser = edge.guest(2);
    for i in 0..5 {
        let r = guesser.login(&format!("WRONG2345{i}")).await;
        assert_eq!(r.status, 403, "try {i}");
    }
    // The fifth failure started a 30 s wait: even the right code waits.
    let r = guesser.login("GOOD234567").await;
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("30"));
    assert!(
        r.body
            .contains("Too many wrong codes. Try again in 30 seconds.")
    );
    // Another client is not affected.
    let other = edge.guest(3);
    assert_eq!(other.login("WRONG23456").await.status, 403);
    // After the wait one more wrong code doubles it.
    edge.clock.advance(30);
    assert_eq!(guesser.login("WRONG23459").await.status, 403);
    let r = guesser.login("GOOD234567").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("60"));
    edge.clock.advance(60);
    assert_eq!(guesser.login("GOOD234567").await.status, 303);
    assert!(edge.granted().contains(&guesser.mac.to_string()));
}

/// A guest rotating its MAC (a new client for the per-client throttle at every try) meets the
/// site-wide budget, and a restart keeps both the site's and a client's wait.
#[tokio::test]
async fn guessing_from_many_macs_meets_the_site_wide_throttle_which_survives_a_restart() {
    use hotspot_edge::throttle::{SITE_BURST, SITE_REFILL_SECS};
    let edge = spawn_edge("").await;
    edge.import("code,type,duration_minutes\nGOOD234567,time,60\n");
    let slow = edge.guest(2);
    for i in 0..5 {
        assert_eq!(slow.login(&format!("WRONG2345{i}")).await.status, 403);
    }
    for n in 0..SITE_BURST - 5 {
        let r = edge.guest(10 + n as u8).login("WRONG23456").await;
        assert_eq!(r.status, 403, "MAC {n}: {r:?}");
    }
    // The budget is spent: a MAC never seen before waits, even with a good code.
    let fresh = edge.guest(200);
    let r = fresh.login("GOOD234567").await;
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(
        r.header("retry-after"),
        Some(SITE_REFILL_SECS.to_string().as_str())
    );
    // The records reach the database (written after each answer), then the router restarts.
    let rows = 2 + (SITE_BURST - 5) as i64;
    for _ in 0..100 {
        if edge.count("SELECT count(*) FROM voucher_throttle") >= rows {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(edge.count("SELECT count(*) FROM voucher_throttle"), rows);
    let edge = edge.restart().await;
    assert_eq!(
        fresh.login("GOOD234567").await.status,
        429,
        "site wait kept"
    );
    edge.clock.advance(SITE_REFILL_SECS);
    assert_eq!(
        slow.login("GOOD234567").await.status,
        429,
        "the client's own 30 s wait is kept too"
    );
    assert_eq!(fresh.login("GOOD234567").await.status, 303);
    assert!(edge.granted().contains(&fresh.mac.to_string()));
}

#[tokio::test]
async fn technician_import_is_all_or_nothing_and_check_tells_the_state() {
    let edge = spawn_edge("").await;
    let bad = "code,type,duration_minutes\nGOOD234567,time,60\nBAD,time,60\n";
    let err = hotspot_edge::admin::import(&edge.store, &edge.config, bad, T0).unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
    assert_eq!(
        edge.count("SELECT count(*) FROM vouchers"),
        0,
        "nothing imported"
    );
    let good = "code,type,duration_minutes,max_devices\nGOOD234567,time,60,2\n";
    let out = hotspot_edge::admin::import(&edge.store, &edge.config, good, T0).unwrap();
    assert_eq!(out, "1 vouchers imported, 0 already present\n");
    let out = hotspot_edge::admin::import(&edge.store, &edge.config, good, T0).unwrap();
    assert_eq!(out, "0 vouchers imported, 1 already present\n");

    let check = |now| hotspot_edge::admin::check(&edge.store, &edge.config, "good2-34567", now);
    let out = check(T0).unwrap();
    assert!(out.contains("code: GOOD2-34567"), "{out}");
    assert!(out.contains("first used: never"), "{out}");
    assert!(out.contains("now: a new device can use it now"), "{out}");
    assert_eq!(edge.guest(2).login("GOOD234567").await.status, 303);
    assert_eq!(edge.guest(3).login("GOOD234567").await.status, 303);
    let out = check(T0).unwrap();
    assert!(out.contains("devices: 2 of 2"), "{out}");
    assert!(
        out.contains("first used: 2026-11-23 12:00 UTC by 02:00:00:00:00:02"),
        "{out}"
    );
    assert!(out.contains("already in use on 2 devices"), "{out}");
    let out = check(T0 + 3600).unwrap();
    assert!(out.contains("now: This voucher has been used up."), "{out}");
    let out = hotspot_edge::admin::check(&edge.store, &edge.config, "NOPE2345", T0).unwrap();
    assert_eq!(out, "NOPE2-345: no such voucher\n");
    assert!(hotspot_edge::admin::check(&edge.store, &edge.config, "<x>", T0).is_err());
}
