//! The boundary between the sans-IO core and the runtime adapters.
//!
//! An adapter implements [`Transport`] (send one HTTP request, return the whole response) and
//! [`AsyncSleep`] (wait, for retry back-off). Everything else — encoding, retries, paging, concurrency —
//! is written once in the core over these two traits.
//!
//! Design: both traits are object safe and return boxed `Send` futures, so a client holds an
//! `Arc<dyn Transport>` and none of the user-facing types are generic over the adapter. The cost is one
//! allocation per HTTP request, which is noise next to a network round trip, and in exchange the public
//! API (`Client`, `Dataset`, `Collection`, ...) is the same concrete type in every adapter.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

/// A boxed, `Send` future, as returned by the adapter traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An HTTP request as the core hands it to a transport: method, absolute URL, headers and the full body.
pub type HttpRequest = http::Request<Bytes>;

/// An HTTP response as a transport hands it back: status, headers and the full (still content-encoded) body.
pub type HttpResponse = http::Response<Bytes>;

/// Sends one HTTP request and returns the complete response.
///
/// Implementations must not decompress the body themselves (the core decodes by `Content-Encoding`), must
/// not retry (the core's retry policy does), and must map every failure to reach the server or read its
/// answer to a [`TransportError`]. Dropping the returned future must abandon the request.
pub trait Transport: Send + Sync + 'static {
    /// Send `request` and resolve to the response, whatever its status.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// Waits for a duration on the adapter's runtime (tokio, async-io, a thread, or a fake clock in tests).
pub trait AsyncSleep: Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// A unit of CPU-bound work handed to an [`Offload`].
pub type OffloadJob = Box<dyn FnOnce() + Send + 'static>;

/// Runs CPU-bound work (decoding a page into Arrow) on another thread than the one driving a load, so
/// decoding runs in parallel with it. Optional: without one, the work runs where the load's future is polled.
pub trait Offload: Send + Sync + 'static {
    /// Runs `job` soon on some other thread (a pool's worker, a runtime's blocking thread).
    fn spawn(&self, job: OffloadJob);
}

/// Why a request did not produce an HTTP response.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection could not be established (refused, DNS failure, TLS handshake failure).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The request timed out.
    #[error("request timed out: {0}")]
    Timeout(String),
    /// The connection broke while sending the request or reading the response.
    #[error("connection failed: {0}")]
    Io(String),
    /// The request could not be built or sent for another reason (bad URL, unsupported scheme, ...).
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// Whether sending the same request again may succeed (connection-level failures).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Connect(_) | TransportError::Timeout(_) | TransportError::Io(_)
        )
    }
}
