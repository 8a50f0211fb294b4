//! The cloud client over real TLS: a server with a certificate from a CA this test makes.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hotspot_edge::sync::client::{ClaimRequest, CloudClient, SyncError};
use hotspot_shared::sync::{EdgeClock, PushRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};

/// A CA and a server certificate it signed for 127.0.0.1 and localhost.
struct Pki {
    ca_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    }
}

/// What the fake cloud received.
#[derive(Default)]
struct Seen {
    pushes: Vec<PushRequest>,
    encodings: Vec<String>,
}

/// Serves a fake sync API over TLS; `status` chooses what /sync/v1/events answers.
async fn serve(pki: &Pki, status: StatusCode, seen: Arc<Mutex<Seen>>) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.cert_der.clone().into()],
            PrivateKeyDer::Pkcs8(pki.key_der.clone().into()),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let app = Router::new()
        .route(
            "/sync/v1/claim",
            post(|body: String| async move {
                assert!(body.contains("ABCD-EFGH-JKMN"));
                axum::Json(
                    serde_json::json!({"device_id": "d1", "hotspot_id": "h1", "token": "hsd_t"}),
                )
            }),
        )
        .route(
            "/sync/v1/events",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    let encoding = headers
                        .get("content-encoding")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let mut json = Vec::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut json)
                        .unwrap();
                    let push: PushRequest = serde_json::from_slice(&json).unwrap();
                    let mut s = seen.lock().unwrap();
                    s.encodings.push(encoding);
                    s.pushes.push(push);
                    let body = if status.is_success() {
                        serde_json::json!({"accepted": 0, "duplicates": 0, "actions": []})
                    } else {
                        serde_json::json!({"error": "nope"})
                    };
                    (status, axum::Json(body))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that refuses our certificate ends the handshake: not an error here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    addr
}

fn batch() -> PushRequest {
    let clock = EdgeClock {
        boot_id: uuid::Uuid::nil(),
        uptime_ms: 1,
        wall_ms: 2,
        wall_trusted: false,
    };
    PushRequest {
        version: 1,
        sent: clock,
        events: vec![],
    }
}

#[tokio::test]
async fn claims_and_pushes_gzip_to_a_cloud_signed_by_the_pinned_ca() {
    let pki = pki();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = serve(&pki, StatusCode::OK, Arc::clone(&seen)).await;
    let client = CloudClient::new(
        &format!("https://127.0.0.1:{}/", addr.port()),
        Some(pki.ca_pem.as_bytes()),
    )
    .unwrap();
    let claimed = client
        .claim(&ClaimRequest {
            code: "ABCD-EFGH-JKMN",
            hostname: Some("cafe"),
            platform: None,
            version: "0.1.0",
        })
        .await
        .unwrap();
    assert_eq!(
        (claimed.device_id.as_str(), claimed.token.as_str()),
        ("d1", "hsd_t")
    );
    client.push("hsd_t", &batch()).await.unwrap();
    let s = seen.lock().unwrap();
    assert_eq!(s.encodings, ["gzip"]);
    assert_eq!(s.pushes, [batch()]);
}

#[tokio::test]
async fn a_cloud_signed_by_another_ca_is_refused() {
    let (theirs, ours) = (pki(), pki());
    let addr = serve(&theirs, StatusCode::OK, Arc::default()).await;
    let client = CloudClient::new(
        &format!("https://127.0.0.1:{}/", addr.port()),
        Some(ours.ca_pem.as_bytes()),
    )
    .unwrap();
    let err = client.push("hsd_t", &batch()).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Unavailable(ref m) if m.to_lowercase().contains("certificate")),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn answers_sort_into_retry_replace_credential_or_give_up() {
    let pki = pki();
    for (status, check) in [
        (
            StatusCode::UNAUTHORIZED,
            (|e: &SyncError| matches!(e, SyncError::Unauthorized)) as fn(&SyncError) -> bool,
        ),
        (StatusCode::SERVICE_UNAVAILABLE, |e| {
            matches!(e, SyncError::Unavailable(_)) && e.is_retryable()
        }),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            |e| matches!(e, SyncError::Refused { status: 422, message } if message == "nope"),
        ),
    ] {
        let addr = serve(&pki, status, Arc::default()).await;
        let client = CloudClient::new(
            &format!("https://127.0.0.1:{}/", addr.port()),
            Some(pki.ca_pem.as_bytes()),
        )
        .unwrap();
        let err = client.push("hsd_t", &batch()).await.unwrap_err();
        assert!(check(&err), "{status}: {err}");
    }
    assert!(matches!(
        CloudClient::new("ftp://x", None),
        Err(SyncError::Config(_))
    ));
    assert!(matches!(
        CloudClient::new("https://x/", Some(b"not a pem")),
        Err(SyncError::Config(_))
    ));
}
