//! Acceptance tests of the state machine against the in-process server (spec §5.3: 3, 5, 6, 7, 8, 9, 10, 12).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde::{Deserialize, Serialize};
use tilebox_core::wire::workflows::v1 as wf;
use tilebox_workflows::{
    AsyncTask, AsyncTaskContext, CacheGroup, Client, InMemoryCache, JobState, Runner,
    SubmitOptions, Task, TaskContext, TaskError, TaskIdentifier, TaskSpec, TaskState, Uuid,
};

async fn runner(client: &Client, cache: &InMemoryCache) -> Runner {
    client
        .runner()
        .cache(cache.clone())
        .register::<Node>()
        .build_async()
        .await
        .unwrap()
}

fn summary<'a>(job: &'a tilebox_workflows::Job, name: &str) -> &'a tilebox_workflows::TaskSummary {
    job.tasks
        .iter()
        .find(|t| t.display == name || t.display.starts_with(&format!("{name}\n")))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dependants_wait_for_whole_subtrees() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let x = Node::leaf("X")
        .child(Node::leaf("X1").sleeping(100), &[], false)
        .child(Node::leaf("X2").sleeping(100), &[], false);
    let root = Node::leaf("root")
        .child(x, &[], false)
        .child(Node::leaf("Y"), &[0], false);
    let job = client.jobs().submit("subtrees", &root).await.unwrap();
    let (a, b) = (
        Arc::new(runner(&client, &cache).await),
        Arc::new(runner(&client, &cache).await),
    );
    let ids = [job.id];
    let (ra, rb) = tokio::join!(
        a.run_until_jobs_finish_async(&ids),
        b.run_until_jobs_finish_async(&ids)
    );
    ra.unwrap();
    rb.unwrap();
    let job = client.jobs().get(job.id).await.unwrap();
    assert_eq!(job.state, JobState::Completed);
    let y_start = summary(&job, "Y").started_at.unwrap();
    for leaf in ["X1", "X2"] {
        assert!(
            y_start >= summary(&job, leaf).stopped_at.unwrap(),
            "Y started before {leaf} finished"
        );
    }
    assert_eq!(a.stats().executed + b.stats().executed, 5);
    server.shutdown().await;
}

#[derive(Serialize, Deserialize)]
struct Flaky;

impl TaskSpec for Flaky {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/Flaky", "v1.0")
    }
}

impl Task for Flaky {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = ctx.job_cache()?;
        cache.put(&format!("runs/Flaky/{}", Uuid::new_v4()), "")?;
        if cache.contains("ok")? {
            Ok(())
        } else {
            Err(TaskError::msg("not yet"))
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FlakyRoot;

impl TaskSpec for FlakyRoot {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/FlakyRoot", "v1.0")
    }
}

impl Task for FlakyRoot {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        // An independent sibling first (older), then the flaky task with two retries.
        ctx.submit_subtask(&Node::leaf("sibling"))?;
        ctx.submit_subtask_with(
            &Flaky,
            tilebox_workflows::SubtaskOptions::new().max_retries(2),
        )?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_then_failure_then_retry_job_completes() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let job = client.jobs().submit("flaky", &FlakyRoot).await.unwrap();
    // This runner cannot run the sibling: it only sees the flaky task fail three times.
    let a = client
        .runner()
        .cache(cache.clone())
        .register::<FlakyRoot>()
        .register::<Flaky>()
        .build_async()
        .await
        .unwrap();
    a.run_all_async().await.unwrap();
    assert_eq!(
        runs(&cache, job.id, "Flaky"),
        3,
        "max_retries = 2 means three executions"
    );
    let view = client.jobs().get(job.id).await.unwrap();
    assert_eq!(view.state, JobState::Failed);
    assert_eq!(summary(&view, "tests/Flaky").state, TaskState::Failed);
    assert!(
        summary(&view, "tests/Flaky").display.contains("not yet"),
        "failure text is kept in the display"
    );

    // The independent sibling is not handed out once the job failed.
    let b = runner(&client, &cache).await;
    b.run_all_async().await.unwrap();
    assert_eq!(b.stats().executed, 0);
    assert_eq!(
        summary(&client.jobs().get(job.id).await.unwrap(), "sibling").state,
        TaskState::Queued
    );

    assert_eq!(client.jobs().retry(job.id).await.unwrap(), 1);
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Running
    );
    CacheGroup::for_job(Arc::new(cache.clone()), job.id)
        .put("ok", "1")
        .unwrap();
    let c = client
        .runner()
        .cache(cache.clone())
        .register::<Flaky>()
        .register::<Node>()
        .build_async()
        .await
        .unwrap();
    c.run_until_jobs_finish_async(&[job.id]).await.unwrap();
    let view = client.jobs().get(job.id).await.unwrap();
    assert_eq!(view.state, JobState::Completed);
    assert_eq!(view.count(TaskState::Computed), 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_workflow_failure_requeues_without_counting_a_retry() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let job = client
        .jobs()
        .submit("non-workflow", &Node::leaf("only"))
        .await
        .unwrap();
    let cluster = client.clusters().default_cluster().await.unwrap().slug;
    let rpc = client.rpc();
    let caps = wf::NextTaskToRun {
        cluster_slug: cluster,
        identifiers: vec![wf::TaskIdentifier {
            name: "tests/Node".into(),
            version: "v1.0".into(),
        }],
    };
    let resp: wf::NextTaskResponse = rpc
        .call(
            "workflows.v1.TaskService/NextTask",
            &wf::NextTaskRequest {
                computed_task: None,
                next_task_to_run: Some(caps),
            },
        )
        .await
        .unwrap();
    let task = resp.next_task.unwrap();
    let state: wf::TaskStateResponse = rpc
        .call(
            "workflows.v1.TaskService/TaskFailed",
            &wf::TaskFailedRequest {
                task_id: task.id.clone(),
                display: "only\nrunner went away".into(),
                was_workflow_error: false,
                progress_updates: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(state.state, wf::TaskState::Queued as i32);
    // max_retries is 0: had the failure counted, the task would be FAILED now. It runs and succeeds instead.
    let r = runner(&client, &cache).await;
    r.run_all_async().await.unwrap();
    let view = client.jobs().get(job.id).await.unwrap();
    assert_eq!(view.state, JobState::Completed);
    let retry_seen: Vec<String> = cache
        .keys()
        .into_iter()
        .filter(|k| k.contains("/runs/only/"))
        .map(|k| {
            String::from_utf8(
                tilebox_workflows::JobCache::get(&cache, &k)
                    .unwrap()
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(
        retry_seen,
        vec!["0".to_owned()],
        "retry_count unchanged by a non-workflow failure"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_subtask_and_optional_subbranch() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    // Optional subtask: its dependant still runs.
    let root = Node::leaf("root")
        .child(Node::leaf("opt").failing(), &[], true)
        .child(Node::leaf("dependant"), &[0], false);
    let job = client
        .jobs()
        .submit("optional-subtask", &root)
        .await
        .unwrap();
    runner(&client, &cache).await.run_all_async().await.unwrap();
    let view = client.jobs().get(job.id).await.unwrap();
    assert_eq!(view.state, JobState::Completed);
    assert_eq!(
        (
            view.count(TaskState::Computed),
            view.count(TaskState::FailedOptional)
        ),
        (2, 1)
    );
    assert_eq!(runs(&cache, job.id, "dependant"), 1);

    // Optional subbranch: a non-optional failure inside skips the rest of the branch, the job completes.
    let branch = Node::leaf("branch")
        .child(Node::leaf("fails").failing(), &[], false)
        .child(Node::leaf("after"), &[0], false);
    let root = Node::leaf("root")
        .child(branch, &[], true)
        .child(Node::leaf("other"), &[], false);
    let job = client
        .jobs()
        .submit("optional-subbranch", &root)
        .await
        .unwrap();
    runner(&client, &cache).await.run_all_async().await.unwrap();
    let view = client.jobs().get(job.id).await.unwrap();
    assert_eq!(view.state, JobState::Completed);
    assert_eq!(
        (
            view.count(TaskState::Computed),
            view.count(TaskState::FailedOptional),
            view.count(TaskState::Skipped)
        ),
        (3, 1, 1)
    );
    assert_eq!(summary(&view, "after").state, TaskState::Skipped);
    assert_eq!(runs(&cache, job.id, "after"), 0);
    server.shutdown().await;
}

/// Waits (as a running task) until its own job was canceled, then submits two children.
#[derive(Serialize, Deserialize)]
struct WaitForCancel;

impl TaskSpec for WaitForCancel {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/WaitForCancel", "v1.0")
    }
}

impl AsyncTask for WaitForCancel {
    async fn execute(&self, ctx: &AsyncTaskContext) -> Result<(), TaskError> {
        let client = ctx.data::<Client>()?.clone();
        while client.jobs().progress(ctx.job_id()).await?.state != JobState::Canceled {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ctx.submit_subtask(&Node::leaf("c1"))?;
        ctx.submit_subtask(&Node::leaf("c2"))?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_running_then_resume() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let job = client
        .jobs()
        .submit("cancel", &WaitForCancel)
        .await
        .unwrap();
    let r = Arc::new(
        client
            .runner()
            .cache(cache.clone())
            .data(client.clone())
            .register_async::<WaitForCancel>()
            .register::<Node>()
            .build_async()
            .await
            .unwrap(),
    );
    let handle = r.shutdown_handle();
    let running = tokio::spawn({
        let r = Arc::clone(&r);
        async move { r.run_forever_async().await }
    });
    let jobs = client.jobs();
    eventually(Duration::from_secs(20), || {
        let jobs = jobs.clone();
        async move { (jobs.progress(job.id).await.unwrap().state == JobState::Running).then_some(()) }
    })
    .await;
    client.jobs().cancel(job.id).await.unwrap();
    let view = eventually(Duration::from_secs(20), || {
        let jobs = jobs.clone();
        async move {
            let v = jobs.get(job.id).await.unwrap();
            (v.tasks.len() == 3 && v.tasks[0].state == TaskState::Computed).then_some(v)
        }
    })
    .await;
    assert_eq!(view.state, JobState::Canceled);
    assert_eq!(
        view.count(TaskState::Queued),
        2,
        "subtasks of a canceled job are stored but not handed out"
    );
    handle.shutdown();
    running.await.unwrap().unwrap();
    // A fresh runner gets nothing while the job is canceled.
    let idle = runner(&client, &cache).await;
    idle.run_all_async().await.unwrap();
    assert_eq!(idle.stats().executed, 0);

    assert_eq!(client.jobs().retry(job.id).await.unwrap(), 0);
    runner(&client, &cache)
        .await
        .run_until_jobs_finish_async(&[job.id])
        .await
        .unwrap();
    let view = client.jobs().get(job.id).await.unwrap();
    assert_eq!(view.state, JobState::Completed);
    assert_eq!(view.count(TaskState::Computed), 3);
    server.shutdown().await;
}

/// Sleeps, then records that it finished (for the lease and shutdown tests).
#[derive(Serialize, Deserialize)]
struct Sleeper {
    ms: u64,
    /// Sleep only on the first execution (later executions return at once).
    once: bool,
}

impl TaskSpec for Sleeper {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/Sleeper", "v1.0")
    }
}

impl AsyncTask for Sleeper {
    async fn execute(&self, ctx: &AsyncTaskContext) -> Result<(), TaskError> {
        let cache = ctx.job_cache()?;
        let first = !cache.contains("started")?;
        cache.put("started", "1")?;
        cache.put(
            &format!("runs/sleeper/{}", Uuid::new_v4()),
            ctx.retry_count().to_string(),
        )?;
        if first || !self.once {
            tokio::time::sleep(Duration::from_millis(self.ms)).await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_extension_keeps_a_long_task_alive() {
    if common::skip() {
        return;
    }
    let server = server().await; // 2 s leases
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let job = client
        .jobs()
        .submit(
            "long",
            &Sleeper {
                ms: 5000,
                once: false,
            },
        )
        .await
        .unwrap();
    let mk = || async {
        Arc::new(
            client
                .runner()
                .cache(cache.clone())
                .register_async::<Sleeper>()
                .build_async()
                .await
                .unwrap(),
        )
    };
    let (a, b) = (mk().await, mk().await);
    let ids = [job.id];
    let (ra, rb) = tokio::join!(
        a.run_until_jobs_finish_async(&ids),
        b.run_until_jobs_finish_async(&ids)
    );
    ra.unwrap();
    rb.unwrap();
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    assert_eq!(
        runs(&cache, job.id, "sleeper"),
        1,
        "executed once, never re-delivered"
    );
    assert_eq!(a.stats().executed + b.stats().executed, 1);
    assert!(
        a.stats().extensions_granted + b.stats().extensions_granted >= 2,
        "extensions were granted"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_finishes_or_requeues_the_running_task() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let jobs = client.jobs();

    // 1. The task finishes within the grace period: it is reported computed and nothing new is claimed.
    let job = jobs
        .submit(
            "finishes",
            &Sleeper {
                ms: 300,
                once: false,
            },
        )
        .await
        .unwrap();
    let r = Arc::new(
        client
            .runner()
            .cache(cache.clone())
            .register_async::<Sleeper>()
            .build_async()
            .await
            .unwrap(),
    );
    let running = tokio::spawn({
        let r = Arc::clone(&r);
        async move { r.run_forever_async().await }
    });
    eventually(Duration::from_secs(20), || {
        let jobs = jobs.clone();
        async move { (jobs.progress(job.id).await.unwrap().state == JobState::Running).then_some(()) }
    })
    .await;
    let queued = jobs
        .submit("not-claimed", &Sleeper { ms: 0, once: false })
        .await
        .unwrap();
    r.shutdown_handle().shutdown();
    running.await.unwrap().unwrap();
    assert_eq!(jobs.get(job.id).await.unwrap().state, JobState::Completed);
    assert_eq!(
        jobs.get(queued.id).await.unwrap().tasks[0].state,
        TaskState::Queued
    );
    assert_eq!(r.stats().executed, 1);

    // 2. The task outlives the grace period: reported as a non-workflow failure, requeued, finished by another.
    let job = jobs
        .submit(
            "interrupted",
            &Sleeper {
                ms: 60_000,
                once: true,
            },
        )
        .await
        .unwrap();
    let r = Arc::new(
        client
            .runner()
            .cache(cache.clone())
            .grace_period(Duration::from_millis(200))
            .register_async::<Sleeper>()
            .build_async()
            .await
            .unwrap(),
    );
    let running = tokio::spawn({
        let r = Arc::clone(&r);
        let ids = [job.id];
        async move { r.run_until_jobs_finish_async(&ids).await }
    });
    eventually(Duration::from_secs(20), || {
        let jobs = jobs.clone();
        async move { (jobs.progress(job.id).await.unwrap().state == JobState::Running).then_some(()) }
    })
    .await;
    r.shutdown_handle().shutdown();
    running.await.unwrap().unwrap();
    let view = jobs.get(job.id).await.unwrap();
    assert_eq!(view.tasks[0].state, TaskState::Queued);
    assert!(view.tasks[0].display.contains("interrupted"));
    let other = client
        .runner()
        .cache(cache.clone())
        .register_async::<Sleeper>()
        .build_async()
        .await
        .unwrap();
    other
        .run_until_jobs_finish_async(&[job.id, queued.id])
        .await
        .unwrap();
    assert_eq!(
        jobs.progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    let retries: Vec<String> = cache
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&format!("{}/runs/sleeper/", job.id)))
        .map(|k| {
            String::from_utf8(
                tilebox_workflows::JobCache::get(&cache, &k)
                    .unwrap()
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(
        retries,
        vec!["0".to_owned(), "0".to_owned()],
        "the interruption did not count as a retry"
    );
    server.shutdown().await;
}

macro_rules! versioned {
    ($ty:ident, $version:literal) => {
        #[derive(Serialize, Deserialize)]
        struct $ty;
        impl TaskSpec for $ty {
            fn identifier() -> TaskIdentifier {
                TaskIdentifier::new("tests/Versioned", $version)
            }
        }
        impl Task for $ty {
            fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
                ctx.job_cache()?.put("ran", $version)?;
                Ok(())
            }
        }
    };
}
versioned!(V13, "v1.3");
versioned!(V15, "v1.5");
versioned!(V12, "v1.2");
versioned!(V20, "v2.0");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_cluster_routing() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let job = client.jobs().submit("versions", &V13).await.unwrap();
    for r in [
        client
            .runner()
            .cache(cache.clone())
            .register::<V12>()
            .build_async()
            .await
            .unwrap(),
        client
            .runner()
            .cache(cache.clone())
            .register::<V20>()
            .build_async()
            .await
            .unwrap(),
    ] {
        r.run_all_async().await.unwrap();
        assert_eq!(r.stats().executed, 0, "incompatible versions only idle");
    }
    let r = client
        .runner()
        .cache(cache.clone())
        .register::<V15>()
        .build_async()
        .await
        .unwrap();
    r.run_all_async().await.unwrap();
    assert_eq!(r.stats().executed, 1);
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    let group = CacheGroup::for_job(Arc::new(cache.clone()), job.id);
    assert_eq!(group.get("ran").unwrap().unwrap(), b"v1.5");

    // A subtask sent to cluster B runs only on the runner polling B; "" means the default cluster.
    let b = client.clusters().create("cluster b").await.unwrap();
    let root = Node::leaf("root").child_on(Node::leaf("on-b"), &b.slug);
    let job = client
        .jobs()
        .submit_with("clusters", &root, SubmitOptions::new().cluster(""))
        .await
        .unwrap();
    let default_runner = runner(&client, &cache).await;
    default_runner.run_all_async().await.unwrap();
    assert_eq!(default_runner.stats().executed, 1);
    assert_eq!(runs(&cache, job.id, "on-b"), 0);
    let b_runner = client
        .runner()
        .cluster(b.slug.clone())
        .cache(cache.clone())
        .register::<Node>()
        .build_async()
        .await
        .unwrap();
    b_runner.run_all_async().await.unwrap();
    assert_eq!(b_runner.stats().executed, 1);
    assert_eq!(runs(&cache, job.id, "on-b"), 1);
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_runners_never_run_a_task_twice() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let job = client
        .jobs()
        .submit("stress", &Spawn { n: 200 })
        .await
        .unwrap();
    let mut runners = Vec::new();
    for _ in 0..8 {
        runners.push(Arc::new(
            client
                .runner()
                .cache(cache.clone())
                .register::<Node>()
                .register::<Spawn>()
                .build_async()
                .await
                .unwrap(),
        ));
    }
    let ids = [job.id];
    let results =
        futures::future::join_all(runners.iter().map(|r| r.run_until_jobs_finish_async(&ids)))
            .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    for i in 0..200 {
        assert_eq!(runs(&cache, job.id, &format!("c{i}")), 1, "c{i}");
    }
    let executed: u64 = runners.iter().map(|r| r.stats().executed).sum();
    assert_eq!(executed, 201);
    assert!(
        runners.iter().filter(|r| r.stats().executed > 0).count() >= 2,
        "work was spread over runners"
    );
    server.shutdown().await;
}

/// Submits `n` leaves named `c0..c{n-1}`.
#[derive(Serialize, Deserialize)]
struct Spawn {
    n: usize,
}

impl TaskSpec for Spawn {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/Spawn", "v1.0")
    }
}

impl Task for Spawn {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let leaves: Vec<Node> = (0..self.n).map(|i| Node::leaf(&format!("c{i}"))).collect();
        ctx.submit_subtasks(&leaves)?;
        Ok(())
    }
}
