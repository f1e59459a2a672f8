//! Storage of the workflows services behind the [`WorkflowsStore`] trait, with its SQLite and PostgreSQL
//! implementations.
//!
//! The trait speaks in plain records (ids are 16-byte arrays, times are microseconds since the Unix epoch,
//! states are the wire enums). What a transition does to a task, its parent, its group and its job is decided
//! by the rules in [`machine`]; SQL stays inside the backends. Every write is one transaction that completes or rolls back even when the request that asked
//! for it is cancelled.

pub mod automations;
pub(crate) mod machine;
mod records_ext;
mod sql;
mod values;

use std::ops::Bound;

use bytes::Bytes;
use futures::future::BoxFuture;
use tilebox_core::wire::workflows::v1::{JobState, TaskState};

pub use records_ext::{
    JobPrototype, JobStateCounts, JobTaskPage, JobTaskRecord, NewTelemetry, PrototypeTask,
    QueueStats, Retention, StoredTelemetry, TelemetryKind, TelemetryPage, TelemetryQuery,
    TelemetryScope, WorkflowRecord,
};
pub use sql::SqlWorkflowsStore;

use super::{RawId, StoreError};

/// A random alphanumeric suffix for generated cluster slugs.
pub(crate) fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < len {
                out.push(ALPHABET[(*b as usize) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// Errors of the workflows storage: expected outcomes a caller maps to an RPC code, or a storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowsStoreError {
    /// A referenced job, task or cluster does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A cluster with that slug exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request refers to something that does not exist in a way that makes it invalid (a submission
    /// naming an unknown cluster).
    #[error("{0}")]
    InvalidArgument(String),
    /// The state forbids the change (deleting the default cluster).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::store::db::DbError> for WorkflowsStoreError {
    fn from(e: crate::store::db::DbError) -> Self {
        WorkflowsStoreError::Store(e.into())
    }
}

/// Result of a workflows storage operation.
pub type WfResult<T> = Result<T, WorkflowsStoreError>;

/// A cluster: a routing namespace runners poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRecord {
    /// Unique slug.
    pub slug: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Whether this is the default cluster (exactly one is; it cannot be deleted).
    pub is_default: bool,
}

/// One task of a submission, validated.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Task identifier name.
    pub name: String,
    /// Task identifier version (`vMAJOR.MINOR`).
    pub version: String,
    /// Parsed major version.
    pub major: i64,
    /// Parsed minor version.
    pub minor: i64,
    /// Cluster to run on; `None` inherits the parent's cluster (the default cluster for root tasks).
    pub cluster: Option<String>,
    /// Display name.
    pub display: String,
    /// Encoded task input.
    pub input: Bytes,
    /// How many failures the task may retry.
    pub max_retries: i64,
    /// An optional task's failure does not fail its job.
    pub optional: bool,
}

/// A group of tasks submitted together; it waits for the groups it depends on.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// Indices of groups of the same submission this group waits for.
    pub deps: Vec<usize>,
    /// The group's tasks.
    pub tasks: Vec<NewTask>,
}

/// A job submission, validated.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Job name.
    pub name: String,
    /// W3C trace parent of the job.
    pub trace_parent: String,
    /// Automation that submitted the job.
    pub automation_id: Option<RawId>,
    /// The root task groups.
    pub groups: Vec<NewGroup>,
}

/// A progress indicator of a task (summed per label over a job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRecord {
    /// Label (unique per task).
    pub label: String,
    /// Total units of work.
    pub total: u64,
    /// Units done.
    pub done: u64,
}

/// Execution figures of a job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStats {
    /// When the first task started.
    pub first_started_us: Option<i64>,
    /// When the last task stopped.
    pub last_stopped_us: Option<i64>,
    /// Summed compute time of all task runs.
    pub compute_us: i64,
    /// Number of tasks.
    pub total_tasks: u64,
    /// Number of tasks per state, ordered by state.
    pub tasks_by_state: Vec<(TaskState, u64)>,
}

/// One task of a job as shown in job views and diagrams.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSummaryRecord {
    /// Task id.
    pub id: RawId,
    /// Parent task, `None` for root tasks.
    pub parent_id: Option<RawId>,
    /// Display name.
    pub display: String,
    /// Current state.
    pub state: TaskState,
    /// When its current or last run started.
    pub started_at_us: Option<i64>,
    /// When its last run stopped.
    pub stopped_at_us: Option<i64>,
}

/// A job with its derived state, progress and figures.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Job id (a UUIDv7: ids sort by submission time).
    pub id: RawId,
    /// Job name.
    pub name: String,
    /// W3C trace parent.
    pub trace_parent: String,
    /// Automation that submitted the job.
    pub automation_id: Option<RawId>,
    /// Submission time.
    pub submitted_at_us: i64,
    /// Whether the job was canceled.
    pub canceled: bool,
    /// Derived job state.
    pub state: JobState,
    /// Progress indicators summed per label, ordered by label.
    pub progress: Vec<ProgressRecord>,
    /// Execution figures.
    pub stats: JobStats,
    /// The job's tasks ordered by id; empty unless asked for.
    pub tasks: Vec<TaskSummaryRecord>,
}

/// Filters and page of a job query. Results are ordered by id (= submission time).
#[derive(Debug, Clone)]
pub struct JobQuery {
    /// Submission time bounds.
    pub submitted: (Bound<i64>, Bound<i64>),
    /// Job id bounds.
    pub ids: (Bound<RawId>, Bound<RawId>),
    /// Only jobs of these automations (any when empty).
    pub automation_ids: Vec<RawId>,
    /// Only jobs in these states (any when empty).
    pub states: Vec<JobState>,
    /// Only jobs whose name contains this (case-insensitive).
    pub name: Option<String>,
    /// Only jobs with at least one task in one of these states (any when empty).
    pub task_states: Vec<TaskState>,
    /// Only jobs with at least one task on one of these clusters (any when empty).
    pub clusters: Vec<String>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// The cursor: the last job id of the previous page.
    pub starting_after: Option<RawId>,
    /// Page size.
    pub limit: u64,
}

/// One page of a job query.
#[derive(Debug, Clone)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<JobRecord>,
    /// Whether more jobs match after the last one of this page.
    pub more: bool,
}

/// What a runner may run.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Cluster the runner polls.
    pub cluster: String,
    /// Task identifiers it runs: (name, major, highest minor).
    pub identifiers: Vec<(String, i64, i64)>,
}

/// A task's completion report.
#[derive(Debug, Clone)]
pub struct ComputedReport {
    /// The task.
    pub id: RawId,
    /// New display name, if any.
    pub display: Option<String>,
    /// Progress indicators to store.
    pub progress: Vec<ProgressRecord>,
    /// Subtask groups the task submitted.
    pub subtasks: Vec<NewGroup>,
}

/// A task's failure report.
#[derive(Debug, Clone)]
pub struct FailureReport {
    /// The task.
    pub id: RawId,
    /// New display name, if any.
    pub display: Option<String>,
    /// Whether the task itself failed (counts against its retries) rather than the runner giving it up.
    pub was_workflow_error: bool,
    /// Progress indicators to store.
    pub progress: Vec<ProgressRecord>,
}

/// A lease on a running task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Length of the lease.
    pub lease_us: i64,
    /// When the runner should ask for an extension, measured from now.
    pub recommended_wait_us: i64,
}

/// A task handed to a runner.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    /// Task id.
    pub id: RawId,
    /// Identifier name.
    pub name: String,
    /// Identifier version.
    pub version: String,
    /// Encoded input.
    pub input: Bytes,
    /// Display name.
    pub display: String,
    /// Failures plus lease expiries so far.
    pub retry_count: i64,
    /// The job's id.
    pub job_id: RawId,
    /// The job's name.
    pub job_name: String,
    /// The job's trace parent.
    pub trace_parent: String,
    /// The job's submission time.
    pub submitted_at_us: i64,
    /// The lease the runner holds.
    pub lease: Lease,
}

/// Storage operations of the workflows services. Object safe; use as `Arc<dyn WorkflowsStore>`.
///
/// Every write runs as one transaction to completion (commit or rollback) even when the caller's future is
/// dropped.
pub trait WorkflowsStore: automations::AutomationStore + Send + Sync + 'static {
    /// A cluster by slug, the default cluster for `None`.
    fn get_cluster(&self, slug: Option<String>) -> BoxFuture<'_, WfResult<Option<ClusterRecord>>>;
    /// All clusters, the default one first, then by creation.
    fn list_clusters(&self) -> BoxFuture<'_, WfResult<Vec<ClusterRecord>>>;
    /// Creates a (non-default) cluster; `AlreadyExists` when the slug is taken.
    fn create_cluster(&self, cluster: ClusterRecord) -> BoxFuture<'_, WfResult<ClusterRecord>>;
    /// Changes a cluster's name and/or description; `NotFound` when it does not exist.
    fn update_cluster(
        &self,
        slug: String,
        display_name: Option<String>,
        description: Option<String>,
    ) -> BoxFuture<'_, WfResult<ClusterRecord>>;
    /// Deletes a cluster; `NotFound`, or `FailedPrecondition` for the default cluster.
    fn delete_cluster(&self, slug: String) -> BoxFuture<'_, WfResult<()>>;

    /// Stores a job with its root tasks and returns it with its tasks; `InvalidArgument` for unknown clusters.
    fn submit_job(&self, job: NewJob) -> BoxFuture<'_, WfResult<JobRecord>>;
    /// A job, with its tasks when `with_tasks`.
    fn get_job(&self, id: RawId, with_tasks: bool) -> BoxFuture<'_, WfResult<Option<JobRecord>>>;
    /// Cancels a job (its queued tasks are no longer handed out); `NotFound` when it does not exist.
    fn cancel_job(&self, id: RawId) -> BoxFuture<'_, WfResult<()>>;
    /// Requeues a job's failed tasks and returns how many; `NotFound` when it does not exist.
    fn retry_job(&self, id: RawId) -> BoxFuture<'_, WfResult<u64>>;
    /// One page of jobs matching a query.
    fn query_jobs(&self, query: JobQuery) -> BoxFuture<'_, WfResult<JobPage>>;

    /// Applies a completion report (if any), then claims a task (if asked). A repeated or late report for a
    /// task that is no longer queued or running is accepted and changes nothing; `NotFound` for an unknown
    /// task.
    fn next_task(
        &self,
        computed: Option<ComputedReport>,
        claim: Option<ClaimRequest>,
    ) -> BoxFuture<'_, WfResult<Option<ClaimedTask>>>;
    /// Applies a failure report and returns the task's state afterwards; `NotFound` for an unknown task.
    fn task_failed(&self, report: FailureReport) -> BoxFuture<'_, WfResult<TaskState>>;
    /// Extends the lease of a running task by up to `requested_us` (capped by the configured maximum);
    /// `None` when the task is not running (the runner should give it up); `NotFound` for an unknown task.
    fn extend_lease(&self, id: RawId, requested_us: i64) -> BoxFuture<'_, WfResult<Option<Lease>>>;
    /// Requeues (or fails, after too many expiries) running tasks whose lease ran out; returns how many.
    fn reap_expired(&self) -> BoxFuture<'_, WfResult<u64>>;

    /// One page of a job's tasks under `parent` (root tasks for `None`) after the task `after`, by id;
    /// `NotFound` for an unknown job or a parent task not of that job.
    fn list_job_tasks(
        &self,
        job: RawId,
        parent: Option<RawId>,
        after: Option<RawId>,
        limit: u64,
    ) -> BoxFuture<'_, WfResult<JobTaskPage>>;
    /// The name and root tasks a job was submitted with; `NotFound` for an unknown job.
    fn job_prototype(&self, job: RawId) -> BoxFuture<'_, WfResult<JobPrototype>>;
    /// Jobs submitted in the bounds (µs), counted per derived state (states without jobs left out).
    fn job_state_counts(
        &self,
        submitted: (Bound<i64>, Bound<i64>),
    ) -> BoxFuture<'_, WfResult<JobStateCounts>>;
    /// Queue figures over the jobs submitted in the bounds (µs).
    fn task_queue_stats(
        &self,
        submitted: (Bound<i64>, Bound<i64>),
    ) -> BoxFuture<'_, WfResult<QueueStats>>;

    /// Keeps exported log records or spans, then deletes what the retention limit no longer allows;
    /// returns how many were stored.
    fn store_telemetry(
        &self,
        kind: TelemetryKind,
        records: Vec<NewTelemetry>,
        retention: Retention,
    ) -> BoxFuture<'_, WfResult<u64>>;
    /// One page of stored telemetry; `NotFound` for an unknown job.
    fn query_telemetry(&self, query: TelemetryQuery) -> BoxFuture<'_, WfResult<TelemetryPage>>;
    /// Log records whose time lies in the bounds (ns), counted per OTLP severity number.
    fn log_counts(
        &self,
        time: (Bound<i64>, Bound<i64>),
    ) -> BoxFuture<'_, WfResult<Vec<(i32, u64)>>>;

    /// Creates a workflow; `AlreadyExists` when the slug is taken.
    fn create_workflow(&self, workflow: WorkflowRecord) -> BoxFuture<'_, WfResult<WorkflowRecord>>;
    /// A workflow by slug.
    fn get_workflow(&self, slug: String) -> BoxFuture<'_, WfResult<Option<WorkflowRecord>>>;
    /// Up to `limit` workflows after the slug `after`, by slug.
    fn list_workflows(
        &self,
        after: Option<String>,
        limit: u64,
    ) -> BoxFuture<'_, WfResult<Vec<WorkflowRecord>>>;
    /// Changes a workflow's name, summary and/or description; `NotFound` when it does not exist.
    fn update_workflow(
        &self,
        slug: String,
        name: Option<String>,
        summary: Option<String>,
        description: Option<String>,
    ) -> BoxFuture<'_, WfResult<WorkflowRecord>>;
    /// Deletes a workflow; `NotFound` when it does not exist.
    fn delete_workflow(&self, slug: String) -> BoxFuture<'_, WfResult<()>>;
}
