//! [`TokioOffload`]: decoding work on tokio's blocking threads.

use tilebox_core::{Offload, OffloadJob};

/// Runs CPU-bound work (decoding pages into Arrow during a load) with `spawn_blocking` on the current tokio
/// runtime, so it runs in parallel with the load; outside a runtime it runs in place.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioOffload;

impl Offload for TokioOffload {
    fn spawn(&self, job: OffloadJob) {
        match tokio::runtime::Handle::try_current() {
            // The job reports through its own channel; the join handle is not needed.
            Ok(handle) => drop(handle.spawn_blocking(job)),
            Err(_) => job(),
        }
    }
}
