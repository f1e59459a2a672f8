//! Concurrent runners: `max_concurrent_tasks(n)` runs n tasks at once (observed through a rendezvous, not
//! timing), on tokio and on smol without any tokio runtime, and several concurrent runners never run a task
//! twice.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use common::*;
use serde::{Deserialize, Serialize};
use tilebox_workflows::{
    AsyncTask, AsyncTaskContext, JobState, RunnerBuilder, Task, TaskContext, TaskError,
    TaskIdentifier, TaskSpec, Uuid,
};

/// How long a rendezvous waits before it fails the task: a safety net against a hang, not a timing check.
const SAFETY_NET: Duration = Duration::from_secs(60);

/// Tasks arrived at the rendezvous, per job.
static ARRIVED: Mutex<Option<HashMap<Uuid, usize>>> = Mutex::new(None);
static ARRIVAL: Condvar = Condvar::new();

/// Count this task in and wait until `expected` tasks of the job are in at the same time.
fn rendezvous(job: Uuid, expected: usize) -> Result<(), TaskError> {
    let mut arrived = ARRIVED.lock().unwrap();
    *arrived
        .get_or_insert_with(HashMap::new)
        .entry(job)
        .or_default() += 1;
    ARRIVAL.notify_all();
    let (arrived, timeout) = ARRIVAL
        .wait_timeout_while(arrived, SAFETY_NET, |a| {
            a.as_ref().map_or(0, |m| m[&job]) < expected
        })
        .unwrap();
    if timeout.timed_out() {
        let n = arrived.as_ref().map_or(0, |m| m[&job]);
        return Err(TaskError::msg(format!(
            "only {n} of {expected} tasks ran at the same time"
        )));
    }
    Ok(())
}

/// Submits `n` [`Meet`] tasks that each wait until all `n` run at once.
#[derive(Serialize, Deserialize)]
struct Fan {
    n: usize,
    r#async: bool,
}

impl TaskSpec for Fan {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/concurrency/Fan", "v1.0")
    }
}

impl Task for Fan {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        for _ in 0..self.n {
            if self.r#async {
                ctx.submit_subtask(&MeetAsync { n: self.n })?;
            } else {
                ctx.submit_subtask(&Meet { n: self.n })?;
            }
        }
        Ok(())
    }
}

/// A sync task that blocks until `n` tasks of its job run at once.
#[derive(Serialize, Deserialize)]
struct Meet {
    n: usize,
}

impl TaskSpec for Meet {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/concurrency/Meet", "v1.0")
    }
}

fn no_tokio() -> Result<(), TaskError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(TaskError::msg("a tokio runtime is present"));
    }
    Ok(())
}

impl Task for Meet {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        if ctx.data::<NoTokio>().is_ok() {
            no_tokio()?;
            // smol futures work in `block_on` without tokio.
            ctx.block_on(smol::Timer::after(Duration::from_millis(1)))?;
        }
        rendezvous(ctx.job_id(), self.n)
    }
}

/// An async task that waits (without blocking the runner) until `n` tasks of its job run at once.
#[derive(Serialize, Deserialize)]
struct MeetAsync {
    n: usize,
}

impl TaskSpec for MeetAsync {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/concurrency/MeetAsync", "v1.0")
    }
}

impl AsyncTask for MeetAsync {
    async fn execute(&self, ctx: &AsyncTaskContext) -> Result<(), TaskError> {
        if ctx.data::<NoTokio>().is_ok() {
            no_tokio()?;
        }
        let job = ctx.job_id();
        let n = self.n;
        {
            let mut arrived = ARRIVED.lock().unwrap();
            *arrived
                .get_or_insert_with(HashMap::new)
                .entry(job)
                .or_default() += 1;
        }
        // Poll the count with a runtime-neutral timer so the runner's other futures keep running.
        let deadline = std::time::Instant::now() + SAFETY_NET;
        loop {
            let now = ARRIVED.lock().unwrap().as_ref().map_or(0, |m| m[&job]);
            if now >= n {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(TaskError::msg(format!(
                    "only {now} of {n} async tasks ran at the same time"
                )));
            }
            futures_timer_like(Duration::from_millis(2)).await;
        }
    }
}

/// A timer that needs no runtime: async-io's (smol's) reactor drives it.
async fn futures_timer_like(d: Duration) {
    smol::Timer::after(d).await;
}

/// Marker data: tasks assert that no tokio runtime is present.
struct NoTokio;

/// A runner for [`Fan`] jobs of sync or async meeting tasks, 8 at once.
fn meeting_runner(builder: RunnerBuilder) -> RunnerBuilder {
    builder
        .register::<Fan>()
        .register::<Meet>()
        .register_async::<MeetAsync>()
        .max_concurrent_tasks(8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_sync_tasks_overlap_in_one_runner_on_tokio() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let runner = client
        .runner()
        .register::<Fan>()
        .register::<Meet>()
        .max_concurrent_tasks(8)
        .build_async()
        .await
        .unwrap();
    let job = client
        .jobs()
        .submit(
            "overlap",
            &Fan {
                n: 8,
                r#async: false,
            },
        )
        .await
        .unwrap();
    runner.run_until_jobs_finish_async(&[job.id]).await.unwrap();
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    let stats = runner.stats();
    assert_eq!(stats.max_running, 8);
    assert_eq!(stats.computed, 9);
    assert_eq!(stats.running, 0);
    server.shutdown().await;
}

/// The same on smol with the async-std adapter: sync and async tasks overlap, and no tokio runtime exists
/// inside the tasks.
#[test]
fn eight_tasks_overlap_on_smol_without_tokio() {
    if common::skip() {
        return;
    }
    let server = background_server();
    let client = async_std_client(&server.url());
    smol::block_on(async {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let runner = meeting_runner(client.runner().data(NoTokio))
            .build_async()
            .await
            .unwrap();
        for r#async in [false, true] {
            let job = client
                .jobs()
                .submit("overlap", &Fan { n: 8, r#async })
                .await
                .unwrap();
            runner.run_until_jobs_finish_async(&[job.id]).await.unwrap();
            let job = client.jobs().get(job.id).await.unwrap();
            assert_eq!(
                job.state,
                JobState::Completed,
                "async: {async}: {:?}",
                job.tasks
            );
        }
        assert_eq!(runner.stats().max_running, 8);
        assert_eq!(runner.stats().failed, 0);
    });
}

/// When the last tasks of a job finish together, the runner reports them and sees the job is done, rather
/// than waiting out an idle answer it got for a claim meanwhile: this server suggests 10 minutes of idling
/// (the runner caps it at 5), so a runner that waited would hit the safety net.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_finishing_together_end_the_run_without_waiting_out_an_idle_answer() {
    if common::skip() {
        return;
    }
    let server = server_with(
        tilebox_server::WorkflowsConfig::builder()
            .lease(Duration::from_secs(2))
            .idle(Duration::from_secs(600))
            .build(),
    )
    .await;
    let client = client(&server.url());
    let runner = meeting_runner(client.runner()).build_async().await.unwrap();
    for r#async in [false, true] {
        let job = client
            .jobs()
            .submit("together", &Fan { n: 8, r#async })
            .await
            .unwrap();
        tokio::time::timeout(SAFETY_NET, runner.run_until_jobs_finish_async(&[job.id]))
            .await
            .unwrap_or_else(|_| panic!("async: {async}: the run did not end with its job"))
            .unwrap();
        assert_eq!(
            client.jobs().progress(job.id).await.unwrap().state,
            JobState::Completed,
            "async: {async}"
        );
    }
    assert_eq!(runner.stats().max_running, 8);
    server.shutdown().await;
}

/// Executions per task id, over all runners of this process.
static EXECUTIONS: Mutex<Option<HashMap<Uuid, usize>>> = Mutex::new(None);

/// Submits `n` [`Count`] leaves.
#[derive(Serialize, Deserialize)]
struct Spread {
    n: usize,
}

impl TaskSpec for Spread {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/concurrency/Spread", "v1.0")
    }
}

impl Task for Spread {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        for i in 0..self.n {
            ctx.submit_subtask(&Count { i })?;
        }
        Ok(())
    }
}

/// Counts its execution.
#[derive(Serialize, Deserialize)]
struct Count {
    i: usize,
}

impl TaskSpec for Count {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/concurrency/Count", "v1.0")
    }
}

impl AsyncTask for Count {
    async fn execute(&self, ctx: &AsyncTaskContext) -> Result<(), TaskError> {
        *EXECUTIONS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .entry(ctx.task_id())
            .or_default() += 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_runners_never_run_a_task_twice() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let job = client
        .jobs()
        .submit("spread", &Spread { n: 1000 })
        .await
        .unwrap();
    let mut runners = Vec::new();
    for _ in 0..4 {
        let runner = client
            .runner()
            .register::<Spread>()
            .register_async::<Count>()
            .max_concurrent_tasks(8)
            .build_async()
            .await
            .unwrap();
        runners.push(tokio::spawn(async move {
            runner.run_until_jobs_finish_async(&[job.id]).await.unwrap();
            runner.stats()
        }));
    }
    let mut executed = 0;
    for r in runners {
        executed += r.await.unwrap().executed;
    }
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    let counts = EXECUTIONS.lock().unwrap().take().unwrap_or_default();
    assert_eq!(counts.len(), 1000);
    assert!(counts.values().all(|&n| n == 1), "a task ran twice");
    assert_eq!(executed, 1001);
    server.shutdown().await;
}
