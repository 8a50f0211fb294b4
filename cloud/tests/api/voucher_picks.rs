//! Printing a hand-picked selection of vouchers from the console's list: exactly the ticked
//! vouchers of the tenant, bounded, through the same browser without JavaScript as `console.rs`.

use uuid::Uuid;

use crate::console::Browser;
use crate::operators::Api;

/// `n` unused vouchers of tenant `t`'s first site, made by the owner: (id, code), oldest first.
async fn vouchers(api: &Api, t: Uuid, prefix: &str, n: i32) -> Vec<(Uuid, String)> {
    api.owner
        .query(
            "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes,
                                           price, created_at)
             SELECT $1, (SELECT id FROM hotspots WHERE tenant_id = $1 ORDER BY id LIMIT 1),
                    $2 || g, 60, 20, now() + g * interval '1 second'
             FROM generate_series(1, $3) g
             RETURNING id, voucher_code::text",
            &[&t, &prefix, &n],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn cards(body: &str) -> usize {
    body.matches("<div class=\"voucher\">").count()
}

#[tokio::test]
async fn a_hand_picked_selection_prints_exactly_those_vouchers_of_the_tenant() {
    let api = Api::new().await;
    api.user(api.a, "help@a.test", &["support_agent"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let a = vouchers(&api, api.a, "PICKA", 5).await;
    let b = vouchers(&api, api.b, "PICKB", 1).await;
    let mut help = Browser::new(&api);
    help.sign_in("help@a.test").await;

    // The list has a checkbox per voucher, tied to the print-selected form.
    let list = help.get("/console/vouchers").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("id=\"print-selected\""));
    for (id, _) in &a {
        assert!(
            list.body.contains(&format!(
                "name=\"id\" value=\"{id}\" form=\"print-selected\""
            )),
            "no checkbox for {id}"
        );
    }

    // Two of A's and one of B's ticked: A's two print, B's is simply absent.
    for layout in ["a4", "slip"] {
        let page = help
            .get(&format!(
                "/console/vouchers/print?picked=1&id={}&id={}&id={}&layout={layout}",
                a[3].0, a[1].0, b[0].0
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(cards(&page.body), 2, "{}", page.body);
        for (i, (_, code)) in a.iter().enumerate() {
            assert_eq!(
                page.body.contains(code.as_str()),
                i == 1 || i == 3,
                "{code}"
            );
        }
        assert!(!page.body.contains(&b[0].1));
        let sheet = if layout == "slip" { "slips" } else { "sheet" };
        assert!(
            page.body
                .contains(&format!("class=\"{sheet}\" id=\"cards\""))
        );
    }
    // A used voucher ticked prints too: the pick is the operator's.
    api.owner
        .execute(
            "UPDATE hotspot_vouchers SET is_used = true, used_at = now() WHERE id = $1",
            &[&a[0].0],
        )
        .await
        .unwrap();
    let page = help
        .get(&format!("/console/vouchers/print?id={}", a[0].0))
        .await;
    assert_eq!((page.status, cards(&page.body)), (200, 1));

    // None, a malformed id, or more than 200: the list again with the reason, nothing printed.
    let many: String = (0..201)
        .map(|_| format!("&id={}", Uuid::new_v4()))
        .collect();
    for (query, reason) in [
        ("picked=1&layout=a4".to_owned(), "tick at least one voucher"),
        (format!("picked=1&id={}&id=PICKA1", a[2].0), "not a voucher"),
        (format!("picked=1{many}"), "at most 200"),
    ] {
        let page = help.get(&format!("/console/vouchers/print?{query}")).await;
        assert_eq!(page.status, 422, "{query}: {}", page.body);
        assert!(page.body.contains(reason), "{query}: {}", page.body);
        assert_eq!(cards(&page.body), 0);
    }

    // Tenant B's administrator, with A's ids: nothing of A's prints.
    api.user(api.b, "boss@b.test", &["tenant_admin"]).await;
    let mut boss = Browser::new(&api);
    boss.sign_in("boss@b.test").await;
    let page = boss
        .get(&format!(
            "/console/vouchers/print?id={}&id={}",
            a[1].0, b[0].0
        ))
        .await;
    assert_eq!(cards(&page.body), 1);
    assert!(page.body.contains(&b[0].1) && !page.body.contains(&a[1].1));

    // A field technician reads the list without checkboxes and may not print.
    let mut tech = Browser::new(&api);
    tech.sign_in("tech@a.test").await;
    let list = tech.get("/console/vouchers").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains("print-selected") && !list.body.contains("name=\"id\""));
    let page = tech
        .get(&format!("/console/vouchers/print?id={}", a[1].0))
        .await;
    assert_eq!(page.status, 403);
}
