//! The accept loop: connection limits for slow, idle and excess connections.
//!
//! axum's own `serve` keeps every connection until the client closes it. This loop serves the same router
//! with hyper-util's auto (HTTP/1.1 + h2c) connection builder and adds three limits from [`ServerConfig`]:
//!
//! * **header-read timeout**: an HTTP/1 request whose headers have not fully arrived in time closes its
//!   connection (hyper's own timer);
//! * **idle timeout**: a connection that has no request in progress and moved no bytes for this long is
//!   closed (HTTP/2 gets a GOAWAY first); this also covers connections that never send a byte;
//! * **maximum connections**: at most this many connections are served at once. When every slot is taken,
//!   the oldest idle connection (no request in progress) is closed to make room, so a new client is served
//!   at once instead of waiting out the idle timeout; only while every connection has a request in progress
//!   do further ones wait in the listen backlog (they are not refused) until a slot frees.
//!
//! With a [`TlsIdentity`](crate::TlsIdentity) every connection first completes a TLS handshake (within
//! the header-read timeout) and then speaks HTTP/2 or HTTP/1.1 as ALPN chose. Accepted connections are
//! counted (the server handles expose the count, for tests).
//!
//! Should `accept` still fail for lack of file descriptors (a `ulimit -n` below the connection limit), the
//! oldest idle connections are closed, a batch at a time, and `accept` is tried again as soon as one has
//! closed, so the server keeps answering instead of stalling. Connections are shed oldest first and only a
//! few at a time so that a client that has just connected (its request not read yet, which would make the
//! close a reset) is the last to go.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, TryAcquireError, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::config::ServerConfig;

/// How long a connection asked to close (idle, or server shutdown) may take to finish its exchange.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` before trying again, unless a connection closes first.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How many idle connections are closed at a time when `accept` runs out of file descriptors.
const SHED_BATCH: usize = 8;

/// The connection limits, taken from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
}

impl Limits {
    pub(crate) fn from_config(config: &ServerConfig) -> Self {
        Limits {
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            max_connections: config.max_connections,
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves; then stops accepting, asks every connection to close
/// and waits up to `grace` for them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    accepted: Arc<AtomicU64>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing_tx, closing_rx) = watch::channel(false);
    let registry = Arc::new(Registry::default());
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    'accept: loop {
        // A free slot first. With every slot taken, the oldest idle connection is asked to close (unless one
        // already is); a connection whose request ends becomes idle and is considered again. Only while
        // every connection is busy do new ones wait in the listen backlog.
        let slot = loop {
            match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => break slot,
                Err(TryAcquireError::Closed) => break 'accept,
                Err(TryAcquireError::NoPermits) => {}
            }
            if registry.shedding() == 0 {
                registry.shed_oldest_idle(1);
            }
            tokio::select! {
                () = &mut stop => break 'accept,
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => break slot,
                    Err(_) => break 'accept,
                },
                () = registry.became_idle.notified() => {}
            }
        };
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    drop(slot);
                    // Out of descriptors: close a few idle connections and try again once one has closed
                    // (the backoff only bounds the wait when there was nothing to close).
                    let shed = if out_of_descriptors(&e) {
                        registry.shed_oldest_idle(SHED_BATCH)
                    } else {
                        0
                    };
                    tokio::select! {
                        () = &mut stop => break,
                        () = registry.closed.notified(), if shed > 0 => {}
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                    continue;
                }
            },
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handshake_timeout = limits.header_read_timeout;
        let builder = Arc::clone(&builder);
        let router = router.clone();
        let closing = closing_rx.clone();
        let entry = registry.register();
        connections.spawn(async move {
            match acceptor {
                None => {
                    serve_connection(
                        &builder,
                        stream,
                        router,
                        limits.idle_timeout,
                        closing,
                        &entry,
                    )
                    .await;
                }
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            serve_connection(
                                &builder,
                                tls,
                                router,
                                limits.idle_timeout,
                                closing,
                                &entry,
                            )
                            .await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(entry);
            drop(slot);
        });
        // Reap finished connection tasks so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; closing anyway");
        connections.abort_all();
    }
}

/// Whether an accept error means the process (or system) has no file descriptors left.
fn out_of_descriptors(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Unix.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// The open connections in accept order, for closing the oldest idle ones when slots or descriptors run out.
#[derive(Debug, Default)]
struct Registry {
    state: Mutex<RegistryState>,
    /// Notified when a request ends (its connection may now be idle).
    became_idle: Notify,
    /// Notified when a connection asked to close has closed.
    closed: Notify,
}

#[derive(Debug, Default)]
struct RegistryState {
    next_id: u64,
    open: BTreeMap<u64, Arc<Activity>>,
    /// Connections asked to close that have not closed yet.
    shedding: usize,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, RegistryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a newly accepted connection; it leaves the registry when the entry is dropped.
    fn register(self: &Arc<Self>) -> Entry {
        let activity = Arc::new(Activity {
            opened: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            shed: AtomicBool::new(false),
            close: Notify::new(),
            registry: Arc::downgrade(self),
        });
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.open.insert(id, Arc::clone(&activity));
        Entry {
            id,
            activity,
            registry: Arc::clone(self),
        }
    }

    /// How many connections were asked to close and have not closed yet.
    fn shedding(&self) -> usize {
        self.lock().shedding
    }

    /// Asks up to `n` idle connections to close, oldest first; returns how many were asked.
    fn shed_oldest_idle(&self, n: usize) -> usize {
        let mut state = self.lock();
        let mut asked = 0;
        for activity in state.open.values() {
            if asked == n {
                break;
            }
            if activity.idle_for().is_some() && !activity.shed.swap(true, Ordering::AcqRel) {
                activity.close.notify_one();
                asked += 1;
            }
        }
        state.shedding += asked;
        asked
    }
}

/// A registered connection; dropping it removes the connection from the registry.
struct Entry {
    id: u64,
    activity: Arc<Activity>,
    registry: Arc<Registry>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut state = self.registry.lock();
        state.open.remove(&self.id);
        if self.activity.shed.load(Ordering::Acquire) {
            state.shedding = state.shedding.saturating_sub(1);
            drop(state);
            self.registry.closed.notify_one();
        }
    }
}

/// Per-connection activity: when bytes last moved, how many requests are being handled, and whether the
/// connection was asked to close to make room for others.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    last_io_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Set once when the connection is picked for shedding (so it is picked only once).
    shed: AtomicBool,
    /// Notified when the connection is picked for shedding.
    close: Notify,
    /// To tell the accept loop when a request ends.
    registry: std::sync::Weak<Registry>,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the connection has been idle, or `None` while a request is in progress.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed));
        Some(self.opened.elapsed().saturating_sub(last))
    }
}

/// Resolves once the connection has been idle for `timeout`.
async fn idle(activity: &Activity, timeout: Duration) {
    loop {
        let wait = match activity.idle_for() {
            Some(idle) if idle >= timeout => return,
            Some(idle) => timeout - idle,
            None => timeout,
        };
        tokio::time::sleep(wait).await;
    }
}

/// Counts a request as in progress until its response head is ready (the body streams as I/O activity).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(registry) = self.0.registry.upgrade()
        {
            registry.became_idle.notify_one();
        }
    }
}

async fn serve_connection<S>(
    builder: &auto::Builder<TokioExecutor>,
    stream: S,
    router: Router,
    idle_timeout: Duration,
    mut closing: watch::Receiver<bool>,
    entry: &Entry,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = &entry.activity;
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: Arc::clone(activity),
    });
    let tower = TowerToHyperService::new(router);
    let service_activity = Arc::clone(activity);
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let in_flight = InFlight::new(&service_activity);
        let call = hyper::service::Service::call(&tower, request.map(Body::new));
        async move {
            let response = call.await;
            drop(in_flight);
            response
        }
    });
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let reason = tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        () = idle(activity, idle_timeout) => "idle",
        () = activity.close.notified() => "shed to make room for a new connection",
        _ = closing.wait_for(|closing| *closing) => "server shutdown",
    };
    tracing::debug!(reason, "closing connection");
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(CLOSE_GRACE, connection).await;
}

/// A stream (TCP, or TLS over TCP) that records when bytes last moved.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
