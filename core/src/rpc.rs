//! Typed calls of the datasets and workflows RPCs, written once over [`Transport`] with the retry policy
//! applied.
//!
//! [`RpcClient`] knows nothing about runtimes: the adapter hands it a transport and a sleep. Each method
//! encodes the request with the Connect codec, sends it, decodes the response, and retries retryable failures
//! (see [`RetryPolicy::is_retryable`]) with back-off through [`AsyncSleep`]. All returned futures are `Send`.

mod jobs_ext;

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use crate::config::ClientConfig;
use crate::connect;
use crate::error::{Error, Result};
use crate::retry::{Idempotency, RetryHook, RetryPolicy, RetryWait};
use crate::transport::{AsyncSleep, Offload, Transport};
use crate::wire::datasets::v1 as pb;
use crate::wire::workflows::v1 as wf;

/// Service names of the datasets API.
pub mod services {
    /// `datasets.v1.DatasetService`.
    pub const DATASET: &str = "datasets.v1.DatasetService";
    /// `datasets.v1.CollectionService`.
    pub const COLLECTION: &str = "datasets.v1.CollectionService";
    /// `datasets.v1.DataAccessService`.
    pub const DATA_ACCESS: &str = "datasets.v1.DataAccessService";
    /// `datasets.v1.DataIngestionService`.
    pub const DATA_INGESTION: &str = "datasets.v1.DataIngestionService";
    /// `workflows.v1.JobService`.
    pub const JOB: &str = "workflows.v1.JobService";
    /// `workflows.v1.TaskService`.
    pub const TASK: &str = "workflows.v1.TaskService";
    /// `workflows.v1.WorkflowsService` (clusters).
    pub const WORKFLOWS: &str = "workflows.v1.WorkflowsService";
}

/// The low-level client: one typed async method per datasets and workflows RPC. Cheap to clone.
#[derive(Clone)]
pub struct RpcClient {
    transport: Arc<dyn Transport>,
    sleep: Arc<dyn AsyncSleep>,
    config: Arc<ClientConfig>,
    on_retry: Option<RetryHook>,
    offload: Option<Arc<dyn Offload>>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The `ClientInfo` a Rust client sends with `ListDatasets` (name `Rust`, the core crate and its version).
pub fn rust_client_info() -> pb::ClientInfo {
    pb::ClientInfo {
        name: "Rust".to_owned(),
        environment: "Tilebox Rust Client".to_owned(),
        packages: vec![pb::Package {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }],
    }
}

impl RpcClient {
    /// A client sending through `transport`, waiting between retries with `sleep`.
    pub fn new(
        config: ClientConfig,
        transport: Arc<dyn Transport>,
        sleep: Arc<dyn AsyncSleep>,
    ) -> Self {
        RpcClient {
            transport,
            sleep,
            config: Arc::new(config),
            on_retry: None,
            offload: None,
        }
    }

    /// A clone of this client that reports every wait between retries to `hook` (progress bars use it to
    /// show that a load is waiting for the server).
    pub fn with_retry_hook(&self, hook: RetryHook) -> RpcClient {
        RpcClient {
            on_retry: Some(hook),
            ..self.clone()
        }
    }

    /// Runs CPU-bound work (page decoding) through `offload` instead of on the thread driving the futures.
    pub fn with_offload(mut self, offload: Option<Arc<dyn Offload>>) -> Self {
        self.offload = offload.map(crate::transport::BoundedOffload::wrap);
        self
    }

    /// Where CPU-bound work runs (`None`: where the futures are polled).
    pub fn offload(&self) -> Option<&Arc<dyn Offload>> {
        self.offload.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The sleep used for back-off.
    pub fn sleeper(&self) -> &Arc<dyn AsyncSleep> {
        &self.sleep
    }

    /// Calls `service_method` (`"<pkg>.<Service>/<Method>"`) with `request`, with retries.
    pub async fn call<Req, Resp>(&self, service_method: &str, request: &Req) -> Result<Resp>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let body = Bytes::from(request.encode_to_vec());
        self.call_raw(service_method, body).await
    }

    /// Calls `service_method` with an already serialized request body, with retries (as an idempotent call).
    pub async fn call_raw<Resp>(&self, service_method: &str, body: Bytes) -> Result<Resp>
    where
        Resp: Message + Default,
    {
        self.call_raw_with(service_method, body, Idempotency::Idempotent)
            .await
    }

    /// Calls `service_method` with `request`; failures are retried as `idempotency` allows.
    pub async fn call_with<Req, Resp>(
        &self,
        service_method: &str,
        request: &Req,
        idempotency: Idempotency,
    ) -> Result<Resp>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let body = Bytes::from(request.encode_to_vec());
        self.call_raw_with(service_method, body, idempotency).await
    }

    /// Calls `service_method` with an already serialized body; failures are retried as `idempotency` allows.
    pub async fn call_raw_with<Resp>(
        &self,
        service_method: &str,
        body: Bytes,
        idempotency: Idempotency,
    ) -> Result<Resp>
    where
        Resp: Message + Default,
    {
        let policy: &RetryPolicy = self.config.retry();
        let started = std::time::Instant::now();
        // Time spent waiting so far; the budget uses the larger of this and the wall time since the start,
        // so a fake clock (tests) and slow attempts (real life) are both accounted for.
        let mut waited = std::time::Duration::ZERO;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let request = connect::build_request(&self.config, service_method, body.clone())?;
            let mut retry_after = None;
            let outcome = match self.transport.send(request).await {
                Ok(response) => {
                    retry_after = connect::retry_after(response.headers());
                    connect::decode_response::<Resp>(response)
                }
                Err(source) => Err(Error::Transport {
                    source,
                    attempts: attempt,
                }),
            };
            let error = match outcome {
                Ok(message) => return Ok(message),
                Err(error) => error,
            };
            let retryable = match idempotency {
                Idempotency::Idempotent => RetryPolicy::is_retryable(&error),
                Idempotency::NotIdempotent => RetryPolicy::is_retryable_unprocessed(&error),
            };
            if !retryable {
                return Err(with_attempts(error, attempt));
            }
            let elapsed = waited.max(started.elapsed());
            let Some(wait) = policy.next_wait(attempt, elapsed, rand::random::<f64>()) else {
                return Err(with_attempts(error, attempt));
            };
            // A server-requested delay (Retry-After, in seconds) is honoured up to the policy's cap and the
            // remaining budget.
            let remaining = policy
                .max_elapsed()
                .map_or(policy.max_backoff(), |b| b.saturating_sub(elapsed));
            let wait = wait.max(
                retry_after
                    .unwrap_or_default()
                    .min(policy.max_backoff())
                    .min(remaining),
            );
            tracing::debug!(%service_method, attempt, ?wait, %error, "retrying");
            if let Some(hook) = &self.on_retry {
                hook(&RetryWait {
                    attempt,
                    wait,
                    reason: error.to_string(),
                });
            }
            self.sleep.sleep(wait).await;
            waited += wait;
        }
    }

    /// `DatasetService/ListDatasets`.
    pub async fn list_datasets(
        &self,
        req: pb::ListDatasetsRequest,
    ) -> Result<pb::ListDatasetsResponse> {
        self.call("datasets.v1.DatasetService/ListDatasets", &req)
            .await
    }

    /// `DatasetService/GetDataset`.
    pub async fn get_dataset(&self, req: pb::GetDatasetRequest) -> Result<pb::Dataset> {
        self.call("datasets.v1.DatasetService/GetDataset", &req)
            .await
    }

    /// `DatasetService/CreateDataset`.
    pub async fn create_dataset(&self, req: pb::CreateDatasetRequest) -> Result<pb::Dataset> {
        self.call_with(
            "datasets.v1.DatasetService/CreateDataset",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `DatasetService/UpdateDataset`.
    pub async fn update_dataset(&self, req: pb::UpdateDatasetRequest) -> Result<pb::Dataset> {
        self.call("datasets.v1.DatasetService/UpdateDataset", &req)
            .await
    }

    /// `DatasetService/DeleteDataset`.
    pub async fn delete_dataset(
        &self,
        req: pb::DeleteDatasetRequest,
    ) -> Result<pb::DeleteDatasetResponse> {
        self.call_with(
            "datasets.v1.DatasetService/DeleteDataset",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `CollectionService/ListCollections`.
    pub async fn list_collections(
        &self,
        req: pb::ListCollectionsRequest,
    ) -> Result<pb::ListCollectionsResponse> {
        self.call("datasets.v1.CollectionService/ListCollections", &req)
            .await
    }

    /// `CollectionService/GetCollectionByName`.
    pub async fn get_collection_by_name(
        &self,
        req: pb::GetCollectionByNameRequest,
    ) -> Result<pb::CollectionInfo> {
        self.call("datasets.v1.CollectionService/GetCollectionByName", &req)
            .await
    }

    /// `CollectionService/CreateCollection`.
    pub async fn create_collection(
        &self,
        req: pb::CreateCollectionRequest,
    ) -> Result<pb::CollectionInfo> {
        self.call_with(
            "datasets.v1.CollectionService/CreateCollection",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `CollectionService/DeleteCollection`.
    pub async fn delete_collection(
        &self,
        req: pb::DeleteCollectionRequest,
    ) -> Result<pb::DeleteCollectionResponse> {
        self.call_with(
            "datasets.v1.CollectionService/DeleteCollection",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `DataAccessService/Query`: one page.
    pub async fn query(&self, req: pb::QueryRequest) -> Result<pb::QueryResultPage> {
        self.call("datasets.v1.DataAccessService/Query", &req).await
    }

    /// `DataAccessService/QueryByID`: one datapoint.
    pub async fn query_by_id(&self, req: pb::QueryByIdRequest) -> Result<pb::Any> {
        self.call("datasets.v1.DataAccessService/QueryByID", &req)
            .await
    }

    /// `DataIngestionService/Ingest`.
    pub async fn ingest(&self, req: pb::IngestRequest) -> Result<pb::IngestResponse> {
        // Re-sending an ingest that skips existing datapoints is harmless; a strict one would fail on its own
        // first attempt's datapoints.
        let idempotency = if req.allow_existing {
            Idempotency::Idempotent
        } else {
            Idempotency::NotIdempotent
        };
        self.call_with("datasets.v1.DataIngestionService/Ingest", &req, idempotency)
            .await
    }

    /// `DataIngestionService/Delete`.
    pub async fn delete(&self, req: pb::DeleteRequest) -> Result<pb::DeleteResponse> {
        self.call_with(
            "datasets.v1.DataIngestionService/Delete",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }
}

/// Typed calls of the workflows services. Reads, cancels, cluster updates and the runner's reports (keyed
/// by task, so the server treats a repeat as a no-op) retry every retryable failure; submissions, creations,
/// deletions and job retries only failures where the request was surely not carried out.
impl RpcClient {
    /// `JobService/SubmitJob`.
    pub async fn submit_job(&self, req: wf::SubmitJobRequest) -> Result<wf::Job> {
        self.call_with(
            "workflows.v1.JobService/SubmitJob",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `JobService/GetJob`: a job with its task summaries.
    pub async fn get_job(&self, req: wf::GetJobRequest) -> Result<wf::Job> {
        self.call("workflows.v1.JobService/GetJob", &req).await
    }

    /// `JobService/GetJobProgress`: a job's state and progress.
    pub async fn get_job_progress(&self, req: wf::GetJobProgressRequest) -> Result<wf::Job> {
        self.call("workflows.v1.JobService/GetJobProgress", &req)
            .await
    }

    /// `JobService/RetryJob`.
    pub async fn retry_job(&self, req: wf::RetryJobRequest) -> Result<wf::RetryJobResponse> {
        self.call_with(
            "workflows.v1.JobService/RetryJob",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `JobService/CancelJob` (cancelling twice is cancelling once).
    pub async fn cancel_job(&self, req: wf::CancelJobRequest) -> Result<wf::CancelJobResponse> {
        self.call("workflows.v1.JobService/CancelJob", &req).await
    }

    /// `JobService/QueryJobs`: one page.
    pub async fn query_jobs(&self, req: wf::QueryJobsRequest) -> Result<wf::QueryJobsResponse> {
        self.call("workflows.v1.JobService/QueryJobs", &req).await
    }

    /// `JobService/VisualizeJob`: a job's task graph rendered as a diagram.
    pub async fn visualize_job(&self, req: wf::VisualizeJobRequest) -> Result<wf::Diagram> {
        self.call("workflows.v1.JobService/VisualizeJob", &req)
            .await
    }

    /// `TaskService/NextTask`: report a computed task and/or claim the next one.
    ///
    /// Retried like a read: a repeated report of the same task is a no-op on the server, and a claim whose
    /// answer was lost comes back to the queue when its lease expires.
    pub async fn next_task(&self, req: wf::NextTaskRequest) -> Result<wf::NextTaskResponse> {
        self.call("workflows.v1.TaskService/NextTask", &req).await
    }

    /// `TaskService/TaskFailed` (a repeated report of the same task is a no-op on the server).
    pub async fn task_failed(&self, req: wf::TaskFailedRequest) -> Result<wf::TaskStateResponse> {
        self.call("workflows.v1.TaskService/TaskFailed", &req).await
    }

    /// `TaskService/ExtendTaskLease`.
    pub async fn extend_task_lease(&self, req: wf::TaskLeaseRequest) -> Result<wf::TaskLease> {
        self.call("workflows.v1.TaskService/ExtendTaskLease", &req)
            .await
    }

    /// `WorkflowsService/CreateCluster`.
    pub async fn create_cluster(&self, req: wf::CreateClusterRequest) -> Result<wf::Cluster> {
        self.call_with(
            "workflows.v1.WorkflowsService/CreateCluster",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `WorkflowsService/GetCluster` (an empty slug names the default cluster).
    pub async fn get_cluster(&self, req: wf::GetClusterRequest) -> Result<wf::Cluster> {
        self.call("workflows.v1.WorkflowsService/GetCluster", &req)
            .await
    }

    /// `WorkflowsService/UpdateCluster` (setting the same values twice is setting them once).
    pub async fn update_cluster(&self, req: wf::UpdateClusterRequest) -> Result<wf::Cluster> {
        self.call("workflows.v1.WorkflowsService/UpdateCluster", &req)
            .await
    }

    /// `WorkflowsService/DeleteCluster`.
    pub async fn delete_cluster(
        &self,
        req: wf::DeleteClusterRequest,
    ) -> Result<wf::DeleteClusterResponse> {
        self.call_with(
            "workflows.v1.WorkflowsService/DeleteCluster",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `WorkflowsService/ListClusters`.
    pub async fn list_clusters(
        &self,
        req: wf::ListClustersRequest,
    ) -> Result<wf::ListClustersResponse> {
        self.call("workflows.v1.WorkflowsService/ListClusters", &req)
            .await
    }
}

/// `AutomationService` and `StorageLocationService` (automations and the storage locations they watch).
impl RpcClient {
    /// `AutomationService/ListAutomations`.
    pub async fn list_automations(&self) -> Result<wf::Automations> {
        self.call("workflows.v1.AutomationService/ListAutomations", &())
            .await
    }

    /// `AutomationService/GetAutomation`.
    pub async fn get_automation(
        &self,
        id: crate::wire::tilebox::v1::Id,
    ) -> Result<wf::AutomationPrototype> {
        self.call("workflows.v1.AutomationService/GetAutomation", &id)
            .await
    }

    /// `AutomationService/CreateAutomation` (not retried: a repeat would create a second automation).
    pub async fn create_automation(
        &self,
        req: wf::AutomationPrototype,
    ) -> Result<wf::AutomationPrototype> {
        self.call_with(
            "workflows.v1.AutomationService/CreateAutomation",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `AutomationService/UpdateAutomation` (replaces the automation's content and triggers).
    pub async fn update_automation(
        &self,
        req: wf::AutomationPrototype,
    ) -> Result<wf::AutomationPrototype> {
        self.call("workflows.v1.AutomationService/UpdateAutomation", &req)
            .await
    }

    /// `AutomationService/DeleteAutomation`.
    pub async fn delete_automation(&self, req: wf::DeleteAutomationRequest) -> Result<()> {
        self.call_with(
            "workflows.v1.AutomationService/DeleteAutomation",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `StorageLocationService/ListStorageLocations`.
    pub async fn list_storage_locations(&self) -> Result<wf::StorageLocations> {
        self.call(
            "workflows.v1.StorageLocationService/ListStorageLocations",
            &(),
        )
        .await
    }

    /// `StorageLocationService/GetStorageLocation`.
    pub async fn get_storage_location(
        &self,
        id: crate::wire::tilebox::v1::Id,
    ) -> Result<wf::StorageLocation> {
        self.call(
            "workflows.v1.StorageLocationService/GetStorageLocation",
            &id,
        )
        .await
    }

    /// `StorageLocationService/CreateStorageLocation` (not retried: a repeat would create a second one).
    pub async fn create_storage_location(
        &self,
        req: wf::CreateStorageLocationRequest,
    ) -> Result<wf::StorageLocation> {
        self.call_with(
            "workflows.v1.StorageLocationService/CreateStorageLocation",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `StorageLocationService/UpdateStorageLocation` (renames a location).
    pub async fn update_storage_location(
        &self,
        req: wf::UpdateStorageLocationRequest,
    ) -> Result<wf::StorageLocation> {
        self.call(
            "workflows.v1.StorageLocationService/UpdateStorageLocation",
            &req,
        )
        .await
    }

    /// `StorageLocationService/DeleteStorageLocation`.
    pub async fn delete_storage_location(&self, id: crate::wire::tilebox::v1::Id) -> Result<()> {
        self.call_with(
            "workflows.v1.StorageLocationService/DeleteStorageLocation",
            &id,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `StorageLocationService/ListStorageSubscriptionEvents`: one page of a location's object events,
    /// newest first, with the jobs each submitted.
    pub async fn list_storage_events(
        &self,
        req: wf::ListStorageSubscriptionEventsRequest,
    ) -> Result<wf::StorageSubscriptionEvents> {
        self.call(
            "workflows.v1.StorageLocationService/ListStorageSubscriptionEvents",
            &req,
        )
        .await
    }
}

/// Sets the attempt count on errors that carry one.
fn with_attempts(error: Error, attempts: u32) -> Error {
    match error {
        Error::Unavailable { message, .. } => Error::Unavailable { message, attempts },
        Error::Transport { source, .. } => Error::Transport { source, attempts },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send() {
        struct Never;
        impl Transport for Never {
            fn send(
                &self,
                _: http::Request<Bytes>,
            ) -> crate::BoxFuture<
                '_,
                std::result::Result<http::Response<Bytes>, crate::TransportError>,
            > {
                Box::pin(std::future::pending())
            }
        }
        impl AsyncSleep for Never {
            fn sleep(&self, _: std::time::Duration) -> crate::BoxFuture<'static, ()> {
                Box::pin(std::future::pending())
            }
        }
        let client = RpcClient::new(
            ClientConfig::builder().url("http://x:1").build(),
            Arc::new(Never),
            Arc::new(Never),
        );
        assert_send(&client.list_datasets(pb::ListDatasetsRequest::default()));
        assert_send(&client.query(pb::QueryRequest::default()));
        assert_send(&client.next_task(wf::NextTaskRequest::default()));
        assert_send(&client.call::<_, pb::Any>("a.B/C", &pb::Any::default()));
    }
}
