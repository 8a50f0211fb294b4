//! The C2B (paybill) payments filtered: in the console (what each was applied to, a receipt, an
//! account number or a phone, the tenant's days; the export with the same filters) and through
//! the API's own list (`GET /api/v1/c2b-payments`, cursor-paged), each kept to its tenant.

use uuid::Uuid;

use crate::console::Browser;
use crate::operators::Api;

/// A C2B payment of `tenant` received `hours_ago`, with the payer's number in its confirmation.
async fn c2b(api: &Api, tenant: Uuid, receipt: &str, applied: &str, account: &str, hours_ago: i32) {
    api.owner
        .execute(
            "INSERT INTO mpesa_c2b_payments (tenant_id, trans_id, amount, bill_ref_number,
                 applied_to, created_at)
             VALUES ($1, $2, 100, $3, $4, now() - make_interval(hours => $5))",
            &[&tenant, &receipt, &account, &applied, &hours_ago],
        )
        .await
        .unwrap();
    api.owner
        .execute(
            "INSERT INTO mpesa_callbacks (tenant_id, kind, reference, body)
             VALUES ($1, 'c2b_confirmation', $2::text,
                     jsonb_build_object('MSISDN', '2547220000' || right($2::text, 2)))",
            &[&tenant, &receipt],
        )
        .await
        .unwrap();
}

/// The receipts of ours (`RQ` and eight digits) a page or a CSV shows, in order; anything
/// else that happens to hold "RQ" (a random CSRF token) is not one.
fn receipts(body: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for piece in body.split("RQ").skip(1) {
        let digits = piece
            .as_bytes()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let r = format!("RQ{}", &piece[..digits.min(8)]);
        if digits >= 8 && found.last() != Some(&r) {
            found.push(r);
        }
    }
    found
}

#[tokio::test]
async fn c2b_payments_are_filtered_in_the_console_and_listed_by_the_api() {
    let api = Api::new().await;
    api.user(api.a, "cash@a.test", &["support_agent"]).await;
    c2b(&api, api.a, "RQ00000011", "voucher", "DAY", 1).await;
    c2b(&api, api.a, "RQ00000012", "unmatched", "HOUSE-12", 2).await;
    c2b(&api, api.a, "RQ00000013", "wallet", "ACC-77", 50).await;
    c2b(&api, api.b, "RQ00000021", "unmatched", "HOUSE-12", 1).await;

    let mut a = Browser::new(&api);
    a.sign_in("cash@a.test").await;
    let page = |q: &str| format!("/console/payments/c2b?{q}");
    let all = a.get(&page("")).await;
    assert_eq!(all.status, 200);
    assert!(all.body.contains("id=\"c2b-filters\""));
    assert_eq!(
        receipts(&all.body),
        ["RQ00000011", "RQ00000012", "RQ00000013"]
    );
    for (q, expected) in [
        ("applied_to=unmatched", vec!["RQ00000012"]),
        ("applied_to=wallet", vec!["RQ00000013"]),
        ("q=rq00000013", vec!["RQ00000013"]),
        ("q=house", vec!["RQ00000012"]),
        ("q=0722+000+012", vec!["RQ00000012"]),
        ("q=%2B254722000011", vec!["RQ00000011"]),
        ("q=nothing-like-it", vec![]),
        ("q=house&applied_to=voucher", vec![]),
    ] {
        let found = a.get(&page(q)).await;
        assert_eq!(found.status, 200, "{q}");
        assert_eq!(receipts(&found.body), expected, "{q}");
        // The next page and the export keep the filters.
        assert!(
            found.body.contains(&format!(
                "/console/payments/c2b/export.csv?applied_to={}",
                q.split("applied_to=").nth(1).unwrap_or("")
            )) || !q.starts_with("applied_to"),
            "{q}"
        );
    }
    // Days are the tenant's: two days ago holds only the older one.
    let day = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    let older = a
        .get(&page(&format!("from={}&to={}", day(4), day(1))))
        .await;
    assert_eq!(receipts(&older.body), ["RQ00000013"]);
    // A filter it cannot read: 422 and no rows.
    let long = format!("q={}", "x".repeat(101));
    for bad in ["applied_to=stolen", "from=3/12/2026", long.as_str()] {
        let refused = a.get(&page(bad)).await;
        assert_eq!(refused.status, 422, "{bad}");
        assert!(receipts(&refused.body).is_empty(), "{bad}");
    }
    // The export with the list's filters.
    let csv = a
        .get("/console/payments/c2b/export.csv?applied_to=unmatched&q=&from=&to=")
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(receipts(&csv.body), ["RQ00000012"]);
    assert_eq!(
        a.get("/console/payments/c2b/export.csv?applied_to=stolen")
            .await
            .status,
        422
    );

    // The API: Finance roles, the same filters, cursor pages, this tenant's only.
    let token = api.token(api.a, &["support_agent"]).await;
    let (status, one) = api.get("/api/v1/c2b-payments?q=RQ00000011", &token).await;
    assert_eq!(status, 200, "{one}");
    let item = &one["items"][0];
    assert_eq!(
        (
            &item["trans_id"],
            &item["applied_to"],
            &item["phone"],
            &item["amount"]
        ),
        (
            &"RQ00000011".into(),
            &"voucher".into(),
            &"254722000011".into(),
            &"100.00".into()
        )
    );
    let (status, body) = api.get("/api/v1/c2b-payments?limit=2", &token).await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let cursor = body["next_cursor"].as_str().expect("a next page");
    let mut seen: Vec<String> = items
        .iter()
        .map(|i| i["trans_id"].as_str().unwrap().to_owned())
        .collect();
    let mut next = Some(cursor.to_owned());
    while let Some(c) = next {
        let (status, body) = api
            .get(&format!("/api/v1/c2b-payments?limit=2&cursor={c}"), &token)
            .await;
        assert_eq!(status, 200, "{body}");
        for i in body["items"].as_array().unwrap() {
            seen.push(i["trans_id"].as_str().unwrap().to_owned());
        }
        next = body["next_cursor"].as_str().map(str::to_owned);
    }
    for ours in ["RQ00000011", "RQ00000012", "RQ00000013", "C2Bt1"] {
        assert!(seen.contains(&ours.to_owned()), "{ours}: {seen:?}");
    }
    assert!(!seen.contains(&"RQ00000021".to_owned()), "not B's");
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "each once over the pages");
    let (_, body) = api.get("/api/v1/c2b-payments?q=0722000012", &token).await;
    let found: Vec<_> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["trans_id"].clone())
        .collect();
    assert_eq!(found, ["RQ00000012"]);
    for bad in [
        "applied_to=stolen",
        "cursor=junk",
        "limit=0",
        "from=yesterday",
        "color=red",
    ] {
        let (status, body) = api
            .get(&format!("/api/v1/c2b-payments?{bad}"), &token)
            .await;
        assert!(status == 422 || status == 400, "{bad}: {status} {body}");
    }
    let noc = api.token(api.a, &["noc_engineer"]).await;
    assert_eq!(api.get("/api/v1/c2b-payments", &noc).await.0, 403);
}

async fn c2b_row(api: &Api, receipt: &str) -> (Uuid, String, Option<Uuid>) {
    let r = api
        .owner
        .query_one(
            "SELECT id, applied_to::text, client_id FROM mpesa_c2b_payments WHERE trans_id = $1",
            &[&receipt],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

#[tokio::test]
async fn an_unmatched_payment_is_credited_by_hand_to_the_client_with_that_phone_once() {
    let api = Api::new().await;
    api.user(api.a, "cash@a.test", &["support_agent"]).await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    c2b(&api, api.a, "RQ00000031", "unmatched", "WRONG-ACC", 1).await;
    c2b(&api, api.a, "RQ00000032", "unmatched", "WRONG-ACC", 2).await;
    c2b(&api, api.b, "RQ00000041", "unmatched", "WRONG-ACC", 1).await;
    let (client, phone): (Uuid, String) = {
        let r = api
            .owner
            .query_one(
                "SELECT id, phone::text FROM clients WHERE tenant_id = $1
                 ORDER BY created_at LIMIT 1",
                &[&api.a],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    let balance = || async {
        api.owner
            .query_one(
                "SELECT wallet_balance::text FROM clients WHERE id = $1",
                &[&client],
            )
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    let before = balance().await;
    let mut a = Browser::new(&api);
    a.sign_in("cash@a.test").await;
    let list = a.get("/console/payments/c2b").await;
    let (id, _, _) = c2b_row(&api, "RQ00000031").await;
    let action = format!("/console/payments/c2b/{id}/apply");
    assert!(list.body.contains(&format!("action=\"{action}\"")));
    let csrf = list.csrf();
    // Refusals: the list again with the reason, nothing changed.
    for (number, status, reason) in [
        ("12345", 422, "not a Kenyan mobile number"),
        ("0799 000 111", 422, "No client has that phone"),
    ] {
        let refused = a.post(&action, &[("csrf", &csrf), ("phone", number)]).await;
        assert_eq!(refused.status, status, "{number}");
        assert!(refused.body.contains(reason), "{number}");
    }
    assert_eq!(a.post(&action, &[("phone", &phone)]).await.status, 403);
    let mut noc = Browser::new(&api);
    noc.sign_in("noc@a.test").await;
    let noc_csrf = noc.get("/console/").await.csrf();
    let refused = noc
        .post(&action, &[("csrf", &noc_csrf), ("phone", &phone)])
        .await;
    assert_eq!(refused.status, 403);
    let (b_id, _, _) = c2b_row(&api, "RQ00000041").await;
    let other = a
        .post(
            &format!("/console/payments/c2b/{b_id}/apply"),
            &[("csrf", &csrf), ("phone", &phone)],
        )
        .await;
    assert_eq!(other.status, 404, "another tenant's payment");
    assert_eq!(c2b_row(&api, "RQ00000031").await.1, "unmatched");
    assert_eq!(c2b_row(&api, "RQ00000041").await.1, "unmatched");
    assert_eq!(balance().await, before);

    // Applied: to the client's page, the wallet up by the payment, the payment a wallet credit.
    let local = format!("0{}", &phone[3..]);
    let done = a.post(&action, &[("csrf", &csrf), ("phone", &local)]).await;
    assert_eq!(
        (done.status, done.location()),
        (
            303,
            format!("/console/clients/{client}?done=credited").as_str()
        )
    );
    let after: f64 = balance().await.parse().unwrap();
    assert!((after - before.parse::<f64>().unwrap() - 100.0).abs() < 0.001);
    assert_eq!(
        c2b_row(&api, "RQ00000031").await,
        (id, "wallet".into(), Some(client))
    );
    let page = a.get(&format!("/console/clients/{client}")).await;
    assert!(
        page.body.contains("RQ00000031"),
        "the credit in the client's history"
    );
    // Again: already applied, nothing more.
    let again = a.post(&action, &[("csrf", &csrf), ("phone", &phone)]).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already applied"));
    assert_eq!(balance().await.parse::<f64>().unwrap(), after);

    // A receipt already credited by hand on the client's page: not credited twice.
    let token = api.token(api.a, &["tenant_admin"]).await;
    let (status, _) = api
        .post(
            "/api/v1/wallet/credit",
            &token,
            serde_json::json!({"client_id": client, "amount": 100,
                               "mpesa_receipt_number": "RQ00000032"}),
        )
        .await;
    assert_eq!(status, 200);
    let credited = balance().await;
    let (id2, _, _) = c2b_row(&api, "RQ00000032").await;
    let twice = a
        .post(
            &format!("/console/payments/c2b/{id2}/apply"),
            &[("csrf", &csrf), ("phone", &phone)],
        )
        .await;
    assert_eq!(twice.status, 409);
    assert!(twice.body.contains("already credited"));
    assert_eq!(balance().await, credited);
    assert_eq!(c2b_row(&api, "RQ00000032").await.1, "unmatched");
}
