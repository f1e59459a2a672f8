//! The Rust counterpart of the documented Python example "fetching data concurrently".
//!
//! Lists datasets, opens `open_data.copernicus.landsat8_oli_tirs`, lists its collections and loads each of
//! them for 2020: first one after another, then all at once (with parallel paging), printing the number of
//! datapoints per collection, the time of each approach and the speed-up.
//!
//! With no `TILEBOX_API_URL` set it starts the local server in-process with demo data and an emulated
//! network latency (`--latency-ms`), so the comparison means something on loopback; with
//! `TILEBOX_API_URL` / `TILEBOX_API_KEY` set it runs unchanged against that server.
//!
//! ```text
//! cargo run --release -p tilebox-examples --bin concurrent_loading -- --adapter tokio
//! ```

use std::time::Duration;

use clap::{Parser, ValueEnum};
use tilebox_examples::{Backend, BoxError, LoadSettings};

/// Which client adapter (and executor) runs the example.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Adapter {
    /// `tilebox-tokio` on a tokio multi-thread runtime.
    Tokio,
    /// `tilebox-async-std` on async-std's executor.
    AsyncStd,
    /// `tilebox-async-std` on smol's executor.
    Smol,
    /// `tilebox-blocking`: plain threads, no async runtime.
    Blocking,
}

/// Load the Landsat-8 collections for 2020, sequentially and concurrently.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Client adapter to use.
    #[arg(long, value_enum, default_value = "tokio")]
    adapter: Adapter,
    /// Emulated network latency per request of the embedded server, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Sub-intervals per collection loaded in parallel in the concurrent approach (default: the SDK's
    /// automatic plan, sharing the requests in flight out by each collection's estimated size).
    #[arg(long)]
    parallel_pages: Option<usize>,
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
    let settings = LoadSettings {
        parallel_pages: args.parallel_pages.map(|parts| parts.max(1)),
        progress: !args.no_progress,
    };
    eprintln!("Adapter: {:?}", args.adapter);
    match args.adapter {
        Adapter::Tokio => {
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
                tilebox_examples::run_async(builder.build()?.core(), &settings).await
            })
        }
        Adapter::AsyncStd => async_std::task::block_on(async {
            let client = async_std_client(&backend, args.concurrency)?;
            tilebox_examples::run_async(&client, &settings).await
        }),
        Adapter::Smol => smol::block_on(async {
            let client = async_std_client(&backend, args.concurrency)?;
            tilebox_examples::run_async(&client, &settings).await
        }),
        Adapter::Blocking => {
            let mut builder = tilebox::blocking::Client::builder()
                .url(&backend.url)
                .concurrency(args.concurrency);
            if let Some(key) = &backend.api_key {
                builder = builder.api_key(key);
            }
            tilebox_examples::run_blocking(&builder.build()?, &settings)
        }
    }
}

fn async_std_client(
    backend: &Backend,
    concurrency: usize,
) -> Result<tilebox::core::Client, BoxError> {
    let mut builder = tilebox::async_std::Client::builder()
        .url(&backend.url)
        .concurrency(concurrency);
    if let Some(key) = &backend.api_key {
        builder = builder.api_key(key);
    }
    Ok(builder.build()?.into())
}
