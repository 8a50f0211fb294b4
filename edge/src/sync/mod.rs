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
