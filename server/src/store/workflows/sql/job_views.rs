//! Read-only views of jobs: task listings, the submission a job can be cloned from, state counts and queue
//! figures.

use std::collections::HashMap;
use std::ops::Bound;

use tilebox_core::wire::workflows::v1::JobState;

use super::jobs::{COUNTERS, bound, counters};
use super::{fmt_id, task_state};
use crate::store::RawId;
use crate::store::db::{Built, Db, DbError, Row, Value, args};
use crate::store::workflows::{
    JobPrototype, JobStateCounts, JobTaskPage, JobTaskRecord, PrototypeTask, QueueStats, WfResult,
    WorkflowsStoreError,
};

fn job_not_found(id: &RawId) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("job {} not found", fmt_id(id)))
}

/// The job's name, `NotFound` when it does not exist.
fn job_name(db: &mut dyn Db, job: &RawId) -> WfResult<String> {
    db.query_opt("SELECT name FROM wf_jobs WHERE id = ?", args![job], |r| {
        r.get(0)
    })?
    .ok_or_else(|| job_not_found(job))
}

fn task_row(row: &dyn Row) -> Result<JobTaskRecord, DbError> {
    let state: i64 = row.get(3)?;
    Ok(JobTaskRecord {
        id: row.get(0)?,
        parent_id: row.get(1)?,
        display: row.get(2)?,
        state: task_state(state).map_err(|e| DbError::Column {
            index: 3,
            message: e.to_string(),
        })?,
        started_at_us: row.get(4)?,
        stopped_at_us: row.get(5)?,
        input: row.get(6)?,
        retry_count: row.get(7)?,
        max_retries: row.get(8)?,
        has_children: row.get(9)?,
        cluster: row.get(10)?,
        optional: row.get(11)?,
    })
}

/// One page of the tasks of `parent` (root tasks for `None`) of a job, by id.
pub(super) fn list_tasks(
    db: &mut dyn Db,
    job: RawId,
    parent: Option<RawId>,
    after: Option<RawId>,
    limit: u64,
) -> WfResult<JobTaskPage> {
    job_name(db, &job)?;
    let mut b = Built::default();
    b.push(
        "SELECT t.id, t.parent_id, t.display, t.state, t.started_at_us, t.stopped_at_us, t.input,
            t.failures + t.lease_expiries, t.max_retries,
            EXISTS (SELECT 1 FROM wf_tasks c WHERE c.parent_id = t.id),
            t.cluster_slug, t.optional
         FROM wf_tasks t WHERE t.job_id = ",
    );
    b.bind(Value::Blob(job.to_vec()));
    match parent {
        None => b.push(" AND t.parent_id IS NULL"),
        Some(p) => {
            let of_job: Option<RawId> =
                db.query_opt("SELECT job_id FROM wf_tasks WHERE id = ?", args![&p], |r| {
                    r.get(0)
                })?;
            if of_job != Some(job) {
                return Err(WorkflowsStoreError::NotFound(format!(
                    "task {} of job {} not found",
                    fmt_id(&p),
                    fmt_id(&job)
                )));
            }
            b.push(" AND t.parent_id = ");
            b.bind(Value::Blob(p.to_vec()));
        }
    }
    bound(
        &mut b,
        "t.id",
        after.map_or(Bound::Unbounded, |a| {
            Bound::Excluded(Value::Blob(a.to_vec()))
        }),
        true,
    );
    b.push(" ORDER BY t.id LIMIT ");
    b.bind(Value::Int(
        i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX),
    ));
    let mut tasks = db.query(&b.sql, &b.params(), task_row)?;
    let more = tasks.len() as u64 > limit;
    tasks.truncate(limit as usize);
    Ok(JobTaskPage { tasks, more })
}

/// A job's name and root tasks, each with the indices of the root tasks of the groups it waited for.
pub(super) fn prototype(db: &mut dyn Db, job: RawId) -> WfResult<JobPrototype> {
    let name = job_name(db, &job)?;
    let rows = db.query(
        "SELECT group_id, cluster_slug, name, version, display, input, max_retries
         FROM wf_tasks WHERE job_id = ? AND parent_id IS NULL ORDER BY id",
        args![&job],
        |r| {
            let group: i64 = r.get(0)?;
            Ok((
                group,
                PrototypeTask {
                    cluster: r.get(1)?,
                    name: r.get(2)?,
                    version: r.get(3)?,
                    display: r.get(4)?,
                    input: r.get(5)?,
                    max_retries: r.get(6)?,
                    dependencies: Vec::new(),
                },
            ))
        },
    )?;
    let deps: Vec<(i64, i64)> = db.query(
        "SELECT d.group_id, d.depends_on FROM wf_group_deps d
         JOIN wf_task_groups g ON g.id = d.group_id
         WHERE g.job_id = ? AND g.parent_task_id IS NULL",
        args![&job],
        |r| r.tuple(),
    )?;
    let mut members: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, (group, _)) in rows.iter().enumerate() {
        members.entry(*group).or_default().push(i);
    }
    let mut tasks = Vec::with_capacity(rows.len());
    for (group, mut task) in rows {
        for (_, on) in deps.iter().filter(|(g, _)| *g == group) {
            task.dependencies
                .extend(members.get(on).into_iter().flatten().copied());
        }
        task.dependencies.sort_unstable();
        tasks.push(task);
    }
    Ok(JobPrototype { name, tasks })
}

/// Each job submitted in the bounds (µs): id and derived state, oldest first.
fn job_states(
    db: &mut dyn Db,
    submitted: (Bound<i64>, Bound<i64>),
) -> WfResult<Vec<(RawId, JobState)>> {
    let mut b = Built::default();
    b.push(&format!(
        "SELECT j.id, {COUNTERS} FROM wf_jobs j WHERE 1 = 1"
    ));
    bound(
        &mut b,
        "j.submitted_at_us",
        submitted.0.map(Value::Int),
        true,
    );
    bound(
        &mut b,
        "j.submitted_at_us",
        submitted.1.map(Value::Int),
        false,
    );
    b.push(" ORDER BY j.id");
    Ok(db.query(&b.sql, &b.params(), |r| {
        Ok((r.get(0)?, counters(r, 1)?.state()))
    })?)
}

/// Jobs submitted in the bounds per derived state.
pub(super) fn state_counts(
    db: &mut dyn Db,
    submitted: (Bound<i64>, Bound<i64>),
) -> WfResult<JobStateCounts> {
    let mut counts: Vec<(JobState, u64)> = Vec::new();
    for (_, state) in job_states(db, submitted)? {
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    counts.sort_by_key(|(s, _)| *s as i32);
    Ok(counts)
}

/// Queue figures over the jobs submitted in the bounds.
pub(super) fn queue_stats(
    db: &mut dyn Db,
    submitted: (Bound<i64>, Bound<i64>),
) -> WfResult<QueueStats> {
    let mut stats = QueueStats::default();
    for (id, state) in job_states(db, submitted)? {
        match state {
            JobState::Submitted => {
                stats.waiting_jobs += 1;
                stats.oldest_waiting.get_or_insert(id);
            }
            JobState::Running | JobState::Started => stats.running_jobs += 1,
            _ => {}
        }
    }
    let mut b = Built::default();
    b.push(
        "SELECT COUNT(*) FROM wf_tasks t JOIN wf_jobs j ON j.id = t.job_id
         WHERE t.state = 1 AND j.canceled = 0",
    );
    bound(
        &mut b,
        "j.submitted_at_us",
        submitted.0.map(Value::Int),
        true,
    );
    bound(
        &mut b,
        "j.submitted_at_us",
        submitted.1.map(Value::Int),
        false,
    );
    let queued: i64 = db.scalar(&b.sql, &b.params())?;
    stats.queued_tasks = u64::try_from(queued).unwrap_or_default();
    Ok(stats)
}
