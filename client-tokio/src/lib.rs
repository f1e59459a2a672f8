//! `tilebox-tokio`: the Tilebox client for tokio programs.
//!
//! A thin adapter over `tilebox-core`: [`ReqwestTransport`] sends the core's HTTP requests with a pooled
//! reqwest client (rustls with ring, HTTP/1.1 and HTTP/2) and [`TokioSleep`] waits between retries;
//! [`Client`] wires them to the core's client. Paging, retries, decoding, concurrent loading and progress
//! bars (feature `progress`, on by default) all live in the core; its types are re-exported here. Feature
//! `arrow`: results as Arrow record batches (`load_collections_arrow`, `query_arrow`, `pages_arrow`), pages
//! decoded on tokio's blocking threads while the load goes on.
//!
//! Pooled connections are driven by the tokio runtime that opened them: use a client (and its clones) within
//! one long-lived multi-thread runtime. A client shared between a current-thread runtime's `block_on` calls and
//! other runtimes can pick up a connection that nothing drives any more; build one client per runtime instead.
//!
//! ```no_run
//! # async fn run() -> tilebox_tokio::Result<()> {
//! use tilebox_tokio::{Client, QueryOptions};
//! let client = Client::new()?;
//! let dataset = client.dataset("open_data.copernicus.landsat8_oli_tirs").await?;
//! let collection = dataset.collection("L1GT").await?;
//! let data = collection.query(&QueryOptions::new(("2020-01-01", "2021-01-01")).show_progress(true)).await?;
//! println!("{} datapoints", data.len());
//! # Ok(()) }
//! ```

mod client;
#[cfg(feature = "arrow")]
mod offload;
mod sleep;
mod transport;

pub use client::{Client, ClientBuilder, Tokio};
pub use sleep::TokioSleep;
pub use transport::{ReqwestTransport, ReqwestTransportBuilder};

pub use tilebox_core;
pub use tilebox_core::{
    AsyncSleep, ClientConfig, Code, Collection, CollectionInfo, CollectionQuota, Datapoint,
    DatapointInterval, DatapointMeta, Datapoints, Dataset, DatasetGroup, DatasetKind,
    DatasetPermission, DatasetSpec, DatasetTree, DynamicDatapoint, Error, Extent, FieldSpec,
    FieldType, Filter, IngestOptions, IngestSummary, Page, ProgressEvent, ProgressListener,
    QueryOptions, Result, RetryPolicy, Schema, SpatialExtent, TimeInterval, Transport,
    TransportError, Visibility, field,
};
