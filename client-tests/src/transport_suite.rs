//! The transport tests, written once and run for every adapter (see [`transport_tests!`]).
//!
//! Each adapter's test file implements [`TransportHarness`] (how to block on a future, how to build its
//! transport and sleep) and invokes the macro, which expands to one `#[test]` per function here.

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::{Either, select};
use tilebox_core::{AsyncSleep, HttpRequest, Transport, TransportError};

use crate::loopback::{Action, LoopbackServer, Reply};

/// What the transport tests need from an adapter.
pub trait TransportHarness {
    /// Run a future to completion on the adapter's executor.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    /// A fresh transport with an optional whole-request timeout.
    fn transport(&self, timeout: Option<Duration>) -> Arc<dyn Transport>;
    /// The adapter's retry sleep.
    fn sleeper(&self) -> Arc<dyn AsyncSleep>;
    /// Whether dropping a request future closes its connection (true for the async adapters; the blocking
    /// one can only skip requests that have not started yet).
    fn cancels_in_flight(&self) -> bool {
        true
    }
}

fn post(url: &str, path: &str, body: &'static [u8]) -> HttpRequest {
    http::Request::builder()
        .method("POST")
        .uri(format!("{url}{path}"))
        .header("content-type", "application/proto")
        .header("connect-protocol-version", "1")
        .header("authorization", "Bearer secret-key")
        .body(Bytes::from_static(body))
        .expect("valid request")
}

/// Wait (polling with the adapter's own sleep) until `condition` holds; panics after 10 s.
pub async fn wait_until(sleep: &dyn AsyncSleep, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep.sleep(Duration::from_millis(5)).await;
    }
}

/// Method, target, headers and body arrive as sent; status, headers and body come back untouched.
pub fn round_trip<H: TransportHarness>(h: &H) {
    let server = LoopbackServer::start(|req| {
        let mut body = req.body.clone();
        body.reverse();
        Action::Reply(
            Reply::new(200, "application/proto", body)
                .header("x-seen-auth", req.header("authorization").unwrap_or("")),
        )
    });
    let transport = h.transport(None);
    let response = h
        .block_on(transport.send(post(
            &server.url(),
            "/datasets.v1.DatasetService/ListDatasets?x=1",
            b"\x01\x02\x03",
        )))
        .expect("request succeeds");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/proto");
    assert_eq!(response.headers()["x-seen-auth"], "Bearer secret-key");
    assert_eq!(response.body().as_ref(), b"\x03\x02\x01");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/datasets.v1.DatasetService/ListDatasets?x=1");
    assert_eq!(req.header("content-type"), Some("application/proto"));
    assert_eq!(req.header("connect-protocol-version"), Some("1"));
    assert_eq!(
        req.header("host"),
        Some(server.url().trim_start_matches("http://"))
    );
    assert_eq!(req.body, b"\x01\x02\x03");
}

/// Error statuses are responses, not transport errors (the core maps them).
pub fn error_status_is_a_response<H: TransportHarness>(h: &H) {
    let json = br#"{"code":"unavailable","message":"try later"}"#;
    let server = LoopbackServer::start(move |_| {
        Action::Reply(Reply::new(503, "application/json", json.to_vec()))
    });
    let transport = h.transport(None);
    let response = h
        .block_on(transport.send(post(&server.url(), "/a.B/C", b"")))
        .expect("a response");
    assert_eq!(response.status(), 503);
    assert_eq!(response.body().as_ref(), json);
}

/// A gzip body is handed back still compressed with its `Content-Encoding` (the core decodes it).
pub fn gzip_body_untouched<H: TransportHarness>(h: &H) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&[7u8; 4096]).expect("gzip");
    let gz = encoder.finish().expect("gzip");
    let reply_body = gz.clone();
    let server = LoopbackServer::start(move |_| {
        Action::Reply(
            Reply::new(200, "application/proto", reply_body.clone())
                .header("content-encoding", "gzip"),
        )
    });
    let transport = h.transport(None);
    let response = h
        .block_on(transport.send(post(&server.url(), "/a.B/C", b"")))
        .expect("a response");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.body().as_ref(), gz.as_slice());
}

/// Sequential requests reuse one keep-alive connection.
pub fn connection_reused<H: TransportHarness>(h: &H) {
    let server = LoopbackServer::start(|_| {
        Action::Reply(Reply::new(200, "application/proto", b"ok".to_vec()))
    });
    let transport = h.transport(None);
    for _ in 0..20 {
        let response = h
            .block_on(transport.send(post(&server.url(), "/a.B/C", b"x")))
            .expect("a response");
        assert_eq!(response.body().as_ref(), b"ok");
    }
    assert_eq!(server.requests().len(), 20);
    // reqwest hands a connection back to its pool from a background task, so a request can occasionally
    // race ahead and open a second one; no more than that.
    assert!(
        server.connections() <= 2,
        "sequential requests reuse pooled connections, got {}",
        server.connections()
    );
}

/// A connection the server closed is noticed and replaced.
pub fn server_closed_connection_replaced<H: TransportHarness>(h: &H) {
    let server = LoopbackServer::start(|_| {
        let mut reply = Reply::new(200, "application/proto", b"ok".to_vec());
        reply.close = true;
        Action::Reply(reply)
    });
    let transport = h.transport(None);
    for _ in 0..5 {
        let response = h
            .block_on(transport.send(post(&server.url(), "/a.B/C", b"x")))
            .expect("a response");
        assert_eq!(response.body().as_ref(), b"ok");
    }
    assert_eq!(server.connections(), 5);
}

/// Requests issued together are in flight together: the server only answers once all 6 have arrived.
pub fn concurrent_requests<H: TransportHarness>(h: &H) {
    const N: usize = 6;
    let gate = Arc::new((Mutex::new(0usize), Condvar::new()));
    let server_gate = Arc::clone(&gate);
    let server = LoopbackServer::start(move |_| {
        let (count, cv) = &*server_gate;
        let mut count = count.lock().expect("gate");
        *count += 1;
        cv.notify_all();
        let (count, _) = cv
            .wait_timeout_while(count, Duration::from_secs(10), |c| *c < N)
            .expect("gate");
        let status = if *count >= N { 200 } else { 500 };
        Action::Reply(Reply::new(status, "application/proto", b"".to_vec()))
    });
    let transport = h.transport(None);
    let url = server.url();
    let responses = h.block_on(futures::future::join_all(
        (0..N).map(|_| transport.send(post(&url, "/a.B/C", b"x"))),
    ));
    for response in responses {
        assert_eq!(
            response.expect("a response").status(),
            200,
            "all requests were in flight at once"
        );
    }
}

/// Nothing listening: a connect error (retryable).
pub fn connect_refused<H: TransportHarness>(h: &H) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let transport = h.transport(None);
    let error = h
        .block_on(transport.send(post(&format!("http://127.0.0.1:{port}"), "/a.B/C", b"")))
        .expect_err("nothing listens");
    assert!(matches!(error, TransportError::Connect(_)), "got {error:?}");
    assert!(error.is_retryable());
}

/// A server that never answers: the request timeout fires and the connection is closed.
pub fn timeout<H: TransportHarness>(h: &H) {
    let server = LoopbackServer::start(|_| Action::Hang);
    let transport = h.transport(Some(Duration::from_millis(300)));
    let error = h
        .block_on(transport.send(post(&server.url(), "/a.B/C", b"")))
        .expect_err("times out");
    assert!(matches!(error, TransportError::Timeout(_)), "got {error:?}");
    let sleeper = h.sleeper();
    h.block_on(wait_until(
        &*sleeper,
        "the server sees the connection closed",
        || server.abandoned() == 1,
    ));
}

/// Dropping a request future abandons the request: the server sees the connection close.
pub fn dropped_future_abandons_request<H: TransportHarness>(h: &H) {
    let server = LoopbackServer::start(|_| Action::Hang);
    let transport = h.transport(None);
    let sleeper = h.sleeper();
    h.block_on(async {
        let send = transport.send(post(&server.url(), "/a.B/C", b""));
        let arrived = wait_until(&*sleeper, "the request reaches the server", || {
            server.requests().len() == 1
        });
        match select(send, std::pin::pin!(arrived)).await {
            Either::Left((result, _)) => panic!("a hanging request completed: {result:?}"),
            Either::Right(((), send)) => drop(send),
        }
    });
    if h.cancels_in_flight() {
        h.block_on(wait_until(
            &*sleeper,
            "the server sees the request abandoned",
            || server.abandoned() == 1,
        ));
    }
}

/// The adapter's sleep completes.
pub fn sleep_completes<H: TransportHarness>(h: &H) {
    let sleeper = h.sleeper();
    let start = Instant::now();
    h.block_on(sleeper.sleep(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

/// `https` really does a TLS handshake: a peer speaking plain HTTP makes it fail as a connection error.
pub fn https_requires_tls<H: TransportHarness>(h: &H) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let transport = h.transport(Some(Duration::from_secs(10)));
    let error = h
        .block_on(transport.send(post(&format!("https://localhost:{port}"), "/a.B/C", b"")))
        .expect_err("not a TLS server");
    assert!(
        matches!(error, TransportError::Connect(_) | TransportError::Io(_)),
        "got {error:?}"
    );
}

/// Expands to one `#[test]` per transport test for the harness built by `$make`.
#[macro_export]
macro_rules! transport_tests {
    ($make:expr) => {
        $crate::transport_tests!(@tests $make;
            round_trip, error_status_is_a_response, gzip_body_untouched, connection_reused,
            server_closed_connection_replaced, concurrent_requests, connect_refused, timeout,
            dropped_future_abandons_request, sleep_completes, https_requires_tls);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let harness = $make;
                $crate::transport_suite::$name(&harness);
            }
        )*
    };
}
