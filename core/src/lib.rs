//! `tilebox-core`: the sans-IO heart of the Tilebox Rust SDK.
//!
//! It holds everything that does not depend on how bytes move: the wire messages ([`wire`]), the Connect
//! unary codec, typed RPC calls, the domain model, datapoint decoding, paging/progress/split planning,
//! retries, and the concurrent loading logic. It performs no I/O and starts no runtime or thread of its own
//! (its [`threads::ThreadPool`] is the one thread pool the blocking adapter and the workflows runner share):
//! the runtime adapters (`tilebox-tokio`, `tilebox-async-std`, `tilebox-blocking`) supply a [`Transport`]
//! and an [`AsyncSleep`], and the core drives them.

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod assets;
pub mod builder;
pub mod client;
pub mod config;
pub mod connect;
pub mod datapoint;
pub mod error;
pub mod executor;
pub mod filter;
pub mod load;
pub mod model;
pub mod paging;
pub mod progress;
#[cfg(feature = "progress-bar")]
pub mod progress_bar;
pub mod query;
pub mod replay;
pub mod retry;
pub mod rpc;
pub mod split;
pub mod threads;
pub mod time;
pub mod transport;
pub mod wire;

pub use builder::{AdapterClient, ClientBuilder, Runtime, TransportSettings};
pub use client::Client;
pub use config::{ClientConfig, ClientConfigBuilder, ResponseCompression};
pub use datapoint::{
    DatapointMeta, DynamicDatapoint, Schema, decode_dynamic, decode_meta, decode_typed,
};
pub use error::{Code, Error, Result};
pub use executor::block_on;
pub use filter::{Filter, field};
pub use model::{
    Collection, CollectionInfo, CollectionQuota, Dataset, DatasetGroup, DatasetKind,
    DatasetPermission, DatasetSpec, DatasetTree, FieldSpec, FieldType, Visibility,
};
pub use progress::{ProgressEvent, ProgressListener};
pub use prost_reflect;
pub use query::{
    Datapoint, Datapoints, Extent, IngestOptions, IngestSummary, IntoExtent, Page, QueryOptions,
    SpatialExtent,
};
pub use retry::{Idempotency, RetryHook, RetryPolicy, RetryPolicyBuilder, RetryWait};
pub use rpc::RpcClient;
pub use time::{DatapointInterval, IntoDatapointId, IntoInstant, IntoTimeInterval, TimeInterval};
pub use transport::{
    AsyncSleep, BodyCollector, BoxFuture, HttpRequest, HttpResponse, Offload, OffloadJob,
    Transport, TransportError,
};
#[cfg(feature = "arrow")]
pub use {arrow_array, arrow_schema};
