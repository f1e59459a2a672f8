//! State shared by all RPC handlers.

use std::sync::Arc;

use sqlx::SqlitePool;

use crate::config::ServerConfig;
use crate::schema::SchemaCache;
use crate::store::Store;
use crate::store::tx::Writer;

/// Everything a handler may need: configuration, the store, the raw database pool (for services that keep
/// their own tables, e.g. workflows) and the dataset schema cache.
pub struct ServerState {
    /// The configuration the server runs with.
    pub config: ServerConfig,
    /// Datasets storage.
    pub store: Arc<dyn Store>,
    /// The SQLite pool behind `store`.
    pub db: SqlitePool,
    /// The write queue of `db`: run write transactions through it (cancel-safe, one writer at a time).
    pub writer: Writer,
    /// Built dataset schemas.
    pub schemas: SchemaCache,
}
