//! The documented datasets calls on the tokio client: the dataset tree, collections, `info()`, a query with a
//! progress bar and `find()` (Sentinel-1 `S1A_IW_RAW__0S`, May 2022). Uses the embedded local server unless
//! `TILEBOX_API_URL` is set.

use std::time::Duration;

use tilebox_examples::{Backend, BoxError};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let backend = Backend::from_env_or_embedded(Duration::ZERO)?;
    let mut builder = tilebox::tokio::Client::builder().url(&backend.url);
    if let Some(key) = &backend.api_key {
        builder = builder.api_key(key);
    }
    let client = builder.build()?;
    tilebox_examples::documented_calls(&client).await
}
