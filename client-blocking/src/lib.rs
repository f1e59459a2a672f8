//! `tilebox-blocking`: the Tilebox client for synchronous programs.
//!
//! A thin adapter over `tilebox-core`: [`UreqTransport`] sends the core's HTTP requests with a pooled ureq
//! agent, running each blocking call on a bounded set of I/O threads so the core's concurrent loading gets
//! real parallelism; [`ThreadSleep`] waits between retries on a timer thread; [`Client`], [`Dataset`],
//! [`Collection`] and [`DatasetTree`] wrap the core's async API in plain functions (and [`Pages`], an
//! iterator of result pages). No async runtime is involved, so it also works when called from inside one
//! (e.g. a tokio task; it then blocks that thread like any blocking call). Progress bars: feature `progress`
//! (on by default). Feature `arrow`: results as Arrow record batches ([`Client::load_collections_arrow`],
//! `Collection::query_arrow`, `Collection::pages_arrow`), pages decoded on worker threads while the load goes
//! on.
//!
//! ```no_run
//! # fn run() -> tilebox_blocking::Result<()> {
//! use tilebox_blocking::{Client, QueryOptions};
//! let client = Client::new()?;
//! let dataset = client.dataset("open_data.copernicus.landsat8_oli_tirs")?;
//! let collections = dataset.collections()?;
//! let options = QueryOptions::new(("2020-01-01", "2021-01-01")).parallel_pages(4).show_progress(true);
//! for (collection, result) in collections.iter().zip(client.load_collections(&collections, &options)) {
//!     println!("{}: {} datapoints", collection.name(), result?.len());
//! }
//! # Ok(()) }
//! ```

mod block_on;
mod client;
mod coalesce;
mod model;
#[cfg(feature = "arrow")]
mod offload;
mod sleep;
mod transport;

pub use client::{Blocking, Client, ClientBuilder};
#[cfg(feature = "arrow")]
pub use model::ArrowPages;
pub use model::{Collection, Dataset, DatasetTree, Pages};
pub use sleep::ThreadSleep;
pub use transport::{UreqTransport, UreqTransportBuilder};

pub use tilebox_core;
pub use tilebox_core::{
    AsyncSleep, ClientConfig, Code, CollectionInfo, CollectionQuota, Datapoint, DatapointInterval,
    DatapointMeta, Datapoints, DatasetGroup, DatasetKind, DatasetPermission, DatasetSpec,
    DynamicDatapoint, Error, Extent, FieldSpec, FieldType, Filter, IngestOptions, IngestSummary,
    Page, ProgressEvent, ProgressListener, QueryOptions, Result, RetryPolicy, Schema,
    SpatialExtent, TimeInterval, Transport, TransportError, Visibility, field,
};
