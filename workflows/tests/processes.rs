//! Acceptance tests with runner *processes* (spec §5.3: 2, 4 and the SIGTERM half of 10).
//!
//! The runner processes are this test binary itself, re-executed with `--exact child_runner` and the
//! environment variable `TILEBOX_WF_CHILD` set; without that variable `child_runner` does nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Child as Process, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use serde::{Deserialize, Serialize};
use tilebox_workflows::{
    CacheGroup, JobState, LocalFileSystemCache, SubtaskOptions, Task, TaskContext, TaskError,
    TaskIdentifier, TaskSpec, Uuid,
};

const CHILD: &str = "TILEBOX_WF_CHILD";

/// Records which process ran which task, and how often.
fn record(ctx: &TaskContext) -> Result<CacheGroup, TaskError> {
    let cache = ctx.job_cache()?;
    cache.put(
        &format!("pids/{}", ctx.task_id()),
        std::process::id().to_string(),
    )?;
    cache.put(
        &format!("runs/{}/{}", ctx.task_id(), Uuid::new_v4()),
        ctx.retry_count().to_string(),
    )?;
    Ok(cache)
}

#[derive(Serialize, Deserialize)]
struct MapRoot {
    n: u64,
}

impl TaskSpec for MapRoot {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/MapRoot", "v1.0")
    }
}

impl Task for MapRoot {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        record(ctx)?;
        ctx.progress("map").add(self.n);
        let squares: Vec<Square> = (0..self.n).map(|i| Square { i }).collect();
        let handles = ctx.submit_subtasks(&squares)?;
        ctx.submit_subtask_with(
            &SumSquares { n: self.n },
            SubtaskOptions::new().depends_on(&handles),
        )?;
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Square {
    i: u64,
}

impl TaskSpec for Square {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/Square", "v1.0")
    }
}

impl Task for Square {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = record(ctx)?;
        std::thread::sleep(Duration::from_millis(30));
        cache.put(&format!("sq/{}", self.i), (self.i * self.i).to_string())?;
        ctx.progress("map").done(1);
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct SumSquares {
    n: u64,
}

impl TaskSpec for SumSquares {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/SumSquares", "v1.0")
    }
}

impl Task for SumSquares {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = record(ctx)?;
        let mut sum = 0;
        for i in 0..self.n {
            sum += cached_u64(&cache, &format!("sq/{i}"))?;
        }
        cache.put("result", sum.to_string())?;
        Ok(())
    }
}

/// Hangs for 30 s on its first attempt; later attempts finish at once.
#[derive(Serialize, Deserialize)]
struct Hang {
    ms: u64,
}

impl TaskSpec for Hang {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/Hang", "v1.0")
    }
}

impl Task for Hang {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = record(ctx)?;
        cache.put("retry_count", ctx.retry_count().to_string())?;
        if ctx.retry_count() == 0 {
            std::thread::sleep(Duration::from_millis(self.ms));
        }
        cache.put("finished_by", std::process::id().to_string())?;
        Ok(())
    }
}

/// The runner process: `TILEBOX_WF_CHILD=until` runs until the jobs in `TILEBOX_WF_JOBS` finish,
/// `forever` runs until a signal arrives.
#[test]
#[ignore = "the runner process of the process tests: run by them as a child (`--ignored --exact child_runner`), not a test"]
fn child_runner() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let url = std::env::var("TILEBOX_API_URL").unwrap();
    let dir = std::env::var("TILEBOX_WF_CACHE").unwrap();
    let runner = blocking_client(&url)
        .runner()
        .cache(LocalFileSystemCache::new(dir))
        .register::<MapRoot>()
        .register::<Square>()
        .register::<SumSquares>()
        .register::<FibonacciTask>()
        .register::<SumResultTask>()
        .register::<Hang>()
        .handle_signals(true)
        .build()
        .unwrap();
    match mode.as_str() {
        "until" => {
            let jobs: Vec<Uuid> = std::env::var("TILEBOX_WF_JOBS")
                .unwrap()
                .split(',')
                .map(|j| j.parse().unwrap())
                .collect();
            runner.run_until_jobs_finish(&jobs).unwrap();
        }
        _ => runner.run_forever().unwrap(),
    }
}

fn spawn_child(url: &str, cache: &std::path::Path, mode: &str, jobs: &[Uuid]) -> Process {
    let jobs: Vec<String> = jobs.iter().map(Uuid::to_string).collect();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_runner",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, mode)
        .env("TILEBOX_API_URL", url)
        .env("TILEBOX_WF_CACHE", cache)
        .env("TILEBOX_WF_JOBS", jobs.join(","))
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait(mut child: Process) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap()
}

fn group(dir: &std::path::Path, job: Uuid) -> CacheGroup {
    CacheGroup::for_job(Arc::new(LocalFileSystemCache::new(dir)), job)
}

/// `runs/<task id>/*` entries per task id.
fn runs_per_task(dir: &std::path::Path, job: Uuid) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir.join(job.to_string()).join("runs")).unwrap() {
        let entry = entry.unwrap();
        let n = std::fs::read_dir(entry.path())
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".tmp")
            })
            .count();
        out.insert(entry.file_name().to_string_lossy().into_owned(), n);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn map_reduce_and_fibonacci_across_three_runner_processes() {
    let server = server().await;
    let url = server.url();
    let client = client(&url);
    let dir = tempfile::tempdir().unwrap();
    let map = client
        .jobs()
        .submit("map-reduce", &MapRoot { n: 50 })
        .await
        .unwrap();
    let fib = client
        .jobs()
        .submit("fibonacci", &FibonacciTask { n: 10 })
        .await
        .unwrap();
    let children: Vec<Process> = (0..3)
        .map(|_| spawn_child(&url, dir.path(), "until", &[map.id, fib.id]))
        .collect();
    for child in children {
        assert!(wait(child).await.success());
    }

    assert_eq!(
        cached_u64(&group(dir.path(), fib.id), "fib_10").unwrap(),
        55
    );
    let g = group(dir.path(), map.id);
    assert_eq!(
        cached_u64(&g, "result").unwrap(),
        (0..50u64).map(|i| i * i).sum::<u64>()
    );
    let job = client.jobs().get(map.id).await.unwrap();
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.tasks.len(), 52);
    let runs = runs_per_task(dir.path(), map.id);
    assert_eq!(runs.len(), 52);
    assert!(
        runs.values().all(|&n| n == 1),
        "no task executed twice: {runs:?}"
    );
    let pids: HashSet<Vec<u8>> = job
        .tasks
        .iter()
        .map(|t| g.get(&format!("pids/{}", t.id)).unwrap().unwrap())
        .collect();
    assert!(
        pids.len() >= 2,
        "at least two runner processes executed tasks, got {}",
        pids.len()
    );
    let squares_end: SystemTime = job
        .tasks
        .iter()
        .filter(|t| t.display == "tests/Square")
        .map(|t| t.stopped_at.unwrap())
        .max()
        .unwrap();
    let sum = job
        .tasks
        .iter()
        .find(|t| t.display == "tests/SumSquares")
        .unwrap();
    assert!(
        sum.started_at.unwrap() >= squares_end,
        "the reducer started after every map task stopped"
    );
    let progress = job.progress("map").unwrap();
    assert_eq!((progress.total, progress.done), (50, 50));
    assert_eq!(
        client.jobs().progress(fib.id).await.unwrap().state,
        JobState::Completed
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkilled_runner_task_is_redelivered_after_lease_expiry() {
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("store.sqlite");
    let config = tilebox_server::ServerConfig::builder()
        .database(&db)
        .workflows(workflows_config(Duration::from_secs(2))) // 2 s leases, 100 ms reaper
        .build();
    let server = tilebox_server::serve(config).await.unwrap();
    let url = server.url();
    let client = client(&url);
    let dir = tempfile::tempdir().unwrap();
    let job = client
        .jobs()
        .submit("hang", &Hang { ms: 30_000 })
        .await
        .unwrap();
    let mut a = spawn_child(&url, dir.path(), "forever", &[]);
    let jobs = client.jobs();
    let task_id = eventually(Duration::from_secs(30), || {
        let jobs = jobs.clone();
        async move {
            let j = jobs.get(job.id).await.unwrap();
            (j.tasks[0].state == tilebox_workflows::TaskState::Running).then(|| j.tasks[0].id)
        }
    })
    .await;
    a.kill().unwrap(); // SIGKILL
    let a_pid = a.id();
    wait(a).await;

    let b = client
        .runner()
        .cache(LocalFileSystemCache::new(dir.path()))
        .register::<Hang>()
        .build_async()
        .await
        .unwrap();
    b.run_until_jobs_finish_async(&[job.id]).await.unwrap();
    let view = client.jobs().get(job.id).await.unwrap();
    assert_eq!(view.state, JobState::Completed);
    assert_eq!(view.tasks.len(), 1);
    assert_eq!(view.tasks[0].id, task_id, "the same task was re-delivered");
    let g = group(dir.path(), job.id);
    assert_eq!(
        g.get("retry_count").unwrap().unwrap(),
        b"1",
        "delivered again with retry_count = 1 (one lease expiry)"
    );
    assert_eq!(
        g.get("finished_by").unwrap().unwrap(),
        std::process::id().to_string().as_bytes()
    );
    assert_ne!(a_pid, std::process::id());
    assert_eq!(b.stats().executed, 1);
    server.shutdown().await;
    // The store's counters: one lease expiry, no failure.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (expiries, failures): (i64, i64) = conn
        .query_row(
            "SELECT lease_expiries, failures FROM wf_tasks WHERE id = ?",
            [task_id.as_bytes().as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((expiries, failures), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_the_running_task_finish_and_exits_zero() {
    let server = server().await;
    let url = server.url();
    let client = client(&url);
    let dir = tempfile::tempdir().unwrap();
    // retry_count is 0 on the first delivery, so Hang sleeps 1.5 s: well inside the 30 s grace period.
    let job = client
        .jobs()
        .submit("finish-on-sigterm", &Hang { ms: 1500 })
        .await
        .unwrap();
    let child = spawn_child(&url, dir.path(), "forever", &[]);
    let jobs = client.jobs();
    eventually(Duration::from_secs(30), || {
        let jobs = jobs.clone();
        async move { (jobs.progress(job.id).await.unwrap().state == JobState::Running).then_some(()) }
    })
    .await;
    let later = client
        .jobs()
        .submit("not-claimed", &Hang { ms: 0 })
        .await
        .unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        wait(child).await.success(),
        "the runner exits 0 after a graceful shutdown"
    );
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    assert_eq!(
        client.jobs().get(later.id).await.unwrap().tasks[0].state,
        tilebox_workflows::TaskState::Queued
    );
    server.shutdown().await;
}
