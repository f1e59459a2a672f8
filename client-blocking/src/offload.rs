//! [`DecodePool`]: decoding work on worker threads, off the thread that drives a load.

use tilebox_core::threads::ThreadPool;
use tilebox_core::{Offload, OffloadJob};

use crate::transport::{IDLE_EXIT, run_or_inline};

/// Runs CPU-bound work (decoding pages into Arrow during a load) on up to one worker thread per core, so
/// decoding runs in parallel with the load instead of on the calling thread. Threads start on demand and end
/// when idle.
pub(crate) struct DecodePool {
    workers: ThreadPool,
}

impl DecodePool {
    /// A pool of up to one thread per available core.
    pub(crate) fn new() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        DecodePool {
            workers: ThreadPool::new("tilebox-io", threads, IDLE_EXIT),
        }
    }
}

impl Offload for DecodePool {
    fn spawn(&self, job: OffloadJob) {
        run_or_inline(&self.workers, job);
    }
}
