//! Logs of a Rust task: `tracing` events emitted inside a task are exported by the runner's OTLP log layer to
//! the local server's `/v1/logs` and come back through the job client's logs query, filtered by task and
//! level; events outside tasks are not exported.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use tilebox_workflows::otel::OtlpTracing;
use tilebox_workflows::{
    LogLevel, LogQuery, Task, TaskContext, TaskError, TaskIdentifier, TaskSpec,
};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Serialize, Deserialize)]
struct Chatty {
    n: u32,
}

impl TaskSpec for Chatty {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/logs/Chatty", "v1.0")
    }
}

impl Task for Chatty {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        tracing::info!(n = self.n, "hello from {}", self.n);
        tracing::warn!("careful {}", self.n);
        if self.n == 0 {
            ctx.submit_subtask(&Chatty { n: 1 })?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_events_inside_a_rust_task_come_back_as_job_logs_by_task_and_level() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let url = server.url();
    let transport = tilebox_blocking::Client::builder()
        .url(&url)
        .build()
        .unwrap()
        .as_async()
        .rpc()
        .transport()
        .clone();
    let otlp = OtlpTracing::builder()
        .endpoint(format!("{url}/v1/traces"))
        .logs_endpoint(format!("{url}/v1/logs"))
        .transport(transport)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(otlp.layer())
        .with(otlp.logs_layer());
    tracing::subscriber::set_global_default(subscriber).unwrap();
    tracing::info!("outside any task: not exported");

    let client = client(&url);
    let job = client
        .jobs()
        .submit("chatty", &Chatty { n: 0 })
        .await
        .unwrap();
    let runner = client
        .runner()
        .register::<Chatty>()
        .build_async()
        .await
        .unwrap();
    runner.run_until_jobs_finish_async(&[job.id]).await.unwrap();
    otlp.flush().unwrap();

    let jobs = client.jobs();
    let all = jobs.logs(job.id, &LogQuery::new()).await.unwrap();
    let mut messages: Vec<_> = all
        .iter()
        .filter(|l| l.level != LogLevel::Debug)
        .map(|l| l.message.as_str())
        .collect();
    messages.sort_unstable();
    assert_eq!(
        messages,
        ["careful 0", "careful 1", "hello from 0", "hello from 1"],
        "the task's events, not the one outside any task"
    );
    // The runner's own debug event inside each task span is exported as well.
    let debug = jobs
        .logs(job.id, &LogQuery::new().levels(&[LogLevel::Debug]))
        .await
        .unwrap();
    assert_eq!(debug.len(), 2, "{debug:?}");
    let tasks = jobs.tasks_page(job.id, None, None).await.unwrap().tasks;
    let root = tasks[0].id;
    let root_info = jobs
        .logs(
            job.id,
            &LogQuery::new().task(root).levels(&[LogLevel::Info]),
        )
        .await
        .unwrap();
    assert_eq!(root_info.len(), 1, "{root_info:?}");
    assert_eq!(root_info[0].message, "hello from 0");
    assert_eq!(
        (root_info[0].level, root_info[0].task_id),
        (LogLevel::Info, Some(root))
    );
    assert!(
        root_info[0]
            .attributes
            .contains(&("n".to_owned(), "0".to_owned()))
    );
    let warnings = jobs
        .logs(job.id, &LogQuery::new().levels(&[LogLevel::Warning]))
        .await
        .unwrap();
    assert_eq!(warnings.len(), 2);
    assert!(warnings.iter().all(|l| l.level == LogLevel::Warning));
    // The task spans came along too, tied to their tasks.
    let spans = jobs.spans(job.id, Some(root)).await.unwrap();
    assert!(spans.iter().any(|s| s.task_id == Some(root)), "{spans:?}");
    otlp.shutdown();
    server.shutdown().await;
}
