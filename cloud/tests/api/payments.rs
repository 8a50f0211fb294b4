//! Guest purchases end to end: a claimed router asks for a purchase, the Daraja simulator (in
//! this process, over real sockets) pushes and calls back, the cloud settles, the router reads the
//! result; against a real PostgreSQL.

use std::time::Duration;

use chrono::Utc;
use hotspot_cloud::api::secrets::SecretsKey;
use hotspot_cloud::payments::PaymentsConfig;
use hotspot_cloud::sync::device;
use hotspot_shared::purchase::{PaymentFailure, PurchaseState, PurchaseStatus};
use hotspot_shared::sync::{Change, PullResponse};
use reqwest::Url;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::Browser;
use crate::helpers::{
    TEST_SECRETS_KEY, TestApp, TestDb, seed_tenant, spawn_app_with_payments,
    spawn_app_with_payments_on,
};
use crate::operators::PASSWORD;

const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

struct Site {
    app: TestApp,
    sim: Url,
    owner: tokio_postgres::Client,
    tenant: Uuid,
    token: String,
    package: Uuid,
}

fn http() -> reqwest::Client {
    hotspot_cloud::mpesa::client::http_client().unwrap()
}

async fn simulator() -> Url {
    let sim = daraja_sim::Sim::new(daraja_sim::Config {
        result_delay: Duration::from_millis(300),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(daraja_sim::serve(sim, listener, std::future::pending()));
    url
}

/// Quick timings so the reconciliation job acts within seconds.
fn config(sim: &Url, addr: std::net::SocketAddr) -> PaymentsConfig {
    PaymentsConfig {
        public_base_url: Some(Url::parse(&format!("http://{addr}/")).unwrap()),
        sandbox_url: sim.clone(),
        first_query_after: Duration::from_millis(2500),
        query_every: Duration::from_millis(500),
        query_max_every: Duration::from_millis(1000),
        give_up_after: Duration::from_secs(6),
        job_interval: Duration::from_millis(200),
        renewal_interval: None,
        ..PaymentsConfig::default()
    }
}

/// A tenant with M-Pesa set up for the simulator, a hotspot package of KES 20 and a router
/// claimed over HTTP.
async fn site() -> Site {
    site_with(config, TestDb::pool).await
}

/// [`site`] with the service's pool built by `pool`.
async fn site_on(pool: impl FnOnce(&TestDb) -> deadpool_postgres::Pool) -> Site {
    site_with(config, pool).await
}

/// [`site`] with the payments configured by `config` and the service's pool built by `pool`.
async fn site_with(
    config: fn(&Url, std::net::SocketAddr) -> PaymentsConfig,
    pool: impl FnOnce(&TestDb) -> deadpool_postgres::Pool,
) -> Site {
    let sim = simulator().await;
    let sim2 = sim.clone();
    let app = spawn_app_with_payments_on(move |addr| config(&sim2, addr), pool).await;
    let owner = app.owner().await;
    let tenant = seed_tenant(&owner, 1).await;
    let key = SecretsKey::from_bytes(TEST_SECRETS_KEY);
    owner
        .execute(
            "UPDATE mpesa_settings SET paybill_number = '174379', shortcode = '174379',
                 environment = 'sandbox', passkey = $2, consumer_key = $3, consumer_secret = $4
             WHERE tenant_id = $1",
            &[
                &tenant,
                &key.seal("mpesa_settings.passkey", PASSKEY.as_bytes()),
                &key.seal("mpesa_settings.consumer_key", b"sim-key"),
                &key.seal("mpesa_settings.consumer_secret", b"sim-secret"),
            ],
        )
        .await
        .unwrap();
    let package: Uuid = owner
        .query_one(
            "INSERT INTO service_packages (tenant_id, name, package_type, connection_type,
                 download_mbps, upload_mbps, price, duration_minutes)
             VALUES ($1, '1 Hour', 'hotspot', 'hotspot', 5, 2, 20, 60) RETURNING id",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0);
    let hotspot: Uuid = owner
        .query_one("SELECT id FROM hotspots WHERE tenant_id = $1", &[&tenant])
        .await
        .unwrap()
        .get(0);
    let code = device::create_claim_code(
        &app.pool,
        tenant,
        hotspot,
        None,
        Utc::now() + chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    let claimed: device::ClaimResponse = http()
        .post(app.url("/sync/v1/claim"))
        .json(&json!({"code": code.code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Site {
        app,
        sim,
        owner,
        tenant,
        token: claimed.token,
        package,
    }
}

fn request(package: Uuid, phone: &str) -> Value {
    json!({
        "version": 1,
        "request_id": Uuid::new_v4(),
        "package_id": package,
        "phone": phone,
        "mac": "a4:5e:60:c2:11:0b",
        "ip": "10.20.0.57",
    })
}

async fn post_purchase(s: &Site, body: &Value) -> (u16, Value) {
    let resp = http()
        .post(s.app.url("/sync/v1/purchases"))
        .bearer_auth(&s.token)
        .json(body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn start(s: &Site, phone: &str) -> PurchaseState {
    let (status, v) = post_purchase(s, &request(s.package, phone)).await;
    assert_eq!(status, 200, "{v}");
    serde_json::from_value(v).unwrap()
}

async fn state(s: &Site, id: Uuid) -> PurchaseState {
    let resp = http()
        .get(s.app.url(&format!("/sync/v1/purchases/{id}")))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Polls as the router does until the purchase is final.
async fn settled(s: &Site, id: Uuid, within: Duration) -> PurchaseState {
    let until = tokio::time::Instant::now() + within;
    loop {
        let st = state(s, id).await;
        if st.status.is_final() {
            return st;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "purchase {id} still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn behave(s: &Site, b: Value) {
    let resp = http()
        .post(s.sim.join("sim/behaviour").unwrap())
        .json(&b)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

async fn pushes(s: &Site, phone: &str) -> Vec<Value> {
    let all: Vec<Value> = http()
        .get(s.sim.join("sim/pushes").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all.into_iter().filter(|p| p["phone"] == phone).collect()
}

async fn count(s: &Site, sql: &str) -> i64 {
    s.owner.query_one(sql, &[]).await.unwrap().get(0)
}

/// The rows a payment writes, counted.
async fn footprint(s: &Site) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT count(*) FROM hotspot_vouchers WHERE mpesa_receipt_number IS NOT NULL
             OR payment_reference LIKE 'ws_CO_%'",
        "SELECT count(*) FROM wallet_transactions",
        "SELECT count(*) FROM billing_payments",
        "SELECT count(*) FROM hotspot_purchases WHERE status <> 'pending'",
    ] {
        out.push(count(s, sql).await);
    }
    out
}

fn success_body(checkout: &str, merchant: &str, amount: &str, receipt: &str) -> String {
    format!(
        r#"{{"Body":{{"stkCallback":{{"MerchantRequestID":"{merchant}","CheckoutRequestID":"{checkout}","ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{{"Item":[{{"Name":"Amount","Value":{amount}}},{{"Name":"MpesaReceiptNumber","Value":"{receipt}"}},{{"Name":"Balance"}},{{"Name":"TransactionDate","Value":20251124010203}},{{"Name":"PhoneNumber","Value":254700000000}}]}}}}}}}}"#
    )
}

async fn post_callback(url: &str, body: &str) -> u16 {
    http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Daraja's success callback for the simulator's `push`, with `amount` and `receipt`, posted to
/// the purchase's callback URL: the HTTP status.
async fn post_success(push: &Value, amount: &str, receipt: &str) -> u16 {
    let body = success_body(
        push["checkout_request_id"].as_str().unwrap(),
        push["merchant_request_id"].as_str().unwrap(),
        amount,
        receipt,
    );
    post_callback(push["callback_url"].as_str().unwrap(), &body).await
}

/// Whether the voucher reaches the router through the change log. A pull shows only changes
/// older than every transaction still open in the cluster (other tests run beside this one), so
/// it may take a few pulls.
async fn in_change_log(s: &Site, code: &str) -> bool {
    for _ in 0..50 {
        let pulled: PullResponse = http()
            .get(s.app.url("/sync/v1/changes?limit=500"))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if pulled
            .changes
            .iter()
            .any(|c| matches!(c, Change::VoucherUpsert(v) if v.code == code))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Daraja's success callback for `push` posted again much later: answered 200, and neither the
/// money footprint nor the purchase (`done`) changes.
async fn late_success_changes_nothing(s: &Site, push: &Value, receipt: &str, done: &PurchaseState) {
    let before = footprint(s).await;
    assert_eq!(post_success(push, "20.00", receipt).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(footprint(s).await, before);
    assert_eq!(state(s, done.purchase_id).await, *done);
}

#[tokio::test]
async fn every_outcome_reaches_the_router_with_the_right_result() {
    let s = site().await;
    let cases = [
        ("254700000010", None),
        ("254700001032", Some(PaymentFailure::Cancelled)),
        ("254700001037", Some(PaymentFailure::NoAnswer)),
        ("254700000001", Some(PaymentFailure::InsufficientFunds)),
        ("254700002001", Some(PaymentFailure::WrongPin)),
        ("254700001001", Some(PaymentFailure::SubscriberLocked)),
    ];
    let mut started = Vec::new();
    for (phone, want) in cases {
        let st = start(&s, phone).await;
        assert_eq!(st.status, PurchaseStatus::Pending, "{phone}");
        assert_eq!(st.amount_kes, 20);
        started.push((phone, want, st.purchase_id));
    }
    for (phone, want, id) in started {
        let st = settled(&s, id, Duration::from_secs(10)).await;
        match (want, st.status) {
            (None, PurchaseStatus::Paid { voucher, receipt }) => {
                assert_eq!(voucher.max_devices, 1);
                assert_eq!(voucher.duration_minutes, Some(60));
                assert_eq!(receipt.len(), 10, "the M-Pesa receipt");
                let row = s
                    .owner
                    .query_one(
                        "SELECT mpesa_receipt_number, payment_reference, hotspot_id = (SELECT
                                hotspot_id FROM hotspot_purchases WHERE id = $2)
                         FROM hotspot_vouchers WHERE id = $1",
                        &[&voucher.id, &id],
                    )
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some(&*receipt));
                assert!(row.get::<_, String>(1).starts_with("ws_CO_"));
                assert!(row.get::<_, bool>(2));
                let wallet: i64 = s
                    .owner
                    .query_one(
                        "SELECT count(*) FROM wallet_transactions WHERE mpesa_receipt_number = $1",
                        &[&receipt],
                    )
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(wallet, 2, "the credit and the payment");
                let paid: i64 = s
                    .owner
                    .query_one(
                        "SELECT count(*) FROM billing_payments
                         WHERE mpesa_receipt_number = $1 AND status = 'completed'",
                        &[&receipt],
                    )
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(paid, 1);
                assert!(
                    in_change_log(&s, &voucher.code).await,
                    "voucher {} not in the change log",
                    voucher.code
                );
            }
            (Some(reason), PurchaseStatus::Failed { reason: got }) => {
                assert_eq!(got, reason, "{phone}");
            }
            (want, got) => panic!("{phone}: wanted {want:?}, got {got:?}"),
        }
    }
    // Callbacks settled most of them (a query may win on a busy machine; same outcome).
    let by_callback = count(
        &s,
        "SELECT count(*) FROM hotspot_purchases WHERE settled_by = 'callback'",
    )
    .await;
    assert!(by_callback >= 1, "no purchase was settled by its callback");
}

/// A push Daraja answers slowly while every pooled connection is taken: the pool's bounded wait
/// must not lose the push's record (its checkout id), or the purchase would stay pending with
/// nothing to query Daraja with while the guest pays.
#[tokio::test]
async fn a_push_answered_while_the_pool_is_busy_keeps_its_checkout_id() {
    let s = site_on(|db| {
        hotspot_cloud::db::pool_with_wait(&db.url, 2, Some(Duration::from_millis(100))).unwrap()
    })
    .await;
    let phone = "254708374149";
    behave(&s, json!({"phone": phone, "answer_delay_ms": 1500})).await;
    let body = request(s.package, phone);
    let request_id = body["request_id"].as_str().unwrap().to_owned();
    let post = {
        let url = s.app.url("/sync/v1/purchases");
        let token = s.token.clone();
        tokio::spawn(async move {
            http()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    // The purchase row is committed and the push is out (its answer held): take both of the
    // pool's connections and keep them past the push's answer.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while count(
        &s,
        &format!("SELECT count(*) FROM hotspot_purchases WHERE request_id = '{request_id}'"),
    )
    .await
        == 0
    {
        assert!(tokio::time::Instant::now() < until, "no purchase row");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut held = Vec::new();
    while held.len() < 2 {
        if let Ok(c) = s.app.pool.get().await {
            held.push(c);
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the pool never came free"
        );
    }
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let recorded = count(
        &s,
        &format!(
            "SELECT count(*) FROM hotspot_purchases WHERE request_id = '{request_id}' \
             AND checkout_request_id IS NOT NULL"
        ),
    )
    .await;
    assert_eq!(recorded, 0, "recorded while the pool was held");
    drop(held);
    let status = post.await.unwrap();
    assert!(status == 200 || status == 503, "answer {status}");
    let (id, checkout): (Uuid, Option<String>) = {
        let row = s
            .owner
            .query_one(
                "SELECT id, checkout_request_id FROM hotspot_purchases WHERE request_id = $1::text::uuid",
                &[&request_id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let pushed = pushes(&s, phone).await;
    assert_eq!(pushed.len(), 1);
    assert_eq!(
        checkout.as_deref(),
        pushed[0]["checkout_request_id"].as_str(),
        "the push's checkout id recorded once the pool came free"
    );
    let done = settled(&s, id, Duration::from_secs(15)).await;
    assert!(
        matches!(done.status, PurchaseStatus::Paid { .. }),
        "{:?}",
        done.status
    );
}

#[tokio::test]
async fn a_duplicate_callback_and_a_late_one_change_nothing() {
    let s = site().await;
    let phone = "254700000020";
    behave(&s, json!({"phone": phone, "delivery": "twice"})).await;
    let st = start(&s, phone).await;
    let done = settled(&s, st.purchase_id, Duration::from_secs(10)).await;
    let PurchaseStatus::Paid { receipt, .. } = &done.status else {
        panic!("{done:?}");
    };
    // Both deliveries stored, the second recognised as a duplicate.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let processed = format!(
        "SELECT count(*) FROM mpesa_callbacks WHERE purchase_id = '{}' AND processed_at IS NOT NULL",
        st.purchase_id
    );
    while count(&s, &processed).await < 2 {
        assert!(tokio::time::Instant::now() < until, "second callback");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM mpesa_callbacks WHERE outcome = 'duplicate'"
        )
        .await,
        1
    );
    // Much later, the same callback again.
    let push = &pushes(&s, phone).await[0];
    late_success_changes_nothing(&s, push, receipt, &done).await;
}

#[tokio::test]
async fn a_lost_callback_is_settled_by_the_query_and_a_late_one_adds_only_the_receipt() {
    let s = site().await;
    let phone = "254700000030";
    behave(&s, json!({"phone": phone, "delivery": "lost"})).await;
    let st = start(&s, phone).await;
    let done = settled(&s, st.purchase_id, Duration::from_secs(10)).await;
    assert!(
        matches!(done.status, PurchaseStatus::Paid { .. }),
        "{done:?}"
    );
    let by: String = s
        .owner
        .query_one(
            "SELECT settled_by FROM hotspot_purchases WHERE id = $1",
            &[&st.purchase_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(by, "query");
    let push = &pushes(&s, phone).await[0];
    assert!(push["queries"].as_u64().unwrap() >= 1);
    assert_eq!(push["callbacks_sent"], 0);

    // The query reports no receipt: the purchase has none yet.
    let receipt_rows =
        "SELECT count(*) FROM hotspot_purchases WHERE mpesa_receipt_number IS NOT NULL";
    assert_eq!(count(&s, receipt_rows).await, 0);
    let receipt = push["receipt"].as_str().unwrap();
    let before = footprint(&s).await;
    // A wrong amount is not taken as this purchase's receipt.
    assert_eq!(post_success(push, "21.00", receipt).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&s, receipt_rows).await, 0);
    // The late callback: its receipt is recorded on every row of the sale, and nothing else
    // changes (no new rows, the same voucher).
    assert_eq!(post_success(push, "20.00", receipt).await, 200);
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while count(&s, receipt_rows).await == 0 {
        assert!(tokio::time::Instant::now() < until, "receipt not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(footprint(&s).await, before);
    let after = state(&s, st.purchase_id).await;
    match (&done.status, &after.status) {
        (
            PurchaseStatus::Paid { voucher: v1, .. },
            PurchaseStatus::Paid {
                voucher: v2,
                receipt: r2,
            },
        ) => {
            assert_eq!(v1, v2, "the same voucher");
            assert_eq!(r2, receipt);
        }
        other => panic!("{other:?}"),
    }
    for table in [
        "hotspot_vouchers",
        "billing_payments",
        "wallet_transactions",
    ] {
        let n = count(
            &s,
            &format!("SELECT count(*) FROM {table} WHERE mpesa_receipt_number = '{receipt}'"),
        )
        .await;
        let want = if table == "wallet_transactions" { 2 } else { 1 };
        assert_eq!(n, want, "{table}");
    }
    // The same callback once more changes nothing.
    late_success_changes_nothing(&s, push, receipt, &after).await;
}

#[tokio::test]
async fn a_push_with_no_result_fails_as_no_answer_in_time() {
    let s = site().await;
    let phone = "254700000040";
    // The guest's phone never settles within the time allowed, and no callback comes.
    behave(
        &s,
        json!({"phone": phone, "delivery": "lost", "delay_ms": 60_000}),
    )
    .await;
    let st = start(&s, phone).await;
    let done = settled(&s, st.purchase_id, Duration::from_secs(15)).await;
    assert_eq!(
        done.status,
        PurchaseStatus::Failed {
            reason: PaymentFailure::NoAnswer
        }
    );
    // It was asked, and "still processing" (both forms) never counted as a failure before then.
    assert!(pushes(&s, phone).await[0]["queries"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn forged_callbacks_change_nothing() {
    let s = site().await;
    let phone = "254700000050";
    behave(
        &s,
        json!({"phone": phone, "delivery": "lost", "delay_ms": 60_000}),
    )
    .await;
    let st = start(&s, phone).await;
    let push = &pushes(&s, phone).await[0];
    let url = push["callback_url"].as_str().unwrap();
    let checkout = push["checkout_request_id"].as_str().unwrap();
    let merchant = push["merchant_request_id"].as_str().unwrap();
    let callbacks_before = count(&s, "SELECT count(*) FROM mpesa_callbacks").await;
    let before = footprint(&s).await;

    // A wrong token: answered like any other, nothing stored.
    let base = url.rsplit_once('/').unwrap().0;
    let forged = success_body(checkout, merchant, "20.00", "FORGED0001");
    assert_eq!(
        post_callback(&format!("{base}/not-the-token"), &forged).await,
        200
    );
    assert_eq!(
        count(&s, "SELECT count(*) FROM mpesa_callbacks").await,
        callbacks_before
    );
    // The right token and a wrong amount: nothing issued, flagged for review.
    let cheap = success_body(checkout, merchant, "1.00", "FORGED0002");
    assert_eq!(post_callback(url, &cheap).await, 200);
    // The right token and another CheckoutRequestID.
    let other = success_body("ws_CO_000000000000", merchant, "20.00", "FORGED0003");
    assert_eq!(post_callback(url, &other).await, 200);
    // A malformed body: refused, nothing stored.
    assert_eq!(post_callback(url, "{\"Body\":{}}").await, 400);
    assert_eq!(post_callback(url, "not json").await, 400);

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(footprint(&s).await, before);
    assert_eq!(
        state(&s, st.purchase_id).await.status,
        PurchaseStatus::Pending
    );
    let review: Option<String> = s
        .owner
        .query_one(
            "SELECT review_reason FROM hotspot_purchases WHERE id = $1",
            &[&st.purchase_id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(review.unwrap().contains("differs"));
    // Operators find it among the purchases to review.
    let admin: Uuid = s
        .owner
        .query_one(
            "INSERT INTO users (tenant_id, email, full_name, roles)
             VALUES ($1, 'review@t1.test', 'Admin', '[\"tenant_admin\"]') RETURNING id",
            &[&s.tenant],
        )
        .await
        .unwrap()
        .get(0);
    s.owner
        .execute(
            "INSERT INTO api_tokens (tenant_id, user_id, token_hash, expires_at)
             VALUES ($1, $2, digest('hsk_review', 'sha256'), now() + interval '1 hour')",
            &[&s.tenant, &admin],
        )
        .await
        .unwrap();
    let listed: Value = http()
        .get(s.app.url("/api/v1/purchases?review=true"))
        .bearer_auth("hsk_review")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], json!(st.purchase_id));
    let outcomes: Vec<String> = s
        .owner
        .query(
            "SELECT outcome FROM mpesa_callbacks WHERE purchase_id = $1 ORDER BY received_at",
            &[&st.purchase_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(outcomes[0].starts_with("review"), "{outcomes:?}");
    assert_eq!(outcomes[1], "unknown");
}

#[tokio::test]
async fn a_double_tap_charges_once() {
    let s = site().await;
    let phone = "254700000060";
    behave(&s, json!({"phone": phone, "delay_ms": 3_000})).await;
    let body = request(s.package, "0700 000 060");
    // The same request twice at once, and again with a new request_id while the first is open.
    let (a, b) = tokio::join!(post_purchase(&s, &body), post_purchase(&s, &body));
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    assert_eq!(a.1["purchase_id"], b.1["purchase_id"]);
    let (c_status, c) = post_purchase(&s, &request(s.package, phone)).await;
    assert_eq!(c_status, 200);
    assert_eq!(c["purchase_id"], a.1["purchase_id"]);
    assert_eq!(pushes(&s, phone).await.len(), 1, "one push only");
    let id: Uuid = serde_json::from_value(a.1["purchase_id"].clone()).unwrap();
    let done = settled(&s, id, Duration::from_secs(10)).await;
    assert!(matches!(done.status, PurchaseStatus::Paid { .. }));
    // Retried after the answer: still the same purchase, nothing charged again.
    let (_, again) = post_purchase(&s, &body).await;
    assert_eq!(again["purchase_id"], a.1["purchase_id"]);
    assert_eq!(again["status"], "paid");
    assert_eq!(pushes(&s, phone).await.len(), 1);
    assert_eq!(
        count(&s, "SELECT count(*) FROM hotspot_purchases").await,
        2,
        "the fixture's and this one"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason() {
    let s = site().await;
    let mut body = request(s.package, "0612345678");
    let (status, v) = post_purchase(&s, &body).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (422, Some("invalid_phone")),
        "{v}"
    );
    body = request(Uuid::new_v4(), "0712345670");
    let (status, v) = post_purchase(&s, &body).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (404, Some("unknown_package"))
    );
    // A subscription package is not for sale at the hotspot.
    let home: Uuid = s
        .owner
        .query_one(
            "SELECT id FROM service_packages WHERE tenant_id = $1 AND name = 'Home 10'",
            &[&s.tenant],
        )
        .await
        .unwrap()
        .get(0);
    let (status, _) = post_purchase(&s, &request(home, "0712345670")).await;
    assert_eq!(status, 404);
    // A package sold only at another site is not for sale at this one; nothing is recorded.
    let purchases = count(&s, "SELECT count(*) FROM hotspot_purchases").await;
    s.owner
        .execute(
            "WITH h AS (INSERT INTO hotspots (tenant_id, name, location, ssid)
                        VALUES ($1, 'Market', 'Kisumu', 'Market') RETURNING id)
             INSERT INTO service_package_hotspots (tenant_id, service_package_id, hotspot_id)
             SELECT $1, $2, id FROM h",
            &[&s.tenant, &s.package],
        )
        .await
        .unwrap();
    let (status, v) = post_purchase(&s, &request(s.package, "0712345670")).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (404, Some("unknown_package")),
        "{v}"
    );
    assert_eq!(
        count(&s, "SELECT count(*) FROM hotspot_purchases").await,
        purchases
    );
    s.owner
        .execute("DELETE FROM service_package_hotspots", &[])
        .await
        .unwrap();
    body = request(s.package, "0712345670");
    body["version"] = 9.into();
    let (status, v) = post_purchase(&s, &body).await;
    assert_eq!((status, v["reason"].as_str()), (400, Some("invalid")));
    // No credential.
    let resp = http()
        .post(s.app.url("/sync/v1/purchases"))
        .json(&request(s.package, "0712345670"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Another hotspot's purchase is not found.
    let resp = http()
        .get(s.app.url(&format!("/sync/v1/purchases/{}", Uuid::new_v4())))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // M-Pesa switched off.
    s.owner
        .execute("UPDATE mpesa_settings SET is_active = false", &[])
        .await
        .unwrap();
    let (status, v) = post_purchase(&s, &request(s.package, "0712345670")).await;
    assert_eq!(
        (status, v["reason"].as_str()),
        (409, Some("payments_unavailable"))
    );
    assert!(pushes(&s, "254712345670").await.is_empty());
}

#[tokio::test]
async fn a_refused_push_fails_at_once() {
    let s = site().await;
    let phone = "254700000070";
    behave(&s, json!({"phone": phone, "reject_push": "400.002.02"})).await;
    let st = start(&s, phone).await;
    assert_eq!(
        st.status,
        PurchaseStatus::Failed {
            reason: PaymentFailure::PushRejected
        }
    );
}

/// Waits until the simulator has delivered `n` C2B payments; returns them.
async fn c2b_records(s: &Site, n: usize) -> Vec<Value> {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let all: Vec<Value> = http()
            .get(s.sim.join("sim/c2b").unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if all.len() >= n {
            return all;
        }
        assert!(tokio::time::Instant::now() < until, "C2B deliveries");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn c2b_pays_a_package_or_a_wallet_and_a_confirmation_counts_once() {
    use hotspot_cloud::mpesa::{DarajaClient, DarajaCredentials, TransactionType};
    let s = site().await;
    let daraja = DarajaClient::new(
        http(),
        s.sim.clone(),
        DarajaCredentials {
            consumer_key: "sim-key".into(),
            consumer_secret: "sim-secret".into(),
            shortcode: "174379".into(),
            passkey: PASSKEY.into(),
            transaction_type: TransactionType::PayBill,
            party_b: "174379".into(),
        },
        Default::default(),
    );
    // An administrator registers the C2B URLs (under /pay/: Daraja refuses URLs that say
    // "mpesa"), which gives the tenant a new callback token.
    let admin: Uuid = s
        .owner
        .query_one(
            "INSERT INTO users (tenant_id, email, full_name, roles)
             VALUES ($1, 'c2b-admin@t1.test', 'Admin', '[\"tenant_admin\"]') RETURNING id",
            &[&s.tenant],
        )
        .await
        .unwrap()
        .get(0);
    s.owner
        .execute(
            "INSERT INTO api_tokens (tenant_id, user_id, token_hash, expires_at)
             VALUES ($1, $2, digest('hsk_c2b_admin', 'sha256'), now() + interval '1 hour')",
            &[&s.tenant, &admin],
        )
        .await
        .unwrap();
    let resp = http()
        .post(s.app.url("/api/v1/mpesa-settings/register-c2b"))
        .bearer_auth("hsk_c2b_admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let registered: Value = resp.json().await.unwrap();
    let confirmation = Url::parse(registered["confirmation_url"].as_str().unwrap()).unwrap();
    assert!(confirmation.path().starts_with("/pay/c2b/confirmation/"));
    // The fixture's old token no longer works.
    let refused: Value = http()
        .post(s.app.url("/pay/c2b/validation/callback-t1"))
        .json(
            &json!({"TransID": "X1", "TransAmount": "20", "BusinessShortCode": "174379",
                      "BillRefNumber": "1hour"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["ResultCode"], "C2B00016");
    let token = daraja.token().await.unwrap();
    let pay = |amount: u32, account: &str| {
        let body = json!({"ShortCode": "174379", "CommandID": "CustomerPayBillOnline",
            "Amount": amount, "Msisdn": "254708374149", "BillRefNumber": account});
        let req = http()
            .post(s.sim.join("mpesa/c2b/v1/simulate").unwrap())
            .bearer_auth(&token)
            .json(&body);
        async move { assert!(req.send().await.unwrap().status().is_success()) }
    };
    let balance = || async {
        s.owner
            .query_one(
                "SELECT wallet_balance::text FROM clients WHERE phone = '254711000001'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    assert_eq!(balance().await, "3000.00");

    // A client's phone number as the account: the wallet is credited.
    pay(150, "0711 000 001").await;
    let recs = c2b_records(&s, 1).await;
    assert_eq!(recs[0]["validation"], "0");
    assert_eq!(recs[0]["confirmed"], true);
    assert_eq!(balance().await, "3150.00");
    let trans_id = recs[0]["trans_id"].as_str().unwrap().to_owned();
    let credits: i64 = s
        .owner
        .query_one(
            "SELECT count(*) FROM wallet_transactions
             WHERE mpesa_receipt_number = $1 AND transaction_type = 'credit'",
            &[&trans_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(credits, 1);

    // A package name as the account: a voucher of it for the hotspot.
    pay(20, "1 hour").await;
    let recs = c2b_records(&s, 2).await;
    assert_eq!(recs[1]["confirmed"], true);
    let voucher: i64 = s
        .owner
        .query_one(
            "SELECT count(*) FROM hotspot_vouchers v JOIN mpesa_c2b_payments c ON c.voucher_id = v.id
             WHERE c.trans_id = $1 AND v.max_devices = 1 AND v.mpesa_receipt_number = $1",
            &[&recs[1]["trans_id"].as_str().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(voucher, 1);

    // An account that names nothing, or too little for the package: refused at validation.
    pay(20, "NOBODY").await;
    pay(5, "1hour").await;
    let recs = c2b_records(&s, 4).await;
    let mut refused: Vec<&str> = recs[2..]
        .iter()
        .map(|r| r["validation"].as_str().unwrap())
        .collect();
    refused.sort_unstable();
    assert_eq!(refused, ["C2B00012", "C2B00013"]);
    assert!(recs[2..].iter().all(|r| r["confirmed"] == false));

    // The first confirmation delivered again, twice: nothing more is credited.
    let again = json!({"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20251124010203",
        "TransAmount": "150.00", "BusinessShortCode": "174379", "BillRefNumber": "0711 000 001",
        "InvoiceNumber": "", "OrgAccountBalance": "", "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 149", "FirstName": "JANE", "MiddleName": "", "LastName": ""});
    for _ in 0..2 {
        let resp = http()
            .post(confirmation.clone())
            .json(&again)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["ResultCode"], 0);
    }
    assert_eq!(balance().await, "3150.00");
    // A wrong token changes nothing either.
    let mut other = again.clone();
    other["TransID"] = "ZZZ0000001".into();
    let resp = http()
        .post(s.app.url("/pay/c2b/confirmation/wrong-token"))
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(balance().await, "3150.00");
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM mpesa_c2b_payments WHERE trans_id = 'ZZZ0000001'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn callbacks_from_outside_the_allowlist_are_refused() {
    let sim = simulator().await;
    let app = spawn_app_with_payments(move |addr| PaymentsConfig {
        allowlist: PaymentsConfig::parse_cidrs("safaricom").unwrap(),
        // The test's own address is a trusted proxy: its X-Forwarded-For is believed.
        trusted_proxies: PaymentsConfig::parse_cidrs("127.0.0.1").unwrap(),
        ..config(&sim, addr)
    })
    .await;
    let body = success_body("ws_CO_1", "m-1", "20.00", "ABC1234567");
    let resp = http()
        .post(app.url("/mpesa/callback/some-token"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = http()
        .post(app.url("/mpesa/callback/some-token"))
        .header("x-forwarded-for", "196.201.214.200")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "through the trusted proxy from Safaricom"
    );
    let resp = http()
        .post(app.url("/mpesa/callback/some-token"))
        .header("x-forwarded-for", "196.201.214.200, 203.0.113.5")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        403,
        "a spoofed left-most hop is not believed"
    );
}

#[tokio::test]
async fn operators_credit_wallets_record_payments_print_receipts_and_renew() {
    let api = crate::operators::Api::new().await;
    let admin = api.token(api.a, &["tenant_admin"]).await;
    let tech = api.token(api.a, &["field_tech"]).await;
    let client = api.id_of("clients", api.a).await;
    let other_client = api.id_of("clients", api.b).await;

    // Wallet credit (the fixture's client holds 3000).
    let credit =
        json!({"client_id": client, "amount": 250.5, "mpesa_receipt_number": "QWE123RTY9"});
    let (status, v) = api
        .post("/api/v1/wallet/credit", &admin, credit.clone())
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["wallet_balance"].as_f64(), Some(3250.5));
    let (status, _) = api.post("/api/v1/wallet/credit", &admin, credit).await;
    assert_eq!(status, 409, "the same receipt twice");
    let (status, _) = api
        .post(
            "/api/v1/wallet/credit",
            &admin,
            json!({"client_id": other_client, "amount": 10}),
        )
        .await;
    assert_eq!(status, 404, "another tenant's client");
    let (status, _) = api
        .post(
            "/api/v1/wallet/credit",
            &admin,
            json!({"client_id": client, "amount": -1}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = api
        .post(
            "/api/v1/wallet/credit",
            &tech,
            json!({"client_id": client, "amount": 1}),
        )
        .await;
    assert_eq!(status, 403);

    // A cash payment of the fixture's invoice (1500) marks it paid.
    let invoice = api.id_of("billing_invoices", api.a).await;
    let (status, paid) = api
        .post(
            "/api/v1/payments",
            &admin,
            json!({"client_id": client, "amount": 1500, "payment_method": "cash",
                   "purpose": "invoice", "invoice_id": invoice, "reference_number": "CASH-1"}),
        )
        .await;
    assert_eq!(status, 201, "{paid}");
    assert_eq!(
        api.count(&format!(
            "SELECT count(*) FROM billing_invoices WHERE id = '{invoice}' AND status = 'paid'"
        ))
        .await,
        1
    );
    // Paying from the wallet more than it holds is refused.
    let (status, _) = api
        .post(
            "/api/v1/payments",
            &admin,
            json!({"client_id": client, "amount": 999999, "payment_method": "wallet",
                   "purpose": "other"}),
        )
        .await;
    assert_eq!(status, 409);

    // Status, history and the printable receipt.
    let id = paid["id"].as_str().unwrap();
    let (status, st) = api
        .get(&format!("/api/v1/payments/{id}/status"), &admin)
        .await;
    assert_eq!((status, st["status"].as_str()), (200, Some("completed")));
    let (status, list) = api.get("/api/v1/payments?limit=10", &admin).await;
    assert_eq!(status, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == paid["id"])
    );
    let (status, ctype, html) = api
        .raw(
            reqwest::Method::GET,
            &format!("/api/v1/payments/{id}/receipt"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"));
    assert!(html.contains("CASH-1") && html.contains("1500"), "{html}");
    let (status, _) = api
        .get(
            &format!("/api/v1/payments/{}/status", Uuid::new_v4()),
            &admin,
        )
        .await;
    assert_eq!(status, 404);

    // Renewal from the wallet now, and the automatic run.
    let (status, r) = api
        .post(
            &format!("/api/v1/clients/{client}/renew"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["success"], true, "{r}");
    let (status, r) = api.post("/api/v1/renewals/run", &admin, json!({})).await;
    assert_eq!(status, 200, "{r}");
    assert!(r.get("renewed").is_some(), "{r}");
    let (status, _) = api.post("/api/v1/renewals/run", &tech, json!({})).await;
    assert_eq!(status, 403);
    // The jobs loop's run: every tenant.
    let n = hotspot_cloud::payments::jobs::run_renewals_once(&api.app.pool)
        .await
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_stored_callback_left_unprocessed_is_processed_by_the_job() {
    let s = site().await;
    let phone = "254700000080";
    // The simulator never calls back and settles late: only the stored callback can pay it.
    behave(
        &s,
        json!({"phone": phone, "delivery": "lost", "delay_ms": 60_000}),
    )
    .await;
    let st = start(&s, phone).await;
    let push = &pushes(&s, phone).await[0];
    let token = push["callback_url"]
        .as_str()
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .1
        .to_owned();
    let body = success_body(
        push["checkout_request_id"].as_str().unwrap(),
        push["merchant_request_id"].as_str().unwrap(),
        "20",
        "LATE000001",
    );
    // Stored as the endpoint stores it, but the task that would process it "died".
    hotspot_cloud::payments::callback::receive(&s.app.pool, &token, body.as_bytes(), None)
        .await
        .unwrap();
    let done = settled(&s, st.purchase_id, Duration::from_secs(5)).await;
    match done.status {
        PurchaseStatus::Paid { receipt, .. } => assert_eq!(receipt, "LATE000001"),
        other => panic!("{other:?}"),
    }
}

/// A console user of the site's tenant with `roles`, signed in.
async fn console_user(s: &Site, email: &str, roles: &[&str]) -> Browser {
    let hash = hotspot_cloud::db::demo::hash_password(PASSWORD).unwrap();
    s.owner
        .execute(
            "INSERT INTO users (tenant_id, email, password_hash, full_name, roles)
             VALUES ($1, $2, $3, 'Test User', $4)",
            &[&s.tenant, &email, &hash, &json!(roles)],
        )
        .await
        .unwrap();
    let mut b = Browser::at(&s.app);
    b.sign_in(email).await;
    b
}

async fn queries_of(s: &Site, phone: &str) -> u64 {
    pushes(s, phone).await[0]["queries"].as_u64().unwrap()
}

#[tokio::test]
async fn an_operator_queries_a_pending_purchase_now_from_the_console() {
    // The job would not query it for ten minutes: only the operator's query asks Daraja.
    let s = site_with(
        |sim, addr| PaymentsConfig {
            first_query_after: Duration::from_secs(600),
            query_every: Duration::from_secs(600),
            query_max_every: Duration::from_secs(600),
            give_up_after: Duration::from_secs(1200),
            ..config(sim, addr)
        },
        TestDb::pool,
    )
    .await;
    let mut cash = console_user(&s, "cash@t1.test", &["support_agent"]).await;
    let mut noc = console_user(&s, "noc@t1.test", &["noc_engineer"]).await;
    let phone = "254700005501";
    behave(
        &s,
        json!({"phone": phone, "delivery": "lost", "delay_ms": 3000}),
    )
    .await;
    let started = start(&s, phone).await;
    let id = started.purchase_id;
    for _ in 0..50 {
        if pushes(&s, phone).await.len() == 1
            && count(
                &s,
                &format!(
                    "SELECT count(*) FROM hotspot_purchases
                     WHERE id = '{id}' AND checkout_request_id IS NOT NULL"
                ),
            )
            .await
                == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let path = format!("/console/payments/{id}/query");
    let list = cash.get("/console/payments").await;
    assert!(
        list.body.contains(&format!("action=\"{path}\"")),
        "{}",
        list.body
    );
    let csrf = list.csrf();

    // Before Daraja has a result: asked once, still pending.
    let early = cash.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(early.status, 200, "{}", early.body);
    assert!(
        early.body.contains("M-Pesa has no result yet"),
        "{}",
        early.body
    );
    assert_eq!(queries_of(&s, phone).await, 1);
    assert_eq!(state(&s, id).await.status, PurchaseStatus::Pending);

    // The same query, refused without the form's token or to a role that does not see money:
    // Daraja is not asked.
    assert_eq!(cash.post(&path, &[("csrf", "forged")]).await.status, 403);
    let noc_csrf = noc.get("/console/").await.csrf();
    assert_eq!(noc.post(&path, &[("csrf", &noc_csrf)]).await.status, 403);
    let unknown = format!("/console/payments/{}/query", Uuid::new_v4());
    assert_eq!(cash.post(&unknown, &[("csrf", &csrf)]).await.status, 404);
    assert_eq!(
        cash.post("/console/payments/junk/query", &[("csrf", &csrf)])
            .await
            .status,
        404
    );
    assert_eq!(queries_of(&s, phone).await, 1);

    // Once Daraja has settled it (its callback lost): the query settles it as paid.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let paid = cash.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert!(
        paid.body.contains("M-Pesa says it was paid"),
        "{}",
        paid.body
    );
    assert_eq!(queries_of(&s, phone).await, 2);
    let done = state(&s, id).await;
    assert!(
        matches!(done.status, PurchaseStatus::Paid { .. }),
        "{done:?}"
    );
    assert!(!cash.get("/console/payments").await.body.contains(&path));

    // Asked again: no longer pending, nothing asked, nothing changed.
    let again = cash.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("no longer pending"));
    assert_eq!(queries_of(&s, phone).await, 2);
    assert_eq!(state(&s, id).await, done);
}
