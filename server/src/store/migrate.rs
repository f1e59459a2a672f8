//! Versioned schema migrations of both backends, embedded in the binary (`server/migrations/<backend>/`) and
//! applied by sqlx when a store opens.
//!
//! sqlx records every applied migration in `_sqlx_migrations`. A database that records a migration this build
//! does not know was written by a newer server: opening it fails with [`StoreError::SchemaTooNew`] and nothing
//! is changed. On PostgreSQL sqlx holds an advisory lock while it migrates, so several server processes can
//! start on one database at once.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{PgPool, SqlitePool};

use super::StoreError;

/// Migrations of the SQLite backend.
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
/// Migrations of the PostgreSQL backend.
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Brings a SQLite database up to the schema this build knows.
pub(crate) async fn sqlite(pool: &SqlitePool) -> Result<(), StoreError> {
    SQLITE
        .run(pool)
        .await
        .map_err(|e| migrate_error(&SQLITE, e))
}

/// Creates the schema of this build in a new private SQLite file (see `Writer::private`) on its one
/// `rusqlite` connection, in one transaction. Every migration creates only what is missing, so they apply in
/// order to an empty file; no sqlx pool ever opens the file, so none records them.
pub(crate) fn sqlite_private(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    let script: String = SQLITE
        .iter()
        .map(|m| m.sql.as_ref())
        .collect::<Vec<&str>>()
        .join("\n;\n");
    conn.execute_batch(&format!("BEGIN;\n{script}\n;\nCOMMIT;"))
        .map_err(StoreError::from)
}

/// Brings a PostgreSQL database up to the schema this build knows.
pub(crate) async fn postgres(pool: &PgPool) -> Result<(), StoreError> {
    POSTGRES
        .run(pool)
        .await
        .map_err(|e| migrate_error(&POSTGRES, e))
}

/// The newest schema version of a migrator.
fn latest(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

fn migrate_error(migrator: &Migrator, e: MigrateError) -> StoreError {
    match e {
        MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
            found,
            known: latest(migrator),
        },
        MigrateError::Execute(e) => StoreError::Database(e),
        other => StoreError::Migration(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_know_the_same_versions() {
        let versions = |m: &Migrator| m.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(&SQLITE), versions(&POSTGRES));
        assert_eq!(latest(&SQLITE), 2);
    }
}
