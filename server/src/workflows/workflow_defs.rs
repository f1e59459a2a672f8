//! `workflows.v1.WorkflowsService`: workflow definitions (create, get, list, update, delete), kept in the
//! store. Releases and their deployment package Python code and run it on Tilebox's hosted runners; a local
//! server has none, so those RPCs answer `unimplemented` saying so, and the public catalogue is empty.

use tilebox_core::wire::workflows::v1::{
    CreateWorkflowRequest, DeleteWorkflowRequest, DeleteWorkflowResponse,
    DeployWorkflowReleaseRequest, DeployWorkflowReleaseResponse, GetWorkflowRequest,
    ListPublicWorkflowsRequest, ListPublicWorkflowsResponse, ListWorkflowsRequest,
    ListWorkflowsResponse, PublishWorkflowReleaseRequest, UndeployWorkflowReleaseRequest,
    UndeployWorkflowReleaseResponse, UnpublishWorkflowReleaseRequest,
    UnpublishWorkflowReleaseResponse, UpdateWorkflowRequest, Workflow, WorkflowRelease,
};

use super::status;
use crate::registry::{RpcContext, ServiceRegistry};
use crate::status::Status;
use crate::store::workflows::WorkflowRecord;

/// Longest workflow name and slug.
const MAX_NAME: usize = 100;
/// Longest summary.
const MAX_SUMMARY: usize = 1_000;
/// Longest description.
const MAX_DESCRIPTION: usize = 100_000;

pub(super) fn register(r: &mut ServiceRegistry) {
    const S: &str = "workflows.v1.WorkflowsService/";
    r.unary(&format!("{S}CreateWorkflow"), create_workflow);
    r.unary(&format!("{S}GetWorkflow"), get_workflow);
    r.unary(&format!("{S}ListWorkflows"), list_workflows);
    r.unary(&format!("{S}UpdateWorkflow"), update_workflow);
    r.unary(&format!("{S}DeleteWorkflow"), delete_workflow);
    r.unary(&format!("{S}ListPublicWorkflows"), list_public_workflows);
    r.unary(
        &format!("{S}PublishWorkflowRelease"),
        |_, _: PublishWorkflowReleaseRequest| hosted::<WorkflowRelease>("PublishWorkflowRelease"),
    );
    r.unary(
        &format!("{S}UnpublishWorkflowRelease"),
        |_, _: UnpublishWorkflowReleaseRequest| {
            hosted::<UnpublishWorkflowReleaseResponse>("UnpublishWorkflowRelease")
        },
    );
    r.unary(
        &format!("{S}DeployWorkflowRelease"),
        |_, _: DeployWorkflowReleaseRequest| {
            hosted::<DeployWorkflowReleaseResponse>("DeployWorkflowRelease")
        },
    );
    r.unary(
        &format!("{S}UndeployWorkflowRelease"),
        |_, _: UndeployWorkflowReleaseRequest| {
            hosted::<UndeployWorkflowReleaseResponse>("UndeployWorkflowRelease")
        },
    );
}

/// The answer of the release and deployment RPCs.
async fn hosted<T>(method: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{method}: workflow releases package Python code to run on Tilebox's hosted runners, which this \
         local server does not have; run your tasks with a runner of your own (Python or Rust) instead"
    )))
}

fn workflow(w: WorkflowRecord) -> Workflow {
    Workflow {
        slug: w.slug,
        name: w.name,
        summary: w.summary,
        description: w.description,
        ..Default::default()
    }
}

/// Checks a text field's length (`required`: not empty).
fn check_len(field: &str, value: &str, max: usize, required: bool) -> Result<(), Status> {
    let n = value.chars().count();
    if (required && n == 0) || n > max {
        let least = if required { 1 } else { 0 };
        return Err(Status::invalid_argument(format!(
            "{field} must be {least}..={max} characters"
        )));
    }
    Ok(())
}

/// A slug from a name: lower-case alphanumerics, other runs of characters become single dashes.
fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn required_slug(slug: &str) -> Result<(), Status> {
    if slug.is_empty() {
        return Err(Status::invalid_argument("workflow_slug is required"));
    }
    Ok(())
}

async fn create_workflow(ctx: RpcContext, req: CreateWorkflowRequest) -> Result<Workflow, Status> {
    check_len("name", &req.name, MAX_NAME, true)?;
    check_len("summary", &req.summary, MAX_SUMMARY, false)?;
    let description = req.description.unwrap_or_default();
    check_len("description", &description, MAX_DESCRIPTION, false)?;
    let slug = slug_of(&req.name);
    if slug.is_empty() {
        return Err(Status::invalid_argument(
            "name must contain at least one ASCII letter or digit (the workflow's slug is made of them)",
        ));
    }
    let record = WorkflowRecord {
        slug,
        name: req.name,
        summary: req.summary,
        description,
    };
    let created = ctx
        .state
        .workflows
        .create_workflow(record)
        .await
        .map_err(status)?;
    Ok(workflow(created))
}

async fn get_workflow(ctx: RpcContext, req: GetWorkflowRequest) -> Result<Workflow, Status> {
    required_slug(&req.workflow_slug)?;
    let slug = req.workflow_slug;
    ctx.state
        .workflows
        .get_workflow(slug.clone())
        .await
        .map_err(status)?
        .map(workflow)
        .ok_or_else(|| Status::not_found(format!("workflow {slug:?} not found")))
}

async fn list_workflows(
    ctx: RpcContext,
    req: ListWorkflowsRequest,
) -> Result<ListWorkflowsResponse, Status> {
    if req
        .page
        .as_ref()
        .is_some_and(|p| p.starting_after.is_some())
    {
        return Err(Status::invalid_argument(
            "page.starting_after: workflows are listed in one page",
        ));
    }
    let limit = super::wire::page_limit(req.page.as_ref(), i64::MAX, i64::MAX)?;
    let workflows = ctx
        .state
        .workflows
        .list_workflows(None, limit)
        .await
        .map_err(status)?;
    Ok(ListWorkflowsResponse {
        workflows: workflows.into_iter().map(workflow).collect(),
        next_page: None,
    })
}

async fn list_public_workflows(
    _ctx: RpcContext,
    _req: ListPublicWorkflowsRequest,
) -> Result<ListPublicWorkflowsResponse, Status> {
    Ok(ListPublicWorkflowsResponse::default())
}

async fn update_workflow(ctx: RpcContext, req: UpdateWorkflowRequest) -> Result<Workflow, Status> {
    required_slug(&req.workflow_slug)?;
    if let Some(name) = &req.name {
        check_len("name", name, MAX_NAME, true)?;
    }
    if let Some(summary) = &req.summary {
        check_len("summary", summary, MAX_SUMMARY, false)?;
    }
    if let Some(description) = &req.description {
        check_len("description", description, MAX_DESCRIPTION, false)?;
    }
    let updated = ctx
        .state
        .workflows
        .update_workflow(req.workflow_slug, req.name, req.summary, req.description)
        .await
        .map_err(status)?;
    Ok(workflow(updated))
}

async fn delete_workflow(
    ctx: RpcContext,
    req: DeleteWorkflowRequest,
) -> Result<DeleteWorkflowResponse, Status> {
    required_slug(&req.workflow_slug)?;
    ctx.state
        .workflows
        .delete_workflow(req.workflow_slug)
        .await
        .map_err(status)?;
    Ok(DeleteWorkflowResponse {})
}

#[cfg(test)]
mod tests {
    use super::slug_of;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_of("My Workflow"), "my-workflow");
        assert_eq!(slug_of("  Sentinel-2 / L2A  "), "sentinel-2-l2a");
        assert_eq!(slug_of("ÄÖÜ"), "");
    }
}
