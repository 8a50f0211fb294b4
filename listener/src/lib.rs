//! What one client, or many, can hold of an HTTP server: a listener that bounds open
//! connections (all of them, and per client address) and a connection wrapper that bounds how
//! long a request may take to arrive and how large it may be. The captive portal and the cloud
//! API serve through it, each with its own [`Bounds`].
//!
//! Without these a client could keep thousands of connections open by sending a header byte now
//! and then (slowloris), or hold kept-alive connections forever, or make the server buffer
//! hundreds of kilobytes of headers per connection, and the server's memory and descriptors would
//! grow with the attack. With them:
//! - at most [`Bounds::max_open`] connections are open; when a new one comes past it, the
//!   connection idle longest is closed to make room: one with no whole request in (a request
//!   still arriving, however slowly, or a kept-alive connection between requests), counted from
//!   its start or its last answer. A request being answered is never closed for room; if every
//!   connection is being answered, the new one waits in the kernel's backlog until one closes.
//!   So slow clients from many addresses cannot keep others out: each newcomer takes the place
//!   of the oldest of them;
//! - at most [`Bounds::max_per_client`] from one address; more are closed at once;
//! - a request must arrive within [`Bounds::request_deadline`] of the connection opening or of
//!   the last answer on it (this is also the keep-alive idle timeout); once it is whole its
//!   answer may take as long as the handler needs. A body of chunks is not followed here, so
//!   such a request counts as arriving until it is answered;
//! - at most [`Bounds::max_request_bytes`] may be read between two answers (headers and body).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// What a server lets its clients hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Connections open at once, from everyone.
    pub max_open: usize,
    /// Connections open at once from one client address.
    pub max_per_client: usize,
    /// Time for a whole request to arrive, from the connection's start or the last answer; also
    /// how long a kept-alive connection may sit idle.
    pub request_deadline: Duration,
    /// Bytes a client may send between two answers: headers and body.
    pub max_request_bytes: usize,
}

/// Open connections per client address.
type PerClient = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Every open connection, by number: since when it has been idle (`None` while a whole request
/// is in and being answered), and how to close it.
#[derive(Debug, Default)]
struct Open {
    next: u64,
    conns: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    idle_since: Option<Instant>,
    evict: Arc<Evict>,
}

/// A connection's eviction notice: set, then the connection's reader woken, which fails.
#[derive(Debug, Default)]
struct Evict {
    evicted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Evict {
    fn notify(&self) {
        self.evicted.store(true, Ordering::Release);
        if let Ok(mut w) = self.waker.lock()
            && let Some(w) = w.take()
        {
            w.wake();
        }
    }
}

type Registry = Arc<Mutex<Open>>;

impl Open {
    /// Closes the connection idle longest, if any is idle; true if one was.
    fn evict_oldest_idle(&mut self) -> bool {
        let oldest = self
            .conns
            .values()
            .filter(|e| !e.evict.evicted.load(Ordering::Acquire))
            .filter_map(|e| e.idle_since.map(|t| (t, e)))
            .min_by_key(|(t, _)| *t);
        match oldest {
            Some((_, e)) => {
                e.evict.notify();
                true
            }
            None => false,
        }
    }

    fn set_idle(&mut self, id: u64, idle_since: Option<Instant>) {
        if let Some(e) = self.conns.get_mut(&id) {
            e.idle_since = idle_since;
        }
    }
}

/// How far the request on a connection has come, from the bytes read: its headers (up to the
/// empty line), then the body its `Content-Length` announces. Complete once both are in.
#[derive(Debug, Default, Clone)]
struct Progress {
    /// The start of the header line being read (enough for `Content-Length`).
    line: Vec<u8>,
    /// Whether the current line has had anything but `\r` (a line of nothing ends headers).
    line_has_text: bool,
    /// Whether a line with text ended yet (a request's leading empty lines are not its end).
    any_line: bool,
    content_length: u64,
    /// A body of chunks (`Transfer-Encoding`): its end is not known here, so such a request
    /// counts as arriving until it is answered (the deadline and eviction apply throughout).
    chunked: bool,
    /// Body bytes still to come, once the headers are in.
    body_left: Option<u64>,
}

impl Progress {
    const LINE_PREFIX: usize = 40;

    /// Takes in `bytes` read; true once the whole request is in.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut rest = bytes;
        while self.body_left.is_none() {
            let Some((&b, tail)) = rest.split_first() else {
                return false;
            };
            rest = tail;
            match b {
                b'\n' => {
                    if self.any_line && !self.line_has_text {
                        self.body_left = Some(if self.chunked {
                            u64::MAX
                        } else {
                            self.content_length
                        });
                    } else if self.line_has_text {
                        self.header_line();
                        self.any_line = true;
                    }
                    self.line_has_text = false;
                    self.line.clear();
                }
                b'\r' => {}
                _ => {
                    self.line_has_text = true;
                    if self.line.len() < Self::LINE_PREFIX {
                        self.line.push(b);
                    }
                }
            }
        }
        let left = self.body_left.get_or_insert(0);
        *left = left.saturating_sub(rest.len() as u64);
        *left == 0
    }

    fn header_line(&mut self) {
        let line = String::from_utf8_lossy(&self.line);
        let Some((name, value)) = line.split_once(':') else {
            return;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            // Too large or unreadable: the request is refused by the server or the size bound.
            self.content_length = value.trim().parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            self.chunked = true;
        }
    }
}

/// A TCP listener with the bounds above. Serve it through
/// `axum::serve::ListenerExt::tap_io` so handlers still get the client's `SocketAddr`.
#[derive(Debug)]
pub struct Guarded {
    inner: TcpListener,
    bounds: Bounds,
    open: Arc<Semaphore>,
    per_client: PerClient,
    registry: Registry,
}

impl Guarded {
    /// Bounds `inner`'s connections by `bounds`; a zero bound counts as one.
    pub fn new(inner: TcpListener, bounds: Bounds) -> Self {
        let bounds = Bounds {
            max_open: bounds.max_open.max(1),
            max_per_client: bounds.max_per_client.max(1),
            ..bounds
        };
        Self {
            inner,
            bounds,
            open: Arc::new(Semaphore::new(bounds.max_open)),
            per_client: PerClient::default(),
            registry: Registry::default(),
        }
    }

    /// Connections open now (for tests and figures).
    pub fn open_now(&self) -> usize {
        self.bounds.max_open - self.open.available_permits()
    }
}

impl axum::serve::Listener for Guarded {
    type Io = Limited;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: try again shortly.
                    tracing::warn!(error = %e, "accept failed");
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
                if *n >= self.bounds.max_per_client {
                    // Dropping the stream closes it.
                    continue;
                }
                *n += 1;
            }
            // From here the slot gives the client's count back if this connection goes.
            let mut slot = Slot {
                _permit: None,
                ip,
                per_client: Arc::clone(&self.per_client),
                id: None,
                registry: Arc::clone(&self.registry),
            };
            let permit = match Arc::clone(&self.open).try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    // Full: make room by closing the connection idle longest, then take the
                    // place it gives back (or the first that frees, if none was idle).
                    if let Ok(mut open) = self.registry.lock() {
                        open.evict_oldest_idle();
                    }
                    let Ok(p) = Arc::clone(&self.open).acquire_owned().await else {
                        // The semaphore is never closed.
                        continue;
                    };
                    p
                }
            };
            slot._permit = Some(permit);
            let evict = Arc::new(Evict::default());
            let started = Instant::now();
            if let Ok(mut open) = self.registry.lock() {
                let id = open.next;
                open.next += 1;
                open.conns.insert(
                    id,
                    Entry {
                        idle_since: Some(started),
                        evict: Arc::clone(&evict),
                    },
                );
                slot.id = Some(id);
            }
            let _ = stream.set_nodelay(true);
            let io = Limited {
                stream,
                deadline: Box::pin(tokio::time::sleep(self.bounds.request_deadline)),
                request_deadline: self.bounds.request_deadline,
                max_request_bytes: self.bounds.max_request_bytes,
                read_since_answer: 0,
                progress: Progress::default(),
                answering: false,
                evict,
                slot,
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
    _permit: Option<OwnedSemaphorePermit>,
    ip: IpAddr,
    per_client: PerClient,
    /// The connection's number in `registry`.
    id: Option<u64>,
    registry: Registry,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(id) = self.id
            && let Ok(mut open) = self.registry.lock()
        {
            open.conns.remove(&id);
        }
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

/// A bounded connection: reads fail once the request deadline passes or the request grows past
/// [`Bounds::max_request_bytes`], which makes the server close it. Writing an answer starts the
/// next request's allowance.
#[derive(Debug)]
pub struct Limited {
    stream: TcpStream,
    deadline: Pin<Box<Sleep>>,
    request_deadline: Duration,
    max_request_bytes: usize,
    read_since_answer: usize,
    /// The request arriving since the last answer.
    progress: Progress,
    /// A whole request is in and not yet answered: not to be closed for room.
    answering: bool,
    evict: Arc<Evict>,
    slot: Slot,
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // The deadline is for the request to arrive: once it is whole, the answer may take as
        // long as it takes (the server still reads, to see the client go).
        if !self.answering && self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request did not arrive in time",
            )));
        }
        if self.evicted(cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a new connection",
            )));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let this = &mut *self;
            let new = &buf.filled()[before..];
            this.read_since_answer += new.len();
            if this.read_since_answer > this.max_request_bytes {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request too large",
                )));
            }
            if !this.answering && !new.is_empty() && this.progress.feed(new) {
                this.answering = true;
                this.set_idle(None);
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
            self.answered();
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
            self.answered();
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

    /// An answer is going out: the next request's allowance starts, and the connection is
    /// idle (may be closed for room) until that request is in.
    fn answered(&mut self) {
        self.read_since_answer = 0;
        let next = Instant::now() + self.request_deadline;
        self.deadline.as_mut().reset(next);
        self.progress = Progress::default();
        if self.answering {
            self.answering = false;
            self.set_idle(Some(Instant::now()));
        }
    }

    fn set_idle(&self, since: Option<Instant>) {
        if let Some(id) = self.slot.id
            && let Ok(mut open) = self.slot.registry.lock()
        {
            open.set_idle(id, since);
        }
    }

    /// Whether the connection was closed for room; if not, wakes this reader when it is.
    fn evicted(&self, cx: &Context<'_>) -> bool {
        if self.evict.evicted.load(Ordering::Acquire) {
            return true;
        }
        if let Ok(mut w) = self.evict.waker.lock() {
            match &*w {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        // Set between the first look and the waker's registration.
        self.evict.evicted.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(chunks: &[&[u8]]) -> Vec<bool> {
        let mut p = Progress::default();
        chunks.iter().map(|c| p.feed(c)).collect()
    }

    #[test]
    fn a_request_is_whole_once_its_headers_and_announced_body_are_in() {
        assert_eq!(
            whole(&[b"GET / HTTP/1.1\r\nHost: a\r\n", b"\r\n"]),
            [false, true]
        );
        // A byte at a time, the end split between reads.
        let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let chunks: Vec<&[u8]> = req.chunks(1).collect();
        let got = whole(&chunks);
        assert!(got[..got.len() - 1].iter().all(|w| !w));
        assert!(got[got.len() - 1]);
        // Bare line feeds end headers too.
        assert_eq!(whole(&[b"GET / HTTP/1.1\nHost: a\n\n"]), [true]);
        // Leading empty lines are not the end.
        assert_eq!(
            whole(&[b"\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"]),
            [false, true]
        );
        // A body: whole once Content-Length bytes are in, in the same read or later ones.
        assert_eq!(
            whole(&[
                b"POST /l HTTP/1.1\r\ncontent-LENGTH: 5\r\n\r\nab",
                b"c",
                b"de"
            ]),
            [false, false, true]
        );
        assert_eq!(
            whole(&[b"POST /l HTTP/1.1\r\nContent-Length:5\r\n\r\nabcde"]),
            [true]
        );
        // A slow header never is.
        assert_eq!(whole(&[b"GET / HTTP/1.1\r\nX-a: ", b"a", b"a"]), [false; 3]);
        // Nor is a body of chunks, whose end is not known here.
        assert_eq!(
            whole(&[
                b"POST /l HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"5\r\nabcde\r\n0\r\n\r\n"
            ]),
            [false, false]
        );
    }
}
