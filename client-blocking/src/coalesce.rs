//! One write per small request: a ureq connector layer that holds a request's head back until its body (or
//! the wait for the response) so both leave in one `send`.
//!
//! ureq writes the head and the body of a request with two writes. On a connection with `TCP_NODELAY` that
//! is two segments, and the server wakes up twice: once for a head it cannot act on yet, once for the
//! body. For the SDK's small Connect requests (a few hundred bytes) that second wake-up is a large part of a
//! loopback round trip, e.g. for the workflows runner's `NextTask` loop. Large bodies pass through as before:
//! only a head that fits in the output buffer together with the first body chunk is held back.
//!
//! The same layer skips a redundant liveness probe: ureq probes a pooled connection (three system calls)
//! when it goes back to the pool and again when it is taken out, for back-to-back requests microseconds
//! later. A probe within [`PROBE_FRESH`] of a successful one, with no I/O in between, is answered from it.

use std::time::{Duration, Instant};

use ureq::Error;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// How long a successful liveness probe answers for (with no I/O since).
const PROBE_FRESH: Duration = Duration::from_millis(1);

/// Wraps every transport of the chain before it in a [`CoalescingTransport`].
#[derive(Debug, Default)]
pub(crate) struct CoalescingConnector;

impl<In: Transport> Connector<In> for CoalescingConnector {
    type Out = CoalescingTransport<In>;

    fn connect(
        &self,
        _: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        Ok(chained.map(CoalescingTransport::new))
    }
}

/// A transport whose first small write of a request waits for the next write or the first read.
#[derive(Debug)]
pub(crate) struct CoalescingTransport<T> {
    inner: T,
    /// Bytes handed to [`Transport::transmit_output`] but not sent yet (at most one small write).
    held: Vec<u8>,
    /// The timeout of the write that was held back.
    held_timeout: Option<NextTimeout>,
    /// When the connection last passed a liveness probe, if no I/O happened since.
    probed_open: Option<Instant>,
}

impl<T: Transport> CoalescingTransport<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            held: Vec::new(),
            held_timeout: None,
            probed_open: None,
        }
    }

    /// Sends the held bytes, if any, on their own.
    fn flush(&mut self) -> Result<(), Error> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let timeout = self.held_timeout.take();
        let output = self.inner.buffers().output();
        // The held bytes came from this buffer, so they fit; whatever it held after them was already sent.
        output[..held.len()].copy_from_slice(&held);
        let result = match timeout {
            Some(timeout) => self.inner.transmit_output(held.len(), timeout),
            None => Ok(()),
        };
        self.held = held;
        self.held.clear();
        result
    }
}

impl<T: Transport> Transport for CoalescingTransport<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.probed_open = None;
        let capacity = self.inner.buffers().output().len();
        if self.held.is_empty() {
            if amount > 0 && amount <= capacity / 2 {
                // Possibly a head: hold it for the body that usually follows.
                let output = self.inner.buffers().output();
                self.held.extend_from_slice(&output[..amount]);
                self.held_timeout = Some(timeout);
                return Ok(());
            }
            return self.inner.transmit_output(amount, timeout);
        }
        let held = self.held.len();
        if held + amount <= capacity {
            // Both in one write: move the new bytes behind the held ones.
            let output = self.inner.buffers().output();
            output.copy_within(..amount, held);
            output[..held].copy_from_slice(&self.held);
            self.held.clear();
            self.held_timeout = None;
            return self.inner.transmit_output(held + amount, timeout);
        }
        // Too large to join: the held bytes first, then the new ones.
        let new = self.inner.buffers().output()[..amount].to_vec();
        self.flush()?;
        self.inner.buffers().output()[..amount].copy_from_slice(&new);
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        // The request is complete when ureq waits for the answer.
        self.probed_open = None;
        self.flush()?;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.is_open_at(Instant::now())
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl<T: Transport> CoalescingTransport<T> {
    /// [`Transport::is_open`] at `now`.
    fn is_open_at(&mut self, now: Instant) -> bool {
        // Bytes still held belong to a request that was abandoned half-way: the connection is not reusable.
        if !self.held.is_empty() {
            return false;
        }
        if self
            .probed_open
            .take()
            .is_some_and(|at| now.saturating_duration_since(at) < PROBE_FRESH)
        {
            return true;
        }
        let open = self.inner.is_open();
        if open {
            self.probed_open = Some(now);
        }
        open
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ureq::unversioned::transport::LazyBuffers;

    use super::*;

    /// Records every write that reaches it.
    #[derive(Debug)]
    struct Recorder {
        buffers: LazyBuffers,
        sent: Vec<Vec<u8>>,
        probes: usize,
    }

    impl Transport for Recorder {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }

        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), Error> {
            self.sent.push(self.buffers.output()[..amount].to_vec());
            Ok(())
        }

        fn await_input(&mut self, _: NextTimeout) -> Result<bool, Error> {
            Ok(false)
        }

        fn is_open(&mut self) -> bool {
            self.probes += 1;
            true
        }
    }

    const CAPACITY: usize = 1024;

    fn transport() -> CoalescingTransport<Recorder> {
        CoalescingTransport::new(Recorder {
            buffers: LazyBuffers::new(CAPACITY, CAPACITY),
            sent: Vec::new(),
            probes: 0,
        })
    }

    /// Writes `bytes` the way ureq does: into the output buffer, then `transmit_output`.
    fn write(t: &mut CoalescingTransport<Recorder>, bytes: &[u8]) {
        t.buffers().output()[..bytes.len()].copy_from_slice(bytes);
        t.transmit_output(bytes.len(), NextTimeout::default())
            .unwrap();
    }

    #[test]
    fn a_small_head_and_body_leave_in_one_write() {
        let mut t = transport();
        write(&mut t, b"POST / HTTP/1.1\r\n\r\n");
        assert!(t.inner.sent.is_empty(), "the head waits for the body");
        assert!(
            !t.is_open(),
            "a connection holding half a request is not reusable"
        );
        write(&mut t, b"body");
        assert_eq!(t.inner.sent, vec![b"POST / HTTP/1.1\r\n\r\nbody".to_vec()]);
        t.await_input(NextTimeout::default()).unwrap();
        assert_eq!(t.inner.sent.len(), 1, "nothing is sent twice");
        assert!(t.is_open());
    }

    #[test]
    fn a_head_without_body_leaves_when_the_answer_is_awaited() {
        let mut t = transport();
        write(&mut t, b"GET / HTTP/1.1\r\n\r\n");
        assert!(t.inner.sent.is_empty());
        t.await_input(NextTimeout::default()).unwrap();
        assert_eq!(t.inner.sent, vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()]);
    }

    #[test]
    fn large_writes_keep_their_order() {
        let mut t = transport();
        let head = vec![b'h'; 100];
        let chunk = vec![b'b'; CAPACITY - 10];
        write(&mut t, &head);
        write(&mut t, &chunk);
        write(&mut t, &chunk);
        assert_eq!(t.inner.sent, vec![head, chunk.clone(), chunk]);
        // A first write of more than half the buffer is not held.
        let mut t = transport();
        let big = vec![b'x'; CAPACITY / 2 + 1];
        write(&mut t, &big);
        assert_eq!(t.inner.sent, vec![big]);
    }

    #[test]
    fn a_probe_right_after_a_successful_one_is_answered_from_it() {
        let mut t = transport();
        write(&mut t, b"GET / HTTP/1.1\r\n\r\n");
        t.await_input(NextTimeout::default()).unwrap();
        let now = Instant::now();
        // Back to the pool, then out again for the next request: one real probe.
        assert!(t.is_open_at(now));
        assert!(t.is_open_at(now + Duration::from_micros(50)));
        assert_eq!(t.inner.probes, 1);
        // A third check probes again, and so does one after I/O or once the probe is stale.
        assert!(t.is_open_at(now + Duration::from_micros(60)));
        assert_eq!(t.inner.probes, 2);
        write(&mut t, b"GET / HTTP/1.1\r\n\r\n");
        t.await_input(NextTimeout::default()).unwrap();
        assert!(t.is_open_at(now + Duration::from_micros(70)));
        assert_eq!(t.inner.probes, 3);
        assert!(t.is_open_at(now + Duration::from_micros(70) + PROBE_FRESH));
        assert_eq!(t.inner.probes, 4);
    }
}
