//! The edge's side of sync with the cloud: the HTTPS client, the retry policy and the stored
//! device credential.
//!
//! - [`client`]: [`client::CloudClient`] — claim, push a batch (gzip), pull changes — over rustls
//!   with the cloud's CA pinned when one is configured.
//! - [`backoff`]: when to try again after a failure (pure: the caller supplies the randomness).
//! - [`credential`]: the device token on disk, mode 0600, written atomically.
//! - [`settings`]: the `[cloud]` section of the configuration.
//!
//! Turning outbox rows into batches and applying pulled changes to the store belong to the sync
//! loop, which calls these.

pub mod backoff;
pub mod client;
pub mod credential;
pub mod settings;
