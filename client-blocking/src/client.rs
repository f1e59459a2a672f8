//! [`Client`]: the core's client wired to ureq, with blocking methods. The builder is the core's
//! [`tilebox_core::ClientBuilder`], parameterised by [`Blocking`].

use std::sync::Arc;

use tilebox_core::{
    AsyncSleep, ClientConfig, Datapoints, DatasetSpec, IntoDatapointId, QueryOptions, Result,
    Runtime, Transport, TransportError, TransportSettings,
};

use crate::block_on::block_on;
use crate::model::{Collection, Dataset, DatasetTree};
use crate::{ThreadSleep, UreqTransport};

/// The Tilebox datasets client for synchronous programs. Cheap to clone; clones share the connection pool
/// and the I/O threads.
///
/// Every method blocks until done. Concurrent operations ([`Client::load_collections`], parallel paging)
/// run the core's loading logic on the calling thread with the requests on up to `concurrency` I/O threads.
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

    /// The async client this wraps (its futures can be driven by any executor).
    pub fn as_async(&self) -> &tilebox_core::Client {
        &self.inner
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        self.inner.config()
    }

    /// All datasets visible to the caller, as a group tree navigable by dotted path.
    pub fn datasets(&self) -> Result<DatasetTree> {
        block_on(self.inner.datasets()).map(DatasetTree::from)
    }

    /// The dataset with this slug, e.g. `open_data.copernicus.landsat8_oli_tirs`.
    pub fn dataset(&self, slug: &str) -> Result<Dataset> {
        block_on(self.inner.dataset(slug)).map(Dataset::from)
    }

    /// The dataset with this id.
    pub fn dataset_by_id(&self, id: impl IntoDatapointId) -> Result<Dataset> {
        block_on(self.inner.dataset_by_id(id)).map(Dataset::from)
    }

    /// Creates a dataset.
    pub fn create_dataset(&self, spec: DatasetSpec) -> Result<Dataset> {
        block_on(self.inner.create_dataset(spec)).map(Dataset::from)
    }

    /// Updates your dataset with this code name, or creates it.
    pub fn create_or_update_dataset(&self, spec: DatasetSpec) -> Result<Dataset> {
        block_on(self.inner.create_or_update_dataset(spec)).map(Dataset::from)
    }

    /// Loads many collections concurrently (and each in `options.parallel_pages` parts), results in input
    /// order; see [`tilebox_core::Client::load_collections`].
    pub fn load_collections(
        &self,
        collections: &[Collection],
        options: &QueryOptions,
    ) -> Vec<Result<Datapoints>> {
        let collections: Vec<tilebox_core::Collection> =
            collections.iter().map(|c| c.as_async().clone()).collect();
        block_on(self.inner.load_collections(&collections, options))
    }
}

#[cfg(feature = "arrow")]
impl Client {
    /// Loads many collections concurrently like [`Client::load_collections`], decoding every page into an
    /// Arrow record batch on worker threads as it arrives; see
    /// [`tilebox_core::Client::load_collections_arrow`].
    pub fn load_collections_arrow(
        &self,
        collections: &[Collection],
        options: &QueryOptions,
    ) -> Vec<Result<tilebox_core::arrow::RecordBatches>> {
        let collections: Vec<tilebox_core::Collection> =
            collections.iter().map(|c| c.as_async().clone()).collect();
        block_on(self.inner.load_collections_arrow(&collections, options))
    }
}

impl From<tilebox_core::Client> for Client {
    fn from(inner: tilebox_core::Client) -> Self {
        Client { inner }
    }
}

/// Builder of a [`Client`]: URL, API key, retries, concurrency, timeouts, user agent, custom transport.
pub type ClientBuilder = tilebox_core::ClientBuilder<Blocking>;

impl From<Client> for tilebox_core::Client {
    fn from(client: Client) -> Self {
        client.inner
    }
}

/// The blocking adapter: ureq transport with I/O threads, thread timer.
#[derive(Debug, Clone, Copy)]
pub struct Blocking;

impl Runtime for Blocking {
    type Client = Client;

    fn transport(
        settings: &TransportSettings,
    ) -> std::result::Result<Arc<dyn Transport>, TransportError> {
        let mut builder = UreqTransport::builder()
            .timeout(settings.timeout)
            .io_threads(settings.max_in_flight)
            .max_idle_per_host(settings.max_idle_per_host);
        if let Some(timeout) = settings.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        for pem in &settings.root_certificates {
            builder = builder.add_root_certificate(pem);
        }
        Ok(Arc::new(builder.build()?))
    }

    #[cfg(feature = "arrow")]
    fn offload() -> Option<Arc<dyn tilebox_core::Offload>> {
        Some(Arc::new(crate::offload::DecodePool::new()))
    }

    fn sleep() -> Arc<dyn AsyncSleep> {
        Arc::new(ThreadSleep)
    }
}
