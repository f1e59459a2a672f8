//! [`Api`]: the operations of issue 4 as one interface, implemented for each adapter, so every test of the
//! suite is written once. The async adapters implement it by blocking on their futures with their own
//! executor; the blocking adapter calls its plain functions.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tilebox_core::arrow::RecordBatches;
use tilebox_core::arrow_array::RecordBatch;
use tilebox_core::{
    CollectionInfo, Datapoint, Datapoints, DatasetSpec, DatasetTree, IngestSummary, QueryOptions,
    Result, RetryPolicy, Transport,
};
use uuid::Uuid;

/// Wraps the adapter's own transport (to count, delay or fail requests).
pub type TransportWrapper = Box<dyn FnOnce(Arc<dyn Transport>) -> Arc<dyn Transport> + Send>;

/// How to build a client for a test.
#[derive(Default)]
pub struct Setup {
    /// Server URL.
    pub url: String,
    /// API key (`None`: anonymous).
    pub api_key: Option<String>,
    /// Retry policy override.
    pub retry: Option<RetryPolicy>,
    /// Concurrency override.
    pub concurrency: Option<usize>,
    /// Wraps the adapter's default transport.
    pub wrap: Option<TransportWrapper>,
    /// A PEM root certificate to trust besides the bundled roots.
    pub root_certificate: Option<String>,
    /// Speak HTTP/2 with prior knowledge on `http://`.
    pub http2_prior_knowledge: bool,
}

impl Setup {
    /// A client of the server at `url`, anonymous.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// With an API key.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.to_owned());
        self
    }

    /// With a retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// With a concurrency limit.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency);
        self
    }

    /// Trusting this PEM root certificate.
    pub fn root_certificate(mut self, pem: &str) -> Self {
        self.root_certificate = Some(pem.to_owned());
        self
    }

    /// With h2c prior knowledge.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2_prior_knowledge = true;
        self
    }

    /// With the adapter's transport wrapped.
    pub fn wrap(
        mut self,
        wrap: impl FnOnce(Arc<dyn Transport>) -> Arc<dyn Transport> + Send + 'static,
    ) -> Self {
        self.wrap = Some(Box::new(wrap));
        self
    }
}

/// The client operations of issue 4, for one adapter.
pub trait Api: Sized {
    /// The adapter's dataset type.
    type Dataset: Clone + std::fmt::Debug;
    /// The adapter's collection type.
    type Collection: Clone + std::fmt::Debug;

    /// A name for messages.
    const NAME: &'static str;

    /// Build a client.
    fn build(setup: Setup) -> Self;

    /// Run a future of the core on this adapter's executor until `stop` holds (polled every few ms), then
    /// drop it. Returns whether the future completed first.
    fn run_until<F: Future + Send>(&self, future: F, stop: &mut dyn FnMut() -> bool) -> bool;

    /// The adapter's sleep, used to poll conditions in tests.
    fn sleep(&self, duration: Duration);

    /// `client.datasets()`.
    fn datasets(&self) -> Result<DatasetTree>;
    /// `client.dataset(slug)`.
    fn dataset(&self, slug: &str) -> Result<Self::Dataset>;
    /// `client.create_dataset(spec)`.
    fn create_dataset(&self, spec: DatasetSpec) -> Result<Self::Dataset>;
    /// `client.create_or_update_dataset(spec)`.
    fn create_or_update_dataset(&self, spec: DatasetSpec) -> Result<Self::Dataset>;
    /// `client.load_collections(collections, options)`.
    fn load_collections(
        &self,
        collections: &[Self::Collection],
        options: &QueryOptions,
    ) -> Vec<Result<Datapoints>>;
    /// The core future of `load_collections` (for cancellation tests).
    fn core_client(&self) -> tilebox_core::Client;

    /// The core dataset behind the adapter's.
    fn core_dataset(dataset: &Self::Dataset) -> tilebox_core::Dataset;
    /// `dataset.collections()`.
    fn collections(&self, dataset: &Self::Dataset) -> Result<Vec<Self::Collection>>;
    /// `dataset.collection(name)`.
    fn collection(&self, dataset: &Self::Dataset, name: &str) -> Result<Self::Collection>;
    /// `dataset.create_collection(name)`.
    fn create_collection(&self, dataset: &Self::Dataset, name: &str) -> Result<Self::Collection>;
    /// `dataset.get_or_create_collection(name)`.
    fn get_or_create_collection(
        &self,
        dataset: &Self::Dataset,
        name: &str,
    ) -> Result<Self::Collection>;
    /// `dataset.delete_collection(name)`.
    fn delete_collection(&self, dataset: &Self::Dataset, name: &str) -> Result<()>;
    /// `dataset.query(options)`.
    fn dataset_query(&self, dataset: &Self::Dataset, options: &QueryOptions) -> Result<Datapoints>;
    /// `dataset.find(id, skip_data)`.
    fn dataset_find(&self, dataset: &Self::Dataset, id: Uuid, skip_data: bool)
    -> Result<Datapoint>;
    /// `dataset.delete()`.
    fn delete_dataset(&self, dataset: &Self::Dataset) -> Result<bool>;

    /// The core collection behind the adapter's.
    fn core_collection(collection: &Self::Collection) -> tilebox_core::Collection;
    /// `collection.info()`.
    fn info(collection: &Self::Collection) -> Arc<CollectionInfo>;
    /// `collection.refresh_info()`.
    fn refresh_info(&self, collection: &Self::Collection) -> Result<Arc<CollectionInfo>>;
    /// `collection.query(options)`.
    fn query(&self, collection: &Self::Collection, options: &QueryOptions) -> Result<Datapoints>;
    /// `collection.query_into::<T>(options)`.
    fn query_into<T: prost::Message + Default>(
        &self,
        collection: &Self::Collection,
        options: &QueryOptions,
    ) -> Result<Vec<T>>;
    /// `collection.pages(options)`, consumed up to `limit` pages (then dropped).
    fn pages(
        &self,
        collection: &Self::Collection,
        options: &QueryOptions,
        limit: usize,
    ) -> Vec<Result<Datapoints>>;
    /// `client.load_collections_arrow(collections, options)`.
    fn load_collections_arrow(
        &self,
        collections: &[Self::Collection],
        options: &QueryOptions,
    ) -> Vec<Result<RecordBatches>>;
    /// `collection.query_arrow(options)`.
    fn query_arrow(
        &self,
        collection: &Self::Collection,
        options: &QueryOptions,
    ) -> Result<RecordBatches>;
    /// `collection.pages_arrow(options)`, consumed completely.
    fn pages_arrow(
        &self,
        collection: &Self::Collection,
        options: &QueryOptions,
    ) -> Vec<Result<RecordBatch>>;
    /// `collection.find(id, skip_data)`.
    fn find(&self, collection: &Self::Collection, id: Uuid, skip_data: bool) -> Result<Datapoint>;
    /// `collection.ingest(values, allow_existing)`.
    fn ingest<M: prost::Message>(
        &self,
        collection: &Self::Collection,
        values: &[M],
        allow_existing: bool,
    ) -> Result<IngestSummary>;
    /// `collection.delete(ids)`.
    fn delete(&self, collection: &Self::Collection, ids: Vec<Uuid>) -> Result<u64>;
}

/// Implements [`Api`] for an async adapter: `$ty` holds `client: $client` and blocks with `$block_on`.
#[macro_export]
macro_rules! impl_async_api {
    ($ty:ty, $name:expr, $client:path, $default_transport:expr, $sleep:expr, |$this:ident, $fut:ident| $block_on:expr) => {
        impl $crate::suite::api::Api for $ty {
            type Dataset = tilebox_core::Dataset;
            type Collection = tilebox_core::Collection;
            const NAME: &'static str = $name;

            fn build(setup: $crate::suite::api::Setup) -> Self {
                use $client as C;
                let mut builder = C::builder().url(setup.url);
                builder = match setup.api_key {
                    Some(key) => builder.api_key(key),
                    None => builder.anonymous(),
                };
                if let Some(retry) = setup.retry {
                    builder = builder.retry(retry);
                }
                if let Some(concurrency) = setup.concurrency {
                    builder = builder.concurrency(concurrency);
                }
                if let Some(pem) = &setup.root_certificate {
                    builder = builder.add_root_certificate(pem);
                }
                builder = builder.http2_prior_knowledge(setup.http2_prior_knowledge);
                if let Some(wrap) = setup.wrap {
                    let inner: std::sync::Arc<dyn tilebox_core::Transport> =
                        std::sync::Arc::new($default_transport);
                    builder = builder.transport(wrap(inner));
                }
                Self::with_client(builder.build().expect("client builds"))
            }

            fn run_until<F: std::future::Future + Send>(
                &self,
                future: F,
                stop: &mut dyn FnMut() -> bool,
            ) -> bool {
                let sleep = $sleep;
                let $this = self;
                let $fut = async move {
                    let waiter = async {
                        while !stop() {
                            tilebox_core::AsyncSleep::sleep(
                                &sleep,
                                std::time::Duration::from_millis(2),
                            )
                            .await;
                        }
                    };
                    match futures::future::select(std::pin::pin!(future), std::pin::pin!(waiter))
                        .await
                    {
                        futures::future::Either::Left(_) => true,
                        futures::future::Either::Right(_) => false,
                    }
                };
                $block_on
            }

            fn sleep(&self, duration: std::time::Duration) {
                let $this = self;
                let $fut = tilebox_core::AsyncSleep::sleep(&$sleep, duration);
                $block_on
            }

            fn datasets(&self) -> tilebox_core::Result<tilebox_core::DatasetTree> {
                let $this = self;
                let $fut = self.client.datasets();
                $block_on
            }
            fn dataset(&self, slug: &str) -> tilebox_core::Result<Self::Dataset> {
                let $this = self;
                let $fut = self.client.dataset(slug);
                $block_on
            }
            fn create_dataset(
                &self,
                spec: tilebox_core::DatasetSpec,
            ) -> tilebox_core::Result<Self::Dataset> {
                let $this = self;
                let $fut = self.client.create_dataset(spec);
                $block_on
            }
            fn create_or_update_dataset(
                &self,
                spec: tilebox_core::DatasetSpec,
            ) -> tilebox_core::Result<Self::Dataset> {
                let $this = self;
                let $fut = self.client.create_or_update_dataset(spec);
                $block_on
            }
            fn load_collections(
                &self,
                collections: &[Self::Collection],
                options: &tilebox_core::QueryOptions,
            ) -> Vec<tilebox_core::Result<tilebox_core::Datapoints>> {
                let $this = self;
                let $fut = self.client.load_collections(collections, options);
                $block_on
            }
            fn core_client(&self) -> tilebox_core::Client {
                self.client.core().clone()
            }
            fn core_dataset(dataset: &Self::Dataset) -> tilebox_core::Dataset {
                dataset.clone()
            }
            fn collections(
                &self,
                dataset: &Self::Dataset,
            ) -> tilebox_core::Result<Vec<Self::Collection>> {
                let $this = self;
                let $fut = dataset.collections();
                $block_on
            }
            fn collection(
                &self,
                dataset: &Self::Dataset,
                name: &str,
            ) -> tilebox_core::Result<Self::Collection> {
                let $this = self;
                let $fut = dataset.collection(name);
                $block_on
            }
            fn create_collection(
                &self,
                dataset: &Self::Dataset,
                name: &str,
            ) -> tilebox_core::Result<Self::Collection> {
                let $this = self;
                let $fut = dataset.create_collection(name);
                $block_on
            }
            fn get_or_create_collection(
                &self,
                dataset: &Self::Dataset,
                name: &str,
            ) -> tilebox_core::Result<Self::Collection> {
                let $this = self;
                let $fut = dataset.get_or_create_collection(name);
                $block_on
            }
            fn delete_collection(
                &self,
                dataset: &Self::Dataset,
                name: &str,
            ) -> tilebox_core::Result<()> {
                let $this = self;
                let $fut = dataset.delete_collection(name);
                $block_on
            }
            fn dataset_query(
                &self,
                dataset: &Self::Dataset,
                options: &tilebox_core::QueryOptions,
            ) -> tilebox_core::Result<tilebox_core::Datapoints> {
                let $this = self;
                let $fut = dataset.query(options);
                $block_on
            }
            fn dataset_find(
                &self,
                dataset: &Self::Dataset,
                id: uuid::Uuid,
                skip_data: bool,
            ) -> tilebox_core::Result<tilebox_core::Datapoint> {
                let $this = self;
                let $fut = dataset.find(id, skip_data);
                $block_on
            }
            fn delete_dataset(&self, dataset: &Self::Dataset) -> tilebox_core::Result<bool> {
                let $this = self;
                let $fut = dataset.delete();
                $block_on
            }
            fn core_collection(collection: &Self::Collection) -> tilebox_core::Collection {
                collection.clone()
            }
            fn info(collection: &Self::Collection) -> std::sync::Arc<tilebox_core::CollectionInfo> {
                collection.info()
            }
            fn refresh_info(
                &self,
                collection: &Self::Collection,
            ) -> tilebox_core::Result<std::sync::Arc<tilebox_core::CollectionInfo>> {
                let $this = self;
                let $fut = collection.refresh_info();
                $block_on
            }
            fn query(
                &self,
                collection: &Self::Collection,
                options: &tilebox_core::QueryOptions,
            ) -> tilebox_core::Result<tilebox_core::Datapoints> {
                let $this = self;
                let $fut = collection.query(options);
                $block_on
            }
            fn query_into<T: prost::Message + Default>(
                &self,
                collection: &Self::Collection,
                options: &tilebox_core::QueryOptions,
            ) -> tilebox_core::Result<Vec<T>> {
                let $this = self;
                let $fut = collection.query_into::<T>(options);
                $block_on
            }
            fn pages(
                &self,
                collection: &Self::Collection,
                options: &tilebox_core::QueryOptions,
                limit: usize,
            ) -> Vec<tilebox_core::Result<tilebox_core::Datapoints>> {
                use futures::StreamExt;
                let $this = self;
                let $fut = collection.pages(options).take(limit).collect::<Vec<_>>();
                $block_on
            }
            fn load_collections_arrow(
                &self,
                collections: &[Self::Collection],
                options: &tilebox_core::QueryOptions,
            ) -> Vec<tilebox_core::Result<tilebox_core::arrow::RecordBatches>> {
                let $this = self;
                let $fut = self.client.load_collections_arrow(collections, options);
                $block_on
            }
            fn query_arrow(
                &self,
                collection: &Self::Collection,
                options: &tilebox_core::QueryOptions,
            ) -> tilebox_core::Result<tilebox_core::arrow::RecordBatches> {
                let $this = self;
                let $fut = collection.query_arrow(options);
                $block_on
            }
            fn pages_arrow(
                &self,
                collection: &Self::Collection,
                options: &tilebox_core::QueryOptions,
            ) -> Vec<tilebox_core::Result<tilebox_core::arrow_array::RecordBatch>> {
                use futures::StreamExt;
                let $this = self;
                let $fut = collection.pages_arrow(options).collect::<Vec<_>>();
                $block_on
            }
            fn find(
                &self,
                collection: &Self::Collection,
                id: uuid::Uuid,
                skip_data: bool,
            ) -> tilebox_core::Result<tilebox_core::Datapoint> {
                let $this = self;
                let $fut = collection.find(id, skip_data);
                $block_on
            }
            fn ingest<M: prost::Message>(
                &self,
                collection: &Self::Collection,
                values: &[M],
                allow_existing: bool,
            ) -> tilebox_core::Result<tilebox_core::IngestSummary> {
                let $this = self;
                let $fut = collection.ingest(values, allow_existing);
                $block_on
            }
            fn delete(
                &self,
                collection: &Self::Collection,
                ids: Vec<uuid::Uuid>,
            ) -> tilebox_core::Result<u64> {
                let $this = self;
                let $fut = collection.delete(ids);
                $block_on
            }
        }
    };
}
