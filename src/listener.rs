//! Serving HTTP/1.1 on a TCP listener with every connection bounded: the MCP endpoint (`serve`)
//! and the embedded S3 store both accept through [`serve`].
//!
//! A client must send its request head within the header-read timeout (which also closes idle
//! keep-alive connections), and may not pause longer than the body-read timeout while sending a
//! body. At most `max_connections` are open at once; when a new one arrives at the cap, the
//! oldest connection that has not yet sent a complete request head is closed to make room (so
//! connections that trickle half a request line cannot crowd out `/healthz`), and only when
//! every connection is serving a request is the newcomer answered 503. When accepting fails
//! for want of file descriptors, such a connection is closed to free one; with none to close,
//! the loop backs off exponentially instead of spinning on the error.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bounds on one listener's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once (`MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Time a client has to send a request head, and the longest a kept-alive connection may
    /// sit idle (`HEADER_READ_TIMEOUT_MS`).
    pub header_read_timeout: Duration,
    /// Longest pause while a request body arrives (`BODY_READ_TIMEOUT_MS`).
    pub body_read_timeout: Duration,
}

impl ConnectionLimits {
    /// Real clients send a request head in one packet; 10 s leaves room for a slow link
    /// without letting a trickle hold a connection for long.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// A body that stops arriving for this long is given up on.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// Request bodies that may be buffered at once, across the cap's connections: the default
    /// cap is this divided by the largest body one request may send.
    pub const REQUEST_BUFFER_BUDGET: usize = 1024 * 1024 * 1024;

    /// The default limits for requests of at most `max_request_bytes`: as many connections as
    /// the request buffer budget holds bodies of that size (170 at 6 MiB), within 16..=1024.
    pub fn for_request_bytes(max_request_bytes: usize) -> Self {
        ConnectionLimits {
            max_connections: (Self::REQUEST_BUFFER_BUDGET / max_request_bytes.max(1))
                .clamp(16, 1024),
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
        }
    }
}

/// Largest request head buffered per connection (hyper's default is ~400 KiB); the MCP endpoint
/// refuses heads over 16 KiB anyway, and S3 requests carry a few hundred bytes.
const MAX_HEAD_BUFFER: usize = 64 * 1024;
/// How long a shutdown waits for requests in flight before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// First and longest wait after an accept error.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));
/// Refusals lingering at once (each for at most `REFUSAL_LINGER`); past this they close at once.
const MAX_LINGERING_REFUSALS: usize = 32;
const REFUSAL_LINGER: Duration = Duration::from_millis(500);
static LINGERING_REFUSALS: AtomicUsize = AtomicUsize::new(0);

/// Tells a connection beyond the cap 503, then closes it. Closing with the client's request
/// unread would send a reset that can destroy the 503 before the client reads it, so the
/// request is read and dropped for a moment first (a bounded number of times at once, since
/// each holds a descriptor).
fn refuse(stream: TcpStream) {
    // The socket is new, so its send buffer has room for the whole answer.
    let _ = stream.try_write(busy_response().as_bytes());
    if LINGERING_REFUSALS.fetch_add(1, Ordering::Relaxed) >= MAX_LINGERING_REFUSALS {
        LINGERING_REFUSALS.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        LINGERING_REFUSALS.fetch_sub(1, Ordering::Relaxed);
    });
}

/// What a connection beyond the cap is told before it is closed.
fn busy_response() -> String {
    let body =
        "every connection is serving a request (MAX_CONNECTIONS reached); retry in a moment\n";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The body requests reach the service with: the connection's body, failing with
/// `io::ErrorKind::TimedOut` when it pauses longer than the body-read timeout.
pub type RequestBody = IdleTimeout<Incoming>;

/// Serves connections from `listener` until `shutdown` completes, then lets requests in flight
/// finish (for up to 10 s). `make_service` builds the service for one connection from the
/// client's address.
pub async fn serve<M, S, B>(
    listener: TcpListener,
    limits: ConnectionLimits,
    make_service: M,
    shutdown: impl Future<Output = ()>,
) where
    M: Fn(SocketAddr) -> S,
    S: tower::Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BUFFER);
    let http = Arc::new(http);
    let slots = Slots::new(limits.max_connections);
    let (stopping, stop) = watch::channel(false);
    let mut backoff = AcceptBackoff::default();
    let mut last_busy_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(e) if is_about_one_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors: a connection that never sent a request gives one
                // back (its task closes it at once), so a flood of them cannot lock out the rest.
                if Slots::evict_oldest_in_process() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = backoff.wait(&e) => continue,
                }
            }
        };
        let Some(slot) = slots.admit() else {
            if last_busy_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    limit = limits.max_connections,
                    "refusing connections: all are serving requests; raise MAX_CONNECTIONS if this is real load"
                );
                last_busy_warning = Some(Instant::now());
            }
            refuse(stream);
            continue;
        };
        // Each request marks the connection as no longer evictable, and gets the idle timeout
        // on its body.
        let (service, requested) = (make_service(remote), slot.requested.clone());
        let body_read_timeout = limits.body_read_timeout;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            requested.store(true, Ordering::Relaxed);
            let request = request.map(|body| IdleTimeout::new(body, body_read_timeout));
            service.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(drive(connection, slot, stop.clone()));
    }
    drop(listener);
    let _ = stopping.send(true);
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while slots.open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs one connection until it ends, is evicted to make room, or the listener shuts down (then
/// its request in flight may finish).
async fn drive<S, B>(
    connection: hyper::server::conn::http1::Connection<TokioIo<TcpStream>, S>,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
) where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = slot.evicted() => {
            tracing::debug!("closed a connection that sent no request, to admit a newer one");
        }
        () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// The open connections of one listener, and which of them have not yet sent a request head
/// (oldest first): those are the ones closed to make room at the cap.
struct Slots {
    limit: usize,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    open: usize,
    /// Connections without a request head yet, by admission order across the process.
    waiting: BTreeMap<u64, (Arc<Notify>, Arc<AtomicBool>)>,
}

/// Admission order, shared by every listener so "oldest" means the same across them.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(0);
/// Every listener's slots: file descriptors are the process's, so when accepting fails for
/// want of one, the oldest connection without a request is closed whichever listener has it.
static LISTENERS: Mutex<Vec<Weak<Slots>>> = Mutex::new(Vec::new());

impl Slots {
    fn new(limit: usize) -> Arc<Self> {
        let slots = Arc::new(Slots {
            limit: limit.max(1),
            state: Mutex::new(SlotState::default()),
        });
        let mut listeners = LISTENERS.lock().unwrap_or_else(PoisonError::into_inner);
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(Arc::downgrade(&slots));
        slots
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self) -> usize {
        self.lock().open
    }

    /// A slot for a new connection: free, or taken from the oldest connection still waiting
    /// for its first request head; `None` when every connection is serving requests.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut state = self.lock();
        if state.open >= self.limit && !state.evict_oldest() {
            return None;
        }
        state.open += 1;
        let id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
        let (evict, requested) = (Arc::new(Notify::new()), Arc::new(AtomicBool::new(false)));
        state.waiting.insert(id, (evict.clone(), requested.clone()));
        Some(Slot {
            id,
            slots: self.clone(),
            evict,
            requested,
        })
    }

    /// Closes the oldest connection in the process that has not sent a request head; false if
    /// there is none.
    fn evict_oldest_in_process() -> bool {
        let listeners: Vec<Arc<Slots>> = LISTENERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let oldest = listeners
            .iter()
            .filter_map(|slots| Some((slots.lock().oldest_waiting()?, slots)))
            .min_by_key(|(id, _)| *id);
        oldest.is_some_and(|(_, slots)| slots.lock().evict_oldest())
    }
}

impl SlotState {
    /// The oldest connection still without a request head, forgetting those that have one.
    fn oldest_waiting(&mut self) -> Option<u64> {
        while let Some(entry) = self.waiting.first_entry() {
            if !entry.get().1.load(Ordering::Relaxed) {
                return Some(*entry.key());
            }
            entry.remove();
        }
        None
    }

    /// Tells the oldest connection without a request head to close; false if there is none.
    fn evict_oldest(&mut self) -> bool {
        let Some(id) = self.oldest_waiting() else {
            return false;
        };
        if let Some((evict, _)) = self.waiting.remove(&id) {
            evict.notify_one();
        }
        true
    }
}

/// One admitted connection's place under the cap; freed when dropped.
struct Slot {
    id: u64,
    slots: Arc<Slots>,
    evict: Arc<Notify>,
    /// Set once the connection has sent a complete request head: it is no longer evictable.
    requested: Arc<AtomicBool>,
}

impl Slot {
    /// Completes when this connection is closed to make room for a newer one.
    async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        state.open -= 1;
        state.waiting.remove(&self.id);
    }
}

/// The wait after accept errors that mean "not now" (out of file descriptors or memory): 5 ms
/// doubling to 1 s, back to nothing after a success, instead of a loop spinning on the error.
#[derive(Default)]
struct AcceptBackoff {
    delay: Duration,
}

impl AcceptBackoff {
    async fn wait(&mut self, error: &io::Error) {
        if self.delay.is_zero() {
            tracing::warn!(
                %error,
                "cannot accept connections; retrying with backoff. If this says too many open \
                 files, raise the process's limit (ulimit -n) or lower MAX_CONNECTIONS"
            );
        }
        self.delay = (self.delay * 2).clamp(ACCEPT_BACKOFF.0, ACCEPT_BACKOFF.1);
        tokio::time::sleep(self.delay).await;
    }

    fn succeeded(&mut self) {
        if !self.delay.is_zero() {
            tracing::info!("accepting connections again");
        }
        self.delay = Duration::ZERO;
    }
}

/// Errors about the one connection being accepted (it was reset first): skipped at once.
fn is_about_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// A request body that fails with `io::ErrorKind::TimedOut` when no frame arrives for
/// `timeout`. (tower-http's `TimeoutBody` does the same but drops the size hint, which the S3
/// store reads as the object's length, and boxes its error.)
pub struct IdleTimeout<B> {
    body: B,
    timeout: Duration,
    /// Armed while waiting for a frame.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl<B> IdleTimeout<B> {
    fn new(body: B, timeout: Duration) -> Self {
        IdleTimeout {
            body,
            timeout,
            sleep: None,
            armed: false,
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|r| r.map_err(|e| io::Error::other(e.into()))));
        }
        let deadline = tokio::time::Instant::now() + this.timeout;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !this.armed {
            sleep.as_mut().reset(deadline);
            this.armed = true;
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the request body paused for more than {} ms (BODY_READ_TIMEOUT_MS)",
                    this.timeout.as_millis()
                ),
            )))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_holds_the_buffer_budget_in_bodies_of_the_largest_size() {
        assert_eq!(
            ConnectionLimits::for_request_bytes(6 * 1024 * 1024).max_connections,
            170
        );
        assert_eq!(ConnectionLimits::for_request_bytes(1).max_connections, 1024);
        assert_eq!(
            ConnectionLimits::for_request_bytes(usize::MAX).max_connections,
            16
        );
    }

    #[test]
    fn at_the_cap_the_oldest_connection_without_a_request_makes_room() {
        let slots = Slots::new(2);
        let first = slots.admit().unwrap();
        let second = slots.admit().unwrap();
        second.requested.store(true, Ordering::Relaxed);
        let third = slots.admit().expect("the idle first one makes room");
        // The first was told to close; the second, serving a request, was not.
        assert!(
            futures::FutureExt::now_or_never(first.evicted()).is_some(),
            "first evicted"
        );
        assert!(futures::FutureExt::now_or_never(second.evicted()).is_none());
        drop(first);
        third.requested.store(true, Ordering::Relaxed);
        assert!(slots.admit().is_none(), "every connection is busy");
        drop(second);
        let fourth = slots.admit();
        assert!(fourth.is_some());
        assert_eq!(slots.open(), 2);
    }
}
