//! A small bounded pool of I/O threads that run blocking requests for the core's futures.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A unit of blocking work.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long an idle worker waits for work before its thread ends.
const IDLE_EXIT: Duration = Duration::from_secs(30);

/// Threads are started on demand up to `max_threads` and end after being idle for a while (or when the pool
/// is dropped), so an unused client holds no threads.
pub(crate) struct WorkerPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    max_threads: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WorkerPool {
    pub(crate) fn new(max_threads: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                max_threads: max_threads.max(1),
            }),
        }
    }

    /// Queue `job`; a new thread is started when none is idle and the limit allows.
    pub(crate) fn execute(&self, job: Job) {
        let mut state = self.shared.lock();
        state.queue.push_back(job);
        if state.idle == 0 && state.threads < self.shared.max_threads {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("tilebox-io".to_owned())
                .spawn(move || worker(&shared));
            match spawned {
                Ok(_) => state.threads += 1,
                Err(error) => {
                    tracing::warn!(%error, "could not start a tilebox I/O thread");
                    if state.threads == 0 {
                        // No thread at all: run the job here rather than never.
                        let job = state.queue.pop_back();
                        drop(state);
                        if let Some(job) = job {
                            job();
                        }
                        return;
                    }
                }
            }
        }
        self.shared.work.notify_one();
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
    }
}

fn worker(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            job();
            state = shared.lock();
            continue;
        }
        if state.shutdown {
            break;
        }
        state.idle += 1;
        let (next, wait) = shared
            .work
            .wait_timeout(state, IDLE_EXIT)
            .unwrap_or_else(|e| e.into_inner());
        state = next;
        state.idle -= 1;
        if wait.timed_out() && state.queue.is_empty() {
            break;
        }
    }
    state.threads -= 1;
}
