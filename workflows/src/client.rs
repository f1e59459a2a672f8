//! The workflows client: jobs ([`JobClient`]) and clusters ([`ClusterClient`]) over the core's RPC layer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tilebox_core::rpc::RpcClient;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use uuid::Uuid;

use crate::error::Result;
use crate::submission::{PendingTask, build_submissions};
use crate::task::{TaskSpec, encode_checked};

/// Entry point of the workflows API: jobs, clusters and runners. Cheap to clone, `Send + Sync`.
///
/// It sends through the RPC client of whichever adapter's datasets client it was made from, so it runs on
/// that adapter's runtime (tokio, async-std/smol, or none for the blocking adapter) and shares its
/// configuration (URL, API key, retries, timeouts) and connection pool:
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tilebox_workflows::WorkflowsExt;
/// let datasets = tilebox_tokio::Client::new()?; // or tilebox_async_std::Client::new()?
/// let workflows = datasets.workflows();
/// let clusters = workflows.clusters().list().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    rpc: RpcClient,
}

/// The workflows API of a datasets client of any adapter (`tilebox_tokio::Client` and
/// `tilebox_async_std::Client` reach it through `Deref`; a `tilebox_blocking::Client` through `as_async()`,
/// or use [`BlockingClient`](crate::BlockingClient)).
pub trait WorkflowsExt {
    /// A workflows client sharing this client's configuration, transport and runtime.
    fn workflows(&self) -> Client;
}

impl WorkflowsExt for tilebox_core::Client {
    fn workflows(&self) -> Client {
        Client::from_rpc(self.rpc().clone())
    }
}

impl From<tilebox_core::Client> for Client {
    fn from(client: tilebox_core::Client) -> Self {
        Self::from_rpc(client.rpc().clone())
    }
}

impl From<&tilebox_core::Client> for Client {
    fn from(client: &tilebox_core::Client) -> Self {
        Self::from_rpc(client.rpc().clone())
    }
}

impl Client {
    /// A client over an RPC client (any adapter's transport, or a replay transport in tests).
    pub fn from_rpc(rpc: RpcClient) -> Self {
        Self { rpc }
    }

    /// The underlying RPC client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Jobs: submit, get, progress, query, cancel, retry, visualize.
    pub fn jobs(&self) -> JobClient {
        JobClient {
            rpc: self.rpc.clone(),
        }
    }

    /// Clusters: get, list, create, update, delete.
    pub fn clusters(&self) -> ClusterClient {
        ClusterClient {
            rpc: self.rpc.clone(),
        }
    }

    /// Automations: jobs submitted on a cron schedule or for each new object of a storage location.
    pub fn automations(&self) -> crate::automations::AutomationClient {
        crate::automations::AutomationClient::new(self.rpc.clone())
    }

    /// Storage locations (directories and buckets automations watch) and the object events they recorded.
    pub fn storage_locations(&self) -> crate::storage::StorageLocationClient {
        crate::storage::StorageLocationClient::new(self.rpc.clone())
    }

    /// Workflow definitions: named, described workflows (the hosted API's catalogue entries).
    pub fn definitions(&self) -> crate::definitions::DefinitionClient {
        crate::definitions::DefinitionClient::new(self.rpc.clone())
    }

    /// Start configuring a task runner.
    pub fn runner(&self) -> crate::runner::RunnerBuilder {
        crate::runner::RunnerBuilder::new(self.clone())
    }
}

pub(crate) fn id_msg(id: Uuid) -> tb::Id {
    tb::Id {
        uuid: bytes::Bytes::copy_from_slice(id.as_bytes()),
    }
}

pub(crate) fn uuid_of(id: Option<&tb::Id>) -> Uuid {
    id.and_then(|i| Uuid::from_slice(&i.uuid).ok())
        .unwrap_or(Uuid::nil())
}

pub(crate) fn time_of(ts: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    let ts = ts?;
    let secs = u64::try_from(ts.seconds).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, u32::try_from(ts.nanos).unwrap_or(0)))
}

/// The wire form of a time (times before the epoch clamp to it).
pub(crate) fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A half-open `[start, end)` interval on the wire.
pub(crate) fn interval(start: SystemTime, end: SystemTime) -> tb::TimeInterval {
    tb::TimeInterval {
        start_time: Some(timestamp(start)),
        end_time: Some(timestamp(end)),
        start_exclusive: false,
        end_inclusive: false,
    }
}

fn duration_of(d: Option<&prost_types::Duration>) -> Duration {
    d.and_then(|d| {
        let secs = u64::try_from(d.seconds).ok()?;
        Some(Duration::new(secs, u32::try_from(d.nanos).unwrap_or(0)))
    })
    .unwrap_or_default()
}

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// Unknown / not set.
    Unspecified,
    /// Nothing has run yet.
    Submitted,
    /// At least one task is running (or a retry just rescheduled tasks).
    Running,
    /// Work happened, nothing runs right now.
    Started,
    /// Every task completed.
    Completed,
    /// A task failed for good.
    Failed,
    /// Canceled by a user.
    Canceled,
}

impl JobState {
    pub(crate) fn from_wire(v: i32) -> Self {
        match wf::JobState::try_from(v) {
            Ok(wf::JobState::Submitted) => Self::Submitted,
            Ok(wf::JobState::Running) => Self::Running,
            Ok(wf::JobState::Started) => Self::Started,
            Ok(wf::JobState::Completed) => Self::Completed,
            Ok(wf::JobState::Failed) => Self::Failed,
            Ok(wf::JobState::Canceled) => Self::Canceled,
            _ => Self::Unspecified,
        }
    }

    fn to_wire(self) -> i32 {
        (match self {
            Self::Unspecified => wf::JobState::Unspecified,
            Self::Submitted => wf::JobState::Submitted,
            Self::Running => wf::JobState::Running,
            Self::Started => wf::JobState::Started,
            Self::Completed => wf::JobState::Completed,
            Self::Failed => wf::JobState::Failed,
            Self::Canceled => wf::JobState::Canceled,
        }) as i32
    }

    /// Completed, failed or canceled.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled)
    }
}

/// State of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Unknown / not set.
    Unspecified,
    /// Waiting.
    Queued,
    /// Leased to a runner.
    Running,
    /// Executed successfully.
    Computed,
    /// Failed after its retries; the job failed.
    Failed,
    /// Not executed because its optional subtree failed.
    Skipped,
    /// Failed inside an optional subtree; the job carries on.
    FailedOptional,
}

impl TaskState {
    fn to_wire(self) -> i32 {
        (match self {
            Self::Unspecified => wf::TaskState::Unspecified,
            Self::Queued => wf::TaskState::Queued,
            Self::Running => wf::TaskState::Running,
            Self::Computed => wf::TaskState::Computed,
            Self::Failed => wf::TaskState::Failed,
            Self::Skipped => wf::TaskState::Skipped,
            Self::FailedOptional => wf::TaskState::FailedOptional,
        }) as i32
    }

    pub(crate) fn from_wire(v: i32) -> Self {
        match wf::TaskState::try_from(v) {
            Ok(wf::TaskState::Queued) => Self::Queued,
            Ok(wf::TaskState::Running) => Self::Running,
            Ok(wf::TaskState::Computed) => Self::Computed,
            Ok(wf::TaskState::Failed) => Self::Failed,
            Ok(wf::TaskState::Skipped) => Self::Skipped,
            Ok(wf::TaskState::FailedOptional) => Self::FailedOptional,
            _ => Self::Unspecified,
        }
    }
}

/// A progress indicator of a job: summed over its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Label (`""` is the default indicator).
    pub label: String,
    /// Total work units.
    pub total: u64,
    /// Finished work units.
    pub done: u64,
}

/// One task of a job, as listed by [`JobClient::get`].
#[derive(Debug, Clone)]
pub struct TaskSummary {
    /// Task id.
    pub id: Uuid,
    /// Display name (with the error text appended after a failure).
    pub display: String,
    /// State.
    pub state: TaskState,
    /// The task that submitted it (`None` for root tasks).
    pub parent_id: Option<Uuid>,
    /// Start of the latest attempt.
    pub started_at: Option<SystemTime>,
    /// End of the latest attempt.
    pub stopped_at: Option<SystemTime>,
}

/// The older, coarser state of a job the API still sends (deprecated upstream in favour of [`JobState`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LegacyJobState {
    /// Not set.
    Unspecified,
    /// Nothing has run yet.
    Queued,
    /// Some task started.
    Started,
    /// Finished.
    Completed,
}

impl LegacyJobState {
    fn from_wire(v: i32) -> Self {
        match wf::LegacyJobState::try_from(v) {
            Ok(wf::LegacyJobState::Queued) => Self::Queued,
            Ok(wf::LegacyJobState::Started) => Self::Started,
            Ok(wf::LegacyJobState::Completed) => Self::Completed,
            _ => Self::Unspecified,
        }
    }
}

/// Timing and count figures of a job, derived by the server from its tasks.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ExecutionStats {
    /// When the first task started.
    pub first_task_started_at: Option<SystemTime>,
    /// When the last task stopped.
    pub last_task_stopped_at: Option<SystemTime>,
    /// Sum of the compute time of every task.
    pub compute_time: Duration,
    /// Wall time between the first start and the last stop.
    pub elapsed_time: Duration,
    /// `compute_time / elapsed_time`.
    pub parallelism: f64,
    /// Number of tasks.
    pub total_tasks: u64,
    /// Number of tasks per state (states without tasks may be left out).
    pub tasks_by_state: Vec<(TaskState, u64)>,
}

impl ExecutionStats {
    fn from_wire(s: &wf::ExecutionStats) -> Self {
        Self {
            first_task_started_at: time_of(s.first_task_started_at.as_ref()),
            last_task_stopped_at: time_of(s.last_task_stopped_at.as_ref()),
            compute_time: duration_of(s.compute_time.as_ref()),
            elapsed_time: duration_of(s.elapsed_time.as_ref()),
            parallelism: s.parallelism,
            total_tasks: s.total_tasks,
            tasks_by_state: s
                .tasks_by_state
                .iter()
                .map(|c| (TaskState::from_wire(c.state), c.count))
                .collect(),
        }
    }

    /// Number of tasks in `state` according to the server's counts.
    pub fn tasks_in(&self, state: TaskState) -> u64 {
        self.tasks_by_state
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, n)| n)
            .sum()
    }
}

/// A job: everything the API sends about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Job {
    /// Job id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// W3C trace parent: the trace context every task of the job runs in.
    pub trace_parent: String,
    /// State.
    pub state: JobState,
    /// The older, coarser state (deprecated upstream).
    pub legacy_state: LegacyJobState,
    /// Canceled or failed (deprecated upstream; see [`Job::state`]).
    pub canceled: bool,
    /// Submission time.
    pub submitted_at: Option<SystemTime>,
    /// When the first task started (deprecated upstream; see [`ExecutionStats::first_task_started_at`]).
    pub started_at: Option<SystemTime>,
    /// The automation that submitted the job, if any.
    pub automation_id: Option<Uuid>,
    /// Progress indicators.
    pub progress: Vec<Progress>,
    /// Tasks (filled by [`JobClient::get`] only).
    pub tasks: Vec<TaskSummary>,
    /// Execution statistics, when the server sent them.
    pub execution_stats: Option<ExecutionStats>,
    /// Total compute time over all tasks (zero without execution statistics).
    pub compute_time: Duration,
    /// Number of tasks (zero without execution statistics).
    pub total_tasks: u64,
}

impl Job {
    #[allow(deprecated)]
    pub(crate) fn from_wire(j: &wf::Job) -> Self {
        let stats = j.execution_stats.as_ref().map(ExecutionStats::from_wire);
        Self {
            id: uuid_of(j.id.as_ref()),
            name: j.name.clone(),
            trace_parent: j.trace_parent.clone(),
            state: JobState::from_wire(j.state),
            legacy_state: LegacyJobState::from_wire(j.legacy_state),
            canceled: j.canceled,
            submitted_at: time_of(j.submitted_at.as_ref()),
            started_at: time_of(j.started_at.as_ref()),
            automation_id: j
                .automation_id
                .as_ref()
                .map(|a| uuid_of(Some(a)))
                .filter(|a| !a.is_nil()),
            progress: j
                .progress
                .iter()
                .map(|p| Progress {
                    label: p.label.clone(),
                    total: p.total,
                    done: p.done,
                })
                .collect(),
            tasks: j
                .task_summaries
                .iter()
                .map(|t| TaskSummary {
                    id: uuid_of(t.id.as_ref()),
                    display: t.display.clone(),
                    state: TaskState::from_wire(t.state),
                    parent_id: t.parent_id.as_ref().map(|p| uuid_of(Some(p))),
                    started_at: time_of(t.started_at.as_ref()),
                    stopped_at: time_of(t.stopped_at.as_ref()),
                })
                .collect(),
            compute_time: stats.as_ref().map(|s| s.compute_time).unwrap_or_default(),
            total_tasks: stats.as_ref().map(|s| s.total_tasks).unwrap_or(0),
            execution_stats: stats,
        }
    }

    /// Number of listed tasks in `state` (tasks are listed by [`JobClient::get`]).
    pub fn count(&self, state: TaskState) -> usize {
        self.tasks.iter().filter(|t| t.state == state).count()
    }

    /// The progress indicator with `label`.
    pub fn progress(&self, label: &str) -> Option<&Progress> {
        self.progress.iter().find(|p| p.label == label)
    }
}

/// Options of a job submission.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    cluster: String,
    max_retries: i64,
    trace_parent: Option<String>,
    automation: Option<Uuid>,
}

impl SubmitOptions {
    /// Defaults: default cluster, no retries, the trace parent of the current OpenTelemetry span (feature
    /// `otel`) or a new random trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run the root task on this cluster (empty = the default cluster).
    pub fn cluster(mut self, slug: impl Into<String>) -> Self {
        self.cluster = slug.into();
        self
    }

    /// Retries of the root task.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = i64::from(n);
        self
    }

    /// The automation the job belongs to (what automations set; [`JobQuery::automations`] filters by it).
    pub fn automation(mut self, id: Uuid) -> Self {
        self.automation = Some(id);
        self
    }

    /// A W3C trace parent (`00-<32 hex>-<16 hex>-01`) to link the job to a trace.
    pub fn trace_parent(mut self, tp: impl Into<String>) -> Self {
        self.trace_parent = Some(tp.into());
        self
    }
}

/// Filters of [`JobClient::query`].
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    filters: wf::QueryFilters,
    page_size: Option<i64>,
    ascending: bool,
}

impl JobQuery {
    /// All jobs, newest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Jobs submitted in `[start, end)`.
    pub fn submitted_between(mut self, start: SystemTime, end: SystemTime) -> Self {
        self.filters.time_interval = Some(interval(start, end));
        self
    }

    /// Jobs in one of these states.
    pub fn states(mut self, states: &[JobState]) -> Self {
        self.filters.states = states.iter().map(|s| s.to_wire()).collect();
        self
    }

    /// Jobs whose name contains `name` (case-insensitive).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.filters.name = name.into();
        self
    }

    /// Jobs submitted by one of these automations.
    pub fn automations(mut self, ids: &[Uuid]) -> Self {
        self.filters.automation_ids = ids.iter().map(|id| id_msg(*id)).collect();
        self
    }

    /// Jobs with at least one task in one of these states.
    pub fn task_states(mut self, states: &[TaskState]) -> Self {
        self.filters.task_states = states.iter().map(|s| s.to_wire()).collect();
        self
    }

    /// Jobs with a task on one of these clusters.
    pub fn clusters(mut self, slugs: &[&str]) -> Self {
        self.filters.cluster_slugs = slugs.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Page size of the underlying requests.
    pub fn page_size(mut self, n: i64) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Oldest first.
    pub fn ascending(mut self) -> Self {
        self.ascending = true;
        self
    }
}

/// Jobs.
#[derive(Clone, Debug)]
pub struct JobClient {
    pub(crate) rpc: RpcClient,
}

impl JobClient {
    /// Submit a job with one root task.
    pub async fn submit<T: TaskSpec>(&self, name: &str, task: &T) -> Result<Job> {
        self.submit_with(name, task, SubmitOptions::new()).await
    }

    /// Submit a job with one root task and options. Input size and identifier are checked before sending.
    pub async fn submit_with<T: TaskSpec>(
        &self,
        name: &str,
        task: &T,
        options: SubmitOptions,
    ) -> Result<Job> {
        let (identifier, input) = encode_checked(task)?;
        let pending = PendingTask {
            identifier,
            input,
            display: task.display(),
            cluster: options.cluster.clone(),
            max_retries: options.max_retries,
            optional: false,
            depends_on: Vec::new(),
        };
        let tasks = build_submissions(std::slice::from_ref(&pending))?;
        let req = wf::SubmitJobRequest {
            tasks: Some(tasks),
            job_name: name.to_owned(),
            trace_parent: options
                .trace_parent
                .unwrap_or_else(crate::trace::new_job_trace_parent),
            automation_id: options.automation.map(id_msg),
            ..Default::default()
        };
        let job = self.rpc.submit_job(req).await?;
        Ok(Job::from_wire(&job))
    }

    /// A job with its task summaries.
    pub async fn get(&self, id: Uuid) -> Result<Job> {
        let req = wf::GetJobRequest {
            job_id: Some(id_msg(id)),
        };
        let job = self.rpc.get_job(req).await?;
        Ok(Job::from_wire(&job))
    }

    /// A job's state and progress (no task summaries).
    pub async fn progress(&self, id: Uuid) -> Result<Job> {
        let req = wf::GetJobProgressRequest {
            job_id: Some(id_msg(id)),
        };
        let job = self.rpc.get_job_progress(req).await?;
        Ok(Job::from_wire(&job))
    }

    /// Stop handing out the job's queued tasks; running tasks finish.
    pub async fn cancel(&self, id: Uuid) -> Result<()> {
        let req = wf::CancelJobRequest {
            job_id: Some(id_msg(id)),
        };
        self.rpc.cancel_job(req).await?;
        Ok(())
    }

    /// Requeue failed tasks and resume a canceled job; returns how many tasks were requeued.
    pub async fn retry(&self, id: Uuid) -> Result<i64> {
        let req = wf::RetryJobRequest {
            job_id: Some(id_msg(id)),
        };
        let resp = self.rpc.retry_job(req).await?;
        Ok(resp.num_tasks_rescheduled)
    }

    /// All jobs matching `query` (every page).
    pub async fn query(&self, query: &JobQuery) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.query_page(query, cursor.as_ref()).await?;
            out.extend(page.jobs);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// One page of the jobs matching `query`: the first page for `cursor = None`, then the page after
    /// [`JobPage::next`] until that is `None`.
    pub async fn query_page(
        &self,
        query: &JobQuery,
        cursor: Option<&JobCursor>,
    ) -> Result<JobPage> {
        let page = match cursor {
            Some(c) => Some(c.0.clone()),
            None => query.page_size.map(|limit| tb::Pagination {
                limit: Some(limit),
                starting_after: None,
            }),
        };
        let req = wf::QueryJobsRequest {
            filters: Some(query.filters.clone()),
            page,
            sort_direction: if query.ascending {
                tb::SortDirection::Ascending as i32
            } else {
                tb::SortDirection::Unspecified as i32
            },
        };
        let resp = self.rpc.query_jobs(req).await?;
        Ok(JobPage {
            jobs: resp.jobs.iter().map(Job::from_wire).collect(),
            next: resp
                .next_page
                .filter(|n| n.starting_after.is_some())
                .map(JobCursor),
        })
    }

    /// The job's task graph rendered by the server (an SVG document), as the official client's
    /// `visualize` does.
    pub async fn visualize(&self, id: Uuid, options: &DiagramOptions) -> Result<String> {
        let req = wf::VisualizeJobRequest {
            job_id: Some(id_msg(id)),
            render_options: Some(wf::RenderOptions {
                layout: options.layout.clone(),
                theme_id: None,
                sketchy: options.sketchy,
                padding: options.padding,
                direction: options.direction.clone(),
            }),
            theme: wf::WorkflowDiagramTheme::Unspecified as i32,
            include_job_name: options.include_job_name,
        };
        let diagram = self.rpc.visualize_job(req).await?;
        Ok(String::from_utf8_lossy(&diagram.svg).into_owned())
    }
}

/// Where the next page of a job query starts (opaque; from [`JobPage::next`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JobCursor(tb::Pagination);

/// One page of a job query.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs of this page.
    pub jobs: Vec<Job>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<JobCursor>,
}

/// How [`JobClient::visualize`] renders a job (defaults as in the official client: top-down "dagre"
/// layout, sketchy, 5 px padding).
#[derive(Debug, Clone)]
pub struct DiagramOptions {
    direction: String,
    layout: String,
    sketchy: bool,
    padding: i64,
    include_job_name: bool,
}

impl Default for DiagramOptions {
    fn default() -> Self {
        Self {
            direction: "down".to_owned(),
            layout: "dagre".to_owned(),
            sketchy: true,
            padding: 5,
            include_job_name: false,
        }
    }
}

impl DiagramOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Direction of the graph: `"down"`, `"up"`, `"left"` or `"right"`.
    pub fn direction(mut self, direction: impl Into<String>) -> Self {
        self.direction = direction.into();
        self
    }

    /// Layout engine, e.g. `"dagre"` or `"elk"`.
    pub fn layout(mut self, layout: impl Into<String>) -> Self {
        self.layout = layout.into();
        self
    }

    /// Hand-drawn look.
    pub fn sketchy(mut self, sketchy: bool) -> Self {
        self.sketchy = sketchy;
        self
    }

    /// Put the job's name above the graph.
    pub fn include_job_name(mut self, include: bool) -> Self {
        self.include_job_name = include;
        self
    }
}

/// A cluster: a routing namespace that runners poll.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cluster {
    /// Slug (what runners poll and submissions name).
    pub slug: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// False for the default cluster.
    pub deletable: bool,
    /// Workflows released to this cluster (their names), as the hosted API lists them.
    pub deployed_workflows: Vec<String>,
}

impl Cluster {
    fn from_wire(c: wf::Cluster) -> Self {
        Self {
            slug: c.slug,
            display_name: c.display_name,
            description: c.description,
            deletable: c.deletable,
            deployed_workflows: c.deployed_releases.into_iter().map(|w| w.name).collect(),
        }
    }
}

/// Clusters.
#[derive(Clone, Debug)]
pub struct ClusterClient {
    rpc: RpcClient,
}

impl ClusterClient {
    /// A cluster by slug; an empty slug gives the default cluster.
    pub async fn get(&self, slug: &str) -> Result<Cluster> {
        let req = wf::GetClusterRequest {
            cluster_slug: slug.to_owned(),
        };
        let c = self.rpc.get_cluster(req).await?;
        Ok(Cluster::from_wire(c))
    }

    /// The default cluster.
    pub async fn default_cluster(&self) -> Result<Cluster> {
        self.get("").await
    }

    /// Every cluster (the default one first).
    pub async fn list(&self) -> Result<Vec<Cluster>> {
        let resp = self.rpc.list_clusters(wf::ListClustersRequest {}).await?;
        Ok(resp.clusters.into_iter().map(Cluster::from_wire).collect())
    }

    /// Create a cluster named `name`; the server derives the slug.
    pub async fn create(&self, name: &str) -> Result<Cluster> {
        self.create_with_slug(name, "").await
    }

    /// Create a cluster with an explicit slug (`[A-Za-z0-9-]*`; empty lets the server choose).
    pub async fn create_with_slug(&self, name: &str, slug: &str) -> Result<Cluster> {
        let req = wf::CreateClusterRequest {
            name: name.to_owned(),
            description: String::new(),
            slug: slug.to_owned(),
        };
        let c = self.rpc.create_cluster(req).await?;
        Ok(Cluster::from_wire(c))
    }

    /// Create a cluster with a description; an empty slug lets the server derive one from the name.
    pub async fn create_with(&self, name: &str, slug: &str, description: &str) -> Result<Cluster> {
        let req = wf::CreateClusterRequest {
            name: name.to_owned(),
            description: description.to_owned(),
            slug: slug.to_owned(),
        };
        Ok(Cluster::from_wire(self.rpc.create_cluster(req).await?))
    }

    /// Change a cluster's display name and/or description (`None` keeps the current value).
    pub async fn update(
        &self,
        slug: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Cluster> {
        let req = wf::UpdateClusterRequest {
            cluster_slug: slug.to_owned(),
            name: name.map(str::to_owned),
            description: description.map(str::to_owned),
        };
        Ok(Cluster::from_wire(self.rpc.update_cluster(req).await?))
    }

    /// Delete a cluster (the default cluster cannot be deleted).
    pub async fn delete(&self, slug: &str) -> Result<()> {
        let req = wf::DeleteClusterRequest {
            cluster_slug: slug.to_owned(),
        };
        self.rpc.delete_cluster(req).await?;
        Ok(())
    }
}
