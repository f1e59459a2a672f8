//! `workflows.v1.TaskService`: the runner protocol (claim and report, fail, extend leases).

use tilebox_core::wire::workflows::v1::{
    ComputedTask, IdlingResponse, NextTaskRequest, NextTaskResponse, NextTaskToRun,
    TaskFailedRequest, TaskLease, TaskLeaseRequest, TaskStateResponse,
};

use super::{status, validate, wire};
use crate::registry::{RpcContext, ServiceRegistry};
use crate::status::Status;
use crate::store::workflows::{ClaimRequest, ComputedReport, FailureReport};

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary("workflows.v1.TaskService/NextTask", next_task);
    r.unary("workflows.v1.TaskService/TaskFailed", task_failed);
    r.unary(
        "workflows.v1.TaskService/ExtendTaskLease",
        extend_task_lease,
    );
}

fn computed_report(c: &ComputedTask) -> Result<ComputedReport, Status> {
    #[allow(deprecated)]
    let subtasks = validate::task_groups(c.sub_tasks.as_ref(), &c.legacy_sub_tasks)?;
    Ok(ComputedReport {
        id: wire::id(c.id.as_ref(), "computed_task.id")?,
        display: validate::display(&c.display),
        progress: validate::progress(&c.progress_updates)?,
        subtasks,
    })
}

fn claim_request(n: &NextTaskToRun) -> Result<ClaimRequest, Status> {
    if n.cluster_slug.is_empty() {
        return Err(Status::invalid_argument(
            "next_task_to_run.cluster_slug must not be empty",
        ));
    }
    let mut identifiers: Vec<(String, i64, i64)> = Vec::new();
    // Identifiers this server cannot parse match no task; they do not fail the call.
    for ident in &n.identifiers {
        let Ok((major, minor)) = validate::check_identifier(ident) else {
            continue;
        };
        let entry = (ident.name.clone(), major, minor);
        if !identifiers.contains(&entry) {
            identifiers.push(entry);
        }
    }
    Ok(ClaimRequest {
        cluster: n.cluster_slug.clone(),
        identifiers,
    })
}

/// The idling a runner is told to do when nothing is eligible: the configured idle time plus up to 10 %
/// jitter, so idle runners do not poll in lockstep.
fn idling(ctx: &RpcContext) -> IdlingResponse {
    let idle = i64::try_from(ctx.state.config.workflows.idle.as_micros()).unwrap_or(i64::MAX);
    let jitter = if idle > 0 {
        (uuid::Uuid::new_v4().as_u128() % (idle as u128 / 10 + 1)) as i64
    } else {
        0
    };
    IdlingResponse {
        suggested_idling_duration: Some(wire::duration(idle.saturating_add(jitter))),
    }
}

async fn next_task(ctx: RpcContext, req: NextTaskRequest) -> Result<NextTaskResponse, Status> {
    let computed = req
        .computed_task
        .as_ref()
        .map(computed_report)
        .transpose()?;
    let claim = req
        .next_task_to_run
        .as_ref()
        .map(claim_request)
        .transpose()?;
    let wants_task = claim.is_some();
    let claimed = ctx
        .state
        .workflows
        .next_task(computed, claim)
        .await
        .map_err(status)?;
    Ok(match claimed {
        Some(task) => NextTaskResponse {
            next_task: Some(wire::claimed_task(task)),
            idling: None,
        },
        None if wants_task => NextTaskResponse {
            next_task: None,
            idling: Some(idling(&ctx)),
        },
        None => NextTaskResponse::default(),
    })
}

async fn task_failed(ctx: RpcContext, req: TaskFailedRequest) -> Result<TaskStateResponse, Status> {
    let report = FailureReport {
        id: wire::id(req.task_id.as_ref(), "task_id")?,
        display: validate::display(&req.display),
        was_workflow_error: req.was_workflow_error,
        progress: validate::progress(&req.progress_updates)?,
    };
    let state = ctx
        .state
        .workflows
        .task_failed(report)
        .await
        .map_err(status)?;
    Ok(TaskStateResponse {
        state: state as i32,
    })
}

async fn extend_task_lease(ctx: RpcContext, req: TaskLeaseRequest) -> Result<TaskLease, Status> {
    let id = wire::id(req.task_id.as_ref(), "task_id")?;
    let requested = req
        .requested_lease
        .as_ref()
        .map(wire::duration_us)
        .unwrap_or(0);
    let lease = ctx
        .state
        .workflows
        .extend_lease(id, requested)
        .await
        .map_err(status)?;
    Ok(lease.map(wire::lease).unwrap_or_default())
}
