//! The threads sync task executions run on, kept for reuse: starting an OS thread per task costs more than a
//! short task itself. A finished execution's thread waits a while for the next one before it ends, so a busy
//! runner reuses a few threads and an idle process keeps none (the core's [`ThreadPool`], unbounded).

use std::sync::LazyLock;
use std::time::Duration;

use tilebox_core::threads::ThreadPool;

/// How long an idle thread waits for another execution before it ends.
const KEEP_IDLE: Duration = Duration::from_secs(10);

/// The threads of every runner in the process.
static THREADS: LazyLock<ThreadPool> =
    LazyLock::new(|| ThreadPool::new("tilebox-task", usize::MAX, KEEP_IDLE));

/// Runs `job` on an idle task thread, or on a new one (named `tilebox-task`) when none is idle.
pub(super) fn run(job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    THREADS
        .execute(Box::new(job))
        .map_err(|unstarted| unstarted.error)
}
