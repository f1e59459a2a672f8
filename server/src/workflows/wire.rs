//! Mapping between the workflows storage records and the wire messages.

use std::ops::Bound;

use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;

use crate::datasets::{parse_raw_id, wire_id};
use crate::status::Status;
use crate::store::RawId;
use crate::store::workflows::machine::legacy_state;
use crate::store::workflows::{
    ClaimedTask, ClusterRecord, JobQuery, JobRecord, Lease, TaskSummaryRecord,
};

/// Default page size of job queries.
const DEFAULT_JOB_PAGE: i64 = 100;
/// Largest page size of job queries.
const MAX_JOB_PAGE: i64 = 10_000;

/// A timestamp from microseconds since the epoch.
pub(crate) fn timestamp(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// Microseconds since the epoch of a timestamp (saturating).
pub(crate) fn timestamp_us(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(t.nanos) / 1000)
}

/// Nanoseconds since the epoch of a timestamp (saturating).
pub(crate) fn timestamp_ns(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(t.nanos))
}

/// The bounds of a time interval in the unit `at` gives (open ends for missing times).
pub(crate) fn time_bounds(
    t: Option<&tb::TimeInterval>,
    at: fn(&prost_types::Timestamp) -> i64,
) -> (Bound<i64>, Bound<i64>) {
    let Some(t) = t else {
        return (Bound::Unbounded, Bound::Unbounded);
    };
    (
        t.start_time.as_ref().map_or(Bound::Unbounded, |s| {
            if t.start_exclusive {
                Bound::Excluded(at(s))
            } else {
                Bound::Included(at(s))
            }
        }),
        t.end_time.as_ref().map_or(Bound::Unbounded, |e| {
            if t.end_inclusive {
                Bound::Included(at(e))
            } else {
                Bound::Excluded(at(e))
            }
        }),
    )
}

/// A duration from microseconds.
pub(crate) fn duration(us: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// Microseconds of a duration (saturating).
pub(crate) fn duration_us(d: &prost_types::Duration) -> i64 {
    d.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(d.nanos) / 1000)
}

/// A required id field: present, 16 bytes, not nil.
pub(crate) fn id(id: Option<&tb::Id>, what: &str) -> Result<RawId, Status> {
    let id = id.ok_or_else(|| Status::invalid_argument(format!("{what} is required")))?;
    parse_raw_id(&id.uuid, what)
}

pub(crate) fn cluster(c: ClusterRecord) -> wf::Cluster {
    wf::Cluster {
        slug: c.slug,
        display_name: c.display_name,
        description: c.description,
        deletable: !c.is_default,
        deployed_releases: Vec::new(),
    }
}

fn task_summary(t: TaskSummaryRecord) -> wf::TaskSummary {
    wf::TaskSummary {
        id: Some(wire_id(&t.id)),
        display: t.display,
        state: t.state as i32,
        parent_id: t.parent_id.as_ref().map(wire_id),
        started_at: t.started_at_us.map(timestamp),
        stopped_at: t.stopped_at_us.map(timestamp),
    }
}

pub(crate) fn job(j: JobRecord) -> wf::Job {
    let stats = j.stats;
    let elapsed = match (stats.first_started_us, stats.last_stopped_us) {
        (Some(first), Some(last)) if last > first => last - first,
        _ => 0,
    };
    #[allow(deprecated)]
    wf::Job {
        id: Some(wire_id(&j.id)),
        name: j.name,
        trace_parent: j.trace_parent,
        canceled: j.canceled || j.state == wf::JobState::Failed,
        legacy_state: legacy_state(j.state, stats.first_started_us.is_some()) as i32,
        submitted_at: Some(timestamp(j.submitted_at_us)),
        started_at: stats.first_started_us.map(timestamp),
        task_summaries: j.tasks.into_iter().map(task_summary).collect(),
        automation_id: j.automation_id.as_ref().map(wire_id),
        progress: j
            .progress
            .into_iter()
            .map(|p| wf::Progress {
                label: p.label,
                total: p.total,
                done: p.done,
            })
            .collect(),
        state: j.state as i32,
        execution_stats: Some(wf::ExecutionStats {
            first_task_started_at: stats.first_started_us.map(timestamp),
            last_task_stopped_at: stats.last_stopped_us.map(timestamp),
            compute_time: Some(duration(stats.compute_us)),
            elapsed_time: Some(duration(elapsed)),
            parallelism: if elapsed > 0 {
                stats.compute_us as f64 / elapsed as f64
            } else {
                0.0
            },
            total_tasks: stats.total_tasks,
            tasks_by_state: stats
                .tasks_by_state
                .into_iter()
                .map(|(state, count)| wf::TaskStateCount {
                    state: state as i32,
                    count,
                })
                .collect(),
        }),
    }
}

pub(crate) fn lease(l: Lease) -> wf::TaskLease {
    wf::TaskLease {
        lease: Some(duration(l.lease_us)),
        recommended_wait_until_next_extension: Some(duration(l.recommended_wait_us)),
    }
}

pub(crate) fn claimed_task(t: ClaimedTask) -> wf::Task {
    wf::Task {
        id: Some(wire_id(&t.id)),
        identifier: Some(wf::TaskIdentifier {
            name: t.name,
            version: t.version,
        }),
        state: wf::TaskState::Running as i32,
        input: Some(t.input),
        display: Some(t.display),
        job: Some(wf::Job {
            id: Some(wire_id(&t.job_id)),
            name: t.job_name,
            trace_parent: t.trace_parent,
            submitted_at: Some(timestamp(t.submitted_at_us)),
            ..Default::default()
        }),
        parent_id: None,
        depends_on: Vec::new(),
        lease: Some(lease(t.lease)),
        retry_count: t.retry_count,
    }
}

fn enum_values<E: TryFrom<i32>>(values: &[i32], what: &str) -> Result<Vec<E>, Status> {
    values
        .iter()
        .map(|&v| {
            E::try_from(v).map_err(|_| Status::invalid_argument(format!("unknown {what} {v}")))
        })
        .collect()
}

/// The page size a request asks for: `default` when unset, at most `max`; `invalid_argument` below 1.
pub(crate) fn page_limit(
    page: Option<&tb::Pagination>,
    default: i64,
    max: i64,
) -> Result<u64, Status> {
    let limit = page.and_then(|p| p.limit).unwrap_or(default);
    if limit < 1 {
        return Err(Status::invalid_argument("page.limit must be >= 1"));
    }
    Ok(limit.min(max) as u64)
}

/// A job query from its request: filters, sort direction and the page cursor.
pub(crate) fn job_query(req: &wf::QueryJobsRequest) -> Result<JobQuery, Status> {
    let f = req.filters.clone().unwrap_or_default();
    if f.time_interval.is_some() && f.id_interval.is_some() {
        return Err(Status::invalid_argument(
            "at most one of time_interval and id_interval",
        ));
    }
    let limit = page_limit(req.page.as_ref(), DEFAULT_JOB_PAGE, MAX_JOB_PAGE)?;
    let submitted = time_bounds(f.time_interval.as_ref(), timestamp_us);
    let bound_id =
        |id: Option<&tb::Id>, what: &str, inclusive: bool| -> Result<Bound<RawId>, Status> {
            Ok(match id {
                None => Bound::Unbounded,
                Some(id) => {
                    let raw: RawId = id.uuid.as_ref().try_into().map_err(|_| {
                        Status::invalid_argument(format!("{what}: expected a 16-byte id"))
                    })?;
                    if inclusive {
                        Bound::Included(raw)
                    } else {
                        Bound::Excluded(raw)
                    }
                }
            })
        };
    let ids = match &f.id_interval {
        None => (Bound::Unbounded, Bound::Unbounded),
        Some(i) => (
            bound_id(
                i.start_id.as_ref(),
                "id_interval.start_id",
                !i.start_exclusive,
            )?,
            bound_id(i.end_id.as_ref(), "id_interval.end_id", i.end_inclusive)?,
        ),
    };
    let starting_after =
        match req.page.as_ref().and_then(|p| p.starting_after.as_ref()) {
            None => None,
            Some(after) => Some(after.uuid.as_ref().try_into().map_err(|_| {
                Status::invalid_argument("page.starting_after: expected a 16-byte id")
            })?),
        };
    let automation_ids = f
        .automation_ids
        .iter()
        .map(|a| id(Some(a), "automation_ids"))
        .collect::<Result<_, _>>()?;
    Ok(JobQuery {
        submitted,
        ids,
        automation_ids,
        states: enum_values(&f.states, "job state")?,
        name: Some(f.name).filter(|n| !n.is_empty()),
        task_states: enum_values(&f.task_states, "task state")?,
        clusters: f.cluster_slugs,
        ascending: req.sort_direction == tb::SortDirection::Ascending as i32,
        starting_after,
        limit,
    })
}
