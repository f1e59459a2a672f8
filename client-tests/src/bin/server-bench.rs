//! The server-only benchmark (run by hand, not a test):
//!
//! ```text
//! cargo run --release -p tilebox-client-tests --bin server-bench -- [--clients 16] [--rounds 8] [--runs 3]
//!     [--postgres postgres://user@host:port/database]
//! ```
//!
//! It measures how fast the local server serves `Query` pages, with no SDK client in the way: for each backend
//! (`sqlite`, a throw-away database, and with `--postgres` also `postgres`) and each run it starts a fresh
//! server process (this binary with `--serve`, demo data), plans the seed workload's pages once (the four
//! Landsat collections for 2020, 111 593 datapoints, default page size, by following `next_page`), then lets
//! `--clients` raw Connect clients (HTTP/1.1 keep-alive, binary proto, no gzip) fetch those pages `--rounds`
//! times over, as fast as the server answers. Reported per backend, median of `--runs`: datapoints/s, MB/s of
//! response bodies, and the server process's CPU seconds (user + system, from `/proc/PID/stat`) per 100 000
//! datapoints served. With `--postgres URL` (an empty database, or one this benchmark seeded before) the
//! PostgreSQL server runs in the same invocation, alternating with SQLite, so both see the same machine state;
//! the database server's own CPU is not counted.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use prost::Message;
use tilebox_client_tests::suite::tests::{LANDSAT, SEED};
use tilebox_core::wire::datasets::v1::{QueryFilters, QueryRequest, QueryResultPage};
use tilebox_core::wire::tilebox::v1::{Id, Pagination, TimeInterval};
use tilebox_server::ServerConfig;

const QUERY: &str = "datasets.v1.DataAccessService/Query";
const PATHS: [&str; 1] = ["sqlite"];
/// The PostgreSQL-backed server's label.
const POSTGRES: &str = "postgres";

/// One page request of the plan, with what its answer must hold.
struct PlannedPage {
    body: Bytes,
    datapoints: u64,
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Measurement {
    seconds: f64,
    datapoints: u64,
    bytes: u64,
    cpu_seconds: f64,
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = flag(&args, "--serve") {
        serve(&path, flag(&args, "--database"));
        return;
    }
    let number = |name: &str, default: usize| {
        flag(&args, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
            .max(1)
    };
    let clients = number("--clients", 16);
    let rounds = number("--rounds", 8);
    let runs = number("--runs", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let postgres = flag(&args, "--postgres");
    let mut results: Vec<(&str, Vec<Measurement>)> =
        PATHS.iter().map(|p| (*p, Vec::new())).collect();
    if postgres.is_some() {
        results.push((POSTGRES, Vec::new()));
    }
    for run in 1..=runs {
        for (path, measurements) in &mut results {
            let m = runtime.block_on(measure(path, postgres.as_deref(), clients, rounds));
            eprintln!(
                "run {run} {path}: {:.3} s, {} datapoints, {:.1} MB, server CPU {:.2} s",
                m.seconds,
                m.datapoints,
                m.bytes as f64 / 1e6,
                m.cpu_seconds
            );
            measurements.push(m);
        }
    }
    println!(
        "| backend | wall (s) | datapoints/s | MB/s | server CPU s / 100k datapoints |\n|---|---:|---:|---:|---:|"
    );
    let mut rates = Vec::new();
    for (path, measurements) in &results {
        let median = |f: &dyn Fn(&Measurement) -> f64| {
            let mut v: Vec<f64> = measurements.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let seconds = median(&|m| m.seconds);
        let rate = median(&|m| m.datapoints as f64 / m.seconds);
        let mbps = median(&|m| m.bytes as f64 / 1e6 / m.seconds);
        let cpu = median(&|m| m.cpu_seconds / (m.datapoints as f64 / 1e5));
        rates.push(rate);
        println!("| {path} | {seconds:.3} | {rate:.0} | {mbps:.1} | {cpu:.3} |");
    }
    if let [sqlite, pg] = rates[..] {
        println!(
            "\n{clients} clients, {rounds} rounds of the seed workload per run, median of {runs} run(s); postgres / sqlite throughput: {:.2}x",
            pg / sqlite
        );
    }
}

/// The child: a server with demo data on a throw-away SQLite database (or on PostgreSQL at `database`),
/// until stdin closes.
fn serve(path: &str, database: Option<String>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut config = ServerConfig::builder().demo(true);
        if let (POSTGRES, Some(url)) = (path, database) {
            config = config.postgres(url);
        }
        let config = config.build();
        let handle = tilebox_server::serve(config).await.expect("server starts");
        println!("{}", handle.url());
        // Stop when the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .expect("stdin watcher");
        handle.shutdown().await;
    });
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / ticks_per_second
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn start(path: &str, postgres: Option<&str>) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(["--serve", path])
            .args(
                postgres
                    .map(|url| ["--database", url])
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("server process starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut url = String::new();
        BufReader::new(stdout)
            .read_line(&mut url)
            .expect("server prints its URL");
        Self {
            child,
            url: url.trim().to_owned(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

async fn post(client: &reqwest::Client, url: &str, body: Bytes) -> Bytes {
    let response = client
        .post(url)
        .header("content-type", "application/proto")
        .body(body)
        .send()
        .await
        .expect("request");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    response.bytes().await.expect("body")
}

/// The seed workload's page requests, found by following `next_page` once.
async fn plan(url: &str) -> Vec<PlannedPage> {
    let sdk = tilebox_tokio::Client::builder()
        .url(url)
        .anonymous()
        .build()
        .expect("client");
    let dataset = sdk.dataset(LANDSAT).await.expect("dataset");
    let http = reqwest::Client::new();
    let query_url = format!("{url}/{QUERY}");
    let interval = TimeInterval {
        start_time: Some(prost_types::Timestamp {
            seconds: 1_577_836_800,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: 1_609_459_200,
            nanos: 0,
        }),
        start_exclusive: false,
        end_inclusive: false,
    };
    let mut pages = Vec::new();
    for (name, count) in SEED {
        let collection = dataset.collection(name).await.expect("collection");
        let mut starting_after = None;
        let mut seen = 0u64;
        loop {
            let request = QueryRequest {
                collection_ids: vec![Id {
                    uuid: Bytes::copy_from_slice(collection.id().as_bytes()),
                }],
                filters: Some(QueryFilters {
                    time_interval: Some(interval),
                    ..Default::default()
                }),
                page: Some(Pagination {
                    limit: None,
                    starting_after,
                }),
                skip_data: false,
                dataset_id: None,
            };
            let body = Bytes::from(request.encode_to_vec());
            let answer = QueryResultPage::decode(post(&http, &query_url, body.clone()).await)
                .expect("page decodes");
            let datapoints = answer.data.map_or(0, |d| d.value.len() as u64);
            seen += datapoints;
            pages.push(PlannedPage { body, datapoints });
            match answer.next_page {
                Some(next) => starting_after = next.starting_after,
                None => break,
            }
        }
        assert_eq!(seen, count as u64, "{name}");
    }
    pages
}

async fn measure(path: &str, postgres: Option<&str>, clients: usize, rounds: usize) -> Measurement {
    let server = ServerProcess::start(path, postgres);
    let pages = Arc::new(plan(&server.url).await);
    let query_url = Arc::new(format!("{}/{QUERY}", server.url));
    let ticks = ticks_per_second();
    let pid = server.child.id();
    // Warm-up: one round with every client, connections opened.
    let http: Vec<reqwest::Client> = (0..clients)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .build()
                .expect("http client")
        })
        .collect();
    let run_round = |total: usize| {
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = http
            .iter()
            .map(|client| {
                let (client, next, pages, url) = (
                    client.clone(),
                    Arc::clone(&next),
                    Arc::clone(&pages),
                    Arc::clone(&query_url),
                );
                tokio::spawn(async move {
                    let (mut datapoints, mut bytes) = (0u64, 0u64);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        let page = &pages[i % pages.len()];
                        let body = post(&client, &url, page.body.clone()).await;
                        datapoints += page.datapoints;
                        bytes += body.len() as u64;
                    }
                    (datapoints, bytes)
                })
            })
            .collect();
        async move {
            let mut sums = (0u64, 0u64);
            for task in tasks {
                let (d, b) = task.await.expect("client task");
                sums.0 += d;
                sums.1 += b;
            }
            sums
        }
    };
    run_round(pages.len()).await;
    let cpu_before = cpu_seconds(pid, ticks);
    let started = Instant::now();
    let (datapoints, bytes) = run_round(pages.len() * rounds).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds(pid, ticks) - cpu_before;
    drop(server);
    Measurement {
        seconds,
        datapoints,
        bytes,
        cpu_seconds,
    }
}
