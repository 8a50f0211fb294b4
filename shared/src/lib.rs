//! What the edge daemon and the cloud service must agree on.
//!
//! # Layout
//! - [`branding`]: a tenant's portal branding (texts, colour, logo) and its checks, sent to
//!   routers in the sync pull.
//! - [`mac`]: the MAC address type, parsed from every spelling routers and DHCP servers use.
//! - [`phone`]: Kenyan mobile numbers normalised to the form M-Pesa takes.
//! - [`plan`]: time and data limits, counter arithmetic and rates, shared by edge accounting
//!   and the cloud's reports.
//! - [`purchase`]: a guest's M-Pesa purchase asked of the cloud by the edge, with JSON fixtures
//!   in `fixtures/purchase/`.
//! - [`radius`]: the RADIUS packet codec, its authenticators and attribute dictionary, shared by
//!   the cloud's RADIUS server and the edge's NAS client.
//! - [`redeem`]: the voucher redemption rules (may this device use this code now, with what
//!   limits), applied by the edge's portal and the cloud's RADIUS server alike.
//! - [`sync`]: the edge ↔ cloud sync protocol (push of events, pull of changes), version 1, with
//!   JSON fixtures in `fixtures/sync/` that both sides decode in their tests.
//! - [`voucher`]: the voucher code alphabet, normalisation of what a guest types, and code
//!   generation from caller-supplied randomness.
//!
//! This crate holds plain data and pure functions only: no runtime, no database, no network.
//! Randomness and time are passed in, so both sides (and tests) decide where they come from.

pub mod branding;
pub mod mac;
pub mod phone;
pub mod plan;
pub mod purchase;
pub mod radius;
pub mod redeem;
pub mod sync;
pub mod voucher;

pub use mac::MacAddr;
