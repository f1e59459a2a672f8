//! The [`Api`] implementations: tokio, async-std under smol, async-std under async-std, blocking.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tilebox_core::{
    CollectionInfo, Datapoint, Datapoints, DatasetSpec, DatasetTree, IngestSummary, QueryOptions,
    Result, Transport,
};
use uuid::Uuid;

use super::api::{Api, Setup};
use crate::impl_async_api;

fn tokio_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// `tilebox-tokio`, futures run on a (shared) multi-thread tokio runtime.
pub struct TokioApi {
    client: tilebox_tokio::Client,
}

impl TokioApi {
    fn with_client(client: tilebox_tokio::Client) -> Self {
        Self { client }
    }
}

impl_async_api!(
    TokioApi,
    "tokio",
    tilebox_tokio::Client,
    tilebox_tokio::ReqwestTransport::new().expect("reqwest transport"),
    tilebox_tokio::TokioSleep,
    |_h, fut| tokio_runtime().block_on(fut)
);

/// `tilebox-async-std`, futures run with `smol::block_on`.
pub struct SmolApi {
    client: tilebox_async_std::Client,
}

impl SmolApi {
    fn with_client(client: tilebox_async_std::Client) -> Self {
        Self { client }
    }
}

impl_async_api!(
    SmolApi,
    "async-std (smol executor)",
    tilebox_async_std::Client,
    tilebox_async_std::HyperTransport::new().expect("hyper transport"),
    tilebox_async_std::AsyncIoSleep,
    |_h, fut| smol::block_on(fut)
);

/// `tilebox-async-std`, futures run with `async_std::task::block_on`.
pub struct AsyncStdApi {
    client: tilebox_async_std::Client,
}

impl AsyncStdApi {
    fn with_client(client: tilebox_async_std::Client) -> Self {
        Self { client }
    }
}

impl_async_api!(
    AsyncStdApi,
    "async-std (async-std executor)",
    tilebox_async_std::Client,
    tilebox_async_std::HyperTransport::new().expect("hyper transport"),
    tilebox_async_std::AsyncIoSleep,
    |_h, fut| async_std::task::block_on(fut)
);

/// `tilebox-blocking`: plain function calls.
pub struct BlockingApi {
    client: tilebox_blocking::Client,
}

impl Api for BlockingApi {
    type Dataset = tilebox_blocking::Dataset;
    type Collection = tilebox_blocking::Collection;
    const NAME: &'static str = "blocking";

    fn build(setup: Setup) -> Self {
        let mut builder = tilebox_blocking::Client::builder().url(setup.url);
        builder = match setup.api_key {
            Some(key) => builder.api_key(key),
            None => builder.anonymous(),
        };
        if let Some(retry) = setup.retry {
            builder = builder.retry(retry);
        }
        let concurrency = setup.concurrency.unwrap_or(8);
        builder = builder.concurrency(concurrency);
        if let Some(pem) = &setup.root_certificate {
            builder = builder.add_root_certificate(pem);
        }
        if let Some(wrap) = setup.wrap {
            let inner: Arc<dyn Transport> = Arc::new(
                tilebox_blocking::UreqTransport::builder()
                    .io_threads(concurrency)
                    .build()
                    .expect("ureq transport"),
            );
            builder = builder.transport(wrap(inner));
        }
        Self {
            client: builder.build().expect("client builds"),
        }
    }

    fn run_until<F: Future + Send>(&self, future: F, stop: &mut dyn FnMut() -> bool) -> bool {
        let sleep = tilebox_blocking::ThreadSleep;
        futures::executor::block_on(async move {
            let waiter = async {
                while !stop() {
                    tilebox_core::AsyncSleep::sleep(&sleep, Duration::from_millis(2)).await;
                }
            };
            match futures::future::select(std::pin::pin!(future), std::pin::pin!(waiter)).await {
                futures::future::Either::Left(_) => true,
                futures::future::Either::Right(_) => false,
            }
        })
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn datasets(&self) -> Result<DatasetTree> {
        self.client.datasets().map(|tree| {
            // Exercise the blocking tree's own navigation too.
            assert_eq!(tree.len(), tree.datasets().len());
            tree.as_async().clone()
        })
    }
    fn dataset(&self, slug: &str) -> Result<Self::Dataset> {
        self.client.dataset(slug)
    }
    fn create_dataset(&self, spec: DatasetSpec) -> Result<Self::Dataset> {
        self.client.create_dataset(spec)
    }
    fn create_or_update_dataset(&self, spec: DatasetSpec) -> Result<Self::Dataset> {
        self.client.create_or_update_dataset(spec)
    }
    fn load_collections(
        &self,
        collections: &[Self::Collection],
        options: &QueryOptions,
    ) -> Vec<Result<Datapoints>> {
        self.client.load_collections(collections, options)
    }
    fn core_client(&self) -> tilebox_core::Client {
        self.client.as_async().clone()
    }
    fn core_dataset(dataset: &Self::Dataset) -> tilebox_core::Dataset {
        dataset.as_async().clone()
    }
    fn collections(&self, dataset: &Self::Dataset) -> Result<Vec<Self::Collection>> {
        dataset.collections()
    }
    fn collection(&self, dataset: &Self::Dataset, name: &str) -> Result<Self::Collection> {
        dataset.collection(name)
    }
    fn create_collection(&self, dataset: &Self::Dataset, name: &str) -> Result<Self::Collection> {
        dataset.create_collection(name)
    }
    fn get_or_create_collection(
        &self,
        dataset: &Self::Dataset,
        name: &str,
    ) -> Result<Self::Collection> {
        dataset.get_or_create_collection(name)
    }
    fn delete_collection(&self, dataset: &Self::Dataset, name: &str) -> Result<()> {
        dataset.delete_collection(name)
    }
    fn dataset_query(&self, dataset: &Self::Dataset, options: &QueryOptions) -> Result<Datapoints> {
        dataset.query(options)
    }
    fn dataset_find(
        &self,
        dataset: &Self::Dataset,
        id: Uuid,
        skip_data: bool,
    ) -> Result<Datapoint> {
        dataset.find(id, skip_data)
    }
    fn delete_dataset(&self, dataset: &Self::Dataset) -> Result<bool> {
        dataset.delete()
    }
    fn core_collection(collection: &Self::Collection) -> tilebox_core::Collection {
        collection.as_async().clone()
    }
    fn info(collection: &Self::Collection) -> Arc<CollectionInfo> {
        collection.info()
    }
    fn refresh_info(&self, collection: &Self::Collection) -> Result<Arc<CollectionInfo>> {
        collection.refresh_info()
    }
    fn query(&self, collection: &Self::Collection, options: &QueryOptions) -> Result<Datapoints> {
        collection.query(options)
    }
    fn query_into<T: prost::Message + Default>(
        &self,
        collection: &Self::Collection,
        options: &QueryOptions,
    ) -> Result<Vec<T>> {
        collection.query_into::<T>(options)
    }
    fn pages(
        &self,
        collection: &Self::Collection,
        options: &QueryOptions,
        limit: usize,
    ) -> Vec<Result<Datapoints>> {
        collection.pages(options).take(limit).collect()
    }
    fn load_collections_arrow(
        &self,
        collections: &[Self::Collection],
        options: &QueryOptions,
    ) -> Vec<Result<tilebox_core::arrow::RecordBatches>> {
        self.client.load_collections_arrow(collections, options)
    }
    fn query_arrow(
        &self,
        collection: &Self::Collection,
        options: &QueryOptions,
    ) -> Result<tilebox_core::arrow::RecordBatches> {
        collection.query_arrow(options)
    }
    fn pages_arrow(
        &self,
        collection: &Self::Collection,
        options: &QueryOptions,
    ) -> Vec<Result<tilebox_core::arrow_array::RecordBatch>> {
        collection.pages_arrow(options).collect()
    }
    fn find(&self, collection: &Self::Collection, id: Uuid, skip_data: bool) -> Result<Datapoint> {
        collection.find(id, skip_data)
    }
    fn ingest<M: prost::Message>(
        &self,
        collection: &Self::Collection,
        values: &[M],
        allow_existing: bool,
    ) -> Result<IngestSummary> {
        collection.ingest(values, allow_existing)
    }
    fn delete(&self, collection: &Self::Collection, ids: Vec<Uuid>) -> Result<u64> {
        collection.delete(ids)
    }
}
