//! Task rows: inserting task groups, claiming, completion and failure with their propagation to parents,
//! leases and the reaper. The decisions come from [`machine`]; this module only applies them.
//!
//! A transition writes the task's own row (and its progress rows); nothing else is counted. Whether a
//! parent's subtasks, a group's tasks or a job's roots are all complete is read from partial indexes of the
//! incomplete tasks when it matters: a parent completes with its last subtask, a group is released when a
//! claim finds no incomplete task in the groups it waits for, a job's state is derived when it is read. So
//! transitions of one job never queue on a shared row.
//!
//! On PostgreSQL two last subtasks that complete at the same time in two transactions each see the other
//! still open; the store therefore checks the parent again after the commit ([`complete_parents`]), and the
//! reaper completes any parent that a crash between the two left behind.

use tilebox_core::wire::workflows::v1::TaskState;

use super::{Inner, dur_us, jobs, task_state};
use crate::store::RawId;
use crate::store::db::{Built, Db, Dialect, Value, args};
use crate::store::workflows::machine::{self, ReportEffect, TerminalFailure};
pub(super) use crate::store::workflows::values::Parent;
use crate::store::workflows::values::task_not_found;
use crate::store::workflows::{
    ClaimRequest, ClaimedTask, ComputedReport, FailureReport, Lease, NewGroup, ProgressRecord,
    WfResult,
};

/// Inserts the groups of one submission under `parent`.
pub(super) fn insert_groups(
    inner: &Inner,
    db: &mut dyn Db,
    parent: &Parent,
    groups: &[NewGroup],
) -> WfResult<()> {
    let mut group_ids = Vec::with_capacity(groups.len());
    for _ in groups {
        // `open_tasks` and `pending_deps` are columns of earlier schemas, no longer read.
        let id: i64 = db.query_one(
            "INSERT INTO wf_task_groups (job_id, parent_task_id, open_tasks, pending_deps)
             VALUES (?, ?, 0, 0) RETURNING id",
            args![&parent.job, parent.task.as_ref()],
            |r| r.get(0),
        )?;
        group_ids.push(id);
    }
    for (g, group) in groups.iter().enumerate() {
        for &d in &group.deps {
            if let Some(&depends_on) = group_ids.get(d) {
                db.execute(
                    "INSERT INTO wf_group_deps (group_id, depends_on) VALUES (?, ?)
                     ON CONFLICT DO NOTHING",
                    args![group_ids[g], depends_on],
                )?;
            }
        }
    }
    let (state, complete) = if parent.skip {
        (TaskState::Skipped, true)
    } else {
        (TaskState::Queued, false)
    };
    for (g, group) in groups.iter().enumerate() {
        for t in &group.tasks {
            let id = inner.new_id();
            let scope = if t.optional { Some(id) } else { parent.scope };
            db.execute(
                "INSERT INTO wf_tasks (id, job_id, group_id, parent_id, cluster_slug, name, version, major,
                    minor, input, display, state, optional, optional_scope, in_skip, max_retries, complete)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                args![
                    &id,
                    &parent.job,
                    group_ids[g],
                    parent.task.as_ref(),
                    t.cluster.as_deref().unwrap_or(&parent.cluster),
                    &t.name,
                    &t.version,
                    t.major,
                    t.minor,
                    &t.input,
                    &t.display,
                    state as i32,
                    t.optional,
                    scope.as_ref(),
                    parent.skip,
                    t.max_retries,
                    complete,
                ],
            )?;
        }
    }
    Ok(())
}

/// The suffix that locks the rows a report or failure reads before deciding (PostgreSQL: another process
/// may change the task meanwhile; SQLite's one writer already excludes that).
fn row_lock(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    }
}

fn set_state(db: &mut dyn Db, id: &RawId, to: TaskState) -> WfResult<()> {
    db.execute(
        "UPDATE wf_tasks SET state = ? WHERE id = ?",
        args![to as i32, id],
    )?;
    Ok(())
}

/// Marks `id` complete and completes the ancestors it leaves without open subtasks; returns the parent it
/// left open, if any (on PostgreSQL checked again after the commit).
fn complete(db: &mut dyn Db, id: &RawId) -> WfResult<Option<RawId>> {
    let parent: Option<Option<RawId>> = db.query_opt(
        "UPDATE wf_tasks SET complete = 1 WHERE id = ? AND complete = 0 RETURNING parent_id",
        args![id],
        |r| r.get(0),
    )?;
    match parent.flatten() {
        Some(parent) => complete_upwards(db, parent),
        None => Ok(None),
    }
}

/// Completes `parent` if it is computed and has no open subtask, and so on upwards; returns the first
/// ancestor left open.
fn complete_upwards(db: &mut dyn Db, mut parent: RawId) -> WfResult<Option<RawId>> {
    loop {
        let completed: Option<Option<RawId>> = db.query_opt(
            "UPDATE wf_tasks SET complete = 1
             WHERE id = ? AND complete = 0 AND state = 3
               AND NOT EXISTS (SELECT 1 FROM wf_tasks c WHERE c.parent_id = ? AND c.complete = 0)
             RETURNING parent_id",
            args![&parent, &parent],
            |r| r.get(0),
        )?;
        match completed {
            Some(Some(next)) => parent = next,
            Some(None) => return Ok(None),
            None => return Ok(Some(parent)),
        }
    }
}

/// Completes parents left open by transactions that committed concurrently (PostgreSQL; see the module
/// documentation): run after the commit of the unit that left them.
pub(super) fn complete_parents(db: &mut dyn Db, parents: &[RawId]) -> WfResult<()> {
    for parent in parents {
        complete_upwards(db, *parent)?;
    }
    Ok(())
}

/// Completes every computed task whose subtasks are all complete (the reaper's sweep for parents whose
/// follow-up check a crash prevented); returns how many.
fn sweep_open_parents(db: &mut dyn Db) -> WfResult<u64> {
    let mut total = 0;
    loop {
        let n = db.execute(
            "UPDATE wf_tasks SET complete = 1
             WHERE state = 3 AND complete = 0
               AND NOT EXISTS (SELECT 1 FROM wf_tasks c WHERE c.parent_id = wf_tasks.id AND c.complete = 0)",
            &[],
        )?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

/// Ends a (queued) task that is out of chances.
fn fail_for_good(db: &mut dyn Db, id: &RawId, open: &mut Vec<RawId>) -> WfResult<()> {
    let (optional, scope): (bool, Option<RawId>) = db.query_one(
        "SELECT optional, optional_scope FROM wf_tasks WHERE id = ?",
        args![id],
        |r| r.tuple(),
    )?;
    match machine::terminal_failure(optional, scope.is_some()) {
        TerminalFailure::Failed => set_state(db, id, TaskState::Failed),
        TerminalFailure::Optional => {
            set_state(db, id, TaskState::FailedOptional)?;
            open.extend(complete(db, id)?);
            Ok(())
        }
        TerminalFailure::OptionalScope => {
            set_state(db, id, TaskState::FailedOptional)?;
            open.extend(complete(db, id)?);
            skip_subtree(db, &scope.unwrap_or_default(), open)
        }
    }
}

/// Puts an optional scope's subtree in skip mode and skips everything still queued there.
fn skip_subtree(db: &mut dyn Db, scope: &RawId, open: &mut Vec<RawId>) -> WfResult<()> {
    let subtree: Vec<(RawId, i64)> = db.query(
        "WITH RECURSIVE sub(id) AS (
            SELECT id FROM wf_tasks WHERE parent_id = ?
            UNION ALL SELECT t.id FROM wf_tasks t JOIN sub ON t.parent_id = sub.id)
         SELECT t.id, t.state FROM wf_tasks t JOIN sub ON sub.id = t.id",
        args![scope],
        |r| r.tuple(),
    )?;
    let mark = "UPDATE wf_tasks SET in_skip = 1 WHERE id = ?";
    db.execute(mark, args![scope])?;
    for (id, state) in subtree {
        db.execute(mark, args![&id])?;
        if task_state(state)? == TaskState::Queued {
            set_state(db, &id, TaskState::Skipped)?;
            open.extend(complete(db, &id)?);
        }
    }
    Ok(())
}

fn store_progress(
    db: &mut dyn Db,
    task: &RawId,
    job: &RawId,
    progress: &[ProgressRecord],
) -> WfResult<()> {
    for p in progress {
        db.execute(
            "INSERT INTO wf_task_progress (task_id, job_id, label, total, done) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (task_id, label) DO UPDATE SET total = excluded.total, done = excluded.done",
            args![
                task,
                job,
                &p.label,
                i64::try_from(p.total).unwrap_or(i64::MAX),
                i64::try_from(p.done).unwrap_or(i64::MAX),
            ],
        )?;
    }
    Ok(())
}

/// Requeues (or fails for good) running tasks whose lease ran out before `now`, and completes parents left
/// open; returns how many tasks expired. On PostgreSQL server processes reaping at once skip each other's
/// rows.
pub(super) fn reap(inner: &Inner, db: &mut dyn Db, now: i64) -> WfResult<u64> {
    let lock = match db.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    // The literal state keeps the partial index `wf_tasks_running` usable.
    let expired: Vec<(RawId, i64, Option<i64>)> = db.query(
        &format!(
            "SELECT id, lease_expiries, started_at_us FROM wf_tasks
             WHERE state = 2 AND lease_until_us < ?{lock}"
        ),
        args![now],
        |r| r.tuple(),
    )?;
    let n = expired.len() as u64;
    let mut open = Vec::new();
    for (id, expiries, started) in expired {
        db.execute(
            "UPDATE wf_tasks SET state = ?, lease_until_us = NULL, stopped_at_us = ?,
               compute_us = compute_us + ?, lease_expiries = lease_expiries + 1
             WHERE id = ?",
            args![
                TaskState::Queued as i32,
                now,
                machine::run_time(started, now),
                &id
            ],
        )?;
        if machine::out_of_chances(expiries, inner.config.max_lease_expiries) {
            fail_for_good(db, &id, &mut open)?;
        }
    }
    complete_parents(db, &open)?;
    if db.dialect() == Dialect::Postgres {
        sweep_open_parents(db)?;
    }
    let earliest: Option<i64> = db.scalar(
        "SELECT MIN(lease_until_us) FROM wf_tasks WHERE state = 2",
        &[],
    )?;
    inner.set_lease_floor(earliest);
    Ok(n)
}

/// [`reap`] at the start of a task write, on SQLite, unless no lease can have ended by `now` (see
/// `Inner::lease_floor`). With several server processes on PostgreSQL no process knows every lease; the
/// background reaper does it there.
fn reap_due(inner: &Inner, db: &mut dyn Db, now: i64) -> WfResult<()> {
    if db.dialect() == Dialect::Sqlite && inner.lease_may_have_ended(now) {
        reap(inner, db, now)?;
    }
    Ok(())
}

/// What a `NextTask` did: the claimed task, and parents left open for the check after the commit.
pub(super) struct NextTask {
    /// The claimed task.
    pub(super) claimed: Option<ClaimedTask>,
    /// Parents a completion left open.
    pub(super) open_parents: Vec<RawId>,
}

/// Reaps, applies the completion report, then claims (preferring the reported task's job).
pub(super) fn next_task(
    inner: &Inner,
    db: &mut dyn Db,
    computed: Option<ComputedReport>,
    claim: Option<ClaimRequest>,
) -> WfResult<NextTask> {
    let now = super::now_us();
    reap_due(inner, db, now)?;
    let mut open_parents = Vec::new();
    let prefer_job = match computed {
        Some(report) => Some(apply_computed(inner, db, report, now, &mut open_parents)?),
        None => None,
    };
    let claimed = match claim {
        Some(claim) => claim_preferring(inner, db, &claim, prefer_job.as_ref(), now)?,
        None => None,
    };
    Ok(NextTask {
        claimed,
        open_parents,
    })
}

/// What [`next_task_statements`] did.
pub(super) enum Statements {
    /// The report (if any) was applied and the claim (if any) made.
    Done(Option<ClaimedTask>),
    /// The report needs a transaction (the task was not running, or it submitted subtasks): nothing was
    /// changed, run [`next_task`] with these.
    Transaction(Option<ComputedReport>, Option<ClaimRequest>),
}

/// [`next_task`] for the common case, with each statement committing on its own (PostgreSQL, see
/// `Database::autocommit`): a running task's report without subtasks is one `UPDATE`, its parent's check
/// another (which, running after the report's commit, sees every sibling that committed before: no check
/// after the commit is needed), the claim a third. A repeated report after a failure in between is accepted
/// and ignored, so the three need no transaction around them.
pub(super) fn next_task_statements(
    inner: &Inner,
    db: &mut dyn Db,
    computed: Option<ComputedReport>,
    claim: Option<ClaimRequest>,
) -> WfResult<Statements> {
    let now = super::now_us();
    let mut prefer_job = None;
    if let Some(report) = computed {
        let mut open = Vec::new();
        match report.subtasks.is_empty() {
            true => match computed_leaf(db, &report, now, &mut open)? {
                Some(job) => prefer_job = Some(job),
                None => return Ok(Statements::Transaction(Some(report), claim)),
            },
            false => return Ok(Statements::Transaction(Some(report), claim)),
        }
    }
    Ok(Statements::Done(match claim {
        Some(claim) => claim_preferring(inner, db, &claim, prefer_job.as_ref(), now)?,
        None => None,
    }))
}

/// Claims a task of `job` if there is one (depth first), else the oldest eligible one.
fn claim_preferring(
    inner: &Inner,
    db: &mut dyn Db,
    claim: &ClaimRequest,
    job: Option<&RawId>,
    now: i64,
) -> WfResult<Option<ClaimedTask>> {
    if let Some(job) = job
        && let Some(task) = claim_one(inner, db, claim, Some(job), now)?
    {
        return Ok(Some(task));
    }
    claim_one(inner, db, claim, None, now)
}

/// Applies a completion report; returns the task's job.
fn apply_computed(
    inner: &Inner,
    db: &mut dyn Db,
    report: ComputedReport,
    now: i64,
    open: &mut Vec<RawId>,
) -> WfResult<RawId> {
    let id = report.id;
    if report.subtasks.is_empty()
        && let Some(job) = computed_leaf(db, &report, now, open)?
    {
        return Ok(job);
    }
    type Reported = (RawId, i64, String, Option<RawId>, bool, Option<i64>);
    let (job, state, cluster, scope, in_skip, started): Reported = db
        .query_opt(
            &format!(
                "SELECT job_id, state, cluster_slug, optional_scope, in_skip, started_at_us
                 FROM wf_tasks WHERE id = ?{}",
                row_lock(db.dialect())
            ),
            args![&id],
            |r| r.tuple(),
        )?
        .ok_or_else(|| task_not_found(&id))?;
    let state = task_state(state)?;
    if machine::computed_report(state) == ReportEffect::Ignore {
        return Ok(job);
    }
    if !report.subtasks.is_empty() {
        super::clusters::check_exist(db, &report.subtasks)?;
        let parent = Parent {
            job,
            task: Some(id),
            cluster,
            scope,
            skip: in_skip,
        };
        insert_groups(inner, db, &parent, &report.subtasks)?;
    }
    let spent = if state == TaskState::Running {
        machine::run_time(started, now)
    } else {
        0
    };
    db.execute(
        "UPDATE wf_tasks SET stopped_at_us = ?, compute_us = compute_us + ?, lease_until_us = NULL,
           display = COALESCE(?, display), state = 3
         WHERE id = ?",
        args![now, spent, report.display.as_deref(), &id],
    )?;
    store_progress(db, &id, &job, &report.progress)?;
    // A task completes once it is computed and its subtasks (skipped ones included) are complete; subtasks
    // submitted just now cannot have completed in another transaction, so only a leaf is checked again.
    let left = complete_upwards(db, id)?;
    if report.subtasks.is_empty() {
        open.extend(left);
    }
    Ok(job)
}

/// The common report, of a running task without subtasks: the task becomes computed and complete in one
/// statement, then its parent may complete. Returns its job, or `None` when the task is not running (then
/// the general path in [`apply_computed`] decides).
fn computed_leaf(
    db: &mut dyn Db,
    report: &ComputedReport,
    now: i64,
    open: &mut Vec<RawId>,
) -> WfResult<Option<RawId>> {
    let greatest = match db.dialect() {
        Dialect::Sqlite => "MAX",
        Dialect::Postgres => "GREATEST",
    };
    // The run time is `machine::run_time` (a running task has a start time).
    let row: Option<(RawId, Option<RawId>)> = db.query_opt(
        &format!(
            "UPDATE wf_tasks SET stopped_at_us = ?,
               compute_us = compute_us + {greatest}(CAST(? AS BIGINT) - started_at_us, 0),
               lease_until_us = NULL, display = COALESCE(?, display), state = 3, complete = 1
             WHERE id = ? AND state = 2 AND started_at_us IS NOT NULL
             RETURNING job_id, parent_id"
        ),
        args![now, now, report.display.as_deref(), &report.id],
        |r| r.tuple(),
    )?;
    let Some((job, parent)) = row else {
        return Ok(None);
    };
    store_progress(db, &report.id, &job, &report.progress)?;
    // Checked inside the transaction too, so that the claim that follows sees the parent (and the groups
    // waiting for it) complete: runners go depth first.
    if let Some(parent) = parent {
        open.extend(complete_upwards(db, parent)?);
    }
    Ok(Some(job))
}

/// Identifiers per compound `SELECT` of a claim (SQLite allows at most 500 terms in one compound).
const CLAIM_ARMS: usize = 100;

/// Claims the oldest eligible task (the newest of `job`, when given, to go depth first within a job) in one
/// statement.
///
/// For each identifier the runner can execute, one arm walks the partial index of queued tasks
/// (`wf_tasks_claim`, or `wf_tasks_job_claim` within a job) in id order and stops at the first task whose
/// minor version, job (not canceled, no failed task) and group (no open task in a group it waits for) allow
/// it — on PostgreSQL skipping rows other transactions are claiming; the claim takes the first of the arms'
/// ids in that order and moves that task to running.
fn claim_one(
    inner: &Inner,
    db: &mut dyn Db,
    claim: &ClaimRequest,
    job: Option<&RawId>,
    now: i64,
) -> WfResult<Option<ClaimedTask>> {
    if claim.identifiers.is_empty() {
        return Ok(None);
    }
    let lease_until = now.saturating_add(dur_us(inner.config.lease));
    let built = claim_statement(db.dialect(), claim, job, lease_until, now);
    type Claimed = (RawId, RawId, String, String, Vec<u8>, String, i64, i64);
    let row: Option<Claimed> = db.query_opt(&built.sql, &built.params(), |r| r.tuple())?;
    let Some((id, job_id, name, version, input, display, failures, expiries)) = row else {
        return Ok(None);
    };
    inner.lease_ends_at(lease_until);
    let head = jobs::head(inner, db, &job_id)?;
    Ok(Some(ClaimedTask {
        id,
        name,
        version,
        input: input.into(),
        display,
        retry_count: failures + expiries,
        job_id,
        job_name: head.name.clone(),
        trace_parent: head.trace_parent.clone(),
        submitted_at_us: head.submitted_at_us,
        lease: machine::lease(dur_us(inner.config.lease)),
    }))
}

/// The claim statement (see [`claim_one`]) with its bound values: the chosen task becomes running with a
/// lease until `lease_until`, started `now`; it returns the task's row. The text depends only on the number
/// of identifiers and on whether a job is preferred, so it is prepared once per shape.
fn claim_statement(
    dialect: Dialect,
    claim: &ClaimRequest,
    job: Option<&RawId>,
    lease_until: i64,
    now: i64,
) -> Built {
    let order = if job.is_some() { "DESC" } else { "ASC" };
    let lock = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE OF t SKIP LOCKED",
    };
    let mut b = Built::default();
    // The literal states keep the partial indexes usable.
    b.push("UPDATE wf_tasks SET state = 2, lease_until_us = ");
    b.bind(Value::Int(lease_until));
    b.push(", started_at_us = ");
    b.bind(Value::Int(now));
    b.push(" WHERE state = 1 AND id = (SELECT id FROM (");
    for (c, chunk) in claim.identifiers.chunks(CLAIM_ARMS).enumerate() {
        if c > 0 {
            b.push(" UNION ALL ");
        }
        b.push("SELECT * FROM (SELECT id FROM (");
        for (i, (name, major, minor)) in chunk.iter().enumerate() {
            if i > 0 {
                b.push(" UNION ALL ");
            }
            b.push(
                "SELECT * FROM (SELECT t.id FROM wf_tasks t JOIN wf_jobs j ON j.id = t.job_id
                 WHERE t.state = 1 AND j.canceled = 0
                   AND NOT EXISTS (SELECT 1 FROM wf_tasks f WHERE f.job_id = t.job_id AND f.state = 4)
                   AND NOT EXISTS (SELECT 1 FROM wf_group_deps d JOIN wf_tasks x ON x.group_id = d.depends_on
                                   WHERE d.group_id = t.group_id AND x.complete = 0)",
            );
            if let Some(job) = job {
                b.push(" AND t.job_id = ");
                b.bind(Value::Blob(job.to_vec()));
            }
            b.push(" AND t.cluster_slug = ");
            b.bind(Value::Text(claim.cluster.clone()));
            b.push(" AND t.name = ");
            b.bind(Value::Text(name.clone()));
            b.push(" AND t.major = ");
            b.bind(Value::Int(*major));
            b.push(" AND t.minor <= ");
            b.bind(Value::Int(*minor));
            b.push(&format!(" ORDER BY t.id {order} LIMIT 1{lock}) arm{c}_{i}"));
        }
        b.push(&format!(") c{c} ORDER BY id {order} LIMIT 1) chunk{c}"));
    }
    b.push(&format!(
        ") arms ORDER BY id {order} LIMIT 1) \
         RETURNING id, job_id, name, version, input, display, failures, lease_expiries"
    ));
    b
}

/// Applies a failure report: the run ends, the task is requeued or (out of retries) fails for good.
/// Returns the task's state afterwards and the parents left open.
pub(super) fn failed(
    inner: &Inner,
    db: &mut dyn Db,
    report: FailureReport,
) -> WfResult<(TaskState, Vec<RawId>)> {
    let now = super::now_us();
    reap_due(inner, db, now)?;
    let id = report.id;
    let (job, state, failures, max_retries, started): (RawId, i64, i64, i64, Option<i64>) = db
        .query_opt(
            &format!(
                "SELECT job_id, state, failures, max_retries, started_at_us FROM wf_tasks WHERE id = ?{}",
                row_lock(db.dialect())
            ),
            args![&id],
            |r| r.tuple(),
        )?
        .ok_or_else(|| task_not_found(&id))?;
    let state = task_state(state)?;
    if !machine::failure_applies(state) {
        return Ok((state, Vec::new()));
    }
    db.execute(
        "UPDATE wf_tasks SET state = ?, lease_until_us = NULL, stopped_at_us = ?,
           compute_us = compute_us + ?, display = COALESCE(?, display), failures = failures + ?
         WHERE id = ?",
        args![
            TaskState::Queued as i32,
            now,
            machine::run_time(started, now),
            report.display.as_deref(),
            i64::from(report.was_workflow_error),
            &id,
        ],
    )?;
    store_progress(db, &id, &job, &report.progress)?;
    let mut open = Vec::new();
    if report.was_workflow_error && machine::out_of_chances(failures, max_retries) {
        fail_for_good(db, &id, &mut open)?;
    }
    let state: i64 = db.scalar("SELECT state FROM wf_tasks WHERE id = ?", args![&id])?;
    Ok((task_state(state)?, open))
}

/// Extends the lease of a running task whose lease has not run out.
pub(super) fn extend_lease(
    inner: &Inner,
    db: &mut dyn Db,
    id: RawId,
    requested_us: i64,
) -> WfResult<Option<Lease>> {
    let now = super::now_us();
    reap_due(inner, db, now)?;
    let exists = db.query_opt(
        "SELECT 1 FROM wf_tasks WHERE id = ?",
        args![&id],
        |_| Ok(()),
    )?;
    if exists.is_none() {
        return Err(task_not_found(&id));
    }
    let granted = machine::granted_extension(requested_us, dur_us(inner.config.max_lease));
    if granted <= 0 {
        return Ok(None);
    }
    let until = now.saturating_add(granted);
    let n = db.execute(
        "UPDATE wf_tasks SET lease_until_us = ? WHERE id = ? AND state = 2 AND lease_until_us >= ?",
        args![until, &id, now],
    )?;
    if n > 0 {
        inner.lease_ends_at(until);
    }
    Ok((n > 0).then(|| machine::lease(granted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_states_match_the_wire_enum() {
        // The partial indexes and the statements that use them spell these numbers.
        assert_eq!(TaskState::Queued as i32, 1);
        assert_eq!(TaskState::Running as i32, 2);
        assert_eq!(TaskState::Computed as i32, 3);
        assert_eq!(TaskState::Failed as i32, 4);
    }

    #[test]
    fn claims_lock_only_on_postgres() {
        let claim = ClaimRequest {
            cluster: "c".into(),
            identifiers: vec![("a".into(), 1, 0), ("b".into(), 1, 2)],
        };
        let sqlite = claim_statement(Dialect::Sqlite, &claim, None, 1, 0);
        let pg = claim_statement(Dialect::Postgres, &claim, Some(&[1; 16]), 1, 0);
        assert!(!sqlite.sql.contains("FOR UPDATE"));
        assert_eq!(pg.sql.matches("FOR UPDATE OF t SKIP LOCKED").count(), 2);
        assert_eq!(sqlite.sql.matches('?').count(), sqlite.values.len());
        assert_eq!(pg.sql.matches('?').count(), pg.values.len());
    }
}
