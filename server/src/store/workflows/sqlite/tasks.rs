//! Task rows: inserting task groups, claiming, completion and failure with their propagation to parents,
//! groups and the job, leases and the reaper. The decisions come from [`machine`]; this module only
//! applies them.

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use tilebox_core::wire::workflows::v1::TaskState;

use super::{Inner, dur_us, fmt_id, jobs, raw_id, task_state};
use crate::store::RawId;
use crate::store::workflows::machine::{self, ReportEffect, TerminalFailure};
use crate::store::workflows::{
    ClaimRequest, ClaimedTask, ComputedReport, FailureReport, Lease, NewGroup, ProgressRecord,
    WfResult, WorkflowsStoreError,
};

fn not_found(id: &RawId) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("task {} not found", fmt_id(id)))
}

/// Where inserted task groups hang.
pub(super) struct Parent {
    /// The job.
    pub(super) job: RawId,
    /// The parent task, `None` for root tasks.
    pub(super) task: Option<RawId>,
    /// Cluster of tasks that name none.
    pub(super) cluster: String,
    /// The optional scope the parent lies in.
    pub(super) scope: Option<RawId>,
    /// The parent's optional scope failed: new tasks are skipped at once.
    pub(super) skip: bool,
}

/// Inserts the groups of one submission under `parent`; returns how many inserted tasks are open (not
/// skipped).
pub(super) async fn insert_groups(
    inner: &Inner,
    conn: &mut SqliteConnection,
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
             VALUES (?, ?, ?, ?) RETURNING id",
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
            sqlx::query("INSERT OR IGNORE INTO wf_group_deps (group_id, depends_on) VALUES (?, ?)")
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
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    conn: &mut SqliteConnection,
    id: &RawId,
    job: &RawId,
    from: TaskState,
    to: TaskState,
) -> WfResult<()> {
    sqlx::query("UPDATE wf_tasks SET state = ? WHERE id = ?")
        .bind(to as i32)
        .bind(id.as_slice())
        .execute(&mut *conn)
        .await?;
    adjust_counters(conn, job, from, to).await
}

async fn adjust_counters(
    conn: &mut SqliteConnection,
    job: &RawId,
    from: TaskState,
    to: TaskState,
) -> WfResult<()> {
    let (running, failed) = machine::counter_deltas(from, to);
    if running != 0 || failed != 0 {
        sqlx::query(
            "UPDATE wf_jobs SET running_tasks = running_tasks + ?, failed_tasks = failed_tasks + ?
             WHERE id = ?",
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
async fn complete(conn: &mut SqliteConnection, start: RawId) -> WfResult<()> {
    let mut next = Some(start);
    while let Some(id) = next.take() {
        let row = sqlx::query(
            "UPDATE wf_tasks SET complete = 1 WHERE id = ? AND complete = 0
             RETURNING parent_id, group_id, job_id",
        )
        .bind(id.as_slice())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        let parent: Option<Vec<u8>> = row.try_get("parent_id")?;
        let job: Vec<u8> = row.try_get("job_id")?;
        next = completed(conn, parent, row.try_get("group_id")?, &job).await?;
    }
    Ok(())
}

/// Propagates the completion of one task (already marked complete) with `parent`, `group` and `job` to its
/// parent's open subtasks, its group and the job's open roots; returns the parent when that completes too.
async fn completed(
    conn: &mut SqliteConnection,
    parent: Option<Vec<u8>>,
    group: i64,
    job: &[u8],
) -> WfResult<Option<RawId>> {
    let mut next = None;
    match parent {
        Some(p) => {
            let r = sqlx::query(
                "UPDATE wf_tasks SET open_children = open_children - 1 WHERE id = ?
                 RETURNING open_children, state",
            )
            .bind(&p)
            .fetch_one(&mut *conn)
            .await?;
            let open: i64 = r.try_get("open_children")?;
            let state = task_state(r.try_get("state")?)?;
            if open <= 0 && state == TaskState::Computed {
                next = Some(raw_id(&p)?);
            }
        }
        None => {
            sqlx::query("UPDATE wf_jobs SET open_roots = open_roots - 1 WHERE id = ?")
                .bind(job)
                .execute(&mut *conn)
                .await?;
        }
    }
    let open: i64 = sqlx::query_scalar(
        "UPDATE wf_task_groups SET open_tasks = open_tasks - 1 WHERE id = ? RETURNING open_tasks",
    )
    .bind(group)
    .fetch_one(&mut *conn)
    .await?;
    if open == 0 {
        sqlx::query(
            "UPDATE wf_task_groups SET pending_deps = pending_deps - 1
             WHERE id IN (SELECT group_id FROM wf_group_deps WHERE depends_on = ?)",
        )
        .bind(group)
        .execute(&mut *conn)
        .await?;
    }
    Ok(next)
}

/// Ends a (queued) task that is out of chances.
async fn fail_for_good(conn: &mut SqliteConnection, id: &RawId, job: &RawId) -> WfResult<()> {
    let row = sqlx::query("SELECT optional, optional_scope FROM wf_tasks WHERE id = ?")
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
async fn skip_subtree(conn: &mut SqliteConnection, scope: &[u8], job: &RawId) -> WfResult<()> {
    let subtree: Vec<(Vec<u8>, i64)> = sqlx::query_as(
        "WITH RECURSIVE sub(id) AS (
            SELECT id FROM wf_tasks WHERE parent_id = ?
            UNION ALL SELECT t.id FROM wf_tasks t JOIN sub ON t.parent_id = sub.id)
         SELECT t.id, t.state FROM wf_tasks t JOIN sub ON sub.id = t.id",
    )
    .bind(scope)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("UPDATE wf_tasks SET in_skip = 1 WHERE id = ?")
        .bind(scope)
        .execute(&mut *conn)
        .await?;
    for (tid, state) in subtree {
        let tid = raw_id(&tid)?;
        sqlx::query("UPDATE wf_tasks SET in_skip = 1 WHERE id = ?")
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
    conn: &mut SqliteConnection,
    task: &RawId,
    job: &RawId,
    progress: &[ProgressRecord],
) -> WfResult<()> {
    for p in progress {
        sqlx::query(
            "INSERT OR REPLACE INTO wf_task_progress (task_id, job_id, label, total, done)
             VALUES (?, ?, ?, ?, ?)",
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
pub(super) async fn reap(inner: &Inner, conn: &mut SqliteConnection, now: i64) -> WfResult<u64> {
    type Expired = (Vec<u8>, Vec<u8>, i64, Option<i64>);
    // The literal state keeps the partial index `wf_tasks_running` usable.
    let sql = format!(
        "SELECT id, job_id, lease_expiries, started_at_us FROM wf_tasks
         WHERE state = {} AND lease_until_us < ?",
        TaskState::Running as i32
    );
    let expired: Vec<Expired> = sqlx::query_as(&sql).bind(now).fetch_all(&mut *conn).await?;
    let n = expired.len() as u64;
    for (id, job, expiries, started) in expired {
        let (id, job) = (raw_id(&id)?, raw_id(&job)?);
        sqlx::query(
            "UPDATE wf_tasks SET lease_until_us = NULL, stopped_at_us = ?, compute_us = compute_us + ?,
               lease_expiries = lease_expiries + 1 WHERE id = ?",
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
    let earliest: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT MIN(lease_until_us) FROM wf_tasks WHERE state = {}",
        TaskState::Running as i32
    ))
    .fetch_one(&mut *conn)
    .await?;
    inner.set_lease_floor(earliest);
    Ok(n)
}

/// [`reap`], unless no lease can have ended by `now` (see `Inner::lease_floor`): the cheap start of every
/// task write.
async fn reap_due(inner: &Inner, conn: &mut SqliteConnection, now: i64) -> WfResult<()> {
    if inner.lease_may_have_ended(now) {
        reap(inner, conn, now).await?;
    }
    Ok(())
}

/// Reaps, applies the completion report, then claims (preferring the reported task's job).
pub(super) async fn next_task(
    inner: &Inner,
    conn: &mut SqliteConnection,
    computed: Option<ComputedReport>,
    claim: Option<ClaimRequest>,
) -> WfResult<Option<ClaimedTask>> {
    let now = super::now_us();
    reap_due(inner, conn, now).await?;
    let mut prefer_job = None;
    // The report's change to its job's counters, counted together with the claim's when the claimed task
    // is of the same job (the claim's filters do not depend on it: a computed report never fails a job).
    let mut pending = None;
    if let Some(report) = computed {
        let (job, deltas) = apply_computed(inner, conn, report, now).await?;
        prefer_job = Some(job);
        pending = deltas.map(|d| (job, d));
    }
    let mut claimed = None;
    if let Some(claim) = claim {
        if let Some(job) = &prefer_job {
            claimed = claim_one(inner, conn, &claim, Some(job), now, &mut pending).await?;
        }
        if claimed.is_none() {
            claimed = claim_one(inner, conn, &claim, None, now, &mut pending).await?;
        }
    }
    if let Some((job, deltas)) = pending {
        jobs::count_transition(conn, &job, deltas, false).await?;
    }
    Ok(claimed)
}

/// Applies a completion report; returns the task's job and, unless the report was ignored, the change to
/// the job's counters the caller still has to count ([`jobs::count_transition`]).
///
/// The task's row changes in one statement (run time, display, state, open subtasks and — with none open —
/// completeness); propagation to the parent and group follows.
async fn apply_computed(
    inner: &Inner,
    conn: &mut SqliteConnection,
    report: ComputedReport,
    now: i64,
) -> WfResult<(RawId, Option<(i64, i64)>)> {
    let id = report.id;
    if report.subtasks.is_empty()
        && let Some(job) = computed_leaf(conn, &report, now).await?
    {
        return Ok((
            job,
            Some(machine::counter_deltas(
                TaskState::Running,
                TaskState::Computed,
            )),
        ));
    }
    let row = sqlx::query(
        "SELECT job_id, state, cluster_slug, optional_scope, in_skip, started_at_us, parent_id, group_id
         FROM wf_tasks WHERE id = ?",
    )
    .bind(id.as_slice())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| not_found(&id))?;
    let job = raw_id(&row.try_get::<Vec<u8>, _>("job_id")?)?;
    let state = task_state(row.try_get("state")?)?;
    if machine::computed_report(state) == ReportEffect::Ignore {
        return Ok((job, None));
    }
    let open = if report.subtasks.is_empty() {
        0
    } else {
        clusters_exist(conn, &report.subtasks).await?;
        let scope: Option<Vec<u8>> = row.try_get("optional_scope")?;
        let parent = Parent {
            job,
            task: Some(id),
            cluster: row.try_get("cluster_slug")?,
            scope: scope.as_deref().map(raw_id).transpose()?,
            skip: row.try_get::<i64, _>("in_skip")? != 0,
        };
        insert_groups(inner, conn, &parent, &report.subtasks).await?
    };
    let started: Option<i64> = row.try_get("started_at_us")?;
    let spent = if state == TaskState::Running {
        machine::run_time(started, now)
    } else {
        0
    };
    // A queued or running task is never complete yet, so with no open subtasks it completes here.
    sqlx::query(
        "UPDATE wf_tasks SET stopped_at_us = ?, compute_us = compute_us + ?, lease_until_us = NULL,
           display = COALESCE(?, display), state = ?, open_children = ?, complete = ?
         WHERE id = ?",
    )
    .bind(now)
    .bind(spent)
    .bind(report.display.as_deref())
    .bind(TaskState::Computed as i32)
    .bind(open)
    .bind(i64::from(open == 0))
    .bind(id.as_slice())
    .execute(&mut *conn)
    .await?;
    store_progress(conn, &id, &job, &report.progress).await?;
    if open == 0 {
        let parent: Option<Vec<u8>> = row.try_get("parent_id")?;
        if let Some(parent) = completed(conn, parent, row.try_get("group_id")?, &job).await? {
            complete(conn, parent).await?;
        }
    }
    Ok((
        job,
        Some(machine::counter_deltas(state, TaskState::Computed)),
    ))
}

/// The common report, of a running task without subtasks, in one statement (plus propagation): the task
/// becomes computed and complete. Returns its job, or `None` when the task is not running (then the general
/// path in [`apply_computed`] decides).
async fn computed_leaf(
    conn: &mut SqliteConnection,
    report: &ComputedReport,
    now: i64,
) -> WfResult<Option<RawId>> {
    // The run time is `machine::run_time` (a running task has a start time).
    let row = sqlx::query(&format!(
        "UPDATE wf_tasks SET stopped_at_us = ?1, compute_us = compute_us + MAX(?1 - started_at_us, 0),
           lease_until_us = NULL, display = COALESCE(?2, display), state = {}, open_children = 0,
           complete = 1
         WHERE id = ?3 AND state = {} AND started_at_us IS NOT NULL
         RETURNING job_id, parent_id, group_id",
        TaskState::Computed as i32,
        TaskState::Running as i32,
    ))
    .bind(now)
    .bind(report.display.as_deref())
    .bind(report.id.as_slice())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let job = raw_id(&row.try_get::<Vec<u8>, _>("job_id")?)?;
    store_progress(conn, &report.id, &job, &report.progress).await?;
    let parent: Option<Vec<u8>> = row.try_get("parent_id")?;
    if let Some(parent) = completed(conn, parent, row.try_get("group_id")?, &job).await? {
        complete(conn, parent).await?;
    }
    Ok(Some(job))
}

async fn clusters_exist(conn: &mut SqliteConnection, groups: &[NewGroup]) -> WfResult<()> {
    if groups.is_empty() {
        return Ok(());
    }
    super::clusters::check_exist(conn, groups).await
}

/// Identifiers per compound `SELECT` of a claim (SQLite allows at most 500 terms in one compound).
const CLAIM_ARMS: usize = 100;

/// Claims the oldest eligible task (the newest of `job`, when given, to go depth first within a job) in one
/// statement, then counts the claim in its job.
///
/// For each identifier the runner can execute, one arm walks the partial index of queued tasks
/// (`wf_tasks_claim`, or `wf_tasks_job_claim` within a job) in id order and stops at the first task whose
/// minor version, job (not canceled, not failed) and group (no pending dependencies) allow it; the claim
/// takes the smallest (largest) id of the arms and moves that task to running. `pending` counter changes of
/// the claimed task's job are counted with the claim (and taken).
async fn claim_one(
    inner: &Inner,
    conn: &mut SqliteConnection,
    claim: &ClaimRequest,
    job: Option<&RawId>,
    now: i64,
    pending: &mut Option<(RawId, (i64, i64))>,
) -> WfResult<Option<ClaimedTask>> {
    if claim.identifiers.is_empty() {
        return Ok(None);
    }
    let lease_until = now.saturating_add(dur_us(inner.config.lease));
    let mut b = QueryBuilder::<Sqlite>::new("");
    push_claim(&mut b, claim, job, lease_until, now);
    let Some(row) = b.build().fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    inner.lease_ends_at(lease_until);
    let id = raw_id(&row.try_get::<Vec<u8>, _>("id")?)?;
    let job_id = raw_id(&row.try_get::<Vec<u8>, _>("job_id")?)?;
    let (mut running, mut failed) = machine::counter_deltas(TaskState::Queued, TaskState::Running);
    if let Some((_, (r, f))) = pending.take_if(|(j, _)| *j == job_id) {
        running += r;
        failed += f;
    }
    let head = jobs::count_transition(conn, &job_id, (running, failed), true).await?;
    let input: Vec<u8> = row.try_get("input")?;
    let failures: i64 = row.try_get("failures")?;
    let expiries: i64 = row.try_get("lease_expiries")?;
    Ok(Some(ClaimedTask {
        id,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        input: input.into(),
        display: row.try_get("display")?,
        retry_count: failures + expiries,
        job_id,
        job_name: head.name,
        trace_parent: head.trace_parent,
        submitted_at_us: head.submitted_at_us,
        lease: machine::lease(dur_us(inner.config.lease)),
    }))
}

/// Pushes the claim statement (see [`claim_one`]): the chosen task becomes running with a lease until
/// `lease_until`, started `now`; it returns the task's row.
fn push_claim<'a>(
    b: &mut QueryBuilder<'a, Sqlite>,
    claim: &ClaimRequest,
    job: Option<&RawId>,
    lease_until: i64,
    now: i64,
) {
    let (pick, order) = if job.is_some() {
        ("MAX", "DESC")
    } else {
        ("MIN", "ASC")
    };
    // The literal states keep the partial indexes usable.
    b.push(format_args!(
        "UPDATE wf_tasks SET state = {}, lease_until_us = ",
        TaskState::Running as i32
    ));
    b.push_bind(lease_until);
    b.push(", started_at_us = ");
    b.push_bind(now);
    b.push(format_args!(
        " WHERE state = {} AND id = (SELECT {pick}(id) FROM (",
        TaskState::Queued as i32
    ));
    for (c, chunk) in claim.identifiers.chunks(CLAIM_ARMS).enumerate() {
        if c > 0 {
            b.push(" UNION ALL ");
        }
        b.push(format_args!("SELECT {pick}(id) AS id FROM ("));
        for (i, (name, major, minor)) in chunk.iter().enumerate() {
            if i > 0 {
                b.push(" UNION ALL ");
            }
            b.push(format_args!(
                "SELECT * FROM (SELECT t.id FROM wf_tasks t JOIN wf_jobs j ON j.id = t.job_id
                   JOIN wf_task_groups g ON g.id = t.group_id
                 WHERE t.state = {} AND j.canceled = 0 AND j.state <> {} AND g.pending_deps = 0",
                TaskState::Queued as i32,
                tilebox_core::wire::workflows::v1::JobState::Failed as i32,
            ));
            if let Some(job) = job {
                b.push(" AND t.job_id = ");
                b.push_bind(job.to_vec());
            }
            b.push(" AND t.cluster_slug = ");
            b.push_bind(claim.cluster.clone());
            b.push(" AND t.name = ");
            b.push_bind(name.clone());
            b.push(" AND t.major = ");
            b.push_bind(*major);
            b.push(" AND t.minor <= ");
            b.push_bind(*minor);
            b.push(format_args!(" ORDER BY t.id {order} LIMIT 1)"));
        }
        b.push(")");
    }
    b.push(")) RETURNING id, job_id, name, version, input, display, failures, lease_expiries");
}

/// Applies a failure report: the run ends, the task is requeued or (out of retries) fails for good.
pub(super) async fn failed(
    inner: &Inner,
    conn: &mut SqliteConnection,
    report: FailureReport,
) -> WfResult<TaskState> {
    let now = super::now_us();
    reap_due(inner, conn, now).await?;
    let id = report.id;
    let row = sqlx::query(
        "SELECT job_id, state, failures, max_retries, started_at_us FROM wf_tasks WHERE id = ?",
    )
    .bind(id.as_slice())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| not_found(&id))?;
    let state = task_state(row.try_get("state")?)?;
    if !machine::failure_applies(state) {
        return Ok(state);
    }
    let job = raw_id(&row.try_get::<Vec<u8>, _>("job_id")?)?;
    let failures: i64 = row.try_get("failures")?;
    let max_retries: i64 = row.try_get("max_retries")?;
    let started: Option<i64> = row.try_get("started_at_us")?;
    sqlx::query(
        "UPDATE wf_tasks SET lease_until_us = NULL, stopped_at_us = ?, compute_us = compute_us + ?,
           display = COALESCE(?, display), failures = failures + ? WHERE id = ?",
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
    let state: i64 = sqlx::query_scalar("SELECT state FROM wf_tasks WHERE id = ?")
        .bind(id.as_slice())
        .fetch_one(&mut *conn)
        .await?;
    task_state(state)
}

/// Extends the lease of a running task whose lease has not run out.
pub(super) async fn extend_lease(
    inner: &Inner,
    conn: &mut SqliteConnection,
    id: RawId,
    requested_us: i64,
) -> WfResult<Option<Lease>> {
    let now = super::now_us();
    reap_due(inner, conn, now).await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM wf_tasks WHERE id = ?")
        .bind(id.as_slice())
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(not_found(&id));
    }
    let granted = machine::granted_extension(requested_us, dur_us(inner.config.max_lease));
    if granted <= 0 {
        return Ok(None);
    }
    let until = now.saturating_add(granted);
    let n = sqlx::query(
        "UPDATE wf_tasks SET lease_until_us = ? WHERE id = ? AND state = ? AND lease_until_us >= ?",
    )
    .bind(until)
    .bind(id.as_slice())
    .bind(TaskState::Running as i32)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n > 0 {
        inner.lease_ends_at(until);
    }
    Ok((n > 0).then(|| machine::lease(granted)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    /// The claim's plan walks the queued-task partial indexes in id order and stops at the first eligible
    /// task: no full scan of the queue, no sort (whatever the number of identifiers, chunked or not).
    #[tokio::test]
    async fn claims_walk_the_queue_index_without_sorting() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        crate::store::migrate::sqlite(&pool).await.unwrap();
        for n in [1, 2, CLAIM_ARMS + 5] {
            let claim = ClaimRequest {
                cluster: "c".into(),
                identifiers: (0..n).map(|i| (format!("t{i}"), 1, 0)).collect(),
            };
            for (job, index) in [
                (None, "wf_tasks_claim"),
                (Some([7u8; 16]), "wf_tasks_job_claim"),
            ] {
                let mut b = QueryBuilder::<Sqlite>::new("EXPLAIN QUERY PLAN ");
                push_claim(&mut b, &claim, job.as_ref(), 1, 0);
                let rows: Vec<(i64, i64, i64, String)> =
                    b.build_query_as().fetch_all(&pool).await.unwrap();
                let plan: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
                let plan = plan.join("\n");
                assert!(!plan.contains("TEMP B-TREE"), "{n} identifiers: {plan}");
                assert!(!plan.contains("SCAN t"), "{n} identifiers: {plan}");
                assert_eq!(
                    plan.matches(&format!("USING INDEX {index} ")).count(),
                    n,
                    "{n} identifiers: {plan}"
                );
                // And the statement itself runs (on an empty queue: nothing claimed).
                let mut b = QueryBuilder::<Sqlite>::new("");
                push_claim(&mut b, &claim, job.as_ref(), 1, 0);
                assert!(b.build().fetch_optional(&pool).await.unwrap().is_none());
            }
        }
    }
}
