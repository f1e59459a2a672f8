//! Records of the telemetry, job-inspection and workflow-definition operations of [`WorkflowsStore`](super::WorkflowsStore).

use std::ops::Bound;

use bytes::Bytes;
use tilebox_core::wire::workflows::v1::{JobState, TaskState};

use crate::store::RawId;

/// Which kind of exported telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryKind {
    /// OTLP log records.
    Logs,
    /// OTLP spans.
    Spans,
}

/// One exported log record or span to keep, with what ties it to a job.
#[derive(Debug, Clone)]
pub struct NewTelemetry {
    /// Record time (spans: start time), nanoseconds since the epoch.
    pub time_ns: i64,
    /// OTLP severity number of a log record (0 for spans).
    pub severity: i32,
    /// The trace the record belongs to (a job's trace parent names its trace).
    pub trace_id: Option<Vec<u8>>,
    /// The job, when an attribute names it.
    pub job_id: Option<RawId>,
    /// The task, when an attribute names it.
    pub task_id: Option<RawId>,
    /// Encoded OTLP `Resource`.
    pub resource: Bytes,
    /// Encoded OTLP `InstrumentationScope`.
    pub scope: Bytes,
    /// Encoded OTLP `LogRecord` or `Span`.
    pub record: Bytes,
}

/// How long telemetry is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Records received longer ago than this (µs) are deleted.
    pub max_age_us: i64,
    /// At most this many records of each kind are kept (the oldest received go first).
    pub max_rows: u64,
}

/// Whose telemetry a query reads.
#[derive(Debug, Clone)]
pub enum TelemetryScope {
    /// A job's: records naming it, or in its trace.
    Job {
        /// The job.
        job_id: RawId,
        /// Only records of this task.
        task_id: Option<RawId>,
    },
    /// All records whose time lies in the bounds (ns since the epoch).
    Interval((Bound<i64>, Bound<i64>)),
}

/// A page of stored telemetry.
#[derive(Debug, Clone)]
pub struct TelemetryQuery {
    /// Logs or spans.
    pub kind: TelemetryKind,
    /// Whose.
    pub scope: TelemetryScope,
    /// Inclusive ranges of OTLP severity numbers a log record must fall in (any when empty).
    pub severities: Vec<(i32, i32)>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// The cursor: (time, row id) of the last record of the previous page.
    pub after: Option<(i64, i64)>,
    /// Page size.
    pub limit: u64,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTelemetry {
    /// Row id (insertion order).
    pub id: i64,
    /// Record time, ns since the epoch.
    pub time_ns: i64,
    /// Encoded OTLP `Resource`.
    pub resource: Bytes,
    /// Encoded OTLP `InstrumentationScope`.
    pub scope: Bytes,
    /// Encoded OTLP `LogRecord` or `Span`.
    pub record: Bytes,
}

/// A page of stored telemetry.
#[derive(Debug, Clone)]
pub struct TelemetryPage {
    /// The records.
    pub records: Vec<StoredTelemetry>,
    /// Whether more records match after the last one.
    pub more: bool,
}

/// One task of a job in a task listing.
#[derive(Debug, Clone, PartialEq)]
pub struct JobTaskRecord {
    /// Task id (a UUIDv7: its time is the submission time).
    pub id: RawId,
    /// Parent task.
    pub parent_id: Option<RawId>,
    /// Display name.
    pub display: String,
    /// Current state.
    pub state: TaskState,
    /// When its current or last run started.
    pub started_at_us: Option<i64>,
    /// When its last run stopped.
    pub stopped_at_us: Option<i64>,
    /// Encoded input.
    pub input: Bytes,
    /// Failures plus lease expiries so far.
    pub retry_count: i64,
    /// Allowed failures.
    pub max_retries: i64,
    /// Whether it submitted subtasks.
    pub has_children: bool,
    /// Cluster it runs on.
    pub cluster: String,
    /// Whether its failure does not fail the job.
    pub optional: bool,
}

/// A page of the tasks of one parent (or the root tasks) of a job, ordered by id.
#[derive(Debug, Clone)]
pub struct JobTaskPage {
    /// The tasks.
    pub tasks: Vec<JobTaskRecord>,
    /// Whether more tasks follow.
    pub more: bool,
}

/// One root task of a job as it was submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct PrototypeTask {
    /// Cluster.
    pub cluster: String,
    /// Identifier name.
    pub name: String,
    /// Identifier version.
    pub version: String,
    /// Display name.
    pub display: String,
    /// Encoded input.
    pub input: Bytes,
    /// Allowed failures.
    pub max_retries: i64,
    /// Indices (into the prototype's tasks) of the tasks this one waits for.
    pub dependencies: Vec<usize>,
}

/// A job's submission: name and root tasks in submission order.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPrototype {
    /// Job name.
    pub name: String,
    /// Root tasks.
    pub tasks: Vec<PrototypeTask>,
}

/// Queue figures over jobs submitted in a time range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Jobs no task of which has started.
    pub waiting_jobs: u64,
    /// Jobs running.
    pub running_jobs: u64,
    /// Queued tasks of those jobs.
    pub queued_tasks: u64,
    /// The oldest waiting job.
    pub oldest_waiting: Option<RawId>,
}

/// Job counts per derived state.
pub type JobStateCounts = Vec<(JobState, u64)>;

/// A workflow definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRecord {
    /// Unique slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// One-line summary.
    pub summary: String,
    /// Description.
    pub description: String,
}
