//! The execution context handed to a running task: subtasks, display, progress, job cache, runner data,
//! cancellation, and (for sync tasks) `block_on`.
//!
//! All methods take `&self`; the contexts are `Clone + Send + Sync`, so threads or futures spawned inside one
//! task can share them.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cache::{CacheGroup, JobCache};
use crate::error::{Result, WorkflowsError};
use crate::runtime::{TaskRuntime, blocking_would_stall};
use crate::submission::{FutureTask, PendingTask, SubtaskOptions};
use crate::task::{TaskIdentifier, TaskSpec, encode_checked};

/// Typed values shared by every task of a runner (for example a datasets client built once).
#[derive(Default, Clone)]
pub(crate) struct RunnerData {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl RunnerData {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
    }

    fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
    }
}

/// What every task of one runner shares.
pub(crate) struct RunnerShared {
    pub(crate) cache: Option<Arc<dyn JobCache>>,
    pub(crate) data: RunnerData,
    pub(crate) cluster: String,
}

static OWNER: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct State {
    subtasks: Vec<PendingTask>,
    display: Option<String>,
    progress: BTreeMap<String, (u64, u64)>,
}

struct Inner {
    task_id: Uuid,
    job_id: Uuid,
    job_name: String,
    identifier: TaskIdentifier,
    retry_count: i64,
    owner: u64,
    trace_parent: String,
    shared: Arc<RunnerShared>,
    runtime: TaskRuntime,
    cancel: CancellationToken,
    state: Mutex<State>,
}

/// What both task contexts offer. Reached through `Deref` from [`TaskContext`] and [`AsyncTaskContext`].
#[derive(Clone)]
pub struct ExecutionContext {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ExecutionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionContext")
            .field("task_id", &self.inner.task_id)
            .field("job_id", &self.inner.job_id)
            .field("identifier", &self.inner.identifier)
            .finish_non_exhaustive()
    }
}

/// What the runner collects from a finished execution.
pub(crate) struct Outcome {
    pub(crate) subtasks: Vec<PendingTask>,
    pub(crate) display: Option<String>,
    pub(crate) progress: Vec<(String, u64, u64)>,
}

impl ExecutionContext {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        task_id: Uuid,
        job_id: Uuid,
        job_name: String,
        identifier: TaskIdentifier,
        retry_count: i64,
        trace_parent: String,
        shared: Arc<RunnerShared>,
        runtime: TaskRuntime,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                task_id,
                job_id,
                job_name,
                identifier,
                retry_count,
                owner: OWNER.fetch_add(1, Ordering::Relaxed),
                trace_parent,
                shared,
                runtime,
                cancel,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn take_outcome(&self) -> Outcome {
        let mut s = self.state();
        Outcome {
            subtasks: std::mem::take(&mut s.subtasks),
            display: s.display.take(),
            progress: s
                .progress
                .iter()
                .map(|(l, (t, d))| (l.clone(), *t, *d))
                .collect(),
        }
    }

    /// Submit a subtask with default options. It is sent to the server only if this task succeeds.
    pub fn submit_subtask<T: TaskSpec>(&self, task: &T) -> Result<FutureTask> {
        self.submit_subtask_with(task, SubtaskOptions::new())
    }

    /// Submit a subtask with options (dependencies, cluster, retries, optional, display).
    pub fn submit_subtask_with<T: TaskSpec>(
        &self,
        task: &T,
        options: SubtaskOptions,
    ) -> Result<FutureTask> {
        let (identifier, input) = encode_checked(task)?;
        let mut s = self.state();
        let mut depends_on = Vec::with_capacity(options.depends_on.len());
        for d in &options.depends_on {
            if d.owner != self.inner.owner || d.index >= s.subtasks.len() {
                return Err(WorkflowsError::InvalidDependency(
                    "a subtask can only depend on subtasks submitted earlier by the same task execution".into(),
                ));
            }
            depends_on.push(d.index);
        }
        let display = options.display.unwrap_or_else(|| task.display());
        s.subtasks.push(PendingTask {
            identifier,
            input,
            display,
            cluster: options.cluster.unwrap_or_default(),
            max_retries: options.max_retries,
            optional: options.optional,
            depends_on,
        });
        Ok(FutureTask {
            owner: self.inner.owner,
            index: s.subtasks.len() - 1,
        })
    }

    /// Submit several subtasks with default options.
    pub fn submit_subtasks<'a, T: TaskSpec>(
        &self,
        tasks: impl IntoIterator<Item = &'a T>,
    ) -> Result<Vec<FutureTask>> {
        tasks.into_iter().map(|t| self.submit_subtask(t)).collect()
    }

    /// Change the display name reported for this task.
    pub fn set_display(&self, display: impl Into<String>) {
        self.state().display = Some(display.into());
    }

    /// A progress indicator of the job (`""` is the default label). Counters are summed over the job's tasks.
    pub fn progress(&self, label: impl Into<String>) -> ProgressIndicator {
        let label = label.into();
        self.state().progress.entry(label.clone()).or_insert((0, 0));
        ProgressIndicator {
            ctx: self.clone(),
            label,
        }
    }

    /// The job cache of this task's job. Errors when the runner has no cache configured.
    pub fn job_cache(&self) -> Result<CacheGroup> {
        let cache = self.inner.shared.cache.clone().ok_or_else(|| {
            WorkflowsError::Cache("no cache configured on the runner (RunnerBuilder::cache)".into())
        })?;
        Ok(CacheGroup::new(cache, self.inner.job_id.to_string()))
    }

    /// Runner data of type `T` (registered with `RunnerBuilder::data`).
    pub fn data<T: Send + Sync + 'static>(&self) -> Result<&T> {
        self.inner
            .shared
            .data
            .get::<T>()
            .ok_or(WorkflowsError::MissingData(std::any::type_name::<T>()))
    }

    /// The task's id.
    pub fn task_id(&self) -> Uuid {
        self.inner.task_id
    }

    /// The job's id.
    pub fn job_id(&self) -> Uuid {
        self.inner.job_id
    }

    /// The job's name.
    pub fn job_name(&self) -> &str {
        &self.inner.job_name
    }

    /// The identifier the task was submitted with.
    pub fn identifier(&self) -> &TaskIdentifier {
        &self.inner.identifier
    }

    /// How often this task was attempted before (failures plus lease expiries).
    pub fn retry_count(&self) -> i64 {
        self.inner.retry_count
    }

    /// The cluster the runner polls.
    pub fn cluster(&self) -> &str {
        &self.inner.shared.cluster
    }

    /// Fired when the runner shuts down: finish or stop early, cooperatively.
    pub fn cancellation(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// The W3C trace parent of the task's job: the trace every task of the job belongs to.
    pub fn trace_parent(&self) -> &str {
        &self.inner.trace_parent
    }

    /// The tokio runtime the runner runs its tasks in (feature `tokio`; `None` when the runner was started
    /// outside tokio by an async entry point).
    #[cfg(feature = "tokio")]
    pub fn tokio_handle(&self) -> Option<tokio::runtime::Handle> {
        self.inner.runtime.handle().cloned()
    }

    pub(crate) fn task_runtime(&self) -> &TaskRuntime {
        &self.inner.runtime
    }
}

/// A progress counter; `add` grows the total, `done` grows the finished work.
#[derive(Clone)]
pub struct ProgressIndicator {
    ctx: ExecutionContext,
    label: String,
}

impl std::fmt::Debug for ProgressIndicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressIndicator")
            .field("label", &self.label)
            .finish()
    }
}

impl ProgressIndicator {
    /// Add `n` units of work to the total.
    pub fn add(&self, n: u64) {
        let mut s = self.ctx.state();
        let e = s.progress.entry(self.label.clone()).or_insert((0, 0));
        e.0 = e.0.saturating_add(n);
    }

    /// Mark `n` units of work as done.
    pub fn done(&self, n: u64) {
        let mut s = self.ctx.state();
        let e = s.progress.entry(self.label.clone()).or_insert((0, 0));
        e.1 = e.1.saturating_add(n);
    }
}

/// The context of a sync [`Task`](crate::Task): everything of [`ExecutionContext`] plus `block_on`.
#[derive(Clone, Debug)]
pub struct TaskContext {
    ctx: ExecutionContext,
}

impl TaskContext {
    pub(crate) fn new(ctx: ExecutionContext) -> Self {
        Self { ctx }
    }

    /// Run a future to completion and return its output, parking this thread meanwhile (the core's
    /// [`block_on`](tilebox_core::block_on)). async-std- and smol-based futures always work (they bring their
    /// own reactors); tokio-based ones with the `tokio` feature, where the runner's tokio runtime is entered
    /// on its threads.
    ///
    /// This never panics: inside a *current-thread* tokio runtime (its `block_on` or one of its tasks),
    /// where blocking would stall the runtime, it returns [`WorkflowsError::BlockOn`] up front; a panic of the
    /// future (e.g. a tokio future polled without a tokio runtime) is returned as [`WorkflowsError::BlockOn`]
    /// too.
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        if blocking_would_stall() {
            return Err(WorkflowsError::BlockOn(
                "called inside a current-thread tokio runtime, where nothing may block; await the future instead"
                    .into(),
            ));
        }
        let _entered = self.ctx.inner.runtime.enter();
        guarded(|| tilebox_core::block_on(future))
    }
}

/// Runs `f`, turning a panic into an error: a panicking future, or, as a last resort, a refusal of tokio to
/// block in a situation the checks in [`TaskContext::block_on`] do not recognise.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        WorkflowsError::BlockOn(text)
    })
}

impl Deref for TaskContext {
    type Target = ExecutionContext;
    fn deref(&self) -> &ExecutionContext {
        &self.ctx
    }
}

/// The context of an [`AsyncTask`](crate::AsyncTask): everything of [`ExecutionContext`]; no blocking helper.
#[derive(Clone, Debug)]
pub struct AsyncTaskContext {
    ctx: ExecutionContext,
}

impl AsyncTaskContext {
    pub(crate) fn new(ctx: ExecutionContext) -> Self {
        Self { ctx }
    }
}

impl Deref for AsyncTaskContext {
    type Target = ExecutionContext;
    fn deref(&self) -> &ExecutionContext {
        &self.ctx
    }
}
