//! The task runner: claims tasks with `NextTask`, runs up to [`RunnerBuilder::max_concurrent_tasks`] of them
//! at once, and reports their results.
//!
//! The runner is written once over the core's RPC client and runs on whichever runtime polls it: the async
//! entry points (`run_*_async`) on the caller's executor (tokio, async-std, smol, ...), the blocking ones
//! (`run_*`) on the calling thread with the core's parking [`block_on`](tilebox_core::block_on) — the SDK's
//! one rule for blocking entry points: they work inside any runtime. Sync [`Task`]s run on threads of their
//! own, so they may block (a short one may run on the blocking runner's own thread instead, which waits for
//! it anyway; see [`RunnerBuilder::register`]); [`AsyncTask`]s are futures polled by the runner itself, so
//! they must not block.
//! Each running task has its own lease, extended from the runner's heartbeat thread until its result is
//! reported, and its own `tracing` span (see [`crate::trace`]). Panics become task failures.
//!
//! One round trip per task: a computed task is reported in the same `NextTask` call that claims the next
//! one. Reports that hit a server restart are retried until the task's lease would run out (the server
//! treats a repeated report as a no-op), so finished work is not run again.

mod heartbeat;
mod threads;

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Either, FutureExt, select};
use futures::stream::{FuturesUnordered, StreamExt};
use tilebox_core::RetryPolicy;
use tilebox_core::wire::workflows::v1 as wf;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::cache::JobCache;
use crate::client::{Client, id_msg, uuid_of};
use crate::context::{AsyncTaskContext, ExecutionContext, RunnerData, RunnerShared, TaskContext};
use crate::error::{Result, WorkflowsError};
use crate::runtime::TaskRuntime;
use crate::submission::build_submissions;
use crate::task::{AsyncTask, Task, TaskIdentifier};
use heartbeat::{Heartbeat, LeaseClock, std_dur};

/// Longest failure display sent to the server, in bytes.
const MAX_DISPLAY: usize = 1024;

/// A started execution: resolves to the task's error text on failure.
type Running = BoxFuture<'static, std::result::Result<(), String>>;

/// Decodes a task's input and prepares its execution (in the task's span and context).
type Prepare<T> = Arc<dyn Fn(&[u8], ExecutionContext, tracing::Span) -> Result<T> + Send + Sync>;

/// A sync execution, ready to run on whichever thread takes it.
type SyncJob = Box<dyn FnOnce() -> std::result::Result<(), String> + Send>;

/// A sync task at most this long (by its previous execution in this runner) runs on the loop's own thread
/// when the runner runs one task at a time from a blocking entry point (see [`SyncExec::start`]).
const INLINE_BELOW: Duration = Duration::from_millis(1);

/// How a registered task type executes.
#[derive(Clone)]
enum Exec {
    /// A sync task: decoding its input gives a job for a task thread (or the loop's own thread).
    Sync(SyncExec),
    /// An async task: decoding its input gives a future the runner polls.
    Async(Prepare<Running>),
}

/// A sync task type, with how long its last execution took.
#[derive(Clone)]
struct SyncExec {
    prepare: Prepare<SyncJob>,
    /// Nanoseconds of the last execution (`u64::MAX` before the first).
    last_ns: Arc<AtomicU64>,
}

impl SyncExec {
    fn new(
        prepare: impl Fn(&[u8], ExecutionContext, tracing::Span) -> Result<SyncJob>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            prepare: Arc::new(prepare),
            last_ns: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }

    /// Starts an execution on a task thread; or, when `inline_allowed` and the last execution was shorter
    /// than [`INLINE_BELOW`], right here on the caller's thread, saving the two thread hand-offs (to the
    /// task thread and back) that cost more than such a task itself. A task that turns out long on the
    /// caller's thread goes back to a task thread the next time.
    fn start(
        &self,
        input: &[u8],
        ctx: ExecutionContext,
        span: tracing::Span,
        inline_allowed: bool,
    ) -> Result<Running> {
        let job = (self.prepare)(input, ctx, span)?;
        let last_ns = Arc::clone(&self.last_ns);
        let timed = move || {
            let started = Instant::now();
            let result = job();
            let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            last_ns.store(took, Ordering::Relaxed);
            result
        };
        if inline_allowed && self.last_ns.load(Ordering::Relaxed) < INLINE_BELOW.as_nanos() as u64 {
            return Ok(futures::future::ready(timed()).boxed());
        }
        let (tx, rx) = futures::channel::oneshot::channel();
        threads::run(move || {
            let _ = tx.send(timed());
        })?;
        Ok(async move {
            rx.await
                .unwrap_or_else(|_| Err("the task thread ended without a result".to_owned()))
        }
        .boxed())
    }
}

/// Counters of a runner.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) executed: AtomicU64,
    pub(crate) computed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) extensions_granted: AtomicU64,
    pub(crate) running: AtomicU64,
    pub(crate) max_running: AtomicU64,
    pub(crate) report_retries: AtomicU64,
}

/// A snapshot of a runner's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RunnerStats {
    /// Task executions started.
    pub executed: u64,
    /// Executions reported as computed.
    pub computed: u64,
    /// Executions reported as failed (errors, panics, interruptions).
    pub failed: u64,
    /// Lease extensions the server granted.
    pub extensions_granted: u64,
    /// Tasks running right now.
    pub running: u64,
    /// Most tasks that ran at once.
    pub max_running: u64,
    /// Report attempts repeated after a failure that may pass (e.g. during a server restart).
    pub report_retries: u64,
}

/// Requests a runner to stop: it takes no new task and lets running ones finish within the grace period.
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
    max_concurrent: usize,
}

impl std::fmt::Debug for RunnerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerBuilder")
            .field("cluster", &self.cluster)
            .field("max_concurrent_tasks", &self.max_concurrent)
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
            max_concurrent: 1,
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

    /// How long running tasks may take to finish after shutdown was requested (default 30 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Run up to `n` tasks at once (default 1, like the official runners; 0 counts as 1). Sync tasks each run
    /// on a thread of their own, async tasks as concurrent futures of the runner; each has its own lease.
    pub fn max_concurrent_tasks(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// Stop on SIGTERM / SIGINT (Ctrl-C) while running (Unix): the first signal shuts down gracefully, a
    /// second one exits the process at once.
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

    /// Register a sync task type: each execution runs on a thread of its own (threads are reused by later
    /// executions, so thread-local state may outlive a task). One exception saves two thread switches per
    /// task: a runner that runs one task at a time from a blocking entry point (`run_*`) executes a task
    /// whose previous execution took under a millisecond on its own thread; a longer one goes back to a task
    /// thread the next time.
    pub fn register<T: Task>(mut self) -> Self {
        let exec = SyncExec::new(|input, ctx, span| {
            let task = T::decode_input(input)?;
            let job: SyncJob = Box::new(move || {
                let runtime = ctx.task_runtime().clone();
                let _entered = runtime.enter_for_task();
                let _span = span.enter();
                let ctx = TaskContext::new(ctx);
                match std::panic::catch_unwind(AssertUnwindSafe(|| task.execute(&ctx))) {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(payload) => Err(panic_message(&*payload)),
                }
            });
            Ok(job)
        });
        self.add(T::identifier(), Exec::Sync(exec));
        self
    }

    /// Register an async task type: each execution is a future polled by the runner (it must not block).
    pub fn register_async<T: AsyncTask>(mut self) -> Self {
        let exec = Exec::Async(Arc::new(|input, ctx, span| {
            let task = T::decode_input(input)?;
            let fut = async move {
                let ctx = AsyncTaskContext::new(ctx);
                task.execute(&ctx).await.map_err(|e| e.to_string())
            };
            Ok(AssertUnwindSafe(fut)
                .catch_unwind()
                .map(|r| r.unwrap_or_else(|payload| Err(panic_message(&*payload))))
                .instrument(span)
                .boxed())
        }));
        self.add(T::identifier(), exec);
        self
    }

    fn check(&mut self) -> Result<()> {
        if let Some(e) = self.errors.drain(..).next() {
            return Err(e);
        }
        Ok(())
    }

    /// Build the runner (resolves the cluster with `GetCluster`).
    pub async fn build_async(mut self) -> Result<Runner> {
        self.check()?;
        let cluster = self.client.clusters().get(&self.cluster).await?.slug;
        Ok(self.finish(cluster, None))
    }

    /// Build the runner, blocking (resolves the cluster with `GetCluster`). Like every blocking entry point
    /// of the SDK it works inside any runtime (see [`tilebox_core::block_on`]).
    pub fn build(mut self) -> Result<Runner> {
        self.check()?;
        let own = OwnRuntime::for_blocking()?;
        let cluster = {
            let runtime = own.task_runtime();
            let _entered = runtime.enter();
            let clusters = self.client.clusters();
            let slug = self.cluster.clone();
            tilebox_core::block_on(async move { clusters.get(&slug).await })?.slug
        };
        Ok(self.finish(cluster, Some(own)))
    }

    fn finish(self, cluster: String, own: Option<OwnRuntime>) -> Runner {
        let stats = Arc::new(Stats::default());
        let counted = Arc::clone(&stats);
        // Reports count every retry wait, the core's included.
        let reporter = self.client.rpc().with_retry_hook(Arc::new(move |_| {
            counted.report_retries.fetch_add(1, Ordering::Relaxed);
        }));
        let mut tasks: HashMap<TaskIdentifier, Exec> = HashMap::new();
        let mut identifiers = Vec::new();
        for (id, exec) in self.tasks {
            identifiers.push(id.clone());
            tasks.insert(id, exec);
        }
        Runner {
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
                max_concurrent: self.max_concurrent,
                shutdown: CancellationToken::new(),
                stats,
                reporter,
                in_flight: Mutex::new(HashMap::new()),
            }),
            own: Mutex::new(own),
        }
    }
}

/// The runtime a blocking entry point runs the runner in: with the `tokio` feature outside any tokio
/// runtime, a multi-thread runtime of the runner's own (kept for the runner's life); otherwise the
/// caller's context as it is.
struct OwnRuntime {
    #[cfg(feature = "tokio")]
    runtime: Option<tokio::runtime::Runtime>,
    current: TaskRuntime,
}

impl OwnRuntime {
    fn for_blocking() -> Result<Self> {
        let current = TaskRuntime::current();
        #[cfg(feature = "tokio")]
        {
            if !current.is_present() {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("tilebox-runner")
                    .build()?;
                return Ok(Self {
                    current: TaskRuntime::from_handle(runtime.handle().clone()),
                    runtime: Some(runtime),
                });
            }
            Ok(Self {
                runtime: None,
                current,
            })
        }
        #[cfg(not(feature = "tokio"))]
        Ok(Self { current })
    }

    fn task_runtime(&self) -> TaskRuntime {
        self.current.clone()
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        // Never block in drop (it may run inside an async context): leave running blocking work behind.
        #[cfg(feature = "tokio")]
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
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
    max_concurrent: usize,
    shutdown: CancellationToken,
    stats: Arc<Stats>,
    /// The RPC client for reports: counts its retries in the stats.
    reporter: tilebox_core::RpcClient,
    /// The executions in flight: their lease clock, context and display, for interruption reports.
    in_flight: Mutex<HashMap<Uuid, (LeaseClock, ExecutionContext, String)>>,
}

/// A task runner. See the module docs.
pub struct Runner {
    inner: Arc<Inner>,
    own: Mutex<Option<OwnRuntime>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("cluster", &self.inner.cluster)
            .field("max_concurrent_tasks", &self.inner.max_concurrent)
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

#[derive(Clone)]
enum Mode {
    Forever,
    All,
    UntilJobs(Vec<Uuid>),
}

/// Where the loop's `NextTask` requests do their I/O.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Io {
    /// On the loop's own thread, when the transport can ([`tilebox_core::executor::inline_io`]): the blocking
    /// `run_*` methods, whose thread waits for each answer anyway. `tasks` when short sync tasks may run on
    /// that thread too (see [`RunnerBuilder::register`]): the caller's thread belongs to no tokio runtime,
    /// so a task finds the same runtime context there as on a task thread.
    InPlace { tasks: bool },
    /// Wherever the transport does it: the async `run_*` methods, which must not block their executor.
    Handed,
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
            running: s.running.load(Ordering::Relaxed),
            max_running: s.max_running.load(Ordering::Relaxed),
            report_retries: s.report_retries.load(Ordering::Relaxed),
        }
    }

    fn blocking(&self, mode: Mode) -> Result<()> {
        let runtime = {
            let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
            if own.is_none() {
                *own = Some(OwnRuntime::for_blocking()?);
            }
            own.as_ref()
                .map(OwnRuntime::task_runtime)
                .unwrap_or_default()
        };
        let io = Io::InPlace {
            tasks: !TaskRuntime::current().is_present(),
        };
        let _entered = runtime.enter();
        tilebox_core::block_on(Arc::clone(&self.inner).run(mode, runtime.clone(), io))
    }

    /// Run until shut down (blocking; works inside any runtime, see [`tilebox_core::block_on`]).
    pub fn run_forever(&self) -> Result<()> {
        self.blocking(Mode::Forever)
    }

    /// Run until there is no more work (blocking): stops at the first idle answer once nothing runs and
    /// nothing was reported. With several runners, prefer [`Runner::run_until_jobs_finish`].
    pub fn run_all(&self) -> Result<()> {
        self.blocking(Mode::All)
    }

    /// Run until every listed job is completed, failed or canceled (blocking).
    pub fn run_until_jobs_finish(&self, jobs: &[Uuid]) -> Result<()> {
        self.blocking(Mode::UntilJobs(jobs.to_vec()))
    }

    /// Run until shut down, on the caller's executor.
    pub async fn run_forever_async(&self) -> Result<()> {
        Arc::clone(&self.inner)
            .run(Mode::Forever, TaskRuntime::current(), Io::Handed)
            .await
    }

    /// Run until there is no more work, on the caller's executor.
    pub async fn run_all_async(&self) -> Result<()> {
        Arc::clone(&self.inner)
            .run(Mode::All, TaskRuntime::current(), Io::Handed)
            .await
    }

    /// Run until every listed job is finished, on the caller's executor.
    pub async fn run_until_jobs_finish_async(&self, jobs: &[Uuid]) -> Result<()> {
        Arc::clone(&self.inner)
            .run(
                Mode::UntilJobs(jobs.to_vec()),
                TaskRuntime::current(),
                Io::Handed,
            )
            .await
    }
}

/// A task whose execution ended, waiting to be reported.
struct Done {
    id: Uuid,
    clock: LeaseClock,
    report: Report,
}

enum Report {
    /// Report with the next `NextTask` call.
    Computed(wf::ComputedTask),
    /// Report with `TaskFailed` (display, whether the task's code failed, progress).
    Failed(String, bool, Vec<wf::Progress>),
}

/// What the run loop waits for when it has nothing to send.
enum Wake {
    Finished(Option<Box<Done>>),
    Timer,
    Shutdown,
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

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.client.rpc().sleeper().sleep(d)
    }

    async fn run(self: Arc<Self>, mode: Mode, runtime: TaskRuntime, io: Io) -> Result<()> {
        let heartbeat = Heartbeat::spawn(
            self.client.rpc().clone(),
            Arc::clone(&self.stats),
            runtime.clone(),
        )?;
        let signals = self
            .signals
            .then(|| crate::signals::listen(self.shutdown.clone()));
        let result = self.run_loop(mode, &heartbeat, &runtime, io).await;
        drop(signals);
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

    async fn run_loop(
        &self,
        mode: Mode,
        heartbeat: &Heartbeat,
        runtime: &TaskRuntime,
        io: Io,
    ) -> Result<()> {
        let caps = self.caps();
        // Short sync tasks may run in place when the loop would only wait for them.
        let tasks_in_place = io == Io::InPlace { tasks: true } && self.max_concurrent == 1;
        let mut running: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
        let mut reports: VecDeque<(Uuid, LeaseClock, wf::ComputedTask)> = VecDeque::new();
        // No claim before this instant (after an idle answer or a failed call).
        let mut claim_after: Option<Instant> = None;
        let mut grace_until: Option<Instant> = None;
        let mut failures = 0u32;
        if let Mode::UntilJobs(jobs) = &mode
            && self.jobs_finished(jobs).await?
        {
            return Ok(());
        }
        loop {
            // Collect finished executions without waiting.
            while let Some(Some(done)) = running.next().now_or_never() {
                self.finished(done, heartbeat, &mut reports).await;
                // A finished task may have unlocked others: claim again without waiting out an idle answer.
                if failures == 0 {
                    claim_after = None;
                }
            }
            let shutting = self.shutdown.is_cancelled();
            if shutting && grace_until.is_none() {
                grace_until = Some(Instant::now() + self.grace);
            }
            if shutting && running.is_empty() && reports.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            // A report may unlock other tasks (and may finish the job), so one that is sent claims too, even
            // while an earlier idle answer holds back claims of their own; a failed call's backoff does not.
            let want_task = !shutting
                && running.len() < self.max_concurrent
                && (claim_after.is_none_or(|t| now >= t) || (!reports.is_empty() && failures == 0));
            if want_task || !reports.is_empty() {
                let report = reports.pop_front();
                let req = wf::NextTaskRequest {
                    computed_task: report.as_ref().map(|r| r.2.clone()),
                    next_task_to_run: want_task.then(|| caps.clone()),
                };
                let deadline = report.as_ref().map(|r| r.1.clone());
                let next = self.next_task(req, deadline.as_ref());
                let next = match io {
                    // The loop waits for this answer alone (its task threads and lease thread run apart).
                    Io::InPlace { .. } => tilebox_core::executor::inline_io(next).await,
                    Io::Handed => next.await,
                };
                match next {
                    Ok(resp) => {
                        failures = 0;
                        if let Some((id, _, _)) = &report {
                            heartbeat.stop(*id);
                            self.stats.computed.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(task) = resp.next_task {
                            claim_after = None;
                            running.push(self.start(task, heartbeat, runtime, tasks_in_place));
                            continue;
                        }
                        if !want_task {
                            continue;
                        }
                        // Idle answer.
                        if running.is_empty() && reports.is_empty() {
                            match &mode {
                                Mode::All if report.is_none() => return Ok(()),
                                Mode::UntilJobs(jobs) if self.jobs_finished(jobs).await? => {
                                    return Ok(());
                                }
                                _ => {}
                            }
                        }
                        let idle = match &mode {
                            // A reported task may have unlocked others: ask again at once.
                            Mode::All if report.is_some() => Duration::ZERO,
                            _ => idle_duration(resp.idling.as_ref()),
                        };
                        claim_after = Some(Instant::now() + idle);
                    }
                    Err(e)
                        if report.is_some()
                            && e.code() == Some(tilebox_core::Code::InvalidArgument) =>
                    {
                        // The server rejected the result (e.g. invalid subtasks): fail the task with the reason.
                        if let Some((id, clock, ct)) = report {
                            let display = format!("{}\n{}", ct.display, e.message());
                            self.report_failure(id, &clock, &display, true, &ct.progress_updates)
                                .await;
                            heartbeat.stop(id);
                        }
                    }
                    Err(e) => {
                        if let Some((id, _, _)) = report {
                            tracing::warn!(task = %id, error = %e, "computed task could not be reported before its lease ran out");
                            heartbeat.stop(id);
                        }
                        failures += 1;
                        if shutting && failures > 3 {
                            return Err(e.into());
                        }
                        let wait =
                            Duration::from_millis(250u64.saturating_mul(1 << failures.min(6)));
                        tracing::warn!(error = %e, ?wait, "NextTask failed; retrying");
                        claim_after = Some(Instant::now() + wait);
                    }
                }
                continue;
            }
            // Nothing to send: wait for a task to finish, the claim timer, the shutdown or the grace period.
            let timer: BoxFuture<'static, ()> = match (grace_until, claim_after) {
                (Some(g), _) => self.sleep(g.saturating_duration_since(now)),
                (None, Some(t)) if running.len() < self.max_concurrent => {
                    self.sleep(t.saturating_duration_since(now))
                }
                _ => futures::future::pending().boxed(),
            };
            let shutdown: BoxFuture<'_, ()> = if shutting {
                futures::future::pending().boxed()
            } else {
                self.shutdown.cancelled().boxed()
            };
            let finished = async {
                if running.is_empty() {
                    futures::future::pending().await
                } else {
                    running.next().await
                }
            };
            let wake = match select(finished.boxed(), select(timer, shutdown)).await {
                Either::Left((done, _)) => Wake::Finished(done.map(Box::new)),
                Either::Right((Either::Left(_), _)) => Wake::Timer,
                Either::Right((Either::Right(_), _)) => Wake::Shutdown,
            };
            match wake {
                Wake::Finished(Some(done)) => {
                    self.finished(*done, heartbeat, &mut reports).await;
                    if failures == 0 {
                        claim_after = None;
                    }
                }
                Wake::Finished(None) | Wake::Shutdown => {}
                Wake::Timer => {
                    if grace_until.is_some_and(|g| Instant::now() >= g) {
                        self.interrupt_all(&mut running, heartbeat).await;
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Report the executions still running when the grace period ran out as interrupted.
    async fn interrupt_all(
        &self,
        running: &mut FuturesUnordered<BoxFuture<'static, Done>>,
        heartbeat: &Heartbeat,
    ) {
        // Dropping the futures abandons async tasks; sync task threads are left to finish on their own.
        running.clear();
        let interrupted: Vec<(Uuid, LeaseClock, String, Vec<wf::Progress>)> = self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(id, (clock, ctx, display))| {
                let outcome = ctx.take_outcome();
                let display = outcome.display.unwrap_or(display);
                (id, clock, display, progress_wire(&outcome.progress))
            })
            .collect();
        for (id, clock, display, progress) in interrupted {
            let msg = format!(
                "{display}\ninterrupted: the runner shut down and the grace period ran out"
            );
            self.report_failure(id, &clock, &msg, false, &progress)
                .await;
            heartbeat.stop(id);
        }
    }

    fn in_flight(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Uuid, (LeaseClock, ExecutionContext, String)>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Start executing a claimed task; the future resolves when the execution ended.
    fn start(
        &self,
        task: wf::Task,
        heartbeat: &Heartbeat,
        runtime: &TaskRuntime,
        inline_allowed: bool,
    ) -> BoxFuture<'static, Done> {
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
        let clock = heartbeat.start(id, task.lease.as_ref());
        let fail = |clock: LeaseClock, text: String, workflow_error: bool| {
            futures::future::ready(Done {
                id,
                clock,
                report: Report::Failed(text, workflow_error, Vec::new()),
            })
            .boxed()
        };
        let Some(job) = task.job.as_ref() else {
            return fail(clock, format!("{display}\ntask carries no job"), false);
        };
        let Some(exec) = self.find(&identifier) else {
            return fail(
                clock,
                format!("{display}\nno task registered for {identifier}"),
                false,
            );
        };
        self.stats.executed.fetch_add(1, Ordering::Relaxed);
        let now_running = self.stats.running.fetch_add(1, Ordering::Relaxed) + 1;
        self.stats
            .max_running
            .fetch_max(now_running, Ordering::Relaxed);
        let job_id = uuid_of(job.id.as_ref());
        let span = crate::trace::task_span(
            job_id,
            id,
            &identifier,
            &display,
            &job.trace_parent,
            task.retry_count,
        );
        tracing::debug!(parent: &span, retry = task.retry_count, "executing task");
        let ctx = ExecutionContext::new(
            id,
            job_id,
            job.name.clone(),
            identifier,
            task.retry_count,
            job.trace_parent.clone(),
            Arc::clone(&self.shared),
            runtime.clone(),
            self.shutdown.clone(),
        );
        self.in_flight()
            .insert(id, (clock.clone(), ctx.clone(), display.clone()));
        let input = task.input.clone().unwrap_or_default();
        let started = match exec {
            Exec::Sync(exec) => exec.start(&input, ctx.clone(), span, inline_allowed),
            Exec::Async(exec) => exec(&input, ctx.clone(), span),
        };
        let running = match started {
            Ok(running) => running,
            Err(e) => return fail(clock, format!("{display}\n{e}"), true),
        };
        async move {
            let result = running.await;
            let outcome = ctx.take_outcome();
            let display = outcome.display.clone().unwrap_or(display);
            let progress = progress_wire(&outcome.progress);
            let report = match result {
                Err(text) => Report::Failed(format!("{display}\n{text}"), true, progress),
                Ok(()) => {
                    let sub_tasks = if outcome.subtasks.is_empty() {
                        Ok(None)
                    } else {
                        build_submissions(&outcome.subtasks).map(Some)
                    };
                    match sub_tasks {
                        Err(e) => Report::Failed(format!("{display}\n{e}"), true, progress),
                        #[allow(deprecated)]
                        Ok(sub_tasks) => Report::Computed(wf::ComputedTask {
                            id: Some(id_msg(id)),
                            display: outcome.display.unwrap_or_default(),
                            legacy_sub_tasks: Vec::new(),
                            progress_updates: progress,
                            sub_tasks,
                        }),
                    }
                }
            };
            Done { id, clock, report }
        }
        .boxed()
    }

    /// Book-keeping of an ended execution: failures are reported now, computed tasks with the next claim.
    async fn finished(
        &self,
        done: Done,
        heartbeat: &Heartbeat,
        reports: &mut VecDeque<(Uuid, LeaseClock, wf::ComputedTask)>,
    ) {
        if self.in_flight().remove(&done.id).is_some() {
            self.stats.running.fetch_sub(1, Ordering::Relaxed);
        }
        match done.report {
            Report::Computed(ct) => reports.push_back((done.id, done.clock, ct)),
            Report::Failed(display, workflow_error, progress) => {
                self.report_failure(done.id, &done.clock, &display, workflow_error, &progress)
                    .await;
                heartbeat.stop(done.id);
            }
        }
    }

    /// Whether a failed report may be sent again: the failure may pass and the lease still runs.
    async fn may_retry(
        &self,
        error: &tilebox_core::Error,
        clock: &LeaseClock,
        wait: &mut Duration,
    ) -> bool {
        if !RetryPolicy::is_retryable(error) || Instant::now() + *wait >= clock.expires() {
            return false;
        }
        self.stats.report_retries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%error, wait = ?*wait, "report failed; retrying while the lease lasts");
        self.sleep(*wait).await;
        *wait = (*wait * 2).min(Duration::from_secs(2));
        true
    }

    /// `NextTask`; with a report inside, retried until the reported task's lease would run out.
    async fn next_task(
        &self,
        req: wf::NextTaskRequest,
        clock: Option<&LeaseClock>,
    ) -> std::result::Result<wf::NextTaskResponse, tilebox_core::Error> {
        let rpc = if clock.is_some() {
            &self.reporter
        } else {
            self.client.rpc()
        };
        let mut wait = Duration::from_millis(100);
        loop {
            match rpc.next_task(req.clone()).await {
                Ok(resp) => return Ok(resp),
                Err(e) => match clock {
                    Some(clock) if self.may_retry(&e, clock, &mut wait).await => {}
                    _ => return Err(e),
                },
            }
        }
    }

    /// `TaskFailed`, retried until the task's lease would run out.
    async fn report_failure(
        &self,
        task: Uuid,
        clock: &LeaseClock,
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
        let mut wait = Duration::from_millis(100);
        loop {
            match self.reporter.task_failed(req.clone()).await {
                Ok(_) => return,
                Err(e) if self.may_retry(&e, clock, &mut wait).await => {}
                Err(e) => {
                    tracing::warn!(%task, error = %e, "TaskFailed report failed");
                    return;
                }
            }
        }
    }
}

/// How long to wait after an idle answer: the server's suggestion (1 ms ..= 5 min), else 5-10 s.
fn idle_duration(idling: Option<&wf::IdlingResponse>) -> Duration {
    match idling.and_then(|i| i.suggested_idling_duration.as_ref()) {
        Some(d) => std_dur(Some(d)).clamp(Duration::from_millis(1), Duration::from_secs(300)),
        None => Duration::from_secs(5) + Duration::from_millis(rand::random::<u64>() % 5000),
    }
}
