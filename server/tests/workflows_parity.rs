//! Workflows RPCs the official client calls besides running jobs: kept telemetry (OTLP exports in, the
//! TelemetryQueryService out, retention), job task listings, prototypes, clones, state counts and queue
//! figures, and workflow definitions. Each with its bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{ConnectError, call, empty_server, http};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use tilebox_server::{BackgroundServer, ServerConfig, WorkflowsConfig};

const SUBMIT: &str = "workflows.v1.JobService/SubmitJob";
const CANCEL: &str = "workflows.v1.JobService/CancelJob";
const NEXT: &str = "workflows.v1.TaskService/NextTask";
const LIST_TASKS: &str = "workflows.v1.JobService/ListJobTasks";
const PROTOTYPE: &str = "workflows.v1.JobService/GetJobPrototype";
const CLONE: &str = "workflows.v1.JobService/CloneJob";
const STATE_COUNTS: &str = "workflows.v1.JobService/GetJobStateCounts";
const QUEUE_STATS: &str = "workflows.v1.JobService/GetTaskQueueStats";
const JOB_LOGS: &str = "workflows.v1.TelemetryQueryService/QueryJobLogs";
const JOB_SPANS: &str = "workflows.v1.TelemetryQueryService/QueryJobSpans";
const LOGS_IN: &str = "workflows.v1.TelemetryQueryService/QueryLogsInInterval";
const LOG_COUNTS: &str = "workflows.v1.TelemetryQueryService/GetLogMessageCounts";
const WF: &str = "workflows.v1.WorkflowsService/";

const TASK: &str = "tests/Leaf";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn server() -> BackgroundServer {
    empty_server(ServerConfig::builder())
}

fn uuid(id: &Option<tb::Id>) -> [u8; 16] {
    id.as_ref().unwrap().uuid.as_ref().try_into().unwrap()
}

fn hyphenated(id: &Option<tb::Id>) -> String {
    uuid::Uuid::from_bytes(uuid(id)).to_string()
}

fn single(display: &str, deps: Vec<i64>) -> wf::SingleTaskSubmission {
    wf::SingleTaskSubmission {
        cluster_slug: String::new(),
        identifier: Some(wf::TaskIdentifier {
            name: TASK.into(),
            version: "v1.0".into(),
        }),
        input: Bytes::from(display.to_owned()),
        display: display.into(),
        dependencies: deps,
        max_retries: 2,
    }
}

async fn submit(url: &str, name: &str, tasks: Vec<wf::SingleTaskSubmission>) -> wf::Job {
    submit_in(url, name, tasks, TRACE).await
}

/// Submits a job in the trace `trace` (32 hex digits).
#[allow(deprecated)]
async fn submit_in(
    url: &str,
    name: &str,
    tasks: Vec<wf::SingleTaskSubmission>,
    trace: &str,
) -> wf::Job {
    call(
        url,
        SUBMIT,
        &wf::SubmitJobRequest {
            job_name: name.into(),
            trace_parent: format!("00-{trace}-b7ad6b7169203331-01"),
            legacy_tasks: tasks,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn expect_err(r: Result<impl std::fmt::Debug, ConnectError>, code: &str, naming: &str) {
    let e = r.expect_err("the call fails");
    assert_eq!(e.code, code, "{e:?}");
    assert!(e.message.contains(naming), "{e:?} names {naming}");
}

// ---- telemetry ----

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// A protobuf trace export, gzipped, of one span per (name, start ns, task id).
fn trace_export(spans: &[(&str, u64, &str)]) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_kv("service.name", "test-runner")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: spans
                    .iter()
                    .map(|(name, start, task)| Span {
                        trace_id: hex(TRACE),
                        span_id: vec![1; 8],
                        name: (*name).into(),
                        start_time_unix_nano: *start,
                        end_time_unix_nano: start + 10,
                        attributes: vec![string_kv("task_id", task)],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    common::gzip(&request.encode_to_vec())
}

/// An OTLP JSON log export of one record per (body, time ns, severity number, attributes).
/// A log record to export: body, time (ns), severity number, string attributes.
type LogLine<'a> = (&'a str, u64, i32, &'a [(&'a str, &'a str)]);

fn log_export(trace: &str, records: &[LogLine<'_>]) -> String {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(body, time, severity, attrs)| {
            serde_json::json!({
                "timeUnixNano": time.to_string(),
                "severityNumber": severity,
                "body": {"stringValue": body},
                "traceId": trace,
                "attributes": attrs.iter().map(|(k, v)| serde_json::json!({"key": k, "value": {"stringValue": v}})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "test-runner"}}]},
            "scopeLogs": [{"scope": {"name": "tests"}, "logRecords": records}],
        }]
    })
    .to_string()
}

async fn post(url: &str, path: &str, content_type: &str, gzip: bool, body: Vec<u8>) -> u16 {
    let mut r = http()
        .post(format!("{url}{path}"))
        .header("content-type", content_type)
        .body(body);
    if gzip {
        r = r.header("content-encoding", "gzip");
    }
    r.send().await.unwrap().status().as_u16()
}

fn log_bodies(page: &wf::PaginatedLogsData) -> Vec<String> {
    page.resource_logs
        .iter()
        .map(|rl| {
            let record = &rl.scope_logs[0].log_records[0];
            match record.body.as_ref().unwrap().value.as_ref().unwrap() {
                tilebox_core::wire::opentelemetry::proto::common::v1::any_value::Value::StringValue(s) => s.clone(),
                other => panic!("unexpected body {other:?}"),
            }
        })
        .collect()
}

fn logs_request(job: &wf::Job, levels: &[wf::LogSeverityGroup]) -> wf::QueryJobLogsRequest {
    wf::QueryJobLogsRequest {
        job_id: job.id.clone(),
        filters: Some(wf::LogQueryFilters {
            severity_levels: levels.iter().map(|l| *l as i32).collect(),
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn exported_logs_and_spans_come_back_per_job_task_and_level() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    let job = submit(&url, "observed", vec![single("a", vec![])]).await;
    let other = submit_in(
        &url,
        "other",
        vec![single("b", vec![])],
        "22222222222222222222222222222222",
    )
    .await;
    let task = hyphenated(&job.task_summaries[0].id);
    let other_task = hyphenated(&other.task_summaries[0].id);

    // Spans: protobuf, gzipped; tied to the job by its trace.
    let status = post(
        &url,
        "/v1/traces",
        "application/x-protobuf",
        true,
        trace_export(&[("task/Leaf", 2_000, &task), ("child", 1_000, &task)]),
    )
    .await;
    assert_eq!(status, 200);
    // Logs: JSON; two in the job's trace, one naming the other job by attribute in an unrelated trace.
    let other_trace = "11111111111111111111111111111111";
    let logs = log_export(
        TRACE,
        &[
            ("started", 1_000, 9, &[("task_id", &task)]),
            ("broke", 3_000, 17, &[("task_id", &task)]),
            ("untied", 2_000, 13, &[]),
        ],
    );
    assert_eq!(
        post(
            &url,
            "/v1/logs",
            "application/json",
            false,
            logs.into_bytes()
        )
        .await,
        200
    );
    let foreign = log_export(
        other_trace,
        &[(
            "elsewhere",
            1_500,
            5,
            &[("job_id", &hyphenated(&other.id)), ("task_id", &other_task)],
        )],
    );
    assert_eq!(
        post(
            &url,
            "/v1/logs",
            "application/json",
            false,
            foreign.into_bytes()
        )
        .await,
        200
    );

    // All of the job's logs, oldest first; the other job's by its attribute.
    let all: wf::PaginatedLogsData = call(&url, JOB_LOGS, &logs_request(&job, &[]))
        .await
        .unwrap();
    assert_eq!(log_bodies(&all), ["started", "untied", "broke"]);
    assert!(all.next_page.is_none());
    let resource = all.resource_logs[0].resource.as_ref().unwrap();
    assert_eq!(resource.attributes[0].key, "service.name");
    let theirs: wf::PaginatedLogsData = call(&url, JOB_LOGS, &logs_request(&other, &[]))
        .await
        .unwrap();
    assert_eq!(log_bodies(&theirs), ["elsewhere"]);

    // By level, by task, newest first, page by page.
    let errors: wf::PaginatedLogsData = call(
        &url,
        JOB_LOGS,
        &logs_request(
            &job,
            &[wf::LogSeverityGroup::Error, wf::LogSeverityGroup::Warning],
        ),
    )
    .await
    .unwrap();
    assert_eq!(log_bodies(&errors), ["untied", "broke"]);
    let mut by_task = logs_request(&job, &[]);
    by_task.task_id = job.task_summaries[0].id.clone();
    by_task.sort_direction = tb::SortDirection::Descending as i32;
    by_task.page = Some(tb::Pagination {
        limit: Some(1),
        starting_after: None,
    });
    let first: wf::PaginatedLogsData = call(&url, JOB_LOGS, &by_task).await.unwrap();
    assert_eq!(log_bodies(&first), ["broke"]);
    by_task.page = first.next_page.clone();
    let second: wf::PaginatedLogsData = call(&url, JOB_LOGS, &by_task).await.unwrap();
    assert_eq!(log_bodies(&second), ["started"]);
    assert!(second.next_page.is_none());

    // Spans, oldest first.
    let spans: wf::PaginatedSpansData = call(
        &url,
        JOB_SPANS,
        &wf::QueryJobSpansRequest {
            job_id: job.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let names: Vec<&str> = spans
        .resource_spans
        .iter()
        .map(|r| r.scope_spans[0].spans[0].name.as_str())
        .collect();
    assert_eq!(names, ["child", "task/Leaf"]);
    let none: wf::PaginatedSpansData = call(
        &url,
        JOB_SPANS,
        &wf::QueryJobSpansRequest {
            job_id: other.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(none.resource_spans.is_empty());

    // Every log in an interval, and the counts per level.
    let interval = tb::TimeInterval {
        start_time: Some(prost_types::Timestamp {
            seconds: 0,
            nanos: 1_500,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: 0,
            nanos: 3_000,
        }),
        start_exclusive: false,
        end_inclusive: false,
    };
    let within: wf::PaginatedLogsData = call(
        &url,
        LOGS_IN,
        &wf::QueryLogsInIntervalRequest {
            time_interval: Some(interval),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(log_bodies(&within), ["elsewhere", "untied"]);
    let counts: wf::GetLogMessageCountsResponse = call(
        &url,
        LOG_COUNTS,
        &wf::GetLogMessageCountsRequest {
            time_interval: Some(tb::TimeInterval {
                end_time: Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: 0,
                }),
                ..Default::default()
            }),
        },
    )
    .await
    .unwrap();
    assert_eq!(counts.total_messages, 4);
    let count_of = |g: wf::LogSeverityGroup| {
        counts
            .counts
            .iter()
            .find(|c| c.severity == g as i32)
            .map(|c| c.count)
    };
    assert_eq!(count_of(wf::LogSeverityGroup::Info), Some(1));
    assert_eq!(count_of(wf::LogSeverityGroup::Debug), Some(1));
    assert_eq!(count_of(wf::LogSeverityGroup::Warning), Some(1));
    assert_eq!(count_of(wf::LogSeverityGroup::Error), Some(1));
}

#[tokio::test]
async fn telemetry_bad_input() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    let job = submit(&url, "observed", vec![single("a", vec![])]).await;
    let unknown = wf::Job {
        id: Some(common::id(&[7; 16])),
        ..Default::default()
    };
    expect_err(
        call::<_, wf::PaginatedLogsData>(&url, JOB_LOGS, &logs_request(&unknown, &[])).await,
        "not_found",
        "job",
    );
    expect_err(
        call::<_, wf::PaginatedSpansData>(&url, JOB_SPANS, &wf::QueryJobSpansRequest::default())
            .await,
        "invalid_argument",
        "job_id",
    );
    let mut bad_level = logs_request(&job, &[]);
    bad_level.filters.as_mut().unwrap().severity_levels = vec![99];
    expect_err(
        call::<_, wf::PaginatedLogsData>(&url, JOB_LOGS, &bad_level).await,
        "invalid_argument",
        "severity_levels",
    );
    let mut bad_task = logs_request(&job, &[]);
    bad_task.task_id = Some(common::id(&[1, 2, 3]));
    expect_err(
        call::<_, wf::PaginatedLogsData>(&url, JOB_LOGS, &bad_task).await,
        "invalid_argument",
        "task_id",
    );
    let mut bad_page = logs_request(&job, &[]);
    bad_page.page = Some(tb::Pagination {
        limit: Some(0),
        starting_after: None,
    });
    expect_err(
        call::<_, wf::PaginatedLogsData>(&url, JOB_LOGS, &bad_page).await,
        "invalid_argument",
        "page.limit",
    );
    expect_err(
        call::<_, wf::PaginatedLogsData>(&url, LOGS_IN, &wf::QueryLogsInIntervalRequest::default())
            .await,
        "invalid_argument",
        "time_interval",
    );
    expect_err(
        call::<_, wf::GetLogMessageCountsResponse>(
            &url,
            LOG_COUNTS,
            &wf::GetLogMessageCountsRequest {
                time_interval: Some(common::interval(common::T2021, common::T2020)),
            },
        )
        .await,
        "invalid_argument",
        "time_interval",
    );
    // Exports that are not OTLP are refused, and nothing is kept.
    assert_eq!(
        post(
            &url,
            "/v1/logs",
            "application/json",
            false,
            b"[1, 2]".to_vec()
        )
        .await,
        400
    );
    assert_eq!(
        post(
            &url,
            "/v1/traces",
            "application/x-protobuf",
            false,
            vec![0xff; 9]
        )
        .await,
        400
    );
    assert_eq!(
        post(&url, "/v1/logs", "text/plain", false, b"hello".to_vec()).await,
        415
    );
    let all: wf::PaginatedLogsData = call(&url, JOB_LOGS, &logs_request(&job, &[]))
        .await
        .unwrap();
    assert!(all.resource_logs.is_empty());
}

#[tokio::test]
async fn telemetry_retention_keeps_the_newest_rows() {
    if common::skip() {
        return;
    }
    let server = empty_server(
        ServerConfig::builder().workflows(WorkflowsConfig::builder().telemetry_max_rows(2).build()),
    );
    let url = server.url();
    let job = submit(&url, "observed", vec![single("a", vec![])]).await;
    for (body, time) in [("one", 1_000u64), ("two", 2_000), ("three", 3_000)] {
        let export = log_export(TRACE, &[(body, time, 9, &[])]);
        assert_eq!(
            post(
                &url,
                "/v1/logs",
                "application/json",
                false,
                export.into_bytes()
            )
            .await,
            200
        );
    }
    let kept: wf::PaginatedLogsData = call(&url, JOB_LOGS, &logs_request(&job, &[]))
        .await
        .unwrap();
    assert_eq!(log_bodies(&kept), ["two", "three"]);
}

// ---- jobs ----

async fn claim_and_split(url: &str, job: &wf::Job, children: usize) {
    let cluster: wf::Cluster = call(
        url,
        "workflows.v1.WorkflowsService/GetCluster",
        &wf::GetClusterRequest::default(),
    )
    .await
    .unwrap();
    let next = |computed: Option<wf::ComputedTask>| wf::NextTaskRequest {
        computed_task: computed,
        next_task_to_run: Some(wf::NextTaskToRun {
            cluster_slug: cluster.slug.clone(),
            identifiers: vec![wf::TaskIdentifier {
                name: TASK.into(),
                version: "v1.0".into(),
            }],
        }),
    };
    let claimed: wf::NextTaskResponse = call(url, NEXT, &next(None)).await.unwrap();
    let task = claimed.next_task.unwrap();
    assert_eq!(task.job.as_ref().unwrap().id, job.id);
    #[allow(deprecated)]
    let computed = wf::ComputedTask {
        id: task.id.clone(),
        display: String::new(),
        sub_tasks: None,
        legacy_sub_tasks: (0..children)
            .map(|i| single(&format!("child{i}"), vec![]))
            .collect(),
        progress_updates: vec![],
    };
    let _: wf::NextTaskResponse = call(
        url,
        NEXT,
        &wf::NextTaskRequest {
            computed_task: Some(computed),
            next_task_to_run: None,
        },
    )
    .await
    .unwrap();
}

fn list_request(job: &wf::Job, limit: Option<i64>) -> wf::ListJobTasksRequest {
    wf::ListJobTasksRequest {
        job_id: job.id.clone(),
        page: limit.map(|l| tb::Pagination {
            limit: Some(l),
            starting_after: None,
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn job_tasks_are_listed_by_parent_page_by_page() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    let job = submit(
        &url,
        "tree",
        vec![
            single("a", vec![]),
            single("b", vec![0]),
            single("c", vec![]),
        ],
    )
    .await;
    claim_and_split(&url, &job, 3).await;

    let mut req = list_request(&job, Some(2));
    req.prefetch_children = Some(wf::JobTaskChildrenPrefetch { limit: 2 });
    let first: wf::ListJobTasksResponse = call(&url, LIST_TASKS, &req).await.unwrap();
    let page = first.page.unwrap();
    let displays: Vec<&str> = page.tasks.iter().map(|t| t.display.as_str()).collect();
    assert_eq!(displays, ["a", "b"]);
    assert!(page.tasks[0].has_children);
    assert_eq!(page.tasks[0].state, wf::TaskState::Computed as i32);
    assert_eq!(page.tasks[0].max_retries, 2);
    assert_eq!(page.tasks[0].input.as_deref(), Some(&b"a"[..]));
    assert!(page.tasks[0].submitted_at.is_some() && page.tasks[0].started_at.is_some());
    assert_eq!(first.prefetched_child_pages.len(), 1);
    let children = &first.prefetched_child_pages[0];
    assert_eq!(children.parent_task_id, page.tasks[0].id);
    assert_eq!(children.tasks.len(), 2);
    assert!(children.next_page.is_some());

    req.page = page.next_page.clone();
    req.prefetch_children = None;
    let second: wf::ListJobTasksResponse = call(&url, LIST_TASKS, &req).await.unwrap();
    let rest = second.page.unwrap();
    assert_eq!(rest.tasks.len(), 1);
    assert_eq!(rest.tasks[0].display, "c");
    assert!(rest.next_page.is_none());

    let mut of_parent = list_request(&job, None);
    of_parent.parent_task_id = page.tasks[0].id.clone();
    let all_children: wf::ListJobTasksResponse = call(&url, LIST_TASKS, &of_parent).await.unwrap();
    let all_children = all_children.page.unwrap();
    assert_eq!(all_children.tasks.len(), 3);
    assert!(
        all_children
            .tasks
            .iter()
            .all(|t| t.parent_id == page.tasks[0].id)
    );

    // Bad input.
    let unknown = wf::Job {
        id: Some(common::id(&[7; 16])),
        ..Default::default()
    };
    expect_err(
        call::<_, wf::ListJobTasksResponse>(&url, LIST_TASKS, &list_request(&unknown, None)).await,
        "not_found",
        "job",
    );
    let mut foreign_parent = list_request(&job, None);
    foreign_parent.parent_task_id = Some(common::id(&[9; 16]));
    expect_err(
        call::<_, wf::ListJobTasksResponse>(&url, LIST_TASKS, &foreign_parent).await,
        "not_found",
        "task",
    );
    expect_err(
        call::<_, wf::ListJobTasksResponse>(&url, LIST_TASKS, &list_request(&job, Some(0))).await,
        "invalid_argument",
        "page.limit",
    );
    let mut bad_prefetch = list_request(&job, None);
    bad_prefetch.prefetch_children = Some(wf::JobTaskChildrenPrefetch { limit: 0 });
    expect_err(
        call::<_, wf::ListJobTasksResponse>(&url, LIST_TASKS, &bad_prefetch).await,
        "invalid_argument",
        "prefetch_children.limit",
    );
    expect_err(
        call::<_, wf::ListJobTasksResponse>(&url, LIST_TASKS, &wf::ListJobTasksRequest::default())
            .await,
        "invalid_argument",
        "job_id",
    );
}

async fn state_counts(url: &str) -> wf::GetJobStateCountsResponse {
    call(url, STATE_COUNTS, &wf::GetJobStateCountsRequest::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn prototypes_and_clones_repeat_a_submission() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    let job = submit(
        &url,
        "original",
        vec![single("a", vec![]), single("b", vec![0])],
    )
    .await;
    let proto: wf::GetJobPrototypeResponse = call(
        &url,
        PROTOTYPE,
        &wf::GetJobPrototypeRequest {
            job_id: job.id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(proto.job_name, "original");
    assert_eq!(proto.root_tasks.len(), 2);
    assert_eq!(proto.root_tasks[0].display, "a");
    assert!(proto.root_tasks[0].dependencies.is_empty());
    assert_eq!(proto.root_tasks[1].dependencies, [0]);
    assert_eq!(proto.root_tasks[1].input.as_ref(), b"b");
    assert_eq!(proto.root_tasks[1].max_retries, 2);
    assert!(!proto.root_tasks[0].cluster_slug.is_empty());

    let copy: wf::Job = call(
        &url,
        CLONE,
        &wf::CloneJobRequest {
            job_id: job.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_ne!(copy.id, job.id);
    assert_eq!(copy.name, "original");
    let copied: wf::GetJobPrototypeResponse = call(
        &url,
        PROTOTYPE,
        &wf::GetJobPrototypeRequest {
            job_id: copy.id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(copied.root_tasks, proto.root_tasks);

    let changed: wf::Job = call(
        &url,
        CLONE,
        &wf::CloneJobRequest {
            job_id: job.id.clone(),
            root_tasks_overrides: vec![single("z", vec![])],
            job_name: "changed".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(changed.name, "changed");
    let changed: wf::GetJobPrototypeResponse = call(
        &url,
        PROTOTYPE,
        &wf::GetJobPrototypeRequest {
            job_id: changed.id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(changed.root_tasks.len(), 1);
    assert_eq!(changed.root_tasks[0].display, "z");
    assert_eq!(state_counts(&url).await.total_jobs, 3);

    // Bad input: nothing is submitted.
    let unknown = Some(common::id(&[7; 16]));
    expect_err(
        call::<_, wf::GetJobPrototypeResponse>(
            &url,
            PROTOTYPE,
            &wf::GetJobPrototypeRequest {
                job_id: unknown.clone(),
            },
        )
        .await,
        "not_found",
        "job",
    );
    expect_err(
        call::<_, wf::Job>(
            &url,
            CLONE,
            &wf::CloneJobRequest {
                job_id: unknown,
                ..Default::default()
            },
        )
        .await,
        "not_found",
        "job",
    );
    let mut no_identifier = single("x", vec![]);
    no_identifier.identifier = None;
    expect_err(
        call::<_, wf::Job>(
            &url,
            CLONE,
            &wf::CloneJobRequest {
                job_id: job.id.clone(),
                root_tasks_overrides: vec![no_identifier],
                job_name: String::new(),
            },
        )
        .await,
        "invalid_argument",
        "root_tasks_overrides",
    );
    expect_err(
        call::<_, wf::Job>(&url, CLONE, &wf::CloneJobRequest::default()).await,
        "invalid_argument",
        "job_id",
    );
    assert_eq!(state_counts(&url).await.total_jobs, 3);
}

#[tokio::test]
async fn state_counts_and_queue_figures() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    let first = submit(
        &url,
        "first",
        vec![single("a", vec![]), single("b", vec![])],
    )
    .await;
    let canceled = submit(&url, "canceled", vec![single("c", vec![])]).await;
    let _: wf::CancelJobResponse = call(
        &url,
        CANCEL,
        &wf::CancelJobRequest {
            job_id: canceled.id.clone(),
        },
    )
    .await
    .unwrap();

    let counts = state_counts(&url).await;
    assert_eq!(counts.total_jobs, 2);
    let count_of = |s: wf::JobState| {
        counts
            .state_counts
            .iter()
            .find(|c| c.state == s as i32)
            .map(|c| c.count)
    };
    assert_eq!(count_of(wf::JobState::Submitted), Some(1));
    assert_eq!(count_of(wf::JobState::Canceled), Some(1));
    let later: wf::GetJobStateCountsResponse = call(
        &url,
        STATE_COUNTS,
        &wf::GetJobStateCountsRequest {
            time_interval: Some(common::interval(4_000_000_000, 4_100_000_000)),
        },
    )
    .await
    .unwrap();
    assert_eq!(later.total_jobs, 0);

    let stats: wf::GetTaskQueueStatsResponse = call(
        &url,
        QUEUE_STATS,
        &wf::GetTaskQueueStatsRequest {
            job_time_interval: None,
            job_max_age: Some(prost_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
        },
    )
    .await
    .unwrap();
    assert_eq!(stats.waiting_jobs, 1);
    assert_eq!(stats.running_jobs, 0);
    assert_eq!(stats.queued_tasks, 2);
    assert_eq!(stats.oldest_waiting_job.unwrap().id, first.id);

    expect_err(
        call::<_, wf::GetTaskQueueStatsResponse>(
            &url,
            QUEUE_STATS,
            &wf::GetTaskQueueStatsRequest {
                job_time_interval: None,
                job_max_age: Some(prost_types::Duration {
                    seconds: -1,
                    nanos: 0,
                }),
            },
        )
        .await,
        "invalid_argument",
        "job_max_age",
    );
}

// ---- workflow definitions ----

async fn wf_call<Req: Message, Resp: Message + Default>(
    url: &str,
    method: &str,
    req: &Req,
) -> Result<Resp, ConnectError> {
    call(url, &format!("{WF}{method}"), req).await
}

async fn list_workflows(url: &str) -> Vec<wf::Workflow> {
    let all: wf::ListWorkflowsResponse =
        wf_call(url, "ListWorkflows", &wf::ListWorkflowsRequest::default())
            .await
            .unwrap();
    all.workflows
}

#[tokio::test]
async fn workflow_definitions_are_kept() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    let created: wf::Workflow = wf_call(
        &url,
        "CreateWorkflow",
        &wf::CreateWorkflowRequest {
            name: "Sentinel-2 Mosaic".into(),
            summary: "cloud-free".into(),
            description: Some("long text".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(created.slug, "sentinel-2-mosaic");
    assert_eq!(created.summary, "cloud-free");
    let _: wf::Workflow = wf_call(
        &url,
        "CreateWorkflow",
        &wf::CreateWorkflowRequest {
            name: "Another".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let found: wf::Workflow = wf_call(
        &url,
        "GetWorkflow",
        &wf::GetWorkflowRequest {
            workflow_slug: created.slug.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(found, created);
    let slugs: Vec<String> = list_workflows(&url)
        .await
        .into_iter()
        .map(|w| w.slug)
        .collect();
    assert_eq!(slugs, ["another", "sentinel-2-mosaic"]);

    let updated: wf::Workflow = wf_call(
        &url,
        "UpdateWorkflow",
        &wf::UpdateWorkflowRequest {
            workflow_slug: created.slug.clone(),
            name: Some("Renamed".into()),
            summary: None,
            description: Some(String::new()),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.summary.as_str(),
            updated.description.as_str()
        ),
        ("Renamed", "cloud-free", "")
    );
    assert_eq!(updated.slug, created.slug);

    let _: wf::DeleteWorkflowResponse = wf_call(
        &url,
        "DeleteWorkflow",
        &wf::DeleteWorkflowRequest {
            workflow_slug: "another".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(list_workflows(&url).await.len(), 1);

    // Bad input: nothing is stored or changed.
    expect_err(
        wf_call::<_, wf::Workflow>(
            &url,
            "CreateWorkflow",
            &wf::CreateWorkflowRequest::default(),
        )
        .await,
        "invalid_argument",
        "name",
    );
    expect_err(
        wf_call::<_, wf::Workflow>(
            &url,
            "CreateWorkflow",
            &wf::CreateWorkflowRequest {
                name: "x".into(),
                summary: "s".repeat(1001),
                description: None,
            },
        )
        .await,
        "invalid_argument",
        "summary",
    );
    expect_err(
        wf_call::<_, wf::Workflow>(
            &url,
            "CreateWorkflow",
            &wf::CreateWorkflowRequest {
                name: "---".into(),
                ..Default::default()
            },
        )
        .await,
        "invalid_argument",
        "name",
    );
    expect_err(
        wf_call::<_, wf::Workflow>(
            &url,
            "CreateWorkflow",
            &wf::CreateWorkflowRequest {
                name: "Sentinel 2 mosaic".into(),
                ..Default::default()
            },
        )
        .await,
        "already_exists",
        "sentinel-2-mosaic",
    );
    assert_eq!(list_workflows(&url).await.len(), 1);
    expect_err(
        wf_call::<_, wf::Workflow>(
            &url,
            "GetWorkflow",
            &wf::GetWorkflowRequest {
                workflow_slug: "nope".into(),
            },
        )
        .await,
        "not_found",
        "nope",
    );
    expect_err(
        wf_call::<_, wf::Workflow>(&url, "GetWorkflow", &wf::GetWorkflowRequest::default()).await,
        "invalid_argument",
        "workflow_slug",
    );
    expect_err(
        wf_call::<_, wf::Workflow>(
            &url,
            "UpdateWorkflow",
            &wf::UpdateWorkflowRequest {
                workflow_slug: "nope".into(),
                name: Some("n".into()),
                ..Default::default()
            },
        )
        .await,
        "not_found",
        "nope",
    );
    expect_err(
        wf_call::<_, wf::Workflow>(
            &url,
            "UpdateWorkflow",
            &wf::UpdateWorkflowRequest {
                workflow_slug: created.slug.clone(),
                name: Some(String::new()),
                ..Default::default()
            },
        )
        .await,
        "invalid_argument",
        "name",
    );
    expect_err(
        wf_call::<_, wf::DeleteWorkflowResponse>(
            &url,
            "DeleteWorkflow",
            &wf::DeleteWorkflowRequest {
                workflow_slug: "nope".into(),
            },
        )
        .await,
        "not_found",
        "nope",
    );
    let kept: wf::Workflow = wf_call(
        &url,
        "GetWorkflow",
        &wf::GetWorkflowRequest {
            workflow_slug: created.slug.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(kept, updated);

    // Releases run on hosted runners.
    expect_err(
        wf_call::<_, wf::DeployWorkflowReleaseResponse>(
            &url,
            "DeployWorkflowRelease",
            &wf::DeployWorkflowReleaseRequest::default(),
        )
        .await,
        "unimplemented",
        "hosted runners",
    );
    expect_err(
        wf_call::<_, wf::WorkflowRelease>(
            &url,
            "PublishWorkflowRelease",
            &wf::PublishWorkflowReleaseRequest::default(),
        )
        .await,
        "unimplemented",
        "hosted runners",
    );
}
