//! [`ReqwestTransport`]: the core's [`Transport`] over a pooled `reqwest` client.
//!
//! A blocking entry point (the core's [`block_on`](tilebox_core::block_on)) called on the thread of a
//! current-thread tokio runtime blocks the only thread that drives that runtime's I/O: a request sent there
//! would wait for itself. Such requests go to a second client of the same settings on a one-thread runtime
//! of this crate's own instead (started on first use), so the call works; a transport wrapped with
//! [`ReqwestTransport::from_client`] has no settings to build that client from and answers with an error.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tilebox_core::{
    BodyCollector, BoxFuture, HttpRequest, HttpResponse, Transport, TransportError,
};

/// Sends the core's HTTP requests with a pooled [`reqwest::Client`] (HTTP/1.1 and HTTP/2, rustls with ring).
///
/// Response bodies are handed back still content-encoded: the core decodes `Content-Encoding` itself, so
/// reqwest's own decompression is not compiled in.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    /// For requests made from a blocking call on a current-thread runtime's thread (see the module docs).
    offside: Option<Arc<Offside>>,
}

/// A client of the transport's settings, built on first use, whose connections run on [`io_runtime`].
#[derive(Debug)]
struct Offside {
    settings: ReqwestTransportBuilder,
    client: OnceLock<reqwest::Client>,
}

/// The one-thread runtime that drives requests [`Offside`] clients send.
pub(crate) fn io_runtime() -> Result<&'static tokio::runtime::Runtime, TransportError> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("tilebox-tokio-io")
                .enable_all()
                .build()
        })
        .as_ref()
        .map_err(|e| TransportError::Other(format!("starting the I/O runtime failed: {e}")))
}

/// Whether this thread is blocked in the core's `block_on` while it runs a current-thread tokio runtime.
pub(crate) fn blocking_a_current_thread_runtime() -> bool {
    tilebox_core::executor::in_block_on()
        && matches!(
            tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()),
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread)
        )
}

impl ReqwestTransport {
    /// A transport with default settings (see [`ReqwestTransportBuilder`]).
    pub fn new() -> Result<Self, TransportError> {
        Self::builder().build()
    }

    /// Configure a transport.
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder::default()
    }

    /// Wrap an already configured `reqwest` client (it must not decompress bodies).
    ///
    /// A blocking call inside a current-thread tokio runtime cannot use such a transport: its requests fail
    /// with [`TransportError::Other`] saying so (see the module docs).
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            client,
            offside: None,
        }
    }

    /// The underlying `reqwest` client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// Builder for [`ReqwestTransport`].
#[derive(Debug, Clone)]
pub struct ReqwestTransportBuilder {
    timeout: Option<Duration>,
    connect_timeout: Duration,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    http2_prior_knowledge: bool,
    root_certificates: Vec<Vec<u8>>,
}

impl Default for ReqwestTransportBuilder {
    fn default() -> Self {
        Self {
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            http2_prior_knowledge: false,
            root_certificates: Vec::new(),
        }
    }
}

impl ReqwestTransportBuilder {
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

    /// How long an idle pooled connection is kept (default 90 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// How many idle connections per host are kept for reuse (default 32).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Speak HTTP/2 without negotiation, also over plain `http://` (h2c). Default: HTTP/2 only when the
    /// TLS handshake negotiates it, HTTP/1.1 otherwise.
    pub fn http2_prior_knowledge(mut self, enabled: bool) -> Self {
        self.http2_prior_knowledge = enabled;
        self
    }

    /// Trust the root certificate(s) in this PEM text besides the bundled Mozilla roots.
    pub fn add_root_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// Build the transport.
    pub fn build(self) -> Result<ReqwestTransport, TransportError> {
        let client = self.build_client()?;
        Ok(ReqwestTransport {
            client,
            offside: Some(Arc::new(Offside {
                settings: self,
                client: OnceLock::new(),
            })),
        })
    }

    fn build_client(&self) -> Result<reqwest::Client, TransportError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .tcp_nodelay(true);
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if self.http2_prior_knowledge {
            builder = builder.http2_prior_knowledge();
        }
        for pem in &self.root_certificates {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| TransportError::Other(format!("invalid root certificate PEM: {e}")))?;
            if certificates.is_empty() {
                return Err(TransportError::Other(
                    "invalid root certificate PEM: no certificate found".to_owned(),
                ));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        builder
            .build()
            .map_err(|e| TransportError::Other(format!("building the HTTP client failed: {e}")))
    }
}

impl ReqwestTransport {
    /// Sends `request` on the I/O runtime's client (see the module docs).
    async fn send_offside(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let Some(offside) = &self.offside else {
            return Err(TransportError::Other(
                "a blocking call inside a current-thread tokio runtime cannot use a transport made with \
                 ReqwestTransport::from_client (nothing drives its connections while the thread blocks); \
                 await the async API, use a multi-thread runtime, or build the transport with \
                 ReqwestTransport::builder()"
                    .to_owned(),
            ));
        };
        let runtime = io_runtime()?;
        let client = match offside.client.get() {
            Some(client) => client.clone(),
            None => {
                let client = offside.settings.build_client()?;
                offside.client.get_or_init(|| client).clone()
            }
        };
        runtime
            .spawn(send_with(client, request))
            .await
            .map_err(|e| TransportError::Other(format!("the request task failed: {e}")))?
    }
}

impl Transport for ReqwestTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        if blocking_a_current_thread_runtime() {
            Box::pin(self.send_offside(request))
        } else {
            Box::pin(send_with(self.client.clone(), request))
        }
    }
}

/// Sends `request` with `client` and gathers the response.
async fn send_with(
    client: reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, TransportError> {
    let (parts, body) = request.into_parts();
    let url = reqwest::Url::parse(&parts.uri.to_string())
        .map_err(|e| TransportError::Other(format!("invalid request URL {}: {e}", parts.uri)))?;
    let mut response = client
        .request(parts.method, url)
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(map_error)?;
    let mut builder = http::Response::builder()
        .status(response.status())
        .version(response.version());
    if let Some(headers) = builder.headers_mut() {
        headers.extend(
            response
                .headers()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    let mut body = BodyCollector::new(response.content_length());
    while let Some(chunk) = response.chunk().await.map_err(map_error)? {
        body.push(chunk);
    }
    builder
        .body(body.finish())
        .map_err(|e| TransportError::Other(format!("invalid response: {e}")))
}

/// Classify a reqwest error for the core's retry logic.
fn map_error(error: reqwest::Error) -> TransportError {
    let message = error_chain(&error);
    if error.is_timeout() {
        TransportError::Timeout(message)
    } else if error.is_connect() {
        TransportError::Connect(message)
    } else if error.is_request() || error.is_body() || error.is_decode() {
        TransportError::Io(message)
    } else {
        TransportError::Other(message)
    }
}

/// The error with its sources, so "error sending request" says why.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
