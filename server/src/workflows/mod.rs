//! The workflows services of the local server: `WorkflowsService` (clusters), `JobService` and `TaskService`.
//!
//! They share the datasets services' port and SQLite database (tables prefixed `wf_`). The server's
//! protocol front-ends handle framing, compression and errors; [`register`] mounts one raw handler per RPC.
//! Timings (lease length, idling, reaper) come from [`WorkflowsConfig`] in the server configuration.

mod config;
mod error;
mod schema;
mod store;
mod validate;

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use sqlx::SqlitePool;
use tilebox_core::wire::workflows::v1 as wf;
use tokio::sync::OnceCell;

pub use config::{WorkflowsConfig, WorkflowsConfigBuilder};
pub(crate) use error::{WfCode, WfError};
use store::Store;

use crate::registry::{RawHandler, ServiceRegistry};
use crate::state::ServerState;
use crate::status::{Code, Status};

/// Every RPC path the workflows services answer.
const PATHS: &[&str] = &[
    "workflows.v1.TaskService/NextTask",
    "workflows.v1.TaskService/TaskFailed",
    "workflows.v1.TaskService/ExtendTaskLease",
    "workflows.v1.JobService/SubmitJob",
    "workflows.v1.JobService/GetJob",
    "workflows.v1.JobService/GetJobProgress",
    "workflows.v1.JobService/RetryJob",
    "workflows.v1.JobService/CancelJob",
    "workflows.v1.JobService/QueryJobs",
    "workflows.v1.WorkflowsService/GetCluster",
    "workflows.v1.WorkflowsService/ListClusters",
    "workflows.v1.WorkflowsService/CreateCluster",
    "workflows.v1.WorkflowsService/UpdateCluster",
    "workflows.v1.WorkflowsService/DeleteCluster",
];

/// Mount the workflows services on `registry`. Tables are created on the first call; the lease reaper then
/// runs in the background on the server's runtime until the server stops.
pub fn register(registry: &mut ServiceRegistry, state: &Arc<ServerState>) {
    let workflows = Arc::new(Workflows::new(
        state.db.clone(),
        state.config.workflows.clone(),
    ));
    for &path in PATHS {
        let workflows = Arc::clone(&workflows);
        let handler: RawHandler = Arc::new(move |_ctx, body: Bytes| {
            let workflows = Arc::clone(&workflows);
            Box::pin(async move { workflows.handle(path, body).await.map_err(to_status) })
        });
        registry.raw(path, handler);
    }
}

fn to_status(e: WfError) -> Status {
    let code = match e.code {
        WfCode::InvalidArgument => Code::InvalidArgument,
        WfCode::NotFound => Code::NotFound,
        WfCode::AlreadyExists => Code::AlreadyExists,
        WfCode::FailedPrecondition => Code::FailedPrecondition,
        WfCode::Unimplemented => Code::Unimplemented,
        WfCode::Internal => Code::Internal,
    };
    Status::new(code, e.message)
}

/// The workflows services over a lazily opened store.
pub(crate) struct Workflows {
    pool: SqlitePool,
    config: WorkflowsConfig,
    store: OnceCell<Arc<Store>>,
}

impl Workflows {
    fn new(pool: SqlitePool, config: WorkflowsConfig) -> Self {
        Self {
            pool,
            config,
            store: OnceCell::new(),
        }
    }

    async fn store(&self) -> Result<&Arc<Store>, WfError> {
        self.store
            .get_or_try_init(|| async {
                let interval = self
                    .config
                    .reaper_interval
                    .max(std::time::Duration::from_millis(10));
                let store = Arc::new(Store::open(self.pool.clone(), self.config.clone()).await?);
                let weak = Arc::downgrade(&store);
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(interval);
                    loop {
                        tick.tick().await;
                        let Some(store) = weak.upgrade() else { break };
                        if store.is_closed() {
                            break;
                        }
                        if let Err(e) = store.reap_now().await {
                            tracing::warn!("workflows lease reaper: {e}");
                        }
                    }
                });
                Ok(store)
            })
            .await
    }

    /// Handle one unary call: `path` is `<package>.<Service>/<Method>`, `body` the protobuf request.
    pub(crate) async fn handle(&self, path: &str, body: Bytes) -> Result<Bytes, WfError> {
        let s = self.store().await?;
        fn enc<M: Message>(m: M) -> Result<Bytes, WfError> {
            Ok(Bytes::from(m.encode_to_vec()))
        }
        fn job_id(id: Option<&tilebox_core::wire::tilebox::v1::Id>) -> Result<Vec<u8>, WfError> {
            match id {
                Some(id) if id.uuid.len() == 16 => Ok(id.uuid.to_vec()),
                _ => Err(WfError::invalid("job_id must be a 16-byte id")),
            }
        }
        match path {
            "workflows.v1.TaskService/NextTask" => {
                enc(s.next_task(&wf::NextTaskRequest::decode(body)?).await?)
            }
            "workflows.v1.TaskService/TaskFailed" => {
                enc(s.task_failed(&wf::TaskFailedRequest::decode(body)?).await?)
            }
            "workflows.v1.TaskService/ExtendTaskLease" => {
                enc(s.extend_lease(&wf::TaskLeaseRequest::decode(body)?).await?)
            }
            "workflows.v1.JobService/SubmitJob" => {
                enc(s.submit_job(&wf::SubmitJobRequest::decode(body)?).await?)
            }
            "workflows.v1.JobService/GetJob" => {
                let req = wf::GetJobRequest::decode(body)?;
                enc(s.get_job(&job_id(req.job_id.as_ref())?, true).await?)
            }
            "workflows.v1.JobService/GetJobProgress" => {
                let req = wf::GetJobProgressRequest::decode(body)?;
                enc(s.get_job(&job_id(req.job_id.as_ref())?, false).await?)
            }
            "workflows.v1.JobService/RetryJob" => {
                let req = wf::RetryJobRequest::decode(body)?;
                let n = s.retry_job(&job_id(req.job_id.as_ref())?).await?;
                enc(wf::RetryJobResponse {
                    num_tasks_rescheduled: n,
                })
            }
            "workflows.v1.JobService/CancelJob" => {
                let req = wf::CancelJobRequest::decode(body)?;
                s.cancel_job(&job_id(req.job_id.as_ref())?).await?;
                enc(wf::CancelJobResponse {})
            }
            "workflows.v1.JobService/QueryJobs" => {
                enc(s.query_jobs(&wf::QueryJobsRequest::decode(body)?).await?)
            }
            "workflows.v1.WorkflowsService/GetCluster" => enc(s
                .get_cluster(&wf::GetClusterRequest::decode(body)?.cluster_slug)
                .await?),
            "workflows.v1.WorkflowsService/ListClusters" => {
                wf::ListClustersRequest::decode(body)?;
                enc(wf::ListClustersResponse {
                    clusters: s.list_clusters().await?,
                })
            }
            "workflows.v1.WorkflowsService/CreateCluster" => enc(s
                .create_cluster(&wf::CreateClusterRequest::decode(body)?)
                .await?),
            "workflows.v1.WorkflowsService/UpdateCluster" => enc(s
                .update_cluster(&wf::UpdateClusterRequest::decode(body)?)
                .await?),
            "workflows.v1.WorkflowsService/DeleteCluster" => {
                s.delete_cluster(&wf::DeleteClusterRequest::decode(body)?.cluster_slug)
                    .await?;
                enc(wf::DeleteClusterResponse {})
            }
            other => Err(WfError::new(
                WfCode::Unimplemented,
                format!("{other} is not implemented by the local server"),
            )),
        }
    }
}
