//! Shared helpers of the workflows integration tests: an in-process server with short timings, and a few
//! task types.
//!
//! Backends: the servers run on SQLite; in a suite compiled once more as a `*_pg` target
//! (`tests/<suite>_pg.rs`) on a fresh database of the test PostgreSQL server (`tilebox-test-support`:
//! `TILEBOX_TEST_POSTGRES_URL`, or a throw-away cluster of the `cargo test` run). Tests of such suites start with
//! `if common::skip() { return; }`, which skips them, printing `SKIPPED:`, only when PostgreSQL is missing.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tilebox_server::{ServerConfig, ServerConfigBuilder, ServerHandle, WorkflowsConfig};
use tilebox_workflows::{
    CacheGroup, Client, SubtaskOptions, Task, TaskContext, TaskError, TaskIdentifier, TaskSpec,
};

/// Server timings for tests: 2 s leases (whole seconds, as the Python SDK needs), short idling and reaping.
pub fn workflows_config(lease: Duration) -> WorkflowsConfig {
    WorkflowsConfig::builder()
        .lease(lease)
        .idle(Duration::from_millis(50))
        .reaper_interval(Duration::from_millis(100))
        .build()
}

/// Whether this test binary runs its suite on PostgreSQL (the `*_pg` targets).
pub fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME").ends_with("_pg")
}

/// Whether the calling test must not run: true, with `SKIPPED: <test>: <reason>` printed, in a `*_pg` binary
/// when there is no PostgreSQL server.
pub fn skip() -> bool {
    if !on_postgres() {
        return false;
    }
    match tilebox_test_support::postgres_url() {
        Ok(_) => false,
        Err(skip) => {
            skip.report();
            true
        }
    }
}

/// `config` on this binary's backend: a fresh PostgreSQL database in `*_pg` targets, as given otherwise.
pub fn on_backend(config: ServerConfigBuilder) -> ServerConfigBuilder {
    if on_postgres() {
        config
            .postgres(tilebox_test_support::fresh_database(env!(
                "CARGO_CRATE_NAME"
            )))
            .postgres_pool_size(8)
    } else {
        config
    }
}

pub async fn server() -> ServerHandle {
    server_with(workflows_config(Duration::from_secs(2))).await
}

/// The test server on a runtime of its own, for blocking tests (and async-std/smol ones): 2 s leases.
pub fn background_server() -> tilebox_server::BackgroundServer {
    tilebox_server::spawn_background(
        on_backend(ServerConfig::builder().workflows(workflows_config(Duration::from_secs(2))))
            .build(),
    )
    .expect("server starts")
}

pub async fn server_with(config: WorkflowsConfig) -> ServerHandle {
    tilebox_server::serve(on_backend(ServerConfig::builder().workflows(config)).build())
        .await
        .expect("server starts")
}

/// A workflows client over the tokio adapter.
pub fn client(url: &str) -> Client {
    use tilebox_workflows::WorkflowsExt;
    tilebox_tokio::Client::builder()
        .url(url)
        .build()
        .expect("client")
        .workflows()
}

/// A blocking workflows client over the blocking adapter (no runtime).
pub fn blocking_client(url: &str) -> tilebox_workflows::BlockingClient {
    let datasets = tilebox_blocking::Client::builder()
        .url(url)
        .build()
        .expect("client");
    tilebox_workflows::BlockingClient::from(datasets.as_async())
}

/// A workflows client over the async-std/smol adapter (no tokio).
pub fn async_std_client(url: &str) -> Client {
    use tilebox_workflows::WorkflowsExt;
    tilebox_async_std::Client::builder()
        .url(url)
        .build()
        .expect("client")
        .workflows()
}

/// Append `entry` to the `log` key of the job cache (one runner at a time).
pub fn log(cache: &CacheGroup, entry: &str) {
    let mut v = cache.get("log").unwrap().unwrap_or_default();
    if !v.is_empty() {
        v.push(b' ');
    }
    v.extend_from_slice(entry.as_bytes());
    cache.put("log", v).unwrap();
}

pub fn read_log(cache: &CacheGroup) -> String {
    String::from_utf8(cache.get("log").unwrap().unwrap_or_default()).unwrap()
}

/// fib(N) as in the official Go test: short-circuits on cached values.
#[derive(Serialize, Deserialize)]
pub struct FibonacciTask {
    #[serde(rename = "N")]
    pub n: u64,
}

impl TaskSpec for FibonacciTask {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tilebox.com/fibonacci/FibonacciTask", "v1.0")
    }
}

impl Task for FibonacciTask {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = ctx.job_cache()?;
        log(&cache, &format!("F{}", self.n));
        let key = format!("fib_{}", self.n);
        if cache.contains(&key)? {
            return Ok(());
        }
        if self.n <= 2 {
            cache.put(&key, "1")?;
            return Ok(());
        }
        let a = ctx.submit_subtask(&FibonacciTask { n: self.n - 1 })?;
        let b = ctx.submit_subtask(&FibonacciTask { n: self.n - 2 })?;
        ctx.submit_subtask_with(
            &SumResultTask { n: self.n },
            SubtaskOptions::new().depends_on(&[a, b]),
        )?;
        Ok(())
    }
}

/// Stores fib(N-1) + fib(N-2).
#[derive(Serialize, Deserialize)]
pub struct SumResultTask {
    #[serde(rename = "N")]
    pub n: u64,
}

impl TaskSpec for SumResultTask {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tilebox.com/fibonacci/SumResultTask", "v1.0")
    }
}

pub fn cached_u64(cache: &CacheGroup, key: &str) -> Result<u64, TaskError> {
    let v = cache
        .get(key)?
        .ok_or_else(|| TaskError::msg(format!("{key} missing from the cache")))?;
    String::from_utf8_lossy(&v)
        .parse::<u64>()
        .map_err(TaskError::from)
}

impl Task for SumResultTask {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = ctx.job_cache()?;
        log(&cache, &format!("S{}", self.n));
        let sum = cached_u64(&cache, &format!("fib_{}", self.n - 1))?
            + cached_u64(&cache, &format!("fib_{}", self.n - 2))?;
        cache.put(&format!("fib_{}", self.n), sum.to_string())?;
        Ok(())
    }
}

/// A generic test task: logs its execution, sleeps, maybe fails, then submits its children.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct Node {
    pub name: String,
    #[serde(default)]
    pub sleep_ms: u64,
    #[serde(default)]
    pub fail: bool,
    #[serde(default)]
    pub children: Vec<Child>,
}

/// A child of a [`Node`] with its submission options.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct Child {
    pub node: Node,
    #[serde(default)]
    pub deps: Vec<usize>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub cluster: Option<String>,
}

impl Node {
    pub fn leaf(name: &str) -> Self {
        Node {
            name: name.into(),
            ..Default::default()
        }
    }
    pub fn sleeping(mut self, ms: u64) -> Self {
        self.sleep_ms = ms;
        self
    }
    pub fn failing(mut self) -> Self {
        self.fail = true;
        self
    }
    pub fn child(mut self, node: Node, deps: &[usize], optional: bool) -> Self {
        self.children.push(Child {
            node,
            deps: deps.to_vec(),
            optional,
            cluster: None,
        });
        self
    }
    pub fn child_on(mut self, node: Node, cluster: &str) -> Self {
        self.children.push(Child {
            node,
            deps: vec![],
            optional: false,
            cluster: Some(cluster.into()),
        });
        self
    }
}

impl TaskSpec for Node {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/Node", "v1.0")
    }
    fn display(&self) -> String {
        self.name.clone()
    }
}

impl Task for Node {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        if let Ok(cache) = ctx.job_cache() {
            cache.put(
                &format!("runs/{}/{}", self.name, uuid::Uuid::new_v4()),
                ctx.retry_count().to_string(),
            )?;
        }
        if self.sleep_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.sleep_ms));
        }
        if self.fail {
            return Err(TaskError::msg(format!("{} failed on purpose", self.name)));
        }
        let mut handles = Vec::new();
        for c in &self.children {
            let deps: Vec<_> = c.deps.iter().map(|&d| handles[d]).collect();
            let mut opts = SubtaskOptions::new().depends_on(&deps);
            if c.optional {
                opts = opts.optional();
            }
            if let Some(cluster) = &c.cluster {
                opts = opts.cluster(cluster.clone());
            }
            handles.push(ctx.submit_subtask_with(&c.node, opts)?);
        }
        Ok(())
    }
}

/// How often the node `name` ran, from an in-memory cache.
pub fn runs(cache: &tilebox_workflows::InMemoryCache, job: uuid::Uuid, name: &str) -> usize {
    let prefix = format!("{job}/runs/{name}/");
    cache
        .keys()
        .iter()
        .filter(|k| k.starts_with(&prefix))
        .count()
}

/// Poll `f` until it returns `Some`, at most `limit` (a safety net, not a timing assertion).
pub async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
