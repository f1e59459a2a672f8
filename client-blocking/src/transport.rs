//! [`UreqTransport`]: the core's [`Transport`] over a pooled ureq agent, with the blocking calls on worker
//! threads.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::oneshot;
use tilebox_core::{BoxFuture, HttpRequest, HttpResponse, Transport, TransportError};

use tilebox_core::threads::ThreadPool;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{Connector, DefaultConnector};

use crate::coalesce::CoalescingConnector;

/// The most a `Content-Length` header may pre-size a response buffer (larger bodies grow as they arrive).
const MAX_BODY_PRESIZE: u64 = 64 << 20;

/// How long an idle worker thread waits for work before it ends.
pub(crate) const IDLE_EXIT: Duration = Duration::from_secs(30);

/// Runs `job` on `pool`, or on this thread when not a single pool thread could be started.
pub(crate) fn run_or_inline(pool: &ThreadPool, job: tilebox_core::threads::PoolJob) {
    if let Err(unstarted) = pool.execute(job) {
        tracing::warn!(error = %unstarted.error, "could not start a tilebox I/O thread");
        (unstarted.job)();
    }
}

/// Sends the core's HTTP requests with a pooled [`ureq::Agent`] (rustls with ring).
///
/// ureq blocks, so each request runs on one of a bounded set of I/O threads and its result comes back
/// through a oneshot channel: the core's futures, driven by `futures::executor::block_on`, then get real
/// concurrency (as many requests in flight as there are threads). A request whose future was dropped before
/// a thread picked it up is never sent.
pub struct UreqTransport {
    agent: ureq::Agent,
    workers: Arc<ThreadPool>,
}

impl std::fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UreqTransport").finish_non_exhaustive()
    }
}

impl UreqTransport {
    /// A transport with default settings (see [`UreqTransportBuilder`]).
    pub fn new() -> Self {
        Self::builder().build_with_roots(ureq::tls::RootCerts::WebPki)
    }

    /// Configure a transport.
    pub fn builder() -> UreqTransportBuilder {
        UreqTransportBuilder::default()
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

/// Builder for [`UreqTransport`].
#[derive(Debug, Clone)]
pub struct UreqTransportBuilder {
    timeout: Option<Duration>,
    connect_timeout: Duration,
    io_threads: usize,
    max_idle_per_host: usize,
    root_certificates: Vec<Vec<u8>>,
}

impl Default for UreqTransportBuilder {
    fn default() -> Self {
        Self {
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            io_threads: 8,
            max_idle_per_host: 32,
            root_certificates: Vec::new(),
        }
    }
}

impl UreqTransportBuilder {
    /// Total time allowed for one request, from connecting to reading the last body byte (default: none).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Maximum number of I/O threads, i.e. requests in flight at once (default 8; set it to the client's
    /// concurrency limit).
    pub fn io_threads(mut self, threads: usize) -> Self {
        self.io_threads = threads.max(1);
        self
    }

    /// How many idle keep-alive connections per host the agent keeps (default 32).
    pub fn max_idle_per_host(mut self, max: usize) -> Self {
        self.max_idle_per_host = max;
        self
    }

    /// Trust the root certificate(s) in this PEM text besides the bundled Mozilla roots.
    pub fn add_root_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// The trusted roots: the bundled Mozilla roots, plus the added ones if any.
    fn root_certs(&self) -> Result<ureq::tls::RootCerts, TransportError> {
        if self.root_certificates.is_empty() {
            return Ok(ureq::tls::RootCerts::WebPki);
        }
        // ureq takes either its bundled roots or a list of certificates; so the bundled Mozilla roots come
        // as certificates too, and the added ones join them.
        let mut certs: Vec<ureq::tls::Certificate<'static>> =
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
                .collect();
        for pem in &self.root_certificates {
            let before = certs.len();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(TransportError::Other(format!(
                            "invalid root certificate PEM: {e}"
                        )));
                    }
                }
            }
            if certs.len() == before {
                return Err(TransportError::Other(
                    "invalid root certificate PEM: no certificate found".to_owned(),
                ));
            }
        }
        Ok(ureq::tls::RootCerts::new_with_certs(&certs))
    }

    /// Build the transport; fails only on malformed root certificates.
    pub fn build(self) -> Result<UreqTransport, TransportError> {
        let roots = self.root_certs()?;
        Ok(self.build_with_roots(roots))
    }

    fn build_with_roots(self, roots: ureq::tls::RootCerts) -> UreqTransport {
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        let config = ureq::Agent::config_builder()
            // Statuses are the core's business (Connect errors come with 4xx/5xx).
            .http_status_as_error(false)
            .timeout_global(self.timeout)
            .timeout_connect(Some(self.connect_timeout))
            .max_idle_connections_per_host(self.max_idle_per_host)
            .max_idle_connections(self.max_idle_per_host.max(1) * 4)
            .tls_config(tls)
            .build();
        let connector = DefaultConnector::default().chain(CoalescingConnector);
        UreqTransport {
            agent: ureq::Agent::with_parts(config, connector, DefaultResolver::default()),
            workers: Arc::new(ThreadPool::new("tilebox-io", self.io_threads, IDLE_EXIT)),
        }
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        if tilebox_core::executor::inline_io_allowed() {
            // The caller's thread waits for this request alone (e.g. the blocking runner's loop): run it here.
            let response = send_blocking(&self.agent, request);
            return Box::pin(std::future::ready(response));
        }
        let (tx, rx) = oneshot::channel();
        let agent = self.agent.clone();
        run_or_inline(
            &self.workers,
            Box::new(move || {
                if tx.is_canceled() {
                    // The caller dropped the future before the request started.
                    return;
                }
                let _ = tx.send(send_blocking(&agent, request));
            }),
        );
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(TransportError::Other(
                    "the I/O thread ended unexpectedly".to_owned(),
                ))
            })
        })
    }
}

/// One blocking round trip.
pub(crate) fn send_blocking(
    agent: &ureq::Agent,
    request: HttpRequest,
) -> Result<HttpResponse, TransportError> {
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, body.as_ref());
    let response = agent.run(request).map_err(map_error)?;
    let (parts, mut body) = response.into_parts();
    // Sized from Content-Length up front (capped), so the buffer is not regrown and copied as it fills.
    let length = body.content_length().unwrap_or(0).min(MAX_BODY_PRESIZE);
    let mut buffer = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    body.as_reader()
        .read_to_end(&mut buffer)
        .map_err(|e| map_error(ureq::Error::from(e)))?;
    Ok(http::Response::from_parts(parts, Bytes::from(buffer)))
}

fn map_error(error: ureq::Error) -> TransportError {
    let message = error.to_string();
    match error {
        ureq::Error::Timeout(_) => TransportError::Timeout(message),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            TransportError::Connect(message)
        }
        ureq::Error::Io(ref io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable => {
                TransportError::Connect(message)
            }
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                TransportError::Timeout(message)
            }
            _ => TransportError::Io(message),
        },
        ureq::Error::Protocol(_) | ureq::Error::BodyStalled => TransportError::Io(message),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => TransportError::Connect(message),
        _ => TransportError::Other(message),
    }
}
