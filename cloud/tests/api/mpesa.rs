//! The Daraja client against the Daraja simulator over real sockets.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use hotspot_cloud::mpesa::callback::parse_stk_callback;
use hotspot_cloud::mpesa::client::http_client;
use hotspot_cloud::mpesa::{
    C2bResponseType, DarajaClient, DarajaCredentials, MpesaError, QueryResult, ResultCode, StkPush,
    TokenCache, TransactionType,
};
use hotspot_shared::phone::Msisdn;
use reqwest::Url;
use tokio::sync::mpsc;

const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

async fn simulator(delay: Duration) -> Url {
    let sim = daraja_sim::Sim::new(daraja_sim::Config {
        result_delay: delay,
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(daraja_sim::serve(sim, listener, std::future::pending()));
    url
}

fn creds(secret: &str, passkey: &str) -> DarajaCredentials {
    DarajaCredentials {
        consumer_key: "sim-key".into(),
        consumer_secret: secret.into(),
        shortcode: "174379".into(),
        passkey: passkey.into(),
        transaction_type: TransactionType::PayBill,
        party_b: "174379".into(),
    }
}

fn client(base: &Url, tokens: &Arc<TokenCache>) -> DarajaClient {
    DarajaClient::new(
        http_client().unwrap(),
        base.clone(),
        creds("sim-secret", PASSKEY),
        Arc::clone(tokens),
    )
}

fn push(phone: &str, callback: &str) -> StkPush {
    StkPush {
        phone: Msisdn::parse(phone).unwrap(),
        amount_kes: 20,
        account_reference: "HOTSPOT-1-HOUR".into(),
        description: "WiFi package, one hour".into(),
        callback_url: Url::parse(callback).unwrap(),
    }
}

async fn oauth_calls(base: &Url) -> u64 {
    let v: serde_json::Value = reqwest::get(base.join("sim/stats").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["oauth_calls"].as_u64().unwrap()
}

/// A callback receiver: every body posted to it arrives on the channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Vec<u8>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/cb/{token}",
        post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.to_vec());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb/t0k3n", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn concurrent_pushes_share_one_token() {
    let base = simulator(Duration::from_secs(30)).await;
    let tokens = Arc::new(TokenCache::default());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = client(&base, &tokens);
        tasks.push(tokio::spawn(async move {
            c.stk_push(&push(&format!("07123456{i:02}"), "http://127.0.0.1:9/cb/x"))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(oauth_calls(&base).await, 1);
}

#[tokio::test]
async fn a_token_invalidated_by_another_replica_is_replaced_once() {
    let base = simulator(Duration::from_secs(30)).await;
    let a = client(&base, &Arc::new(TokenCache::default()));
    let b = client(&base, &Arc::new(TokenCache::default()));
    a.token().await.unwrap();
    b.token().await.unwrap(); // invalidates a's token at Daraja
    let accepted = a
        .stk_push(&push("0712345678", "http://127.0.0.1:9/cb/x"))
        .await
        .unwrap();
    assert!(accepted.checkout_request_id.starts_with("ws_CO_"));
    assert_eq!(oauth_calls(&base).await, 3);
}

#[tokio::test]
async fn wrong_keys_and_wrong_passkey_are_typed_errors() {
    let base = simulator(Duration::from_secs(1)).await;
    let tokens = Arc::new(TokenCache::default());
    let bad_secret = DarajaClient::new(
        http_client().unwrap(),
        base.clone(),
        creds("nope", PASSKEY),
        Arc::clone(&tokens),
    );
    assert!(matches!(
        bad_secret.token().await,
        Err(MpesaError::BadCredentials)
    ));
    let bad_passkey = DarajaClient::new(
        http_client().unwrap(),
        base.clone(),
        creds("sim-secret", "wrong-passkey"),
        Arc::new(TokenCache::default()),
    );
    let err = bad_passkey
        .stk_push(&push("0712345678", "http://127.0.0.1:9/cb/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, MpesaError::MerchantOrSubscriber(_)), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn query_reports_pending_then_the_final_result() {
    let base = simulator(Duration::from_millis(600)).await;
    let c = client(&base, &Arc::new(TokenCache::default()));
    let ok = c
        .stk_push(&push("0712345678", "http://127.0.0.1:9/cb/x"))
        .await
        .unwrap();
    let cancelled = c
        .stk_push(&push("0708371032", "http://127.0.0.1:9/cb/x"))
        .await
        .unwrap();
    // Three queries while pending see all of Daraja's pending forms; each is Pending.
    for _ in 0..3 {
        assert_eq!(
            c.stk_query(&ok.checkout_request_id).await.unwrap(),
            QueryResult::Pending
        );
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(matches!(
        c.stk_query(&ok.checkout_request_id).await.unwrap(),
        QueryResult::Final {
            code: ResultCode::Success,
            ..
        }
    ));
    assert!(matches!(
        c.stk_query(&cancelled.checkout_request_id).await.unwrap(),
        QueryResult::Final {
            code: ResultCode::Cancelled(_),
            ..
        }
    ));
}

#[tokio::test]
async fn a_second_push_to_a_busy_phone_is_a_transient_error() {
    let base = simulator(Duration::from_secs(30)).await;
    let c = client(&base, &Arc::new(TokenCache::default()));
    c.stk_push(&push("0712345678", "http://127.0.0.1:9/cb/x"))
        .await
        .unwrap();
    let err = c
        .stk_push(&push("+254712345678", "http://127.0.0.1:9/cb/x"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn the_callback_parses_into_the_payment_that_was_asked_for() {
    let base = simulator(Duration::from_millis(100)).await;
    let (callback, mut bodies) = receiver().await;
    let c = client(&base, &Arc::new(TokenCache::default()));
    let accepted = c.stk_push(&push("0712345678", &callback)).await.unwrap();
    let body = tokio::time::timeout(Duration::from_secs(5), bodies.recv())
        .await
        .unwrap()
        .unwrap();
    let cb = parse_stk_callback(&body).unwrap();
    assert_eq!(cb.checkout_request_id, accepted.checkout_request_id);
    let payment = cb.payment.unwrap();
    assert_eq!(payment.amount_cents, 2000);
    assert_eq!(payment.phone.as_deref(), Some("254712345678"));
}

#[tokio::test]
async fn c2b_urls_with_forbidden_words_are_refused() {
    let base = simulator(Duration::from_secs(1)).await;
    let c = client(&base, &Arc::new(TokenCache::default()));
    let good = Url::parse("http://127.0.0.1:9/pay/c2b/confirm").unwrap();
    let bad = Url::parse("http://127.0.0.1:9/mpesa/validate").unwrap();
    assert!(matches!(
        c.register_c2b_urls(C2bResponseType::Completed, &good, &bad)
            .await,
        Err(MpesaError::InvalidField(_))
    ));
    c.register_c2b_urls(C2bResponseType::Completed, &good, &good)
        .await
        .unwrap();
}
