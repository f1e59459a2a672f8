//! Transport tests for `tilebox-blocking` (ureq on I/O threads), driven by `futures::executor::block_on`.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tilebox_blocking::{ThreadSleep, UreqTransport};
use tilebox_client_tests::transport_suite::TransportHarness;
use tilebox_core::{AsyncSleep, Transport};

struct Blocking;

impl TransportHarness for Blocking {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures::executor::block_on(future)
    }
    fn transport(&self, timeout: Option<Duration>) -> Arc<dyn Transport> {
        Arc::new(
            UreqTransport::builder()
                .timeout(timeout)
                .build()
                .expect("transport"),
        )
    }
    fn sleeper(&self) -> Arc<dyn AsyncSleep> {
        Arc::new(ThreadSleep)
    }
    fn cancels_in_flight(&self) -> bool {
        false
    }
}

tilebox_client_tests::transport_tests!(Blocking);

/// A request queued behind a busy I/O thread is never sent when its future is dropped first.
#[test]
fn dropped_queued_request_is_never_sent() {
    use tilebox_client_tests::loopback::{Action, LoopbackServer};
    let server = LoopbackServer::start(|_| Action::Hang);
    let transport = UreqTransport::builder()
        .io_threads(1)
        .build()
        .expect("transport");
    let request = |path: &str| {
        http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", server.url()))
            .body(bytes::Bytes::new())
            .unwrap()
    };
    futures::executor::block_on(async {
        let first = transport.send(request("/first"));
        let sleeper = ThreadSleep;
        let arrived = tilebox_client_tests::transport_suite::wait_until(
            &sleeper,
            "the first request arrives",
            || server.requests().len() == 1,
        );
        let second = transport.send(request("/second"));
        // The only I/O thread hangs on the first request; the second waits in the queue.
        let both = futures::future::select(first, second);
        match futures::future::select(both, std::pin::pin!(arrived)).await {
            futures::future::Either::Left(_) => panic!("a request to a hanging server completed"),
            futures::future::Either::Right(((), both)) => drop(both),
        }
    });
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].target, "/first");
}

/// Called from inside a tokio runtime, the blocking transport neither panics nor needs tokio.
#[tokio::test(flavor = "multi_thread")]
async fn works_inside_tokio() {
    use tilebox_client_tests::loopback::{Action, LoopbackServer, Reply};
    let server = LoopbackServer::start(|_| {
        Action::Reply(Reply::new(200, "application/proto", b"ok".to_vec()))
    });
    let transport = UreqTransport::new();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}/a.B/C", server.url()))
        .body(bytes::Bytes::new())
        .unwrap();
    let response = futures::executor::block_on(transport.send(request)).unwrap();
    assert_eq!(response.body().as_ref(), b"ok");
}
