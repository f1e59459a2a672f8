//! The user-facing async API: [`Client`], and the operations of [`Dataset`] and [`Collection`].
//!
//! Written once over [`RpcClient`] (and therefore over the adapter's [`Transport`] and [`AsyncSleep`]); the
//! runtime adapters construct a [`Client`] and re-export these types. Every returned future is `Send` and
//! spawns nothing, so dropping it cancels its requests.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use futures::stream::{self, BoxStream, StreamExt};
use uuid::Uuid;

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::load::{
    LoadJob, LoadSettings, PageFetcher, PageStream, RawDatapoints, load_jobs, page_time_span,
};
use crate::model::{
    Collection, CollectionInfo, CollectionQuota, Dataset, DatasetSpec, DatasetTree,
};
use crate::paging::QueryPlan;
use crate::progress::{ProgressListener, ProgressTracker};
use crate::query::{
    DEFAULT_PAGE_SIZE, Datapoint, Datapoints, Extent, IngestOptions, IngestSummary, Page,
    QueryOptions,
};
use crate::rpc::{RpcClient, rust_client_info};
use crate::split::{estimate_datapoints, parts_for, plan_parts, split_interval};
use crate::time::TimeInterval;
use crate::time::{IntoDatapointId, uuid_from_wire, uuid_to_wire};
use crate::transport::{AsyncSleep, Transport};
use crate::wire::datasets::v1 as pb;

/// Maximum values per `Ingest` and ids per `Delete` request.
pub const CHUNK_SIZE: usize = 8192;

/// The Tilebox datasets client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    rpc: RpcClient,
}

impl Client {
    /// A client sending through `transport`, waiting between retries with `sleep`.
    pub fn new(
        config: ClientConfig,
        transport: Arc<dyn Transport>,
        sleep: Arc<dyn AsyncSleep>,
    ) -> Self {
        Client {
            rpc: RpcClient::new(config, transport, sleep),
        }
    }

    /// A client over an existing [`RpcClient`].
    pub fn from_rpc(rpc: RpcClient) -> Self {
        Client { rpc }
    }

    /// The low-level typed RPC client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        self.rpc.config()
    }

    /// All datasets visible to the caller, as a group tree navigable by dotted path.
    pub async fn datasets(&self) -> Result<DatasetTree> {
        let response = self
            .rpc
            .list_datasets(pb::ListDatasetsRequest {
                client_info: Some(rust_client_info()),
            })
            .await?;
        if !response.server_message.is_empty() {
            tracing::info!(message = %response.server_message, "message from the Tilebox server");
        }
        DatasetTree::from_wire(&self.rpc, response)
    }

    /// The dataset with this slug (`open_data.copernicus.landsat8_oli_tirs`, or a bare code name for one of
    /// your own datasets).
    pub async fn dataset(&self, slug: &str) -> Result<Dataset> {
        let wire = self
            .rpc
            .get_dataset(pb::GetDatasetRequest {
                slug: slug.to_owned(),
                id: None,
            })
            .await?;
        Dataset::from_wire(self.rpc.clone(), wire)
    }

    /// The dataset with this id.
    pub async fn dataset_by_id(&self, id: impl IntoDatapointId) -> Result<Dataset> {
        let id = id.into_datapoint_id()?;
        let wire = self
            .rpc
            .get_dataset(pb::GetDatasetRequest {
                slug: String::new(),
                id: Some(uuid_to_wire(&id)),
            })
            .await?;
        Dataset::from_wire(self.rpc.clone(), wire)
    }

    /// Creates a dataset (the required fields of its kind are prepended to the custom fields).
    pub async fn create_dataset(&self, spec: DatasetSpec) -> Result<Dataset> {
        spec.validate()?;
        let wire = self.rpc.create_dataset(spec.create_request()).await?;
        Dataset::from_wire(self.rpc.clone(), wire)
    }

    /// Updates your dataset with this code name to `spec`, or creates it if it does not exist.
    pub async fn create_or_update_dataset(&self, spec: DatasetSpec) -> Result<Dataset> {
        spec.validate()?;
        match self
            .rpc
            .get_dataset(pb::GetDatasetRequest {
                slug: spec.code_name().to_owned(),
                id: None,
            })
            .await
        {
            Ok(existing) => {
                let existing = Dataset::from_wire(self.rpc.clone(), existing)?;
                let wire = self
                    .rpc
                    .update_dataset(spec.update_request(existing.id()))
                    .await?;
                Dataset::from_wire(self.rpc.clone(), wire)
            }
            Err(e) if e.is_not_found() => {
                let wire = self.rpc.create_dataset(spec.create_request()).await?;
                Dataset::from_wire(self.rpc.clone(), wire)
            }
            Err(e) => Err(e),
        }
    }

    /// Loads `collections` concurrently (each optionally split into `options.parallel_pages` sub-intervals),
    /// with at most the configured concurrency of requests in flight and progress per collection. Results
    /// are in input order; each equals what [`Collection::query`] returns for it.
    pub async fn load_collections(
        &self,
        collections: &[Collection],
        options: &QueryOptions,
    ) -> Vec<Result<Datapoints>> {
        load_collections(&self.rpc, collections, options).await
    }
}

#[cfg(feature = "arrow")]
impl Client {
    /// Loads `collections` concurrently like [`Client::load_collections`], decoding every page into an Arrow
    /// record batch as soon as it arrives, while other pages are still in flight (on the adapter's worker
    /// threads where it has them, see [`crate::Offload`]). Results are in input order; each holds the
    /// collection's batches in query order (see [`crate::arrow`] for the columns; `skip_data` queries give
    /// only `time`, `id` and `ingestion_time`).
    pub async fn load_collections_arrow(
        &self,
        collections: &[Collection],
        options: &QueryOptions,
    ) -> Vec<Result<crate::arrow::RecordBatches>> {
        load_collections_arrow(&self.rpc, collections, options).await
    }
}

#[cfg(feature = "arrow")]
async fn load_collections_arrow(
    rpc: &RpcClient,
    collections: &[Collection],
    options: &QueryOptions,
) -> Vec<Result<crate::arrow::RecordBatches>> {
    let limit = concurrency(rpc, options);
    let prepared = prepare_load(collections, options, limit, |collection| {
        collection
            .dataset()
            .schema()?
            .arrow_plan(options.is_skip_data())
    });
    let sink = Arc::new(crate::arrow::ArrowSink::new(
        prepared.extras,
        rpc.offload().cloned(),
    ));
    let settings = LoadSettings::new(limit)
        .progress(options.listener())
        .sink(sink.clone());
    let mut results = run_load(rpc, prepared.jobs, settings).await;
    prepared
        .slots
        .into_iter()
        .map(|slot| {
            let (index, _) = take_result(&mut results, slot)?;
            sink.take(index)
        })
        .collect()
}

/// The load jobs of some collections, a value `extras[i]` per job (e.g. its Arrow plan), and for each
/// collection the index of its job or why it has none.
struct PreparedLoad<T> {
    jobs: Vec<LoadJob>,
    extras: Vec<T>,
    slots: Vec<Result<usize>>,
}

fn prepare_load<T>(
    collections: &[Collection],
    options: &QueryOptions,
    limit: usize,
    extra: impl Fn(&Collection) -> Result<T>,
) -> PreparedLoad<T> {
    let mut prepared = PreparedLoad {
        jobs: Vec::new(),
        extras: Vec::new(),
        slots: Vec::new(),
    };
    let parts = plan_load_parts(collections, options, limit);
    for (collection, parts) in collections.iter().zip(parts) {
        match collection_job(collection, options, parts)
            .and_then(|job| Ok((job, extra(collection)?)))
        {
            Ok((job, value)) => {
                prepared.slots.push(Ok(prepared.jobs.len()));
                prepared.jobs.push(job);
                prepared.extras.push(value);
            }
            Err(e) => prepared.slots.push(Err(e)),
        }
    }
    prepared
}

/// Runs the jobs of a load; each result is taken once by [`take_result`].
async fn run_load(
    rpc: &RpcClient,
    jobs: Vec<LoadJob>,
    settings: LoadSettings,
) -> Vec<Option<Result<RawDatapoints>>> {
    let fetcher: Arc<dyn PageFetcher> = Arc::new(rpc.clone());
    load_jobs(fetcher, jobs, settings)
        .await
        .into_iter()
        .map(Some)
        .collect()
}

/// The job index and raw result of one collection's `slot`.
fn take_result(
    results: &mut [Option<Result<RawDatapoints>>],
    slot: Result<usize>,
) -> Result<(usize, RawDatapoints)> {
    let index = slot?;
    let raw = results
        .get_mut(index)
        .and_then(Option::take)
        .unwrap_or(Err(Error::Cancelled))?;
    Ok((index, raw))
}

fn collection_request(collection: &Collection, options: &QueryOptions) -> Result<pb::QueryRequest> {
    Ok(pb::QueryRequest {
        collection_ids: vec![uuid_to_wire(&collection.id())],
        filters: Some(options.filters()?),
        page: None,
        skip_data: options.is_skip_data(),
        dataset_id: Some(uuid_to_wire(&collection.dataset().id())),
    })
}

/// The load job of one collection: the request plus its sub-intervals for parallel paging (`parts` of them
/// at most, see [`plan_load_parts`]).
fn collection_job(
    collection: &Collection,
    options: &QueryOptions,
    parts: usize,
) -> Result<LoadJob> {
    let request = collection_request(collection, options)?;
    let (segments, estimated_datapoints) = match options.extent()? {
        Extent::Time(interval) => {
            let (hint, estimate) = time_spread(collection, &interval);
            let segments = split_interval(&interval, parts, hint.map(|a| (a.start(), a.end())));
            (segments, estimate)
        }
        Extent::Datapoints(_) => (Vec::new(), None),
    };
    Ok(LoadJob {
        label: collection.name().to_owned(),
        request,
        segments,
        page_size: options.page_size_limit(),
        estimated_datapoints,
    })
}

/// Where `collection`'s datapoints are (its non-empty availability) and how many of them `interval` holds
/// (estimated from the count, assuming an even spread; `None` when unknown).
fn time_spread(
    collection: &Collection,
    interval: &TimeInterval,
) -> (Option<TimeInterval>, Option<u64>) {
    let info = collection.info();
    let hint = info.availability.filter(|a| !a.is_empty());
    let estimate = match (hint, info.count) {
        (Some(availability), Some(count)) => {
            Some(estimate_datapoints(interval, &availability, count))
        }
        (None, Some(0)) => Some(0),
        _ => None,
    };
    (hint, estimate)
}

/// Sub-intervals per collection: `parallel_pages` each when the options set it (fewer for small loads),
/// otherwise the `limit` requests in flight shared out by each collection's estimated size
/// ([`plan_parts`]).
fn plan_load_parts(collections: &[Collection], options: &QueryOptions, limit: usize) -> Vec<usize> {
    let estimates: Vec<Option<u64>> = collections
        .iter()
        .map(|collection| match options.extent() {
            Ok(Extent::Time(interval)) => time_spread(collection, &interval).1,
            _ => None,
        })
        .collect();
    let page_size = options.page_size_limit().unwrap_or(DEFAULT_PAGE_SIZE);
    match options.parallel_page_count() {
        Some(parts) => estimates
            .iter()
            .map(|&estimate| parts_for(parts, estimate, page_size))
            .collect(),
        None => plan_parts(&estimates, limit, page_size),
    }
}

fn concurrency(rpc: &RpcClient, options: &QueryOptions) -> usize {
    options
        .concurrency_limit()
        .unwrap_or_else(|| rpc.config().concurrency())
        .max(1)
}

async fn load_collections(
    rpc: &RpcClient,
    collections: &[Collection],
    options: &QueryOptions,
) -> Vec<Result<Datapoints>> {
    let limit = concurrency(rpc, options);
    let prepared = prepare_load(collections, options, limit, |_| Ok(()));
    let settings = LoadSettings::new(limit).progress(options.listener());
    let mut results = run_load(rpc, prepared.jobs, settings).await;
    prepared
        .slots
        .into_iter()
        .zip(collections)
        .map(|(slot, collection)| {
            let (_, raw) = take_result(&mut results, slot)?;
            Ok(
                Datapoints::new(raw.type_url, raw.values, Some(collection.dataset().clone()))
                    .with_skip_data(options.is_skip_data()),
            )
        })
        .collect()
}

fn not_found_collection(name: &str, dataset: &Dataset) -> Error {
    Error::NotFound {
        message: format!("no such collection {name:?} in dataset {}", dataset.slug()),
    }
}

impl Dataset {
    fn dataset_id_wire(&self) -> Option<crate::wire::tilebox::v1::Id> {
        Some(uuid_to_wire(&self.id()))
    }

    /// All collections, with availability and count.
    pub async fn collections(&self) -> Result<Vec<Collection>> {
        Ok(self.collections_and_quota().await?.0)
    }

    /// All collections (with availability and count) and the caller's collection quota from the same
    /// listing.
    pub async fn collections_and_quota(&self) -> Result<(Vec<Collection>, CollectionQuota)> {
        let response = self
            .rpc()
            .list_collections(pb::ListCollectionsRequest {
                dataset_id: self.dataset_id_wire(),
                with_availability: true,
                with_count: true,
            })
            .await?;
        let collections = response
            .data
            .iter()
            .map(|info| {
                Ok(Collection::new(
                    self.clone(),
                    CollectionInfo::from_wire(info)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((
            collections,
            CollectionQuota {
                owned: response.owned_collections,
                maximum: response.maximum_owned_collections,
            },
        ))
    }

    /// The collection `name`, with availability and count ([`Error::NotFound`] if there is none).
    pub async fn collection(&self, name: &str) -> Result<Collection> {
        let info = self
            .rpc()
            .get_collection_by_name(pb::GetCollectionByNameRequest {
                collection_name: name.to_owned(),
                with_availability: true,
                with_count: true,
                dataset_id: self.dataset_id_wire(),
            })
            .await
            .map_err(|e| {
                if e.is_not_found() {
                    not_found_collection(name, self)
                } else {
                    e
                }
            })?;
        Ok(Collection::new(
            self.clone(),
            CollectionInfo::from_wire(&info)?,
        ))
    }

    /// Creates the collection `name`.
    pub async fn create_collection(&self, name: &str) -> Result<Collection> {
        let info = self
            .rpc()
            .create_collection(pb::CreateCollectionRequest {
                dataset_id: self.dataset_id_wire(),
                name: name.to_owned(),
            })
            .await?;
        Ok(Collection::new(
            self.clone(),
            CollectionInfo::from_wire(&info)?,
        ))
    }

    /// The collection `name`, created if it does not exist.
    pub async fn get_or_create_collection(&self, name: &str) -> Result<Collection> {
        match self.collection(name).await {
            Err(e) if e.is_not_found() => self.create_collection(name).await,
            other => other,
        }
    }

    /// Deletes the collection `name` (and its datapoints).
    pub async fn delete_collection(&self, name: &str) -> Result<()> {
        let collection = self.collection(name).await?;
        self.rpc()
            .delete_collection(pb::DeleteCollectionRequest {
                collection_id: Some(uuid_to_wire(&collection.id())),
                dataset_id: self.dataset_id_wire(),
            })
            .await?;
        Ok(())
    }

    /// Deletes (trashes) the dataset. Returns whether the server moved it to the trash.
    pub async fn delete(&self) -> Result<bool> {
        let response = self
            .rpc()
            .delete_dataset(pb::DeleteDatasetRequest {
                id: self.dataset_id_wire(),
            })
            .await?;
        Ok(response.trashed)
    }

    /// The collection ids of `options.collections(...)` (validated against the dataset), or none for all.
    async fn chosen_collection_ids(
        &self,
        options: &QueryOptions,
    ) -> Result<Vec<crate::wire::tilebox::v1::Id>> {
        let Some(names) = options.collection_names() else {
            return Ok(Vec::new());
        };
        let all = self.collections().await?;
        names
            .iter()
            .map(|name| {
                all.iter()
                    .find(|c| c.name() == name)
                    .map(|c| uuid_to_wire(&c.id()))
                    .ok_or_else(|| not_found_collection(name, self))
            })
            .collect()
    }

    /// Queries all collections (or those chosen with [`QueryOptions::collections`]) as one result ordered by
    /// id (= time) across collections.
    pub async fn query(&self, options: &QueryOptions) -> Result<Datapoints> {
        let extent = options.extent()?;
        let collection_ids = self.chosen_collection_ids(options).await?;
        let request = pb::QueryRequest {
            collection_ids,
            filters: Some(options.filters()?),
            page: None,
            skip_data: options.is_skip_data(),
            dataset_id: self.dataset_id_wire(),
        };
        let segments = match extent {
            Extent::Time(interval) => {
                split_interval(&interval, options.parallel_page_count().unwrap_or(1), None)
            }
            Extent::Datapoints(_) => Vec::new(),
        };
        let job = LoadJob {
            label: self.code_name().to_owned(),
            request,
            segments,
            page_size: options.page_size_limit(),
            estimated_datapoints: None,
        };
        let settings =
            LoadSettings::new(concurrency(self.rpc(), options)).progress(options.listener());
        let fetcher: Arc<dyn PageFetcher> = Arc::new(self.rpc().clone());
        let raw = load_jobs(fetcher, vec![job], settings)
            .await
            .pop()
            .unwrap_or(Err(Error::Cancelled))?;
        Ok(
            Datapoints::new(raw.type_url, raw.values, Some(self.clone()))
                .with_skip_data(options.is_skip_data()),
        )
    }

    /// The datapoint with this id in any collection of the dataset ([`Error::InvalidInput`] for a malformed
    /// id, before any request; [`Error::NotFound`] if there is none).
    pub async fn find(&self, id: impl IntoDatapointId, skip_data: bool) -> Result<Datapoint> {
        let id = id.into_datapoint_id()?;
        find(self, Vec::new(), id, skip_data).await
    }
}

async fn find(
    dataset: &Dataset,
    collection_ids: Vec<crate::wire::tilebox::v1::Id>,
    id: Uuid,
    skip_data: bool,
) -> Result<Datapoint> {
    let any = dataset
        .rpc()
        .query_by_id(pb::QueryByIdRequest {
            collection_ids,
            id: Some(uuid_to_wire(&id)),
            skip_data,
            dataset_id: Some(uuid_to_wire(&dataset.id())),
        })
        .await
        .map_err(|e| match e {
            Error::NotFound { message } => Error::NotFound {
                message: format!("no such datapoint {id}: {message}"),
            },
            other => other,
        })?;
    Ok(Datapoint::new(
        any.type_url,
        any.value,
        Some(dataset.clone()),
    ))
}

impl Collection {
    fn id_wire(&self) -> Option<crate::wire::tilebox::v1::Id> {
        Some(uuid_to_wire(&self.id()))
    }

    /// Fetches the current info (availability and count) and caches it.
    pub async fn refresh_info(&self) -> Result<Arc<CollectionInfo>> {
        let info = self
            .dataset()
            .rpc()
            .get_collection_by_name(pb::GetCollectionByNameRequest {
                collection_name: self.name().to_owned(),
                with_availability: true,
                with_count: true,
                dataset_id: Some(uuid_to_wire(&self.dataset().id())),
            })
            .await?;
        Ok(self.set_info(CollectionInfo::from_wire(&info)?))
    }

    /// Loads every datapoint matching `options`, in order. With [`QueryOptions::parallel_pages`] the interval
    /// is split and paged concurrently; the result is identical.
    pub async fn query(&self, options: &QueryOptions) -> Result<Datapoints> {
        load_collections(self.dataset().rpc(), std::slice::from_ref(self), options)
            .await
            .pop()
            .unwrap_or(Err(Error::Cancelled))
    }

    /// Loads every datapoint matching `options` and decodes it into your own prost message type.
    pub async fn query_into<T: prost::Message + Default>(
        &self,
        options: &QueryOptions,
    ) -> Result<Vec<T>> {
        self.query(options).await?.decode_into::<T>()
    }

    /// Loads every datapoint matching `options` as Arrow record batches, decoding each page as it arrives
    /// (see [`Client::load_collections_arrow`]). [`RecordBatches::concat`](crate::arrow::RecordBatches::concat)
    /// gives one batch.
    #[cfg(feature = "arrow")]
    pub async fn query_arrow(&self, options: &QueryOptions) -> Result<crate::arrow::RecordBatches> {
        load_collections_arrow(self.dataset().rpc(), std::slice::from_ref(self), options)
            .await
            .pop()
            .unwrap_or(Err(Error::Cancelled))
    }

    /// The pages of the query as a stream of Arrow record batches (see [`Collection::pages`]; each page is
    /// decoded while the next one is being fetched).
    #[cfg(feature = "arrow")]
    pub fn pages_arrow(
        &self,
        options: &QueryOptions,
    ) -> BoxStream<'static, Result<arrow_array::RecordBatch>> {
        let offload = self.dataset().rpc().offload().cloned();
        self.pages(options)
            .then(move |page| {
                let offload = offload.clone();
                async move {
                    let page = page?;
                    crate::arrow::run(offload.as_ref(), move || page.to_record_batch()).await
                }
            })
            .boxed()
    }

    /// The pages of the query as a stream (sequential by cursor; the next page is requested while you handle
    /// the current one), for results too large to hold at once. Progress is reported per page.
    pub fn pages(&self, options: &QueryOptions) -> BoxStream<'static, Result<Page>> {
        let request = match collection_request(self, options) {
            Ok(r) => r,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let listener = options.listener();
        let mut tracker = match options.extent() {
            Ok(Extent::Time(interval)) => ProgressTracker::new(self.name(), &interval, Utc::now()),
            _ => ProgressTracker::with_segments(self.name(), &[], Utc::now()),
        };
        let dataset = self.dataset().clone();
        let fetcher: Arc<dyn PageFetcher> = Arc::new(dataset.rpc().clone());
        let plan = QueryPlan::new(request, options.page_size_limit());
        let mut finished = false;
        let skip_data = options.is_skip_data();
        PageStream::new(fetcher, plan)
            .map(move |result| {
                let page = result?;
                let last = page
                    .next_page
                    .as_ref()
                    .is_none_or(|n| n.starting_after.is_none());
                let (type_url, values) =
                    page.data.map(|d| (d.type_url, d.value)).unwrap_or_default();
                if let Some(listener) = &listener
                    && !finished
                {
                    let (first, last_time) = page_time_span(&values);
                    let bytes = values.iter().map(|v| v.len() as u64).sum();
                    let event = tracker.on_page(0, first, last_time, values.len() as u64, bytes);
                    listener.on_progress(&event);
                    if last {
                        finished = true;
                        listener.on_progress(&tracker.finish());
                    }
                }
                Ok(Datapoints::new(type_url, values, Some(dataset.clone()))
                    .with_skip_data(skip_data))
            })
            .boxed()
    }

    /// The datapoint with this id in this collection ([`Error::InvalidInput`] for a malformed id, before any
    /// request; [`Error::NotFound`] if there is none).
    pub async fn find(&self, id: impl IntoDatapointId, skip_data: bool) -> Result<Datapoint> {
        let id = id.into_datapoint_id()?;
        find(
            self.dataset(),
            vec![uuid_to_wire(&self.id())],
            id,
            skip_data,
        )
        .await
    }

    /// Ingests datapoints (messages of the dataset's type: your own prost types or
    /// `prost_reflect::DynamicMessage`s) in chunks of 8192. With `allow_existing`, datapoints that already
    /// exist are skipped and counted instead of failing the ingest.
    pub async fn ingest<M: prost::Message>(
        &self,
        values: &[M],
        allow_existing: bool,
    ) -> Result<IngestSummary> {
        self.ingest_with(values, &IngestOptions::new().allow_existing(allow_existing))
            .await
    }

    /// [`Collection::ingest`] with options (progress).
    pub async fn ingest_with<M: prost::Message>(
        &self,
        values: &[M],
        options: &IngestOptions,
    ) -> Result<IngestSummary> {
        let raw: Vec<Bytes> = values
            .iter()
            .map(|m| Bytes::from(m.encode_to_vec()))
            .collect();
        self.ingest_raw(raw, options).await
    }

    /// Ingests the rows of an Arrow record batch whose columns are named as the dataset's fields (see
    /// [`crate::arrow`] for the accepted column types; fields without a column stay unset). A column that
    /// names no field or whose type does not fit fails with [`Error::ColumnMismatch`] before any request.
    #[cfg(feature = "arrow")]
    pub async fn ingest_record_batch(
        &self,
        batch: &arrow_array::RecordBatch,
        options: &IngestOptions,
    ) -> Result<IngestSummary> {
        self.ingest_record_batches(std::slice::from_ref(batch), options)
            .await
    }

    /// [`Collection::ingest_record_batch`] for several batches (e.g. the batches of a Parquet file), all
    /// checked and encoded before the first request.
    #[cfg(feature = "arrow")]
    pub async fn ingest_record_batches(
        &self,
        batches: &[arrow_array::RecordBatch],
        options: &IngestOptions,
    ) -> Result<IngestSummary> {
        let schema = self.dataset().schema()?;
        let mut values = Vec::new();
        for batch in batches {
            values.extend(crate::arrow::encode_record_batch(&schema, batch)?);
        }
        self.ingest_raw(values, options).await
    }

    /// Ingests already serialized datapoints in chunks of 8192.
    pub async fn ingest_raw(
        &self,
        values: Vec<Bytes>,
        options: &IngestOptions,
    ) -> Result<IngestSummary> {
        if let Some(i) = values.iter().position(Bytes::is_empty) {
            return Err(Error::invalid_input(format!(
                "datapoint {i} is empty; every datapoint needs at least a time"
            )));
        }
        let listener = options.listener();
        let mut tracker = ProgressTracker::counting(self.name(), values.len() as u64);
        let mut summary = IngestSummary::default();
        let result = async {
            for chunk in values.chunks(CHUNK_SIZE) {
                let response = self
                    .dataset()
                    .rpc()
                    .ingest(pb::IngestRequest {
                        collection_id: self.id_wire(),
                        values: chunk.to_vec(),
                        allow_existing: options.is_allow_existing(),
                    })
                    .await?;
                summary.num_created += u64::try_from(response.num_created).unwrap_or(0);
                summary.num_existing += u64::try_from(response.num_existing).unwrap_or(0);
                for id in &response.datapoint_ids {
                    summary.datapoint_ids.push(uuid_from_wire(id)?);
                }
                let bytes = chunk.iter().map(|v| v.len() as u64).sum();
                report(
                    &listener,
                    tracker.on_page(0, None, None, chunk.len() as u64, bytes),
                );
            }
            Ok::<_, Error>(())
        }
        .await;
        self.after_write(result.is_ok()).await;
        match result {
            Ok(()) => {
                report(&listener, tracker.finish());
                Ok(summary)
            }
            Err(e) => {
                report(&listener, tracker.abort());
                Err(e)
            }
        }
    }

    /// Deletes the datapoints with these ids, in chunks of 8192; returns how many were deleted. All ids are
    /// validated before any request ([`Error::InvalidInput`]).
    pub async fn delete<I: IntoDatapointId>(
        &self,
        ids: impl IntoIterator<Item = I>,
    ) -> Result<u64> {
        let ids: Vec<Uuid> = ids
            .into_iter()
            .map(IntoDatapointId::into_datapoint_id)
            .collect::<Result<_>>()?;
        let mut deleted = 0u64;
        let result = async {
            for chunk in ids.chunks(CHUNK_SIZE) {
                let response = self
                    .dataset()
                    .rpc()
                    .delete(pb::DeleteRequest {
                        collection_id: self.id_wire(),
                        datapoint_ids: chunk.iter().map(uuid_to_wire).collect(),
                    })
                    .await?;
                deleted += u64::try_from(response.num_deleted).unwrap_or(0);
            }
            Ok::<_, Error>(())
        }
        .await;
        self.after_write(deleted > 0).await;
        result.map(|()| deleted)
    }

    /// Deletes the given datapoints (e.g. a query result) from this collection.
    pub async fn delete_datapoints(&self, datapoints: &Datapoints) -> Result<u64> {
        self.delete(datapoints.ids()?).await
    }

    /// Re-reads the info after a write so `info()` reflects it (best effort).
    async fn after_write(&self, changed: bool) {
        if changed && let Err(e) = self.refresh_info().await {
            tracing::debug!(collection = self.name(), error = %e, "could not refresh the collection info");
        }
    }
}

fn report(listener: &Option<Arc<dyn ProgressListener>>, event: crate::progress::ProgressEvent) {
    if let Some(listener) = listener {
        listener.on_progress(&event);
    }
}
