//! Job rows on PostgreSQL: submission, views, cancel/retry, queries, and the job state kept up to date from
//! counters (recomputed from the job row under its lock, so concurrent transitions of one job serialize).

use std::ops::Bound;

use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use tilebox_core::wire::workflows::v1::{JobState, TaskState};

use super::{Inner, clusters, fmt_id, now_us, raw_id, task_state, tasks};
use crate::store::RawId;
use crate::store::workflows::machine::JobCounters;
use crate::store::workflows::values::range_end;
use crate::store::workflows::{
    JobPage, JobQuery, JobRecord, JobStats, NewJob, ProgressRecord, TaskSummaryRecord, WfResult,
    WorkflowsStoreError,
};

fn not_found(id: &RawId) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("job {} not found", fmt_id(id)))
}

pub(super) async fn submit(
    inner: &Inner,
    conn: &mut PgConnection,
    job: NewJob,
) -> WfResult<JobRecord> {
    clusters::check_exist(conn, &job.groups).await?;
    let default = clusters::default_slug(conn).await?;
    let job_id = inner.new_id();
    let roots: i64 = job.groups.iter().map(|g| g.tasks.len() as i64).sum();
    sqlx::query(
        "INSERT INTO wf_jobs (id, name, trace_parent, automation_id, submitted_at_us, state, open_roots)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(job_id.as_slice())
    .bind(&job.name)
    .bind(&job.trace_parent)
    .bind(job.automation_id.as_ref().map(|a| a.as_slice()))
    .bind(now_us())
    .bind(JobState::Submitted as i32)
    .bind(roots)
    .execute(&mut *conn)
    .await?;
    let parent = tasks::Parent {
        job: job_id,
        task: None,
        cluster: default,
        scope: None,
        skip: false,
    };
    tasks::insert_groups(inner, conn, &parent, &job.groups).await?;
    view(conn, job_id, true)
        .await?
        .ok_or_else(|| not_found(&job_id))
}

/// Recomputes a job's state from its counters and stores it.
pub(super) async fn refresh(conn: &mut PgConnection, job: &RawId) -> WfResult<JobState> {
    let row = sqlx::query(
        "SELECT open_roots, canceled, retried_pending, running_tasks, failed_tasks, started
         FROM wf_jobs WHERE id = $1 FOR UPDATE",
    )
    .bind(job.as_slice())
    .fetch_one(&mut *conn)
    .await?;
    let counters = JobCounters {
        open_roots: row.try_get("open_roots")?,
        canceled: row.try_get::<i64, _>("canceled")? != 0,
        failed_tasks: row.try_get("failed_tasks")?,
        running_tasks: row.try_get("running_tasks")?,
        retried_pending: row.try_get::<i64, _>("retried_pending")? != 0,
        started: row.try_get::<i64, _>("started")? != 0,
    };
    let state = counters.state();
    sqlx::query("UPDATE wf_jobs SET state = $1 WHERE id = $2")
        .bind(state as i32)
        .bind(job.as_slice())
        .execute(&mut *conn)
        .await?;
    Ok(state)
}

/// Clears the "retry pending" mark once a task of the job was claimed or reported.
pub(super) async fn clear_retried(conn: &mut PgConnection, job: &RawId) -> WfResult<()> {
    sqlx::query("UPDATE wf_jobs SET retried_pending = 0 WHERE id = $1")
        .bind(job.as_slice())
        .execute(conn)
        .await?;
    Ok(())
}

async fn exists(conn: &mut PgConnection, id: &RawId) -> WfResult<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1::BIGINT FROM wf_jobs WHERE id = $1")
        .bind(id.as_slice())
        .fetch_optional(conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| not_found(id))
}

pub(super) async fn cancel(conn: &mut PgConnection, id: RawId) -> WfResult<()> {
    exists(conn, &id).await?;
    sqlx::query("UPDATE wf_jobs SET canceled = 1 WHERE id = $1 AND state <> $2")
        .bind(id.as_slice())
        .bind(JobState::Completed as i32)
        .execute(&mut *conn)
        .await?;
    refresh(conn, &id).await?;
    Ok(())
}

pub(super) async fn retry(conn: &mut PgConnection, id: RawId) -> WfResult<u64> {
    exists(conn, &id).await?;
    let state: i64 = sqlx::query_scalar("SELECT state FROM wf_jobs WHERE id = $1 FOR UPDATE")
        .bind(id.as_slice())
        .fetch_one(&mut *conn)
        .await?;
    if state == JobState::Completed as i64 {
        return Ok(0);
    }
    let n = sqlx::query(
        "UPDATE wf_tasks SET state = $1, failures = 0, lease_expiries = 0 WHERE job_id = $2 AND state = $3",
    )
    .bind(TaskState::Queued as i32)
    .bind(id.as_slice())
    .bind(TaskState::Failed as i32)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // Every failed task of the job was requeued.
    sqlx::query(
        "UPDATE wf_jobs SET canceled = 0, retried_pending = $1, failed_tasks = 0 WHERE id = $2",
    )
    .bind(i64::from(n > 0))
    .bind(id.as_slice())
    .execute(&mut *conn)
    .await?;
    refresh(conn, &id).await?;
    Ok(n)
}

/// A job with its progress and figures (and tasks when `with_tasks`), `None` when it does not exist.
pub(super) async fn view(
    conn: &mut PgConnection,
    id: RawId,
    with_tasks: bool,
) -> WfResult<Option<JobRecord>> {
    let Some(row) = sqlx::query(
        "SELECT name, trace_parent, automation_id, submitted_at_us, canceled, state FROM wf_jobs WHERE id = $1",
    )
    .bind(id.as_slice())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let state: i64 = row.try_get("state")?;
    let state = i32::try_from(state)
        .ok()
        .and_then(|s| JobState::try_from(s).ok())
        .unwrap_or(JobState::Unspecified);
    let automation: Option<Vec<u8>> = row.try_get("automation_id")?;
    let progress: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT label, SUM(total)::BIGINT, SUM(done)::BIGINT FROM wf_task_progress WHERE job_id = $1
         GROUP BY label ORDER BY label",
    )
    .bind(id.as_slice())
    .fetch_all(&mut *conn)
    .await?;
    let stats = sqlx::query(
        "SELECT MIN(started_at_us) AS first, MAX(stopped_at_us) AS last,
                COALESCE(SUM(compute_us), 0)::BIGINT AS compute, COUNT(*) AS total
         FROM wf_tasks WHERE job_id = $1",
    )
    .bind(id.as_slice())
    .fetch_one(&mut *conn)
    .await?;
    let by_state: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT state, COUNT(*) FROM wf_tasks WHERE job_id = $1 GROUP BY state ORDER BY state",
    )
    .bind(id.as_slice())
    .fetch_all(&mut *conn)
    .await?;
    let mut tasks = Vec::new();
    if with_tasks {
        let rows = sqlx::query(
            "SELECT id, display, state, parent_id, started_at_us, stopped_at_us FROM wf_tasks
             WHERE job_id = $1 ORDER BY id",
        )
        .bind(id.as_slice())
        .fetch_all(&mut *conn)
        .await?;
        tasks.reserve(rows.len());
        for r in rows {
            let parent: Option<Vec<u8>> = r.try_get("parent_id")?;
            tasks.push(TaskSummaryRecord {
                id: raw_id(&r.try_get::<Vec<u8>, _>("id")?)?,
                parent_id: parent.as_deref().map(raw_id).transpose()?,
                display: r.try_get("display")?,
                state: task_state(r.try_get("state")?)?,
                started_at_us: r.try_get("started_at_us")?,
                stopped_at_us: r.try_get("stopped_at_us")?,
            });
        }
    }
    let tasks_by_state = by_state
        .into_iter()
        .map(|(s, c)| Ok((task_state(s)?, c.max(0) as u64)))
        .collect::<WfResult<Vec<_>>>()?;
    Ok(Some(JobRecord {
        id,
        name: row.try_get("name")?,
        trace_parent: row.try_get("trace_parent")?,
        automation_id: automation.as_deref().map(raw_id).transpose()?,
        submitted_at_us: row.try_get("submitted_at_us")?,
        canceled: row.try_get::<i64, _>("canceled")? != 0,
        state,
        progress: progress
            .into_iter()
            .map(|(label, total, done)| ProgressRecord {
                label,
                total: total.max(0) as u64,
                done: done.max(0) as u64,
            })
            .collect(),
        stats: JobStats {
            first_started_us: stats.try_get("first")?,
            last_stopped_us: stats.try_get("last")?,
            compute_us: stats.try_get("compute")?,
            total_tasks: stats.try_get::<i64, _>("total")?.max(0) as u64,
            tasks_by_state,
        },
        tasks,
    }))
}

fn push_bound<'a, T>(b: &mut QueryBuilder<'a, Postgres>, column: &str, bound: Bound<T>, lower: bool)
where
    T: 'a + sqlx::Encode<'a, Postgres> + sqlx::Type<Postgres> + Send,
{
    let Some((op, value)) = range_end(bound, lower) else {
        return;
    };
    b.push(format_args!(" AND {column} {op} "));
    b.push_bind(value);
}

fn push_in<'a, T>(b: &mut QueryBuilder<'a, Postgres>, values: impl IntoIterator<Item = T>)
where
    T: 'a + sqlx::Encode<'a, Postgres> + sqlx::Type<Postgres> + Send,
{
    b.push(" IN (");
    let mut sep = b.separated(", ");
    for v in values {
        sep.push_bind(v);
    }
    b.push(")");
}

/// One page of jobs: the ids come from one indexed query, then each job's view.
pub(super) async fn query(conn: &mut PgConnection, q: &JobQuery) -> WfResult<JobPage> {
    let mut b = QueryBuilder::<Postgres>::new("SELECT j.id FROM wf_jobs j WHERE 1 = 1");
    push_bound(&mut b, "j.submitted_at_us", q.submitted.0, true);
    push_bound(&mut b, "j.submitted_at_us", q.submitted.1, false);
    push_bound(&mut b, "j.id", q.ids.0.map(|v| v.to_vec()), true);
    push_bound(&mut b, "j.id", q.ids.1.map(|v| v.to_vec()), false);
    if !q.automation_ids.is_empty() {
        b.push(" AND j.automation_id");
        push_in(&mut b, q.automation_ids.iter().map(|a| a.to_vec()));
    }
    if !q.states.is_empty() {
        b.push(" AND j.state");
        push_in(&mut b, q.states.iter().map(|s| *s as i32));
    }
    if let Some(name) = &q.name {
        b.push(" AND strpos(lower(j.name), lower(");
        b.push_bind(name.clone());
        b.push(")) > 0");
    }
    if !q.task_states.is_empty() {
        b.push(" AND EXISTS (SELECT 1::BIGINT FROM wf_tasks t WHERE t.job_id = j.id AND t.state");
        push_in(&mut b, q.task_states.iter().map(|s| *s as i32));
        b.push(")");
    }
    if !q.clusters.is_empty() {
        b.push(" AND EXISTS (SELECT 1::BIGINT FROM wf_tasks t WHERE t.job_id = j.id AND t.cluster_slug");
        push_in(&mut b, q.clusters.iter().cloned());
        b.push(")");
    }
    if let Some(after) = q.starting_after {
        b.push(if q.ascending {
            " AND j.id > "
        } else {
            " AND j.id < "
        });
        b.push_bind(after.to_vec());
    }
    b.push(if q.ascending {
        " ORDER BY j.id ASC LIMIT "
    } else {
        " ORDER BY j.id DESC LIMIT "
    });
    b.push_bind(i64::try_from(q.limit.saturating_add(1)).unwrap_or(i64::MAX));
    let ids: Vec<Vec<u8>> = b.build_query_scalar().fetch_all(&mut *conn).await?;
    let more = ids.len() as u64 > q.limit;
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids.iter().take(q.limit as usize) {
        let id = raw_id(id)?;
        if let Some(job) = view(conn, id, false).await? {
            jobs.push(job);
        }
    }
    Ok(JobPage { jobs, more })
}
