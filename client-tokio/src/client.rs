//! [`Client`] and [`ClientBuilder`]: the core's client wired to reqwest and the tokio timer.

use std::sync::Arc;
use std::time::Duration;

use tilebox_core::{
    ClientConfig, ClientConfigBuilder, Collection, Datapoints, Dataset, DatasetSpec, DatasetTree,
    Error, IntoDatapointId, QueryOptions, Result, RetryPolicy, Transport,
};

use crate::{ReqwestTransport, TokioSleep};

/// The Tilebox datasets client for tokio programs. Cheap to clone; clones share the connection pool.
///
/// All operations are the core's ([`tilebox_core::Client`]); [`Dataset`] and [`Collection`] are the core's
/// types. Futures must be polled inside a tokio runtime; dropping one cancels its requests.
#[derive(Clone, Debug)]
pub struct Client {
    inner: tilebox_core::Client,
}

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

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        self.inner.config()
    }

    /// All datasets visible to the caller, as a group tree navigable by dotted path.
    pub async fn datasets(&self) -> Result<DatasetTree> {
        self.inner.datasets().await
    }

    /// The dataset with this slug, e.g. `open_data.copernicus.landsat8_oli_tirs`.
    pub async fn dataset(&self, slug: &str) -> Result<Dataset> {
        self.inner.dataset(slug).await
    }

    /// The dataset with this id.
    pub async fn dataset_by_id(&self, id: impl IntoDatapointId) -> Result<Dataset> {
        self.inner.dataset_by_id(id).await
    }

    /// Creates a dataset.
    pub async fn create_dataset(&self, spec: DatasetSpec) -> Result<Dataset> {
        self.inner.create_dataset(spec).await
    }

    /// Updates your dataset with this code name, or creates it.
    pub async fn create_or_update_dataset(&self, spec: DatasetSpec) -> Result<Dataset> {
        self.inner.create_or_update_dataset(spec).await
    }

    /// Loads many collections concurrently (and each in `options.parallel_pages` parts), results in input
    /// order; see [`tilebox_core::Client::load_collections`].
    pub async fn load_collections(
        &self,
        collections: &[Collection],
        options: &QueryOptions,
    ) -> Vec<Result<Datapoints>> {
        self.inner.load_collections(collections, options).await
    }
}

impl From<Client> for tilebox_core::Client {
    fn from(client: Client) -> Self {
        client.inner
    }
}

/// Builder for [`Client`]; unset values come from the environment, then the defaults.
#[derive(Clone, Default)]
pub struct ClientBuilder {
    config: ClientConfigBuilder,
    connect_timeout: Option<Duration>,
    transport: Option<Arc<dyn Transport>>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("connect_timeout", &self.connect_timeout)
            .field("custom_transport", &self.transport.is_some())
            .finish()
    }
}

impl ClientBuilder {
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

    /// The retry policy for `unavailable` and connection failures (default: 5 attempts, 20 ms x3, 5 s cap).
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

    /// Timeout for establishing a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Gzip request bodies (default off).
    pub fn gzip_requests(mut self, gzip: bool) -> Self {
        self.config = self.config.gzip_requests(gzip);
        self
    }

    /// Send through this transport instead of reqwest (tests, instrumentation, record/replay).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Build the client.
    pub fn build(self) -> Result<Client> {
        let config = self.config.build();
        let transport = match self.transport {
            Some(transport) => transport,
            None => {
                let mut builder = ReqwestTransport::builder()
                    .timeout(config.timeout())
                    .pool_max_idle_per_host(config.concurrency().max(8));
                if let Some(timeout) = self.connect_timeout {
                    builder = builder.connect_timeout(timeout);
                }
                Arc::new(builder.build().map_err(|source| Error::Transport {
                    source,
                    attempts: 0,
                })?)
            }
        };
        Ok(Client {
            inner: tilebox_core::Client::new(config, transport, Arc::new(TokioSleep)),
        })
    }
}
