//! `workflows.v1.JobService` views and copies of jobs: ListJobTasks, GetJobPrototype, CloneJob,
//! GetJobStateCounts and GetTaskQueueStats.

use std::ops::Bound;

use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1::{
    CloneJobRequest, GetJobPrototypeRequest, GetJobPrototypeResponse, GetJobStateCountsRequest,
    GetJobStateCountsResponse, GetTaskQueueStatsRequest, GetTaskQueueStatsResponse, Job,
    JobStateCount, JobTaskPage, JobTaskSummary, ListJobTasksRequest, ListJobTasksResponse,
    SingleTaskSubmission, TaskIdentifier,
};

use super::jobs::load;
use super::{status, validate, wire};
use crate::datasets::wire_id;
use crate::registry::{RpcContext, ServiceRegistry};
use crate::state::ServerState;
use crate::status::Status;
use crate::store::RawId;
use crate::store::workflows::{JobTaskRecord, NewJob};

/// Default page size of task listings.
const DEFAULT_TASK_PAGE: i64 = 100;
/// Largest page size of task listings (and of prefetched child pages).
const MAX_TASK_PAGE: i64 = 1_000;

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary("workflows.v1.JobService/ListJobTasks", list_job_tasks);
    r.unary("workflows.v1.JobService/GetJobPrototype", get_job_prototype);
    r.unary("workflows.v1.JobService/CloneJob", clone_job);
    r.unary(
        "workflows.v1.JobService/GetJobStateCounts",
        get_job_state_counts,
    );
    r.unary(
        "workflows.v1.JobService/GetTaskQueueStats",
        get_task_queue_stats,
    );
}

/// The submission time of a task: the millisecond timestamp of its UUIDv7 id.
fn submitted_at_us(id: &RawId) -> i64 {
    let mut ms = [0u8; 8];
    ms[2..].copy_from_slice(&id[..6]);
    i64::from_be_bytes(ms).saturating_mul(1000)
}

fn task_summary(t: JobTaskRecord) -> JobTaskSummary {
    JobTaskSummary {
        id: Some(wire_id(&t.id)),
        parent_id: t.parent_id.as_ref().map(wire_id),
        display: t.display,
        state: t.state as i32,
        submitted_at: Some(wire::timestamp(submitted_at_us(&t.id))),
        started_at: t.started_at_us.map(wire::timestamp),
        stopped_at: t.stopped_at_us.map(wire::timestamp),
        input: Some(t.input),
        retry_count: t.retry_count,
        max_retries: t.max_retries,
        has_children: t.has_children,
        cluster_slug: t.cluster,
        optional: t.optional,
    }
}

/// One page of the tasks of `parent` (root tasks for `None`).
async fn task_page(
    state: &ServerState,
    job: RawId,
    parent: Option<RawId>,
    after: Option<RawId>,
    limit: u64,
) -> Result<JobTaskPage, Status> {
    let page = state
        .workflows
        .list_job_tasks(job, parent, after, limit)
        .await
        .map_err(status)?;
    let next_page = match (page.more, page.tasks.last()) {
        (true, Some(last)) => Some(tb::Pagination {
            limit: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
            starting_after: Some(wire_id(&last.id)),
        }),
        _ => None,
    };
    Ok(JobTaskPage {
        parent_task_id: parent.as_ref().map(wire_id),
        tasks: page.tasks.into_iter().map(task_summary).collect(),
        next_page,
    })
}

async fn list_job_tasks(
    ctx: RpcContext,
    req: ListJobTasksRequest,
) -> Result<ListJobTasksResponse, Status> {
    let job = wire::id(req.job_id.as_ref(), "job_id")?;
    let parent = req
        .parent_task_id
        .as_ref()
        .map(|p| wire::id(Some(p), "parent_task_id"))
        .transpose()?;
    let limit = wire::page_limit(req.page.as_ref(), DEFAULT_TASK_PAGE, MAX_TASK_PAGE)?;
    let after = req
        .page
        .as_ref()
        .and_then(|p| p.starting_after.as_ref())
        .map(|a| wire::id(Some(a), "page.starting_after"))
        .transpose()?;
    let prefetch = match &req.prefetch_children {
        None => None,
        Some(p) if p.limit < 1 => {
            return Err(Status::invalid_argument(
                "prefetch_children.limit must be >= 1",
            ));
        }
        Some(p) => Some(p.limit.min(MAX_TASK_PAGE) as u64),
    };
    let page = task_page(&ctx.state, job, parent, after, limit).await?;
    let mut prefetched_child_pages = Vec::new();
    if let Some(child_limit) = prefetch {
        for task in page.tasks.iter().filter(|t| t.has_children) {
            let id = wire::id(task.id.as_ref(), "id")?;
            prefetched_child_pages
                .push(task_page(&ctx.state, job, Some(id), None, child_limit).await?);
        }
    }
    Ok(ListJobTasksResponse {
        page: Some(page),
        prefetched_child_pages,
    })
}

async fn get_job_prototype(
    ctx: RpcContext,
    req: GetJobPrototypeRequest,
) -> Result<GetJobPrototypeResponse, Status> {
    let job = wire::id(req.job_id.as_ref(), "job_id")?;
    let prototype = ctx
        .state
        .workflows
        .job_prototype(job)
        .await
        .map_err(status)?;
    Ok(GetJobPrototypeResponse {
        root_tasks: prototype
            .tasks
            .into_iter()
            .map(|t| SingleTaskSubmission {
                cluster_slug: t.cluster,
                identifier: Some(TaskIdentifier {
                    name: t.name,
                    version: t.version,
                }),
                input: t.input,
                display: t.display,
                dependencies: t.dependencies.into_iter().map(|d| d as i64).collect(),
                max_retries: t.max_retries,
            })
            .collect(),
        job_name: prototype.name,
    })
}

/// A new random W3C trace parent for a job the server submits.
fn new_trace_parent() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = uuid::Uuid::new_v4().simple().to_string();
    format!("00-{trace}-{}-01", &span[..16])
}

async fn clone_job(ctx: RpcContext, req: CloneJobRequest) -> Result<Job, Status> {
    let job = wire::id(req.job_id.as_ref(), "job_id")?;
    let mut root_tasks = req.root_tasks_overrides;
    let mut name = req.job_name;
    if root_tasks.is_empty() || name.is_empty() {
        let prototype = get_job_prototype(
            ctx.clone(),
            GetJobPrototypeRequest {
                job_id: req.job_id.clone(),
            },
        )
        .await?;
        if root_tasks.is_empty() {
            root_tasks = prototype.root_tasks;
        }
        if name.is_empty() {
            name = prototype.job_name;
        }
    } else {
        // The job must exist even when nothing of it is copied.
        load(&ctx.state, job, false).await?;
    }
    let groups = validate::task_groups(None, &root_tasks)
        .map_err(|s| Status::invalid_argument(format!("root_tasks_overrides: {}", s.message)))?;
    let new = NewJob {
        name,
        trace_parent: new_trace_parent(),
        automation_id: None,
        groups,
    };
    let job = ctx.state.workflows.submit_job(new).await.map_err(status)?;
    Ok(wire::job(job))
}

async fn get_job_state_counts(
    ctx: RpcContext,
    req: GetJobStateCountsRequest,
) -> Result<GetJobStateCountsResponse, Status> {
    let submitted = wire::time_bounds(req.time_interval.as_ref(), wire::timestamp_us);
    let counts = ctx
        .state
        .workflows
        .job_state_counts(submitted)
        .await
        .map_err(status)?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    Ok(GetJobStateCountsResponse {
        state_counts: counts
            .into_iter()
            .map(|(state, count)| JobStateCount {
                state: state as i32,
                count,
            })
            .collect(),
        total_jobs: i64::try_from(total).unwrap_or(i64::MAX),
    })
}

async fn get_task_queue_stats(
    ctx: RpcContext,
    req: GetTaskQueueStatsRequest,
) -> Result<GetTaskQueueStatsResponse, Status> {
    let mut submitted = wire::time_bounds(req.job_time_interval.as_ref(), wire::timestamp_us);
    if let Some(age) = &req.job_max_age {
        let age = wire::duration_us(age);
        if age < 0 {
            return Err(Status::invalid_argument("job_max_age must not be negative"));
        }
        let oldest = chrono::Utc::now().timestamp_micros().saturating_sub(age);
        let tighter = match submitted.0 {
            Bound::Included(s) | Bound::Excluded(s) => s < oldest,
            Bound::Unbounded => true,
        };
        if tighter {
            submitted.0 = Bound::Included(oldest);
        }
    }
    let stats = ctx
        .state
        .workflows
        .task_queue_stats(submitted)
        .await
        .map_err(status)?;
    let oldest_waiting_job = match stats.oldest_waiting {
        Some(id) => Some(wire::job(load(&ctx.state, id, false).await?)),
        None => None,
    };
    Ok(GetTaskQueueStatsResponse {
        waiting_jobs: stats.waiting_jobs,
        running_jobs: stats.running_jobs,
        queued_tasks: stats.queued_tasks,
        oldest_waiting_job,
    })
}
