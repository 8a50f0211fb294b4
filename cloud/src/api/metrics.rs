//! Prometheus metrics, hand-written in the text exposition format: requests by route, method
//! and status, their latency as a histogram, and the database pool's size and idle connections.
//! [`track`] is the middleware that counts every request (and logs server errors with their
//! route); [`render`] serves `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::InternalCause;
use crate::AppState;
use crate::telemetry::RateLimitedLog;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    /// Cumulative counts per bucket of [`BUCKETS`].
    buckets: [u64; BUCKETS.len()],
}

/// Counters of the requests served since start.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (route, method, status) → series. A std mutex, never held across an await.
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = map
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    /// The exposition text of the request metrics.
    pub fn render_requests(&self, out: &mut String) {
        let map = self
            .series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        out.push_str("# HELP http_requests_total Requests served, by route, method and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for ((route, method, status), s) in &map {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape(route),
                s.count
            );
        }
        out.push_str(
            "# HELP http_request_duration_seconds Time to answer, by route, method and status.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for ((route, method, status), s) in &map {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: times and counts each request under its route template (never the raw path, so
/// ids do not explode the label set), and logs 5xx answers at error level with the route and
/// their hidden cause.
static OVERLOAD_LOG: RateLimitedLog = RateLimitedLog::new();

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    let status = resp.status();
    if status.is_server_error() {
        let cause = resp
            .extensions()
            .get::<InternalCause>()
            .map(|c| c.0.as_str())
            .unwrap_or("");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Overload (shed, or no database connection in time) answers many requests at
            // once: one line every 10 s says so, with how many it stands for.
            if let Some(n) = OVERLOAD_LOG.due() {
                tracing::warn!(%route, %method, cause, requests = n, "service unavailable (overload)");
            }
        } else {
            tracing::error!(%route, %method, status = status.as_u16(), cause, "request failed");
        }
    }
    state.api.metrics.observe(
        &route,
        &method,
        status.as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// `GET /metrics`
pub async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    state.api.metrics.render_requests(&mut out);
    let status = state.pool.status();
    let _ = writeln!(
        out,
        "# HELP db_pool_size Connections the pool holds now.\n# TYPE db_pool_size gauge\n\
         db_pool_size {}\n\
         # HELP db_pool_available Idle connections ready for a request.\n# TYPE db_pool_available gauge\n\
         db_pool_available {}\n\
         # HELP db_pool_max_size Most connections the pool may hold.\n# TYPE db_pool_max_size gauge\n\
         db_pool_max_size {}\n\
         # HELP db_pool_waiting Requests waiting for a connection.\n# TYPE db_pool_waiting gauge\n\
         db_pool_waiting {}",
        status.size, status.available, status.max_size, status.waiting
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let m = Metrics::default();
        m.observe("/a/{id}", "GET", 200, 0.003);
        m.observe("/a/{id}", "GET", 200, 0.2);
        let mut out = String::new();
        m.render_requests(&mut out);
        assert!(
            out.contains("http_requests_total{route=\"/a/{id}\",method=\"GET\",status=\"200\"} 2")
        );
        assert!(out.contains("le=\"0.001\"} 0"));
        assert!(out.contains("le=\"0.005\"} 1"));
        assert!(out.contains("le=\"0.25\"} 2"));
        assert!(out.contains("le=\"+Inf\"} 2"));
    }
}
