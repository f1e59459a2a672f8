//! The workflows services of the local server: `WorkflowsService` (clusters), `JobService` and `TaskService`.
//!
//! They share the datasets services' port and SQLite database. Requests arrive as protobuf bodies (the
//! server's Connect/gRPC layer handles framing, compression and errors); [`Workflows::handle`] dispatches on
//! the RPC path and returns the encoded response.

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

pub use config::{WorkflowsConfig, WorkflowsConfigBuilder};
pub(crate) use error::{WfCode, WfError};
use store::Store;

/// The mounted workflows services.
#[derive(Clone)]
pub(crate) struct Workflows {
    store: Arc<Store>,
}

impl Workflows {
    /// Create the tables (if needed) and start the background lease reaper on the current tokio runtime.
    /// The reaper stops once every clone of the returned value is dropped.
    pub(crate) async fn start(pool: SqlitePool, config: WorkflowsConfig) -> Result<Self, WfError> {
        let interval = config.reaper_interval;
        let store = Arc::new(Store::open(pool, config).await?);
        let weak = Arc::downgrade(&store);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval.max(std::time::Duration::from_millis(10)));
            loop {
                tick.tick().await;
                let Some(store) = weak.upgrade() else { break };
                if let Err(e) = store.reap_now().await {
                    tracing::warn!("workflows lease reaper: {e}");
                }
            }
        });
        Ok(Self { store })
    }

    /// Whether `path` (`/workflows.v1.<Service>/<Method>`, optionally behind `/public`) belongs to these services.
    pub(crate) fn owns(path: &str) -> bool {
        let path = path.strip_prefix("/public").unwrap_or(path);
        path.starts_with("/workflows.v1.")
    }

    /// Lease extensions granted so far (a diagnostic counter).
    pub(crate) fn extensions_granted(&self) -> u64 {
        self.store.counters.extensions_granted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Handle one unary call: `path` is the RPC path, `body` the uncompressed protobuf request.
    pub(crate) async fn handle(&self, path: &str, body: Bytes) -> Result<Bytes, WfError> {
        let path = path.strip_prefix("/public").unwrap_or(path);
        let s = &self.store;
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
            "/workflows.v1.TaskService/NextTask" => enc(s.next_task(&wf::NextTaskRequest::decode(body)?).await?),
            "/workflows.v1.TaskService/TaskFailed" => enc(s.task_failed(&wf::TaskFailedRequest::decode(body)?).await?),
            "/workflows.v1.TaskService/ExtendTaskLease" => enc(s.extend_lease(&wf::TaskLeaseRequest::decode(body)?).await?),
            "/workflows.v1.JobService/SubmitJob" => enc(s.submit_job(&wf::SubmitJobRequest::decode(body)?).await?),
            "/workflows.v1.JobService/GetJob" => {
                let req = wf::GetJobRequest::decode(body)?;
                enc(s.get_job(&job_id(req.job_id.as_ref())?, true).await?)
            }
            "/workflows.v1.JobService/GetJobProgress" => {
                let req = wf::GetJobProgressRequest::decode(body)?;
                enc(s.get_job(&job_id(req.job_id.as_ref())?, false).await?)
            }
            "/workflows.v1.JobService/RetryJob" => {
                let req = wf::RetryJobRequest::decode(body)?;
                let n = s.retry_job(&job_id(req.job_id.as_ref())?).await?;
                enc(wf::RetryJobResponse { num_tasks_rescheduled: n })
            }
            "/workflows.v1.JobService/CancelJob" => {
                let req = wf::CancelJobRequest::decode(body)?;
                s.cancel_job(&job_id(req.job_id.as_ref())?).await?;
                enc(wf::CancelJobResponse {})
            }
            "/workflows.v1.JobService/QueryJobs" => enc(s.query_jobs(&wf::QueryJobsRequest::decode(body)?).await?),
            "/workflows.v1.WorkflowsService/GetCluster" => {
                enc(s.get_cluster(&wf::GetClusterRequest::decode(body)?.cluster_slug).await?)
            }
            "/workflows.v1.WorkflowsService/ListClusters" => {
                wf::ListClustersRequest::decode(body)?;
                enc(wf::ListClustersResponse { clusters: s.list_clusters().await? })
            }
            "/workflows.v1.WorkflowsService/CreateCluster" => {
                enc(s.create_cluster(&wf::CreateClusterRequest::decode(body)?).await?)
            }
            "/workflows.v1.WorkflowsService/UpdateCluster" => {
                enc(s.update_cluster(&wf::UpdateClusterRequest::decode(body)?).await?)
            }
            "/workflows.v1.WorkflowsService/DeleteCluster" => {
                s.delete_cluster(&wf::DeleteClusterRequest::decode(body)?.cluster_slug).await?;
                enc(wf::DeleteClusterResponse {})
            }
            other => Err(WfError::new(WfCode::Unimplemented, format!("{other} is not implemented by the local server"))),
        }
    }
}
