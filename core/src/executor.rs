//! [`block_on`]: run a future to completion on the calling thread, whatever runtime that thread belongs to.
//!
//! This is the one rule for every blocking entry point of the SDK (the blocking datasets client, the blocking
//! workflows client, the runner's blocking `run_*` methods): they park the calling thread until the future is
//! done and never hand it to a runtime's own `block_on`. So they work inside any async runtime (tokio,
//! async-std, smol, `futures`) without a nested-runtime panic; there they block that thread like any blocking
//! call, and the async variants are the better choice. The futures they drive need no runtime of their own
//! when the transport does its I/O elsewhere (the blocking adapter's I/O threads, async-io's reactor thread).

use std::cell::Cell;
use std::future::Future;
use std::pin::{Pin, pin};
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
        let poll = {
            let _restore = Restore::set(&IN_BLOCK_ON);
            future.as_mut().poll(&mut cx)
        };
        if let Poll::Ready(output) = poll {
            return output;
        }
        std::thread::park();
    }
}

/// Whether the future being polled on this thread is driven by [`block_on`], i.e. the thread stays blocked
/// until it completes. A transport whose I/O is driven by a runtime on the same thread (a current-thread
/// tokio runtime) must then do its I/O elsewhere, or it would wait for itself.
pub fn in_block_on() -> bool {
    IN_BLOCK_ON.with(Cell::get)
}

/// Sets a thread-local flag until dropped, then restores its previous value (also when a poll panics).
struct Restore {
    flag: &'static std::thread::LocalKey<Cell<bool>>,
    previous: bool,
}

impl Restore {
    fn set(flag: &'static std::thread::LocalKey<Cell<bool>>) -> Self {
        Restore {
            flag,
            previous: flag.with(|f| f.replace(true)),
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.previous;
        self.flag.with(|f| f.set(previous));
    }
}

thread_local! {
    /// Whether the future being polled on this thread is driven by [`block_on`].
    static IN_BLOCK_ON: Cell<bool> = const { Cell::new(false) };
    /// Whether the future being polled on this thread lets a blocking transport run its I/O in place.
    static INLINE_IO: Cell<bool> = const { Cell::new(false) };
}

/// Polls `future` with blocking I/O allowed in place: a blocking transport (the blocking adapter's) runs a
/// request that this future starts on the polling thread itself, instead of handing it to one of its I/O
/// threads and parking until the answer comes back (two thread switches saved per request).
///
/// Only for a future that is the one thing its thread waits for, driven by [`block_on`], e.g. a blocking
/// loop that sends one request at a time: while a request runs in place nothing else on that thread is
/// polled, so concurrent requests started inside `future` would run one after another.
pub fn inline_io<F: Future>(future: F) -> InlineIo<F> {
    InlineIo {
        future: Box::pin(future),
    }
}

/// Whether the future being polled on this thread allows blocking I/O in place (see [`inline_io`]).
pub fn inline_io_allowed() -> bool {
    INLINE_IO.with(Cell::get)
}

/// The future of [`inline_io`].
pub struct InlineIo<F> {
    future: Pin<Box<F>>,
}

impl<F> std::fmt::Debug for InlineIo<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineIo").finish_non_exhaustive()
    }
}

impl<F: Future> Future for InlineIo<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _restore = Restore::set(&INLINE_IO);
        self.future.as_mut().poll(cx)
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

    #[test]
    fn in_block_on_is_set_only_while_block_on_polls() {
        assert!(!in_block_on());
        assert!(block_on(async { in_block_on() }));
        assert!(!in_block_on());
    }

    #[test]
    fn inline_io_is_allowed_only_while_its_future_is_polled() {
        assert!(!inline_io_allowed());
        let inside = block_on(inline_io(async { inline_io_allowed() }));
        assert!(inside);
        assert!(!inline_io_allowed());
        // Nested: the inner scope ends without clearing the outer one.
        let (outer_after, inner) = block_on(inline_io(async {
            let inner = inline_io(async { inline_io_allowed() }).await;
            (inline_io_allowed(), inner)
        }));
        assert!(outer_after && inner);
        assert!(!inline_io_allowed());
        // A panicking poll restores the setting too.
        let caught = std::panic::catch_unwind(|| {
            block_on(inline_io(async { panic!("inside") }));
        });
        assert!(caught.is_err());
        assert!(!inline_io_allowed());
    }
}
