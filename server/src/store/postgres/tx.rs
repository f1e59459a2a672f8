//! Cancel-safe write transactions on the PostgreSQL pool, with retries of transactions PostgreSQL aborted to
//! resolve a deadlock or a serialization conflict.
//!
//! The guarantee is the one [`crate::store::tx`] gives on SQLite: a request future dropped at any await point
//! never leaves a pooled connection inside a transaction and never half-writes. [`PgWriter::run`] runs each
//! write unit (`BEGIN` → statements → `COMMIT`/`ROLLBACK`) in a tokio task of its own that the request only
//! awaits; a unit whose caller left before it began never starts. Unlike SQLite there is no write queue:
//! PostgreSQL runs transactions concurrently (also from other server processes) and orders them with row
//! locks. When it aborts one to break a deadlock (`40P01`) or a serialization conflict (`40001`), the unit is
//! run again from the start, so units must be repeatable (they are `Fn`). [`rollback_on_release`] is the
//! pool's last line, as on SQLite.

use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::{PgPoolOptions, PgTransactionManager};
use sqlx::{Connection, PgConnection, PgPool, TransactionManager};
use tokio::sync::oneshot;

use crate::store::StoreError;

/// How often a unit is tried when PostgreSQL keeps aborting it as a deadlock victim.
const ATTEMPTS: u32 = 8;

/// Adds the release guard to pool options: a connection returned to the pool inside a transaction is rolled
/// back first (closed if that fails, which makes PostgreSQL roll back).
pub(crate) fn rollback_on_release(options: PgPoolOptions) -> PgPoolOptions {
    options.after_release(release_guard)
}

fn release_guard(
    conn: &mut PgConnection,
    _meta: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        while conn.is_in_transaction() {
            tracing::warn!("connection returned to the pool inside a transaction; rolling back");
            PgTransactionManager::rollback(conn).await?;
        }
        Ok(true)
    })
}

/// Whether PostgreSQL aborted the transaction to resolve a deadlock or a serialization conflict, so that
/// running it again can succeed.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// Errors a unit can fail with: they carry the database error that may ask for a retry.
pub(crate) trait UnitError: From<sqlx::Error> + Send + 'static {
    /// The database error inside, if any.
    fn database(&self) -> Option<&sqlx::Error>;
}

impl UnitError for StoreError {
    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            StoreError::Database(e) => Some(e),
            _ => None,
        }
    }
}

/// Runs write units on a PostgreSQL pool, each in one transaction on a task of its own. Cloning shares the
/// pool.
#[derive(Clone, Debug)]
pub(crate) struct PgWriter {
    pool: PgPool,
}

impl PgWriter {
    /// A writer over `pool`.
    pub(crate) fn new(pool: PgPool) -> Self {
        PgWriter { pool }
    }

    /// Runs `unit` in one transaction: committed when it returns `Ok`, rolled back when it returns `Err` (or
    /// panics); run again (up to a few times) when PostgreSQL aborted it as a deadlock victim or for a
    /// serialization conflict.
    ///
    /// Cancel safety: if the returned future is dropped before the unit began, it never starts; once begun it
    /// runs to commit or rollback in its own task whatever happens to the caller.
    pub(crate) async fn run<T, E, F>(&self, unit: F) -> Result<T, E>
    where
        F: for<'c> Fn(&'c mut PgConnection) -> BoxFuture<'c, Result<T, E>> + Send + Sync + 'static,
        T: Send + 'static,
        E: UnitError,
    {
        let pool = self.pool.clone();
        let (result_tx, result_rx) = oneshot::channel();
        tokio::spawn(async move {
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                if result_tx.is_closed() {
                    // The caller left before (another attempt of) the unit began: nothing to do.
                    return;
                }
                let mut tx = match pool.begin().await {
                    Ok(tx) => tx,
                    Err(e) => break Err(E::from(e)),
                };
                let outcome = match unit(&mut tx).await {
                    Ok(value) => tx.commit().await.map(|()| value).map_err(E::from),
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                };
                match outcome {
                    Err(e) if attempt < ATTEMPTS && e.database().is_some_and(retryable) => {
                        tracing::debug!(
                            attempt,
                            "transaction aborted by PostgreSQL; running it again"
                        );
                        tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5)).await;
                    }
                    outcome => break outcome,
                }
            };
            let _ = result_tx.send(outcome);
        });
        result_rx.await.map_err(|_| {
            E::from(sqlx::Error::Protocol(
                "the database task ended without an answer".into(),
            ))
        })?
    }
}
