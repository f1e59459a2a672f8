//! `tilebox-async-std`: the Tilebox client for async-std and smol programs.
//!
//! A thin adapter over `tilebox-core`: [`HyperTransport`] sends the core's HTTP requests with hyper 1 over
//! async-net sockets (HTTP/2 by ALPN or h2c prior knowledge, else a keep-alive HTTP/1.1 pool; TLS via
//! futures-rustls with ring) and [`AsyncIoSleep`] waits between retries on async-io's timer; [`Client`]
//! wires them to the core's client. It needs no executor of yours and never starts a tokio runtime (HTTP/2
//! connection tasks run on `async-global-executor`, the executor async-std itself uses). Paging, retries, decoding, concurrent loading and progress bars
//! (feature `progress`, on by default) all live in the core; its types are re-exported here. Feature `arrow`:
//! results as Arrow record batches (`load_collections_arrow`, `query_arrow`, `pages_arrow`), pages decoded on
//! the `blocking` thread pool while the load goes on.
//!
//! ```no_run
//! # async fn run() -> tilebox_async_std::Result<()> {
//! use tilebox_async_std::{Client, QueryOptions};
//! let client = Client::new()?;
//! let dataset = client.dataset("open_data.copernicus.landsat8_oli_tirs").await?;
//! let collections = dataset.collections().await?;
//! let options = QueryOptions::new(("2020-01-01", "2021-01-01")).parallel_pages(4);
//! for (collection, result) in collections.iter().zip(client.load_collections(&collections, &options).await) {
//!     println!("{}: {} datapoints", collection.name(), result?.len());
//! }
//! # Ok(()) }
//! ```

mod client;
mod h2;
mod io;
#[cfg(feature = "arrow")]
mod offload;
mod pool;
mod sleep;
mod stream;
mod transport;

pub use client::{AsyncIo, Client, ClientBuilder};
pub use sleep::AsyncIoSleep;
pub use transport::{HyperTransport, HyperTransportBuilder};

pub use tilebox_core;
pub use tilebox_core::{
    AsyncSleep, ClientConfig, Code, Collection, CollectionInfo, CollectionQuota, Datapoint,
    DatapointInterval, DatapointMeta, Datapoints, Dataset, DatasetGroup, DatasetKind,
    DatasetPermission, DatasetSpec, DatasetTree, DynamicDatapoint, Error, Extent, FieldSpec,
    FieldType, Filter, IngestOptions, IngestSummary, Page, ProgressEvent, ProgressListener,
    QueryOptions, Result, RetryPolicy, Schema, SpatialExtent, TimeInterval, Transport,
    TransportError, Visibility, field,
};
