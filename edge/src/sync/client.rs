//! HTTPS to the cloud's sync API. rustls with ring; when the configuration names the cloud's CA,
//! only that CA is trusted (a router's own certificate store is often old or missing).

use std::io::Write;
use std::time::Duration;

use hotspot_shared::purchase::{PurchaseRefusal, PurchaseRequest, PurchaseState};
use hotspot_shared::sync::{PullResponse, PushRequest, PushResponse};
use reqwest::{StatusCode, Url, header};
use serde::{Deserialize, Serialize};

/// A failure talking to the cloud, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Network down, DNS, TLS, timeouts, 5xx: keep the data and try again later.
    #[error("cloud unreachable: {0}")]
    Unavailable(String),
    /// 401: the credential is wrong or revoked; retrying will not help until it is replaced.
    #[error("the cloud refused this router's credential")]
    Unauthorized,
    /// Another 4xx: the cloud will refuse this request however often it is sent.
    #[error("the cloud refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("bad configuration: {0}")]
    Config(String),
}

impl SyncError {
    /// Worth sending the same request again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// What `hotspotd claim` sends.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimRequest<'a> {
    pub code: &'a str,
    pub hostname: Option<&'a str>,
    pub platform: Option<&'a str>,
    pub version: &'a str,
}

/// What a successful claim answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Claimed {
    pub device_id: String,
    pub hotspot_id: String,
    pub token: String,
}

/// The cloud's sync API.
#[derive(Debug, Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    base: Url,
}

impl CloudClient {
    /// A client for the cloud at `base`. `ca_pem`: the PEM of the CA to trust instead of the
    /// system's store.
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> Result<Self, SyncError> {
        let base = Url::parse(base).map_err(|e| SyncError::Config(format!("cloud URL: {e}")))?;
        if !matches!(base.scheme(), "https" | "http") {
            return Err(SyncError::Config("cloud URL must be https://".into()));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("hotspotd/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| SyncError::Config(format!("cloud CA: {e}")))?;
            if certs.is_empty() {
                return Err(SyncError::Config(
                    "cloud CA: no certificate in the file".into(),
                ));
            }
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| SyncError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { http, base })
    }

    fn url(&self, path: &str) -> Result<Url, SyncError> {
        self.base
            .join(path)
            .map_err(|e| SyncError::Config(format!("cloud URL: {e}")))
    }

    /// Exchanges a claim code for this router's credential.
    pub async fn claim(&self, req: &ClaimRequest<'_>) -> Result<Claimed, SyncError> {
        let resp = self
            .http
            .post(self.url("sync/v1/claim")?)
            .json(req)
            .send()
            .await;
        read_json(resp).await
    }

    /// Sends a batch, gzip-compressed.
    pub async fn push(&self, token: &str, batch: &PushRequest) -> Result<PushResponse, SyncError> {
        let json = serde_json::to_vec(batch)
            .map_err(|e| SyncError::Config(format!("encoding the batch: {e}")))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&json)
            .and_then(|()| gz.flush())
            .map_err(|e| SyncError::Config(format!("compressing the batch: {e}")))?;
        let body = gz
            .finish()
            .map_err(|e| SyncError::Config(format!("compressing: {e}")))?;
        let resp = self
            .http
            .post(self.url("sync/v1/events")?)
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await;
        read_json(resp).await
    }

    /// Changes after `cursor` (none: everything), with operators' extensions of sessions and the
    /// tenant's portal branding (this router applies them; a cloud that predates them ignores
    /// the parameters).
    pub async fn pull(&self, token: &str, cursor: Option<&str>) -> Result<PullResponse, SyncError> {
        let mut url = self.url("sync/v1/changes")?;
        url.query_pairs_mut()
            .append_pair("extensions", "1")
            .append_pair("branding", "1");
        if let Some(c) = cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        read_json(self.http.get(url).bearer_auth(token).send().await).await
    }

    /// Asks the cloud to charge a guest's phone for a package (`hotspot_shared::purchase`).
    pub async fn start_purchase(
        &self,
        token: &str,
        req: &PurchaseRequest,
    ) -> Result<PurchaseState, PurchaseError> {
        let resp = self
            .http
            .post(self.url("sync/v1/purchases")?)
            .bearer_auth(token)
            .json(req)
            .send()
            .await
            .map_err(|e| SyncError::Unavailable(error_chain(&e)))?;
        let status = resp.status();
        if status.is_client_error() && status != StatusCode::UNAUTHORIZED {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(match serde_json::from_slice::<PurchaseRefusal>(&body) {
                Ok(refusal) => PurchaseError::Refused(refusal),
                Err(_) => PurchaseError::Sync(SyncError::Refused {
                    status: status.as_u16(),
                    message: String::from_utf8_lossy(&body).chars().take(200).collect(),
                }),
            });
        }
        Ok(read_json(Ok(resp)).await?)
    }

    /// Where a purchase started by [`Self::start_purchase`] stands now.
    pub async fn purchase_state(
        &self,
        token: &str,
        purchase_id: uuid::Uuid,
    ) -> Result<PurchaseState, SyncError> {
        let url = self.url(&format!("sync/v1/purchases/{purchase_id}"))?;
        read_json(self.http.get(url).bearer_auth(token).send().await).await
    }
}

/// Why a purchase could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PurchaseError {
    /// The cloud refused it, with a reason the portal can put to the guest.
    #[error("purchase refused: {}", .0.message)]
    Refused(PurchaseRefusal),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

async fn read_json<T: serde::de::DeserializeOwned>(
    resp: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, SyncError> {
    // The source chain says why (certificate, refused connection, timeout).
    let resp = resp.map_err(|e| SyncError::Unavailable(error_chain(&e)))?;
    let status = resp.status();
    if status.is_success() {
        return resp
            .json()
            .await
            .map_err(|e| SyncError::Unavailable(error_chain(&e)));
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(SyncError::Unauthorized);
    }
    let message = resp
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_default();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(SyncError::Unavailable(format!("{status} {message}")))
    } else {
        Err(SyncError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
