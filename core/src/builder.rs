//! [`ClientBuilder`]: the one client builder every adapter exposes, parameterised by the adapter's
//! [`Runtime`] (its default transport, its sleep, its client type).
//!
//! The setters and the build steps are written here once; an adapter only says how to make its transport.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ClientConfigBuilder;
use crate::{AsyncSleep, ClientConfig, Error, Result, RetryPolicy, Transport, TransportError};

/// What a transport needs from the client configuration, derived in one place for every adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportSettings {
    /// Total time allowed for one request (none: no limit).
    pub timeout: Option<Duration>,
    /// Time allowed to connect; `None` keeps the transport's default.
    pub connect_timeout: Option<Duration>,
    /// Requests the client may have in flight at once (its concurrency limit).
    pub max_in_flight: usize,
    /// Idle keep-alive connections per host worth keeping: enough to serve `max_in_flight` again.
    pub max_idle_per_host: usize,
}

/// Idle connections kept per host at the least, so small concurrency limits still reuse connections.
const MIN_IDLE_PER_HOST: usize = 8;

impl TransportSettings {
    /// The settings for `config`, with the user's `connect_timeout` if one was set.
    pub fn from_config(config: &ClientConfig, connect_timeout: Option<Duration>) -> Self {
        TransportSettings {
            timeout: config.timeout(),
            connect_timeout,
            max_in_flight: config.concurrency(),
            max_idle_per_host: config.concurrency().max(MIN_IDLE_PER_HOST),
        }
    }
}

/// What a runtime adapter supplies to build its clients.
pub trait Runtime {
    /// The adapter's client type, made from the core client.
    type Client: From<crate::Client>;

    /// The adapter's transport, configured by `settings`.
    fn transport(
        settings: &TransportSettings,
    ) -> std::result::Result<Arc<dyn Transport>, TransportError>;

    /// The sleep used between retries.
    fn sleep() -> Arc<dyn AsyncSleep>;
}

/// Builder of an adapter's client; unset values come from the environment (`TILEBOX_API_URL`,
/// `TILEBOX_API_KEY`), then the defaults.
pub struct ClientBuilder<R> {
    config: ClientConfigBuilder,
    connect_timeout: Option<Duration>,
    transport: Option<Arc<dyn Transport>>,
    runtime: PhantomData<fn() -> R>,
}

impl<R> Default for ClientBuilder<R> {
    fn default() -> Self {
        ClientBuilder {
            config: ClientConfigBuilder::default(),
            connect_timeout: None,
            transport: None,
            runtime: PhantomData,
        }
    }
}

impl<R> Clone for ClientBuilder<R> {
    fn clone(&self) -> Self {
        ClientBuilder {
            config: self.config.clone(),
            connect_timeout: self.connect_timeout,
            transport: self.transport.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R> fmt::Debug for ClientBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("connect_timeout", &self.connect_timeout)
            .field("custom_transport", &self.transport.is_some())
            .finish()
    }
}

impl<R: Runtime> ClientBuilder<R> {
    /// The API URL (default `TILEBOX_API_URL`, else `https://api.tilebox.com`).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.config = self.config.url(url);
        self
    }

    /// The API key (default `TILEBOX_API_KEY`, else anonymous).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config = self.config.api_key(key);
        self
    }

    /// Anonymous access even if `TILEBOX_API_KEY` is set.
    pub fn anonymous(mut self) -> Self {
        self.config = self.config.anonymous();
        self
    }

    /// The retry policy for `unavailable` and connection failures (default: a 30 s budget, 20 ms x3, 2 s cap).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.config = self.config.retry(retry);
        self
    }

    /// Maximum concurrent requests when loading collections and pages (default 8).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.config = self.config.concurrency(concurrency);
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.config = self.config.user_agent(user_agent);
        self
    }

    /// Timeout of one request (default none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.timeout(timeout);
        self
    }

    /// Timeout for establishing a connection (default: the transport's, 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Gzip request bodies (default off).
    pub fn gzip_requests(mut self, gzip: bool) -> Self {
        self.config = self.config.gzip_requests(gzip);
        self
    }

    /// Which response encodings to ask for (default: gzip except for loopback servers).
    pub fn response_compression(mut self, compression: crate::ResponseCompression) -> Self {
        self.config = self.config.response_compression(compression);
        self
    }

    /// Send through this transport instead of the adapter's own (tests, instrumentation, record/replay).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Build the client.
    pub fn build(self) -> Result<R::Client> {
        let config = self.config.build();
        let transport = match self.transport {
            Some(transport) => transport,
            None => R::transport(&TransportSettings::from_config(
                &config,
                self.connect_timeout,
            ))
            .map_err(|source| Error::Transport {
                source,
                attempts: 0,
            })?,
        };
        Ok(crate::Client::new(config, transport, R::sleep()).into())
    }
}

/// The client of an async adapter: the core [`Client`](crate::Client) built with runtime `R`'s transport
/// and sleep. `tilebox_tokio::Client` and `tilebox_async_std::Client` are this type.
///
/// It dereferences to the core client, so every operation (`datasets`, `dataset`, `load_collections`, ...)
/// is the core's. Cheap to clone; clones share the connection pool. Dropping a future cancels its requests.
pub struct AdapterClient<R> {
    inner: crate::Client,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime<Client = AdapterClient<R>>> AdapterClient<R> {
    /// A client configured from the environment: `TILEBOX_API_URL` (default `https://api.tilebox.com`) and
    /// `TILEBOX_API_KEY` (default anonymous, using the hosted API's `/public` routes).
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// Configure a client.
    pub fn builder() -> ClientBuilder<R> {
        ClientBuilder::default()
    }
}

impl<R> AdapterClient<R> {
    /// The adapter-independent client this wraps.
    pub fn core(&self) -> &crate::Client {
        &self.inner
    }
}

impl<R> Clone for AdapterClient<R> {
    fn clone(&self) -> Self {
        AdapterClient {
            inner: self.inner.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R> fmt::Debug for AdapterClient<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Client").field(&self.inner).finish()
    }
}

impl<R> std::ops::Deref for AdapterClient<R> {
    type Target = crate::Client;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<R> From<crate::Client> for AdapterClient<R> {
    fn from(inner: crate::Client) -> Self {
        AdapterClient {
            inner,
            runtime: PhantomData,
        }
    }
}

impl<R> From<AdapterClient<R>> for crate::Client {
    fn from(client: AdapterClient<R>) -> Self {
        client.inner
    }
}
