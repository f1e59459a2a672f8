//! Transport wrappers for tests: counting requests (and abandoned ones), and answering `unavailable`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tilebox_core::{BoxFuture, HttpRequest, HttpResponse, Transport, TransportError};

/// Request counters shared between a [`Counting`] transport and the test.
#[derive(Debug, Default)]
pub struct Stats {
    started: AtomicUsize,
    completed: AtomicUsize,
    abandoned: AtomicUsize,
}

impl Stats {
    /// New counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// Requests handed to the transport.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
    /// Requests that produced a result.
    pub fn completed(&self) -> usize {
        self.completed.load(Ordering::SeqCst)
    }
    /// Requests whose future was dropped before it produced a result.
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }
    /// Requests still running.
    pub fn in_flight(&self) -> usize {
        self.started() - self.completed() - self.abandoned()
    }
}

/// Counts what passes through to the inner transport.
pub struct Counting {
    inner: Arc<dyn Transport>,
    stats: Arc<Stats>,
}

impl Counting {
    /// Wrap `inner`, counting into `stats`.
    pub fn wrap(inner: Arc<dyn Transport>, stats: Arc<Stats>) -> Arc<dyn Transport> {
        Arc::new(Self { inner, stats })
    }
}

struct Guard {
    stats: Arc<Stats>,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done {
            self.stats.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Transport for Counting {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            self.stats.started.fetch_add(1, Ordering::SeqCst);
            let mut guard = Guard {
                stats: Arc::clone(&self.stats),
                done: false,
            };
            let result = self.inner.send(request).await;
            guard.done = true;
            self.stats.completed.fetch_add(1, Ordering::SeqCst);
            result
        })
    }
}

/// Answers the first `fail_first` requests with a Connect `unavailable` error (HTTP 503), then passes
/// requests through; counts every attempt.
pub struct Unavailable {
    inner: Arc<dyn Transport>,
    fail_first: usize,
    attempts: Arc<AtomicUsize>,
}

impl Unavailable {
    /// Wrap `inner`; `attempts` counts every request.
    pub fn wrap(
        inner: Arc<dyn Transport>,
        fail_first: usize,
        attempts: Arc<AtomicUsize>,
    ) -> Arc<dyn Transport> {
        Arc::new(Self {
            inner,
            fail_first,
            attempts,
        })
    }
}

impl Transport for Unavailable {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        if attempt < self.fail_first {
            let body = format!(
                r#"{{"code":"unavailable","message":"busy (attempt {})"}}"#,
                attempt + 1
            );
            let response = http::Response::builder()
                .status(503)
                .header("content-type", "application/json")
                .body(Bytes::from(body))
                .map_err(|e| TransportError::Other(e.to_string()));
            return Box::pin(async move { response });
        }
        self.inner.send(request)
    }
}
