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

    /// Queue `job`; a new thread is started when the queued jobs outnumber the idle threads and the limit
    /// allows.
    ///
    /// Idle threads count as free only until they wake: in a burst (a concurrent load starts its first
    /// requests back to back) every job after the first would otherwise wait for the one idle thread instead
    /// of getting a thread of its own.
    pub(crate) fn execute(&self, job: Job) {
        let mut state = self.shared.lock();
        state.queue.push_back(job);
        if state.queue.len() > state.idle && state.threads < self.shared.max_threads {
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// Jobs that only finish once all of them run at the same time: each reports whether the others
    /// arrived before a generous deadline (a guard against hanging, not a measurement).
    fn rendezvous(pool: &WorkerPool, jobs: usize) -> Vec<bool> {
        let meeting = Arc::new((Mutex::new(0usize), Condvar::new()));
        let (tx, rx) = mpsc::channel();
        for _ in 0..jobs {
            let meeting = Arc::clone(&meeting);
            let tx = tx.clone();
            pool.execute(Box::new(move || {
                let (arrived, all_there) = &*meeting;
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut count = arrived.lock().expect("lock");
                *count += 1;
                all_there.notify_all();
                while *count < jobs {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    count = all_there.wait_timeout(count, left).expect("wait").0;
                }
                tx.send(*count >= jobs).expect("report");
            }));
        }
        (0..jobs).map(|_| rx.recv().expect("job ran")).collect()
    }

    #[test]
    fn a_burst_of_jobs_after_idle_time_gets_a_thread_each() {
        let pool = WorkerPool::new(6);
        // One earlier request leaves one idle thread behind.
        let (tx, rx) = mpsc::channel();
        pool.execute(Box::new(move || tx.send(()).expect("report")));
        rx.recv().expect("job ran");
        while pool.shared.lock().idle == 0 {
            std::thread::yield_now();
        }
        assert_eq!(rendezvous(&pool, 6), vec![true; 6]);
        assert_eq!(pool.shared.lock().threads, 6);
    }

    #[test]
    fn threads_never_exceed_the_limit() {
        let pool = WorkerPool::new(3);
        assert_eq!(rendezvous(&pool, 3), vec![true; 3]);
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            let tx = tx.clone();
            pool.execute(Box::new(move || tx.send(i).expect("report")));
        }
        let mut done: Vec<i32> = (0..20).map(|_| rx.recv().expect("job ran")).collect();
        done.sort_unstable();
        assert_eq!(done, (0..20).collect::<Vec<_>>());
        assert!(pool.shared.lock().threads <= 3);
    }
}
