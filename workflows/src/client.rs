//! The workflows client: jobs ([`JobClient`]) and clusters ([`ClusterClient`]) over the core's RPC layer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tilebox_core::config::ClientConfig;
use tilebox_core::rpc::RpcClient;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use uuid::Uuid;

use crate::error::{Result, WorkflowsError};
use crate::submission::{PendingTask, build_submissions};
use crate::task::{TaskSpec, encode_checked};

/// Entry point of the workflows API: cheap to clone, `Send + Sync`.
///
/// Clones share one connection pool, and a pooled connection is served by a task on the runtime that opened
/// it. Share a client between runtimes only if each of them keeps running (a multi-thread runtime, or a
/// thread that stays inside `block_on`): a connection opened inside a current-thread runtime's `block_on`
/// stalls once that call returns, and whichever runtime reuses it next waits for an answer that never comes.
/// [`BlockingClient`](crate::BlockingClient) and the runners keep to this.
#[derive(Clone, Debug)]
pub struct Client {
    rpc: RpcClient,
}

impl Client {
    /// A client for `url` (e.g. `http://127.0.0.1:PORT`); the API key comes from `TILEBOX_API_KEY` if set.
    pub fn new(url: impl Into<String>) -> Result<Self> {
        Self::with_config(ClientConfig::builder().url(url).build())
    }

    /// A client configured from the environment (`TILEBOX_API_URL`, `TILEBOX_API_KEY`).
    pub fn from_env() -> Result<Self> {
        Self::with_config(ClientConfig::builder().build())
    }

    /// A client with a full core configuration, sending through the tokio adapter's transport (configured
    /// from `config` like every datasets client).
    pub fn with_config(config: ClientConfig) -> Result<Self> {
        use tilebox_core::{Runtime, TransportSettings};
        let settings = TransportSettings::from_config(&config, None);
        let transport = tilebox_tokio::Tokio::transport(&settings).map_err(|e| {
            WorkflowsError::Rpc(tilebox_core::Error::Transport {
                source: e,
                attempts: 0,
            })
        })?;
        Ok(Self {
            rpc: RpcClient::new(config, transport, tilebox_tokio::Tokio::sleep()),
        })
    }

    /// A client over an existing RPC client (any transport, e.g. a replay transport in tests).
    pub fn from_rpc(rpc: RpcClient) -> Self {
        Self { rpc }
    }

    /// The underlying RPC client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Jobs: submit, get, progress, query, cancel, retry.
    pub fn jobs(&self) -> JobClient {
        JobClient {
            rpc: self.rpc.clone(),
        }
    }

    /// Clusters: get, list, create, delete.
    pub fn clusters(&self) -> ClusterClient {
        ClusterClient {
            rpc: self.rpc.clone(),
        }
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

fn time_of(ts: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    let ts = ts?;
    let secs = u64::try_from(ts.seconds).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, u32::try_from(ts.nanos).unwrap_or(0)))
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
    fn from_wire(v: i32) -> Self {
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

/// A job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Job id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// W3C trace parent.
    pub trace_parent: String,
    /// State.
    pub state: JobState,
    /// Submission time.
    pub submitted_at: Option<SystemTime>,
    /// Progress indicators.
    pub progress: Vec<Progress>,
    /// Tasks (filled by [`JobClient::get`] only).
    pub tasks: Vec<TaskSummary>,
    /// Total compute time over all tasks.
    pub compute_time: Duration,
    /// Number of tasks.
    pub total_tasks: u64,
}

impl Job {
    pub(crate) fn from_wire(j: &wf::Job) -> Self {
        let stats = j.execution_stats.as_ref();
        Self {
            id: uuid_of(j.id.as_ref()),
            name: j.name.clone(),
            trace_parent: j.trace_parent.clone(),
            state: JobState::from_wire(j.state),
            submitted_at: time_of(j.submitted_at.as_ref()),
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
            compute_time: duration_of(stats.and_then(|s| s.compute_time.as_ref())),
            total_tasks: stats.map(|s| s.total_tasks).unwrap_or(0),
        }
    }

    /// Number of tasks in `state`.
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
}

impl SubmitOptions {
    /// Defaults: default cluster, no retries, a random trace parent.
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

    /// A W3C trace parent (`00-<32 hex>-<16 hex>-01`) to link the job to a trace.
    pub fn trace_parent(mut self, tp: impl Into<String>) -> Self {
        self.trace_parent = Some(tp.into());
        self
    }
}

fn random_trace_parent() -> String {
    let trace = Uuid::new_v4().simple().to_string();
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
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
        let ts = |t: SystemTime| {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            prost_types::Timestamp {
                seconds: d.as_secs() as i64,
                nanos: d.subsec_nanos() as i32,
            }
        };
        self.filters.time_interval = Some(tb::TimeInterval {
            start_time: Some(ts(start)),
            end_time: Some(ts(end)),
            start_exclusive: false,
            end_inclusive: false,
        });
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
    rpc: RpcClient,
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
            trace_parent: options.trace_parent.unwrap_or_else(random_trace_parent),
            ..Default::default()
        };
        let job: wf::Job = self
            .rpc
            .call("workflows.v1.JobService/SubmitJob", &req)
            .await?;
        Ok(Job::from_wire(&job))
    }

    /// A job with its task summaries.
    pub async fn get(&self, id: Uuid) -> Result<Job> {
        let req = wf::GetJobRequest {
            job_id: Some(id_msg(id)),
        };
        let job: wf::Job = self
            .rpc
            .call("workflows.v1.JobService/GetJob", &req)
            .await?;
        Ok(Job::from_wire(&job))
    }

    /// A job's state and progress (no task summaries).
    pub async fn progress(&self, id: Uuid) -> Result<Job> {
        let req = wf::GetJobProgressRequest {
            job_id: Some(id_msg(id)),
        };
        let job: wf::Job = self
            .rpc
            .call("workflows.v1.JobService/GetJobProgress", &req)
            .await?;
        Ok(Job::from_wire(&job))
    }

    /// Stop handing out the job's queued tasks; running tasks finish.
    pub async fn cancel(&self, id: Uuid) -> Result<()> {
        let req = wf::CancelJobRequest {
            job_id: Some(id_msg(id)),
        };
        let _: wf::CancelJobResponse = self
            .rpc
            .call("workflows.v1.JobService/CancelJob", &req)
            .await?;
        Ok(())
    }

    /// Requeue failed tasks and resume a canceled job; returns how many tasks were requeued.
    pub async fn retry(&self, id: Uuid) -> Result<i64> {
        let req = wf::RetryJobRequest {
            job_id: Some(id_msg(id)),
        };
        let resp: wf::RetryJobResponse = self
            .rpc
            .call("workflows.v1.JobService/RetryJob", &req)
            .await?;
        Ok(resp.num_tasks_rescheduled)
    }

    /// All jobs matching `query` (every page).
    pub async fn query(&self, query: &JobQuery) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        let mut page = query.page_size.map(|limit| tb::Pagination {
            limit: Some(limit),
            starting_after: None,
        });
        loop {
            let req = wf::QueryJobsRequest {
                filters: Some(query.filters.clone()),
                page: page.clone(),
                sort_direction: if query.ascending {
                    tb::SortDirection::Ascending as i32
                } else {
                    tb::SortDirection::Unspecified as i32
                },
            };
            let resp: wf::QueryJobsResponse = self
                .rpc
                .call("workflows.v1.JobService/QueryJobs", &req)
                .await?;
            out.extend(resp.jobs.iter().map(Job::from_wire));
            match resp.next_page {
                Some(next) if next.starting_after.is_some() => page = Some(next),
                _ => return Ok(out),
            }
        }
    }
}

/// A cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Slug (what runners poll and submissions name).
    pub slug: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// False for the default cluster.
    pub deletable: bool,
}

impl Cluster {
    fn from_wire(c: wf::Cluster) -> Self {
        Self {
            slug: c.slug,
            display_name: c.display_name,
            description: c.description,
            deletable: c.deletable,
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
        let c: wf::Cluster = self
            .rpc
            .call("workflows.v1.WorkflowsService/GetCluster", &req)
            .await?;
        Ok(Cluster::from_wire(c))
    }

    /// The default cluster.
    pub async fn default_cluster(&self) -> Result<Cluster> {
        self.get("").await
    }

    /// Every cluster (the default one first).
    pub async fn list(&self) -> Result<Vec<Cluster>> {
        let resp: wf::ListClustersResponse = self
            .rpc
            .call(
                "workflows.v1.WorkflowsService/ListClusters",
                &wf::ListClustersRequest {},
            )
            .await?;
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
        let c: wf::Cluster = self
            .rpc
            .call("workflows.v1.WorkflowsService/CreateCluster", &req)
            .await?;
        Ok(Cluster::from_wire(c))
    }

    /// Delete a cluster (the default cluster cannot be deleted).
    pub async fn delete(&self, slug: &str) -> Result<()> {
        let req = wf::DeleteClusterRequest {
            cluster_slug: slug.to_owned(),
        };
        let _: wf::DeleteClusterResponse = self
            .rpc
            .call("workflows.v1.WorkflowsService/DeleteCluster", &req)
            .await?;
        Ok(())
    }
}
