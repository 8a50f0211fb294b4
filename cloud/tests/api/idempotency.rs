//! A wallet credit or a renewal sent twice under one key (the API's `Idempotency-Key`, the
//! console's form key) moves money once; the key used for another request is refused.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::Browser;
use crate::operators::Api;

async fn send(api: &Api, path: &str, token: &str, key: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = api
        .http
        .post(api.app.url(path))
        .bearer_auth(token)
        .json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wallet(api: &Api, client: Uuid) -> (String, i64) {
    let r = api
        .owner
        .query_one(
            "SELECT wallet_balance::text,
                    (SELECT count(*) FROM wallet_transactions WHERE client_id = c.id)
             FROM clients c WHERE id = $1",
            &[&client],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test]
async fn a_credit_or_a_renewal_sent_twice_under_one_key_is_done_once() {
    let api = Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let client = api.id_of("clients", api.a).await;
    let other = api.id_of("clients", api.b).await;
    let b_admin = api.token(api.b, &["tenant_admin"]).await;
    let key = Uuid::new_v4().to_string();
    let credit = json!({"client_id": client, "amount": 100});
    let (status, first) = send(
        &api,
        "/api/v1/wallet/credit",
        &admin,
        Some(&key),
        credit.clone(),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let after_first = wallet(&api, client).await;
    let (status, again) = send(
        &api,
        "/api/v1/wallet/credit",
        &admin,
        Some(&key),
        credit.clone(),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["transaction"]["id"], first["transaction"]["id"]);
    assert_eq!(again["wallet_balance"], first["wallet_balance"]);
    assert_eq!(wallet(&api, client).await, after_first, "credited once");
    // The key on another request: 409, nothing done.
    let (status, _) = send(
        &api,
        "/api/v1/wallet/credit",
        &admin,
        Some(&key),
        json!({"client_id": client, "amount": 999}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(wallet(&api, client).await, after_first);
    // Not a UUID: 422, nothing done.
    let (status, body) = send(
        &api,
        "/api/v1/wallet/credit",
        &admin,
        Some("twice"),
        credit.clone(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(wallet(&api, client).await, after_first);
    // Keys are the tenant's own: another tenant's use of the same key is its own request.
    let (status, body) = send(
        &api,
        "/api/v1/wallet/credit",
        &b_admin,
        Some(&key),
        json!({"client_id": other, "amount": 5}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("replayed").is_none());

    // A renewal under a key: once, and the replay tells the same period.
    let renew = format!("/api/v1/clients/{client}/renew");
    let rkey = Uuid::new_v4().to_string();
    let (status, done) = send(&api, &renew, &admin, Some(&rkey), json!({})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["success"], true, "{done}");
    let after_renewal = wallet(&api, client).await;
    let (status, replay) = send(&api, &renew, &admin, Some(&rkey), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(replay["replayed"], true, "{replay}");
    assert_eq!(wallet(&api, client).await, after_renewal, "debited once");
    let end: chrono::DateTime<chrono::Utc> = api
        .owner
        .query_one(
            "SELECT subscription_end_date FROM clients WHERE id = $1",
            &[&client],
        )
        .await
        .unwrap()
        .get(0);
    let replayed_end =
        chrono::DateTime::parse_from_rfc3339(replay["subscription_end_date"].as_str().unwrap())
            .unwrap();
    assert_eq!(replayed_end, end);
    // A credit's key is not a renewal's.
    let (status, _) = send(&api, &renew, &admin, Some(&key), json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(wallet(&api, client).await, after_renewal);
}

#[tokio::test]
async fn the_consoles_credit_and_renewal_forms_act_once_however_often_sent() {
    let api = Api::new().await;
    api.user(api.a, "money@a.test", &["support_agent"]).await;
    let client = api.id_of("clients", api.a).await;
    let mut a = Browser::new(&api);
    a.sign_in("money@a.test").await;
    let path = format!("/console/clients/{client}");
    let page = a.get(&path).await;
    let keys: Vec<String> = page
        .body
        .split("name=\"key\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 2, "a key in each money form");
    assert_ne!(keys[0], keys[1]);
    let csrf = page.csrf();
    let start = wallet(&api, client).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("amount", "40"),
        ("key", keys[0].as_str()),
    ];
    for _ in 0..3 {
        let sent = a.post(&format!("{path}/credit"), &form).await;
        assert_eq!(sent.status, 303, "{}", sent.body);
    }
    let credited = wallet(&api, client).await;
    assert_eq!(credited.1, start.1 + 1, "one transaction for three taps");
    // The same key with another amount (the back button, the amount changed): refused.
    let changed = a
        .post(
            &format!("{path}/credit"),
            &[("csrf", &csrf), ("amount", "41"), ("key", &keys[0])],
        )
        .await;
    assert_eq!(changed.status, 409);
    assert!(changed.body.contains("out of date"));
    let bad = a
        .post(
            &format!("{path}/credit"),
            &[("csrf", &csrf), ("amount", "41"), ("key", "x")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(wallet(&api, client).await, credited);
    let renew = [("csrf", csrf.as_str()), ("key", keys[1].as_str())];
    for _ in 0..2 {
        let sent = a.post(&format!("{path}/renew"), &renew).await;
        assert_eq!(sent.status, 303, "{}", sent.body);
    }
    assert_eq!(wallet(&api, client).await.1, credited.1 + 1, "renewed once");
    // A fresh page has fresh keys.
    let fresh = a.get(&path).await;
    assert!(!fresh.body.contains(&keys[0]) && !fresh.body.contains(&keys[1]));
}
