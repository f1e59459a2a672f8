//! The accept loop: connection limits for slow, idle and excess connections.
//!
//! axum's own `serve` keeps every connection until the client closes it. This loop serves the same router
//! with hyper-util's auto (HTTP/1.1 + h2c) connection builder and adds three limits from [`ServerConfig`]:
//!
//! * **header-read timeout**: an HTTP/1 request whose headers have not fully arrived in time closes its
//!   connection (hyper's own timer);
//! * **idle timeout**: a connection that has no request in progress and moved no bytes for this long is
//!   closed (HTTP/2 gets a GOAWAY first); this also covers connections that never send a byte;
//! * **maximum connections**: at most this many connections are served at once; further ones wait in the
//!   listen backlog (they are not refused) until a slot frees, so established clients are never starved and
//!   the process cannot run out of file descriptors because of them.
//!
//! Should `accept` still fail for lack of file descriptors (a low `ulimit -n`), every connection that is idle
//! at that moment is closed at once, so the server keeps answering instead of waiting out the idle timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::ServerConfig;

/// How long a connection asked to close (idle, or server shutdown) may take to finish its exchange.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

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
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing_tx, closing_rx) = watch::channel(false);
    // Bumped when accept runs out of file descriptors: idle connections close at once.
    let (shed_tx, shed_rx) = watch::channel(0u64);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        // Wait for a free slot first: excess connections stay queued in the listen backlog.
        let slot = tokio::select! {
            () = &mut stop => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    if out_of_descriptors(&e) {
                        shed_tx.send_modify(|n| *n += 1);
                    }
                    drop(slot);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let builder = Arc::clone(&builder);
        let router = router.clone();
        let closing = closing_rx.clone();
        let mut shed = shed_rx.clone();
        shed.mark_unchanged();
        connections.spawn(async move {
            serve_connection(&builder, stream, router, limits.idle_timeout, closing, shed).await;
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

/// Resolves when asked to shed load while this connection is idle.
async fn shed_if_idle(activity: &Activity, shed: &mut watch::Receiver<u64>) {
    loop {
        if shed.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        if activity.idle_for().is_some() {
            return;
        }
    }
}

/// Per-connection activity: when bytes last moved, and how many requests are being handled.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    last_io_ms: AtomicU64,
    in_flight: AtomicUsize,
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
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    router: Router,
    idle_timeout: Duration,
    mut closing: watch::Receiver<bool>,
    mut shed: watch::Receiver<u64>,
) {
    let activity = Arc::new(Activity {
        opened: Instant::now(),
        last_io_ms: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
    });
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let tower = TowerToHyperService::new(router);
    let service_activity = Arc::clone(&activity);
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
        () = idle(&activity, idle_timeout) => "idle",
        () = shed_if_idle(&activity, &mut shed) => "out of file descriptors",
        _ = closing.wait_for(|closing| *closing) => "server shutdown",
    };
    tracing::debug!(reason, "closing connection");
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(CLOSE_GRACE, connection).await;
}

/// A TCP stream that records when bytes last moved.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
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

impl AsyncWrite for Tracked {
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
