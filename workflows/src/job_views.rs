//! More of [`JobClient`]: a job's logs and spans, its tasks a page at a time, its prototype, clones, and
//! figures over many jobs.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tilebox_core::wire::opentelemetry::proto::common::v1::{AnyValue, KeyValue, any_value};
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use uuid::Uuid;

use crate::client::{Job, JobClient, JobState, TaskState, id_msg, interval, time_of, uuid_of};
use crate::error::Result;
use crate::task::TaskIdentifier;

/// Every page of a paged listing: `fetch` gets the page to read (`None` first) and returns its items and
/// the next page, if any.
pub(crate) async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(Option<tb::Pagination>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<tb::Pagination>)>>,
{
    let mut out = Vec::new();
    let mut page = None;
    loop {
        let (items, next) = fetch(page.take()).await?;
        out.extend(items);
        match next.filter(|p| p.starting_after.is_some()) {
            Some(next) => page = Some(next),
            None => return Ok(out),
        }
    }
}

/// Severity of a log record (the OTLP severity groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LogLevel {
    /// No severity.
    Unspecified,
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warning,
    /// Error (and fatal).
    Error,
}

impl LogLevel {
    /// The level of an OTLP severity number.
    fn from_severity(n: i32) -> Self {
        match n {
            1..=4 => Self::Trace,
            5..=8 => Self::Debug,
            9..=12 => Self::Info,
            13..=16 => Self::Warning,
            17..=24 => Self::Error,
            _ => Self::Unspecified,
        }
    }

    fn to_wire(self) -> i32 {
        (match self {
            Self::Unspecified => wf::LogSeverityGroup::Unspecified,
            Self::Trace => wf::LogSeverityGroup::Trace,
            Self::Debug => wf::LogSeverityGroup::Debug,
            Self::Info => wf::LogSeverityGroup::Info,
            Self::Warning => wf::LogSeverityGroup::Warning,
            Self::Error => wf::LogSeverityGroup::Error,
        }) as i32
    }
}

/// An attribute value as text.
fn value_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
        .collect()
}

fn task_of(attrs: &[(String, String)]) -> Option<Uuid> {
    attrs
        .iter()
        .find(|(k, _)| k == "task_id")
        .and_then(|(_, v)| Uuid::parse_str(v).ok())
}

fn nanos(n: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(n)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A log record a runner exported for a job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobLog {
    /// When it was emitted.
    pub time: SystemTime,
    /// Severity.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// The task it was emitted in (its `task_id` attribute).
    pub task_id: Option<Uuid>,
    /// Every attribute, values as text.
    pub attributes: Vec<(String, String)>,
}

/// A span a runner exported for a job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobSpan {
    /// Span name.
    pub name: String,
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    /// Span id, 16 hex digits.
    pub span_id: String,
    /// Parent span id (empty for a root span).
    pub parent_span_id: String,
    /// Start.
    pub start: SystemTime,
    /// End.
    pub end: SystemTime,
    /// The task it belongs to (its `task_id` attribute).
    pub task_id: Option<Uuid>,
    /// Every attribute, values as text.
    pub attributes: Vec<(String, String)>,
}

/// Filters of [`JobClient::logs`].
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    task: Option<Uuid>,
    levels: Vec<LogLevel>,
    descending: bool,
}

impl LogQuery {
    /// Every record of the job, oldest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only records of this task.
    pub fn task(mut self, id: Uuid) -> Self {
        self.task = Some(id);
        self
    }

    /// Only records of these levels.
    pub fn levels(mut self, levels: &[LogLevel]) -> Self {
        self.levels = levels.to_vec();
        self
    }

    /// Newest first.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
}

fn sort(descending: bool) -> i32 {
    if descending {
        tb::SortDirection::Descending as i32
    } else {
        tb::SortDirection::Ascending as i32
    }
}

/// One task of a job as [`JobClient::tasks_page`] lists it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobTask {
    /// Task id.
    pub id: Uuid,
    /// The task that submitted it (`None` for root tasks).
    pub parent_id: Option<Uuid>,
    /// Display name.
    pub display: String,
    /// State.
    pub state: TaskState,
    /// Encoded input.
    pub input: Vec<u8>,
    /// Submission time.
    pub submitted_at: Option<SystemTime>,
    /// Start of the latest attempt.
    pub started_at: Option<SystemTime>,
    /// End of the latest attempt.
    pub stopped_at: Option<SystemTime>,
    /// Retries so far.
    pub retry_count: i64,
    /// Retries allowed.
    pub max_retries: i64,
    /// Whether it submitted subtasks.
    pub has_children: bool,
    /// Cluster.
    pub cluster: String,
    /// Whether its failure is optional.
    pub optional: bool,
}

impl JobTask {
    fn from_wire(t: &wf::JobTaskSummary) -> Self {
        Self {
            id: uuid_of(t.id.as_ref()),
            parent_id: t.parent_id.as_ref().map(|p| uuid_of(Some(p))),
            display: t.display.clone(),
            state: TaskState::from_wire(t.state),
            input: t.input.as_deref().unwrap_or_default().to_vec(),
            submitted_at: time_of(t.submitted_at.as_ref()),
            started_at: time_of(t.started_at.as_ref()),
            stopped_at: time_of(t.stopped_at.as_ref()),
            retry_count: t.retry_count,
            max_retries: t.max_retries,
            has_children: t.has_children,
            cluster: t.cluster_slug.clone(),
            optional: t.optional,
        }
    }
}

/// Where the next page of a task listing starts (opaque; from [`JobTaskPage::next`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCursor(tb::Pagination);

/// One page of a job's tasks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobTaskPage {
    /// The tasks.
    pub tasks: Vec<JobTask>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<TaskCursor>,
}

/// A root task a job was submitted with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskPrototype {
    /// Identifier.
    pub identifier: Option<TaskIdentifier>,
    /// Encoded input.
    pub input: Vec<u8>,
    /// Display name.
    pub display: String,
    /// Cluster.
    pub cluster: String,
    /// Retries allowed.
    pub max_retries: i64,
}

/// What a job was submitted with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobPrototype {
    /// Job name.
    pub name: String,
    /// Root tasks.
    pub root_tasks: Vec<TaskPrototype>,
}

/// Jobs per state among those submitted in an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobStateCounts {
    /// Number of jobs.
    pub total: i64,
    /// Jobs per state (states without jobs may be left out).
    pub by_state: Vec<(JobState, u64)>,
}

/// Queue figures over recent jobs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueueStats {
    /// Jobs with queued work and nothing running.
    pub waiting_jobs: u64,
    /// Jobs with a running task.
    pub running_jobs: u64,
    /// Queued tasks.
    pub queued_tasks: u64,
    /// The oldest waiting job.
    pub oldest_waiting_job: Option<Job>,
}

impl JobClient {
    /// The log records runners exported for a job (every page), filtered by `query`.
    pub async fn logs(&self, job_id: Uuid, query: &LogQuery) -> Result<Vec<JobLog>> {
        all_pages(|page| async move {
            let req = wf::QueryJobLogsRequest {
                job_id: Some(id_msg(job_id)),
                page,
                sort_direction: sort(query.descending),
                task_id: query.task.map(id_msg),
                filters: Some(wf::LogQueryFilters {
                    severity_levels: query.levels.iter().map(|l| l.to_wire()).collect(),
                }),
            };
            let resp = self.rpc.query_job_logs(req).await?;
            let records = resp
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .map(|r| {
                    let attributes = attributes(&r.attributes);
                    JobLog {
                        time: nanos(r.time_unix_nano.max(r.observed_time_unix_nano)),
                        level: LogLevel::from_severity(r.severity_number),
                        message: value_text(r.body.as_ref()),
                        task_id: task_of(&attributes),
                        attributes,
                    }
                })
                .collect();
            Ok((records, resp.next_page))
        })
        .await
    }

    /// The spans runners exported for a job (every page), oldest first; only those of `task` if given.
    pub async fn spans(&self, job_id: Uuid, task: Option<Uuid>) -> Result<Vec<JobSpan>> {
        all_pages(|page| async move {
            let req = wf::QueryJobSpansRequest {
                job_id: Some(id_msg(job_id)),
                page,
                sort_direction: sort(false),
                task_id: task.map(id_msg),
            };
            let resp = self.rpc.query_job_spans(req).await?;
            let spans = resp
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| {
                    let attributes = attributes(&s.attributes);
                    JobSpan {
                        name: s.name.clone(),
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_span_id: hex(&s.parent_span_id),
                        start: nanos(s.start_time_unix_nano),
                        end: nanos(s.end_time_unix_nano),
                        task_id: task_of(&attributes),
                        attributes,
                    }
                })
                .collect();
            Ok((spans, resp.next_page))
        })
        .await
    }

    /// One page of a job's root tasks (`parent = None`) or of one task's subtasks: the first page for
    /// `cursor = None`, then the page after [`JobTaskPage::next`] until that is `None`.
    pub async fn tasks_page(
        &self,
        job_id: Uuid,
        parent: Option<Uuid>,
        cursor: Option<&TaskCursor>,
    ) -> Result<JobTaskPage> {
        let req = wf::ListJobTasksRequest {
            job_id: Some(id_msg(job_id)),
            parent_task_id: parent.map(id_msg),
            page: cursor.map(|c| c.0.clone()),
            prefetch_children: None,
        };
        let page = self.rpc.list_job_tasks(req).await?.page.unwrap_or_default();
        Ok(JobTaskPage {
            tasks: page.tasks.iter().map(JobTask::from_wire).collect(),
            next: page
                .next_page
                .filter(|n| n.starting_after.is_some())
                .map(TaskCursor),
        })
    }

    /// The name and root tasks a job was submitted with.
    pub async fn prototype(&self, job_id: Uuid) -> Result<JobPrototype> {
        let req = wf::GetJobPrototypeRequest {
            job_id: Some(id_msg(job_id)),
        };
        let resp = self.rpc.get_job_prototype(req).await?;
        Ok(JobPrototype {
            name: resp.job_name,
            root_tasks: resp
                .root_tasks
                .iter()
                .map(|t| TaskPrototype {
                    identifier: t.identifier.as_ref().map(TaskIdentifier::from_wire),
                    input: t.input.to_vec(),
                    display: t.display.clone(),
                    cluster: t.cluster_slug.clone(),
                    max_retries: t.max_retries,
                })
                .collect(),
        })
    }

    /// Submit a copy of a job (the same root tasks) as a new job, named `name` or after the original.
    pub async fn clone_job(&self, job_id: Uuid, name: Option<&str>) -> Result<Job> {
        let req = wf::CloneJobRequest {
            job_id: Some(id_msg(job_id)),
            root_tasks_overrides: Vec::new(),
            job_name: name.unwrap_or_default().to_owned(),
        };
        Ok(Job::from_wire(&self.rpc.clone_job(req).await?))
    }

    /// Jobs per state among those submitted in `[start, end)`.
    pub async fn state_counts(&self, start: SystemTime, end: SystemTime) -> Result<JobStateCounts> {
        let req = wf::GetJobStateCountsRequest {
            time_interval: Some(interval(start, end)),
        };
        let resp = self.rpc.get_job_state_counts(req).await?;
        Ok(JobStateCounts {
            total: resp.total_jobs,
            by_state: resp
                .state_counts
                .iter()
                .map(|c| (JobState::from_wire(c.state), c.count))
                .collect(),
        })
    }

    /// Queue figures over the jobs submitted within `max_age` of now.
    pub async fn queue_stats(&self, max_age: Duration) -> Result<QueueStats> {
        let req = wf::GetTaskQueueStatsRequest {
            job_time_interval: None,
            job_max_age: Some(prost_types::Duration {
                seconds: i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(max_age.subsec_nanos()).unwrap_or(0),
            }),
        };
        let resp = self.rpc.get_task_queue_stats(req).await?;
        Ok(QueueStats {
            waiting_jobs: resp.waiting_jobs,
            running_jobs: resp.running_jobs,
            queued_tasks: resp.queued_tasks,
            oldest_waiting_job: resp.oldest_waiting_job.as_ref().map(Job::from_wire),
        })
    }
}
