//! [`block_on`]: run a future to completion on the calling thread, whatever runtime that thread belongs to.
//!
//! This is the one rule for every blocking entry point of the SDK (the blocking datasets client, the blocking
//! workflows client, the runner's blocking `run_*` methods): they park the calling thread until the future is
//! done and never hand it to a runtime's own `block_on`. So they work inside any async runtime (tokio,
//! async-std, smol, `futures`) without a nested-runtime panic; there they block that thread like any blocking
//! call, and the async variants are the better choice. The futures they drive need no runtime of their own
//! when the transport does its I/O elsewhere (the blocking adapter's I/O threads, async-io's reactor thread).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// Wakes a parked thread.
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Poll `future` on this thread, parking between wake-ups, and return its output.
///
/// Unlike `futures::executor::block_on` this has no "already inside an executor" check, so it may be called
/// from any runtime's thread and nested inside itself.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_cross_thread_wakeups_complete() {
        let (tx, rx) = futures::channel::oneshot::channel();
        let t = std::thread::spawn(move || tx.send(block_on(async { block_on(async { 3 }) })));
        assert_eq!(block_on(rx), Ok(3));
        assert!(t.join().is_ok());
    }
}
