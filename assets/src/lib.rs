//! `tilebox-assets`: fetch the STAC assets of Tilebox datapoints.
//!
//! The asset model (resolving a datapoint's `Assets`/`Storage`/`Authentication` fields into typed
//! [`Asset`](tilebox_core::assets::Asset)s) is sans-IO and lives in [`tilebox_core::assets`]; this crate
//! moves the bytes. An [`AssetClient`] picks an [`object_store`] store per location — S3 (region, custom
//! endpoint, requester-pays), Google Cloud Storage, Azure, HTTP(S) or local files — from the href's
//! scheme and the location's STAC storage scheme, with credentials from the environment and anonymous
//! access to public buckets ([`Credentials`]). It reads whole objects or byte ranges, and downloads many
//! assets concurrently into files with progress, atomic writes, `file:checksum`/`file:size` verification
//! and a cache of verified files.
//!
//! **Runtimes.** object_store's stores are used with their `*-base` features and an HTTP connector over
//! the SDK's own [`Transport`](tilebox_core::Transport): requests travel through the adapter the program
//! already uses (reqwest on tokio, hyper on async-io for async-std/smol, ureq threads for blocking code),
//! TLS is rustls with ring, and no tokio runtime is started. object_store's built-in retries are turned
//! off (they sleep on tokio); this crate retries with the adapter's sleep instead. Local files are read
//! with blocking `std::fs` calls inline, as object_store does outside tokio. Blocking programs drive the
//! async API with any executor, e.g. `futures::executor::block_on`, over the blocking adapter's transport.
//!
//! ```no_run
//! # async fn run(client: tilebox_core::Client, datapoint: tilebox_core::DynamicDatapoint) -> Result<(), Box<dyn std::error::Error>> {
//! use tilebox_core::assets::AssetCollection;
//! use tilebox_assets::AssetClient;
//!
//! let assets = AssetCollection::from_datapoint(&datapoint)?;
//! let fetcher = AssetClient::for_client(&client).progress_bar(true).build();
//! let jobs = assets.with_role("data").map(|a| (a.clone(), "scenes".into()));
//! for result in fetcher.download_many(jobs).await {
//!     println!("{}", result?.path.display());
//! }
//! # Ok(()) }
//! ```

mod checksum;
mod client;
mod error;
mod http;
mod progress;
mod store;

pub use client::{
    AssetClient, AssetClientBuilder, DEFAULT_ATTEMPTS, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE,
    Download, file_name,
};
pub use error::FetchError;
pub use object_store;
pub use progress::Progress;
pub use store::Credentials;

/// A store for an object-store URL (`s3://bucket/prefix`, `gs://…`, `az://…`, `file:///dir`,
/// `http(s)://…`) sending through `transport`, and the path the URL points at inside it. Used by job
/// caches and anyone who wants a raw [`object_store::ObjectStore`] configured the way this crate does.
pub fn store_for_url(
    url: &str,
    transport: std::sync::Arc<dyn tilebox_core::Transport>,
    credentials: Credentials,
) -> Result<
    (
        std::sync::Arc<dyn object_store::ObjectStore>,
        object_store::path::Path,
    ),
    FetchError,
> {
    store::Stores::new(transport, credentials)
        .resolve(&tilebox_core::assets::AssetLocation::new(url))
}
