//! hotspotd as a RADIUS NAS (network access server): the `[radius]` settings and the client
//! that sends Access- and Accounting-Requests to the site's RADIUS servers.
//!
//! The packet codec and everything the shared secret protects live in
//! [`hotspot_shared::radius`]; this module does the I/O around it. It knows nothing of HTTP,
//! SQLite or the firewall.

pub mod client;
pub mod settings;

pub use client::{RadiusClient, RadiusError};
