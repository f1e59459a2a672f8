//! State shared by all RPC handlers.

use std::sync::Arc;

use crate::config::ServerConfig;
use crate::schema::SchemaCache;
use crate::store::Store;
use crate::store::workflows::WorkflowsStore;

/// Everything a handler may need: configuration, the datasets and workflows stores and the dataset schema
/// cache.
pub struct ServerState {
    /// The configuration the server runs with.
    pub config: ServerConfig,
    /// Datasets storage.
    pub store: Arc<dyn Store>,
    /// Workflows storage (clusters, jobs, tasks).
    pub workflows: Arc<dyn WorkflowsStore>,
    /// Built dataset schemas.
    pub schemas: SchemaCache,
}
