//! The documented workflows example: a task that loads three months of Landsat-8 `L1T` data concurrently
//! with the async datasets client — once as a sync `Task` (through `ctx.block_on`) and once as an
//! `AsyncTask` — run by one task runner.
//!
//! Without `TILEBOX_API_URL` it starts a local server with demo data (and 50 ms emulated latency).
//! `cargo run -p tilebox-examples --bin workflows_load_months`

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tilebox::core::{Datapoints, QueryOptions};
use tilebox_workflows::{
    AsyncTask, AsyncTaskContext, BlockingClient, Task, TaskContext, TaskError, TaskIdentifier,
    TaskSpec,
};

const DATASET: &str = "open_data.copernicus.landsat8_oli_tirs";

/// Load `months` (start, end) of one collection; a sync task.
#[derive(Serialize, Deserialize)]
struct LoadMonths {
    collection: String,
    months: Vec<(String, String)>,
}

impl TaskSpec for LoadMonths {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("example.com/LoadMonths", "v1.0")
    }
}

/// The same work as an async task.
#[derive(Serialize, Deserialize)]
struct LoadMonthsAsync {
    collection: String,
    months: Vec<(String, String)>,
}

impl TaskSpec for LoadMonthsAsync {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("example.com/LoadMonthsAsync", "v1.0")
    }
}

/// Query every month concurrently and return the parts in month order.
async fn load(
    client: &tilebox::tokio::Client,
    collection: &str,
    months: &[(String, String)],
) -> Result<Vec<Datapoints>, TaskError> {
    let coll = client
        .dataset(DATASET)
        .await?
        .collection(collection)
        .await?;
    let parts = futures::future::try_join_all(months.iter().map(|(start, end)| {
        let options = QueryOptions::new((start.as_str(), end.as_str()));
        let coll = &coll;
        async move { coll.query(&options).await }
    }))
    .await?;
    Ok(parts)
}

impl Task for LoadMonths {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let client = ctx.data::<tilebox::tokio::Client>()?.clone();
        let progress = ctx.progress("months");
        progress.add(self.months.len() as u64);
        let start = Instant::now();
        // Any future works here: block_on runs it on the runner's runtime and never panics.
        let parts = ctx.block_on(load(&client, &self.collection, &self.months))??;
        progress.done(parts.len() as u64);
        let counts: Vec<usize> = parts.iter().map(Datapoints::len).collect();
        ctx.set_display(format!(
            "LoadMonths {} {counts:?} in {:?}",
            self.collection,
            start.elapsed()
        ));
        println!(
            "sync task (block_on): {counts:?} datapoints in {:?}",
            start.elapsed()
        );
        Ok(())
    }
}

impl AsyncTask for LoadMonthsAsync {
    async fn execute(&self, ctx: &AsyncTaskContext) -> Result<(), TaskError> {
        let client = ctx.data::<tilebox::tokio::Client>()?.clone();
        let progress = ctx.progress("months");
        progress.add(self.months.len() as u64);
        let start = Instant::now();
        let parts = load(&client, &self.collection, &self.months).await?;
        progress.done(parts.len() as u64);
        let counts: Vec<usize> = parts.iter().map(Datapoints::len).collect();
        println!("async task: {counts:?} datapoints in {:?}", start.elapsed());
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _server; // keeps a local server alive when one is started
    let url = match std::env::var("TILEBOX_API_URL") {
        Ok(url) => url,
        Err(_) => {
            let config = tilebox_server::ServerConfig::builder()
                .demo(true)
                .latency(Duration::from_millis(50))
                .build();
            let server = tilebox_server::spawn_background(config)?;
            let url = server.url();
            _server = server;
            url
        }
    };
    // Clients used inside tasks are built once and handed to the runner as typed data.
    let datasets = tilebox::tokio::Client::builder().url(url.clone()).build()?;
    let client = BlockingClient::from(
        tilebox::blocking::Client::builder()
            .url(url)
            .build()?
            .as_async(),
    );
    let runner = client
        .runner()
        .data(datasets)
        .register::<LoadMonths>()
        .register_async::<LoadMonthsAsync>()
        .build()?;

    let months: Vec<(String, String)> = [
        ("2020-01-01", "2020-02-01"),
        ("2020-02-01", "2020-03-01"),
        ("2020-03-01", "2020-04-01"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    let sync_job = client.submit(
        "load-months",
        &LoadMonths {
            collection: "L1T".into(),
            months: months.clone(),
        },
    )?;
    let async_job = client.submit(
        "load-months-async",
        &LoadMonthsAsync {
            collection: "L1T".into(),
            months,
        },
    )?;
    runner.run_until_jobs_finish(&[sync_job.id, async_job.id])?;
    for id in [sync_job.id, async_job.id] {
        let job = client.job(id)?;
        println!("job {} {:?}: {:?}", job.name, job.state, job.progress);
    }
    Ok(())
}
