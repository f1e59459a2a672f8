//! OpenTelemetry export: task spans go over OTLP/HTTP (protobuf) to an in-process receiver that decodes
//! them with the OpenTelemetry protocol types; a job forms one trace with its tasks as children of the span
//! it was submitted in, and spans opened inside a task nest under the task's span.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde::{Deserialize, Serialize};
use tilebox_workflows::otel::OtlpTracing;
use tilebox_workflows::{
    AsyncTask, AsyncTaskContext, JobState, Task, TaskContext, TaskError, TaskIdentifier, TaskSpec,
};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Serialize, Deserialize)]
struct Parent;

impl TaskSpec for Parent {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/otel/Parent", "v1.0")
    }
    fn display(&self) -> String {
        "parent".into()
    }
}

impl Task for Parent {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        tracing::info_span!("inner-work").in_scope(|| {
            ctx.submit_subtask(&Kid { n: 1 })?;
            ctx.submit_subtask(&Kid { n: 2 })?;
            Ok(())
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Kid {
    n: u32,
}

impl TaskSpec for Kid {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/otel/Kid", "v1.0")
    }
    fn display(&self) -> String {
        format!("kid-{}", self.n)
    }
}

impl AsyncTask for Kid {
    async fn execute(&self, _: &AsyncTaskContext) -> Result<(), TaskError> {
        tracing::info_span!("kid-work").in_scope(|| tracing::info!("working"));
        Ok(())
    }
}

/// Receives OTLP/HTTP trace exports and keeps the decoded spans.
async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let sink = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                let req = ExportTraceServiceRequest::decode(body).unwrap();
                let mut sink = sink.lock().unwrap();
                for rs in req.resource_spans {
                    for ss in rs.scope_spans {
                        sink.extend(ss.spans);
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1/traces"), spans)
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_spans_form_the_jobs_trace_over_otlp_http() {
    let (endpoint, spans) = receiver().await;
    // The exporter sends through the blocking adapter's transport (its batch thread has no runtime).
    let transport = tilebox_blocking::Client::builder()
        .url(endpoint.clone())
        .build()
        .unwrap()
        .as_async()
        .rpc()
        .transport()
        .clone();
    let otlp = OtlpTracing::builder()
        .endpoint(endpoint)
        .service_name("otel-test")
        .transport(transport)
        .build()
        .unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otlp.layer()))
        .unwrap();

    let server = server().await;
    let client = client(&server.url());
    let job = {
        let submit = tracing::info_span!("submit-job");
        let _entered = submit.enter();
        client.jobs().submit("traced", &Parent).await.unwrap()
    };
    let runner = client
        .runner()
        .register::<Parent>()
        .register_async::<Kid>()
        .max_concurrent_tasks(2)
        .build_async()
        .await
        .unwrap();
    runner.run_all_async().await.unwrap();
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    otlp.flush().unwrap();
    otlp.shutdown();

    let spans = spans.lock().unwrap().clone();
    let submit = named(&spans, "submit-job");
    assert_eq!(submit.len(), 1);
    let submit = submit[0];
    assert!(
        submit.parent_span_id.is_empty(),
        "the submit span is a root"
    );
    // The job carries the submit span's context as its trace parent.
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        job.trace_parent,
        format!("00-{}-{}-01", hex(&submit.trace_id), hex(&submit.span_id))
    );
    let parent = named(&spans, "parent");
    let kids: Vec<&Span> = ["kid-1", "kid-2"]
        .iter()
        .flat_map(|n| named(&spans, n))
        .collect();
    assert_eq!((parent.len(), kids.len()), (1, 2));
    for task in parent.iter().chain(&kids) {
        assert_eq!(
            task.trace_id, submit.trace_id,
            "{} is in the job's trace",
            task.name
        );
        assert_eq!(
            task.parent_span_id, submit.span_id,
            "{} is a child of the job's span",
            task.name
        );
        let attr = |key: &str| {
            task.attributes
                .iter()
                .find(|a| a.key == key)
                .and_then(|a| a.value.as_ref())
                .map(|v| format!("{:?}", v.value))
        };
        assert!(attr("job_id").unwrap().contains(&job.id.to_string()));
        assert!(attr("task_id").is_some() && attr("identifier").is_some());
    }
    let inner = named(&spans, "inner-work");
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0].parent_span_id, parent[0].span_id);
    let kid_work = named(&spans, "kid-work");
    assert_eq!(kid_work.len(), 2);
    for w in kid_work {
        assert!(
            kids.iter().any(|k| k.span_id == w.parent_span_id),
            "work inside an async task nests under its task span"
        );
    }
    server.shutdown().await;
}
