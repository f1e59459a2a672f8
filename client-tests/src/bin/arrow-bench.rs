//! The Arrow benchmark of issue 9 (run by hand, not a test):
//!
//! ```text
//! cargo run --release -p tilebox-client-tests --bin arrow-bench -- [--runs 5] [--markdown FILE]
//! ```
//!
//! On the seed workload (the four Landsat-8 collections for 2020, 111 593 datapoints) served by the local
//! server in-process (demo data):
//!
//! 1. **Decode rate on one core**: the workload is loaded once, then decoded on the main thread (one core)
//!    three ways — (a) `records()` (prost-reflect `DynamicMessage`s), (b) `decode_into::<LandsatPoint>()`
//!    (a prost struct), (c) `to_record_batch()` (the Arrow decoder, every field) — median of `--runs` runs.
//! 2. **End to end "query to a table"**: at 0 and 50 ms emulated latency, each client (tokio, async-std
//!    under smol, blocking) runs `load_collections_arrow` over the four collections (`parallel_pages(8)`,
//!    `concurrency(16)`) in a fresh child process and reports the time from the first request to the last
//!    record batch, the rows, and the process's peak RSS (`VmHWM`) next to the bytes on the wire.

use std::time::{Duration, Instant};

use tilebox_client_tests::bench::{flag, median, peak_rss_kib, run_case, status_kib};
use tilebox_client_tests::suite::tests::{LANDSAT, SEED, year_2020};
use tilebox_core::Datapoints;
use tilebox_server::demo::LandsatPoint; // the Landsat datapoint as a prost struct

const CLIENTS: [&str; 3] = ["tokio", "async-std", "blocking"];
const LATENCIES_MS: [u64; 2] = [0, 50];
/// Sub-intervals per collection.
const PARALLEL_PAGES: usize = 8;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--case") {
        child(&args[2..]);
        return;
    }
    let runs = flag(&args, "--runs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let mut out = String::new();
    let (rates, wire_bytes) = decode_rates(runs);
    out.push_str(&rates);
    out.push('\n');
    out.push_str(&end_to_end(runs.min(3), wire_bytes));
    println!("{out}");
    if let Some(path) = flag(&args, "--markdown") {
        std::fs::write(&path, &out).expect("write the markdown");
        eprintln!("written to {path}");
    }
}

/// Part 1: decode rates on the main thread.
/// Returns the table and the workload's serialized bytes (the datapoint bytes on the wire).
fn decode_rates(runs: usize) -> (String, u64) {
    let server = tilebox_server::spawn_background(
        tilebox_server::ServerConfig::builder().demo(true).build(),
    )
    .expect("the local server starts");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let data: Vec<Datapoints> = runtime.block_on(async {
        let client = tilebox_tokio::Client::builder()
            .url(server.url())
            .anonymous()
            .concurrency(CONCURRENCY)
            .build()
            .expect("client");
        let dataset = client.dataset(LANDSAT).await.expect("dataset");
        let mut collections = Vec::new();
        for (name, _) in SEED {
            collections.push(dataset.collection(name).await.expect("collection"));
        }
        let options = year_2020().parallel_pages(PARALLEL_PAGES);
        client
            .load_collections(&collections, &options)
            .await
            .into_iter()
            .map(|r| r.expect("load"))
            .collect()
    });
    drop(runtime);
    drop(server);
    let datapoints: usize = data.iter().map(Datapoints::len).sum();
    let bytes: u64 = data.iter().map(Datapoints::bytes).sum();
    // Warm the schema and plan caches (as any second query would find them).
    for d in &data {
        d.to_record_batch().expect("arrow");
    }
    let time = |f: &dyn Fn()| {
        let samples = (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .collect();
        median(samples)
    };
    let records = time(&|| {
        for d in &data {
            std::hint::black_box(d.records().expect("records"));
        }
    });
    let typed = time(&|| {
        for d in &data {
            std::hint::black_box(d.decode_into::<LandsatPoint>().expect("typed"));
        }
    });
    let arrow = time(&|| {
        for d in &data {
            std::hint::black_box(d.to_record_batch().expect("arrow"));
        }
    });
    let rate = |s: f64| datapoints as f64 / s;
    eprintln!(
        "decode: records {records:.3} s, decode_into {typed:.3} s, arrow {arrow:.3} s ({datapoints} datapoints)"
    );
    let mut out = String::new();
    out.push_str("| decoder (one core) | time | datapoints/s | MB/s | Arrow is faster by |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for (name, s) in [
        ("(a) `records()` (prost-reflect `DynamicMessage`)", records),
        ("(b) `decode_into::<LandsatPoint>()` (prost struct)", typed),
        ("(c) `to_record_batch()` (Arrow, every field)", arrow),
    ] {
        out.push_str(&format!(
            "| {name} | {:.1} ms | {:.0} | {:.0} | {:.1}x |\n",
            s * 1e3,
            rate(s),
            bytes as f64 / 1e6 / s,
            s / arrow
        ));
    }
    out.push_str(&format!(
        "\nWorkload: {datapoints} datapoints, {:.1} MB serialized; median of {runs} run(s), on the main thread.\n",
        bytes as f64 / 1e6
    ));
    (out, bytes)
}

/// One end-to-end case as a child reports it.
#[derive(Debug, Clone, Copy)]
struct Measurement {
    seconds: f64,
    rows: u64,
    arrow_bytes: u64,
    peak_rss_kib: u64,
    /// Resident set right before the load (runtime, client, opened collections).
    before_kib: u64,
}

/// Part 2: `load_collections_arrow` per client and latency, each run in a fresh child process.
fn end_to_end(runs: usize, wire_bytes: u64) -> String {
    let mut out = String::new();
    out.push_str(
        "| latency | client | load + Arrow (all fields) | rows | Arrow memory | peak RSS | RSS before the load | peak RSS / wire bytes | (peak - before) / wire bytes |\n",
    );
    out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for latency in LATENCIES_MS {
        let server = tilebox_server::spawn_background(
            tilebox_server::ServerConfig::builder()
                .demo(true)
                .latency(Duration::from_millis(latency))
                .build(),
        )
        .expect("the local server starts");
        for client in CLIENTS {
            let samples: Vec<Measurement> = (0..runs)
                .map(|_| run_child(client, &server.url()))
                .collect();
            let median_s = median(samples.iter().map(|m| m.seconds).collect());
            let m = samples
                .iter()
                .find(|m| m.seconds == median_s)
                .copied()
                .unwrap_or(samples[0]);
            eprintln!(
                "latency {latency:>2} ms {client:<10} {:.3} s, {} rows, peak RSS {:.1} MiB (runs: {:?})",
                m.seconds,
                m.rows,
                m.peak_rss_kib as f64 / 1024.0,
                samples.iter().map(|s| s.seconds).collect::<Vec<_>>()
            );
            let wire_kib = wire_bytes as f64 / 1024.0;
            out.push_str(&format!(
                "| {latency} ms | {client} | {:.3} s | {} | {:.1} MB | {:.1} MiB | {:.1} MiB | {:.2}x | {:.2}x |\n",
                m.seconds,
                m.rows,
                m.arrow_bytes as f64 / 1e6,
                m.peak_rss_kib as f64 / 1024.0,
                m.before_kib as f64 / 1024.0,
                m.peak_rss_kib as f64 / wire_kib,
                m.peak_rss_kib.saturating_sub(m.before_kib) as f64 / wire_kib,
            ));
        }
    }
    out.push_str(&format!(
        "\n`load_collections_arrow` over the 4 collections, `parallel_pages({PARALLEL_PAGES})`, \
         `concurrency({CONCURRENCY})`; median of {runs} run(s), each in a fresh process (the server lives in the \
         parent); timed from the first request to the last record batch (opening the dataset and collections \
         happens before).\n"
    ));
    out
}

fn run_child(client: &str, url: &str) -> Measurement {
    let f = run_case(&[client, url]);
    Measurement {
        seconds: f[0].parse().expect("seconds"),
        rows: f[1].parse().expect("rows"),
        arrow_bytes: f[2].parse().expect("bytes"),
        peak_rss_kib: f[3].parse().expect("rss"),
        before_kib: f[4].parse().expect("rss before"),
    }
}

fn child(args: &[String]) {
    let (client, url) = (args[0].as_str(), args[1].clone());
    let options = year_2020()
        .parallel_pages(PARALLEL_PAGES)
        .concurrency(CONCURRENCY);
    let (seconds, tables) = match client {
        "tokio" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let client = tilebox_tokio::Client::builder()
                    .url(url)
                    .anonymous()
                    .concurrency(CONCURRENCY)
                    .build()
                    .expect("client");
                let collections = open_async(client.core()).await;
                let start = mark_start();
                let tables = client.load_collections_arrow(&collections, &options).await;
                (start.elapsed().as_secs_f64(), tables)
            })
        }
        "async-std" => smol::block_on(async {
            let client: tilebox_core::Client = tilebox_async_std::Client::builder()
                .url(url)
                .anonymous()
                .concurrency(CONCURRENCY)
                .build()
                .expect("client")
                .into();
            let collections = open_async(&client).await;
            let start = mark_start();
            let tables = client.load_collections_arrow(&collections, &options).await;
            (start.elapsed().as_secs_f64(), tables)
        }),
        "blocking" => {
            let client = tilebox_blocking::Client::builder()
                .url(url)
                .anonymous()
                .concurrency(CONCURRENCY)
                .build()
                .expect("client");
            let dataset = client.dataset(LANDSAT).expect("dataset");
            let collections: Vec<_> = SEED
                .iter()
                .map(|(name, _)| dataset.collection(name).expect("collection"))
                .collect();
            let start = mark_start();
            let tables = client.load_collections_arrow(&collections, &options);
            (start.elapsed().as_secs_f64(), tables)
        }
        other => panic!("unknown client {other}"),
    };
    let mut rows = 0u64;
    let mut bytes = 0u64;
    for ((name, count), table) in SEED.iter().zip(&tables) {
        let table = table.as_ref().expect("load succeeds");
        assert_eq!(table.num_rows(), *count, "{name}");
        rows += table.num_rows() as u64;
        bytes += table
            .batches()
            .iter()
            .map(|b| b.get_array_memory_size() as u64)
            .sum::<u64>();
    }
    let peak = peak_rss_kib();
    let before = BEFORE_KIB.load(std::sync::atomic::Ordering::Relaxed);
    drop(tables);
    println!("RESULT {seconds} {rows} {bytes} {peak} {before}");
}

async fn open_async(client: &tilebox_core::Client) -> Vec<tilebox_core::Collection> {
    let dataset = client.dataset(LANDSAT).await.expect("dataset");
    let mut collections = Vec::new();
    for (name, _) in SEED {
        collections.push(dataset.collection(name).await.expect("collection"));
    }
    collections
}

/// Resident set before the load, recorded by [`mark_start`].
static BEFORE_KIB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Records the resident set and starts the clock, right before the load.
fn mark_start() -> Instant {
    BEFORE_KIB.store(status_kib("VmRSS:"), std::sync::atomic::Ordering::Relaxed);
    Instant::now()
}
