//! Query options and query results.
//!
//! [`QueryOptions`] describes a query: the temporal extent (or a datapoint-id range), an optional spatial
//! filter, filter expressions over queryable fields ([`crate::filter`]), `skip_data`, progress reporting and how to load (page size, parallel paging, concurrency).
//! [`Datapoints`] holds the result as serialized datapoints in query order and decodes them typed
//! ([`Datapoints::decode_into`]) or dynamically ([`Datapoints::records`]).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use crate::datapoint::{
    DatapointMeta, DynamicDatapoint, Schema, decode_dynamic, decode_meta, decode_typed,
};
use crate::error::{Error, Result};
use crate::filter::{Filter, encode_all};
use crate::model::Dataset;
use crate::progress::{ProgressEvent, ProgressListener};
use crate::time::{DatapointInterval, IntoTimeInterval, TimeInterval};
use crate::wire::datasets::v1 as pb;

/// The extent of a query: a time interval or a range of datapoint ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extent {
    /// Datapoints whose `time` lies in the interval.
    Time(TimeInterval),
    /// Datapoints whose id lies in the range.
    Datapoints(DatapointInterval),
}

impl Extent {
    /// The time interval, if this is a temporal extent.
    pub fn time_interval(&self) -> Option<&TimeInterval> {
        match self {
            Extent::Time(t) => Some(t),
            Extent::Datapoints(_) => None,
        }
    }
}

/// Anything usable as a query extent: whatever [`IntoTimeInterval`] accepts (`("2020-01-01",
/// "2021-01-01")`, `start..end`, a single instant, a [`TimeInterval`]), a [`DatapointInterval`] or an
/// [`Extent`].
pub trait IntoExtent {
    /// The extent, or [`Error::InvalidInput`].
    fn into_extent(self) -> Result<Extent>;
}

impl<T: IntoTimeInterval> IntoExtent for T {
    fn into_extent(self) -> Result<Extent> {
        self.into_time_interval().map(Extent::Time)
    }
}

impl IntoExtent for DatapointInterval {
    fn into_extent(self) -> Result<Extent> {
        Ok(Extent::Datapoints(self))
    }
}

impl IntoExtent for Extent {
    fn into_extent(self) -> Result<Extent> {
        Ok(self)
    }
}

/// Wire number of `SPATIAL_FILTER_MODE_GEOMETRY_CONTAINS_FILTER` (newer than the bundled protos).
const GEOMETRY_CONTAINS_FILTER: i32 = 3;

/// How a spatial filter matches geometries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SpatialMode {
    /// The server's default (intersects).
    #[default]
    Unspecified,
    /// Datapoints whose geometry intersects the filter geometry.
    Intersects,
    /// Datapoints whose geometry lies within the filter geometry (the filter contains the geometry).
    Contains,
    /// Datapoints whose geometry contains the filter geometry (wire value 3,
    /// `SPATIAL_FILTER_MODE_GEOMETRY_CONTAINS_FILTER` of newer API versions).
    GeometryContainsFilter,
}

/// The coordinate system a spatial filter is evaluated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CoordinateSystem {
    /// The server's default (cartesian).
    #[default]
    Unspecified,
    /// Lat/lon treated as a plane.
    Cartesian,
    /// Great circles on the sphere.
    Spherical,
}

/// A spatial filter: a geometry (sent as WKB) plus mode and coordinate system.
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialExtent {
    wkb: Bytes,
    mode: SpatialMode,
    coordinate_system: CoordinateSystem,
}

impl SpatialExtent {
    /// A filter by `geometry` (any `geo_types` geometry; polygons and multipolygons are what the API
    /// supports), encoded as little-endian WKB.
    pub fn new(geometry: impl Into<geo_types::Geometry<f64>>) -> Result<Self> {
        let geometry: geo_types::Geometry<f64> = geometry.into();
        let mut wkb = Vec::new();
        wkb::writer::write_geometry(&mut wkb, &geometry, &wkb::writer::WriteOptions::default())
            .map_err(|e| Error::invalid_input(format!("cannot encode the geometry as WKB: {e}")))?;
        Ok(Self::from_wkb(wkb))
    }

    /// A filter by a geometry already encoded as WKB or EWKB (handed through unchanged).
    pub fn from_wkb(wkb: impl Into<Bytes>) -> Self {
        SpatialExtent {
            wkb: wkb.into(),
            mode: SpatialMode::default(),
            coordinate_system: CoordinateSystem::default(),
        }
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: SpatialMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the coordinate system.
    pub fn coordinate_system(mut self, coordinate_system: CoordinateSystem) -> Self {
        self.coordinate_system = coordinate_system;
        self
    }

    /// The WKB bytes.
    pub fn wkb(&self) -> &Bytes {
        &self.wkb
    }

    /// The wire form.
    pub fn to_wire(&self) -> pb::SpatialFilter {
        pb::SpatialFilter {
            geometry: Some(pb::Geometry {
                wkb: self.wkb.clone(),
            }),
            mode: match self.mode {
                SpatialMode::Unspecified => pb::SpatialFilterMode::Unspecified as i32,
                SpatialMode::Intersects => pb::SpatialFilterMode::Intersects as i32,
                SpatialMode::Contains => pb::SpatialFilterMode::Contains as i32,
                SpatialMode::GeometryContainsFilter => GEOMETRY_CONTAINS_FILTER,
            },
            coordinate_system: match self.coordinate_system {
                CoordinateSystem::Unspecified => pb::SpatialCoordinateSystem::Unspecified,
                CoordinateSystem::Cartesian => pb::SpatialCoordinateSystem::Cartesian,
                CoordinateSystem::Spherical => pb::SpatialCoordinateSystem::Spherical,
            } as i32,
        }
    }
}

/// Default page size assumed for planning parallel paging when none is set (the server's default).
pub const DEFAULT_PAGE_SIZE: u64 = 2000;

/// Everything about one query. Build with [`QueryOptions::new`] and the setters.
///
/// An extent that cannot be parsed is kept as an error and reported as [`Error::InvalidInput`] by the query
/// (before any request); use [`QueryOptions::try_new`] to see it immediately.
#[derive(Clone)]
pub struct QueryOptions {
    extent: std::result::Result<Extent, String>,
    spatial: Option<SpatialExtent>,
    expressions: Vec<Filter>,
    skip_data: bool,
    show_progress: bool,
    progress: Option<Arc<dyn ProgressListener>>,
    parallel_pages: Option<usize>,
    page_size: Option<u64>,
    concurrency: Option<usize>,
    collections: Option<Vec<String>>,
}

impl fmt::Debug for QueryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryOptions")
            .field("extent", &self.extent)
            .field("spatial", &self.spatial)
            .field("expressions", &self.expressions.len())
            .field("skip_data", &self.skip_data)
            .field("show_progress", &self.show_progress)
            .field("progress", &self.progress.is_some())
            .field("parallel_pages", &self.parallel_pages)
            .field("page_size", &self.page_size)
            .field("concurrency", &self.concurrency)
            .field("collections", &self.collections)
            .finish()
    }
}

impl QueryOptions {
    /// A query over `extent` (see [`IntoExtent`]): full datapoints, no progress, sequential paging.
    pub fn new(extent: impl IntoExtent) -> Self {
        QueryOptions {
            extent: extent.into_extent().map_err(|e| e.message()),
            spatial: None,
            expressions: Vec::new(),
            skip_data: false,
            show_progress: false,
            progress: None,
            parallel_pages: None,
            page_size: None,
            concurrency: None,
            collections: None,
        }
    }

    /// Like [`QueryOptions::new`] but fails right away on an invalid extent.
    pub fn try_new(extent: impl IntoExtent) -> Result<Self> {
        let options = Self::new(extent);
        options.extent()?;
        Ok(options)
    }

    /// Only datapoints matching this spatial filter (spatiotemporal datasets only).
    pub fn spatial(mut self, spatial: SpatialExtent) -> Self {
        self.spatial = Some(spatial);
        self
    }

    /// Adds a server-side filter expression over queryable fields (ANDed with the others), built with
    /// [`field`](crate::filter::field) or handed through as a wire `FilterExpression`. An invalid filter
    /// fails the query with [`Error::InvalidInput`] before any request.
    pub fn filter(mut self, filter: impl Into<Filter>) -> Self {
        self.expressions.push(filter.into());
        self
    }

    /// The filter expressions added with [`QueryOptions::filter`].
    pub fn filter_expressions(&self) -> &[Filter] {
        &self.expressions
    }

    /// Only load `time`, `id` and `ingestion_time` of each datapoint.
    pub fn skip_data(mut self, skip_data: bool) -> Self {
        self.skip_data = skip_data;
        self
    }

    /// Show a progress bar on stderr (needs the `progress-bar` feature; hidden when stderr is not a
    /// terminal; without the feature this is a no-op).
    pub fn show_progress(mut self, show: bool) -> Self {
        self.show_progress = show;
        self
    }

    /// Report progress events to `listener`.
    pub fn progress(mut self, listener: Arc<dyn ProgressListener>) -> Self {
        self.progress = Some(listener);
        self
    }

    /// Split the time interval into up to `parts` sub-intervals that page concurrently (parallel paging).
    /// The result is identical to sequential paging; `1` pages strictly sequentially.
    ///
    /// Default: collection queries and `load_collections` split automatically into up to the concurrency
    /// limit, but only into as many sub-intervals as the expected pages (estimated from the collection's
    /// count and availability), so small queries stay one request; dataset-level queries default to 1.
    pub fn parallel_pages(mut self, parts: usize) -> Self {
        self.parallel_pages = Some(parts.max(1));
        self
    }

    /// Datapoints per page (`limit`); default: the server's.
    pub fn page_size(mut self, page_size: u64) -> Self {
        self.page_size = Some(page_size.max(1));
        self
    }

    /// Maximum requests in flight for this query; default: the client's `concurrency` setting.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency.max(1));
        self
    }

    /// For dataset-level queries: only these collections (by name); default all.
    pub fn collections<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.collections = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The extent, or the [`Error::InvalidInput`] it was built with.
    pub fn extent(&self) -> Result<Extent> {
        self.extent.clone().map_err(Error::invalid_input)
    }

    /// The spatial filter.
    pub fn spatial_extent(&self) -> Option<&SpatialExtent> {
        self.spatial.as_ref()
    }

    /// Whether only the common fields are loaded.
    pub fn is_skip_data(&self) -> bool {
        self.skip_data
    }

    /// Whether a progress bar is requested.
    pub fn is_show_progress(&self) -> bool {
        self.show_progress
    }

    /// The progress listener.
    pub fn progress_listener(&self) -> Option<&Arc<dyn ProgressListener>> {
        self.progress.as_ref()
    }

    /// The requested number of parallel sub-intervals (`None`: automatic).
    pub fn parallel_page_count(&self) -> Option<usize> {
        self.parallel_pages
    }

    /// The requested page size.
    pub fn page_size_limit(&self) -> Option<u64> {
        self.page_size
    }

    /// The requested concurrency.
    pub fn concurrency_limit(&self) -> Option<usize> {
        self.concurrency
    }

    /// The requested collection names.
    pub fn collection_names(&self) -> Option<&[String]> {
        self.collections.as_deref()
    }

    /// The `QueryFilters` of this query.
    pub fn filters(&self) -> Result<pb::QueryFilters> {
        let mut filters = pb::QueryFilters {
            spatial_extent: self.spatial.as_ref().map(SpatialExtent::to_wire),
            expressions: encode_all(&self.expressions)?,
            ..Default::default()
        };
        match self.extent()? {
            Extent::Time(t) => filters.time_interval = Some(t.to_wire()),
            Extent::Datapoints(d) => filters.datapoint_interval = Some(d.to_wire()),
        }
        Ok(filters)
    }

    /// The listener receiving this query's progress: the callback and/or a progress bar.
    pub(crate) fn listener(&self) -> Option<Arc<dyn ProgressListener>> {
        let bar = self.bar();
        match (self.progress.clone(), bar) {
            (Some(a), Some(b)) => Some(Arc::new(Fanout(vec![a, b]))),
            (a, b) => a.or(b),
        }
    }

    #[cfg(feature = "progress-bar")]
    fn bar(&self) -> Option<Arc<dyn ProgressListener>> {
        self.show_progress.then(|| {
            Arc::new(crate::progress_bar::ProgressBars::new()) as Arc<dyn ProgressListener>
        })
    }

    #[cfg(not(feature = "progress-bar"))]
    fn bar(&self) -> Option<Arc<dyn ProgressListener>> {
        None
    }
}

struct Fanout(Vec<Arc<dyn ProgressListener>>);

impl ProgressListener for Fanout {
    fn on_progress(&self, event: &ProgressEvent) {
        for listener in &self.0 {
            listener.on_progress(event);
        }
    }
}

/// Datapoints of one query (or one page of it), serialized, in query order (ascending id = time).
#[derive(Clone)]
pub struct Datapoints {
    type_url: String,
    values: Vec<Bytes>,
    dataset: Option<Dataset>,
    skip_data: bool,
}

/// One page of a query result (see `Collection::pages`).
pub type Page = Datapoints;

impl fmt::Debug for Datapoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Datapoints")
            .field("type_url", &self.type_url)
            .field("len", &self.values.len())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl Datapoints {
    /// Datapoints of `type_url` from their serialized `values`; `dataset` supplies the schema for dynamic
    /// decoding.
    pub fn new(type_url: impl Into<String>, values: Vec<Bytes>, dataset: Option<Dataset>) -> Self {
        Datapoints {
            type_url: type_url.into(),
            values,
            dataset,
            skip_data: false,
        }
    }

    /// Marks the datapoints as the result of a `skip_data` query (only `time`, `id` and `ingestion_time`
    /// were sent), which decides the columns of [`Datapoints::to_record_batch`].
    pub fn with_skip_data(mut self, skip_data: bool) -> Self {
        self.skip_data = skip_data;
        self
    }

    /// Whether these come from a `skip_data` query.
    pub fn is_skip_data(&self) -> bool {
        self.skip_data
    }

    /// The dataset type (full message name).
    pub fn type_url(&self) -> &str {
        if self.type_url.is_empty() {
            self.dataset.as_ref().map_or("", |d| d.type_url())
        } else {
            &self.type_url
        }
    }

    /// Number of datapoints.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The serialized datapoints, in order.
    pub fn values(&self) -> &[Bytes] {
        &self.values
    }

    /// Takes the serialized datapoints.
    pub fn into_values(self) -> Vec<Bytes> {
        self.values
    }

    /// Total serialized size in bytes.
    pub fn bytes(&self) -> u64 {
        self.values.iter().map(|v| v.len() as u64).sum()
    }

    /// The dataset the datapoints belong to.
    pub fn dataset(&self) -> Option<&Dataset> {
        self.dataset.as_ref()
    }

    /// The schema for dynamic decoding ([`Error::Decode`] if the dataset's schema cannot be loaded).
    pub fn schema(&self) -> Result<Schema> {
        match &self.dataset {
            Some(dataset) => dataset.schema(),
            None => Err(Error::decode(format!(
                "no schema known for {}",
                self.type_url
            ))),
        }
    }

    /// Decodes every datapoint into your own prost message type.
    pub fn decode_into<T: prost::Message + Default>(&self) -> Result<Vec<T>> {
        self.values.iter().map(|v| decode_typed::<T>(v)).collect()
    }

    /// Decodes every datapoint dynamically, driven by the dataset's schema.
    pub fn records(&self) -> Result<Vec<DynamicDatapoint>> {
        let schema = self.schema()?;
        self.values
            .iter()
            .map(|v| decode_dynamic(&schema, v))
            .collect()
    }

    /// Decodes every datapoint into one Arrow record batch: one column per field of the dataset's schema, in
    /// schema order (only `time`, `id` and `ingestion_time` for `skip_data` results). See [`crate::arrow`]
    /// for the column types. Decoding walks each datapoint's bytes once with a decoder compiled per dataset
    /// type; malformed bytes give [`Error::MalformedDatapoint`].
    #[cfg(feature = "arrow")]
    pub fn to_record_batch(&self) -> Result<arrow_array::RecordBatch> {
        let plan = self.schema()?.arrow_plan(self.skip_data)?;
        crate::arrow::decode_batch(&plan, &self.values)
    }

    /// The common fields (`id`, `time`, `ingestion_time`) of every datapoint (fast, schema-free).
    pub fn metas(&self) -> Result<Vec<DatapointMeta>> {
        self.values.iter().map(|v| decode_meta(v)).collect()
    }

    /// The ids of every datapoint.
    pub fn ids(&self) -> Result<Vec<Uuid>> {
        self.values
            .iter()
            .map(|v| decode_meta(v).map(|m| m.id))
            .collect()
    }

    /// The datapoint at `index`, if any (its [`Datapoint::id`] and [`Datapoint::geometry`] read the common
    /// fields).
    pub fn get(&self, index: usize) -> Option<Datapoint> {
        self.values
            .get(index)
            .map(|value| Datapoint::new(self.type_url(), value.clone(), self.dataset.clone()))
    }

    /// Every datapoint, in order (see [`Datapoints::get`]).
    pub fn iter(&self) -> impl Iterator<Item = Datapoint> + '_ {
        (0..self.values.len()).filter_map(|i| self.get(i))
    }

    /// Appends the datapoints of `other` (e.g. the next page).
    pub fn extend(&mut self, other: Datapoints) {
        if self.type_url.is_empty() {
            self.type_url = other.type_url;
        }
        self.values.extend(other.values);
    }
}

/// One datapoint (the result of `find`).
#[derive(Clone)]
pub struct Datapoint {
    type_url: String,
    value: Bytes,
    dataset: Option<Dataset>,
}

impl fmt::Debug for Datapoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Datapoint")
            .field("type_url", &self.type_url)
            .field("bytes", &self.value.len())
            .finish()
    }
}

impl Datapoint {
    /// A datapoint of `type_url` from its serialized `value`.
    pub fn new(type_url: impl Into<String>, value: Bytes, dataset: Option<Dataset>) -> Self {
        Datapoint {
            type_url: type_url.into(),
            value,
            dataset,
        }
    }

    /// The dataset type (full message name).
    pub fn type_url(&self) -> &str {
        &self.type_url
    }

    /// The serialized datapoint.
    pub fn value(&self) -> &Bytes {
        &self.value
    }

    /// Decodes into your own prost message type.
    pub fn decode_into<T: prost::Message + Default>(&self) -> Result<T> {
        decode_typed::<T>(&self.value)
    }

    /// Decodes dynamically, driven by the dataset's schema.
    pub fn record(&self) -> Result<DynamicDatapoint> {
        let schema = match &self.dataset {
            Some(dataset) => dataset.schema()?,
            None => {
                return Err(Error::decode(format!(
                    "no schema known for {}",
                    self.type_url
                )));
            }
        };
        decode_dynamic(&schema, &self.value)
    }

    /// The common fields.
    pub fn meta(&self) -> Result<DatapointMeta> {
        decode_meta(&self.value)
    }

    /// The datapoint id (schema-free, like [`Datapoint::meta`]).
    pub fn id(&self) -> Result<Uuid> {
        decode_meta(&self.value).map(|m| m.id)
    }

    /// The `geometry` field as a `geo_types` geometry: `Ok(None)` for a type without one or an unset geometry,
    /// [`Error::Decode`] for unreadable WKB.
    pub fn geometry(&self) -> Result<Option<geo_types::Geometry<f64>>> {
        self.record()?.geometry("geometry")
    }
}

/// Options of an ingest. Build with [`IngestOptions::new`].
#[derive(Clone, Default)]
pub struct IngestOptions {
    allow_existing: bool,
    show_progress: bool,
    progress: Option<Arc<dyn ProgressListener>>,
}

impl fmt::Debug for IngestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestOptions")
            .field("allow_existing", &self.allow_existing)
            .field("show_progress", &self.show_progress)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl IngestOptions {
    /// Defaults: existing datapoints are an error, no progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether datapoints that already exist are skipped (and counted) instead of failing the ingest.
    pub fn allow_existing(mut self, allow: bool) -> Self {
        self.allow_existing = allow;
        self
    }

    /// Show a progress bar (feature `progress-bar`).
    pub fn show_progress(mut self, show: bool) -> Self {
        self.show_progress = show;
        self
    }

    /// Report progress events to `listener`.
    pub fn progress(mut self, listener: Arc<dyn ProgressListener>) -> Self {
        self.progress = Some(listener);
        self
    }

    /// Whether existing datapoints are allowed.
    pub fn is_allow_existing(&self) -> bool {
        self.allow_existing
    }

    pub(crate) fn listener(&self) -> Option<Arc<dyn ProgressListener>> {
        QueryOptions {
            show_progress: self.show_progress,
            progress: self.progress.clone(),
            ..QueryOptions::new(TimeInterval::empty())
        }
        .listener()
    }
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestSummary {
    /// Datapoints newly stored.
    pub num_created: u64,
    /// Datapoints skipped because they already existed.
    pub num_existing: u64,
    /// The id of every ingested datapoint, in input order (existing ones included).
    pub datapoint_ids: Vec<Uuid>,
}
