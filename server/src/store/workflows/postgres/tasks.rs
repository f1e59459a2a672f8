//! Task rows on PostgreSQL: inserting task groups, claiming, completion and failure with their propagation
//! to parents, groups and the job, leases and the reaper. The decisions come from [`machine`]; this module
//! only applies them, like the SQLite one, plus the row locks that make it safe for concurrent transactions
//! of several server processes:
//!
//! * a claim takes its task with `FOR UPDATE SKIP LOCKED`, so concurrent claims never hand out one task twice
//!   and never wait for each other;
//! * reports, failures and the reaper lock the task row before they read its state, so one transition wins
//!   and the others see its outcome (a repeated report changes nothing);
//! * the reaper takes expired tasks with `FOR UPDATE SKIP LOCKED`, so an expiry is handled by exactly one
//!   process while the others move on;
//! * a job's counters change by increments under the job row's lock, and its state is recomputed from the
//!   locked row.

use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use tilebox_core::wire::workflows::v1::TaskState;

use super::{Inner, dur_us, jobs, raw_id, task_state};
use crate::store::RawId;
use crate::store::workflows::machine::{self, ReportEffect, TerminalFailure};
pub(super) use crate::store::workflows::values::Parent;
use crate::store::workflows::values::task_not_found;
use crate::store::workflows::{
    ClaimRequest, ClaimedTask, ComputedReport, FailureReport, Lease, NewGroup, ProgressRecord,
    WfResult,
};

/// Inserts the groups of one submission under `parent`; returns how many inserted tasks are open (not
/// skipped).
pub(super) async fn insert_groups(
    inner: &Inner,
    conn: &mut PgConnection,
    parent: &Parent,
    groups: &[NewGroup],
) -> WfResult<i64> {
    let open_per_group: Vec<i64> = groups
        .iter()
        .map(|g| if parent.skip { 0 } else { g.tasks.len() as i64 })
        .collect();
    let parent_task = parent.task.as_ref().map(|t| t.as_slice());
    let mut group_ids = Vec::with_capacity(groups.len());
    for (g, group) in groups.iter().enumerate() {
        let pending = group
            .deps
            .iter()
            .filter(|&&d| open_per_group.get(d).copied().unwrap_or(0) > 0)
            .count() as i64;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO wf_task_groups (job_id, parent_task_id, open_tasks, pending_deps)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(parent.job.as_slice())
        .bind(parent_task)
        .bind(open_per_group[g])
        .bind(pending)
        .fetch_one(&mut *conn)
        .await?;
        group_ids.push(id);
    }
    for (g, group) in groups.iter().enumerate() {
        for &d in &group.deps {
            sqlx::query("INSERT INTO wf_group_deps (group_id, depends_on) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(group_ids[g])
                .bind(group_ids[d])
                .execute(&mut *conn)
                .await?;
        }
    }
    let (state, complete) = if parent.skip {
        (TaskState::Skipped, 1)
    } else {
        (TaskState::Queued, 0)
    };
    let mut open = 0;
    for (g, group) in groups.iter().enumerate() {
        for t in &group.tasks {
            let id = inner.new_id();
            let scope = if t.optional { Some(id) } else { parent.scope };
            sqlx::query(
                "INSERT INTO wf_tasks (id, job_id, group_id, parent_id, cluster_slug, name, version, major,
                    minor, input, display, state, optional, optional_scope, in_skip, max_retries, complete)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            )
            .bind(id.as_slice())
            .bind(parent.job.as_slice())
            .bind(group_ids[g])
            .bind(parent_task)
            .bind(t.cluster.as_deref().unwrap_or(&parent.cluster))
            .bind(&t.name)
            .bind(&t.version)
            .bind(t.major)
            .bind(t.minor)
            .bind(t.input.as_ref())
            .bind(&t.display)
            .bind(state as i32)
            .bind(i64::from(t.optional))
            .bind(scope.as_ref().map(|s| s.as_slice()))
            .bind(i64::from(parent.skip))
            .bind(t.max_retries)
            .bind(complete)
            .execute(&mut *conn)
            .await?;
            if !parent.skip {
                open += 1;
            }
        }
    }
    Ok(open)
}

/// Moves a task from `from` to `to` and keeps its job's counters in step.
async fn set_state(
    conn: &mut PgConnection,
    id: &RawId,
    job: &RawId,
    from: TaskState,
    to: TaskState,
) -> WfResult<()> {
    sqlx::query("UPDATE wf_tasks SET state = $1 WHERE id = $2")
        .bind(to as i32)
        .bind(id.as_slice())
        .execute(&mut *conn)
        .await?;
    adjust_counters(conn, job, from, to).await
}

async fn adjust_counters(
    conn: &mut PgConnection,
    job: &RawId,
    from: TaskState,
    to: TaskState,
) -> WfResult<()> {
    let (running, failed) = machine::counter_deltas(from, to);
    if running != 0 || failed != 0 {
        sqlx::query(
            "UPDATE wf_jobs SET running_tasks = running_tasks + $1, failed_tasks = failed_tasks + $2
             WHERE id = $3",
        )
        .bind(running)
        .bind(failed)
        .bind(job.as_slice())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Marks `start` complete and propagates: a parent whose subtasks are all complete (and which is computed)
/// completes too, a group whose tasks are all complete releases the groups waiting for it, and a complete
/// root task closes one of the job's open roots.
async fn complete(conn: &mut PgConnection, start: RawId) -> WfResult<()> {
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        let row = sqlx::query(
            "UPDATE wf_tasks SET complete = 1 WHERE id = $1 AND complete = 0
             RETURNING parent_id, group_id, job_id",
        )
        .bind(id.as_slice())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        let parent: Option<Vec<u8>> = row.try_get("parent_id")?;
        let group: i64 = row.try_get("group_id")?;
        let job: Vec<u8> = row.try_get("job_id")?;
        match parent {
            Some(p) => {
                let r = sqlx::query(
                    "UPDATE wf_tasks SET open_children = open_children - 1 WHERE id = $1
                     RETURNING open_children, state",
                )
                .bind(&p)
                .fetch_one(&mut *conn)
                .await?;
                let open: i64 = r.try_get("open_children")?;
                let state = task_state(r.try_get("state")?)?;
                if open <= 0 && state == TaskState::Computed {
                    stack.push(raw_id(&p)?);
                }
            }
            None => {
                sqlx::query("UPDATE wf_jobs SET open_roots = open_roots - 1 WHERE id = $1")
                    .bind(&job)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        // As in the SQLite store: the open count matters only to dependent groups, submitted with this one.
        let has_dependents: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM wf_group_deps WHERE depends_on = $1)")
                .bind(group)
                .fetch_one(&mut *conn)
                .await?;
        if !has_dependents {
            continue;
        }
        let open: i64 = sqlx::query_scalar(
            "UPDATE wf_task_groups SET open_tasks = open_tasks - 1 WHERE id = $1 RETURNING open_tasks",
        )
        .bind(group)
        .fetch_one(&mut *conn)
        .await?;
        if open == 0 {
            sqlx::query(
                "UPDATE wf_task_groups SET pending_deps = pending_deps - 1
                 WHERE id IN (SELECT group_id FROM wf_group_deps WHERE depends_on = $1)",
            )
            .bind(group)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Ends a (queued) task that is out of chances.
async fn fail_for_good(conn: &mut PgConnection, id: &RawId, job: &RawId) -> WfResult<()> {
    let row = sqlx::query("SELECT optional, optional_scope FROM wf_tasks WHERE id = $1")
        .bind(id.as_slice())
        .fetch_one(&mut *conn)
        .await?;
    let optional = row.try_get::<i64, _>("optional")? != 0;
    let scope: Option<Vec<u8>> = row.try_get("optional_scope")?;
    match machine::terminal_failure(optional, scope.is_some()) {
        TerminalFailure::Failed => {
            set_state(conn, id, job, TaskState::Queued, TaskState::Failed).await
        }
        TerminalFailure::Optional => {
            set_state(conn, id, job, TaskState::Queued, TaskState::FailedOptional).await?;
            complete(conn, *id).await
        }
        TerminalFailure::OptionalScope => {
            set_state(conn, id, job, TaskState::Queued, TaskState::FailedOptional).await?;
            complete(conn, *id).await?;
            let scope = scope.unwrap_or_default();
            skip_subtree(conn, &scope, job).await
        }
    }
}

/// Puts an optional scope's subtree in skip mode and skips everything still queued there.
async fn skip_subtree(conn: &mut PgConnection, scope: &[u8], job: &RawId) -> WfResult<()> {
    let subtree: Vec<(Vec<u8>, i64)> = sqlx::query_as(
        "WITH RECURSIVE sub(id) AS (
            SELECT id FROM wf_tasks WHERE parent_id = $1
            UNION ALL SELECT t.id FROM wf_tasks t JOIN sub ON t.parent_id = sub.id)
         SELECT t.id, t.state FROM wf_tasks t JOIN sub ON sub.id = t.id",
    )
    .bind(scope)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("UPDATE wf_tasks SET in_skip = 1 WHERE id = $1")
        .bind(scope)
        .execute(&mut *conn)
        .await?;
    for (tid, state) in subtree {
        let tid = raw_id(&tid)?;
        sqlx::query("UPDATE wf_tasks SET in_skip = 1 WHERE id = $1")
            .bind(tid.as_slice())
            .execute(&mut *conn)
            .await?;
        if task_state(state)? == TaskState::Queued {
            set_state(conn, &tid, job, TaskState::Queued, TaskState::Skipped).await?;
            complete(conn, tid).await?;
        }
    }
    Ok(())
}

async fn store_progress(
    conn: &mut PgConnection,
    task: &RawId,
    job: &RawId,
    progress: &[ProgressRecord],
) -> WfResult<()> {
    for p in progress {
        sqlx::query(
            "INSERT INTO wf_task_progress (task_id, job_id, label, total, done)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (task_id, label) DO UPDATE SET total = EXCLUDED.total, done = EXCLUDED.done",
        )
        .bind(task.as_slice())
        .bind(job.as_slice())
        .bind(&p.label)
        .bind(i64::try_from(p.total).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.done).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Requeues (or fails for good) running tasks whose lease ran out before `now`; returns how many.
pub(super) async fn reap(inner: &Inner, conn: &mut PgConnection, now: i64) -> WfResult<u64> {
    type Expired = (Vec<u8>, Vec<u8>, i64, Option<i64>);
    // The literal state keeps the partial index `wf_tasks_running` usable.
    let sql = format!(
        "SELECT id, job_id, lease_expiries, started_at_us FROM wf_tasks
         WHERE state = {} AND lease_until_us < $1 ORDER BY id FOR UPDATE SKIP LOCKED",
        TaskState::Running as i32
    );
    let expired: Vec<Expired> = sqlx::query_as(&sql).bind(now).fetch_all(&mut *conn).await?;
    let n = expired.len() as u64;
    for (id, job, expiries, started) in expired {
        let (id, job) = (raw_id(&id)?, raw_id(&job)?);
        sqlx::query(
            "UPDATE wf_tasks SET lease_until_us = NULL, stopped_at_us = $1, compute_us = compute_us + $2,
               lease_expiries = lease_expiries + 1 WHERE id = $3",
        )
        .bind(now)
        .bind(machine::run_time(started, now))
        .bind(id.as_slice())
        .execute(&mut *conn)
        .await?;
        set_state(conn, &id, &job, TaskState::Running, TaskState::Queued).await?;
        if machine::out_of_chances(expiries, inner.config.max_lease_expiries) {
            fail_for_good(conn, &id, &job).await?;
        }
        jobs::refresh(conn, &job).await?;
    }
    Ok(n)
}

/// Reaps, applies the completion report, then claims (preferring the reported task's job).
pub(super) async fn next_task(
    inner: &Inner,
    conn: &mut PgConnection,
    computed: Option<ComputedReport>,
    claim: Option<ClaimRequest>,
) -> WfResult<Option<ClaimedTask>> {
    let now = super::now_us();
    reap(inner, conn, now).await?;
    let mut prefer_job = None;
    if let Some(report) = computed {
        prefer_job = Some(apply_computed(inner, conn, report, now).await?);
    }
    let Some(claim) = claim else {
        return Ok(None);
    };
    let mut claimed = None;
    if let Some(job) = &prefer_job {
        claimed = claim_one(inner, conn, &claim, Some(job), now).await?;
    }
    if claimed.is_none() {
        claimed = claim_one(inner, conn, &claim, None, now).await?;
    }
    match claimed {
        Some(id) => Ok(Some(claimed_task(inner, conn, &id).await?)),
        None => Ok(None),
    }
}

/// Applies a completion report; returns the task's job.
async fn apply_computed(
    inner: &Inner,
    conn: &mut PgConnection,
    report: ComputedReport,
    now: i64,
) -> WfResult<RawId> {
    let id = report.id;
    let row = sqlx::query(
        "SELECT job_id, state, cluster_slug, optional_scope, in_skip, started_at_us FROM wf_tasks WHERE id = $1
         FOR UPDATE",
    )
    .bind(id.as_slice())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| task_not_found(&id))?;
    let job = raw_id(&row.try_get::<Vec<u8>, _>("job_id")?)?;
    let state = task_state(row.try_get("state")?)?;
    if machine::computed_report(state) == ReportEffect::Ignore {
        return Ok(job);
    }
    clusters_exist(conn, &report.subtasks).await?;
    let scope: Option<Vec<u8>> = row.try_get("optional_scope")?;
    let started: Option<i64> = row.try_get("started_at_us")?;
    let spent = if state == TaskState::Running {
        machine::run_time(started, now)
    } else {
        0
    };
    sqlx::query(
        "UPDATE wf_tasks SET stopped_at_us = $1, compute_us = compute_us + $2, lease_until_us = NULL,
           display = COALESCE($3, display)
         WHERE id = $4",
    )
    .bind(now)
    .bind(spent)
    .bind(report.display.as_deref())
    .bind(id.as_slice())
    .execute(&mut *conn)
    .await?;
    set_state(conn, &id, &job, state, TaskState::Computed).await?;
    store_progress(conn, &id, &job, &report.progress).await?;
    jobs::clear_retried(conn, &job).await?;
    let open = if report.subtasks.is_empty() {
        0
    } else {
        let parent = Parent {
            job,
            task: Some(id),
            cluster: row.try_get("cluster_slug")?,
            scope: scope.as_deref().map(raw_id).transpose()?,
            skip: row.try_get::<i64, _>("in_skip")? != 0,
        };
        insert_groups(inner, conn, &parent, &report.subtasks).await?
    };
    sqlx::query("UPDATE wf_tasks SET open_children = $1 WHERE id = $2")
        .bind(open)
        .bind(id.as_slice())
        .execute(&mut *conn)
        .await?;
    if open == 0 {
        complete(conn, id).await?;
    }
    jobs::refresh(conn, &job).await?;
    Ok(job)
}

async fn clusters_exist(conn: &mut PgConnection, groups: &[NewGroup]) -> WfResult<()> {
    if groups.is_empty() {
        return Ok(());
    }
    super::clusters::check_exist(conn, groups).await
}

/// Claims the oldest eligible task (the newest of `job`, when given, to go depth first within a job).
async fn claim_one(
    inner: &Inner,
    conn: &mut PgConnection,
    claim: &ClaimRequest,
    job: Option<&RawId>,
    now: i64,
) -> WfResult<Option<RawId>> {
    if claim.identifiers.is_empty() {
        return Ok(None);
    }
    // The literal states keep the partial index `wf_tasks_queued` usable.
    let mut b = QueryBuilder::<Postgres>::new(format!(
        "SELECT t.id FROM wf_tasks t JOIN wf_jobs j ON j.id = t.job_id
           JOIN wf_task_groups g ON g.id = t.group_id
         WHERE t.state = {} AND j.canceled = 0 AND j.state <> {} AND g.pending_deps = 0
           AND t.cluster_slug = ",
        TaskState::Queued as i32,
        tilebox_core::wire::workflows::v1::JobState::Failed as i32,
    ));
    b.push_bind(claim.cluster.clone());
    b.push(" AND (");
    for (i, (name, major, minor)) in claim.identifiers.iter().enumerate() {
        if i > 0 {
            b.push(" OR ");
        }
        b.push("(t.name = ");
        b.push_bind(name.clone());
        b.push(" AND t.major = ");
        b.push_bind(*major);
        b.push(" AND t.minor <= ");
        b.push_bind(*minor);
        b.push(")");
    }
    b.push(")");
    if let Some(job) = job {
        b.push(" AND t.job_id = ");
        b.push_bind(job.to_vec());
        b.push(" ORDER BY t.id DESC LIMIT 1");
    } else {
        b.push(" ORDER BY t.id ASC LIMIT 1");
    }
    // Tasks other transactions are claiming (or otherwise changing) are passed over, not waited for.
    b.push(" FOR UPDATE OF t SKIP LOCKED");
    let Some(id) = b
        .build_query_scalar::<Vec<u8>>()
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let id = raw_id(&id)?;
    let job_id: Vec<u8> = sqlx::query_scalar(
        "UPDATE wf_tasks SET lease_until_us = $1, started_at_us = $2 WHERE id = $3 RETURNING job_id",
    )
    .bind(now.saturating_add(dur_us(inner.config.lease)))
    .bind(now)
    .bind(id.as_slice())
    .fetch_one(&mut *conn)
    .await?;
    let job_id = raw_id(&job_id)?;
    set_state(conn, &id, &job_id, TaskState::Queued, TaskState::Running).await?;
    sqlx::query("UPDATE wf_jobs SET retried_pending = 0, started = 1 WHERE id = $1")
        .bind(job_id.as_slice())
        .execute(&mut *conn)
        .await?;
    jobs::refresh(conn, &job_id).await?;
    Ok(Some(id))
}

async fn claimed_task(inner: &Inner, conn: &mut PgConnection, id: &RawId) -> WfResult<ClaimedTask> {
    let row = sqlx::query(
        "SELECT t.name, t.version, t.input, t.display, t.failures, t.lease_expiries, t.job_id,
                j.name AS job_name, j.trace_parent, j.submitted_at_us
         FROM wf_tasks t JOIN wf_jobs j ON j.id = t.job_id WHERE t.id = $1",
    )
    .bind(id.as_slice())
    .fetch_one(&mut *conn)
    .await?;
    let input: Vec<u8> = row.try_get("input")?;
    let failures: i64 = row.try_get("failures")?;
    let expiries: i64 = row.try_get("lease_expiries")?;
    Ok(ClaimedTask {
        id: *id,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        input: input.into(),
        display: row.try_get("display")?,
        retry_count: failures + expiries,
        job_id: raw_id(&row.try_get::<Vec<u8>, _>("job_id")?)?,
        job_name: row.try_get("job_name")?,
        trace_parent: row.try_get("trace_parent")?,
        submitted_at_us: row.try_get("submitted_at_us")?,
        lease: machine::lease(dur_us(inner.config.lease)),
    })
}

/// Applies a failure report: the run ends, the task is requeued or (out of retries) fails for good.
pub(super) async fn failed(
    inner: &Inner,
    conn: &mut PgConnection,
    report: FailureReport,
) -> WfResult<TaskState> {
    let now = super::now_us();
    reap(inner, conn, now).await?;
    let id = report.id;
    let row = sqlx::query(
        "SELECT job_id, state, failures, max_retries, started_at_us FROM wf_tasks WHERE id = $1
         FOR UPDATE",
    )
    .bind(id.as_slice())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| task_not_found(&id))?;
    let state = task_state(row.try_get("state")?)?;
    if !machine::failure_applies(state) {
        return Ok(state);
    }
    let job = raw_id(&row.try_get::<Vec<u8>, _>("job_id")?)?;
    let failures: i64 = row.try_get("failures")?;
    let max_retries: i64 = row.try_get("max_retries")?;
    let started: Option<i64> = row.try_get("started_at_us")?;
    sqlx::query(
        "UPDATE wf_tasks SET lease_until_us = NULL, stopped_at_us = $1, compute_us = compute_us + $2,
           display = COALESCE($3, display), failures = failures + $4 WHERE id = $5",
    )
    .bind(now)
    .bind(machine::run_time(started, now))
    .bind(report.display.as_deref())
    .bind(i64::from(report.was_workflow_error))
    .bind(id.as_slice())
    .execute(&mut *conn)
    .await?;
    set_state(conn, &id, &job, TaskState::Running, TaskState::Queued).await?;
    store_progress(conn, &id, &job, &report.progress).await?;
    jobs::clear_retried(conn, &job).await?;
    if report.was_workflow_error && machine::out_of_chances(failures, max_retries) {
        fail_for_good(conn, &id, &job).await?;
    }
    jobs::refresh(conn, &job).await?;
    let state: i64 = sqlx::query_scalar("SELECT state FROM wf_tasks WHERE id = $1")
        .bind(id.as_slice())
        .fetch_one(&mut *conn)
        .await?;
    task_state(state)
}

/// Extends the lease of a running task whose lease has not run out.
pub(super) async fn extend_lease(
    inner: &Inner,
    conn: &mut PgConnection,
    id: RawId,
    requested_us: i64,
) -> WfResult<Option<Lease>> {
    let now = super::now_us();
    reap(inner, conn, now).await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1::BIGINT FROM wf_tasks WHERE id = $1")
        .bind(id.as_slice())
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(task_not_found(&id));
    }
    let granted = machine::granted_extension(requested_us, dur_us(inner.config.max_lease));
    if granted <= 0 {
        return Ok(None);
    }
    let n = sqlx::query(
        "UPDATE wf_tasks SET lease_until_us = $1 WHERE id = $2 AND state = $3 AND lease_until_us >= $4",
    )
    .bind(now.saturating_add(granted))
    .bind(id.as_slice())
    .bind(TaskState::Running as i32)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((n > 0).then(|| machine::lease(granted)))
}
