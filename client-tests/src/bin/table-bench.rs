//! End-to-end "query to a table" benchmark (run by hand, see `bench/query_to_table.py` and BENCHMARKS.md):
//! the four Landsat-8 collections for 2020 loaded concurrently straight into Arrow record batches (all
//! fields), optionally written to GeoParquet files, against the server at `TILEBOX_API_URL`.
//!
//! ```text
//! TILEBOX_API_URL=http://127.0.0.1:PORT table-bench [--parquet DIR] [--concurrency N]
//! ```
//!
//! Prints the lines of the documented example ("There are N datapoints in X for 2020.", "Fetching data took
//! X seconds" for the load into Arrow), then the bytes received, the Parquet time when asked, and the
//! process's peak resident memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tilebox_core::{ProgressEvent, QueryOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const LANDSAT: &str = "open_data.copernicus.landsat8_oli_tirs";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.windows(2)
        .find(|w| w[0] == format!("--{name}"))
        .map(|w| w[1].clone())
}

/// Peak resident set size of this process in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = std::env::var("TILEBOX_API_URL").map_err(|_| "set TILEBOX_API_URL")?;
    let concurrency: usize = flag(&args, "concurrency").map_or(Ok(16), |c| c.parse())?;
    let parquet_dir = flag(&args, "parquet");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = tilebox_tokio::Client::builder()
            .url(&url)
            .concurrency(concurrency)
            .build()?;
        let client = client.core();
        let collections = client.dataset(LANDSAT).await?.collections().await?;

        let received: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let listener = {
            let received = received.clone();
            move |event: &ProgressEvent| {
                if let Ok(mut map) = received.lock() {
                    map.insert(event.label.clone(), event.bytes);
                }
            }
        };
        let options = QueryOptions::new(("2020-01-01", "2021-01-01")).progress(Arc::new(listener));

        let started = Instant::now();
        let results = client.load_collections_arrow(&collections, &options).await;
        let loaded = started.elapsed();
        let mut tables = Vec::new();
        for (collection, result) in collections.iter().zip(results) {
            let batches = result?;
            println!(
                "There are {} datapoints in {} for 2020.",
                batches.num_rows(),
                collection.name()
            );
            tables.push((collection.name().to_owned(), batches));
        }
        println!("Fetching data took {:.3} seconds", loaded.as_secs_f64());
        let columns = tables.first().map_or(0, |(_, b)| b.schema().fields().len());
        let wire: u64 = received.lock().map(|m| m.values().sum()).unwrap_or(0);
        println!("columns: {columns}");
        println!("datapoint bytes received: {wire}");

        if let Some(dir) = parquet_dir {
            std::fs::create_dir_all(&dir)?;
            let write_started = Instant::now();
            let mut bytes = 0;
            for (name, batches) in &tables {
                let path = std::path::Path::new(&dir).join(format!("{name}.parquet"));
                batches.write_parquet(BufWriter::new(File::create(&path)?))?;
                bytes += std::fs::metadata(&path)?.len();
            }
            let written = write_started.elapsed();
            println!(
                "Parquet: wrote {bytes} bytes in {:.3} s; query to Parquet took {:.3} seconds",
                written.as_secs_f64(),
                (loaded + written).as_secs_f64()
            );
        }
        if let Some(peak) = peak_rss_mib() {
            println!("peak RSS: {peak:.1} MiB");
        }
        Ok::<_, BoxError>(())
    })
}
