//! hotspotd as a RADIUS NAS (network access server): the `[radius]` settings and the client
//! that sends Access- and Accounting-Requests to the site's RADIUS servers.
//!
//! The packet codec and everything the shared secret protects live in
//! [`hotspot_shared::radius`]; this module does the I/O around it. It knows nothing of HTTP,
//! SQLite or the firewall.

pub mod accounting;
pub mod attrs;
pub mod client;
pub mod das;
pub mod settings;

pub use client::{RadiusClient, RadiusError};

use settings::RadiusConfig;

/// This router as a NAS: its settings and a client for each kind of server.
#[derive(Debug)]
pub struct Nas {
    pub config: RadiusConfig,
    /// Access-Requests.
    pub auth: RadiusClient,
    /// Accounting-Requests.
    pub acct: RadiusClient,
    /// Wakes the accounting loop when something was queued.
    pub wake: tokio::sync::Notify,
    /// One sender of the accounting queue at a time, so a row is never sent twice at once.
    pub flushing: tokio::sync::Mutex<()>,
    /// Where the Dynamic Authorization server listens, once it does (port 0 resolved).
    pub das_addr: std::sync::OnceLock<std::net::SocketAddr>,
}

impl Nas {
    pub fn new(config: RadiusConfig) -> Self {
        let client = |servers: &[std::net::SocketAddr]| {
            let c = RadiusClient::new(
                servers.to_vec(),
                config.server_secret(),
                config.timeout,
                config.retries,
            );
            match &config.radsec {
                Some(tls) => c.with_tls(tls.clone()),
                None => c,
            }
        };
        Nas {
            auth: client(&config.auth_servers),
            acct: client(&config.acct_servers),
            wake: tokio::sync::Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
            das_addr: std::sync::OnceLock::new(),
            config,
        }
    }
}

/// Probes the servers that left a request unanswered with Status-Server every
/// `status_server_interval` until `stop`; an accounting server that answers again wakes the
/// accounting queue. Does nothing when the interval is unset.
pub async fn probe(nas: std::sync::Arc<Nas>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(every) = nas.config.status_server_interval else {
        return;
    };
    let probe = attrs::status_server(&nas.config);
    loop {
        let round = async {
            nas.auth.probe_dead(&probe).await;
            if nas.acct.probe_dead(&probe).await > 0 {
                nas.wake.notify_one();
            }
        };
        // A stopping daemon does not wait for a probe's timeout.
        tokio::select! {
            _ = round => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
