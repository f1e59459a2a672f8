//! Task rows: inserting task groups, claiming, completion and failure with their propagation to parents,
//! groups and the job, leases and the reaper. The decisions come from [`machine`]; this module only
//! applies them.
//!
//! Everything here runs synchronously inside one write transaction on the direct connection (see
//! [`Writer::run_direct`](crate::store::tx::Writer::run_direct)), each statement from the connection's
//! prepared-statement cache.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tilebox_core::wire::workflows::v1::{JobState, TaskState};

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
pub(super) fn insert_groups(
    inner: &Inner,
    conn: &Connection,
    parent: &Parent,
    groups: &[NewGroup],
) -> WfResult<i64> {
    let open_per_group: Vec<i64> = groups
        .iter()
        .map(|g| if parent.skip { 0 } else { g.tasks.len() as i64 })
        .collect();
    let parent_task = parent.task.as_ref().map(|t| t.as_slice());
    let mut group_ids = Vec::with_capacity(groups.len());
    let mut insert_group = conn.prepare_cached(
        "INSERT INTO wf_task_groups (job_id, parent_task_id, open_tasks, pending_deps)
         VALUES (?, ?, ?, ?) RETURNING id",
    )?;
    for (g, group) in groups.iter().enumerate() {
        let pending = group
            .deps
            .iter()
            .filter(|&&d| open_per_group.get(d).copied().unwrap_or(0) > 0)
            .count() as i64;
        let id: i64 = insert_group.query_row(
            params![
                parent.job.as_slice(),
                parent_task,
                open_per_group[g],
                pending
            ],
            |r| r.get(0),
        )?;
        group_ids.push(id);
    }
    let mut insert_dep = conn.prepare_cached(
        "INSERT OR IGNORE INTO wf_group_deps (group_id, depends_on) VALUES (?, ?)",
    )?;
    for (g, group) in groups.iter().enumerate() {
        for &d in &group.deps {
            insert_dep.execute([group_ids[g], group_ids[d]])?;
        }
    }
    let (state, complete) = if parent.skip {
        (TaskState::Skipped, 1)
    } else {
        (TaskState::Queued, 0)
    };
    let mut insert_task = conn.prepare_cached(
        "INSERT INTO wf_tasks (id, job_id, group_id, parent_id, cluster_slug, name, version, major,
            minor, input, display, state, optional, optional_scope, in_skip, max_retries, complete)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    let mut open = 0;
    for (g, group) in groups.iter().enumerate() {
        for t in &group.tasks {
            let id = inner.new_id();
            let scope = if t.optional { Some(id) } else { parent.scope };
            insert_task.execute(params![
                id.as_slice(),
                parent.job.as_slice(),
                group_ids[g],
                parent_task,
                t.cluster.as_deref().unwrap_or(&parent.cluster),
                t.name,
                t.version,
                t.major,
                t.minor,
                t.input.as_ref(),
                t.display,
                state as i32,
                i64::from(t.optional),
                scope.as_ref().map(|s| s.as_slice()),
                i64::from(parent.skip),
                t.max_retries,
                complete,
            ])?;
            if !parent.skip {
                open += 1;
            }
        }
    }
    Ok(open)
}

/// Moves a task from `from` to `to` and keeps its job's counters in step.
fn set_state(
    conn: &Connection,
    id: &RawId,
    job: &RawId,
    from: TaskState,
    to: TaskState,
) -> WfResult<()> {
    conn.prepare_cached("UPDATE wf_tasks SET state = ? WHERE id = ?")?
        .execute(params![to as i32, id.as_slice()])?;
    adjust_counters(conn, job, from, to)
}

fn adjust_counters(conn: &Connection, job: &RawId, from: TaskState, to: TaskState) -> WfResult<()> {
    let (running, failed) = machine::counter_deltas(from, to);
    if running != 0 || failed != 0 {
        conn.prepare_cached(
            "UPDATE wf_jobs SET running_tasks = running_tasks + ?, failed_tasks = failed_tasks + ?
             WHERE id = ?",
        )?
        .execute(params![running, failed, job.as_slice()])?;
    }
    Ok(())
}

/// Marks `start` complete and propagates: a parent whose subtasks are all complete (and which is computed)
/// completes too, a group whose tasks are all complete releases the groups waiting for it, and a complete
/// root task closes one of the job's open roots.
fn complete(conn: &Connection, start: RawId) -> WfResult<()> {
    let mut next = Some(start);
    while let Some(id) = next.take() {
        let row: Option<(Option<Vec<u8>>, i64, Vec<u8>)> = conn
            .prepare_cached(
                "UPDATE wf_tasks SET complete = 1 WHERE id = ? AND complete = 0
                 RETURNING parent_id, group_id, job_id",
            )?
            .query_row([id.as_slice()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((parent, group, job)) = row else {
            continue;
        };
        next = completed(conn, parent, group, &job)?;
    }
    Ok(())
}

/// Propagates the completion of one task (already marked complete) with `parent`, `group` and `job` to its
/// parent's open subtasks, its group and the job's open roots; returns the parent when that completes too.
fn completed(
    conn: &Connection,
    parent: Option<Vec<u8>>,
    group: i64,
    job: &[u8],
) -> WfResult<Option<RawId>> {
    let mut next = None;
    match parent {
        Some(p) => {
            let (open, state): (i64, i64) = conn
                .prepare_cached(
                    "UPDATE wf_tasks SET open_children = open_children - 1 WHERE id = ?
                     RETURNING open_children, state",
                )?
                .query_row([&p], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if open <= 0 && task_state(state)? == TaskState::Computed {
                next = Some(raw_id(&p)?);
            }
        }
        None => {
            conn.prepare_cached("UPDATE wf_jobs SET open_roots = open_roots - 1 WHERE id = ?")?
                .execute([job])?;
        }
    }
    // A group's open count matters only to the groups that depend on it, all of which were submitted with
    // it: without any, the count is left alone (one write fewer for most completions).
    let has_dependents: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM wf_group_deps WHERE depends_on = ?)")?
        .query_row([group], |r| r.get(0))?;
    if !has_dependents {
        return Ok(next);
    }
    let open: i64 = conn
        .prepare_cached(
            "UPDATE wf_task_groups SET open_tasks = open_tasks - 1 WHERE id = ? RETURNING open_tasks",
        )?
        .query_row([group], |r| r.get(0))?;
    if open == 0 {
        conn.prepare_cached(
            "UPDATE wf_task_groups SET pending_deps = pending_deps - 1
             WHERE id IN (SELECT group_id FROM wf_group_deps WHERE depends_on = ?)",
        )?
        .execute([group])?;
    }
    Ok(next)
}

/// Ends a (queued) task that is out of chances.
fn fail_for_good(conn: &Connection, id: &RawId, job: &RawId) -> WfResult<()> {
    let (optional, scope): (i64, Option<Vec<u8>>) = conn
        .prepare_cached("SELECT optional, optional_scope FROM wf_tasks WHERE id = ?")?
        .query_row([id.as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    match machine::terminal_failure(optional != 0, scope.is_some()) {
        TerminalFailure::Failed => set_state(conn, id, job, TaskState::Queued, TaskState::Failed),
        TerminalFailure::Optional => {
            set_state(conn, id, job, TaskState::Queued, TaskState::FailedOptional)?;
            complete(conn, *id)
        }
        TerminalFailure::OptionalScope => {
            set_state(conn, id, job, TaskState::Queued, TaskState::FailedOptional)?;
            complete(conn, *id)?;
            let scope = scope.unwrap_or_default();
            skip_subtree(conn, &scope, job)
        }
    }
}

/// Puts an optional scope's subtree in skip mode and skips everything still queued there.
fn skip_subtree(conn: &Connection, scope: &[u8], job: &RawId) -> WfResult<()> {
    let subtree = conn
        .prepare_cached(
            "WITH RECURSIVE sub(id) AS (
                SELECT id FROM wf_tasks WHERE parent_id = ?
                UNION ALL SELECT t.id FROM wf_tasks t JOIN sub ON t.parent_id = sub.id)
             SELECT t.id, t.state FROM wf_tasks t JOIN sub ON sub.id = t.id",
        )?
        .query_map([scope], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut mark = conn.prepare_cached("UPDATE wf_tasks SET in_skip = 1 WHERE id = ?")?;
    mark.execute([scope])?;
    for (tid, state) in subtree {
        let tid = raw_id(&tid)?;
        mark.execute([tid.as_slice()])?;
        if task_state(state)? == TaskState::Queued {
            set_state(conn, &tid, job, TaskState::Queued, TaskState::Skipped)?;
            complete(conn, tid)?;
        }
    }
    Ok(())
}

fn store_progress(
    conn: &Connection,
    task: &RawId,
    job: &RawId,
    progress: &[ProgressRecord],
) -> WfResult<()> {
    if progress.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO wf_task_progress (task_id, job_id, label, total, done)
         VALUES (?, ?, ?, ?, ?)",
    )?;
    for p in progress {
        insert.execute(params![
            task.as_slice(),
            job.as_slice(),
            p.label,
            i64::try_from(p.total).unwrap_or(i64::MAX),
            i64::try_from(p.done).unwrap_or(i64::MAX),
        ])?;
    }
    Ok(())
}

/// Requeues (or fails for good) running tasks whose lease ran out before `now`; returns how many.
pub(super) fn reap(inner: &Inner, conn: &Connection, now: i64) -> WfResult<u64> {
    // The literal state keeps the partial index `wf_tasks_running` usable.
    let expired = conn
        .prepare_cached(&format!(
            "SELECT id, job_id, lease_expiries, started_at_us FROM wf_tasks
             WHERE state = {} AND lease_until_us < ?",
            TaskState::Running as i32
        ))?
        .query_map([now], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let n = expired.len() as u64;
    for (id, job, expiries, started) in expired {
        let (id, job) = (raw_id(&id)?, raw_id(&job)?);
        conn.prepare_cached(
            "UPDATE wf_tasks SET lease_until_us = NULL, stopped_at_us = ?, compute_us = compute_us + ?,
               lease_expiries = lease_expiries + 1 WHERE id = ?",
        )?
        .execute(params![
            now,
            machine::run_time(started, now),
            id.as_slice()
        ])?;
        set_state(conn, &id, &job, TaskState::Running, TaskState::Queued)?;
        if machine::out_of_chances(expiries, inner.config.max_lease_expiries) {
            fail_for_good(conn, &id, &job)?;
        }
        jobs::refresh(conn, &job)?;
    }
    let earliest: Option<i64> = conn
        .prepare_cached(&format!(
            "SELECT MIN(lease_until_us) FROM wf_tasks WHERE state = {}",
            TaskState::Running as i32
        ))?
        .query_row([], |r| r.get(0))?;
    inner.set_lease_floor(earliest);
    Ok(n)
}

/// [`reap`], unless no lease can have ended by `now` (see `Inner::lease_floor`): the cheap start of every
/// task write.
fn reap_due(inner: &Inner, conn: &Connection, now: i64) -> WfResult<()> {
    if inner.lease_may_have_ended(now) {
        reap(inner, conn, now)?;
    }
    Ok(())
}

/// Reaps, applies the completion report, then claims (preferring the reported task's job).
pub(super) fn next_task(
    inner: &Inner,
    conn: &Connection,
    computed: Option<ComputedReport>,
    claim: Option<ClaimRequest>,
) -> WfResult<Option<ClaimedTask>> {
    let now = super::now_us();
    reap_due(inner, conn, now)?;
    let mut prefer_job = None;
    // The report's change to its job's counters, counted together with the claim's when the claimed task
    // is of the same job (the claim's filters do not depend on it: a computed report never fails a job).
    let mut pending = None;
    if let Some(report) = computed {
        let (job, deltas) = apply_computed(inner, conn, report, now)?;
        prefer_job = Some(job);
        pending = deltas.map(|d| (job, d));
    }
    let mut claimed = None;
    if let Some(claim) = claim {
        if let Some(job) = &prefer_job {
            claimed = claim_one(inner, conn, &claim, Some(job), now, &mut pending)?;
        }
        if claimed.is_none() {
            claimed = claim_one(inner, conn, &claim, None, now, &mut pending)?;
        }
    }
    if let Some((job, deltas)) = pending {
        jobs::count_transition(conn, &job, deltas, false)?;
    }
    Ok(claimed)
}

/// What the general completion path reads of the reported task.
struct Reported {
    job: RawId,
    state: TaskState,
    cluster: String,
    scope: Option<Vec<u8>>,
    in_skip: bool,
    started: Option<i64>,
    parent: Option<Vec<u8>>,
    group: i64,
}

/// Applies a completion report; returns the task's job and, unless the report was ignored, the change to
/// the job's counters the caller still has to count ([`jobs::count_transition`]).
///
/// The task's row changes in one statement (run time, display, state, open subtasks and — with none open —
/// completeness); propagation to the parent and group follows.
fn apply_computed(
    inner: &Inner,
    conn: &Connection,
    report: ComputedReport,
    now: i64,
) -> WfResult<(RawId, Option<(i64, i64)>)> {
    let id = report.id;
    if report.subtasks.is_empty()
        && let Some(job) = computed_leaf(conn, &report, now)?
    {
        return Ok((
            job,
            Some(machine::counter_deltas(
                TaskState::Running,
                TaskState::Computed,
            )),
        ));
    }
    let row = conn
        .prepare_cached(
            "SELECT job_id, state, cluster_slug, optional_scope, in_skip, started_at_us, parent_id, group_id
             FROM wf_tasks WHERE id = ?",
        )?
        .query_row([id.as_slice()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, i64>(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?
        .ok_or_else(|| task_not_found(&id))?;
    let row = Reported {
        job: raw_id(&row.0)?,
        state: task_state(row.1)?,
        cluster: row.2,
        scope: row.3,
        in_skip: row.4 != 0,
        started: row.5,
        parent: row.6,
        group: row.7,
    };
    let job = row.job;
    if machine::computed_report(row.state) == ReportEffect::Ignore {
        return Ok((job, None));
    }
    let open = if report.subtasks.is_empty() {
        0
    } else {
        super::clusters::check_exist(conn, &report.subtasks)?;
        let parent = Parent {
            job,
            task: Some(id),
            cluster: row.cluster,
            scope: row.scope.as_deref().map(raw_id).transpose()?,
            skip: row.in_skip,
        };
        insert_groups(inner, conn, &parent, &report.subtasks)?
    };
    let spent = if row.state == TaskState::Running {
        machine::run_time(row.started, now)
    } else {
        0
    };
    // A queued or running task is never complete yet, so with no open subtasks it completes here.
    conn.prepare_cached(
        "UPDATE wf_tasks SET stopped_at_us = ?, compute_us = compute_us + ?, lease_until_us = NULL,
           display = COALESCE(?, display), state = ?, open_children = ?, complete = ?
         WHERE id = ?",
    )?
    .execute(params![
        now,
        spent,
        report.display.as_deref(),
        TaskState::Computed as i32,
        open,
        i64::from(open == 0),
        id.as_slice(),
    ])?;
    store_progress(conn, &id, &job, &report.progress)?;
    if open == 0
        && let Some(parent) = completed(conn, row.parent, row.group, &job)?
    {
        complete(conn, parent)?;
    }
    Ok((
        job,
        Some(machine::counter_deltas(row.state, TaskState::Computed)),
    ))
}

/// The common report, of a running task without subtasks, in one statement (plus propagation): the task
/// becomes computed and complete. Returns its job, or `None` when the task is not running (then the general
/// path in [`apply_computed`] decides).
fn computed_leaf(conn: &Connection, report: &ComputedReport, now: i64) -> WfResult<Option<RawId>> {
    // The run time is `machine::run_time` (a running task has a start time).
    let row: Option<(Vec<u8>, Option<Vec<u8>>, i64)> = conn
        .prepare_cached(&format!(
            "UPDATE wf_tasks SET stopped_at_us = ?1, compute_us = compute_us + MAX(?1 - started_at_us, 0),
               lease_until_us = NULL, display = COALESCE(?2, display), state = {}, open_children = 0,
               complete = 1
             WHERE id = ?3 AND state = {} AND started_at_us IS NOT NULL
             RETURNING job_id, parent_id, group_id",
            TaskState::Computed as i32,
            TaskState::Running as i32,
        ))?
        .query_row(
            params![now, report.display.as_deref(), report.id.as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((job, parent, group)) = row else {
        return Ok(None);
    };
    let job = raw_id(&job)?;
    store_progress(conn, &report.id, &job, &report.progress)?;
    if let Some(parent) = completed(conn, parent, group, &job)? {
        complete(conn, parent)?;
    }
    Ok(Some(job))
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
fn claim_one(
    inner: &Inner,
    conn: &Connection,
    claim: &ClaimRequest,
    job: Option<&RawId>,
    now: i64,
    pending: &mut Option<(RawId, (i64, i64))>,
) -> WfResult<Option<ClaimedTask>> {
    if claim.identifiers.is_empty() {
        return Ok(None);
    }
    let lease_until = now.saturating_add(dur_us(inner.config.lease));
    let (sql, values) = claim_statement(claim, job, lease_until, now);
    type Claimed = (Vec<u8>, Vec<u8>, String, String, Vec<u8>, String, i64, i64);
    let row: Option<Claimed> = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(values), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    let Some((id, job_id, name, version, input, display, failures, expiries)) = row else {
        return Ok(None);
    };
    inner.lease_ends_at(lease_until);
    let id = raw_id(&id)?;
    let job_id = raw_id(&job_id)?;
    let (mut running, mut failed) = machine::counter_deltas(TaskState::Queued, TaskState::Running);
    if let Some((_, (r, f))) = pending.take_if(|(j, _)| *j == job_id) {
        running += r;
        failed += f;
    }
    let head = jobs::count_transition(conn, &job_id, (running, failed), true)?;
    Ok(Some(ClaimedTask {
        id,
        name,
        version,
        input: input.into(),
        display,
        retry_count: failures + expiries,
        job_id,
        job_name: head.name,
        trace_parent: head.trace_parent,
        submitted_at_us: head.submitted_at_us,
        lease: machine::lease(dur_us(inner.config.lease)),
    }))
}

/// The claim statement (see [`claim_one`]) with its bound values: the chosen task becomes running with a
/// lease until `lease_until`, started `now`; it returns the task's row. The text depends only on the number
/// of identifiers and on whether a job is preferred, so it is prepared once per shape.
fn claim_statement(
    claim: &ClaimRequest,
    job: Option<&RawId>,
    lease_until: i64,
    now: i64,
) -> (String, Vec<Value>) {
    use std::fmt::Write as _;
    let (pick, order) = if job.is_some() {
        ("MAX", "DESC")
    } else {
        ("MIN", "ASC")
    };
    // The literal states keep the partial indexes usable.
    let mut sql = format!(
        "UPDATE wf_tasks SET state = {}, lease_until_us = ?, started_at_us = ?
         WHERE state = {} AND id = (SELECT {pick}(id) FROM (",
        TaskState::Running as i32,
        TaskState::Queued as i32,
    );
    let mut values = vec![Value::Integer(lease_until), Value::Integer(now)];
    for (c, chunk) in claim.identifiers.chunks(CLAIM_ARMS).enumerate() {
        if c > 0 {
            sql.push_str(" UNION ALL ");
        }
        let _ = write!(sql, "SELECT {pick}(id) AS id FROM (");
        for (i, (name, major, minor)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(" UNION ALL ");
            }
            let _ = write!(
                sql,
                "SELECT * FROM (SELECT t.id FROM wf_tasks t JOIN wf_jobs j ON j.id = t.job_id
                   JOIN wf_task_groups g ON g.id = t.group_id
                 WHERE t.state = {} AND j.canceled = 0 AND j.state <> {} AND g.pending_deps = 0",
                TaskState::Queued as i32,
                JobState::Failed as i32,
            );
            if let Some(job) = job {
                sql.push_str(" AND t.job_id = ?");
                values.push(Value::Blob(job.to_vec()));
            }
            sql.push_str(" AND t.cluster_slug = ? AND t.name = ? AND t.major = ? AND t.minor <= ?");
            values.extend([
                Value::Text(claim.cluster.clone()),
                Value::Text(name.clone()),
                Value::Integer(*major),
                Value::Integer(*minor),
            ]);
            let _ = write!(sql, " ORDER BY t.id {order} LIMIT 1)");
        }
        sql.push(')');
    }
    sql.push_str(
        ")) RETURNING id, job_id, name, version, input, display, failures, lease_expiries",
    );
    (sql, values)
}

/// Applies a failure report: the run ends, the task is requeued or (out of retries) fails for good.
pub(super) fn failed(
    inner: &Inner,
    conn: &Connection,
    report: FailureReport,
) -> WfResult<TaskState> {
    let now = super::now_us();
    reap_due(inner, conn, now)?;
    let id = report.id;
    let (job, state, failures, max_retries, started): (Vec<u8>, i64, i64, i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT job_id, state, failures, max_retries, started_at_us FROM wf_tasks WHERE id = ?",
        )?
        .query_row([id.as_slice()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?
        .ok_or_else(|| task_not_found(&id))?;
    let state = task_state(state)?;
    if !machine::failure_applies(state) {
        return Ok(state);
    }
    let job = raw_id(&job)?;
    conn.prepare_cached(
        "UPDATE wf_tasks SET lease_until_us = NULL, stopped_at_us = ?, compute_us = compute_us + ?,
           display = COALESCE(?, display), failures = failures + ? WHERE id = ?",
    )?
    .execute(params![
        now,
        machine::run_time(started, now),
        report.display.as_deref(),
        i64::from(report.was_workflow_error),
        id.as_slice(),
    ])?;
    set_state(conn, &id, &job, TaskState::Running, TaskState::Queued)?;
    store_progress(conn, &id, &job, &report.progress)?;
    jobs::clear_retried(conn, &job)?;
    if report.was_workflow_error && machine::out_of_chances(failures, max_retries) {
        fail_for_good(conn, &id, &job)?;
    }
    jobs::refresh(conn, &job)?;
    let state: i64 = conn
        .prepare_cached("SELECT state FROM wf_tasks WHERE id = ?")?
        .query_row([id.as_slice()], |r| r.get(0))?;
    task_state(state)
}

/// Extends the lease of a running task whose lease has not run out.
pub(super) fn extend_lease(
    inner: &Inner,
    conn: &Connection,
    id: RawId,
    requested_us: i64,
) -> WfResult<Option<Lease>> {
    let now = super::now_us();
    reap_due(inner, conn, now)?;
    let exists = conn
        .prepare_cached("SELECT 1 FROM wf_tasks WHERE id = ?")?
        .query_row([id.as_slice()], |_| Ok(()))
        .optional()?;
    if exists.is_none() {
        return Err(task_not_found(&id));
    }
    let granted = machine::granted_extension(requested_us, dur_us(inner.config.max_lease));
    if granted <= 0 {
        return Ok(None);
    }
    let until = now.saturating_add(granted);
    let n = conn
        .prepare_cached(
            "UPDATE wf_tasks SET lease_until_us = ? WHERE id = ? AND state = ? AND lease_until_us >= ?",
        )?
        .execute(params![
            until,
            id.as_slice(),
            TaskState::Running as i32,
            now
        ])?;
    if n > 0 {
        inner.lease_ends_at(until);
    }
    Ok((n > 0).then(|| machine::lease(granted)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The claim's plan walks the queued-task partial indexes in id order and stops at the first eligible
    /// task: no full scan of the queue, no sort (whatever the number of identifiers, chunked or not).
    #[tokio::test]
    async fn claims_walk_the_queue_index_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        crate::store::migrate::sqlite(&pool).await.unwrap();
        pool.close().await;
        let conn = Connection::open(&path).unwrap();
        for n in [1, 2, CLAIM_ARMS + 5] {
            let claim = ClaimRequest {
                cluster: "c".into(),
                identifiers: (0..n).map(|i| (format!("t{i}"), 1, 0)).collect(),
            };
            for (job, index) in [
                (None, "wf_tasks_claim"),
                (Some([7u8; 16]), "wf_tasks_job_claim"),
            ] {
                let (sql, values) = claim_statement(&claim, job.as_ref(), 1, 0);
                let plan = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .unwrap()
                    .query_map(params_from_iter(values.clone()), |r| r.get::<_, String>(3))
                    .unwrap()
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .unwrap()
                    .join("\n");
                assert!(!plan.contains("TEMP B-TREE"), "{n} identifiers: {plan}");
                assert!(!plan.contains("SCAN t"), "{n} identifiers: {plan}");
                assert_eq!(
                    plan.matches(&format!("USING INDEX {index} ")).count(),
                    n,
                    "{n} identifiers: {plan}"
                );
                // And the statement itself runs (on an empty queue: nothing claimed).
                let claimed = conn
                    .prepare(&sql)
                    .unwrap()
                    .query_row(params_from_iter(values), |_| Ok(()))
                    .optional()
                    .unwrap();
                assert!(claimed.is_none());
            }
        }
    }
}
