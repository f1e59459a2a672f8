//! The task and job state machine: the rules every workflows backend applies, free of SQL.
//!
//! A task moves `Queued → Running → Computed`; a failure or an expired lease sends a running task back to
//! `Queued` until its retries (or lease expiries) are spent, then it ends `Failed` — or `FailedOptional` when
//! it or an ancestor is optional, in which case the optional subtree's queued tasks end `Skipped`. A task is
//! *complete* once it is computed and all its subtasks are complete (or it failed optionally / was
//! skipped); a job is completed when all its root tasks are complete. The job's state is derived from a few
//! facts about its tasks ([`JobCounters`]) that the store reads from indexes when the job is read, so no task
//! transition writes its job's row.

use tilebox_core::wire::workflows::v1::{JobState, LegacyJobState, TaskState};

use super::Lease;

/// What a job's state is derived from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JobCounters {
    /// Root tasks that are not complete (the store reads only whether there are any).
    pub(crate) open_roots: i64,
    /// The job was canceled (and not retried since).
    pub(crate) canceled: bool,
    /// Tasks in state `Failed` (the store reads only whether there are any).
    pub(crate) failed_tasks: i64,
    /// Tasks in state `Running` (the store reads only whether there are any).
    pub(crate) running_tasks: i64,
    /// Failed tasks were requeued by a retry and none has been claimed or reported since.
    pub(crate) retried_pending: bool,
    /// Some task of the job has started at least once.
    pub(crate) started: bool,
}

impl JobCounters {
    /// The job's state (spec §3.2): completed once every root is complete, then canceled, failed, running
    /// (a task runs, or a retry is pending), started (some task ran), submitted.
    pub(crate) fn state(&self) -> JobState {
        if self.open_roots <= 0 {
            JobState::Completed
        } else if self.canceled {
            JobState::Canceled
        } else if self.failed_tasks > 0 {
            JobState::Failed
        } else if self.running_tasks > 0 || self.retried_pending {
            JobState::Running
        } else if self.started {
            JobState::Started
        } else {
            JobState::Submitted
        }
    }
}

/// The legacy job state older clients read.
pub(crate) fn legacy_state(state: JobState, started: bool) -> LegacyJobState {
    if state == JobState::Completed {
        LegacyJobState::Completed
    } else if started {
        LegacyJobState::Started
    } else {
        LegacyJobState::Queued
    }
}

/// What a completion report for a task in `state` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportEffect {
    /// The task becomes computed (a queued task may be reported late, after its lease expired).
    Apply,
    /// A repeated or late report for a finished task: accepted, changes nothing.
    Ignore,
}

/// How a completion report for a task in `state` is handled.
pub(crate) fn computed_report(state: TaskState) -> ReportEffect {
    match state {
        TaskState::Running | TaskState::Queued => ReportEffect::Apply,
        _ => ReportEffect::Ignore,
    }
}

/// Whether a failure report is applied: only a running task can fail; reports for any other state are
/// answered with the task's state and change nothing.
pub(crate) fn failure_applies(state: TaskState) -> bool {
    state == TaskState::Running
}

/// Whether a task whose run ended without success (failure or lease expiry) is out of chances: a workflow
/// error counts against `max_retries`, an expiry against the configured expiry limit.
pub(crate) fn out_of_chances(spent_before: i64, allowed: i64) -> bool {
    spent_before >= allowed
}

/// Where a task ends when it is out of chances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TerminalFailure {
    /// The job fails.
    Failed,
    /// The task is optional itself: it ends `FailedOptional` and counts as complete.
    Optional,
    /// An ancestor is optional: the task ends `FailedOptional` and the optional ancestor's subtree is
    /// skipped.
    OptionalScope,
}

/// Where a task ends when it is out of chances, given whether it is optional and lies in an optional scope.
pub(crate) fn terminal_failure(optional: bool, in_optional_scope: bool) -> TerminalFailure {
    if optional {
        TerminalFailure::Optional
    } else if in_optional_scope {
        TerminalFailure::OptionalScope
    } else {
        TerminalFailure::Failed
    }
}

/// The lease a runner gets for `lease_us`, with the recommended time until it asks for an extension: a
/// third of the lease (at least 1 s) before it runs out, or half of a lease shorter than 3 s.
pub(crate) fn lease(lease_us: i64) -> Lease {
    let margin = if lease_us >= 3_000_000 {
        (lease_us / 3).max(1_000_000)
    } else {
        lease_us / 2
    };
    Lease {
        lease_us,
        recommended_wait_us: (lease_us - margin).max(0),
    }
}

/// The lease an extension grants: what was asked for, at most `max_us`, never negative.
pub(crate) fn granted_extension(requested_us: i64, max_us: i64) -> i64 {
    requested_us.max(0).min(max_us)
}

/// The compute time a run that started at `started_us` (if it did) used until `now_us`.
pub(crate) fn run_time(started_us: Option<i64>, now_us: i64) -> i64 {
    started_us.map(|s| (now_us - s).max(0)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_state_precedence() {
        let open = JobCounters {
            open_roots: 1,
            ..Default::default()
        };
        assert_eq!(open.state(), JobState::Submitted);
        let started = JobCounters {
            started: true,
            ..open
        };
        assert_eq!(started.state(), JobState::Started);
        let running = JobCounters {
            running_tasks: 2,
            ..started
        };
        assert_eq!(running.state(), JobState::Running);
        let failed = JobCounters {
            failed_tasks: 1,
            ..running
        };
        assert_eq!(failed.state(), JobState::Failed);
        let canceled = JobCounters {
            canceled: true,
            ..failed
        };
        assert_eq!(canceled.state(), JobState::Canceled);
        let done = JobCounters {
            open_roots: 0,
            ..canceled
        };
        assert_eq!(done.state(), JobState::Completed);
        let retried = JobCounters {
            retried_pending: true,
            ..open
        };
        assert_eq!(retried.state(), JobState::Running);
    }

    #[test]
    fn reports() {
        assert_eq!(computed_report(TaskState::Running), ReportEffect::Apply);
        assert_eq!(computed_report(TaskState::Queued), ReportEffect::Apply);
        assert_eq!(computed_report(TaskState::Computed), ReportEffect::Ignore);
        assert_eq!(computed_report(TaskState::Failed), ReportEffect::Ignore);
        assert!(failure_applies(TaskState::Running));
        assert!(!failure_applies(TaskState::Computed));
        assert!(!out_of_chances(0, 1));
        assert!(out_of_chances(1, 1));
        assert_eq!(terminal_failure(true, true), TerminalFailure::Optional);
        assert_eq!(
            terminal_failure(false, true),
            TerminalFailure::OptionalScope
        );
        assert_eq!(terminal_failure(false, false), TerminalFailure::Failed);
    }

    #[test]
    fn leases() {
        assert_eq!(lease(15_000_000).recommended_wait_us, 10_000_000);
        assert_eq!(lease(2_000_000).recommended_wait_us, 1_000_000);
        assert_eq!(granted_extension(-5, 10), 0);
        assert_eq!(granted_extension(50, 10), 10);
        assert_eq!(run_time(Some(10), 5), 0);
        assert_eq!(run_time(None, 5), 0);
    }
}
