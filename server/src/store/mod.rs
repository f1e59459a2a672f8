//! Storage behind the [`Store`] trait, with its SQLite (embedded default) and PostgreSQL implementations.
//!
//! The trait speaks in plain records (ids are 16-byte arrays, times are nanoseconds since the Unix epoch,
//! datapoints are their encoded protobuf bytes plus the indexed columns). SQL stays inside the backends; both
//! get their schema from the versioned migrations in [`migrations`].

mod datasets;
pub(crate) mod db;
pub(crate) mod migrations;
pub mod workflows;

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;

pub use datasets::DatasetsStore;

/// A 16-byte id (UUID bytes, big-endian).
pub type RawId = [u8; 16];

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (the store's own drivers).
    #[error(transparent)]
    Db(db::DbError),
    /// A referenced row does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness rule was violated.
    #[error("{0}")]
    Conflict(String),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database's files could not be created.
    #[error("database files: {0}")]
    Io(String),
    /// The database was written by a newer server: its schema version is unknown to this build.
    #[error(
        "the database schema is at version {found}, newer than this server knows (up to {known}); \
         refusing to start: run a newer tilebox-server"
    )]
    SchemaTooNew {
        /// The schema version the database records.
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// Applying the schema migrations failed.
    #[error("schema migration: {0}")]
    Migration(String),
}

impl From<db::DbError> for StoreError {
    fn from(e: db::DbError) -> Self {
        if let db::DbError::Setup(message) = &e
            && let Some(found) = message.strip_prefix(migrations::TOO_NEW)
            && let Ok(found) = found.parse()
        {
            return StoreError::SchemaTooNew {
                found,
                known: migrations::latest(),
            };
        }
        StoreError::Db(e)
    }
}

/// A dataset group (a folder in the dataset tree).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    /// Group id.
    pub id: RawId,
    /// Parent group, `None` for top-level groups.
    pub parent_id: Option<RawId>,
    /// snake_case code name, unique among siblings.
    pub code_name: String,
    /// Display name.
    pub name: String,
    /// Icon name.
    pub icon: String,
}

/// A dataset and its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRecord {
    /// Dataset id.
    pub id: RawId,
    /// Owning group.
    pub group_id: RawId,
    /// snake_case code name.
    pub code_name: String,
    /// Full dotted slug (group code names + code name), unique.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Short summary.
    pub summary: String,
    /// Markdown description.
    pub description: String,
    /// Icon name.
    pub icon: String,
    /// `datasets.v1.DatasetKind` number.
    pub kind: i32,
    /// Encoded `datasets.v1.DatasetType` (the field list the schema is generated from).
    pub fields: Bytes,
    /// `datasets.v1.Visibility` number.
    pub visibility: i32,
}

/// A collection of datapoints inside a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionRecord {
    /// Collection id.
    pub id: RawId,
    /// Dataset the collection belongs to.
    pub dataset_id: RawId,
    /// Name, unique within the dataset.
    pub name: String,
}

/// Count and time range of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectionStats {
    /// Number of datapoints.
    pub count: u64,
    /// `(first time, last time)` in ns, when not empty.
    pub range_ns: Option<(i64, i64)>,
}

/// An axis-aligned bounding box `(min_x, min_y, max_x, max_y)`.
pub type BBox = [f64; 4];

/// One datapoint as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DatapointRecord {
    /// Datapoint id (first 6 bytes: time in ms).
    pub id: RawId,
    /// Datapoint time, ns since the epoch.
    pub time_ns: i64,
    /// Ingestion time, ns since the epoch.
    pub ingestion_time_ns: i64,
    /// Bounding box of the geometry, if any.
    pub bbox: Option<BBox>,
    /// The encoded datapoint message (with `id` and `ingestion_time` set). Empty when loaded without data.
    pub data: Bytes,
}

/// A predicate over a datapoint's encoded bytes. In a [`RangeQuery`] it is applied to each row before the row
/// counts toward the page limit, so filtered pages are still full pages.
#[derive(Clone)]
pub struct RowFilter(Arc<RowPredicate>);

/// The predicate inside a [`RowFilter`].
type RowPredicate = dyn Fn(&[u8]) -> bool + Send + Sync;

impl RowFilter {
    /// A filter keeping the rows for which `keep` returns true.
    pub fn new(keep: impl Fn(&[u8]) -> bool + Send + Sync + 'static) -> Self {
        RowFilter(Arc::new(keep))
    }

    /// Whether the datapoint with these encoded bytes is kept.
    pub fn matches(&self, data: &[u8]) -> bool {
        (self.0)(data)
    }
}

impl std::fmt::Debug for RowFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowFilter(..)")
    }
}

/// A page request against one collection, ordered by id ascending.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    /// Collection to read.
    pub collection_id: RawId,
    /// Lower id bound.
    pub lower: Bound<RawId>,
    /// Upper id bound.
    pub upper: Bound<RawId>,
    /// Only rows whose bbox intersects this box (or lies within it, see `bbox_within`).
    pub bbox: Option<BBox>,
    /// With `bbox`: require the row's bbox to lie within it instead of intersecting it.
    pub bbox_within: bool,
    /// Maximum number of rows.
    pub limit: u64,
    /// Load the `data` column (false for `skip_data`).
    pub with_data: bool,
    /// Keep only rows whose encoded datapoint passes this filter (applied before `limit` counts them).
    pub filter: Option<RowFilter>,
}

/// Outcome of an ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Rows newly inserted.
    pub created: u64,
    /// Rows skipped because their id existed.
    pub existing: u64,
}

/// Storage operations the services need. Object safe; use as `Arc<dyn Store>`.
pub trait Store: Send + Sync + 'static {
    /// All groups.
    fn list_groups(&self) -> BoxFuture<'_, Result<Vec<GroupRecord>, StoreError>>;
    /// Inserts a group, or does nothing if its id exists.
    fn ensure_group(&self, group: GroupRecord) -> BoxFuture<'_, Result<(), StoreError>>;

    /// All datasets, ordered by slug.
    fn list_datasets(&self) -> BoxFuture<'_, Result<Vec<DatasetRecord>, StoreError>>;
    /// A dataset by id.
    fn get_dataset(&self, id: RawId) -> BoxFuture<'_, Result<Option<DatasetRecord>, StoreError>>;
    /// A dataset by full slug.
    fn get_dataset_by_slug<'a>(
        &'a self,
        slug: &'a str,
    ) -> BoxFuture<'a, Result<Option<DatasetRecord>, StoreError>>;
    /// Inserts a dataset (`Conflict` when the slug is taken).
    fn insert_dataset(&self, dataset: DatasetRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Replaces a dataset's mutable columns (`Conflict` when the new slug is taken).
    fn update_dataset(&self, dataset: DatasetRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Deletes a dataset with its collections and datapoints; false when it did not exist.
    fn delete_dataset(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Whether any datapoint exists in any collection of the dataset.
    fn dataset_has_data(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Collections of a dataset, ordered by name.
    fn list_collections(
        &self,
        dataset_id: RawId,
    ) -> BoxFuture<'_, Result<Vec<CollectionRecord>, StoreError>>;
    /// A collection by id.
    fn get_collection(
        &self,
        id: RawId,
    ) -> BoxFuture<'_, Result<Option<CollectionRecord>, StoreError>>;
    /// A collection by dataset and name.
    fn get_collection_by_name<'a>(
        &'a self,
        dataset_id: RawId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<CollectionRecord>, StoreError>>;
    /// Inserts a collection (`Conflict` when the name is taken in the dataset).
    fn insert_collection(
        &self,
        collection: CollectionRecord,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Deletes a collection and its datapoints; false when it did not exist.
    fn delete_collection(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Count and time range of a collection.
    fn collection_stats(&self, id: RawId) -> BoxFuture<'_, Result<CollectionStats, StoreError>>;

    /// Inserts datapoints in one transaction. Existing ids are skipped when `allow_existing`, otherwise the
    /// whole call fails with `Conflict` and nothing is written. Duplicates within `rows` count as existing.
    fn insert_datapoints(
        &self,
        collection_id: RawId,
        rows: Vec<DatapointRecord>,
        allow_existing: bool,
    ) -> BoxFuture<'_, Result<InsertOutcome, StoreError>>;
    /// Deletes datapoints in one transaction; `NotFound` (and nothing deleted) if any id is missing.
    fn delete_datapoints(
        &self,
        collection_id: RawId,
        ids: Vec<RawId>,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// One page of one collection, ordered by id ascending.
    fn query_range(
        &self,
        query: RangeQuery,
    ) -> BoxFuture<'_, Result<Vec<DatapointRecord>, StoreError>>;
    /// A datapoint by id within any of the given collections.
    fn get_datapoint(
        &self,
        collection_ids: Vec<RawId>,
        id: RawId,
    ) -> BoxFuture<'_, Result<Option<DatapointRecord>, StoreError>>;
}
