//! What one guest, or many, can hold of the portal: its [`Bounds`] for the bounded listener of
//! `hotspot_listener` (connection caps, request deadlines and sizes; see that crate for how each
//! bound acts).
//!
//! The portal is small and faces guests directly, so every bound is tight: a phone needs a
//! handful of connections, and the largest form is a few hundred bytes.

use std::time::Duration;

use hotspot_listener::{Bounds, Guarded};
use tokio::net::TcpListener;

/// Connections open at once, from everyone.
pub const MAX_OPEN: usize = 256;
/// Connections open at once from one client address.
pub const MAX_PER_CLIENT: usize = 32;
/// Time for a whole request to arrive, from the connection's start or the last answer.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Bytes a client may send between two answers: headers and the largest form with room.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The portal's bounds.
pub const PORTAL: Bounds = Bounds {
    max_open: MAX_OPEN,
    max_per_client: MAX_PER_CLIENT,
    request_deadline: REQUEST_DEADLINE,
    max_request_bytes: MAX_REQUEST_BYTES,
};

/// `listener` with the portal's bounds. Serve it through `axum::serve::ListenerExt::tap_io` so
/// handlers still get the client's `SocketAddr`.
pub fn guarded(listener: TcpListener) -> Guarded {
    Guarded::new(listener, PORTAL)
}
