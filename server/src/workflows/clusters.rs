//! `workflows.v1.WorkflowsService`: clusters.

use tilebox_core::wire::workflows::v1::{
    Cluster, CreateClusterRequest, DeleteClusterRequest, DeleteClusterResponse, GetClusterRequest,
    ListClustersRequest, ListClustersResponse, UpdateClusterRequest,
};

use super::{status, wire};
use crate::registry::{RpcContext, ServiceRegistry};
use crate::status::Status;
use crate::store::workflows::{ClusterRecord, random_suffix};

/// Longest cluster name and slug.
const MAX_NAME: usize = 100;

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary(
        "workflows.v1.WorkflowsService/CreateCluster",
        create_cluster,
    );
    r.unary("workflows.v1.WorkflowsService/GetCluster", get_cluster);
    r.unary(
        "workflows.v1.WorkflowsService/UpdateCluster",
        update_cluster,
    );
    r.unary(
        "workflows.v1.WorkflowsService/DeleteCluster",
        delete_cluster,
    );
    r.unary("workflows.v1.WorkflowsService/ListClusters", list_clusters);
}

fn check_name(name: &str) -> Result<(), Status> {
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Status::invalid_argument(format!(
            "cluster name must be 1..={MAX_NAME} characters"
        )));
    }
    Ok(())
}

/// A slug derived from a name: lower-case alphanumerics and dashes, then a random suffix.
fn derived_slug(name: &str) -> String {
    let base: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let base = base.trim_matches('-');
    let base: String = base.chars().take(MAX_NAME - 15).collect();
    if base.is_empty() {
        random_suffix(14)
    } else {
        format!("{base}-{}", random_suffix(14))
    }
}

async fn create_cluster(ctx: RpcContext, req: CreateClusterRequest) -> Result<Cluster, Status> {
    check_name(&req.name)?;
    if req.slug.len() > MAX_NAME
        || !req
            .slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Status::invalid_argument(format!(
            "cluster slug must match ^[A-Za-z0-9-]*$ and be at most {MAX_NAME} characters"
        )));
    }
    let slug = if req.slug.is_empty() {
        derived_slug(&req.name)
    } else {
        req.slug
    };
    let record = ClusterRecord {
        slug,
        display_name: req.name,
        description: req.description,
        is_default: false,
    };
    let created = ctx
        .state
        .workflows
        .create_cluster(record)
        .await
        .map_err(status)?;
    Ok(wire::cluster(created))
}

async fn get_cluster(ctx: RpcContext, req: GetClusterRequest) -> Result<Cluster, Status> {
    let slug = Some(req.cluster_slug).filter(|s| !s.is_empty());
    let shown = slug.clone().unwrap_or_else(|| "default".into());
    ctx.state
        .workflows
        .get_cluster(slug)
        .await
        .map_err(status)?
        .map(wire::cluster)
        .ok_or_else(|| Status::not_found(format!("cluster {shown:?} not found")))
}

async fn update_cluster(ctx: RpcContext, req: UpdateClusterRequest) -> Result<Cluster, Status> {
    if req.cluster_slug.is_empty() {
        return Err(Status::invalid_argument("cluster_slug is required"));
    }
    if let Some(name) = &req.name {
        check_name(name)?;
    }
    let updated = ctx
        .state
        .workflows
        .update_cluster(req.cluster_slug, req.name, req.description)
        .await
        .map_err(status)?;
    Ok(wire::cluster(updated))
}

async fn delete_cluster(
    ctx: RpcContext,
    req: DeleteClusterRequest,
) -> Result<DeleteClusterResponse, Status> {
    ctx.state
        .workflows
        .delete_cluster(req.cluster_slug)
        .await
        .map_err(status)?;
    Ok(DeleteClusterResponse {})
}

async fn list_clusters(
    ctx: RpcContext,
    _req: ListClustersRequest,
) -> Result<ListClustersResponse, Status> {
    let clusters = ctx.state.workflows.list_clusters().await.map_err(status)?;
    Ok(ListClustersResponse {
        clusters: clusters.into_iter().map(wire::cluster).collect(),
    })
}
