//! `workflows.v1.JobService`: submitting, inspecting, canceling, retrying, querying and drawing jobs.

use tilebox_core::wire::workflows::v1::{
    CancelJobRequest, CancelJobResponse, Diagram, GetJobProgressRequest, GetJobRequest, Job,
    QueryJobsRequest, QueryJobsResponse, RetryJobRequest, RetryJobResponse, SubmitJobRequest,
    VisualizeJobRequest,
};

use super::{diagram, status, validate, wire};
use crate::datasets::wire_id;
use crate::registry::{RpcContext, ServiceRegistry};
use crate::state::ServerState;
use crate::status::Status;
use crate::store::RawId;
use crate::store::workflows::{JobRecord, NewJob};

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary("workflows.v1.JobService/SubmitJob", submit_job);
    r.unary("workflows.v1.JobService/GetJob", get_job);
    r.unary("workflows.v1.JobService/GetJobProgress", get_job_progress);
    r.unary("workflows.v1.JobService/RetryJob", retry_job);
    r.unary("workflows.v1.JobService/CancelJob", cancel_job);
    r.unary("workflows.v1.JobService/QueryJobs", query_jobs);
    r.unary("workflows.v1.JobService/VisualizeJob", visualize_job);
}

async fn submit_job(ctx: RpcContext, req: SubmitJobRequest) -> Result<Job, Status> {
    if req.job_name.is_empty() {
        return Err(Status::invalid_argument("job_name must not be empty"));
    }
    if req.trace_parent.is_empty() {
        return Err(Status::invalid_argument("trace_parent must not be empty"));
    }
    #[allow(deprecated)]
    let groups = validate::task_groups(req.tasks.as_ref(), &req.legacy_tasks)?;
    if groups.is_empty() {
        return Err(Status::invalid_argument(
            "at least one task must be submitted",
        ));
    }
    let automation_id = match &req.automation_id {
        Some(a) => Some(wire::id(Some(a), "automation_id")?),
        None => None,
    };
    let job = NewJob {
        name: req.job_name,
        trace_parent: req.trace_parent,
        automation_id,
        groups,
    };
    let job = ctx.state.workflows.submit_job(job).await.map_err(status)?;
    Ok(wire::job(job))
}

/// Loads a job or answers `not_found`.
pub(super) async fn load(
    state: &ServerState,
    id: RawId,
    with_tasks: bool,
) -> Result<JobRecord, Status> {
    state
        .workflows
        .get_job(id, with_tasks)
        .await
        .map_err(status)?
        .ok_or_else(|| Status::not_found(format!("job {} not found", uuid::Uuid::from_bytes(id))))
}

async fn get_job(ctx: RpcContext, req: GetJobRequest) -> Result<Job, Status> {
    let id = wire::id(req.job_id.as_ref(), "job_id")?;
    Ok(wire::job(load(&ctx.state, id, true).await?))
}

async fn get_job_progress(ctx: RpcContext, req: GetJobProgressRequest) -> Result<Job, Status> {
    let id = wire::id(req.job_id.as_ref(), "job_id")?;
    Ok(wire::job(load(&ctx.state, id, false).await?))
}

async fn retry_job(ctx: RpcContext, req: RetryJobRequest) -> Result<RetryJobResponse, Status> {
    let id = wire::id(req.job_id.as_ref(), "job_id")?;
    let n = ctx.state.workflows.retry_job(id).await.map_err(status)?;
    Ok(RetryJobResponse {
        num_tasks_rescheduled: i64::try_from(n).unwrap_or(i64::MAX),
    })
}

async fn cancel_job(ctx: RpcContext, req: CancelJobRequest) -> Result<CancelJobResponse, Status> {
    let id = wire::id(req.job_id.as_ref(), "job_id")?;
    ctx.state.workflows.cancel_job(id).await.map_err(status)?;
    Ok(CancelJobResponse {})
}

async fn query_jobs(ctx: RpcContext, req: QueryJobsRequest) -> Result<QueryJobsResponse, Status> {
    let query = wire::job_query(&req)?;
    let limit = query.limit;
    let page = ctx
        .state
        .workflows
        .query_jobs(query)
        .await
        .map_err(status)?;
    let next_page = match (page.more, page.jobs.last()) {
        (true, Some(last)) => Some(tilebox_core::wire::tilebox::v1::Pagination {
            limit: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
            starting_after: Some(wire_id(&last.id)),
        }),
        _ => None,
    };
    Ok(QueryJobsResponse {
        jobs: page.jobs.into_iter().map(wire::job).collect(),
        next_page,
    })
}

async fn visualize_job(ctx: RpcContext, req: VisualizeJobRequest) -> Result<Diagram, Status> {
    let id = wire::id(req.job_id.as_ref(), "job_id")?;
    let job = load(&ctx.state, id, true).await?;
    let options = diagram::Options::from_request(&req);
    Ok(Diagram {
        svg: diagram::render(&job, &options).into(),
    })
}
