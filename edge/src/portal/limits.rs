//! What one client, or many, can hold of the portal: a listener that bounds open connections
//! (all of them, and per client address) and a connection wrapper that bounds how long a request
//! may take to arrive and how large it may be.
//!
//! Without these a guest could keep thousands of connections open by sending a header byte now
//! and then (slowloris), or make the server buffer hundreds of kilobytes of headers per
//! connection, and the daemon's memory would grow with the attack. With them:
//! - at most [`MAX_OPEN`] connections are open; past it new ones wait in the kernel's backlog
//!   until one closes (each closes within [`REQUEST_DEADLINE`] unless it is being answered);
//! - at most [`MAX_PER_CLIENT`] from one address; more are closed at once;
//! - a request must arrive within [`REQUEST_DEADLINE`] of the connection opening or of the last
//!   answer on it (this is also the keep-alive idle timeout);
//! - at most [`MAX_REQUEST_BYTES`] may be read between two answers (headers and body).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections open at once, from everyone.
pub const MAX_OPEN: usize = 256;
/// Connections open at once from one client address.
pub const MAX_PER_CLIENT: usize = 32;
/// Time for a whole request to arrive, from the connection's start or the last answer.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Bytes a client may send between two answers: headers and the largest form with room.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// Open connections per client address.
type PerClient = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A TCP listener for the portal with the bounds above. Serve it through
/// `axum::serve::ListenerExt::tap_io` so handlers still get the client's `SocketAddr`.
#[derive(Debug)]
pub struct Guarded {
    inner: TcpListener,
    open: Arc<Semaphore>,
    per_client: PerClient,
}

impl Guarded {
    pub fn new(inner: TcpListener) -> Self {
        Self {
            inner,
            open: Arc::new(Semaphore::new(MAX_OPEN)),
            per_client: PerClient::default(),
        }
    }

    /// Connections open now (for tests and figures).
    pub fn open_now(&self) -> usize {
        MAX_OPEN - self.open.available_permits()
    }
}

impl axum::serve::Listener for Guarded {
    type Io = Limited;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(permit) = Arc::clone(&self.open).acquire_owned().await else {
                // The semaphore is never closed; wait rather than spin if it were.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            let (stream, addr) = match self.inner.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: try again shortly.
                    tracing::warn!(error = %e, "portal accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let ip = addr.ip();
            {
                let Ok(mut counts) = self.per_client.lock() else {
                    continue;
                };
                let n = counts.entry(ip).or_insert(0);
                if *n >= MAX_PER_CLIENT {
                    // Dropping the stream closes it; the permit goes back.
                    continue;
                }
                *n += 1;
            }
            let _ = stream.set_nodelay(true);
            let io = Limited {
                stream,
                deadline: Box::pin(tokio::time::sleep(REQUEST_DEADLINE)),
                read_since_answer: 0,
                slot: Slot {
                    _permit: permit,
                    ip,
                    per_client: Arc::clone(&self.per_client),
                },
            };
            return (io, addr);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection's place in the bounds; given back when the connection drops.
#[derive(Debug)]
struct Slot {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    per_client: PerClient,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.per_client.lock()
            && let Some(n) = counts.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A portal connection: reads fail once the request deadline passes or the request grows past
/// [`MAX_REQUEST_BYTES`], which makes the server close it. Writing an answer starts the next
/// request's allowance.
#[derive(Debug)]
pub struct Limited {
    stream: TcpStream,
    deadline: Pin<Box<Sleep>>,
    read_since_answer: usize,
    slot: Slot,
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.read_since_answer += buf.filled().len() - before;
            if self.read_since_answer > MAX_REQUEST_BYTES {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request too large",
                )));
            }
        }
        r
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            self.read_since_answer = 0;
            let next = Instant::now() + REQUEST_DEADLINE;
            self.deadline.as_mut().reset(next);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            self.read_since_answer = 0;
            let next = Instant::now() + REQUEST_DEADLINE;
            self.deadline.as_mut().reset(next);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Limited {
    /// The client's address.
    pub fn client(&self) -> IpAddr {
        self.slot.ip
    }
}
