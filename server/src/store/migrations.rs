//! Versioned schema migrations of both backends, embedded in the binary (`server/migrations/<backend>/`) and
//! applied in the transaction that opens a database.
//!
//! Applied versions are recorded in `tilebox_schema_migrations`. A database whose record holds a version this
//! build does not know was written by a newer server: opening it fails with
//! [`StoreError::SchemaTooNew`](super::StoreError::SchemaTooNew) and nothing is changed. Databases made by
//! earlier builds recorded their versions in sqlx's `_sqlx_migrations`; those records are adopted. On
//! PostgreSQL a transaction-scoped advisory lock serializes server processes that start on one database at
//! once.

use super::db::{Db, DbError, Dialect, args};

/// One migration: its version and script.
struct Migration {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Every migration this build knows, oldest first.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial",
        sqlite: include_str!("../../migrations/sqlite/0001_initial.sql"),
        postgres: include_str!("../../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        description: "claim indexes",
        sqlite: include_str!("../../migrations/sqlite/0002_claim_indexes.sql"),
        postgres: include_str!("../../migrations/postgres/0002_claim_indexes.sql"),
    },
    Migration {
        version: 3,
        description: "no shared counters",
        sqlite: include_str!("../../migrations/sqlite/0003_no_shared_counters.sql"),
        postgres: include_str!("../../migrations/postgres/0003_no_shared_counters.sql"),
    },
    Migration {
        version: 4,
        description: "telemetry and workflows",
        sqlite: include_str!("../../migrations/sqlite/0004_telemetry_workflows.sql"),
        postgres: include_str!("../../migrations/postgres/0004_telemetry_workflows.sql"),
    },
    Migration {
        version: 5,
        description: "automations and storage locations",
        sqlite: include_str!("../../migrations/sqlite/0005_automations.sql"),
        postgres: include_str!("../../migrations/postgres/0005_automations.sql"),
    },
];

/// The newest schema version this build knows.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The message of a refused database, recognized by [`super::StoreError::from`].
pub(crate) const TOO_NEW: &str = "schema too new:";

/// Brings the database up to the schema this build knows; runs inside the opening transaction.
pub(crate) fn apply(db: &mut dyn Db) -> Result<(), DbError> {
    let dialect = db.dialect();
    if dialect == Dialect::Postgres {
        // Any fixed key: every tilebox-server process migrating this database takes the same one.
        db.query_one("SELECT pg_advisory_xact_lock(7361629461)", &[], |_| Ok(()))?;
    }
    db.batch(
        "CREATE TABLE IF NOT EXISTS tilebox_schema_migrations (
             version BIGINT PRIMARY KEY,
             description TEXT NOT NULL
         )",
    )?;
    let legacy_table = match dialect {
        Dialect::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Dialect::Postgres => {
            "SELECT CAST(COUNT(*) AS BIGINT) FROM information_schema.tables
             WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()"
        }
    };
    if db.scalar::<i64>(legacy_table, &[])? > 0 {
        db.execute(
            "INSERT INTO tilebox_schema_migrations (version, description)
             SELECT version, description FROM _sqlx_migrations WHERE success = ?
             ON CONFLICT (version) DO NOTHING",
            args![true],
        )?;
    }
    let applied: Vec<i64> = db.query(
        "SELECT version FROM tilebox_schema_migrations ORDER BY version",
        &[],
        |r| r.get(0),
    )?;
    if let Some(&newest) = applied.last()
        && newest > latest()
    {
        return Err(DbError::Setup(format!("{TOO_NEW}{newest}")));
    }
    for migration in MIGRATIONS {
        if applied.contains(&migration.version) {
            continue;
        }
        db.batch(match dialect {
            Dialect::Sqlite => migration.sqlite,
            Dialect::Postgres => migration.postgres,
        })?;
        db.execute(
            "INSERT INTO tilebox_schema_migrations (version, description) VALUES (?, ?)",
            args![migration.version, migration.description],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
    }
}
