//! SQLite schema of the workflows store (tables live next to the datasets tables in the same database).
//!
//! Portable apart from the partial indexes (PostgreSQL has them too) and `BLOB` (`BYTEA` there). The state
//! numbers in the partial index predicates are the wire enums' values; queries that should use those indexes
//! spell the same literal (see [`super::tasks`]).

use sqlx::SqlitePool;

use crate::store::workflows::WfResult;

/// Statements creating the workflows tables; each is idempotent.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS wf_clusters (
        slug          TEXT PRIMARY KEY,
        display_name  TEXT NOT NULL,
        description   TEXT NOT NULL DEFAULT '',
        is_default    INTEGER NOT NULL DEFAULT 0,
        created_at_us INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS wf_jobs (
        id              BLOB PRIMARY KEY,
        name            TEXT NOT NULL,
        trace_parent    TEXT NOT NULL,
        automation_id   BLOB,
        submitted_at_us INTEGER NOT NULL,
        canceled        INTEGER NOT NULL DEFAULT 0,
        state           INTEGER NOT NULL,
        retried_pending INTEGER NOT NULL DEFAULT 0,
        open_roots      INTEGER NOT NULL,
        running_tasks   INTEGER NOT NULL DEFAULT 0,
        failed_tasks    INTEGER NOT NULL DEFAULT 0,
        started         INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS wf_jobs_by_automation ON wf_jobs(automation_id)",
    "CREATE TABLE IF NOT EXISTS wf_task_groups (
        id              INTEGER PRIMARY KEY,
        job_id          BLOB NOT NULL,
        parent_task_id  BLOB,
        open_tasks      INTEGER NOT NULL,
        pending_deps    INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS wf_group_deps (
        group_id   INTEGER NOT NULL,
        depends_on INTEGER NOT NULL,
        PRIMARY KEY (group_id, depends_on))",
    "CREATE INDEX IF NOT EXISTS wf_group_deps_by_target ON wf_group_deps(depends_on)",
    "CREATE TABLE IF NOT EXISTS wf_tasks (
        id              BLOB PRIMARY KEY,
        job_id          BLOB NOT NULL,
        group_id        INTEGER NOT NULL,
        parent_id       BLOB,
        cluster_slug    TEXT NOT NULL,
        name            TEXT NOT NULL,
        version         TEXT NOT NULL,
        major           INTEGER NOT NULL,
        minor           INTEGER NOT NULL,
        input           BLOB NOT NULL,
        display         TEXT NOT NULL,
        state           INTEGER NOT NULL,
        optional        INTEGER NOT NULL,
        optional_scope  BLOB,
        in_skip         INTEGER NOT NULL DEFAULT 0,
        max_retries     INTEGER NOT NULL,
        failures        INTEGER NOT NULL DEFAULT 0,
        lease_expiries  INTEGER NOT NULL DEFAULT 0,
        open_children   INTEGER NOT NULL DEFAULT 0,
        complete        INTEGER NOT NULL DEFAULT 0,
        lease_until_us  INTEGER,
        started_at_us   INTEGER,
        stopped_at_us   INTEGER,
        compute_us      INTEGER NOT NULL DEFAULT 0)",
    // Partial indexes: state 1 = TASK_STATE_QUEUED, 2 = TASK_STATE_RUNNING. A claim walks the queued tasks
    // of one identifier (name, major) in id order — in a cluster, or in a job — and stops at the first
    // eligible one, so claiming costs a few index probes however many tasks are queued (`minor`, the job and
    // the group are checked per row; the index leaves `minor` out so the walk follows id order).
    "DROP INDEX IF EXISTS wf_tasks_queued",
    "CREATE INDEX IF NOT EXISTS wf_tasks_claim ON wf_tasks(cluster_slug, name, major, id) WHERE state = 1",
    "CREATE INDEX IF NOT EXISTS wf_tasks_job_claim ON wf_tasks(job_id, name, major, id) WHERE state = 1",
    "CREATE INDEX IF NOT EXISTS wf_tasks_running ON wf_tasks(lease_until_us) WHERE state = 2",
    "CREATE INDEX IF NOT EXISTS wf_tasks_by_job ON wf_tasks(job_id, state)",
    "CREATE INDEX IF NOT EXISTS wf_tasks_by_parent ON wf_tasks(parent_id)",
    "CREATE TABLE IF NOT EXISTS wf_task_progress (
        task_id BLOB NOT NULL,
        job_id  BLOB NOT NULL,
        label   TEXT NOT NULL,
        total   INTEGER NOT NULL,
        done    INTEGER NOT NULL,
        PRIMARY KEY (task_id, label))",
    "CREATE INDEX IF NOT EXISTS wf_task_progress_by_job ON wf_task_progress(job_id)",
];

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

/// Creates the tables and brings databases of older versions up to date.
pub(super) async fn create(pool: &SqlitePool) -> WfResult<()> {
    for stmt in SCHEMA {
        sqlx::query(stmt).execute(pool).await?;
    }
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
