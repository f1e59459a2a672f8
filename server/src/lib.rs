//! `tilebox-server`: a local, Tilebox-compatible server for offline use, CI and examples.
//!
//! One port speaks Connect unary (HTTP/1.1 and h2c, or HTTPS with ALPN h2/http/1.1 when given a certificate; `application/proto` and `application/json`, gzip) and
//! gRPC (h2c), for the datasets and workflows services of the Tilebox API. Data lives in SQLite (a file, or a throw-away temporary file)
//! or PostgreSQL (shareable by several server processes), behind the [`Store`] trait; deterministic demo data can be seeded on first start.
//!
//! ```no_run
//! # async fn run() -> Result<(), tilebox_server::ServerError> {
//! let config = tilebox_server::ServerConfig::builder().demo(true).build();
//! let handle = tilebox_server::serve(config).await?;
//! println!("{}", handle.url());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Adding services: implement handlers as `async fn(RpcContext, Req) -> Result<Resp, Status>` and register
//! them in [`server::build_registry`] with [`ServiceRegistry::unary`]; handlers reach storage through
//! [`RpcContext::state`] (`state.store` is the datasets store, `state.workflows` the workflows store).

pub mod assets;
pub mod config;
mod connections;
pub mod datapoint;
pub mod datasets;
pub mod demo;
pub mod geometry;
pub mod protocol;
pub mod registry;
pub mod schema;
mod scratch;
pub mod server;
pub mod state;
pub mod status;
pub mod store;
mod tls;
pub mod workflows;

pub use config::{
    Database, ServerConfig, ServerConfigBuilder, WorkflowsConfig, WorkflowsConfigBuilder,
};
pub use registry::{RpcContext, ServiceRegistry};
pub use server::{BackgroundServer, ServerError, ServerHandle, serve, spawn_background};
pub use state::ServerState;
pub use status::{Code, Status};
pub use store::{DatasetsStore, Store, StoreError};
pub use tls::TlsIdentity;
