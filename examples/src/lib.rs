//! Shared plumbing of the runnable examples: where the data comes from (the embedded local server by default,
//! or `TILEBOX_API_URL`/`TILEBOX_API_KEY`), and the documented "fetching data concurrently" workload written
//! once over the async core client (tokio, async-std and smol all drive the same code) plus its blocking twin.

use std::time::{Duration, Instant};

use tilebox::core::{Client, Collection, Datapoints, QueryOptions};

/// The dataset of the documented example.
pub const LANDSAT: &str = "open_data.copernicus.landsat8_oli_tirs";
/// The year the example loads, as a half-open interval.
pub const YEAR_2020: (&str, &str) = ("2020-01-01", "2021-01-01");

/// Boxed error type for the examples.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the example's requests go.
pub struct Backend {
    /// Base URL of the API.
    pub url: String,
    /// API key, if any.
    pub api_key: Option<String>,
    server: Option<tilebox_server::BackgroundServer>,
}

impl Backend {
    /// `TILEBOX_API_URL` (with `TILEBOX_API_KEY`) when set; otherwise the local server started in-process on an
    /// ephemeral loopback port with the demo data and `latency` of emulated network delay per request.
    pub fn from_env_or_embedded(latency: Duration) -> Result<Self, BoxError> {
        let api_key = std::env::var("TILEBOX_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        if let Some(url) = std::env::var("TILEBOX_API_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            eprintln!("Using the Tilebox API at {url}");
            return Ok(Backend {
                url,
                api_key,
                server: None,
            });
        }
        let started = Instant::now();
        let config = tilebox_server::ServerConfig::builder()
            .demo(true)
            .latency(latency)
            .build();
        let server = tilebox_server::spawn_background(config)?;
        eprintln!(
            "Started the embedded local server at {} with demo data in {:.2} s (emulated latency {} ms per request)",
            server.url(),
            started.elapsed().as_secs_f64(),
            latency.as_millis()
        );
        Ok(Backend {
            url: server.url().to_string(),
            api_key: None,
            server: Some(server),
        })
    }

    /// Whether this backend is the embedded local server.
    pub fn is_embedded(&self) -> bool {
        self.server.is_some()
    }
}

/// How the example loads.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// Sub-intervals per collection in the concurrent approach (parallel paging); `None`: the SDK's
    /// automatic plan, which shares the requests in flight out by each collection's estimated size.
    pub parallel_pages: Option<usize>,
    /// Show progress bars.
    pub progress: bool,
}

impl LoadSettings {
    /// The concurrent approach's query: parallel paging as set, or planned by the SDK.
    pub fn concurrent_query(&self) -> QueryOptions {
        let options = QueryOptions::new(YEAR_2020).show_progress(self.progress);
        match self.parallel_pages {
            Some(parts) => options.parallel_pages(parts),
            None => options,
        }
    }
}

/// What one approach loaded, per collection in input order, and how long it took.
pub struct Outcome {
    /// `(collection name, datapoints)` in the order of the dataset's collections.
    pub per_collection: Vec<(String, Datapoints)>,
    /// Wall time of the approach.
    pub elapsed: Duration,
}

impl Outcome {
    /// Prints the documented lines: one per collection, then the timing.
    pub fn print(&self) {
        for (name, datapoints) in &self.per_collection {
            println!(
                "There are {} datapoints in {name} for 2020.",
                datapoints.len()
            );
        }
        println!(
            "Fetching data took {:.2} seconds",
            self.elapsed.as_secs_f64()
        );
    }

    /// Whether two outcomes hold the same datapoints (byte for byte) in the same order.
    pub fn same_datapoints(&self, other: &Outcome) -> bool {
        self.per_collection.len() == other.per_collection.len()
            && self
                .per_collection
                .iter()
                .zip(&other.per_collection)
                .all(|((a, x), (b, y))| a == b && x.values() == y.values())
    }
}

/// Prints the comparison of the two approaches and checks that they agree.
pub fn report(sequential: &Outcome, concurrent: &Outcome) -> Result<(), BoxError> {
    let speedup = sequential.elapsed.as_secs_f64() / concurrent.elapsed.as_secs_f64().max(1e-9);
    println!("Speed-up of the concurrent load: {speedup:.1}x");
    if !sequential.same_datapoints(concurrent) {
        return Err(
            "the concurrent load returned different datapoints than the sequential one".into(),
        );
    }
    println!("Both approaches returned the same datapoints in the same order.");
    Ok(())
}

/// The query of the example: all of 2020, with or without progress bars, pages strictly one by one (the
/// concurrent approach lifts that, see [`LoadSettings::concurrent_query`]).
pub fn year_query(progress: bool) -> QueryOptions {
    QueryOptions::new(YEAR_2020)
        .show_progress(progress)
        .parallel_pages(1)
}

/// Lists datasets, opens the Landsat-8 dataset and lists its collections (async adapters).
pub async fn open_collections(client: &Client) -> Result<Vec<Collection>, BoxError> {
    let tree = client.datasets().await?;
    println!("Found {} datasets", tree.len());
    let dataset = client.dataset(LANDSAT).await?;
    let collections = dataset.collections().await?;
    let names: Vec<&str> = collections.iter().map(Collection::name).collect();
    println!("Collections of {}: {}", dataset.slug(), names.join(", "));
    Ok(collections)
}

/// Loads every collection for 2020, one after another, pages one by one (async adapters).
pub async fn load_sequentially(
    collections: &[Collection],
    settings: &LoadSettings,
) -> Result<Outcome, BoxError> {
    let started = Instant::now();
    let mut per_collection = Vec::with_capacity(collections.len());
    for collection in collections {
        let datapoints = collection.query(&year_query(settings.progress)).await?;
        per_collection.push((collection.name().to_owned(), datapoints));
    }
    Ok(Outcome {
        per_collection,
        elapsed: started.elapsed(),
    })
}

/// Loads every collection for 2020 at once, each split into sub-intervals paged in parallel (async adapters).
pub async fn load_concurrently(
    client: &Client,
    collections: &[Collection],
    settings: &LoadSettings,
) -> Result<Outcome, BoxError> {
    let started = Instant::now();
    let options = settings.concurrent_query();
    let results = client.load_collections(collections, &options).await;
    let mut per_collection = Vec::with_capacity(collections.len());
    for (collection, result) in collections.iter().zip(results) {
        per_collection.push((collection.name().to_owned(), result?));
    }
    Ok(Outcome {
        per_collection,
        elapsed: started.elapsed(),
    })
}

/// The whole documented example on an async client: both approaches, printed and compared.
pub async fn run_async(client: &Client, settings: &LoadSettings) -> Result<(), BoxError> {
    let collections = open_collections(client).await?;
    println!("\nLoading the collections one after another:");
    let sequential = load_sequentially(&collections, settings).await?;
    sequential.print();
    println!("\nLoading all collections concurrently:");
    let concurrent = load_concurrently(client, &collections, settings).await?;
    concurrent.print();
    report(&sequential, &concurrent)
}

/// The whole documented example on the blocking client: both approaches, printed and compared. The
/// concurrent approach runs the same core loading logic, with the HTTP calls on worker threads.
pub fn run_blocking(
    client: &tilebox::blocking::Client,
    settings: &LoadSettings,
) -> Result<(), BoxError> {
    let tree = client.datasets()?;
    println!("Found {} datasets", tree.len());
    let dataset = client.dataset(LANDSAT)?;
    let collections = dataset.collections()?;
    let names: Vec<&str> = collections.iter().map(|c| c.name()).collect();
    println!("Collections of {}: {}", dataset.slug(), names.join(", "));

    println!("\nLoading the collections one after another:");
    let started = Instant::now();
    let mut per_collection = Vec::with_capacity(collections.len());
    for collection in &collections {
        per_collection.push((
            collection.name().to_owned(),
            collection.query(&year_query(settings.progress))?,
        ));
    }
    let sequential = Outcome {
        per_collection,
        elapsed: started.elapsed(),
    };
    sequential.print();

    println!("\nLoading all collections concurrently:");
    let started = Instant::now();
    let options = settings.concurrent_query();
    let mut per_collection = Vec::with_capacity(collections.len());
    for (collection, result) in collections
        .iter()
        .zip(client.load_collections(&collections, &options))
    {
        per_collection.push((collection.name().to_owned(), result?));
    }
    let concurrent = Outcome {
        per_collection,
        elapsed: started.elapsed(),
    };
    concurrent.print();
    report(&sequential, &concurrent)
}

/// The documented datasets calls on an async client (tokio, async-std or smol drive the same code): the
/// dataset tree, the collections with `info()`, a query with a progress bar, and `find()` on Sentinel-1
/// `S1A_IW_RAW__0S` in May 2022.
pub async fn documented_calls(client: &Client) -> Result<(), BoxError> {
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

/// Runs the jobs `automation` submits on `runner`, oldest first and each as soon as it appears, until `count`
/// have finished; returns their ids. Fails when fewer than `count` jobs were submitted by `deadline`.
pub fn run_automation_jobs(
    client: &tilebox_workflows::BlockingClient,
    runner: &tilebox_workflows::Runner,
    automation: tilebox_workflows::Uuid,
    count: usize,
    deadline: Instant,
) -> Result<Vec<tilebox_workflows::Uuid>, BoxError> {
    let query = tilebox_workflows::JobQuery::new().automations(&[automation]);
    let mut ran = Vec::new();
    while ran.len() < count {
        let mut fired: Vec<_> = client
            .query_jobs(&query)?
            .into_iter()
            .filter(|job| !ran.contains(&job.id))
            .collect();
        fired.sort_by_key(|job| job.submitted_at);
        fired.truncate(count - ran.len());
        if fired.is_empty() {
            if Instant::now() > deadline {
                return Err(format!(
                    "automation {automation} submitted {} of {count} jobs",
                    ran.len()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let ids: Vec<_> = fired.iter().map(|job| job.id).collect();
        runner.run_until_jobs_finish(&ids)?;
        ran.extend(ids);
    }
    Ok(ran)
}
