//! Shared helpers of the workflows integration tests: an in-process server with short timings, and a few
//! task types.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tilebox_server::{ServerConfig, ServerHandle, WorkflowsConfig};
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

pub async fn server() -> ServerHandle {
    server_with(workflows_config(Duration::from_secs(2))).await
}

pub async fn server_with(config: WorkflowsConfig) -> ServerHandle {
    tilebox_server::serve(ServerConfig::builder().workflows(config).build()).await.expect("server starts")
}

pub fn client(url: &str) -> Client {
    Client::new(url).expect("client")
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
        ctx.submit_subtask_with(&SumResultTask { n: self.n }, SubtaskOptions::new().depends_on(&[a, b]))?;
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
    let v = cache.get(key)?.ok_or_else(|| TaskError::msg(format!("{key} missing from the cache")))?;
    String::from_utf8_lossy(&v).parse::<u64>().map_err(TaskError::from)
}

impl Task for SumResultTask {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = ctx.job_cache()?;
        log(&cache, &format!("S{}", self.n));
        let sum = cached_u64(&cache, &format!("fib_{}", self.n - 1))? + cached_u64(&cache, &format!("fib_{}", self.n - 2))?;
        cache.put(&format!("fib_{}", self.n), sum.to_string())?;
        Ok(())
    }
}
