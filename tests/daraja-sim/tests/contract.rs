//! The simulator over real sockets, checked against the Daraja contract the product is built to.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use base64::Engine;
use chrono::{FixedOffset, Utc};
use daraja_sim::{Config, Sim, stk_password};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

struct Harness {
    base: String,
    http: reqwest::Client,
    /// Where callbacks go; every body posted there arrives on `received`.
    callback_base: String,
    received: mpsc::UnboundedReceiver<(String, Value)>,
}

async fn start(delay: Duration) -> Harness {
    start_with(delay, json!({"ResultCode": "0", "ResultDesc": "Accepted"})).await
}

async fn start_with(delay: Duration, validation_answer: Value) -> Harness {
    let sim = Sim::new(Config {
        result_delay: delay,
        ..Config::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(daraja_sim::serve(sim, listener, std::future::pending()));

    let (tx, received) = mpsc::unbounded_channel();
    let answer = validation_answer;
    let receiver = Router::new()
        .route(
            "/{*path}",
            post(
                |State((tx, answer)): State<(mpsc::UnboundedSender<(String, Value)>, Value)>,
                 uri: axum::http::Uri,
                 body: String| async move {
                    let v: Value = serde_json::from_str(&body).unwrap();
                    let _ = tx.send((uri.path().to_owned(), v));
                    axum::Json(answer)
                },
            ),
        )
        .with_state((tx, answer));
    let l2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback_base = format!("http://{}", l2.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l2, receiver).await });
    Harness {
        base,
        http: reqwest::Client::new(),
        callback_base,
        received,
    }
}

fn timestamp_in(offset_hours: i32) -> String {
    Utc::now()
        .with_timezone(&FixedOffset::east_opt(offset_hours * 3600).unwrap())
        .format("%Y%m%d%H%M%S")
        .to_string()
}

impl Harness {
    async fn token(&self) -> String {
        let v: Value = self
            .http
            .get(format!(
                "{}/oauth/v1/generate?grant_type=client_credentials",
                self.base
            ))
            .basic_auth("sim-key", Some("sim-secret"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    fn push_body(&self, phone: &str) -> Value {
        let ts = timestamp_in(3);
        json!({
            "BusinessShortCode": "174379",
            "Password": stk_password("174379", PASSKEY, &ts),
            "Timestamp": ts,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": 20,
            "PartyA": phone,
            "PartyB": "174379",
            "PhoneNumber": phone,
            "CallBackURL": format!("{}/cb/tok123", self.callback_base),
            "AccountReference": "HS-1HR",
            "TransactionDesc": "WiFi 1 hour",
        })
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn push(&self, token: &str, body: &Value) -> (u16, Value) {
        self.post("/mpesa/stkpush/v1/processrequest", token, body)
            .await
    }

    async fn query(&self, token: &str, checkout: &str) -> (u16, Value) {
        let ts = timestamp_in(3);
        let body = json!({
            "BusinessShortCode": "174379",
            "Password": stk_password("174379", PASSKEY, &ts),
            "Timestamp": ts,
            "CheckoutRequestID": checkout,
        });
        self.post("/mpesa/stkpushquery/v1/query", token, &body)
            .await
    }

    /// The next callback, or None after `wait`.
    async fn next_callback(&mut self, wait: Duration) -> Option<(String, Value)> {
        tokio::time::timeout(wait, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}

#[tokio::test]
async fn oauth_follows_daraja_including_its_quirks() {
    let h = start(Duration::from_millis(100)).await;
    let url = format!("{}/oauth/v1/generate?grant_type=client_credentials", h.base);
    let r = h.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "400.008.01");
    let r = h
        .http
        .get(format!("{}/oauth/v1/generate?grant_type=password", h.base))
        .basic_auth("sim-key", Some("sim-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "400.008.02");
    let r = h
        .http
        .get(&url)
        .basic_auth("sim-key", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.bytes().await.unwrap().is_empty(),
        "wrong keys: empty body"
    );

    let v: Value = h
        .http
        .get(&url)
        .basic_auth("sim-key", Some("sim-secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["expires_in"], "3599", "a string, as Daraja sends it");
    let first = v["access_token"].as_str().unwrap().to_owned();
    let second = h.token().await;
    let body = h.push_body("254708374149");
    let (status, v) = h.push(&first, &body).await;
    assert_eq!(
        (status, v["errorCode"].as_str()),
        (404, Some("404.001.03")),
        "old token invalidated"
    );
    let (status, _) = h.push(&second, &body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn stk_push_validates_fields_with_documented_errors() {
    let h = start(Duration::from_millis(100)).await;
    let token = h.token().await;
    let good = h.push_body("254708374149");

    let r = h
        .http
        .post(format!("{}/mpesa/stkpush/v1/processrequest", h.base))
        .bearer_auth(&token)
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["errorMessage"], "Bad Request - Invalid BusinessShortCode",
        "no content type"
    );

    let mut utc = good.clone();
    let ts = timestamp_in(0);
    utc["Timestamp"] = ts.clone().into();
    utc["Password"] = stk_password("174379", PASSKEY, &ts).into();
    assert_eq!(
        h.push(&token, &utc).await.1["errorMessage"],
        "Bad Request - Invalid Timestamp"
    );

    let mut wrong_pw = good.clone();
    wrong_pw["Password"] = base64::engine::general_purpose::STANDARD
        .encode("nope")
        .into();
    let (status, v) = h.push(&token, &wrong_pw).await;
    assert_eq!(
        (status, v["errorCode"].as_str()),
        (500, Some("500.001.1001"))
    );

    for (field, value, message) in [
        (
            "PhoneNumber",
            json!("0708374149"),
            "Bad Request - Invalid PhoneNumber",
        ),
        (
            "PartyA",
            json!("+254708374149"),
            "Bad Request - Invalid PartyA",
        ),
        ("Amount", json!(0), "Bad Request - Invalid Amount"),
        ("Amount", json!(10.5), "Bad Request - Invalid Amount"),
        (
            "TransactionType",
            json!("Pay"),
            "Bad Request - Invalid TransactionType",
        ),
        (
            "AccountReference",
            json!("THIRTEEN-CHAR"),
            "Bad Request - Invalid AccountReference",
        ),
        (
            "CallBackURL",
            json!("not a url"),
            "Bad Request - Invalid CallBackURL",
        ),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let (status, v) = h.push(&token, &body).await;
        assert_eq!(
            (status, v["errorMessage"].as_str()),
            (400, Some(message)),
            "{field}"
        );
        assert_eq!(v["errorCode"], "400.002.02");
    }
    let mut no_desc = good.clone();
    no_desc.as_object_mut().unwrap().remove("TransactionDesc");
    assert_eq!(
        h.push(&token, &no_desc).await.1["errorMessage"],
        "Bad Request - Invalid Remarks"
    );

    // Numbers as strings are accepted, as Daraja does.
    let mut strings = good.clone();
    strings["Amount"] = json!("20");
    strings["BusinessShortCode"] = json!(174379);
    assert_eq!(h.push(&token, &strings).await.0, 200);
}

#[tokio::test]
async fn a_successful_push_calls_back_with_metadata_and_query_agrees() {
    let mut h = start(Duration::from_millis(200)).await;
    let token = h.token().await;
    let (status, v) = h.push(&token, &h.push_body("254708374149")).await;
    assert_eq!(status, 200);
    assert_eq!(v["ResponseCode"], "0");
    let checkout = v["CheckoutRequestID"].as_str().unwrap().to_owned();
    assert!(checkout.starts_with("ws_CO_"));

    let (path, cb) = h
        .next_callback(Duration::from_secs(5))
        .await
        .expect("callback");
    assert_eq!(path, "/cb/tok123");
    let cb = &cb["Body"]["stkCallback"];
    assert_eq!(cb["CheckoutRequestID"], checkout.as_str());
    assert_eq!(cb["ResultCode"], 0);
    let items = cb["CallbackMetadata"]["Item"].as_array().unwrap();
    let item = |name: &str| items.iter().find(|i| i["Name"] == name).unwrap()["Value"].clone();
    assert_eq!(item("Amount").as_f64(), Some(20.0));
    assert_eq!(item("PhoneNumber").as_u64(), Some(254708374149));
    assert_eq!(item("MpesaReceiptNumber").as_str().unwrap().len(), 10);

    let (status, q) = h.query(&token, &checkout).await;
    assert_eq!((status, q["ResultCode"].as_str()), (200, Some("0")));
    assert!(
        h.next_callback(Duration::from_millis(500)).await.is_none(),
        "delivered once"
    );
}

#[tokio::test]
async fn each_phone_suffix_gives_its_result_code() {
    let mut h = start(Duration::from_millis(50)).await;
    let token = h.token().await;
    for (phone, code) in [
        ("254708371032", 1032),
        ("254708371037", 1037),
        ("254708370001", 1),
        ("254708372001", 2001),
        ("254708371001", 1001),
    ] {
        assert_eq!(h.push(&token, &h.push_body(phone)).await.0, 200);
        let (_, cb) = h
            .next_callback(Duration::from_secs(5))
            .await
            .expect("callback");
        assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], code, "{phone}");
        assert!(cb["Body"]["stkCallback"].get("CallbackMetadata").is_none());
    }
}

#[tokio::test]
async fn pending_queries_take_both_forms_and_the_subscriber_is_locked() {
    let h = start(Duration::from_secs(30)).await;
    let token = h.token().await;
    let (_, v) = h.push(&token, &h.push_body("254708374149")).await;
    let checkout = v["CheckoutRequestID"].as_str().unwrap().to_owned();
    let (s1, q1) = h.query(&token, &checkout).await;
    assert_eq!((s1, q1["ResultCode"].as_str()), (200, Some("4999")));
    let (s2, q2) = h.query(&token, &checkout).await;
    assert_eq!((s2, q2["errorCode"].as_str()), (500, Some("500.001.1001")));
    let (s3, q3) = h.query(&token, &checkout).await;
    assert_eq!(
        (s3, q3["ErrorCode"].as_str()),
        (500, Some("500.001.1001")),
        "capitalised keys"
    );

    let (status, v) = h.push(&token, &h.push_body("254708374149")).await;
    assert_eq!(
        (status, v["errorCode"].as_str()),
        (500, Some("500.001.1001")),
        "locked"
    );
    assert_eq!(h.query(&token, "ws_CO_unknown").await.0, 400);
}

#[tokio::test]
async fn callbacks_can_be_duplicated_or_lost() {
    let mut h = start(Duration::from_millis(100)).await;
    let token = h.token().await;
    let behave = |phone: &str, delivery: &str| json!({"phone": phone, "delivery": delivery});
    for b in [
        behave("254711000001", "twice"),
        behave("254711000002", "lost"),
    ] {
        let r = h
            .http
            .post(format!("{}/sim/behaviour", h.base))
            .json(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    h.push(&token, &h.push_body("254711000001")).await;
    let (_, a) = h
        .next_callback(Duration::from_secs(5))
        .await
        .expect("first");
    let (_, b) = h
        .next_callback(Duration::from_secs(5))
        .await
        .expect("duplicate");
    assert_eq!(a, b);

    let (_, v) = h.push(&token, &h.push_body("254711000002")).await;
    let checkout = v["CheckoutRequestID"].as_str().unwrap().to_owned();
    assert!(
        h.next_callback(Duration::from_millis(800)).await.is_none(),
        "lost"
    );
    let (_, q) = h.query(&token, &checkout).await;
    assert_eq!(q["ResultCode"], "0", "the query still knows the result");
}

#[tokio::test]
async fn c2b_registers_urls_then_validates_and_confirms() {
    let mut h = start(Duration::from_millis(100)).await;
    let token = h.token().await;
    let register = |confirmation: String| {
        json!({
            "ShortCode": "174379",
            "ResponseType": "Completed",
            "ConfirmationURL": confirmation,
            "ValidationURL": format!("{}/c2b/validate", h.callback_base),
        })
    };
    let (status, v) = h
        .post(
            "/mpesa/c2b/v1/registerurl",
            &token,
            &register(format!("{}/mpesa/confirm", h.callback_base)),
        )
        .await;
    assert_eq!(
        (status, v["errorMessage"].as_str()),
        (400, Some("Bad Request - Invalid ConfirmationURL"))
    );
    let (status, v) = h
        .post(
            "/mpesa/c2b/v1/registerurl",
            &token,
            &register(format!("{}/c2b/confirm", h.callback_base)),
        )
        .await;
    assert_eq!(
        (status, v["ResponseDescription"].as_str()),
        (200, Some("success"))
    );

    let simulate = json!({
        "ShortCode": "174379", "CommandID": "CustomerPayBillOnline", "Amount": 50,
        "Msisdn": "254708374149", "BillRefNumber": "HS-4821",
    });
    assert_eq!(
        h.post("/mpesa/c2b/v1/simulate", &token, &simulate).await.0,
        200
    );
    let (path, validation) = h
        .next_callback(Duration::from_secs(5))
        .await
        .expect("validation");
    assert_eq!(path, "/c2b/validate");
    assert_eq!(validation["BillRefNumber"], "HS-4821");
    assert_eq!(validation["TransAmount"], "50.00");
    assert_eq!(validation["MSISDN"], "2547 ***** 149", "masked");
    let (path, confirmation) = h
        .next_callback(Duration::from_secs(5))
        .await
        .expect("confirmation");
    assert_eq!(path, "/c2b/confirm");
    assert_eq!(confirmation["TransID"], validation["TransID"]);
}

#[tokio::test]
async fn c2b_rejected_at_validation_is_not_confirmed() {
    let mut h = start_with(
        Duration::from_millis(100),
        json!({"ResultCode": "C2B00012", "ResultDesc": "Rejected"}),
    )
    .await;
    let token = h.token().await;
    let register = json!({
        "ShortCode": "174379", "ResponseType": "Completed",
        "ConfirmationURL": format!("{}/c2b/confirm", h.callback_base),
        "ValidationURL": format!("{}/c2b/validate", h.callback_base),
    });
    assert_eq!(
        h.post("/mpesa/c2b/v2/registerurl", &token, &register)
            .await
            .0,
        200
    );
    let simulate = json!({
        "ShortCode": "174379", "CommandID": "CustomerPayBillOnline", "Amount": "50",
        "Msisdn": "254708374149", "BillRefNumber": "NOSUCH",
    });
    assert_eq!(
        h.post("/mpesa/c2b/v1/simulate", &token, &simulate).await.0,
        200
    );
    let (path, _) = h
        .next_callback(Duration::from_secs(5))
        .await
        .expect("validation");
    assert_eq!(path, "/c2b/validate");
    assert!(
        h.next_callback(Duration::from_millis(800)).await.is_none(),
        "no confirmation"
    );
    let records: Value = h
        .http
        .get(format!("{}/sim/c2b", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(records[0]["validation"], "C2B00012");
    assert_eq!(records[0]["confirmed"], false);
}
