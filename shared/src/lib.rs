//! What the edge daemon and the cloud service must agree on.
//!
//! # Layout
//! - [`mac`]: the MAC address type, parsed from every spelling routers and DHCP servers use.
//! - [`plan`]: time and data limits, counter arithmetic and rates, shared by edge accounting
//!   and the cloud's reports.
//! - [`voucher`]: the voucher code alphabet, normalisation of what a guest types, and code
//!   generation from caller-supplied randomness.
//!
//! This crate holds plain data and pure functions only: no runtime, no database, no network.
//! Randomness and time are passed in, so both sides (and tests) decide where they come from.

pub mod mac;
pub mod plan;
pub mod voucher;

pub use mac::MacAddr;
