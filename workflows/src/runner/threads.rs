//! The threads sync task executions run on, kept for reuse: starting an OS thread per task costs more than a
//! short task itself. A finished execution's thread waits a while for the next one before it ends, so a busy
//! runner reuses a few threads and an idle process keeps none.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

/// How long an idle thread waits for another execution before it ends.
const KEEP_IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The threads of every runner in the process.
static THREADS: LazyLock<Arc<Shared>> = LazyLock::new(Arc::default);

/// Runs `job` on an idle task thread, or on a new one (named `tilebox-task`) when none is idle.
pub(super) fn run(job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let shared = &*THREADS;
    let mut queue = shared.lock();
    if queue.idle > queue.jobs.len() {
        queue.jobs.push_back(Box::new(job));
        drop(queue);
        shared.ready.notify_one();
        return Ok(());
    }
    drop(queue);
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name("tilebox-task".into())
        .spawn(move || {
            job();
            serve(&shared);
        })?;
    Ok(())
}

/// Runs queued jobs until none came for [`KEEP_IDLE`].
fn serve(shared: &Shared) {
    let mut queue = shared.lock();
    loop {
        if let Some(job) = queue.jobs.pop_front() {
            drop(queue);
            // Executions catch their own panics; a stray one must not take the thread's count with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            queue = shared.lock();
            continue;
        }
        queue.idle += 1;
        let (guard, wait) = shared
            .ready
            .wait_timeout(queue, KEEP_IDLE)
            .unwrap_or_else(|p| p.into_inner());
        queue = guard;
        queue.idle -= 1;
        if wait.timed_out() && queue.jobs.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn jobs_run_and_threads_are_reused() {
        let (tx, rx) = mpsc::channel();
        let mut names = std::collections::HashSet::new();
        for i in 0..20 {
            let tx = tx.clone();
            run(move || {
                let _ = tx.send((i, std::thread::current().id()));
            })
            .unwrap();
            let (j, id) = rx.recv().unwrap();
            assert_eq!(i, j);
            names.insert(id);
            // One at a time: the next job finds the previous job's thread idle.
            while THREADS.lock().idle == 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(names.len(), 1, "one thread serves sequential jobs");
    }
}
