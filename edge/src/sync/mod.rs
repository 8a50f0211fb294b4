//! The edge's side of sync with the cloud: the HTTPS client, the retry policy and the stored
//! device credential.
//!
//! - [`client`]: [`client::CloudClient`] — claim, push a batch (gzip), pull changes — over rustls
//!   with the cloud's CA pinned when one is configured.
//! - [`backoff`]: when to try again after a failure (pure: the caller supplies the randomness).
//! - [`credential`]: the device token on disk, mode 0600, written atomically.
//! - [`settings`]: the `[cloud]` and `[sync]` sections of the configuration.
//! - [`run`]: the sync loop: outbox batches pushed, pulled changes applied (through
//!   `store::cloud` and the session engine).

pub mod backoff;
pub mod client;
pub mod credential;
pub mod run;
pub mod settings;

use anyhow::Context;

use client::CloudClient;
use settings::CloudConfig;

/// The cloud this router talks to: one client and token, shared by the sync loop and the
/// portal's purchases.
#[derive(Clone)]
pub struct Connection {
    pub client: CloudClient,
    pub token: String,
    pub url: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Connects to the cloud named by `[cloud]`: `None` when the router has no credential (it works
/// alone). The URL is `[cloud] url`, else the one the router was claimed from.
pub fn connect(config: &CloudConfig) -> anyhow::Result<Option<Connection>> {
    if !config.credential.exists() {
        return Ok(None);
    }
    let credential::Credential {
        cloud_url, token, ..
    } = credential::load(&config.credential)?;
    let url = config.url.clone().unwrap_or(cloud_url);
    let client = client_for(config, &url)?;
    Ok(Some(Connection { client, token, url }))
}

/// A client for the cloud at `url` (checked: HTTPS, or HTTP to this machine), trusting
/// `[cloud] ca_file` when one is set.
pub fn client_for(config: &CloudConfig, url: &str) -> anyhow::Result<CloudClient> {
    settings::check_url(url).map_err(|e| anyhow::anyhow!("cloud URL {url}: {e}"))?;
    let ca = match &config.ca_file {
        Some(f) => Some(
            std::fs::read(f).with_context(|| format!("reading the cloud CA {}", f.display()))?,
        ),
        None => None,
    };
    Ok(CloudClient::new(url, ca.as_deref())?)
}
