//! Query to GeoParquet: loads the seed workload (the four Landsat-8 collections for 2020) concurrently
//! straight into Arrow record batches, with progress bars, and writes `DIR/<collection>.parquet` per
//! collection (GeoParquet: the `geometry` column is declared in the file's `geo` metadata).
//!
//! With no `TILEBOX_API_URL` set it starts the local server in-process with demo data; with
//! `TILEBOX_API_URL` / `TILEBOX_API_KEY` set it runs unchanged against that server.
//!
//! ```text
//! cargo run --release -p tilebox-examples --bin to_parquet -- --out /tmp/landsat
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use tilebox::core::QueryOptions;
use tilebox_examples::{Backend, BoxError, LANDSAT, YEAR_2020};

/// Load the Landsat-8 collections for 2020 and write one GeoParquet file per collection.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Directory to write `<collection>.parquet` into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Emulated network latency per request of the embedded server, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Maximum requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Hide the progress bars.
    #[arg(long)]
    no_progress: bool,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), BoxError> {
    let backend = Backend::from_env_or_embedded(Duration::from_millis(args.latency_ms))?;
    std::fs::create_dir_all(&args.out)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut builder = tilebox::tokio::Client::builder()
            .url(&backend.url)
            .concurrency(args.concurrency);
        if let Some(key) = &backend.api_key {
            builder = builder.api_key(key);
        }
        let client = builder.build()?;
        let client = client.core();
        let dataset = client.dataset(LANDSAT).await?;
        let collections = dataset.collections().await?;

        let started = Instant::now();
        let options = QueryOptions::new(YEAR_2020).show_progress(!args.no_progress);
        let results = client.load_collections_arrow(&collections, &options).await;
        let loaded = started.elapsed();
        println!(
            "Loaded {} collections into Arrow in {:.2} s",
            collections.len(),
            loaded.as_secs_f64()
        );

        let mut total_rows = 0;
        let mut total_bytes = 0;
        for (collection, result) in collections.iter().zip(results) {
            let batches = result?;
            let path = args.out.join(format!("{}.parquet", collection.name()));
            let written = Instant::now();
            let summary = batches.write_parquet(BufWriter::new(File::create(&path)?))?;
            let bytes = std::fs::metadata(&path)?.len();
            total_rows += summary.rows;
            total_bytes += bytes;
            println!(
                "{}: {} rows, {} columns, {} bytes in {} ({:.2} s to write)",
                collection.name(),
                summary.rows,
                summary.columns,
                bytes,
                path.display(),
                written.elapsed().as_secs_f64()
            );
        }
        println!(
            "Wrote {total_rows} rows, {total_bytes} bytes of GeoParquet in {:.2} s in total (load and write)",
            started.elapsed().as_secs_f64()
        );
        Ok::<_, BoxError>(())
    })
}
