//! [`ThreadSleep`]: retry back-off without any async runtime.

use std::time::Duration;

use tilebox_core::{AsyncSleep, BoxFuture};

/// Sleeps with a timer thread (`futures-timer`), so it works under `futures::executor::block_on` and inside
/// any async runtime alike.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleep;

impl AsyncSleep for ThreadSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(futures_timer::Delay::new(duration))
    }
}
