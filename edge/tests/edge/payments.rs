//! The portal's M-Pesa side without a cloud behind it: what is offered, what bad input gets, and
//! how a purchase's page reads in each state. The whole flow with the cloud and the Daraja
//! simulator is a system test in the tests crate.

use crate::helpers::*;

/// A cloud URL on which nothing listens (a closed loopback port).
pub fn dead_cloud() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    url
}

pub fn add_packages(edge: &TestEdge) {
    edge.store
        .blocking(|c| {
            c.execute_batch(
                "INSERT INTO plans (id, name, duration_minutes, data_limit_mb, down_kbps, up_kbps,
                                    price, is_active, updated_at) VALUES
                 ('9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c01', 'Hour pass', 60, NULL, 2048, 1024, '20', 1, 0),
                 ('9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c02', 'Day pass', 1440, 2048, 5120, 2048, '50.00', 1, 0),
                 ('9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c03', 'Retired', 60, NULL, 0, 0, '10', 0, 0),
                 ('9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c04', 'Cents', 60, NULL, 0, 0, '9.50', 1, 0),
                 ('9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c05', 'Free', 60, NULL, 0, 0, '0', 1, 0);",
            )?;
            Ok(())
        })
        .unwrap();
}

pub fn buy_body(token: &str, package: &str, phone: &str, rid: &str) -> Vec<u8> {
    format!("package={package}&phone={phone}&rid={rid}&token={token}").into_bytes()
}

pub const HOUR: &str = "9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c01";
const RID: &str = "6d1f0c2a-3b4e-4f5a-9b8c-7d6e5f4a3b01";

#[tokio::test]
async fn without_a_cloud_there_is_nothing_for_sale() {
    let edge = spawn_edge("").await;
    add_packages(&edge);
    let g = edge.guest(2);
    let page = g.get("/", "10.0.0.1:2050").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("action=\"/buy\""), "{}", page.body);
    let token = page.token();
    let r = g
        .post("/buy", &buy_body(&token, HOUR, "0712345678", RID))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.contains("not available at this hotspot"),
        "{}",
        r.body
    );
    assert_eq!(edge.count("SELECT count(*) FROM purchases"), 0);
}

#[tokio::test]
async fn packages_for_sale_are_listed_with_prices_in_shillings() {
    let edge = spawn_edge_with_cloud(&dead_cloud()).await;
    add_packages(&edge);
    let g = edge.guest(2);
    let page = g.get("/", "10.0.0.1:2050").await;
    assert_eq!(page.status, 200);
    let b = &page.body;
    assert!(b.contains("action=\"/buy\""), "{b}");
    assert!(b.contains("Hour pass") && b.contains("KES 20"), "{b}");
    assert!(b.contains("Day pass") && b.contains("KES 50"), "{b}");
    assert!(b.contains("2048 MB"), "data limits are shown: {b}");
    // Inactive, free and priced-in-cents plans cannot be bought with M-Pesa.
    for hidden in ["Retired", "Cents", "Free"] {
        assert!(
            !b.contains(&format!("<span>{hidden}<br>")),
            "{hidden} is not for sale: {b}"
        );
    }
    // Cheapest first.
    assert!(b.find("Hour pass").unwrap() < b.find("Day pass").unwrap());
    // The voucher form is still there.
    assert!(b.contains("action=\"/login\""));
    let sw = g
        .get_with("/", "10.0.0.1:2050", "Accept-Language: sw\r\n")
        .await;
    assert!(sw.body.contains("Nunua kwa M-Pesa"), "{}", sw.body);
}

#[tokio::test]
async fn a_plan_pulled_from_the_cloud_shows_on_the_next_page_and_a_deleted_one_goes() {
    use hotspot_shared::sync::{Change, Plan};
    let edge = spawn_edge_with_cloud(&dead_cloud()).await;
    add_packages(&edge);
    let g = edge.guest(2);
    // The list is read once here and kept.
    let before = g.get("/", "10.0.0.1:2050").await;
    assert!(!before.body.contains("Week pass"), "{}", before.body);
    let week = uuid::Uuid::parse_str("9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c06").unwrap();
    let plan = Plan {
        id: week,
        name: "Week pass".into(),
        duration_minutes: Some(7 * 1440),
        data_limit_mb: None,
        down_kbps: 4096,
        up_kbps: 1024,
        price_minor: 25_000,
        currency: "KES".into(),
        active: true,
    };
    edge.sessions
        .apply_pull(vec![Change::PlanUpsert(plan)], vec![], "c1".into())
        .await
        .unwrap();
    let after = g.get("/", "10.0.0.1:2050").await;
    assert!(
        after.body.contains("Week pass") && after.body.contains("KES 250"),
        "{}",
        after.body
    );
    edge.sessions
        .apply_pull(vec![Change::PlanDelete { id: week }], vec![], "c2".into())
        .await
        .unwrap();
    let gone = g.get("/", "10.0.0.1:2050").await;
    assert!(!gone.body.contains("Week pass"), "{}", gone.body);
    assert!(gone.body.contains("Hour pass"), "{}", gone.body);
}

#[tokio::test]
async fn bad_purchase_input_gets_a_clear_4xx_and_changes_nothing() {
    let edge = spawn_edge_with_cloud(&dead_cloud()).await;
    add_packages(&edge);
    let g = edge.guest(2);
    let token = g.token().await;
    let firewall_calls = edge.firewall.calls().len();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "foreign number",
            buy_body(&token, HOUR, "0812345678", RID),
            400,
            "Kenyan mobile number",
        ),
        (
            "letters",
            buy_body(&token, HOUR, "call+me", RID),
            400,
            "Kenyan mobile number",
        ),
        (
            "empty number",
            buy_body(&token, HOUR, "", RID),
            400,
            "Enter your M-Pesa",
        ),
        (
            "unknown package",
            buy_body(
                &token,
                "9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c99",
                "0712345678",
                RID,
            ),
            400,
            "no longer for sale",
        ),
        (
            "inactive package",
            buy_body(
                &token,
                "9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c03",
                "0712345678",
                RID,
            ),
            400,
            "no longer for sale",
        ),
        (
            "bad request id",
            buy_body(&token, HOUR, "0712345678", "twice"),
            400,
            "not sent correctly",
        ),
        (
            "missing phone",
            format!("package={HOUR}&rid={RID}&token={token}").into_bytes(),
            400,
            "not sent correctly",
        ),
        (
            "wrong token",
            buy_body("00000000000000000000000000000000", HOUR, "0712345678", RID),
            403,
            "not sent correctly",
        ),
    ];
    for (what, body, status, says) in cases {
        let r = g.post("/buy", &body).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert!(r.body.contains(says), "{what}: {}", r.body);
        assert_eq!(edge.count("SELECT count(*) FROM purchases"), 0, "{what}");
    }
    // A good request while the cloud is unreachable: nothing charged, nothing stored.
    let r = g
        .post("/buy", &buy_body(&token, HOUR, "0712+345+678", RID))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("cannot be reached"), "{}", r.body);
    assert_eq!(edge.count("SELECT count(*) FROM purchases"), 0);
    assert_eq!(edge.firewall.calls().len(), firewall_calls);
    assert_eq!(edge.count("SELECT count(*) FROM sessions"), 0);
}

fn add_purchase(edge: &TestEdge, id: &str, mac: &str, status: &str, failure: Option<&str>) {
    let (id, mac, status, failure) = (
        id.to_owned(),
        mac.to_owned(),
        status.to_owned(),
        failure.map(str::to_owned),
    );
    edge.store
        .blocking(move |c| {
            c.execute(
                "INSERT INTO purchases (id, request_id, mac_address, ip_address, plan_id,
                                        phone_hint, amount_kes, status, failure, created_at,
                                        updated_at)
                 VALUES (?1, ?1, ?2, NULL, 'p', '0712 *** 678', 20, ?3, ?4, 0, 0)",
                rusqlite::params![id, mac, status, failure],
            )?;
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_purchase_page_says_where_the_payment_stands() {
    let edge = spawn_edge_with_cloud(&dead_cloud()).await;
    let g = edge.guest(2);
    let other = edge.guest(3);
    let id = "0b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d01";
    add_purchase(&edge, id, &g.mac.to_string(), "pending", None);
    let path = format!("/pay/{id}");

    let r = g.get(&path, "10.0.0.1:2050").await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Check your phone (0712 *** 678)"),
        "{}",
        r.body
    );
    assert!(r.body.contains("KES 20"));
    assert_eq!(
        r.header("refresh"),
        Some("3"),
        "the page polls without scripts"
    );

    // Someone else's purchase, a malformed id, an unknown id: back to the portal.
    for (who, p) in [
        (&other, path.clone()),
        (&g, "/pay/not-a-uuid".to_owned()),
        (&g, "/pay/0b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d99".to_owned()),
    ] {
        let r = who.get(&p, "10.0.0.1:2050").await;
        assert_eq!(r.status, 303, "{p}");
        assert_eq!(r.header("location"), Some("/"));
    }

    // Each failure gets its own sentence and a way to try again, without polling.
    for (failure, en, sw) in [
        ("cancelled", "You cancelled", "Umesitisha"),
        ("no_answer", "did not answer", "haikujibu"),
        ("insufficient_funds", "balance is not enough", "halitoshi"),
        ("wrong_pin", "PIN was wrong", "haikuwa sahihi"),
        (
            "subscriber_locked",
            "cannot reach your line",
            "haiwezi kufikia",
        ),
        ("push_rejected", "did not send the request", "haikutuma"),
    ] {
        let id = uuid::Uuid::new_v4().to_string();
        add_purchase(&edge, &id, &g.mac.to_string(), "failed", Some(failure));
        let r = g.get(&format!("/pay/{id}"), "10.0.0.1:2050").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains(en), "{failure}: {}", r.body);
        assert!(r.body.contains("id=\"retry\" href=\"/\""), "{failure}");
        assert_eq!(
            r.header("refresh"),
            None,
            "{failure}: a settled purchase stops polling"
        );
        let r = g
            .get_with(
                &format!("/pay/{id}"),
                "10.0.0.1:2050",
                "Accept-Language: sw\r\n",
            )
            .await;
        assert!(r.body.contains(sw), "{failure}: {}", r.body);
        assert!(r.body.contains("Jaribu tena"), "{failure}");
    }
}

#[tokio::test]
async fn a_paid_buyer_not_yet_online_is_let_in_by_the_status_page() {
    // As after a crash between storing the paid voucher and the login.
    let edge = spawn_edge_with_cloud(&dead_cloud()).await;
    edge.import("code,type,duration_minutes\nPAID234567,time,60\n");
    let g = edge.guest(4);
    let id = "0b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d04";
    add_purchase(&edge, id, &g.mac.to_string(), "pending", None);
    edge.store
        .blocking(move |c| {
            c.execute(
                "UPDATE purchases SET status = 'paid', voucher_code = 'PAID234567',
                 receipt = 'UAB1C2D3E4' WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
        .unwrap();
    assert!(edge.granted().is_empty());
    let r = g.get(&format!("/pay/{id}"), "10.0.0.1:2050").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/status"));
    assert_eq!(edge.granted(), [g.mac.to_string()]);
    // Asking again does not start a second session.
    let r = g.get(&format!("/pay/{id}"), "10.0.0.1:2050").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        edge.count("SELECT count(*) FROM sessions WHERE session_status = 'active'"),
        1
    );
}
