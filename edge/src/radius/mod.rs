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
            RadiusClient::new(
                servers.to_vec(),
                &config.secret.0,
                config.timeout,
                config.retries,
            )
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
