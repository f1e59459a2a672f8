//! The issue-4 client benchmark (run by hand, not a test):
//!
//! ```text
//! cargo run --release -p tilebox-client-tests --bin client-bench -- [--runs 3] [--markdown FILE] \
//!     [--parallel-pages N (default: automatic)] [--concurrency 16]
//! ```
//!
//! For emulated server latencies of 0 and 50 ms it starts the local server in-process (demo data) and, for
//! each client (tokio; the async-std adapter on async-std and on smol; blocking), loads the seed workload — the four Landsat
//! collections for 2020, 111 593 datapoints — two ways:
//!
//! - **sequential**: one collection after another, pages one by one (`parallel_pages(1)`, `concurrency(1)`);
//! - **concurrent**: `load_collections` over all four, with parallel paging (the automatic split plan or
//!   `parallel_pages(P)`, and `concurrency(C)`).
//!
//! Each case runs in a fresh child process (so its peak memory, `VmHWM`, is the client's alone: the server
//! lives in the parent) and the median of `--runs` runs is reported. Only the load is timed; opening the
//! dataset and its collections happens before.

use std::time::{Duration, Instant};

use tilebox_client_tests::bench::{flag, peak_rss_kib, run_case};
use tilebox_client_tests::suite::adapters::{AsyncStdApi, BlockingApi, SmolApi, TokioApi};
use tilebox_client_tests::suite::api::{Api, Setup};
use tilebox_client_tests::suite::tests::{LANDSAT, SEED, year_2020};

const CLIENTS: [&str; 4] = ["tokio", "async-std", "smol", "blocking"];
const MODES: [&str; 2] = ["sequential", "concurrent"];
const LATENCIES_MS: [u64; 2] = [0, 50];
/// Sub-intervals per collection when loading concurrently (default of `--parallel-pages`; 0: the SDK's
/// automatic plan).
const PARALLEL_PAGES: usize = 0;
/// Requests in flight at once when loading concurrently (default of `--concurrency`).
const CONCURRENCY: usize = 16;

/// The concurrent load's settings.
#[derive(Debug, Clone, Copy)]
struct Settings {
    parallel_pages: usize,
    concurrency: usize,
}

/// One measured case, as a child reports it.
#[derive(Debug, Clone, Copy)]
struct Measurement {
    seconds: f64,
    datapoints: u64,
    bytes: u64,
    peak_rss_kib: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--case") {
        child(&args[2..]);
        return;
    }
    let runs = flag(&args, "--runs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize)
        .max(1);
    let markdown = flag(&args, "--markdown");
    let settings = Settings {
        parallel_pages: flag(&args, "--parallel-pages")
            .and_then(|v| v.parse().ok())
            .unwrap_or(PARALLEL_PAGES),
        concurrency: flag(&args, "--concurrency")
            .and_then(|v| v.parse().ok())
            .unwrap_or(CONCURRENCY),
    };
    let mut rows = Vec::new();
    for latency in LATENCIES_MS {
        let config = tilebox_server::ServerConfig::builder()
            .demo(true)
            .latency(Duration::from_millis(latency))
            .build();
        let server = tilebox_server::spawn_background(config).expect("the local server starts");
        for client in CLIENTS {
            let mut medians = Vec::new();
            for mode in MODES {
                let mut samples: Vec<Measurement> = (0..runs)
                    .map(|_| run_child(client, mode, &server.url(), settings))
                    .collect();
                samples.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
                let median = samples[samples.len() / 2];
                eprintln!(
                    "latency {latency:>2} ms  {client:<10} {mode:<10} {:>7.3} s  {:>6} datapoints  peak RSS {:>6.1} MiB  (runs: {})",
                    median.seconds,
                    median.datapoints,
                    median.peak_rss_kib as f64 / 1024.0,
                    samples
                        .iter()
                        .map(|s| format!("{:.3}", s.seconds))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                medians.push(median);
            }
            rows.push((latency, client, medians[0], medians[1]));
        }
        drop(server);
    }
    let table = render(&rows, runs, settings);
    println!("{table}");
    if let Some(path) = markdown {
        std::fs::write(&path, &table).expect("write the markdown table");
        eprintln!("table written to {path}");
    }
}

fn run_child(client: &str, mode: &str, url: &str, settings: Settings) -> Measurement {
    let parallel_pages = settings.parallel_pages.to_string();
    let concurrency = settings.concurrency.to_string();
    let fields = run_case(&[client, mode, url, &parallel_pages, &concurrency]);
    Measurement {
        seconds: fields[0].parse().expect("seconds"),
        datapoints: fields[1].parse().expect("datapoints"),
        bytes: fields[2].parse().expect("bytes"),
        peak_rss_kib: fields[3].parse().expect("peak rss"),
    }
}

/// The child: load the workload once with one client and mode, print `RESULT secs datapoints bytes kib`.
fn child(args: &[String]) {
    let (client, mode, url) = (args[0].as_str(), args[1].as_str(), args[2].clone());
    let settings = Settings {
        parallel_pages: args[3].parse().expect("parallel pages"),
        concurrency: args[4].parse().expect("concurrency"),
    };
    let concurrent = mode == "concurrent";
    let measurement = match client {
        "tokio" => measure::<TokioApi>(url, concurrent, settings),
        "async-std" => measure::<AsyncStdApi>(url, concurrent, settings),
        "smol" => measure::<SmolApi>(url, concurrent, settings),
        "blocking" => measure::<BlockingApi>(url, concurrent, settings),
        other => panic!("unknown client {other}"),
    };
    println!(
        "RESULT {} {} {} {}",
        measurement.seconds, measurement.datapoints, measurement.bytes, measurement.peak_rss_kib
    );
}

fn measure<A: Api>(url: String, concurrent: bool, settings: Settings) -> Measurement {
    let api =
        A::build(Setup::new(url).concurrency(if concurrent { settings.concurrency } else { 1 }));
    let dataset = api.dataset(LANDSAT).expect("dataset");
    let collections: Vec<A::Collection> = SEED
        .iter()
        .map(|(name, _)| api.collection(&dataset, name).expect("collection"))
        .collect();
    let start = Instant::now();
    let results = if concurrent {
        let options = year_2020().concurrency(settings.concurrency);
        // 0: the SDK's automatic split planning.
        let options = match settings.parallel_pages {
            0 => options,
            parts => options.parallel_pages(parts),
        };
        api.load_collections(&collections, &options)
    } else {
        let options = year_2020().parallel_pages(1).concurrency(1);
        collections.iter().map(|c| api.query(c, &options)).collect()
    };
    let seconds = start.elapsed().as_secs_f64();
    let mut datapoints = 0u64;
    let mut bytes = 0u64;
    for ((name, count), result) in SEED.iter().zip(&results) {
        let data = result.as_ref().expect("load succeeds");
        assert_eq!(data.len(), *count, "{name}: wrong count");
        datapoints += data.len() as u64;
        bytes += data.bytes();
    }
    // Keep the results alive until the peak is read.
    let peak_rss_kib = peak_rss_kib();
    drop(results);
    Measurement {
        seconds,
        datapoints,
        bytes,
        peak_rss_kib,
    }
}

fn render(
    rows: &[(u64, &str, Measurement, Measurement)],
    runs: usize,
    settings: Settings,
) -> String {
    let mut out = String::new();
    out.push_str("| latency | client | sequential | concurrent | speed-up | datapoints/s seq → conc | peak RSS seq / conc |\n");
    out.push_str("|---:|---|---:|---:|---:|---:|---:|\n");
    for (latency, client, seq, conc) in rows {
        out.push_str(&format!(
            "| {latency} ms | {client} | {:.3} s | {:.3} s | **{:.1}x** | {:.0} → {:.0} | {:.0} / {:.0} MiB |\n",
            seq.seconds,
            conc.seconds,
            seq.seconds / conc.seconds,
            seq.datapoints as f64 / seq.seconds,
            conc.datapoints as f64 / conc.seconds,
            seq.peak_rss_kib as f64 / 1024.0,
            conc.peak_rss_kib as f64 / 1024.0,
        ));
    }
    let bytes = rows.first().map_or(0, |r| r.2.bytes);
    out.push_str(&format!(
        "\nWorkload: {} datapoints ({:.1} MB serialized), median of {runs} run(s) per cell, each in a fresh process; \
         concurrent = `load_collections` over the 4 collections with {} and \
         `concurrency({})`; sequential = one collection after another, one page at a time.\n",
        rows.first().map_or(0, |r| r.2.datapoints),
        bytes as f64 / 1e6,
        match settings.parallel_pages {
            0 => "the automatic split plan".to_owned(),
            parts => format!("`parallel_pages({parts})`"),
        },
        settings.concurrency,
    ));
    out
}
