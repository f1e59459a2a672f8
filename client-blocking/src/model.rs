//! Blocking views of the core's [`Dataset`](tilebox_core::Dataset), [`Collection`](tilebox_core::Collection)
//! and [`DatasetTree`](tilebox_core::DatasetTree): the same operations as plain functions, plus an
//! [`Iterator`] of result pages.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tilebox_core::{
    CollectionInfo, CollectionQuota, Datapoint, Datapoints, DatasetGroup, DatasetKind,
    DatasetPermission, IngestOptions, IngestSummary, IntoDatapointId, Page, QueryOptions, Result,
    Schema, Visibility,
};
use uuid::Uuid;

use crate::block_on::block_on;

/// All datasets visible to the caller, navigable by dotted path.
#[derive(Debug, Clone)]
pub struct DatasetTree {
    inner: tilebox_core::DatasetTree,
}

impl From<tilebox_core::DatasetTree> for DatasetTree {
    fn from(inner: tilebox_core::DatasetTree) -> Self {
        Self { inner }
    }
}

impl DatasetTree {
    /// The async tree this wraps.
    pub fn as_async(&self) -> &tilebox_core::DatasetTree {
        &self.inner
    }

    /// The dataset at `path` (e.g. `open_data.copernicus.landsat8_oli_tirs`), if any.
    pub fn get(&self, path: &str) -> Option<Dataset> {
        self.inner.get(path).cloned().map(Dataset::from)
    }

    /// The dataset at `path`, or [`tilebox_core::Error::NotFound`].
    pub fn dataset(&self, path: &str) -> Result<Dataset> {
        self.inner.dataset(path).cloned().map(Dataset::from)
    }

    /// The group at `path` (e.g. `open_data.copernicus`), if any.
    pub fn group(&self, path: &str) -> Option<&DatasetGroup> {
        self.inner.group(path)
    }

    /// The root group.
    pub fn root(&self) -> &DatasetGroup {
        self.inner.root()
    }

    /// Every dataset in the tree.
    pub fn datasets(&self) -> Vec<Dataset> {
        self.inner
            .datasets()
            .into_iter()
            .cloned()
            .map(Dataset::from)
            .collect()
    }

    /// Number of datasets.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether there are no datasets.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// A message from the server, if it sent one.
    pub fn server_message(&self) -> &str {
        self.inner.server_message()
    }

    /// How many datasets the caller's organisation owns.
    pub fn owned_datasets(&self) -> i64 {
        self.inner.owned_datasets()
    }

    /// How many datasets the caller's organisation may own; `None` for no limit.
    pub fn maximum_owned_datasets(&self) -> Option<i64> {
        self.inner.maximum_owned_datasets()
    }
}

/// A dataset, with blocking operations.
#[derive(Debug, Clone)]
pub struct Dataset {
    inner: tilebox_core::Dataset,
}

impl From<tilebox_core::Dataset> for Dataset {
    fn from(inner: tilebox_core::Dataset) -> Self {
        Self { inner }
    }
}

impl From<Dataset> for tilebox_core::Dataset {
    fn from(dataset: Dataset) -> Self {
        dataset.inner
    }
}

impl Dataset {
    /// The async dataset this wraps.
    pub fn as_async(&self) -> &tilebox_core::Dataset {
        &self.inner
    }

    /// The dataset id.
    pub fn id(&self) -> Uuid {
        self.inner.id()
    }

    /// The full slug, e.g. `open_data.copernicus.landsat8_oli_tirs`.
    pub fn slug(&self) -> &str {
        self.inner.slug()
    }

    /// The display name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The code name (last part of the slug).
    pub fn code_name(&self) -> &str {
        self.inner.code_name()
    }

    /// The short summary.
    pub fn summary(&self) -> &str {
        self.inner.summary()
    }

    /// The description.
    pub fn description(&self) -> &str {
        self.inner.description()
    }

    /// The dataset kind.
    pub fn kind(&self) -> DatasetKind {
        self.inner.kind()
    }

    /// The icon name (may be empty).
    pub fn icon(&self) -> &str {
        self.inner.icon()
    }

    /// The caller's permissions on the dataset.
    pub fn permissions(&self) -> Vec<DatasetPermission> {
        self.inner.permissions()
    }

    /// Whether the caller holds `permission` on the dataset.
    pub fn has_permission(&self, permission: DatasetPermission) -> bool {
        self.inner.has_permission(permission)
    }

    /// How the dataset is visible to the caller.
    pub fn visibility(&self) -> Visibility {
        self.inner.visibility()
    }

    /// Whether the dataset's schema may still be changed freely.
    pub fn type_editable(&self) -> bool {
        self.inner.type_editable()
    }

    /// The type URL of its datapoints.
    pub fn type_url(&self) -> &str {
        self.inner.type_url()
    }

    /// The datapoint schema (loaded lazily; fails only for unloadable legacy schemas).
    pub fn schema(&self) -> Result<Schema> {
        self.inner.schema()
    }

    /// All collections, with availability and count.
    pub fn collections(&self) -> Result<Vec<Collection>> {
        Ok(block_on(self.inner.collections())?
            .into_iter()
            .map(Collection::from)
            .collect())
    }

    /// All collections and the caller's collection quota from the same listing.
    pub fn collections_and_quota(&self) -> Result<(Vec<Collection>, CollectionQuota)> {
        let (collections, quota) = block_on(self.inner.collections_and_quota())?;
        Ok((
            collections.into_iter().map(Collection::from).collect(),
            quota,
        ))
    }

    /// The collection `name` ([`tilebox_core::Error::NotFound`] if there is none).
    pub fn collection(&self, name: &str) -> Result<Collection> {
        block_on(self.inner.collection(name)).map(Collection::from)
    }

    /// Creates the collection `name`.
    pub fn create_collection(&self, name: &str) -> Result<Collection> {
        block_on(self.inner.create_collection(name)).map(Collection::from)
    }

    /// The collection `name`, created if it does not exist.
    pub fn get_or_create_collection(&self, name: &str) -> Result<Collection> {
        block_on(self.inner.get_or_create_collection(name)).map(Collection::from)
    }

    /// Deletes the collection `name` and its datapoints.
    pub fn delete_collection(&self, name: &str) -> Result<()> {
        block_on(self.inner.delete_collection(name))
    }

    /// Deletes (trashes) the dataset; returns whether the server moved it to the trash.
    pub fn delete(&self) -> Result<bool> {
        block_on(self.inner.delete())
    }

    /// Queries all collections (or those chosen with [`QueryOptions::collections`]) as one result.
    pub fn query(&self, options: &QueryOptions) -> Result<Datapoints> {
        block_on(self.inner.query(options))
    }

    /// The datapoint with this id in any collection of the dataset.
    pub fn find(&self, id: impl IntoDatapointId, skip_data: bool) -> Result<Datapoint> {
        block_on(self.inner.find(id, skip_data))
    }
}

/// A collection of a dataset, with blocking operations.
#[derive(Debug, Clone)]
pub struct Collection {
    inner: tilebox_core::Collection,
}

impl From<tilebox_core::Collection> for Collection {
    fn from(inner: tilebox_core::Collection) -> Self {
        Self { inner }
    }
}

impl From<Collection> for tilebox_core::Collection {
    fn from(collection: Collection) -> Self {
        collection.inner
    }
}

impl Collection {
    /// The async collection this wraps.
    pub fn as_async(&self) -> &tilebox_core::Collection {
        &self.inner
    }

    /// The collection name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The collection id.
    pub fn id(&self) -> Uuid {
        self.inner.id()
    }

    /// The dataset it belongs to.
    pub fn dataset(&self) -> Dataset {
        Dataset::from(self.inner.dataset().clone())
    }

    /// Availability and count, as of the last fetch.
    pub fn info(&self) -> Arc<CollectionInfo> {
        self.inner.info()
    }

    /// Fetches the current availability and count.
    pub fn refresh_info(&self) -> Result<Arc<CollectionInfo>> {
        block_on(self.inner.refresh_info())
    }

    /// Loads every datapoint matching `options`, in order (paged in parallel with
    /// [`QueryOptions::parallel_pages`]; the result is identical).
    pub fn query(&self, options: &QueryOptions) -> Result<Datapoints> {
        block_on(self.inner.query(options))
    }

    /// Loads every datapoint matching `options` and decodes it into your own prost message type.
    pub fn query_into<T: prost::Message + Default>(
        &self,
        options: &QueryOptions,
    ) -> Result<Vec<T>> {
        block_on(self.inner.query_into::<T>(options))
    }

    /// The result pages one by one, for results too large to hold at once (the next page is requested while
    /// you handle the current one). Dropping the iterator stops the query.
    pub fn pages(&self, options: &QueryOptions) -> Pages {
        Pages {
            stream: self.inner.pages(options),
        }
    }

    /// Loads every datapoint matching `options` as Arrow record batches, decoding each page on worker
    /// threads as it arrives (see [`tilebox_core::Collection::query_arrow`]).
    #[cfg(feature = "arrow")]
    pub fn query_arrow(
        &self,
        options: &QueryOptions,
    ) -> Result<tilebox_core::arrow::RecordBatches> {
        block_on(self.inner.query_arrow(options))
    }

    /// The result pages one by one as Arrow record batches (each page decoded while the next is fetched).
    #[cfg(feature = "arrow")]
    pub fn pages_arrow(&self, options: &QueryOptions) -> ArrowPages {
        ArrowPages {
            stream: self.inner.pages_arrow(options),
        }
    }

    /// The datapoint with this id in this collection.
    pub fn find(&self, id: impl IntoDatapointId, skip_data: bool) -> Result<Datapoint> {
        block_on(self.inner.find(id, skip_data))
    }

    /// Ingests datapoints (your prost types or `prost_reflect::DynamicMessage`s) in chunks.
    pub fn ingest<M: prost::Message>(
        &self,
        values: &[M],
        allow_existing: bool,
    ) -> Result<IngestSummary> {
        block_on(self.inner.ingest(values, allow_existing))
    }

    /// [`Collection::ingest`] with options (progress).
    pub fn ingest_with<M: prost::Message>(
        &self,
        values: &[M],
        options: &IngestOptions,
    ) -> Result<IngestSummary> {
        block_on(self.inner.ingest_with(values, options))
    }

    /// Ingests already serialized datapoints in chunks.
    pub fn ingest_raw(&self, values: Vec<Bytes>, options: &IngestOptions) -> Result<IngestSummary> {
        block_on(self.inner.ingest_raw(values, options))
    }

    /// Ingests the rows of an Arrow record batch whose columns are named as the dataset's fields (feature
    /// `arrow`); a mismatching column fails with `Error::ColumnMismatch` before any request.
    #[cfg(feature = "arrow")]
    pub fn ingest_record_batch(
        &self,
        batch: &tilebox_core::arrow_array::RecordBatch,
        options: &IngestOptions,
    ) -> Result<IngestSummary> {
        block_on(self.inner.ingest_record_batch(batch, options))
    }

    /// [`Collection::ingest_record_batch`] for several batches (e.g. a Parquet file's), all checked and
    /// encoded before the first request.
    #[cfg(feature = "arrow")]
    pub fn ingest_record_batches(
        &self,
        batches: &[tilebox_core::arrow_array::RecordBatch],
        options: &IngestOptions,
    ) -> Result<IngestSummary> {
        block_on(self.inner.ingest_record_batches(batches, options))
    }

    /// Deletes the datapoints with these ids, in chunks; returns how many were deleted.
    pub fn delete<I: IntoDatapointId>(&self, ids: impl IntoIterator<Item = I>) -> Result<u64> {
        block_on(self.inner.delete(ids))
    }

    /// Deletes the given datapoints (e.g. a query result) from this collection.
    pub fn delete_datapoints(&self, datapoints: &Datapoints) -> Result<u64> {
        block_on(self.inner.delete_datapoints(datapoints))
    }
}

/// The pages of a query, fetched as you iterate ([`Collection::pages`]).
pub struct Pages {
    stream: BoxStream<'static, Result<Page>>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages").finish_non_exhaustive()
    }
}

impl Iterator for Pages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        block_on(self.stream.next())
    }
}

/// The pages of a query as Arrow record batches, fetched and decoded as you iterate
/// ([`Collection::pages_arrow`]).
#[cfg(feature = "arrow")]
pub struct ArrowPages {
    stream: BoxStream<'static, Result<tilebox_core::arrow_array::RecordBatch>>,
}

#[cfg(feature = "arrow")]
impl std::fmt::Debug for ArrowPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowPages").finish_non_exhaustive()
    }
}

#[cfg(feature = "arrow")]
impl Iterator for ArrowPages {
    type Item = Result<tilebox_core::arrow_array::RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        block_on(self.stream.next())
    }
}
