//! Typed calls of the job inspection RPCs, the telemetry query service and workflow definitions.

use super::RpcClient;
use crate::error::Result;
use crate::retry::Idempotency;
use crate::wire::workflows::v1 as wf;

impl RpcClient {
    /// `JobService/ListJobTasks`: a page of a job's root tasks (or of one task's children), optionally with
    /// the first page of each listed task's children.
    pub async fn list_job_tasks(
        &self,
        req: wf::ListJobTasksRequest,
    ) -> Result<wf::ListJobTasksResponse> {
        self.call("workflows.v1.JobService/ListJobTasks", &req)
            .await
    }

    /// `JobService/GetJobPrototype`: the name and root tasks a job was submitted with.
    pub async fn get_job_prototype(
        &self,
        req: wf::GetJobPrototypeRequest,
    ) -> Result<wf::GetJobPrototypeResponse> {
        self.call("workflows.v1.JobService/GetJobPrototype", &req)
            .await
    }

    /// `JobService/CloneJob`: submits a copy of a job (not retried after a possible execution).
    pub async fn clone_job(&self, req: wf::CloneJobRequest) -> Result<wf::Job> {
        self.call_with(
            "workflows.v1.JobService/CloneJob",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `JobService/GetJobStateCounts`: jobs per state in a submission interval.
    pub async fn get_job_state_counts(
        &self,
        req: wf::GetJobStateCountsRequest,
    ) -> Result<wf::GetJobStateCountsResponse> {
        self.call("workflows.v1.JobService/GetJobStateCounts", &req)
            .await
    }

    /// `JobService/GetTaskQueueStats`: waiting and running jobs, queued tasks, the oldest waiting job.
    pub async fn get_task_queue_stats(
        &self,
        req: wf::GetTaskQueueStatsRequest,
    ) -> Result<wf::GetTaskQueueStatsResponse> {
        self.call("workflows.v1.JobService/GetTaskQueueStats", &req)
            .await
    }

    /// `TelemetryQueryService/QueryJobLogs`: a page of a job's log records (one per `ResourceLogs`).
    pub async fn query_job_logs(
        &self,
        req: wf::QueryJobLogsRequest,
    ) -> Result<wf::PaginatedLogsData> {
        self.call("workflows.v1.TelemetryQueryService/QueryJobLogs", &req)
            .await
    }

    /// `TelemetryQueryService/QueryJobSpans`: a page of a job's spans (one per `ResourceSpans`).
    pub async fn query_job_spans(
        &self,
        req: wf::QueryJobSpansRequest,
    ) -> Result<wf::PaginatedSpansData> {
        self.call("workflows.v1.TelemetryQueryService/QueryJobSpans", &req)
            .await
    }

    /// `TelemetryQueryService/QueryLogsInInterval`: a page of all log records in a time interval.
    pub async fn query_logs_in_interval(
        &self,
        req: wf::QueryLogsInIntervalRequest,
    ) -> Result<wf::PaginatedLogsData> {
        self.call(
            "workflows.v1.TelemetryQueryService/QueryLogsInInterval",
            &req,
        )
        .await
    }

    /// `TelemetryQueryService/GetLogMessageCounts`: log records per severity group in a time interval.
    pub async fn get_log_message_counts(
        &self,
        req: wf::GetLogMessageCountsRequest,
    ) -> Result<wf::GetLogMessageCountsResponse> {
        self.call(
            "workflows.v1.TelemetryQueryService/GetLogMessageCounts",
            &req,
        )
        .await
    }

    /// `WorkflowsService/CreateWorkflow` (not retried after a possible execution).
    pub async fn create_workflow(&self, req: wf::CreateWorkflowRequest) -> Result<wf::Workflow> {
        self.call_with(
            "workflows.v1.WorkflowsService/CreateWorkflow",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// `WorkflowsService/GetWorkflow`.
    pub async fn get_workflow(&self, req: wf::GetWorkflowRequest) -> Result<wf::Workflow> {
        self.call("workflows.v1.WorkflowsService/GetWorkflow", &req)
            .await
    }

    /// `WorkflowsService/ListWorkflows`.
    pub async fn list_workflows(
        &self,
        req: wf::ListWorkflowsRequest,
    ) -> Result<wf::ListWorkflowsResponse> {
        self.call("workflows.v1.WorkflowsService/ListWorkflows", &req)
            .await
    }

    /// `WorkflowsService/UpdateWorkflow`.
    pub async fn update_workflow(&self, req: wf::UpdateWorkflowRequest) -> Result<wf::Workflow> {
        self.call("workflows.v1.WorkflowsService/UpdateWorkflow", &req)
            .await
    }

    /// `WorkflowsService/DeleteWorkflow` (not retried after a possible execution).
    pub async fn delete_workflow(
        &self,
        req: wf::DeleteWorkflowRequest,
    ) -> Result<wf::DeleteWorkflowResponse> {
        self.call_with(
            "workflows.v1.WorkflowsService/DeleteWorkflow",
            &req,
            Idempotency::NotIdempotent,
        )
        .await
    }
}
