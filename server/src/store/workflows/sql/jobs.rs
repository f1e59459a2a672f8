//! Job rows: submission, views, cancel/retry and queries. A job's state is derived from its tasks when it is
//! read (see [`COUNTERS`]): no task transition writes its job's row, so runners working one job never queue
//! on it.

use std::ops::Bound;
use std::sync::Arc;

use tilebox_core::wire::workflows::v1::{JobState, TaskState};

use super::{Inner, clusters, fmt_id, now_us, raw_id, task_state, tasks};
use crate::store::RawId;
use crate::store::db::{Built, Db, DbError, Row, Value, args};
use crate::store::workflows::machine::JobCounters;
use crate::store::workflows::values::range_end;
use crate::store::workflows::{
    JobPage, JobQuery, JobRecord, JobStats, NewJob, ProgressRecord, TaskSummaryRecord, WfResult,
    WorkflowsStoreError,
};

fn not_found(id: &RawId) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("job {} not found", fmt_id(id)))
}

pub(super) fn submit(inner: &Inner, db: &mut dyn Db, job: NewJob) -> WfResult<JobRecord> {
    clusters::check_exist(db, &job.groups)?;
    let default = clusters::default_slug(db)?;
    let job_id = inner.new_id();
    // `state` and `open_roots` are columns of earlier schemas, no longer read.
    db.execute(
        "INSERT INTO wf_jobs (id, name, trace_parent, automation_id, submitted_at_us, state, open_roots)
         VALUES (?, ?, ?, ?, ?, 0, 0)",
        args![
            &job_id,
            &job.name,
            &job.trace_parent,
            job.automation_id.as_ref(),
            now_us()
        ],
    )?;
    let parent = tasks::Parent {
        job: job_id,
        task: None,
        cluster: default,
        scope: None,
        skip: false,
    };
    tasks::insert_groups(inner, db, &parent, &job.groups)?;
    view(db, job_id, true)?.ok_or_else(|| not_found(&job_id))
}

/// What a job's state is derived from, as columns of a `SELECT` over the job row `j`: each an index probe
/// on the job's tasks (the literal states keep the partial indexes usable). A retry is pending until a task
/// of the job starts or stops after it.
pub(super) const COUNTERS: &str = "j.canceled,
    (j.retried_at_us IS NOT NULL AND NOT EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id
       AND (t.started_at_us >= j.retried_at_us OR t.stopped_at_us >= j.retried_at_us))),
    EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.parent_id IS NULL AND t.complete = 0),
    EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.state = 2),
    EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.state = 4),
    EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.started_at_us IS NOT NULL)";

/// A job's counters from the columns [`COUNTERS`] starting at `at`.
pub(super) fn counters(row: &dyn Row, at: usize) -> Result<JobCounters, DbError> {
    Ok(JobCounters {
        canceled: row.get(at)?,
        retried_pending: row.get(at + 1)?,
        open_roots: row.get::<bool>(at + 2)?.into(),
        running_tasks: row.get::<bool>(at + 3)?.into(),
        failed_tasks: row.get::<bool>(at + 4)?.into(),
        started: row.get(at + 5)?,
    })
}

/// A job's state, `NotFound` when it does not exist.
fn state(db: &mut dyn Db, id: &RawId) -> WfResult<JobState> {
    db.query_opt(
        &format!("SELECT {COUNTERS} FROM wf_jobs j WHERE j.id = ?"),
        args![id],
        |r| counters(r, 0),
    )?
    .map(|c| c.state())
    .ok_or_else(|| not_found(id))
}

/// What a claim reads of its task's job (which never changes).
#[derive(Debug)]
pub(super) struct JobHead {
    /// The job's name.
    pub(super) name: String,
    /// The job's trace parent.
    pub(super) trace_parent: String,
    /// The job's submission time.
    pub(super) submitted_at_us: i64,
}

/// The head of a job, from the store's cache or the job row.
pub(super) fn head(inner: &Inner, db: &mut dyn Db, job: &RawId) -> WfResult<Arc<JobHead>> {
    if let Some(head) = inner.cached_head(job) {
        return Ok(head);
    }
    let head = db
        .query_opt(
            "SELECT name, trace_parent, submitted_at_us FROM wf_jobs WHERE id = ?",
            args![job],
            |r| {
                Ok(JobHead {
                    name: r.get(0)?,
                    trace_parent: r.get(1)?,
                    submitted_at_us: r.get(2)?,
                })
            },
        )?
        .ok_or_else(|| not_found(job))?;
    Ok(inner.cache_head(*job, head))
}

pub(super) fn cancel(db: &mut dyn Db, id: RawId) -> WfResult<()> {
    if state(db, &id)? != JobState::Completed {
        db.execute("UPDATE wf_jobs SET canceled = 1 WHERE id = ?", args![&id])?;
    }
    Ok(())
}

pub(super) fn retry(db: &mut dyn Db, id: RawId) -> WfResult<u64> {
    if state(db, &id)? == JobState::Completed {
        return Ok(0);
    }
    let n = db.execute(
        "UPDATE wf_tasks SET state = ?, failures = 0, lease_expiries = 0 WHERE job_id = ? AND state = ?",
        args![
            TaskState::Queued as i32,
            &id,
            TaskState::Failed as i32
        ],
    )?;
    db.execute(
        "UPDATE wf_jobs SET canceled = 0, retried_at_us = ? WHERE id = ?",
        args![(n > 0).then(now_us), &id],
    )?;
    Ok(n)
}

/// A job with its progress and figures (and tasks when `with_tasks`), `None` when it does not exist.
pub(super) fn view(db: &mut dyn Db, id: RawId, with_tasks: bool) -> WfResult<Option<JobRecord>> {
    type Head = (String, String, Option<RawId>, i64, JobCounters);
    let head: Option<Head> = db.query_opt(
        &format!(
            "SELECT name, trace_parent, automation_id, submitted_at_us, {COUNTERS}
             FROM wf_jobs j WHERE j.id = ?"
        ),
        args![&id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, counters(r, 4)?)),
    )?;
    let Some((name, trace_parent, automation_id, submitted_at_us, counters)) = head else {
        return Ok(None);
    };
    let progress = db.query(
        "SELECT label, CAST(SUM(total) AS BIGINT), CAST(SUM(done) AS BIGINT) FROM wf_task_progress
         WHERE job_id = ? GROUP BY label ORDER BY label",
        args![&id],
        |r| {
            Ok(ProgressRecord {
                label: r.get(0)?,
                total: r.get(1)?,
                done: r.get(2)?,
            })
        },
    )?;
    let (first_started_us, last_stopped_us, compute_us, total_tasks) = db.query_one(
        "SELECT MIN(started_at_us), MAX(stopped_at_us), CAST(COALESCE(SUM(compute_us), 0) AS BIGINT),
           COUNT(*)
         FROM wf_tasks WHERE job_id = ?",
        args![&id],
        |r| r.tuple(),
    )?;
    let tasks_by_state = db
        .query(
            "SELECT state, COUNT(*) FROM wf_tasks WHERE job_id = ? GROUP BY state ORDER BY state",
            args![&id],
            |r| Ok((r.get::<i64>(0)?, r.get::<u64>(1)?)),
        )?
        .into_iter()
        .map(|(s, c)| Ok((task_state(s)?, c)))
        .collect::<WfResult<Vec<_>>>()?;
    let tasks = if with_tasks {
        db.query(
            "SELECT id, display, state, parent_id, started_at_us, stopped_at_us FROM wf_tasks
             WHERE job_id = ? ORDER BY id",
            args![&id],
            |r| {
                Ok((
                    r.get::<RawId>(0)?,
                    r.get::<String>(1)?,
                    r.get::<i64>(2)?,
                    r.get::<Option<RawId>>(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )?
        .into_iter()
        .map(|(id, display, state, parent_id, started, stopped)| {
            Ok(TaskSummaryRecord {
                id,
                parent_id,
                display,
                state: task_state(state)?,
                started_at_us: started,
                stopped_at_us: stopped,
            })
        })
        .collect::<WfResult<Vec<_>>>()?
    } else {
        Vec::new()
    };
    Ok(Some(JobRecord {
        id,
        name,
        trace_parent,
        automation_id,
        submitted_at_us,
        canceled: counters.canceled,
        state: counters.state(),
        progress,
        stats: JobStats {
            first_started_us,
            last_stopped_us,
            compute_us,
            total_tasks,
            tasks_by_state,
        },
        tasks,
    }))
}

pub(super) fn bound(b: &mut Built, column: &str, end: Bound<Value>, lower: bool) {
    if let Some((op, value)) = range_end(end, lower) {
        b.push(&format!(" AND {column} {op} "));
        b.bind(value);
    }
}

/// Job ids scanned per statement while a state filter (applied to the derived states) drops jobs.
const STATE_FILTER_CHUNK: u64 = 256;

/// One page of jobs: ids from one indexed query, then each job's view; a filter on the job's state applies
/// to the derived state of each candidate, so the ids are read in chunks until the page is full.
pub(super) fn query(db: &mut dyn Db, q: &JobQuery) -> WfResult<JobPage> {
    let want = q.limit.saturating_add(1);
    let mut jobs = Vec::new();
    let mut after = q.starting_after;
    loop {
        let chunk = if q.states.is_empty() {
            want
        } else {
            STATE_FILTER_CHUNK
        };
        let ids = candidate_ids(db, q, after, chunk)?;
        let exhausted = (ids.len() as u64) < chunk;
        for id in ids {
            after = Some(id);
            if let Some(job) = view(db, id, false)?
                && (q.states.is_empty() || q.states.contains(&job.state))
            {
                jobs.push(job);
                if jobs.len() as u64 >= want {
                    break;
                }
            }
        }
        if exhausted || jobs.len() as u64 >= want {
            break;
        }
    }
    let more = jobs.len() as u64 > q.limit;
    jobs.truncate(q.limit as usize);
    Ok(JobPage { jobs, more })
}

/// Up to `limit` ids of jobs matching the query's filters (all but the state), after the cursor `after`.
fn candidate_ids(
    db: &mut dyn Db,
    q: &JobQuery,
    after: Option<RawId>,
    limit: u64,
) -> WfResult<Vec<RawId>> {
    let mut b = Built::default();
    b.push("SELECT j.id FROM wf_jobs j WHERE 1 = 1");
    bound(
        &mut b,
        "j.submitted_at_us",
        q.submitted.0.map(Value::Int),
        true,
    );
    bound(
        &mut b,
        "j.submitted_at_us",
        q.submitted.1.map(Value::Int),
        false,
    );
    bound(
        &mut b,
        "j.id",
        q.ids.0.map(|v| Value::Blob(v.to_vec())),
        true,
    );
    bound(
        &mut b,
        "j.id",
        q.ids.1.map(|v| Value::Blob(v.to_vec())),
        false,
    );
    if !q.automation_ids.is_empty() {
        b.push(" AND j.automation_id");
        b.any_of(q.automation_ids.iter().map(|a| Value::Blob(a.to_vec())));
    }
    if let Some(name) = &q.name {
        b.push(" AND lower(j.name) LIKE ");
        b.bind(Value::Text(format!(
            "%{}%",
            like_escaped(&name.to_lowercase())
        )));
        b.push(" ESCAPE '\\'");
    }
    if !q.task_states.is_empty() {
        b.push(" AND EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.state");
        b.any_of(q.task_states.iter().map(|s| Value::Int(*s as i64)));
        b.push(")");
    }
    if !q.clusters.is_empty() {
        b.push(" AND EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.cluster_slug");
        b.any_of(q.clusters.iter().cloned().map(Value::Text));
        b.push(")");
    }
    if let Some(after) = after {
        b.push(if q.ascending {
            " AND j.id > "
        } else {
            " AND j.id < "
        });
        b.bind(Value::Blob(after.to_vec()));
    }
    b.push(if q.ascending {
        " ORDER BY j.id ASC LIMIT "
    } else {
        " ORDER BY j.id DESC LIMIT "
    });
    b.bind(Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let ids = db.query(&b.sql, &b.params(), |r| r.get::<Vec<u8>>(0))?;
    ids.iter().map(|id| raw_id(id)).collect()
}

/// `text` with the `LIKE` wildcards `%` and `_` (and the escape character) escaped by `\`.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::like_escaped;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_escaped("a%b_c\\d"), "a\\%b\\_c\\\\d");
    }
}
