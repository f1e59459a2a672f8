//! [`Client`]: the core's client wired to hyper over async-io and the async-io timer. The builder is the core's
//! [`tilebox_core::ClientBuilder`], parameterised by [`AsyncIo`].

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tilebox_core::{AsyncSleep, ClientConfig, Result, Runtime, Transport, TransportError};

use crate::{AsyncIoSleep, HyperTransport};

/// The Tilebox datasets client for async-std and smol programs. Futures run on any executor; no tokio runtime is ever started.
///
/// It dereferences to [`tilebox_core::Client`], so every operation (`datasets`, `dataset`,
/// `load_collections`, ...) is the core's, and [`Dataset`](tilebox_core::Dataset) and
/// [`Collection`](tilebox_core::Collection) are the core's types. Cheap to clone; clones share the connection
/// pool. Dropping a future cancels its requests.
#[derive(Clone, Debug)]
pub struct Client {
    inner: tilebox_core::Client,
}

/// Builder of a [`Client`]: URL, API key, retries, concurrency, timeouts, user agent, custom transport.
pub type ClientBuilder = tilebox_core::ClientBuilder<AsyncIo>;

impl Client {
    /// A client configured from the environment: `TILEBOX_API_URL` (default `https://api.tilebox.com`) and
    /// `TILEBOX_API_KEY` (default anonymous, using the hosted API's `/public` routes).
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// Configure a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The adapter-independent client this wraps.
    pub fn core(&self) -> &tilebox_core::Client {
        &self.inner
    }
}

impl Deref for Client {
    type Target = tilebox_core::Client;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl From<tilebox_core::Client> for Client {
    fn from(inner: tilebox_core::Client) -> Self {
        Client { inner }
    }
}

impl From<Client> for tilebox_core::Client {
    fn from(client: Client) -> Self {
        client.inner
    }
}

/// The async-std/smol adapter: hyper over async-net sockets, async-io timer.
#[derive(Debug, Clone, Copy)]
pub struct AsyncIo;

impl Runtime for AsyncIo {
    type Client = Client;

    fn transport(
        config: &ClientConfig,
        connect_timeout: Option<Duration>,
    ) -> std::result::Result<Arc<dyn Transport>, TransportError> {
        let mut builder = HyperTransport::builder()
            .timeout(config.timeout())
            .max_idle_per_host(config.concurrency().max(8));
        if let Some(timeout) = connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        Ok(Arc::new(builder.build()?))
    }

    fn sleep() -> Arc<dyn AsyncSleep> {
        Arc::new(AsyncIoSleep)
    }
}
