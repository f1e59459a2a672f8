//! Downloads the data assets of the first N scenes of the asset demo dataset, concurrently, with progress
//! bars and checksum verification.
//!
//! ```text
//! cargo run -p tilebox-examples --bin download_assets -- --out scenes --scenes 5
//! ```
//!
//! Uses the local server started in-process (asset demo data) unless `TILEBOX_API_URL` is set. Run it twice:
//! the second run finds the verified files and downloads nothing.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use tilebox::assets::AssetClient;
use tilebox::core::QueryOptions;
use tilebox::core::assets::AssetCollection;
use tilebox_examples::BoxError;

/// Download the data assets of the first N scenes.
#[derive(Debug, Parser)]
struct Args {
    /// Directory to download into (one sub-directory per scene).
    #[arg(long, default_value = "scenes")]
    out: PathBuf,
    /// Number of scenes.
    #[arg(long, default_value_t = 5)]
    scenes: usize,
    /// Dataset slug.
    #[arg(long, default_value = tilebox_server::assets::DEMO_DATASET)]
    dataset: String,
    /// Collection name.
    #[arg(long, default_value = tilebox_server::assets::DEMO_COLLECTION)]
    collection: String,
    /// Time interval to query, `START/END`.
    #[arg(long, default_value = "2024-01-01/2025-01-01")]
    interval: String,
    /// Read from this alternate location when an asset has one (e.g. `file`, `s3`).
    #[arg(long)]
    alternate: Option<String>,
    /// Downloads in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Also download non-data assets (metadata, thumbnails, ...).
    #[arg(long)]
    all_roles: bool,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let mut embedded = None;
    let url = match std::env::var("TILEBOX_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(url) => url,
        None => {
            let config = tilebox_server::ServerConfig::builder()
                .asset_demo(true)
                .build();
            let server = tilebox_server::spawn_background(config)?;
            let url = server.url();
            eprintln!("Started the embedded local server at {url} with the asset demo dataset");
            embedded = Some(server);
            url
        }
    };
    let client = tilebox::tokio::Client::builder()
        .url(url)
        .concurrency(args.concurrency)
        .build()?;
    let (start, end) = args
        .interval
        .split_once('/')
        .ok_or("--interval must be START/END")?;
    let collection = client
        .core()
        .dataset(&args.dataset)
        .await?
        .collection(&args.collection)
        .await?;
    let datapoints = collection.query(&QueryOptions::new((start, end))).await?;
    let mut jobs = Vec::new();
    for (index, record) in datapoints
        .records()?
        .into_iter()
        .take(args.scenes)
        .enumerate()
    {
        let scene = record
            .get_str("granule_name")
            .or_else(|| record.id().map(|id| id.to_string()))
            .unwrap_or_else(|| format!("scene_{index}"));
        let assets = AssetCollection::from_datapoint(&record)?;
        for asset in assets {
            if args.all_roles || asset.has_role("data") {
                jobs.push((asset, args.out.join(&scene)));
            }
        }
    }
    let mut builder = AssetClient::for_client(client.core())
        .concurrency(args.concurrency)
        .progress_bar(true);
    if let Some(alternate) = &args.alternate {
        builder = builder.prefer_alternate(alternate.as_str());
    }
    let fetcher = builder.build();
    let started = Instant::now();
    let total = jobs.len();
    let results = fetcher.download_many(jobs).await;
    let elapsed = started.elapsed();
    let (mut bytes, mut cached, mut failed) = (0u64, 0usize, 0usize);
    for result in results {
        match result {
            Ok(download) => {
                bytes += download.bytes;
                cached += usize::from(download.cached);
                println!(
                    "{} {} ({} bytes{})",
                    if download.cached {
                        "cached "
                    } else {
                        "fetched"
                    },
                    download.path.display(),
                    download.bytes,
                    if download.verified { ", verified" } else { "" }
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("failed: {e}");
            }
        }
    }
    println!(
        "{total} assets of {} scenes: {} bytes, {cached} from the cache, {failed} failed, in {:.2} s",
        args.scenes.min(datapoints.len()),
        bytes,
        elapsed.as_secs_f64()
    );
    drop(embedded);
    if failed > 0 {
        return Err(format!("{failed} downloads failed").into());
    }
    Ok(())
}
