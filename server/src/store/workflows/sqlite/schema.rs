//! Upgrades of SQLite workflows tables written before versioned migrations existed.
//!
//! The tables themselves come from `migrations/sqlite/` (see [`crate::store::migrate`]); new schema changes
//! go there as new migrations. The state numbers in the partial index predicates are the wire enums' values;
//! queries that should use those indexes spell the same literal (see [`super::tasks`]).

use sqlx::SqlitePool;

use crate::store::workflows::WfResult;

/// Job counter columns added after the first release, with the statement that derives each from the tasks
/// of databases written before.
const JOB_COUNTERS: &[(&str, &str)] = &[
    (
        "running_tasks",
        "UPDATE wf_jobs SET running_tasks = (SELECT COUNT(*) FROM wf_tasks t WHERE t.job_id = wf_jobs.id AND t.state = 2)",
    ),
    (
        "failed_tasks",
        "UPDATE wf_jobs SET failed_tasks = (SELECT COUNT(*) FROM wf_tasks t WHERE t.job_id = wf_jobs.id AND t.state = 4)",
    ),
    (
        "started",
        "UPDATE wf_jobs SET started = EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = wf_jobs.id AND t.started_at_us IS NOT NULL)",
    ),
];

/// Brings databases written before the job counters existed up to date (the migrations create the tables
/// only where they are missing).
pub(super) async fn create(pool: &SqlitePool) -> WfResult<()> {
    for (column, backfill) in JOB_COUNTERS {
        let probe = format!("SELECT {column} FROM wf_jobs LIMIT 1");
        if sqlx::query(&probe).fetch_optional(pool).await.is_err() {
            sqlx::query(&format!(
                "ALTER TABLE wf_jobs ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"
            ))
            .execute(pool)
            .await?;
            sqlx::query(backfill).execute(pool).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tilebox_core::wire::workflows::v1::TaskState;

    #[test]
    fn literal_states_match_the_wire_enum() {
        // The partial indexes and the queries that use them spell these numbers.
        assert_eq!(TaskState::Queued as i32, 1);
        assert_eq!(TaskState::Running as i32, 2);
        assert_eq!(TaskState::Failed as i32, 4);
    }
}
