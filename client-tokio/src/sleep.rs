//! [`TokioSleep`]: retry back-off on the tokio timer.

use std::time::Duration;

use tilebox_core::{AsyncSleep, BoxFuture};

/// Sleeps with `tokio::time::sleep` (must be polled inside a tokio runtime with the time driver enabled).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // Created lazily, so the future may be built outside the runtime and polled inside it.
        Box::pin(async move { tokio::time::sleep(duration).await })
    }
}
