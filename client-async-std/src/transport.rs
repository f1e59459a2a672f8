//! [`HyperTransport`]: the core's [`Transport`] over hyper 1 on async-net sockets, with a connection pool.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{Either, select};
use futures_rustls::rustls;
use http_body_util::Full;
use tilebox_core::{BoxFuture, HttpRequest, HttpResponse, Transport, TransportError};

use crate::pool::{Body, Conn, ExchangeError, Pool};
use crate::stream::{self, Origin};

/// Sends the core's HTTP requests with hyper (HTTP/1.1, keep-alive pool) over async-net TCP streams, with
/// TLS from futures-rustls (ring) for `https`.
///
/// It needs no executor: each request future drives its own connection, so it runs under async-std, smol or
/// `futures::executor` alike, and never starts a tokio runtime.
pub struct HyperTransport {
    pool: Pool,
    tls: Arc<rustls::ClientConfig>,
    timeout: Option<Duration>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_connections", &self.pool.idle_count())
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

    async fn send_inner(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let origin = Origin::of(request.uri())?;
        let (parts, body) = request.into_parts();
        // At most one retry, and only when a pooled connection turned out closed before the request left.
        loop {
            let (mut conn, reused) = match self.pool.checkout(&origin) {
                Some(conn) => (conn, true),
                None => (self.connect(&origin).await?, false),
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
        let connect = async {
            let stream = stream::connect(origin, &self.tls).await?;
            Conn::handshake(stream)
                .await
                .map_err(|e| TransportError::Connect(format!("HTTP handshake failed: {e}")))
        };
        with_timeout(connect, self.connect_timeout, "connecting").await?
    }
}

/// Builder for [`HyperTransport`].
#[derive(Debug, Clone)]
pub struct HyperTransportBuilder {
    timeout: Option<Duration>,
    connect_timeout: Duration,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        Self {
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            max_idle_per_host: 32,
            idle_timeout: Duration::from_secs(60),
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

    /// Build the transport.
    pub fn build(self) -> Result<HyperTransport, TransportError> {
        Ok(HyperTransport {
            pool: Pool::new(self.max_idle_per_host, self.idle_timeout),
            tls: stream::tls_config()?,
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
