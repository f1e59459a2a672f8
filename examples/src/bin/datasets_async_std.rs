//! The documented datasets calls on the async-std client (the same code runs under smol with `smol::block_on`): the dataset tree, collections, `info()`, a query with a
//! progress bar and `find()` (Sentinel-1 `S1A_IW_RAW__0S`, May 2022). Uses the embedded local server unless
//! `TILEBOX_API_URL` is set.

use std::time::Duration;

use tilebox::core::QueryOptions;
use tilebox_examples::{Backend, BoxError};

#[async_std::main]
async fn main() -> Result<(), BoxError> {
    let backend = Backend::from_env_or_embedded(Duration::ZERO)?;
    let mut builder = tilebox::async_std::Client::builder().url(&backend.url);
    if let Some(key) = &backend.api_key {
        builder = builder.api_key(key);
    }
    let client = builder.build()?;

    let tree = client.datasets().await?;
    println!("{tree}");
    let sentinel1 = client.dataset("open_data.copernicus.sentinel1_sar").await?;
    for collection in sentinel1.collections().await? {
        println!("{}", collection.info());
    }
    let raw = sentinel1.collection("S1A_IW_RAW__0S").await?;
    let may = raw
        .query(&QueryOptions::new(("2022-05-01", "2022-06-01")).show_progress(true))
        .await?;
    println!("{} datapoints in May 2022", may.len());

    if let Some(first) = may.records()?.first() {
        let id = first.id().ok_or("datapoint without id")?;
        let found = raw.find(id, false).await?.record()?;
        println!(
            "find({id}) -> time {:?}, {} fields",
            found.time(),
            found.fields().len()
        );
    }
    Ok(())
}
