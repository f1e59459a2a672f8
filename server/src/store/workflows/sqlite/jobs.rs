//! Job rows: submission, views, cancel/retry, queries, and the job state kept up to date from counters.

use std::ops::Bound;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
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

pub(super) fn submit(inner: &Inner, conn: &Connection, job: NewJob) -> WfResult<JobRecord> {
    clusters::check_exist(conn, &job.groups)?;
    let default = clusters::default_slug(conn)?;
    let job_id = inner.new_id();
    let roots: i64 = job.groups.iter().map(|g| g.tasks.len() as i64).sum();
    conn.prepare_cached(
        "INSERT INTO wf_jobs (id, name, trace_parent, automation_id, submitted_at_us, state, open_roots)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        job_id.as_slice(),
        job.name,
        job.trace_parent,
        job.automation_id.as_ref().map(|a| a.as_slice()),
        now_us(),
        JobState::Submitted as i32,
        roots,
    ])?;
    let parent = tasks::Parent {
        job: job_id,
        task: None,
        cluster: default,
        scope: None,
        skip: false,
    };
    tasks::insert_groups(inner, conn, &parent, &job.groups)?;
    view(conn, job_id, true)?.ok_or_else(|| not_found(&job_id))
}

/// The columns [`counters`] reads, in its order.
const COUNTER_COLUMNS: &str =
    "open_roots, canceled, retried_pending, running_tasks, failed_tasks, started, state";

/// A job's counters and stored state from the columns [`COUNTER_COLUMNS`] starting at `at`.
fn counters(row: &Row<'_>, at: usize) -> rusqlite::Result<(JobCounters, i64)> {
    Ok((
        JobCounters {
            open_roots: row.get(at)?,
            canceled: row.get::<_, i64>(at + 1)? != 0,
            retried_pending: row.get::<_, i64>(at + 2)? != 0,
            running_tasks: row.get(at + 3)?,
            failed_tasks: row.get(at + 4)?,
            started: row.get::<_, i64>(at + 5)? != 0,
        },
        row.get(at + 6)?,
    ))
}

/// Stores the state derived from `counters` when it differs from the `stored` one; returns it.
fn store_state(
    conn: &Connection,
    job: &RawId,
    (counters, stored): (JobCounters, i64),
) -> WfResult<JobState> {
    let state = counters.state();
    if stored != state as i64 {
        conn.prepare_cached("UPDATE wf_jobs SET state = ? WHERE id = ?")?
            .execute(params![state as i32, job.as_slice()])?;
    }
    Ok(state)
}

/// Recomputes a job's state from its counters and stores it.
pub(super) fn refresh(conn: &Connection, job: &RawId) -> WfResult<JobState> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COUNTER_COLUMNS} FROM wf_jobs WHERE id = ?"
        ))?
        .query_row([job.as_slice()], |r| counters(r, 0))?;
    store_state(conn, job, row)
}

/// What a claim reads of its task's job.
pub(super) struct JobHead {
    /// The job's name.
    pub(super) name: String,
    /// The job's trace parent.
    pub(super) trace_parent: String,
    /// The job's submission time.
    pub(super) submitted_at_us: i64,
}

/// Applies a task transition of the job in one statement: adds the `(running, failed)` deltas, clears the
/// "retry pending" mark (a task of the job was claimed or reported), marks the job started when `started`,
/// and stores the state derived from the new counters when it changed. Returns the job's head.
pub(super) fn count_transition(
    conn: &Connection,
    job: &RawId,
    (running, failed): (i64, i64),
    started: bool,
) -> WfResult<JobHead> {
    let (head, counted) = conn
        .prepare_cached(&format!(
            "UPDATE wf_jobs SET running_tasks = running_tasks + ?, failed_tasks = failed_tasks + ?,
               retried_pending = 0, started = MAX(started, ?)
             WHERE id = ?
             RETURNING name, trace_parent, submitted_at_us, {COUNTER_COLUMNS}"
        ))?
        .query_row(
            params![running, failed, i64::from(started), job.as_slice()],
            |r| {
                Ok((
                    JobHead {
                        name: r.get(0)?,
                        trace_parent: r.get(1)?,
                        submitted_at_us: r.get(2)?,
                    },
                    counters(r, 3)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| not_found(job))?;
    store_state(conn, job, counted)?;
    Ok(head)
}

/// Clears the "retry pending" mark once a task of the job was claimed or reported.
pub(super) fn clear_retried(conn: &Connection, job: &RawId) -> WfResult<()> {
    conn.prepare_cached("UPDATE wf_jobs SET retried_pending = 0 WHERE id = ?")?
        .execute([job.as_slice()])?;
    Ok(())
}

/// The job's state, `NotFound` when it does not exist.
fn stored_state(conn: &Connection, id: &RawId) -> WfResult<i64> {
    conn.prepare_cached("SELECT state FROM wf_jobs WHERE id = ?")?
        .query_row([id.as_slice()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| not_found(id))
}

pub(super) fn cancel(conn: &Connection, id: RawId) -> WfResult<()> {
    stored_state(conn, &id)?;
    conn.prepare_cached("UPDATE wf_jobs SET canceled = 1 WHERE id = ? AND state <> ?")?
        .execute(params![id.as_slice(), JobState::Completed as i32])?;
    refresh(conn, &id)?;
    Ok(())
}

pub(super) fn retry(conn: &Connection, id: RawId) -> WfResult<u64> {
    if stored_state(conn, &id)? == JobState::Completed as i64 {
        return Ok(0);
    }
    let n = conn
        .prepare_cached(
            "UPDATE wf_tasks SET state = ?, failures = 0, lease_expiries = 0 WHERE job_id = ? AND state = ?",
        )?
        .execute(params![
            TaskState::Queued as i32,
            id.as_slice(),
            TaskState::Failed as i32
        ])?;
    // Every failed task of the job was requeued.
    conn.prepare_cached(
        "UPDATE wf_jobs SET canceled = 0, retried_pending = ?, failed_tasks = 0 WHERE id = ?",
    )?
    .execute(params![i64::from(n > 0), id.as_slice()])?;
    refresh(conn, &id)?;
    Ok(n as u64)
}

/// A job with its progress and figures (and tasks when `with_tasks`), `None` when it does not exist.
pub(super) fn view(conn: &Connection, id: RawId, with_tasks: bool) -> WfResult<Option<JobRecord>> {
    type Head = (String, String, Option<Vec<u8>>, i64, i64, i64);
    let head: Option<Head> = conn
        .prepare_cached(
            "SELECT name, trace_parent, automation_id, submitted_at_us, canceled, state FROM wf_jobs WHERE id = ?",
        )?
        .query_row([id.as_slice()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    let Some((name, trace_parent, automation, submitted_at_us, canceled, state)) = head else {
        return Ok(None);
    };
    let state = i32::try_from(state)
        .ok()
        .and_then(|s| JobState::try_from(s).ok())
        .unwrap_or(JobState::Unspecified);
    let progress = conn
        .prepare_cached(
            "SELECT label, SUM(total), SUM(done) FROM wf_task_progress WHERE job_id = ?
             GROUP BY label ORDER BY label",
        )?
        .query_map([id.as_slice()], |r| {
            Ok(ProgressRecord {
                label: r.get(0)?,
                total: r.get::<_, i64>(1)?.max(0) as u64,
                done: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let (first_started_us, last_stopped_us, compute_us, total) = conn
        .prepare_cached(
            "SELECT MIN(started_at_us), MAX(stopped_at_us), COALESCE(SUM(compute_us), 0), COUNT(*)
             FROM wf_tasks WHERE job_id = ?",
        )?
        .query_row([id.as_slice()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?))
        })?;
    let tasks_by_state = conn
        .prepare_cached(
            "SELECT state, COUNT(*) FROM wf_tasks WHERE job_id = ? GROUP BY state ORDER BY state",
        )?
        .query_map([id.as_slice()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?
        .map(|row| {
            let (s, c) = row?;
            Ok((task_state(s)?, c.max(0) as u64))
        })
        .collect::<WfResult<Vec<_>>>()?;
    let mut tasks = Vec::new();
    if with_tasks {
        let mut stmt = conn.prepare_cached(
            "SELECT id, display, state, parent_id, started_at_us, stopped_at_us FROM wf_tasks
             WHERE job_id = ? ORDER BY id",
        )?;
        let mut rows = stmt.query([id.as_slice()])?;
        while let Some(r) = rows.next()? {
            let parent: Option<Vec<u8>> = r.get(3)?;
            tasks.push(TaskSummaryRecord {
                id: raw_id(&r.get::<_, Vec<u8>>(0)?)?,
                parent_id: parent.as_deref().map(raw_id).transpose()?,
                display: r.get(1)?,
                state: task_state(r.get(2)?)?,
                started_at_us: r.get(4)?,
                stopped_at_us: r.get(5)?,
            });
        }
    }
    Ok(Some(JobRecord {
        id,
        name,
        trace_parent,
        automation_id: automation.as_deref().map(raw_id).transpose()?,
        submitted_at_us,
        canceled: canceled != 0,
        state,
        progress,
        stats: JobStats {
            first_started_us,
            last_stopped_us,
            compute_us,
            total_tasks: total.max(0) as u64,
            tasks_by_state,
        },
        tasks,
    }))
}

/// A `SELECT` built piece by piece with its bound values.
#[derive(Default)]
struct Built {
    sql: String,
    values: Vec<Value>,
}

impl Built {
    fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    fn bind(&mut self, value: impl Into<Value>) {
        self.sql.push('?');
        self.values.push(value.into());
    }

    fn bound<T: Into<Value>>(&mut self, column: &str, bound: Bound<T>, lower: bool) {
        let Some((op, value)) = range_end(bound, lower) else {
            return;
        };
        self.push(&format!(" AND {column} {op} "));
        self.bind(value);
    }

    fn any_of<T: Into<Value>>(&mut self, values: impl IntoIterator<Item = T>) {
        self.push(" IN (");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self.push(")");
    }
}

/// One page of jobs: the ids come from one indexed query, then each job's view.
pub(super) fn query(conn: &Connection, q: &JobQuery) -> WfResult<JobPage> {
    let mut b = Built::default();
    b.push("SELECT j.id FROM wf_jobs j WHERE 1 = 1");
    b.bound("j.submitted_at_us", q.submitted.0, true);
    b.bound("j.submitted_at_us", q.submitted.1, false);
    b.bound("j.id", q.ids.0.map(|v| v.to_vec()), true);
    b.bound("j.id", q.ids.1.map(|v| v.to_vec()), false);
    if !q.automation_ids.is_empty() {
        b.push(" AND j.automation_id");
        b.any_of(q.automation_ids.iter().map(|a| a.to_vec()));
    }
    if !q.states.is_empty() {
        b.push(" AND j.state");
        b.any_of(q.states.iter().map(|s| *s as i32));
    }
    if let Some(name) = &q.name {
        b.push(" AND instr(lower(j.name), lower(");
        b.bind(name.clone());
        b.push(")) > 0");
    }
    if !q.task_states.is_empty() {
        b.push(" AND EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.state");
        b.any_of(q.task_states.iter().map(|s| *s as i32));
        b.push(")");
    }
    if !q.clusters.is_empty() {
        b.push(" AND EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.cluster_slug");
        b.any_of(q.clusters.iter().cloned());
        b.push(")");
    }
    if let Some(after) = q.starting_after {
        b.push(if q.ascending {
            " AND j.id > "
        } else {
            " AND j.id < "
        });
        b.bind(after.to_vec());
    }
    b.push(if q.ascending {
        " ORDER BY j.id ASC LIMIT "
    } else {
        " ORDER BY j.id DESC LIMIT "
    });
    b.bind(i64::try_from(q.limit.saturating_add(1)).unwrap_or(i64::MAX));
    let ids = conn
        .prepare(&b.sql)?
        .query_map(params_from_iter(b.values), |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = ids.len() as u64 > q.limit;
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids.iter().take(q.limit as usize) {
        if let Some(job) = view(conn, raw_id(id)?, false)? {
            jobs.push(job);
        }
    }
    Ok(JobPage { jobs, more })
}
