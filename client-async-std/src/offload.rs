//! [`BlockingOffload`]: decoding work on the `blocking` thread pool shared by async-std and smol.

use tilebox_core::{Offload, OffloadJob};

/// Runs CPU-bound work (decoding pages into Arrow during a load) on the `blocking` crate's thread pool, the
/// one async-std and smol use for blocking calls, so it runs in parallel with the load.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BlockingOffload;

impl Offload for BlockingOffload {
    fn spawn(&self, job: OffloadJob) {
        // The job reports through its own channel; the task handle is not needed.
        blocking::unblock(job).detach();
    }
}
