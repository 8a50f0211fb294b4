//! Connections whose request body was not read to its end are closed after the answer, and the
//! answer says so (`Connection: close`).
//!
//! A request may be answered before its body is read: shed for load (503), refused for its
//! credentials (401) or its size (413). hyper cannot then read the next request on that
//! connection, so it closes it once the answer is out; but without `Connection: close` in that
//! answer the client takes the connection back into its pool as reusable, and the next request
//! it sends there meets a closed socket ("connection closed before message completed", a broken
//! pipe). RFC 9112 §9.6: a server closing after an answer sends `close` in it. Requests without
//! a body, and those whose body was read, keep their connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// A request body that records when it has been read to its end.
struct Watched {
    inner: Body,
    ended: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The middleware: the answer to a request whose body was left unread carries
/// `Connection: close`.
pub async fn close_if_unread(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        // No body (or an empty one): nothing can be left unread.
        return next.run(req).await;
    }
    let ended = Arc::new(AtomicBool::new(false));
    let watched = Arc::clone(&ended);
    let req = req.map(|inner| {
        Body::new(Watched {
            inner,
            ended: watched,
        })
    });
    let mut resp = next.run(req).await;
    if !ended.load(Ordering::Acquire) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}
