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

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
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

/// An [`Offload`] that keeps at most one job per core running on the inner one and queues the rest: a
/// finished job's thread runs the next queued job. A load hands over a decoding job per page, often many at
/// once; running them on as many pool threads would not decode faster on the cores there are, and every extra
/// thread that allocates column buffers costs memory (an allocator arena of its own).
pub(crate) struct BoundedOffload {
    shared: Arc<Bounded>,
}

struct Bounded {
    inner: Arc<dyn Offload>,
    limit: usize,
    state: Mutex<BoundedState>,
}

#[derive(Default)]
struct BoundedState {
    running: usize,
    queued: VecDeque<OffloadJob>,
}

impl BoundedOffload {
    /// `inner`, bounded to the machine's available parallelism.
    pub(crate) fn wrap(inner: Arc<dyn Offload>) -> Arc<dyn Offload> {
        let limit = std::thread::available_parallelism().map_or(1, usize::from);
        Arc::new(BoundedOffload::new(inner, limit))
    }

    fn new(inner: Arc<dyn Offload>, limit: usize) -> Self {
        BoundedOffload {
            shared: Arc::new(Bounded {
                inner,
                limit: limit.max(1),
                state: Mutex::new(BoundedState::default()),
            }),
        }
    }
}

impl Bounded {
    fn lock(&self) -> std::sync::MutexGuard<'_, BoundedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Offload for BoundedOffload {
    fn spawn(&self, job: OffloadJob) {
        {
            let mut state = self.shared.lock();
            if state.running >= self.shared.limit {
                state.queued.push_back(job);
                return;
            }
            state.running += 1;
        }
        let shared = Arc::clone(&self.shared);
        self.shared.inner.spawn(Box::new(move || {
            let mut job = job;
            loop {
                // A panicking job drops its result channel (its caller sees it cancelled); the queue goes on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                let mut state = shared.lock();
                match state.queued.pop_front() {
                    Some(next) => job = next,
                    None => {
                        state.running -= 1;
                        return;
                    }
                }
            }
        }));
    }
}

#[cfg(test)]
mod bounded_offload_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// Runs each job on a new thread.
    struct Threads;

    impl Offload for Threads {
        fn spawn(&self, job: OffloadJob) {
            std::thread::spawn(job);
        }
    }

    #[test]
    fn at_most_limit_jobs_run_at_once_and_every_job_runs() {
        let offload = BoundedOffload::new(Arc::new(Threads), 2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (done, finished) = mpsc::channel();
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        for i in 0..10 {
            let (running, most, done, gate) =
                (running.clone(), most.clone(), done.clone(), gate.clone());
            offload.spawn(Box::new(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Every job waits for its own release, so overlapping jobs are really running together.
                let _ = gate.lock().unwrap_or_else(|e| e.into_inner()).recv();
                running.fetch_sub(1, Ordering::SeqCst);
                if i == 3 {
                    panic!("a panicking job does not stop the queue");
                }
                let _ = done.send(i);
            }));
        }
        for _ in 0..10 {
            release.send(()).expect("jobs are waiting");
        }
        let mut ran: Vec<i32> = (0..9)
            .map(|_| {
                finished
                    .recv_timeout(std::time::Duration::from_secs(30))
                    .expect("every job runs")
            })
            .collect();
        ran.sort_unstable();
        assert_eq!(ran, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
        assert!(most.load(Ordering::SeqCst) <= 2, "at most two at once");
    }
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

/// Gathers a response body from the chunks a transport reads, holding the body once: a body that arrives
/// in one chunk is kept as it is (no copy); otherwise the chunks are copied, as they arrive, into one buffer
/// sized up front from the response's `Content-Length`, so each chunk is released as soon as it is read
/// (collecting all chunks and then concatenating them would hold the body twice).
#[derive(Debug, Default)]
pub struct BodyCollector {
    first: Option<Bytes>,
    joined: bytes::BytesMut,
    size_hint: usize,
}

/// The most a `Content-Length` header may pre-size a body buffer (larger bodies grow as they arrive).
const MAX_BODY_PRESIZE: u64 = 64 << 20;

impl BodyCollector {
    /// A collector for a body of `content_length` bytes, if known.
    pub fn new(content_length: Option<u64>) -> Self {
        BodyCollector {
            first: None,
            joined: bytes::BytesMut::new(),
            size_hint: content_length.map_or(0, |n| n.min(MAX_BODY_PRESIZE) as usize),
        }
    }

    /// Adds the next chunk of the body.
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        if self.first.is_none() && self.joined.is_empty() {
            self.first = Some(chunk);
            return;
        }
        if let Some(first) = self.first.take() {
            self.joined
                .reserve(self.size_hint.max(first.len() + chunk.len()));
            self.joined.extend_from_slice(&first);
        }
        self.joined.extend_from_slice(&chunk);
    }

    /// The whole body.
    pub fn finish(self) -> Bytes {
        match self.first {
            Some(first) => first,
            None => self.joined.freeze(),
        }
    }
}

#[cfg(test)]
mod body_collector_tests {
    use super::*;

    #[test]
    fn one_chunk_is_kept_and_many_are_joined_in_order() {
        let mut one = BodyCollector::new(Some(3));
        let chunk = Bytes::from_static(b"abc");
        one.push(chunk.clone());
        let body = one.finish();
        assert_eq!(body, chunk);
        assert_eq!(
            body.as_ptr(),
            chunk.as_ptr(),
            "a single chunk is not copied"
        );

        let mut many = BodyCollector::new(Some(9));
        for part in [&b"abc"[..], b"", b"de", b"fghi"] {
            many.push(Bytes::copy_from_slice(part));
        }
        assert_eq!(many.finish(), Bytes::from_static(b"abcdefghi"));

        // A wrong or absent length only changes the buffer's first size.
        let mut unsized_body = BodyCollector::new(None);
        let mut lying = BodyCollector::new(Some(u64::MAX));
        for part in [&b"x"[..], b"yz"] {
            unsized_body.push(Bytes::copy_from_slice(part));
            lying.push(Bytes::copy_from_slice(part));
        }
        assert_eq!(unsized_body.finish(), Bytes::from_static(b"xyz"));
        assert_eq!(lying.finish(), Bytes::from_static(b"xyz"));
        assert_eq!(BodyCollector::new(Some(0)).finish(), Bytes::new());
    }
}
