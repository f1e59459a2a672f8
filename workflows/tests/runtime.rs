//! Async code inside sync tasks, and blocking entry points inside a runtime (spec §5.3.13, runtime part).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde::{Deserialize, Serialize};
use tilebox_workflows::{
    CacheGroup, InMemoryCache, JobState, Task, TaskContext, TaskError, TaskIdentifier, TaskSpec,
    WorkflowsError,
};

/// Runs tokio-, async-std- and smol-based futures through `block_on` and records what worked.
#[derive(Serialize, Deserialize)]
struct MixedRuntimes {
    addr: String,
}

impl TaskSpec for MixedRuntimes {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/MixedRuntimes", "v1.0")
    }
}

impl Task for MixedRuntimes {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = ctx.job_cache()?;
        let addr = self.addr.clone();
        ctx.block_on(tokio::net::TcpStream::connect(addr.clone()))??;
        ctx.block_on(tokio::time::sleep(Duration::from_millis(5)))?;
        cache.put("tokio", "ok")?;
        ctx.block_on(async_std::net::TcpStream::connect(addr.clone()))??;
        ctx.block_on(async_std::task::sleep(Duration::from_millis(5)))?;
        cache.put("async-std", "ok")?;
        ctx.block_on(smol::net::TcpStream::connect(addr.clone()))??;
        ctx.block_on(smol::Timer::after(Duration::from_millis(5)))?;
        cache.put("smol", "ok")?;
        // From a future spawned on the runner's multi-thread runtime: parks that worker, no panic.
        let inner = ctx.clone();
        let handle = ctx
            .tokio_handle()
            .ok_or_else(|| TaskError::msg("no tokio runtime"))?;
        let spawned = ctx.block_on(handle.spawn(async move { inner.block_on(async { 7 }) }))?;
        cache.put("spawned", spawned?.map_err(TaskError::from)?.to_string())?;
        // Nested inside `block_on` on the same thread: no panic.
        let nested = ctx.block_on(async { ctx.block_on(async { 3 }) })?;
        cache.put("nested", nested?.to_string())?;
        // From an async task of a current-thread runtime: an error, not a panic.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let err = rt
            .block_on(async { ctx.block_on(async { 1 }) })
            .unwrap_err();
        assert!(matches!(err, WorkflowsError::BlockOn(_)));
        cache.put("current-thread", "error")?;
        Ok(())
    }
}

fn check(cache: &InMemoryCache, job: uuid::Uuid) {
    let g = CacheGroup::for_job(Arc::new(cache.clone()), job);
    for key in ["tokio", "async-std", "smol"] {
        assert_eq!(
            g.get(key).unwrap().as_deref(),
            Some(b"ok".as_slice()),
            "{key}"
        );
    }
    assert_eq!(g.get("spawned").unwrap().unwrap(), b"7");
    assert_eq!(g.get("nested").unwrap().unwrap(), b"3");
    assert_eq!(g.get("current-thread").unwrap().unwrap(), b"error");
}

#[test]
fn block_on_runs_any_future_with_the_blocking_runner() {
    let server = background_server();
    let client = blocking_client(&server.url());
    let cache = InMemoryCache::new();
    let runner = client
        .runner()
        .cache(cache.clone())
        .register::<MixedRuntimes>()
        .build()
        .unwrap();
    let job = client
        .submit(
            "mixed",
            &MixedRuntimes {
                addr: server.addr().to_string(),
            },
        )
        .unwrap();
    runner.run_all().unwrap();
    assert_eq!(
        client.job_progress(job.id).unwrap().state,
        JobState::Completed
    );
    check(&cache, job.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_on_works_when_the_runner_runs_inside_a_runtime() {
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let runner = client
        .runner()
        .cache(cache.clone())
        .register::<MixedRuntimes>()
        .build_async()
        .await
        .unwrap();
    let job = client
        .jobs()
        .submit(
            "mixed",
            &MixedRuntimes {
                addr: server.addr().to_string(),
            },
        )
        .await
        .unwrap();
    runner.run_all_async().await.unwrap();
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    check(&cache, job.id);
    server.shutdown().await;
}

/// One rule for blocking entry points: they work inside any runtime, even inside a current-thread one's
/// `block_on` (the blocking adapter's transport does its I/O on threads of its own).
#[test]
fn blocking_entry_points_work_inside_a_current_thread_runtime() {
    let server = background_server();
    let client = blocking_client(&server.url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = rt.block_on(async {
        let runner = client.runner().register::<Node>().build().unwrap();
        let job = client.submit("inside", &Node::leaf("a")).unwrap();
        runner.run_all().unwrap();
        client.job_progress(job.id).unwrap().state
    });
    assert_eq!(state, JobState::Completed);
}

/// A blocking workflows client over the *tokio* adapter inside a current-thread runtime's `block_on`: that
/// thread is the one that drives the runtime's I/O and timers, so a request sent on the runtime would wait for
/// itself (these calls hung). The transport sends them on an I/O runtime of its own instead: they complete,
/// also after async calls of the same client opened pooled connections on the current-thread runtime.
#[test]
fn blocking_calls_over_tokio_work_inside_a_current_thread_runtime() {
    let server = background_server();
    let url = server.url();
    let (tx, rx) = std::sync::mpsc::channel();
    // On a thread of its own, so that a hang fails the test instead of hanging it.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            let async_client = client(&url);
            let job = async_client
                .jobs()
                .submit("async", &Node::leaf("a"))
                .await?;
            let blocking = tilebox_workflows::BlockingClient::from(async_client);
            let again = blocking.job(job.id)?;
            let submitted = blocking.submit("blocking", &Node::leaf("b"))?;
            let found = blocking.job(submitted.id)?;
            Ok::<_, WorkflowsError>((job.id, again.id, submitted.id, found.id))
        });
        let _ = tx.send(outcome);
    });
    let (job, again, submitted, found) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the blocking calls completed")
        .expect("the blocking calls succeeded");
    assert_eq!(job, again);
    assert_eq!(submitted, found);
    assert_ne!(job, submitted);
}

/// The blocking client and a runner built from it share one connection pool. A connection the blocking
/// client opened must keep working for the runner afterwards, even while the blocking client is idle.
#[test]
fn a_runner_reuses_connections_the_blocking_client_opened() {
    let server = background_server();
    let client = blocking_client(&server.url());
    // Opens the pool's first connection from the blocking client.
    let job = client.submit("reuse", &Node::leaf("a")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let runner_client = client.clone();
    std::thread::spawn(move || {
        let result = runner_client
            .runner()
            .register::<Node>()
            .build()
            .and_then(|runner| runner.run_all());
        let _ = tx.send(result);
    });
    // A safety net against a hang, not a timing assertion.
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the runner finishes")
        .unwrap();
    assert_eq!(
        client.job_progress(job.id).unwrap().state,
        JobState::Completed
    );
}

/// The names of the threads a job's executions ran on, in execution order.
#[derive(Clone, Default)]
struct Spots(Arc<std::sync::Mutex<Vec<String>>>);

impl Spots {
    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Records the name of its thread, sleeps `ms`, and submits `children` leaves like itself.
#[derive(Serialize, Deserialize)]
struct Spot {
    children: u64,
    ms: u64,
}

impl TaskSpec for Spot {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/Spot", "v1.0")
    }
}

impl Task for Spot {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        ctx.data::<Spots>()?.0.lock().unwrap().push(name);
        std::thread::sleep(Duration::from_millis(self.ms));
        for _ in 0..self.children {
            ctx.submit_subtask(&Spot {
                children: 0,
                ms: self.ms,
            })?;
        }
        Ok(())
    }
}

/// Runs a job of one `Spot` with `children` leaves of `ms` each with a blocking runner on this thread and
/// returns where the executions ran.
fn spots(children: u64, ms: u64, concurrent: usize) -> Vec<String> {
    let server = background_server();
    let client = blocking_client(&server.url());
    let spots = Spots::default();
    let runner = client
        .runner()
        .data(spots.clone())
        .max_concurrent_tasks(concurrent)
        .register::<Spot>()
        .build()
        .unwrap();
    let job = client.submit("spots", &Spot { children, ms }).unwrap();
    runner.run_until_jobs_finish(&[job.id]).unwrap();
    assert_eq!(
        client.job_progress(job.id).unwrap().state,
        JobState::Completed
    );
    spots.names()
}

/// A blocking runner that runs one task at a time executes a sync task whose last execution was short on
/// its own (the caller's) thread; the first execution, with no history, runs on a task thread.
#[test]
fn short_sync_tasks_run_on_the_blocking_runners_thread() {
    let caller = std::thread::current().name().unwrap().to_owned();
    let names = spots(20, 0, 1);
    assert_eq!(names.len(), 21);
    assert_eq!(
        names[0], "tilebox-task",
        "the first execution has no history"
    );
    // Each no-op execution takes microseconds; a stall of a millisecond sends one back to a task thread,
    // so count rather than require all 20.
    let in_place = names.iter().filter(|n| **n == caller).count();
    assert!(in_place >= 1, "no execution ran in place: {names:?}");
    assert!(
        names.iter().all(|n| *n == caller || n == "tilebox-task"),
        "{names:?}"
    );
}

/// Long sync tasks, and any task of a runner that runs several at once, stay on task threads.
#[test]
fn long_or_concurrent_sync_tasks_stay_on_task_threads() {
    for names in [spots(4, 5, 1), spots(10, 0, 2)] {
        assert!(names.iter().all(|n| n == "tilebox-task"), "{names:?}");
    }
}

/// Inside a runtime (here a current-thread one) the caller's thread is the runtime's: sync tasks stay on task
/// threads, where `block_on` works as everywhere else.
#[test]
fn sync_tasks_stay_on_task_threads_when_the_runner_blocks_inside_a_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let names = rt.block_on(async { spots(10, 0, 1) });
    assert!(names.iter().all(|n| n == "tilebox-task"), "{names:?}");
}
