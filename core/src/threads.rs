//! [`ThreadPool`]: OS threads started on demand, reused while work keeps coming and ended when idle. The
//! blocking adapter runs its requests and decoding on such pools, the workflows runner its sync tasks.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A unit of work for a [`ThreadPool`].
pub type PoolJob = Box<dyn FnOnce() + Send + 'static>;

/// A job a [`ThreadPool`] could not start: no thread could be spawned and none was there to take it.
pub struct Unstarted {
    /// Why the thread could not be spawned.
    pub error: std::io::Error,
    /// The job, handed back to run elsewhere or drop.
    pub job: PoolJob,
}

impl std::fmt::Debug for Unstarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unstarted")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Threads started on demand up to a limit; an idle thread waits `keep_idle` for more work before it ends,
/// so a busy pool reuses its threads and an unused one holds none. Dropping the pool lets its threads end
/// once the queue is empty. A job that panics does not take its thread down.
pub struct ThreadPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    name: String,
    max_threads: usize,
    keep_idle: Duration,
}

#[derive(Default)]
struct State {
    queue: VecDeque<PoolJob>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("name", &self.shared.name)
            .field("max_threads", &self.shared.max_threads)
            .finish_non_exhaustive()
    }
}

impl ThreadPool {
    /// A pool of at most `max_threads` threads named `name`, each ending after `keep_idle` without work.
    pub fn new(name: &str, max_threads: usize, keep_idle: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                name: name.to_owned(),
                max_threads: max_threads.max(1),
                keep_idle,
            }),
        }
    }

    /// Queues `job`; a new thread starts when the queued jobs outnumber the idle threads and the limit
    /// allows.
    ///
    /// Idle threads count as free only until they wake: in a burst (a concurrent load starts its first
    /// requests back to back) every job after the first would otherwise wait for the one idle thread instead
    /// of getting a thread of its own.
    pub fn execute(&self, job: PoolJob) -> Result<(), Unstarted> {
        let mut state = self.shared.lock();
        state.queue.push_back(job);
        if state.queue.len() > state.idle && state.threads < self.shared.max_threads {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name(self.shared.name.clone())
                .spawn(move || worker(&shared));
            match spawned {
                Ok(_) => state.threads += 1,
                Err(error) if state.threads == 0 => {
                    let job = state.queue.pop_back().expect("the job just queued");
                    return Err(Unstarted { error, job });
                }
                // The threads there are take the job.
                Err(_) => {}
            }
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }
}

impl Drop for ThreadPool {
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
            // Jobs report their own outcome; a stray panic must not take the thread's count with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            state = shared.lock();
            continue;
        }
        if state.shutdown {
            break;
        }
        state.idle += 1;
        let (next, wait) = shared
            .work
            .wait_timeout(state, shared.keep_idle)
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

    fn run(pool: &ThreadPool, job: impl FnOnce() + Send + 'static) {
        pool.execute(Box::new(job)).expect("a thread starts");
    }

    /// Jobs that only finish once all of them run at the same time: each reports whether the others
    /// arrived before a generous deadline (a guard against hanging, not a measurement).
    fn rendezvous(pool: &ThreadPool, jobs: usize) -> Vec<bool> {
        let meeting = Arc::new((Mutex::new(0usize), Condvar::new()));
        let (tx, rx) = mpsc::channel();
        for _ in 0..jobs {
            let meeting = Arc::clone(&meeting);
            let tx = tx.clone();
            run(pool, move || {
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
            });
        }
        (0..jobs).map(|_| rx.recv().expect("job ran")).collect()
    }

    #[test]
    fn a_burst_of_jobs_after_idle_time_gets_a_thread_each() {
        let pool = ThreadPool::new("test", 6, Duration::from_secs(30));
        // One earlier request leaves one idle thread behind.
        let (tx, rx) = mpsc::channel();
        run(&pool, move || tx.send(()).expect("report"));
        rx.recv().expect("job ran");
        while pool.shared.lock().idle == 0 {
            std::thread::yield_now();
        }
        assert_eq!(rendezvous(&pool, 6), vec![true; 6]);
        assert_eq!(pool.shared.lock().threads, 6);
    }

    #[test]
    fn threads_never_exceed_the_limit() {
        let pool = ThreadPool::new("test", 3, Duration::from_secs(30));
        assert_eq!(rendezvous(&pool, 3), vec![true; 3]);
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            let tx = tx.clone();
            run(&pool, move || tx.send(i).expect("report"));
        }
        let mut done: Vec<i32> = (0..20).map(|_| rx.recv().expect("job ran")).collect();
        done.sort_unstable();
        assert_eq!(done, (0..20).collect::<Vec<_>>());
        assert!(pool.shared.lock().threads <= 3);
    }

    #[test]
    fn sequential_jobs_reuse_one_thread() {
        let pool = ThreadPool::new("test", usize::MAX, Duration::from_secs(30));
        let (tx, rx) = mpsc::channel();
        let mut threads = std::collections::HashSet::new();
        for i in 0..20 {
            let tx = tx.clone();
            run(&pool, move || {
                let _ = tx.send((i, std::thread::current().id()));
            });
            let (j, id) = rx.recv().expect("job ran");
            assert_eq!(i, j);
            threads.insert(id);
            // One at a time: the next job finds the previous job's thread idle.
            while pool.shared.lock().idle == 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(threads.len(), 1, "one thread serves sequential jobs");
    }

    #[test]
    fn a_panicking_job_keeps_its_thread() {
        let pool = ThreadPool::new("test", 1, Duration::from_secs(30));
        run(&pool, || panic!("job panics"));
        let (tx, rx) = mpsc::channel();
        run(&pool, move || tx.send(()).expect("report"));
        rx.recv().expect("the next job runs");
        assert_eq!(pool.shared.lock().threads, 1);
    }
}
