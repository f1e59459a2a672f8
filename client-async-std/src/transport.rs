//! [`HyperTransport`]: the core's [`Transport`] over hyper 1 on async-net sockets, with a connection pool.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{Either, select};
use futures_rustls::rustls;
use http_body_util::Full;
use tilebox_core::{BoxFuture, HttpRequest, HttpResponse, Transport, TransportError};

use crate::h2::{self, H2Connections, Route};
use crate::pool::{Body, Conn, ExchangeError, Pool};
use crate::stream::{self, Origin, Stream};

/// Sends the core's HTTP requests with hyper over async-net TCP streams, with TLS from futures-rustls (ring)
/// for `https`.
///
/// * **HTTP/2** when the TLS handshake negotiates it (ALPN `h2`, on by default) or, on plain `http://`, when
///   [`http2_prior_knowledge`](HyperTransportBuilder::http2_prior_knowledge) is set: one connection per
///   origin carries every concurrent request. Its driver runs as a task on `async-global-executor` (the
///   executor behind async-std; see the `h2` module docs).
/// * **HTTP/1.1** otherwise, from a keep-alive pool: each request future drives its own connection, with no
///   executor at all.
///
/// Either way it runs under async-std, smol or `futures::executor` alike, and never starts a tokio runtime.
pub struct HyperTransport {
    pool: Pool,
    h2: H2Connections,
    tls: Arc<rustls::ClientConfig>,
    http2: bool,
    http2_prior_knowledge: bool,
    timeout: Option<Duration>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("http2", &self.http2)
            .field("http2_prior_knowledge", &self.http2_prior_knowledge)
            .field("idle_connections", &self.pool.idle_count())
            .field("http2_connections", &self.h2.open_count())
            .finish()
    }
}

impl HyperTransport {
    /// A transport with default settings (see [`HyperTransportBuilder`]).
    pub fn new() -> Result<Self, TransportError> {
        Self::builder().build()
    }

    /// Configure a transport.
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
    }

    /// How many idle keep-alive connections the pool holds right now.
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }

    /// How many HTTP/2 connections are open right now.
    pub fn http2_connections(&self) -> usize {
        self.h2.open_count()
    }

    async fn send_inner(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let origin = Origin::of(request.uri())?;
        let (parts, body) = request.into_parts();
        let mut fresh = None;
        let may_use_h2 = if origin.https {
            self.http2
        } else {
            self.http2_prior_knowledge
        };
        if may_use_h2 {
            // At most one retry, and only when the shared connection closed before the request left.
            let mut retried = false;
            loop {
                let route = self
                    .h2
                    .route(&origin, self.http2_prior_knowledge, || {
                        self.connect_stream(&origin)
                    })
                    .await?;
                match route {
                    Route::H2(sender) => {
                        let request = absolute_request(&parts, body.clone())?;
                        match h2::exchange(sender, request).await {
                            Ok(response) => return Ok(response),
                            Err(ExchangeError::Hyper { not_sent: true, .. }) if !retried => {
                                retried = true;
                            }
                            Err(error) => return Err(map_exchange_error(error)),
                        }
                    }
                    Route::Http1(stream) => {
                        fresh = stream;
                        break;
                    }
                }
            }
        }
        // At most one retry, and only when a pooled connection turned out closed before the request left.
        loop {
            let (mut conn, reused) = match fresh.take() {
                Some(stream) => (self.handshake(stream).await?, false),
                None => match self.pool.checkout(&origin) {
                    Some(conn) => (conn, true),
                    None => (self.connect(&origin).await?, false),
                },
            };
            let request = origin_form_request(&parts, &origin, body.clone())?;
            match conn.exchange(request).await {
                Ok((response, reusable)) => {
                    if reusable {
                        self.pool.checkin(&origin, conn);
                    }
                    return Ok(response);
                }
                Err(ExchangeError::Hyper { not_sent: true, .. }) if reused => continue,
                Err(error) => return Err(map_exchange_error(error)),
            }
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<Conn, TransportError> {
        let stream = self.connect_stream(origin).await?;
        self.handshake(stream).await
    }

    /// A TCP (and TLS) stream to `origin`, within the connect timeout.
    async fn connect_stream(&self, origin: &Origin) -> Result<Stream, TransportError> {
        with_timeout(
            stream::connect(origin, &self.tls),
            self.connect_timeout,
            "connecting",
        )
        .await?
    }

    /// The HTTP/1.1 handshake on a fresh stream.
    async fn handshake(&self, stream: Stream) -> Result<Conn, TransportError> {
        Conn::handshake(stream)
            .await
            .map_err(|e| TransportError::Connect(format!("HTTP handshake failed: {e}")))
    }
}

/// Builder for [`HyperTransport`].
#[derive(Debug, Clone)]
pub struct HyperTransportBuilder {
    timeout: Option<Duration>,
    connect_timeout: Duration,
    max_idle_per_host: usize,
    idle_timeout: Duration,
    http2: bool,
    http2_prior_knowledge: bool,
    root_certificates: Vec<Vec<u8>>,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        Self {
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            max_idle_per_host: 32,
            idle_timeout: Duration::from_secs(60),
            http2: true,
            http2_prior_knowledge: false,
            root_certificates: Vec::new(),
        }
    }
}

impl HyperTransportBuilder {
    /// Total time allowed for one request, from connecting to reading the last body byte (default: none).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to establish a connection incl. the TLS handshake (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many idle keep-alive connections per host the pool keeps (default 32).
    pub fn max_idle_per_host(mut self, max: usize) -> Self {
        self.max_idle_per_host = max;
        self
    }

    /// How long an idle connection is kept before it is discarded (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Offer HTTP/2 in the TLS handshake (ALPN `h2`, then `http/1.1`; default on). Off: HTTP/1.1 only.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Speak HTTP/2 from the first byte on plain `http://` (h2c prior knowledge; default off: HTTP/1.1).
    /// Only for servers known to speak h2c, like the local server.
    pub fn http2_prior_knowledge(mut self, enabled: bool) -> Self {
        self.http2_prior_knowledge = enabled;
        self
    }

    /// Trust the root certificate(s) in this PEM text besides the bundled Mozilla roots.
    pub fn add_root_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// Build the transport; fails on malformed root certificates.
    pub fn build(self) -> Result<HyperTransport, TransportError> {
        Ok(HyperTransport {
            pool: Pool::new(self.max_idle_per_host, self.idle_timeout),
            h2: H2Connections::new(),
            tls: stream::tls_config(&self.root_certificates, self.http2)?,
            http2: self.http2,
            http2_prior_knowledge: self.http2_prior_knowledge,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
        })
    }
}

impl Transport for HyperTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            match self.timeout {
                Some(timeout) => with_timeout(self.send_inner(request), timeout, "request").await?,
                None => self.send_inner(request).await,
            }
        })
    }
}

/// Run `future`, or fail with [`TransportError::Timeout`] after `timeout` (the future is dropped).
async fn with_timeout<T>(
    future: impl Future<Output = T>,
    timeout: Duration,
    what: &str,
) -> Result<T, TransportError> {
    let timer = async_io::Timer::after(timeout);
    match select(std::pin::pin!(future), timer).await {
        Either::Left((value, _)) => Ok(value),
        Either::Right(_) => Err(TransportError::Timeout(format!(
            "{what} took longer than {timeout:?}"
        ))),
    }
}

/// The request as HTTP/1.1 sends it: origin-form target plus a `Host` header.
fn origin_form_request(
    parts: &http::request::Parts,
    origin: &Origin,
    body: Bytes,
) -> Result<http::Request<Body>, TransportError> {
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(target)
        .version(http::Version::HTTP_11);
    if let Some(headers) = builder.headers_mut() {
        headers.extend(parts.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !headers.contains_key(http::header::HOST) {
            let default_port = if origin.https { 443 } else { 80 };
            let host = match parts.uri.authority() {
                Some(authority) if origin.port == default_port => authority.host().to_owned(),
                Some(authority) => authority
                    .as_str()
                    .rsplit('@')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                None => origin.host.clone(),
            };
            let value = http::HeaderValue::from_str(&host)
                .map_err(|e| TransportError::Other(format!("invalid host {host}: {e}")))?;
            headers.insert(http::header::HOST, value);
        }
    }
    builder
        .body(Full::new(body))
        .map_err(|e| TransportError::Other(format!("invalid request: {e}")))
}

/// The request as HTTP/2 sends it: the absolute URI gives `:scheme` and `:authority`.
fn absolute_request(
    parts: &http::request::Parts,
    body: Bytes,
) -> Result<http::Request<Body>, TransportError> {
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone())
        .version(http::Version::HTTP_2);
    if let Some(headers) = builder.headers_mut() {
        headers.extend(
            parts
                .headers
                .iter()
                .filter(|(k, _)| *k != http::header::HOST && *k != http::header::CONNECTION)
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    builder
        .body(Full::new(body))
        .map_err(|e| TransportError::Other(format!("invalid request: {e}")))
}

fn map_exchange_error(error: ExchangeError) -> TransportError {
    match error {
        ExchangeError::Closed => {
            TransportError::Io("connection closed before the response was complete".to_owned())
        }
        ExchangeError::Hyper { error, .. } => {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            if error.is_user() {
                TransportError::Other(message)
            } else {
                TransportError::Io(message)
            }
        }
    }
}
