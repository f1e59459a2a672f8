//! [`AsyncIoSleep`]: retry back-off on async-io's timer.

use std::time::Duration;

use tilebox_core::{AsyncSleep, BoxFuture};

/// Sleeps with an `async_io::Timer`: works under async-std, smol, or any executor (the async-io reactor
/// drives itself when no `async_io::block_on` is running). Never touches tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIoSleep;

impl AsyncSleep for AsyncIoSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            async_io::Timer::after(duration).await;
        })
    }
}
