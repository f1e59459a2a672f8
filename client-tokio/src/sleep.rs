//! [`TokioSleep`]: retry back-off on the tokio timer.

use std::time::Duration;

use tilebox_core::{AsyncSleep, BoxFuture};

/// Sleeps with `tokio::time::sleep` (must be polled inside a tokio runtime with the time driver enabled).
///
/// Polled by a blocking call on a current-thread runtime's thread, whose timer nothing drives while the
/// thread blocks, the sleep runs on the transport's I/O runtime instead (see [`ReqwestTransport`]).
///
/// [`ReqwestTransport`]: crate::ReqwestTransport
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // Created lazily, so the future may be built outside the runtime and polled inside it.
        Box::pin(async move {
            if crate::transport::blocking_a_current_thread_runtime()
                && let Ok(runtime) = crate::transport::io_runtime()
            {
                // A failed join (runtime shut down) just ends the wait early: the retry then goes ahead.
                let _ = runtime.spawn(tokio::time::sleep(duration)).await;
            } else {
                tokio::time::sleep(duration).await;
            }
        })
    }
}
