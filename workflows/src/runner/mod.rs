//! The task runner: polls `NextTask`, executes registered tasks one at a time, reports results.
//!
//! One runner executes one task at a time (like the official runners); start several runners (processes)
//! to run more at once. Sync [`Task`]s run on the blocking pool of the runner's tokio runtime, where
//! [`TaskContext::block_on`](crate::TaskContext::block_on) is legal; [`AsyncTask`]s are awaited on the
//! runtime. Leases are extended from a dedicated thread. Panics become task failures.
//!
//! Entry points: blocking [`Runner::run_forever`], [`Runner::run_all`], [`Runner::run_until_jobs_finish`]
//! (they create a multi-thread runtime, and return [`WorkflowsError::InsideAsyncRuntime`] when called
//! from inside an async runtime), and their `_async` variants for callers that already run a multi-thread
//! tokio runtime.

mod heartbeat;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tilebox_core::wire::workflows::v1 as wf;
use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cache::JobCache;
use crate::client::{Client, id_msg, uuid_of};
use crate::context::{AsyncTaskContext, ExecutionContext, RunnerData, RunnerShared, TaskContext};
use crate::error::{Result, WorkflowsError};
use crate::submission::build_submissions;
use crate::task::{AsyncTask, Task, TaskIdentifier};
use heartbeat::Heartbeat;

/// Longest failure display sent to the server, in bytes.
const MAX_DISPLAY: usize = 1024;

type Exec = Arc<
    dyn Fn(&[u8], ExecutionContext, &Handle) -> Result<JoinHandle<Result<(), String>>>
        + Send
        + Sync,
>;

/// Counters of a runner.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) executed: AtomicU64,
    pub(crate) computed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) extensions_granted: AtomicU64,
}

/// A snapshot of a runner's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunnerStats {
    /// Task executions started.
    pub executed: u64,
    /// Executions reported as computed.
    pub computed: u64,
    /// Executions reported as failed (errors, panics, interruptions).
    pub failed: u64,
    /// Lease extensions the server granted.
    pub extensions_granted: u64,
}

/// Requests a runner to stop: it takes no new task, lets the running one finish within the grace period.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    token: CancellationToken,
}

impl ShutdownHandle {
    /// Ask the runner to stop.
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Whether shutdown was requested.
    pub fn is_shutdown(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// Configures a [`Runner`]. Get one from [`Client::runner`].
pub struct RunnerBuilder {
    client: Client,
    cluster: String,
    cache: Option<Arc<dyn JobCache>>,
    data: RunnerData,
    tasks: Vec<(TaskIdentifier, Exec)>,
    errors: Vec<WorkflowsError>,
    grace: Duration,
    signals: bool,
}

impl std::fmt::Debug for RunnerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerBuilder")
            .field("cluster", &self.cluster)
            .field(
                "tasks",
                &self
                    .tasks
                    .iter()
                    .map(|t| t.0.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("task panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("task panicked: {s}")
    } else {
        "task panicked".to_owned()
    }
}

impl RunnerBuilder {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            cluster: String::new(),
            cache: None,
            data: RunnerData::default(),
            tasks: Vec::new(),
            errors: Vec::new(),
            grace: Duration::from_secs(30),
            signals: false,
        }
    }

    /// Poll this cluster (default: the default cluster, resolved when the runner is built).
    pub fn cluster(mut self, slug: impl Into<String>) -> Self {
        self.cluster = slug.into();
        self
    }

    /// The job cache tasks reach through `ctx.job_cache()`.
    pub fn cache(mut self, cache: impl JobCache) -> Self {
        self.cache = Some(Arc::new(cache));
        self
    }

    /// A value tasks reach through `ctx.data::<T>()` (e.g. a datasets client built once).
    pub fn data<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.data.insert(value);
        self
    }

    /// How long a running task may take to finish after shutdown was requested (default 30 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Stop on SIGTERM / SIGINT (Ctrl-C) while running: the first signal shuts down gracefully, a second one
    /// exits the process at once.
    pub fn handle_signals(mut self, enabled: bool) -> Self {
        self.signals = enabled;
        self
    }

    fn add(&mut self, identifier: TaskIdentifier, exec: Exec) {
        if let Err(e) = identifier.validate() {
            self.errors.push(e);
        } else if self.tasks.iter().any(|(i, _)| *i == identifier) {
            self.errors
                .push(WorkflowsError::DuplicateTask(identifier.to_string()));
        } else {
            self.tasks.push((identifier, exec));
        }
    }

    /// Register a sync task type.
    pub fn register<T: Task>(mut self) -> Self {
        let exec: Exec = Arc::new(|input, ctx, handle| {
            let task = T::decode_input(input)?;
            Ok(handle.spawn_blocking(move || {
                let ctx = TaskContext::new(ctx);
                match std::panic::catch_unwind(AssertUnwindSafe(|| task.execute(&ctx))) {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(payload) => Err(panic_message(&*payload)),
                }
            }))
        });
        self.add(T::identifier(), exec);
        self
    }

    /// Register an async task type.
    pub fn register_async<T: AsyncTask>(mut self) -> Self {
        let exec: Exec = Arc::new(|input, ctx, handle| {
            let task = T::decode_input(input)?;
            Ok(handle.spawn(async move {
                let ctx = AsyncTaskContext::new(ctx);
                task.execute(&ctx).await.map_err(|e| e.to_string())
            }))
        });
        self.add(T::identifier(), exec);
        self
    }

    fn check(&mut self) -> Result<()> {
        if let Some(e) = self.errors.drain(..).next() {
            return Err(e);
        }
        Ok(())
    }

    /// Build the runner on the caller's tokio runtime (resolves the cluster with `GetCluster`).
    pub async fn build_async(mut self) -> Result<Runner> {
        self.check()?;
        let cluster = self.client.clusters().get(&self.cluster).await?.slug;
        self.finish(cluster, None)
    }

    /// Build the runner with its own multi-thread runtime (resolves the cluster with `GetCluster`).
    ///
    /// Returns [`WorkflowsError::InsideAsyncRuntime`] when called from inside an async runtime; use
    /// [`RunnerBuilder::build_async`] there.
    pub fn build(mut self) -> Result<Runner> {
        if Handle::try_current().is_ok() {
            return Err(WorkflowsError::InsideAsyncRuntime("RunnerBuilder::build"));
        }
        self.check()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("tilebox-runner")
            .build()?;
        let clusters = self.client.clusters();
        let slug = self.cluster.clone();
        let cluster = runtime
            .block_on(async move { clusters.get(&slug).await })?
            .slug;
        self.finish(cluster, Some(runtime))
    }

    fn finish(self, cluster: String, runtime: Option<Runtime>) -> Result<Runner> {
        let stats = Arc::new(Stats::default());
        let heartbeat = Heartbeat::spawn(self.client.rpc().clone(), Arc::clone(&stats))?;
        let mut tasks: HashMap<TaskIdentifier, Exec> = HashMap::new();
        let mut identifiers = Vec::new();
        for (id, exec) in self.tasks {
            identifiers.push(id.clone());
            tasks.insert(id, exec);
        }
        Ok(Runner {
            inner: Arc::new(Inner {
                client: self.client,
                cluster: cluster.clone(),
                identifiers,
                tasks,
                shared: Arc::new(RunnerShared {
                    cache: self.cache,
                    data: self.data,
                    cluster,
                }),
                grace: self.grace,
                signals: self.signals,
                shutdown: CancellationToken::new(),
                stats,
                heartbeat,
            }),
            runtime: Mutex::new(runtime),
        })
    }
}

struct Inner {
    client: Client,
    cluster: String,
    identifiers: Vec<TaskIdentifier>,
    tasks: HashMap<TaskIdentifier, Exec>,
    shared: Arc<RunnerShared>,
    grace: Duration,
    signals: bool,
    shutdown: CancellationToken,
    stats: Arc<Stats>,
    heartbeat: Heartbeat,
}

/// A task runner. See the module docs.
pub struct Runner {
    inner: Arc<Inner>,
    runtime: Mutex<Option<Runtime>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("cluster", &self.inner.cluster)
            .field(
                "tasks",
                &self
                    .inner
                    .identifiers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Never block in drop (it may run inside an async context): leave running blocking tasks behind.
        if let Some(rt) = self
            .runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
enum Mode {
    Forever,
    All,
    UntilJobs(Vec<Uuid>),
}

enum Executed {
    /// Report this with the next `NextTask` call.
    Computed(wf::ComputedTask),
    /// Already reported with `TaskFailed`.
    Failed,
    /// Shutdown grace period ran out; already reported as a non-workflow failure.
    Interrupted,
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn progress_wire(p: &[(String, u64, u64)]) -> Vec<wf::Progress> {
    p.iter()
        .map(|(label, total, done)| wf::Progress {
            label: label.clone(),
            total: *total,
            done: *done,
        })
        .collect()
}

impl Runner {
    /// The cluster this runner polls.
    pub fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    /// A handle that stops the runner gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            token: self.inner.shutdown.clone(),
        }
    }

    /// The runner's counters.
    pub fn stats(&self) -> RunnerStats {
        let s = &self.inner.stats;
        RunnerStats {
            executed: s.executed.load(Ordering::Relaxed),
            computed: s.computed.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            extensions_granted: s.extensions_granted.load(Ordering::Relaxed),
        }
    }

    fn blocking(&self, what: &'static str, mode: Mode) -> Result<()> {
        if Handle::try_current().is_ok() {
            return Err(WorkflowsError::InsideAsyncRuntime(what));
        }
        let mut guard = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("tilebox-runner")
                    .build()?,
            );
        }
        let handle = match guard.as_ref() {
            Some(rt) => rt.handle().clone(),
            None => return Err(WorkflowsError::Invalid("runner runtime missing".into())),
        };
        drop(guard);
        let inner = Arc::clone(&self.inner);
        handle.block_on(async move { inner.run(mode).await })
    }

    /// Run until shut down (blocking). Errors with [`WorkflowsError::InsideAsyncRuntime`] inside a runtime.
    pub fn run_forever(&self) -> Result<()> {
        self.blocking("Runner::run_forever", Mode::Forever)
    }

    /// Run until there is no more work (blocking): stops at the first idle answer to a request that reported
    /// nothing. With several runners, prefer [`Runner::run_until_jobs_finish`].
    pub fn run_all(&self) -> Result<()> {
        self.blocking("Runner::run_all", Mode::All)
    }

    /// Run until every listed job is completed, failed or canceled (blocking).
    pub fn run_until_jobs_finish(&self, jobs: &[Uuid]) -> Result<()> {
        self.blocking(
            "Runner::run_until_jobs_finish",
            Mode::UntilJobs(jobs.to_vec()),
        )
    }

    /// Run until shut down, on the caller's (multi-thread) tokio runtime.
    pub async fn run_forever_async(&self) -> Result<()> {
        Arc::clone(&self.inner).run(Mode::Forever).await
    }

    /// Run until there is no more work, on the caller's tokio runtime.
    pub async fn run_all_async(&self) -> Result<()> {
        Arc::clone(&self.inner).run(Mode::All).await
    }

    /// Run until every listed job is finished, on the caller's tokio runtime.
    pub async fn run_until_jobs_finish_async(&self, jobs: &[Uuid]) -> Result<()> {
        Arc::clone(&self.inner)
            .run(Mode::UntilJobs(jobs.to_vec()))
            .await
    }
}

impl Inner {
    fn caps(&self) -> wf::NextTaskToRun {
        wf::NextTaskToRun {
            cluster_slug: self.cluster.clone(),
            identifiers: self
                .identifiers
                .iter()
                .map(TaskIdentifier::to_wire)
                .collect(),
        }
    }

    fn spawn_signal_listener(&self) -> Option<JoinHandle<()>> {
        if !self.signals {
            return None;
        }
        let token = self.shutdown.clone();
        Some(tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    return;
                };
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
                tracing::info!("signal received: finishing the running task, then stopping");
                token.cancel();
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
                std::process::exit(130);
            }
            #[cfg(not(unix))]
            {
                if tokio::signal::ctrl_c().await.is_ok() {
                    token.cancel();
                }
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        }))
    }

    async fn sleep_or_shutdown(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.shutdown.cancelled() => {}
        }
    }

    async fn run(self: Arc<Self>, mode: Mode) -> Result<()> {
        let signals = self.spawn_signal_listener();
        let result = self.run_loop(mode).await;
        if let Some(s) = signals {
            s.abort();
        }
        result
    }

    async fn jobs_finished(&self, jobs: &[Uuid]) -> Result<bool> {
        let client = self.client.jobs();
        for &job in jobs {
            if !client.progress(job).await?.state.is_finished() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn run_loop(&self, mode: Mode) -> Result<()> {
        let caps = self.caps();
        let mut report: Option<wf::ComputedTask> = None;
        let mut failures = 0u32;
        loop {
            let shutting = self.shutdown.is_cancelled();
            if shutting && report.is_none() {
                return Ok(());
            }
            if let Mode::UntilJobs(jobs) = &mode
                && report.is_none()
                && self.jobs_finished(jobs).await?
            {
                return Ok(());
            }
            let had_report = report.is_some();
            let req = wf::NextTaskRequest {
                computed_task: report.clone(),
                next_task_to_run: if shutting { None } else { Some(caps.clone()) },
            };
            let resp: wf::NextTaskResponse = match self
                .client
                .rpc()
                .call("workflows.v1.TaskService/NextTask", &req)
                .await
            {
                Ok(r) => {
                    failures = 0;
                    report = None;
                    r
                }
                Err(e) if had_report && e.code() == Some(tilebox_core::Code::InvalidArgument) => {
                    // The server rejected the result (e.g. invalid subtasks): fail the task with the reason.
                    if let Some(ct) = report.take() {
                        let id = uuid_of(ct.id.as_ref());
                        self.report_failure(
                            id,
                            &format!("{}\n{}", ct.display, e.message()),
                            true,
                            &ct.progress_updates,
                        )
                        .await;
                    }
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    let wait = Duration::from_millis(500u64.saturating_mul(1 << failures.min(6)));
                    tracing::warn!(error = %e, ?wait, "NextTask failed; retrying");
                    if shutting && failures > 3 {
                        return Err(e.into());
                    }
                    self.sleep_or_shutdown(wait).await;
                    continue;
                }
            };
            if shutting {
                return Ok(());
            }
            if let Some(task) = resp.next_task {
                match self.execute(task).await {
                    Executed::Computed(ct) => report = Some(ct),
                    Executed::Failed => {}
                    Executed::Interrupted => return Ok(()),
                }
                continue;
            }
            match &mode {
                Mode::All if !had_report => return Ok(()),
                Mode::All => continue,
                Mode::UntilJobs(_) | Mode::Forever => {}
            }
            let idle = match resp.idling.and_then(|i| i.suggested_idling_duration) {
                Some(d) => Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32)
                    .clamp(Duration::from_millis(1), Duration::from_secs(300)),
                None => {
                    Duration::from_secs(5) + Duration::from_millis(rand::random::<u64>() % 5000)
                }
            };
            self.sleep_or_shutdown(idle).await;
        }
    }

    fn find(&self, submitted: &TaskIdentifier) -> Option<&Exec> {
        if let Some(e) = self.tasks.get(submitted) {
            return Some(e);
        }
        self.identifiers
            .iter()
            .find(|r| r.can_execute(submitted))
            .and_then(|r| self.tasks.get(r))
    }

    async fn report_failure(
        &self,
        task: Uuid,
        display: &str,
        workflow_error: bool,
        progress: &[wf::Progress],
    ) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        let req = wf::TaskFailedRequest {
            task_id: Some(id_msg(task)),
            display: truncate(display.to_owned(), MAX_DISPLAY),
            was_workflow_error: workflow_error,
            progress_updates: progress.to_vec(),
        };
        for attempt in 0..5u32 {
            match self
                .client
                .rpc()
                .call::<_, wf::TaskStateResponse>("workflows.v1.TaskService/TaskFailed", &req)
                .await
            {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(%task, error = %e, attempt, "TaskFailed report failed");
                    tokio::time::sleep(Duration::from_millis(200u64 << attempt)).await;
                }
            }
        }
    }

    async fn execute(&self, task: wf::Task) -> Executed {
        let id = uuid_of(task.id.as_ref());
        let identifier = task
            .identifier
            .as_ref()
            .map(TaskIdentifier::from_wire)
            .unwrap_or_else(|| TaskIdentifier::new("", ""));
        let display = task
            .display
            .clone()
            .unwrap_or_else(|| identifier.name().to_owned());
        let Some(job) = task.job.as_ref() else {
            self.report_failure(id, &format!("{display}\ntask carries no job"), false, &[])
                .await;
            return Executed::Failed;
        };
        let Some(exec) = self.find(&identifier) else {
            let msg = format!("{display}\nno task registered for {identifier}");
            self.report_failure(id, &msg, false, &[]).await;
            return Executed::Failed;
        };
        self.stats.executed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%id, %identifier, retry = task.retry_count, "executing task");
        self.heartbeat.start(id, task.lease.as_ref());
        let ctx = ExecutionContext::new(
            id,
            uuid_of(job.id.as_ref()),
            job.name.clone(),
            identifier.clone(),
            task.retry_count,
            Arc::clone(&self.shared),
            Handle::current(),
            self.shutdown.clone(),
        );
        let input = task.input.clone().unwrap_or_default();
        let mut handle = match exec(&input, ctx.clone(), &Handle::current()) {
            Ok(h) => h,
            Err(e) => {
                self.heartbeat.stop();
                self.report_failure(id, &format!("{display}\n{e}"), true, &[])
                    .await;
                return Executed::Failed;
            }
        };
        let joined = tokio::select! {
            r = &mut handle => Some(r),
            () = self.shutdown.cancelled() => {
                tokio::select! {
                    r = &mut handle => Some(r),
                    () = tokio::time::sleep(self.grace) => None,
                }
            }
        };
        self.heartbeat.stop();
        let outcome = ctx.take_outcome();
        let display = outcome.display.clone().unwrap_or(display);
        let progress = progress_wire(&outcome.progress);
        let result = match joined {
            None => {
                handle.abort();
                let msg = format!(
                    "{display}\ninterrupted: the runner shut down and the grace period ran out"
                );
                self.report_failure(id, &msg, false, &progress).await;
                return Executed::Interrupted;
            }
            Some(Ok(r)) => r,
            Some(Err(e)) if e.is_panic() => Err(panic_message(&*e.into_panic())),
            Some(Err(e)) => Err(format!("task aborted: {e}")),
        };
        if let Err(text) = result {
            self.report_failure(id, &format!("{display}\n{text}"), true, &progress)
                .await;
            return Executed::Failed;
        }
        let sub_tasks = if outcome.subtasks.is_empty() {
            None
        } else {
            match build_submissions(&outcome.subtasks) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.report_failure(id, &format!("{display}\n{e}"), true, &progress)
                        .await;
                    return Executed::Failed;
                }
            }
        };
        self.stats.computed.fetch_add(1, Ordering::Relaxed);
        #[allow(deprecated)]
        let computed = wf::ComputedTask {
            id: Some(id_msg(id)),
            display: outcome.display.unwrap_or_default(),
            legacy_sub_tasks: Vec::new(),
            progress_updates: progress,
            sub_tasks,
        };
        Executed::Computed(computed)
    }
}
