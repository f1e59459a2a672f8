//! State shared by all RPC handlers.

use std::sync::Arc;

use sqlx::SqlitePool;

use crate::config::ServerConfig;
use crate::schema::SchemaCache;
use crate::store::Store;

/// Everything a handler may need: configuration, the store, the raw database pool (for services that keep
/// their own tables, e.g. workflows) and the dataset schema cache.
pub struct ServerState {
    /// The configuration the server runs with.
    pub config: ServerConfig,
    /// Datasets storage.
    pub store: Arc<dyn Store>,
    /// The SQLite pool behind `store`.
    pub db: SqlitePool,
    /// Built dataset schemas.
    pub schemas: SchemaCache,
}
