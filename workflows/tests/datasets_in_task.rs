//! Async dataset loading inside tasks (spec §5.3.13): an `AsyncTask` with `try_join_all`, a sync `Task`
//! through `ctx.block_on`, and a sync `Task` with the blocking datasets client all return the same counts as
//! three sequential queries. Wall times are printed (a benchmark figure, not asserted).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde::{Deserialize, Serialize};
use tilebox_core::QueryOptions;
use tilebox_workflows::{
    AsyncTask, AsyncTaskContext, CacheGroup, InMemoryCache, JobState, Task, TaskContext, TaskError,
    TaskIdentifier, TaskSpec,
};

const DATASET: &str = "open_data.copernicus.landsat8_oli_tirs";
const MONTHS: [(&str, &str); 3] = [
    ("2020-01-01", "2020-02-01"),
    ("2020-02-01", "2020-03-01"),
    ("2020-03-01", "2020-04-01"),
];

/// Counts per month and the time the three queries took (lookups excluded).
async fn load_concurrently(
    client: &tilebox_tokio::Client,
    collection: &str,
) -> Result<(Vec<usize>, Instant), TaskError> {
    let coll = client
        .dataset(DATASET)
        .await?
        .collection(collection)
        .await?;
    let start = Instant::now();
    let parts = futures::future::try_join_all(MONTHS.iter().map(|m| {
        let options = QueryOptions::new(*m);
        let coll = &coll;
        async move { coll.query(&options).await }
    }))
    .await?;
    Ok((parts.iter().map(|p| p.len()).collect(), start))
}

fn store(
    ctx: &tilebox_workflows::ExecutionContext,
    key: &str,
    counts: &[usize],
    start: Instant,
) -> Result<(), TaskError> {
    ctx.job_cache()?.put(
        &format!("{key}_ms"),
        start.elapsed().as_millis().to_string(),
    )?;
    ctx.progress("months").add(counts.len() as u64);
    ctx.progress("months").done(counts.len() as u64);
    ctx.job_cache()?.put(key, serde_json::to_vec(counts)?)?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct LoadMonthsAsync {
    collection: String,
}

impl TaskSpec for LoadMonthsAsync {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/LoadMonthsAsync", "v1.0")
    }
}

impl AsyncTask for LoadMonthsAsync {
    async fn execute(&self, ctx: &AsyncTaskContext) -> Result<(), TaskError> {
        let client = ctx.data::<tilebox_tokio::Client>()?.clone();
        let (counts, start) = load_concurrently(&client, &self.collection).await?;
        store(ctx, "async", &counts, start)
    }
}

#[derive(Serialize, Deserialize)]
struct LoadMonthsBlockOn {
    collection: String,
}

impl TaskSpec for LoadMonthsBlockOn {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/LoadMonthsBlockOn", "v1.0")
    }
}

impl Task for LoadMonthsBlockOn {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let client = ctx.data::<tilebox_tokio::Client>()?.clone();
        let collection = self.collection.clone();
        let (counts, start) =
            ctx.block_on(async move { load_concurrently(&client, &collection).await })??;
        store(ctx, "block_on", &counts, start)
    }
}

#[derive(Serialize, Deserialize)]
struct LoadMonthsSyncClient {
    collection: String,
}

impl TaskSpec for LoadMonthsSyncClient {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/LoadMonthsSyncClient", "v1.0")
    }
}

impl Task for LoadMonthsSyncClient {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let client = ctx.data::<tilebox_blocking::Client>()?;
        let coll = client.dataset(DATASET)?.collection(&self.collection)?;
        let start = Instant::now();
        let counts: Vec<usize> = MONTHS
            .iter()
            .map(|m| coll.query(&QueryOptions::new(*m)).map(|d| d.len()))
            .collect::<Result<_, _>>()?;
        store(ctx, "sync_client", &counts, start)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_loading_inside_tasks_matches_sequential_loading() {
    let config = tilebox_server::ServerConfig::builder()
        .demo(true)
        .latency(Duration::from_millis(50))
        .workflows(workflows_config(Duration::from_secs(2)))
        .build();
    let server = tilebox_server::serve(config).await.unwrap();
    let url = server.url();
    let datasets = tilebox_tokio::Client::builder()
        .url(url.clone())
        .anonymous()
        .build()
        .unwrap();
    let blocking = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            tilebox_blocking::Client::builder()
                .url(url)
                .anonymous()
                .build()
                .unwrap()
        })
        .await
        .unwrap()
    };

    // Sequential reference: three queries one after another with the blocking client.
    let (sequential, sequential_time) = {
        let blocking = blocking.clone();
        tokio::task::spawn_blocking(move || {
            let coll = blocking
                .dataset(DATASET)
                .unwrap()
                .collection("L1T")
                .unwrap();
            let start = Instant::now();
            let counts: Vec<usize> = MONTHS
                .iter()
                .map(|m| coll.query(&QueryOptions::new(*m)).unwrap().len())
                .collect();
            (counts, start.elapsed())
        })
        .await
        .unwrap()
    };
    assert!(
        sequential.iter().all(|&c| c > 0),
        "the demo data has L1T datapoints every month: {sequential:?}"
    );

    let client = client(&url);
    let cache = InMemoryCache::new();
    let runner = client
        .runner()
        .cache(cache.clone())
        .data(datasets)
        .data(blocking)
        .register_async::<LoadMonthsAsync>()
        .register::<LoadMonthsBlockOn>()
        .register::<LoadMonthsSyncClient>()
        .build_async()
        .await
        .unwrap();
    let collection = "L1T".to_owned();
    let mut timings = Vec::new();
    for (key, job) in [
        (
            "async",
            client
                .jobs()
                .submit(
                    "async",
                    &LoadMonthsAsync {
                        collection: collection.clone(),
                    },
                )
                .await
                .unwrap(),
        ),
        (
            "block_on",
            client
                .jobs()
                .submit(
                    "block_on",
                    &LoadMonthsBlockOn {
                        collection: collection.clone(),
                    },
                )
                .await
                .unwrap(),
        ),
        (
            "sync_client",
            client
                .jobs()
                .submit(
                    "sync",
                    &LoadMonthsSyncClient {
                        collection: collection.clone(),
                    },
                )
                .await
                .unwrap(),
        ),
    ] {
        runner.run_until_jobs_finish_async(&[job.id]).await.unwrap();
        let g = CacheGroup::for_job(Arc::new(cache.clone()), job.id);
        timings.push((
            key,
            String::from_utf8(g.get(&format!("{key}_ms")).unwrap().unwrap()).unwrap(),
        ));
        let view = client.jobs().get(job.id).await.unwrap();
        assert_eq!(
            view.state,
            JobState::Completed,
            "{key}: {:?}",
            view.tasks.first().map(|t| &t.display)
        );
        let counts: Vec<usize> = serde_json::from_slice(
            &CacheGroup::for_job(Arc::new(cache.clone()), job.id)
                .get(key)
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            counts, sequential,
            "{key} loads the same datapoints as the sequential queries"
        );
        let p = view.progress("months").unwrap();
        assert_eq!((p.total, p.done), (3, 3));
    }
    eprintln!(
        "L1T, 3 months, 50 ms emulated latency: sequential {} ms; inside tasks (ms): {timings:?}",
        sequential_time.as_millis()
    );
    server.shutdown().await;
}
