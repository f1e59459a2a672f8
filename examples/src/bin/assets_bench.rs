//! Asset download benchmark (run by hand; figures in BENCHMARKS.md, section "Assets").
//!
//! ```text
//! cargo run --release -p tilebox-examples --bin assets_bench -- --files 200 --size-kib 1024 --runs 3
//! ```
//!
//! Starts the local server serving a directory of `--files` generated files at `/assets/`, with 0 ms and
//! 50 ms of emulated latency per request, and downloads all of them with checksum verification, one after
//! another (`concurrency(1)`) and concurrently (`concurrency(--concurrency)`), each run into a fresh
//! directory. Prints the medians as a Markdown table.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use tilebox::assets::AssetClient;
use tilebox::core::assets::{Asset, AssetLocation};
use tilebox::core::wire::datasets::stac::v1 as stac;
use tilebox_examples::BoxError;

/// Asset download benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Number of files.
    #[arg(long, default_value_t = 200)]
    files: usize,
    /// Size of each file in KiB.
    #[arg(long, default_value_t = 1024)]
    size_kib: usize,
    /// Emulated latencies in ms.
    #[arg(long, value_delimiter = ',', default_value = "0,50")]
    latency_ms: Vec<u64>,
    /// Runs per case (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Downloads in flight in the concurrent case.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

fn write_files(
    dir: &Path,
    files: usize,
    size: usize,
) -> Result<Vec<(String, stac::File)>, BoxError> {
    let mut out = Vec::with_capacity(files);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..files {
        let mut data = vec![0u8; size];
        for chunk in data.chunks_mut(8) {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let name = format!("bench/file_{i:04}.bin");
        let path = dir.join(&name);
        std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
        std::fs::write(&path, &data)?;
        out.push((
            name,
            stac::File {
                checksum: Some(tilebox_server::assets::sha256_multihash(&data)),
                size: Some(size as u64),
                local_path: None,
            },
        ));
    }
    Ok(out)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let served = tempfile::tempdir()?;
    let files = write_files(served.path(), args.files, args.size_kib * 1024)?;
    let total_mib = (args.files * args.size_kib) as f64 / 1024.0;
    println!(
        "| latency | sequential | concurrent ({}) | speed-up | MiB/s seq → conc |",
        args.concurrency
    );
    println!("|---:|---:|---:|---:|---:|");
    for latency in &args.latency_ms {
        let config = tilebox_server::ServerConfig::builder()
            .assets_dir(served.path())
            .latency(Duration::from_millis(*latency))
            .build();
        let server = tilebox_server::spawn_background(config)?;
        let client = tilebox::tokio::Client::builder()
            .url(server.url())
            .concurrency(args.concurrency.max(1))
            .build()?;
        let assets: Vec<Asset> = files
            .iter()
            .map(|(name, file)| Asset {
                file: Some(file.clone()),
                ..Asset::new(
                    name.clone(),
                    AssetLocation::new(format!("{}/assets/{name}", server.url())),
                )
            })
            .collect();
        let mut results = Vec::new();
        for concurrency in [1, args.concurrency] {
            let fetcher = AssetClient::for_client(client.core())
                .concurrency(concurrency)
                .build();
            let mut times = Vec::new();
            for _ in 0..args.runs {
                let out = tempfile::tempdir()?;
                let jobs = assets.iter().map(|a| (a.clone(), out.path().to_path_buf()));
                let started = Instant::now();
                let downloads = fetcher.download_many(jobs).await;
                times.push(started.elapsed());
                for d in downloads {
                    let d = d?;
                    if d.cached || !d.verified {
                        return Err("unexpected cache hit or unverified file".into());
                    }
                }
            }
            results.push(median(times));
        }
        let (seq, conc) = (results[0], results[1]);
        println!(
            "| {latency} ms | {:.3} s | {:.3} s | **{:.1}x** | {:.0} → {:.0} |",
            seq.as_secs_f64(),
            conc.as_secs_f64(),
            seq.as_secs_f64() / conc.as_secs_f64(),
            total_mib / seq.as_secs_f64(),
            total_mib / conc.as_secs_f64()
        );
    }
    println!(
        "\n{} files of {} KiB, sha2-256 verified, median of {} run(s), each into a fresh directory.",
        args.files, args.size_kib, args.runs
    );
    Ok(())
}
