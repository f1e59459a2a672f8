//! Retries through `RpcClient`: which failures are retried, how many attempts, and the back-off sequence,
//! with a scripted fake transport and a fake sleep that records the requested durations.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::executor::block_on;
use prost::Message;
use tilebox_core::connect::error_body;
use tilebox_core::wire::datasets::v1 as pb;
use tilebox_core::{
    AsyncSleep, BoxFuture, ClientConfig, Code, Error, HttpRequest, HttpResponse, RetryPolicy,
    RpcClient, Transport, TransportError,
};

type Answer = Result<HttpResponse, TransportError>;

/// Answers with a scripted sequence; repeats the last answer when the script runs out.
struct Scripted {
    script: Mutex<VecDeque<Answer>>,
    last: Mutex<Option<Answer>>,
    calls: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(script: Vec<Answer>) -> Arc<Self> {
        Arc::new(Scripted {
            script: Mutex::new(script.into()),
            last: Mutex::new(None),
            calls: Mutex::default(),
        })
    }
    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

fn clone_answer(a: &Answer) -> Answer {
    match a {
        Ok(r) => {
            let mut b = http::Response::builder().status(r.status());
            for (k, v) in r.headers() {
                b = b.header(k, v);
            }
            Ok(b.body(r.body().clone()).unwrap())
        }
        Err(e) => Err(e.clone()),
    }
}

impl Transport for Scripted {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Answer> {
        self.calls
            .lock()
            .unwrap()
            .push(request.uri().path().to_owned());
        let next = self.script.lock().unwrap().pop_front();
        let answer = match next {
            Some(a) => {
                *self.last.lock().unwrap() = Some(clone_answer(&a));
                a
            }
            None => clone_answer(self.last.lock().unwrap().as_ref().expect("empty script")),
        };
        Box::pin(async move { answer })
    }
}

#[derive(Default)]
struct RecordingSleep {
    slept: Mutex<Vec<Duration>>,
}

impl AsyncSleep for RecordingSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.slept.lock().unwrap().push(duration);
        Box::pin(async {})
    }
}

fn connect_error(code: Code) -> Answer {
    Ok(http::Response::builder()
        .status(code.http_status())
        .header("content-type", "application/json")
        .body(error_body(code, "try later"))
        .unwrap())
}

fn http_status(status: u16) -> Answer {
    Ok(http::Response::builder()
        .status(status)
        .header("content-type", "text/html")
        .body(Bytes::from_static(b"<html>gateway</html>"))
        .unwrap())
}

fn ok_dataset() -> Answer {
    let body = pb::Dataset {
        name: "ok".into(),
        ..Default::default()
    }
    .encode_to_vec();
    Ok(http::Response::builder()
        .status(200)
        .header("content-type", "application/proto")
        .body(Bytes::from(body))
        .unwrap())
}

/// The default back-off without jitter, limited to 5 attempts (the attempt-count rules below).
fn no_jitter() -> RetryPolicy {
    RetryPolicy::builder().jitter(false).max_attempts(5).build()
}

fn run(
    policy: RetryPolicy,
    script: Vec<Answer>,
) -> (Result<pb::Dataset, Error>, usize, Vec<Duration>) {
    let transport = Scripted::new(script);
    let sleep = Arc::new(RecordingSleep::default());
    let config = ClientConfig::builder()
        .url("http://127.0.0.1:1")
        .anonymous()
        .retry(policy)
        .build();
    let client = RpcClient::new(config, transport.clone(), sleep.clone());
    let result = block_on(client.get_dataset(pb::GetDatasetRequest {
        slug: "x".into(),
        id: None,
    }));
    let slept = sleep.slept.lock().unwrap().clone();
    (result, transport.calls(), slept)
}

fn ms(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|m| Duration::from_millis(*m)).collect()
}

#[test]
fn unavailable_is_retried_five_times_with_growing_backoff() {
    let (result, calls, slept) = run(no_jitter(), vec![connect_error(Code::Unavailable)]);
    assert_eq!(calls, 5);
    assert_eq!(slept, ms(&[20, 60, 180, 540]));
    match result.unwrap_err() {
        Error::Unavailable { attempts, message } => {
            assert_eq!(attempts, 5);
            assert_eq!(message, "try later");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn success_after_failures_stops_retrying() {
    let (result, calls, slept) = run(
        no_jitter(),
        vec![
            connect_error(Code::Unavailable),
            http_status(503),
            ok_dataset(),
        ],
    );
    assert_eq!(result.unwrap().name, "ok");
    assert_eq!(calls, 3);
    assert_eq!(slept, ms(&[20, 60]));
}

#[test]
fn resource_exhausted_and_gateway_statuses_are_retried() {
    for answer in [
        connect_error(Code::ResourceExhausted),
        http_status(429),
        http_status(502),
        http_status(503),
        http_status(504),
    ] {
        let (result, calls, slept) = run(no_jitter(), vec![answer, ok_dataset()]);
        assert!(result.is_ok());
        assert_eq!(calls, 2);
        assert_eq!(slept, ms(&[20]));
    }
}

#[test]
fn connection_failures_are_retried_other_transport_errors_are_not() {
    for err in [
        TransportError::Connect("refused".into()),
        TransportError::Timeout("slow".into()),
        TransportError::Io("reset".into()),
    ] {
        let (result, calls, _) = run(no_jitter(), vec![Err(err)]);
        assert_eq!(calls, 5);
        assert!(matches!(
            result.unwrap_err(),
            Error::Transport { attempts: 5, .. }
        ));
    }
    let (result, calls, slept) = run(
        no_jitter(),
        vec![Err(TransportError::Other("bad url".into()))],
    );
    assert_eq!(calls, 1);
    assert!(slept.is_empty());
    assert!(matches!(
        result.unwrap_err(),
        Error::Transport { attempts: 1, .. }
    ));
}

#[test]
fn client_errors_and_other_codes_are_never_retried() {
    for code in [
        Code::InvalidArgument,
        Code::NotFound,
        Code::Unauthenticated,
        Code::PermissionDenied,
        Code::Internal,
        Code::Unknown,
        Code::Unimplemented,
        Code::AlreadyExists,
        Code::FailedPrecondition,
        Code::DeadlineExceeded,
        Code::Aborted,
    ] {
        let (result, calls, slept) = run(no_jitter(), vec![connect_error(code), ok_dataset()]);
        assert_eq!(calls, 1, "{code}");
        assert!(slept.is_empty(), "{code}");
        assert_eq!(result.unwrap_err().code(), Some(code));
    }
    // Non-Connect 500 / 404 / 400 are not in the retry list either.
    for status in [400, 404, 500] {
        let (_, calls, _) = run(no_jitter(), vec![http_status(status), ok_dataset()]);
        assert_eq!(calls, 1, "{status}");
    }
}

#[test]
fn protocol_errors_are_not_retried() {
    let wrong_type = Ok(http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Bytes::from_static(b"{}"))
        .unwrap());
    let (result, calls, _) = run(no_jitter(), vec![wrong_type, ok_dataset()]);
    assert_eq!(calls, 1);
    assert!(matches!(result.unwrap_err(), Error::Protocol { .. }));
}

#[test]
fn backoff_is_capped() {
    let policy = RetryPolicy::builder().max_attempts(9).jitter(false).build();
    let (_, calls, slept) = run(policy, vec![connect_error(Code::Unavailable)]);
    assert_eq!(calls, 9);
    assert_eq!(slept, ms(&[20, 60, 180, 540, 1620, 2000, 2000, 2000]));
}

#[test]
fn full_jitter_stays_within_the_cap() {
    let policy = RetryPolicy::builder().max_attempts(8).build();
    assert!(policy.jitter());
    for _ in 0..20 {
        let (_, _, slept) = run(policy.clone(), vec![connect_error(Code::Unavailable)]);
        assert_eq!(slept.len(), 7);
        for (i, d) in slept.iter().enumerate() {
            assert!(
                *d <= policy.backoff_cap(i as u32 + 1),
                "retry {} waited {d:?}",
                i + 1
            );
        }
    }
}

#[test]
fn custom_policy_values_are_honoured() {
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .initial_backoff(Duration::from_millis(100))
        .multiplier(2.0)
        .max_backoff(Duration::from_millis(300))
        .jitter(false)
        .build();
    let (_, calls, slept) = run(policy, vec![connect_error(Code::Unavailable)]);
    assert_eq!(calls, 4);
    assert_eq!(slept, ms(&[100, 200, 300]));
}

#[test]
fn none_policy_makes_one_attempt() {
    let (result, calls, slept) = run(RetryPolicy::none(), vec![connect_error(Code::Unavailable)]);
    assert_eq!(calls, 1);
    assert!(slept.is_empty());
    assert!(matches!(
        result.unwrap_err(),
        Error::Unavailable { attempts: 1, .. }
    ));
}

#[test]
fn retry_after_is_honoured_up_to_the_cap() {
    let with_retry_after = |secs: &str| -> Answer {
        Ok(http::Response::builder()
            .status(429)
            .header("retry-after", secs)
            .body(Bytes::new())
            .unwrap())
    };
    let (result, calls, slept) = run(
        no_jitter(),
        vec![with_retry_after("2"), with_retry_after("60"), ok_dataset()],
    );
    assert!(result.is_ok());
    assert_eq!(calls, 3);
    assert_eq!(slept, ms(&[2000, 2000]));
}

/// Deleting is not idempotent: a lost answer (broken connection) must not be retried, since the first
/// request may have deleted the datapoints and a second would fail with not_found; a refused connection or
/// an explicit `unavailable` (request not carried out) still is.
#[test]
fn non_idempotent_calls_retry_only_unprocessed_failures() {
    let delete = |script: Vec<Answer>| {
        let transport = Scripted::new(script);
        let config = ClientConfig::builder()
            .url("http://127.0.0.1:1")
            .anonymous()
            .retry(no_jitter())
            .build();
        let client = RpcClient::new(
            config,
            transport.clone(),
            Arc::new(RecordingSleep::default()),
        );
        let result = block_on(client.delete(pb::DeleteRequest::default()));
        (result, transport.calls())
    };
    let (result, calls) = delete(vec![Err(TransportError::Io("connection reset".into()))]);
    assert!(matches!(result, Err(Error::Transport { .. })), "{result:?}");
    assert_eq!(calls, 1, "a lost answer to a delete is not retried");

    let (_, calls) = delete(vec![Err(TransportError::Connect("refused".into()))]);
    assert_eq!(
        calls, 5,
        "a refused connection never reached the server: retried up to the limit"
    );

    let (_, calls) = delete(vec![connect_error(Code::Unavailable)]);
    assert_eq!(
        calls, 5,
        "unavailable means not carried out: retried up to the limit"
    );
}

/// Ingest is idempotent exactly when existing datapoints are skipped.
#[test]
fn ingest_retries_depend_on_allow_existing() {
    let ingest = |allow_existing: bool| {
        let transport = Scripted::new(vec![Err(TransportError::Timeout("slow".into()))]);
        let config = ClientConfig::builder()
            .url("http://127.0.0.1:1")
            .anonymous()
            .retry(no_jitter())
            .build();
        let client = RpcClient::new(
            config,
            transport.clone(),
            Arc::new(RecordingSleep::default()),
        );
        let request = pb::IngestRequest {
            allow_existing,
            ..Default::default()
        };
        let _ = block_on(client.ingest(request));
        transport.calls()
    };
    assert_eq!(ingest(true), 5);
    assert_eq!(ingest(false), 1);
}

/// The default policy is a time budget: a server that stays down is retried for 30 s of back-off (the last
/// wait shortened to end exactly at the budget), then the call fails with the typed error of its last attempt.
#[test]
fn default_policy_retries_for_thirty_seconds_then_fails_typed() {
    let policy = RetryPolicy::builder().jitter(false).build();
    assert_eq!(policy.max_elapsed(), Some(Duration::from_secs(30)));
    let (result, calls, slept) = run(policy, vec![Err(TransportError::Connect("refused".into()))]);
    let mut expected = ms(&[20, 60, 180, 540, 1620]);
    expected.extend(std::iter::repeat_n(Duration::from_secs(2), 13));
    expected.push(Duration::from_millis(1580));
    assert_eq!(slept, expected);
    assert_eq!(slept.iter().sum::<Duration>(), Duration::from_secs(30));
    assert_eq!(calls, slept.len() + 1);
    match result.unwrap_err() {
        Error::Transport { attempts, source } => {
            assert_eq!(attempts as usize, calls);
            assert!(matches!(source, TransportError::Connect(_)));
        }
        other => panic!("{other:?}"),
    }
}

/// A server that comes back within the budget is reached: the call succeeds.
#[test]
fn a_restart_within_the_budget_is_carried_through() {
    let mut script: Vec<Answer> = (0..12)
        .map(|_| Err(TransportError::Connect("refused".into())))
        .collect();
    script.push(ok_dataset());
    let (result, calls, slept) = run(RetryPolicy::default(), script);
    assert_eq!(result.unwrap().name, "ok");
    assert_eq!(calls, 13);
    assert_eq!(slept.len(), 12);
    assert!(slept.iter().sum::<Duration>() <= Duration::from_secs(30));
}

#[test]
fn budget_and_attempt_limits_combine() {
    let short = RetryPolicy::builder()
        .jitter(false)
        .initial_backoff(Duration::from_secs(1))
        .multiplier(2.0)
        .max_backoff(Duration::from_secs(60))
        .max_elapsed(Some(Duration::from_secs(10)))
        .build();
    let (_, calls, slept) = run(short, vec![connect_error(Code::Unavailable)]);
    assert_eq!(slept, ms(&[1000, 2000, 4000, 3000]));
    assert_eq!(calls, 5);
    let unbounded_time = RetryPolicy::builder()
        .jitter(false)
        .max_elapsed(None)
        .max_attempts(3)
        .build();
    let (_, calls, _) = run(unbounded_time, vec![connect_error(Code::Unavailable)]);
    assert_eq!(calls, 3);
}

/// Every wait is reported to the retry hook (progress bars show it).
#[test]
fn waits_are_reported_to_the_retry_hook() {
    let transport = Scripted::new(vec![
        Err(TransportError::Connect("refused".into())),
        connect_error(Code::Unavailable),
        ok_dataset(),
    ]);
    let config = ClientConfig::builder()
        .url("http://127.0.0.1:1")
        .anonymous()
        .retry(no_jitter())
        .build();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook_seen = Arc::clone(&seen);
    let client = RpcClient::new(config, transport, Arc::new(RecordingSleep::default()))
        .with_retry_hook(Arc::new(move |w: &tilebox_core::RetryWait| {
            hook_seen.lock().unwrap().push((w.attempt, w.wait));
        }));
    let result = block_on(client.get_dataset(pb::GetDatasetRequest {
        slug: "x".into(),
        id: None,
    }));
    assert!(result.is_ok());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (1, Duration::from_millis(20)),
            (2, Duration::from_millis(60))
        ]
    );
}
