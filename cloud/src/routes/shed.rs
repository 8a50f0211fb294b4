//! Load shedding: a cap on the requests the service works on at once, and bounds on the
//! connections it holds open (`hotspot_listener`: a cap with the longest-idle connection closed
//! for a newcomer, a keep-alive idle timeout, request deadlines and sizes).
//!
//! Past the cap a request is answered `503 Service Unavailable` with `Retry-After` at once,
//! before its body is read or a database connection is asked for, so an overload costs the
//! service almost nothing and every answer it does give comes in normal time. Without the cap
//! every request is taken on: they queue for the database pool, answers come later than the
//! callers wait, the callers retry, and memory grows with the queue.
//!
//! Three kinds of request:
//! - **capped**: everything not below. Past [`Limits::max_in_flight`] at once: 503.
//! - **never shed**: `/health/live`, `/health/ready` (a load balancer must keep seeing the
//!   replica, and readiness answers 503 itself when the database cannot be had) and `/metrics`
//!   (no database; the figures matter most under load).
//! - **M-Pesa posts** (`/mpesa/…`, `/pay/c2b/…`): Daraja does not send a callback again after a
//!   5xx or an unreachable server (docs/payments.md), so a shed callback would be a payment lost.
//!   They are never refused for load: they wait for one of [`Limits::callbacks_in_flight`] places
//!   of their own (a flood of them cannot take the service's places, and the service's load
//!   cannot keep them out), and they wait for a database connection without the pool's bound
//!   ([`crate::db::get_patient`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hotspot_listener::Bounds;
use tokio::sync::Semaphore;

use crate::telemetry::RateLimitedLog;

/// How much the service takes on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests worked on at once (M-Pesa posts and health checks aside); more get 503.
    pub max_in_flight: usize,
    /// M-Pesa posts worked on at once; more wait for a place (never refused for load).
    pub callbacks_in_flight: usize,
    /// Seconds a shed caller is told to wait (`Retry-After`).
    pub retry_after_secs: u32,
    /// Connections held open at once, request deadlines and sizes (the listener's bounds, below
    /// this cap: a connection costs a descriptor and buffers even while it sends nothing).
    pub connections: Bounds,
}

/// Connections open at once by default: under the usual limit of 1,024 open files, with room
/// for the database pool, the RADIUS sockets and the log.
pub const MAX_CONNECTIONS: usize = 768;

/// Time for a whole request to arrive by default, and for a kept-alive connection to sit idle:
/// a router pushing [`hotspot_shared::sync::MAX_PUSH_BYTES`] over a slow uplink needs seconds.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The cloud's listener bounds with `max_open` connections and `request_deadline`. No cap per
/// client address: behind a load balancer every connection comes from its address. A request
/// may be as large as the largest body taken (a sync push) plus its headers.
pub fn connection_bounds(max_open: usize, request_deadline: Duration) -> Bounds {
    Bounds {
        max_open,
        max_per_client: usize::MAX,
        request_deadline,
        max_request_bytes: hotspot_shared::sync::MAX_PUSH_BYTES + 64 * 1024,
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            callbacks_in_flight: 32,
            retry_after_secs: 1,
            connections: connection_bounds(MAX_CONNECTIONS, REQUEST_DEADLINE),
        }
    }
}

/// The places of [`Limits`], shared by every connection.
#[derive(Debug, Clone)]
pub struct Shed {
    places: Arc<Semaphore>,
    callback_places: Arc<Semaphore>,
    retry_after: HeaderValue,
    counts: Arc<Counts>,
}

#[derive(Debug)]
struct Counts {
    /// Requests shed since start.
    shed: AtomicU64,
    /// The warning about them, at most every 10 s.
    log: RateLimitedLog,
}

/// What a request is, for the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Capped,
    NeverShed,
    MpesaPost,
}

fn kind(path: &str) -> Kind {
    if matches!(path, "/health/live" | "/health/ready" | "/metrics") {
        Kind::NeverShed
    } else if path.starts_with("/mpesa/") || path.starts_with("/pay/c2b/") {
        Kind::MpesaPost
    } else {
        Kind::Capped
    }
}

impl Shed {
    pub fn new(limits: Limits) -> Self {
        Self {
            places: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            callback_places: Arc::new(Semaphore::new(limits.callbacks_in_flight.max(1))),
            retry_after: HeaderValue::from(limits.retry_after_secs.max(1)),
            counts: Arc::new(Counts {
                shed: AtomicU64::new(0),
                log: RateLimitedLog::new(),
            }),
        }
    }

    /// Requests shed since the service started.
    pub fn shed_total(&self) -> u64 {
        self.counts.shed.load(Ordering::Relaxed)
    }

    /// The answer to a request past the cap.
    fn overloaded(&self) -> Response {
        let total = self.counts.shed.fetch_add(1, Ordering::Relaxed) + 1;
        // A warning at most every 10 s, with how many were shed since the last one.
        if let Some(shed) = self.counts.log.due() {
            tracing::warn!(
                shed,
                total,
                "overloaded: requests answered 503 (HOTSPOT_MAX_IN_FLIGHT reached)"
            );
        }
        let mut resp = (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"type":"/problems/overloaded","title":"Overloaded: try again shortly","status":503}"#,
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::RETRY_AFTER, self.retry_after.clone());
        resp
    }
}

/// The middleware: a place for the request, or 503 at once.
pub async fn admit(State(shed): State<Shed>, req: Request, next: Next) -> Response {
    match kind(req.uri().path()) {
        Kind::NeverShed => next.run(req).await,
        Kind::MpesaPost => {
            // Never closed: the error arm cannot happen, and would still serve the request.
            let _place = Arc::clone(&shed.callback_places).acquire_owned().await;
            next.run(req).await
        }
        Kind::Capped => match Arc::clone(&shed.places).try_acquire_owned() {
            Ok(_place) => next.run(req).await,
            Err(_) => shed.overloaded(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_metrics_and_mpesa_posts_are_told_apart() {
        assert_eq!(kind("/health/live"), Kind::NeverShed);
        assert_eq!(kind("/health/ready"), Kind::NeverShed);
        assert_eq!(kind("/metrics"), Kind::NeverShed);
        assert_eq!(kind("/mpesa/callback/abc"), Kind::MpesaPost);
        assert_eq!(kind("/mpesa/c2b/confirmation/abc"), Kind::MpesaPost);
        assert_eq!(kind("/pay/c2b/validation/abc"), Kind::MpesaPost);
        assert_eq!(kind("/pay/abc"), Kind::Capped);
        assert_eq!(kind("/health/live/x"), Kind::Capped);
        assert_eq!(kind("/api/v1/hotspots"), Kind::Capped);
        assert_eq!(kind("/sync/v1/events"), Kind::Capped);
        assert_eq!(kind("/console/"), Kind::Capped);
    }
}
