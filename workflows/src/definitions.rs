//! Workflow definitions: named, described workflows (`WorkflowsService`). Releases and deployments run code
//! on hosted runners and are not part of this API.

use tilebox_core::rpc::RpcClient;
use tilebox_core::wire::workflows::v1 as wf;

use crate::error::Result;
use crate::job_views::all_pages;

/// A workflow definition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkflowDefinition {
    /// Slug (derived from the name by the server).
    pub slug: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// One-line summary.
    pub summary: String,
}

impl WorkflowDefinition {
    fn from_wire(w: wf::Workflow) -> Self {
        Self {
            slug: w.slug,
            name: w.name,
            description: w.description,
            summary: w.summary,
        }
    }
}

/// Workflow definitions.
#[derive(Clone, Debug)]
pub struct DefinitionClient {
    rpc: RpcClient,
}

impl DefinitionClient {
    pub(crate) fn new(rpc: RpcClient) -> Self {
        Self { rpc }
    }

    /// Every workflow definition.
    pub async fn list(&self) -> Result<Vec<WorkflowDefinition>> {
        all_pages(|page| async move {
            let resp = self
                .rpc
                .list_workflows(wf::ListWorkflowsRequest { page })
                .await?;
            let items = resp
                .workflows
                .into_iter()
                .map(WorkflowDefinition::from_wire)
                .collect();
            Ok((items, resp.next_page))
        })
        .await
    }

    /// A definition by slug (`not_found` for an unknown one).
    pub async fn get(&self, slug: &str) -> Result<WorkflowDefinition> {
        let req = wf::GetWorkflowRequest {
            workflow_slug: slug.to_owned(),
        };
        Ok(WorkflowDefinition::from_wire(
            self.rpc.get_workflow(req).await?,
        ))
    }

    /// Create a definition.
    pub async fn create(
        &self,
        name: &str,
        summary: &str,
        description: Option<&str>,
    ) -> Result<WorkflowDefinition> {
        let req = wf::CreateWorkflowRequest {
            name: name.to_owned(),
            description: description.map(str::to_owned),
            summary: summary.to_owned(),
        };
        Ok(WorkflowDefinition::from_wire(
            self.rpc.create_workflow(req).await?,
        ))
    }

    /// Change a definition's name, summary and/or description (`None` keeps the current value).
    pub async fn update(
        &self,
        slug: &str,
        name: Option<&str>,
        summary: Option<&str>,
        description: Option<&str>,
    ) -> Result<WorkflowDefinition> {
        let req = wf::UpdateWorkflowRequest {
            workflow_slug: slug.to_owned(),
            name: name.map(str::to_owned),
            description: description.map(str::to_owned),
            summary: summary.map(str::to_owned),
        };
        Ok(WorkflowDefinition::from_wire(
            self.rpc.update_workflow(req).await?,
        ))
    }

    /// Delete a definition.
    pub async fn delete(&self, slug: &str) -> Result<()> {
        let req = wf::DeleteWorkflowRequest {
            workflow_slug: slug.to_owned(),
        };
        self.rpc.delete_workflow(req).await?;
        Ok(())
    }
}
