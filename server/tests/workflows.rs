//! Workflows services over Connect: clusters, job queries and paging, the runner protocol's edge cases,
//! job diagrams, and cancel-safety of the workflows writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{ConnectError, call, empty_server};
use prost::Message;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use tilebox_server::{BackgroundServer, ServerConfig, WorkflowsConfig};

const SUBMIT: &str = "workflows.v1.JobService/SubmitJob";
const GET_JOB: &str = "workflows.v1.JobService/GetJob";
const CANCEL: &str = "workflows.v1.JobService/CancelJob";
const QUERY: &str = "workflows.v1.JobService/QueryJobs";
const VISUALIZE: &str = "workflows.v1.JobService/VisualizeJob";
const NEXT: &str = "workflows.v1.TaskService/NextTask";
const FAILED: &str = "workflows.v1.TaskService/TaskFailed";
const EXTEND: &str = "workflows.v1.TaskService/ExtendTaskLease";
const GET_CLUSTER: &str = "workflows.v1.WorkflowsService/GetCluster";
const CREATE_CLUSTER: &str = "workflows.v1.WorkflowsService/CreateCluster";
const UPDATE_CLUSTER: &str = "workflows.v1.WorkflowsService/UpdateCluster";

const TASK: &str = "tests/Leaf";

fn server(lease: Duration) -> BackgroundServer {
    empty_server(
        ServerConfig::builder().workflows(
            WorkflowsConfig::builder()
                .lease(lease)
                .idle(Duration::from_millis(20))
                .reaper_interval(Duration::from_millis(10))
                .build(),
        ),
    )
}

fn id(bytes: &[u8; 16]) -> tb::Id {
    tb::Id {
        uuid: Bytes::copy_from_slice(bytes),
    }
}

fn uuid(id: &Option<tb::Id>) -> [u8; 16] {
    id.as_ref().unwrap().uuid.as_ref().try_into().unwrap()
}

/// One group of `n` leaf tasks with displays `"{prefix}{i}"`.
fn leaves(prefix: &str, n: usize) -> wf::TaskSubmissions {
    wf::TaskSubmissions {
        task_groups: vec![wf::TaskSubmissionGroup {
            dependencies_on_other_groups: vec![],
            inputs: (0..n).map(|i| Bytes::from(format!("{i}"))).collect(),
            identifier_pointers: vec![0; n],
            cluster_slug_pointers: vec![0; n],
            display_pointers: (0..n as u64).collect(),
            max_retries_values: vec![0; n],
            optional_values: vec![],
        }],
        cluster_slug_lookup: vec![],
        identifier_lookup: vec![wf::TaskIdentifier {
            name: TASK.into(),
            version: "v1.0".into(),
        }],
        display_lookup: (0..n).map(|i| format!("{prefix}{i}")).collect(),
    }
}

fn submit_request(
    name: &str,
    tasks: wf::TaskSubmissions,
    automation: Option<[u8; 16]>,
) -> wf::SubmitJobRequest {
    wf::SubmitJobRequest {
        tasks: Some(tasks),
        job_name: name.into(),
        trace_parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        automation_id: automation.as_ref().map(id),
        ..Default::default()
    }
}

async fn submit(url: &str, name: &str, tasks: wf::TaskSubmissions) -> wf::Job {
    call(url, SUBMIT, &submit_request(name, tasks, None))
        .await
        .unwrap()
}

async fn default_cluster(url: &str) -> String {
    let c: wf::Cluster = call(url, GET_CLUSTER, &wf::GetClusterRequest::default())
        .await
        .unwrap();
    c.slug
}

fn claim_request(cluster: &str, computed: Option<wf::ComputedTask>) -> wf::NextTaskRequest {
    wf::NextTaskRequest {
        computed_task: computed,
        next_task_to_run: Some(wf::NextTaskToRun {
            cluster_slug: cluster.into(),
            identifiers: vec![wf::TaskIdentifier {
                name: TASK.into(),
                version: "v1.0".into(),
            }],
        }),
    }
}

async fn claim(url: &str, cluster: &str) -> Option<wf::Task> {
    let r: wf::NextTaskResponse = call(url, NEXT, &claim_request(cluster, None))
        .await
        .unwrap();
    r.next_task
}

fn computed(task: &wf::Task, subtasks: Option<wf::TaskSubmissions>) -> wf::ComputedTask {
    #[allow(deprecated)]
    wf::ComputedTask {
        id: task.id.clone(),
        display: String::new(),
        sub_tasks: subtasks,
        legacy_sub_tasks: vec![],
        progress_updates: vec![],
    }
}

async fn report(url: &str, c: wf::ComputedTask) -> Result<wf::NextTaskResponse, ConnectError> {
    call(
        url,
        NEXT,
        &wf::NextTaskRequest {
            computed_task: Some(c),
            next_task_to_run: None,
        },
    )
    .await
}

async fn job(url: &str, job_id: &Option<tb::Id>) -> wf::Job {
    call(
        url,
        GET_JOB,
        &wf::GetJobRequest {
            job_id: job_id.clone(),
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn extend_lease_of_an_unknown_task_is_not_found() {
    if common::skip() {
        return;
    }
    let server = server(Duration::from_secs(5));
    let url = server.url();
    let err = call::<_, wf::TaskLease>(
        &url,
        EXTEND,
        &wf::TaskLeaseRequest {
            task_id: Some(id(&[7; 16])),
            requested_lease: Some(prost_types::Duration {
                seconds: 5,
                nanos: 0,
            }),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "not_found", "{err:?}");
    // The same for a failure report, and a malformed id is invalid.
    let err = call::<_, wf::TaskStateResponse>(
        &url,
        FAILED,
        &wf::TaskFailedRequest {
            task_id: Some(id(&[7; 16])),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "not_found");
    let err = call::<_, wf::TaskLease>(
        &url,
        EXTEND,
        &wf::TaskLeaseRequest {
            task_id: Some(tb::Id {
                uuid: Bytes::from_static(b"short"),
            }),
            requested_lease: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "invalid_argument");

    // A known task: a running one gets its lease extended, a computed one an empty lease.
    let cluster = default_cluster(&url).await;
    submit(&url, "one", leaves("t", 1)).await;
    let task = claim(&url, &cluster).await.unwrap();
    let request = wf::TaskLeaseRequest {
        task_id: task.id.clone(),
        requested_lease: Some(prost_types::Duration {
            seconds: 7,
            nanos: 0,
        }),
    };
    let lease: wf::TaskLease = call(&url, EXTEND, &request).await.unwrap();
    assert_eq!(lease.lease.unwrap().seconds, 7);
    report(&url, computed(&task, None)).await.unwrap();
    let lease: wf::TaskLease = call(&url, EXTEND, &request).await.unwrap();
    assert_eq!(lease, wf::TaskLease::default());
}

#[tokio::test]
async fn repeated_reports_for_a_computed_task_are_accepted_once() {
    if common::skip() {
        return;
    }
    let server = server(Duration::from_secs(5));
    let url = server.url();
    let cluster = default_cluster(&url).await;
    let submitted = submit(&url, "repeat", leaves("root", 1)).await;
    let task = claim(&url, &cluster).await.unwrap();
    let report_once = computed(&task, Some(leaves("child", 3)));
    report(&url, report_once.clone()).await.unwrap();
    // The runner did not see the answer and reports again: accepted, no second set of subtasks.
    report(&url, report_once.clone()).await.unwrap();
    let view = job(&url, &submitted.id).await;
    assert_eq!(view.task_summaries.len(), 4, "root + 3 children, once");
    // A failure report after the completion changes nothing and answers the task's state.
    let state: wf::TaskStateResponse = call(
        &url,
        FAILED,
        &wf::TaskFailedRequest {
            task_id: task.id.clone(),
            display: "late".into(),
            was_workflow_error: true,
            progress_updates: vec![],
        },
    )
    .await
    .unwrap();
    assert_eq!(state.state, wf::TaskState::Computed as i32);
    // Run the children; a repeated report of the last one does not complete anything twice.
    let mut last = None;
    while let Some(child) = claim(&url, &cluster).await {
        report(&url, computed(&child, None)).await.unwrap();
        last = Some(child);
    }
    report(&url, computed(&last.unwrap(), None)).await.unwrap();
    let view = job(&url, &submitted.id).await;
    assert_eq!(view.state, wf::JobState::Completed as i32);
    let stats = view.execution_stats.unwrap();
    assert_eq!(stats.total_tasks, 4);
    assert_eq!(
        stats.tasks_by_state,
        vec![wf::TaskStateCount {
            state: wf::TaskState::Computed as i32,
            count: 4
        }]
    );
}

#[tokio::test]
async fn job_state_follows_its_tasks() {
    if common::skip() {
        return;
    }
    let server = server(Duration::from_secs(5));
    let url = server.url();
    let cluster = default_cluster(&url).await;
    let submitted = submit(&url, "states", leaves("t", 2)).await;
    assert_eq!(submitted.state, wf::JobState::Submitted as i32);
    let a = claim(&url, &cluster).await.unwrap();
    assert_eq!(
        job(&url, &submitted.id).await.state,
        wf::JobState::Running as i32
    );
    let state: wf::TaskStateResponse = call(
        &url,
        FAILED,
        &wf::TaskFailedRequest {
            task_id: a.id.clone(),
            display: String::new(),
            was_workflow_error: true,
            progress_updates: vec![],
        },
    )
    .await
    .unwrap();
    assert_eq!(state.state, wf::TaskState::Failed as i32, "no retries");
    assert_eq!(
        job(&url, &submitted.id).await.state,
        wf::JobState::Failed as i32
    );
    // A failed job hands out no more tasks; a retry requeues the failed one.
    assert!(claim(&url, &cluster).await.is_none());
    let retried: wf::RetryJobResponse = call(
        &url,
        "workflows.v1.JobService/RetryJob",
        &wf::RetryJobRequest {
            job_id: submitted.id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(retried.num_tasks_rescheduled, 1);
    assert_eq!(
        job(&url, &submitted.id).await.state,
        wf::JobState::Running as i32
    );
    while let Some(t) = claim(&url, &cluster).await {
        report(&url, computed(&t, None)).await.unwrap();
    }
    assert_eq!(
        job(&url, &submitted.id).await.state,
        wf::JobState::Completed as i32
    );
}

#[tokio::test]
async fn update_cluster() {
    if common::skip() {
        return;
    }
    let server = server(Duration::from_secs(5));
    let url = server.url();
    let created: wf::Cluster = call(
        &url,
        CREATE_CLUSTER,
        &wf::CreateClusterRequest {
            name: "GPU pool".into(),
            description: "first".into(),
            slug: String::new(),
        },
    )
    .await
    .unwrap();
    assert!(created.slug.starts_with("gpu-pool-"), "{}", created.slug);
    let renamed: wf::Cluster = call(
        &url,
        UPDATE_CLUSTER,
        &wf::UpdateClusterRequest {
            cluster_slug: created.slug.clone(),
            name: Some("Renamed".into()),
            description: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (renamed.display_name.as_str(), renamed.description.as_str()),
        ("Renamed", "first")
    );
    let described: wf::Cluster = call(
        &url,
        UPDATE_CLUSTER,
        &wf::UpdateClusterRequest {
            cluster_slug: created.slug.clone(),
            name: None,
            description: Some("second".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            described.display_name.as_str(),
            described.description.as_str()
        ),
        ("Renamed", "second")
    );
    let fetched: wf::Cluster = call(
        &url,
        GET_CLUSTER,
        &wf::GetClusterRequest {
            cluster_slug: created.slug.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(fetched, described);
    let err = call::<_, wf::Cluster>(
        &url,
        UPDATE_CLUSTER,
        &wf::UpdateClusterRequest {
            cluster_slug: "nowhere".into(),
            name: Some("x".into()),
            description: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "not_found");
    let err = call::<_, wf::Cluster>(
        &url,
        UPDATE_CLUSTER,
        &wf::UpdateClusterRequest {
            cluster_slug: created.slug.clone(),
            name: Some(String::new()),
            description: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "invalid_argument");
}

async fn query(
    url: &str,
    filters: wf::QueryFilters,
    page: Option<tb::Pagination>,
) -> wf::QueryJobsResponse {
    call(
        url,
        QUERY,
        &wf::QueryJobsRequest {
            filters: Some(filters),
            page,
            sort_direction: tb::SortDirection::Ascending as i32,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn job_queries_filter_and_page_by_cursor() {
    if common::skip() {
        return;
    }
    let server = server(Duration::from_secs(5));
    let url = server.url();
    let cluster = default_cluster(&url).await;
    let automation = [0x42; 16];
    let mut ids = Vec::new();
    for i in 0..7 {
        let auto = (i % 3 == 0).then_some(automation);
        let j: wf::Job = call(
            &url,
            SUBMIT,
            &submit_request(&format!("job-{i}"), leaves("t", 1), auto),
        )
        .await
        .unwrap();
        ids.push(uuid(&j.id));
    }
    // Cursor paging: pages of 3 in submission order, each page's cursor is its last job.
    let mut seen = Vec::new();
    let mut page = Some(tb::Pagination {
        limit: Some(3),
        starting_after: None,
    });
    let mut pages = 0;
    while let Some(p) = page {
        let r = query(&url, wf::QueryFilters::default(), Some(p)).await;
        assert!(r.jobs.len() <= 3);
        if let Some(next) = &r.next_page {
            assert_eq!(next.starting_after, r.jobs.last().unwrap().id);
            assert_eq!(next.limit, Some(3));
        }
        seen.extend(r.jobs.iter().map(|j| uuid(&j.id)));
        page = r.next_page;
        pages += 1;
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
    // By automation.
    let r = query(
        &url,
        wf::QueryFilters {
            automation_ids: vec![id(&automation)],
            ..Default::default()
        },
        None,
    )
    .await;
    let expected: Vec<[u8; 16]> = ids.iter().copied().step_by(3).collect();
    assert_eq!(
        r.jobs.iter().map(|j| uuid(&j.id)).collect::<Vec<_>>(),
        expected
    );
    assert!(
        r.jobs
            .iter()
            .all(|j| j.automation_id == Some(id(&automation)))
    );
    // By task state: the job whose task is running.
    let running = claim(&url, &cluster).await.unwrap();
    let running_job = uuid(&running.job.as_ref().unwrap().id);
    let r = query(
        &url,
        wf::QueryFilters {
            task_states: vec![wf::TaskState::Running as i32],
            ..Default::default()
        },
        None,
    )
    .await;
    assert_eq!(
        r.jobs.iter().map(|j| uuid(&j.id)).collect::<Vec<_>>(),
        vec![running_job]
    );
    // By job state, combined with the cursor.
    let r = query(
        &url,
        wf::QueryFilters {
            states: vec![wf::JobState::Submitted as i32],
            ..Default::default()
        },
        Some(tb::Pagination {
            limit: Some(2),
            starting_after: Some(id(&ids[1])),
        }),
    )
    .await;
    let got: Vec<[u8; 16]> = r.jobs.iter().map(|j| uuid(&j.id)).collect();
    let want: Vec<[u8; 16]> = ids[2..]
        .iter()
        .copied()
        .filter(|j| *j != running_job)
        .take(2)
        .collect();
    assert_eq!(got, want);
    // Unknown enum values are invalid.
    let err = call::<_, wf::QueryJobsResponse>(
        &url,
        QUERY,
        &wf::QueryJobsRequest {
            filters: Some(wf::QueryFilters {
                task_states: vec![99],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "invalid_argument");
}

#[tokio::test]
async fn visualize_job_draws_the_task_tree() {
    if common::skip() {
        return;
    }
    let server = server(Duration::from_secs(5));
    let url = server.url();
    let cluster = default_cluster(&url).await;
    let submitted = submit(&url, "draw <me>", leaves("root", 1)).await;
    let task = claim(&url, &cluster).await.unwrap();
    report(&url, computed(&task, Some(leaves("child-", 2))))
        .await
        .unwrap();
    let diagram: wf::Diagram = call(
        &url,
        VISUALIZE,
        &wf::VisualizeJobRequest {
            job_id: submitted.id.clone(),
            render_options: Some(wf::RenderOptions {
                layout: "dagre".into(),
                direction: "down".into(),
                ..Default::default()
            }),
            theme: 0,
            include_job_name: true,
        },
    )
    .await
    .unwrap();
    let svg = String::from_utf8(diagram.svg.to_vec()).unwrap();
    assert!(svg.starts_with("<svg "), "{svg}");
    for display in ["root0", "child-0", "child-1", "draw &lt;me&gt;"] {
        assert!(svg.contains(display), "{display} missing in {svg}");
    }
    assert_eq!(
        svg.matches("<line ").count(),
        2,
        "two subtasks under the root"
    );
    let err = call::<_, wf::Diagram>(
        &url,
        VISUALIZE,
        &wf::VisualizeJobRequest {
            job_id: Some(id(&[3; 16])),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "not_found");
}

/// Sends a Connect proto request on a shared h2c client; `cancel_after` drops it (HTTP/2 `RST_STREAM`)
/// when it has not been answered by then.
async fn h2_call<Req: Message>(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    req: &Req,
    headers: &[(&str, &str)],
    cancel_after: Option<Duration>,
) -> Option<(u16, Bytes)> {
    let mut builder = client
        .post(format!("{url}/{path}"))
        .header("content-type", "application/proto")
        .header("connect-protocol-version", "1")
        .body(req.encode_to_vec());
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let fut = async {
        let resp = builder.send().await.ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.bytes().await.ok()?))
    };
    match cancel_after {
        Some(after) => tokio::time::timeout(after, fut).await.ok().flatten(),
        None => fut.await,
    }
}

/// Issue 11: workflows writes cancelled at many points — by `Connect-Timeout-Ms`, by a gRPC deadline and
/// by HTTP/2 stream resets — while large submissions and the lease reaper hold the write lock, leave no
/// transaction open: afterwards every kind of workflows write succeeds at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_writes_leave_the_store_usable() {
    if common::skip() {
        return;
    }
    // Short leases so the reaper has work: claimed tasks expire while the load runs.
    let server = server(Duration::from_millis(200));
    let url = server.url();
    let cluster = default_cluster(&url).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    submit(&url, "seed", leaves("seed", 500)).await;

    let mut workers = Vec::new();
    for w in 0..6u64 {
        let (h2, url, cluster) = (h2.clone(), url.clone(), cluster.clone());
        workers.push(tokio::spawn(async move {
            let mut last_task: Option<wf::Task> = None;
            for k in 0..40u64 {
                // Cancel points spread from "before the lock" to "mid-transaction" to "after commit".
                let cancel = Some(Duration::from_micros((k * 7919 + w * 104_729) % 4_000 + 50));
                let deadline = ((k + w) % 3).to_string();
                let headers: &[(&str, &str)] = if k % 2 == 0 {
                    &[("connect-timeout-ms", deadline.as_str())]
                } else {
                    &[]
                };
                match (k + w) % 5 {
                    0 => {
                        let n = if k % 4 == 0 { 400 } else { 3 };
                        let req = submit_request("load", leaves("load", n), None);
                        h2_call(&h2, &url, SUBMIT, &req, headers, cancel).await;
                    }
                    1 | 2 => {
                        let req = claim_request(
                            &cluster,
                            last_task
                                .take()
                                .map(|t| computed(&t, Some(leaves("sub", 2)))),
                        );
                        if let Some((200, body)) =
                            h2_call(&h2, &url, NEXT, &req, headers, cancel).await
                        {
                            last_task = wf::NextTaskResponse::decode(body)
                                .ok()
                                .and_then(|r| r.next_task);
                        }
                    }
                    3 => {
                        if let Some(t) = &last_task {
                            let req = wf::TaskFailedRequest {
                                task_id: t.id.clone(),
                                display: "failed".into(),
                                was_workflow_error: k % 3 == 0,
                                progress_updates: vec![],
                            };
                            h2_call(&h2, &url, FAILED, &req, headers, cancel).await;
                        }
                    }
                    _ => {
                        if let Some(t) = &last_task {
                            let req = wf::TaskLeaseRequest {
                                task_id: t.id.clone(),
                                requested_lease: Some(prost_types::Duration {
                                    seconds: 1,
                                    nanos: 0,
                                }),
                            };
                            h2_call(&h2, &url, EXTEND, &req, headers, cancel).await;
                        }
                    }
                }
            }
        }));
    }
    // gRPC callers with deadlines too short to finish.
    for k in 0..20u64 {
        let req = submit_request("grpc", leaves("g", 50), None);
        let mut framed = vec![0u8];
        let body = req.encode_to_vec();
        framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
        framed.extend_from_slice(&body);
        let timeout = format!("{}m", k % 3 + 1);
        let headers = [("grpc-timeout", timeout.as_str())];
        let call = common::grpc_raw(&url, SUBMIT, framed, &headers);
        // Reset the stream mid-flight for half of them.
        if k % 2 == 0 {
            let _ = tokio::time::timeout(Duration::from_micros(300 + k * 150), call).await;
        } else {
            call.await;
        }
    }
    for w in workers {
        w.await.unwrap();
    }

    // Every kind of write succeeds at once (a wedged store would answer `internal` or hang on the lock;
    // the client gives up after 10 s).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let ok = |r: Option<(u16, Bytes)>, what: &str| -> Bytes {
        match r {
            Some((200, body)) => body,
            Some((status, body)) => {
                panic!("{what}: HTTP {status}: {}", String::from_utf8_lossy(&body))
            }
            None => panic!("{what}: no answer"),
        }
    };
    let job = wf::Job::decode(ok(
        h2_call(
            &client,
            &url,
            SUBMIT,
            &submit_request("after", leaves("after", 1), None),
            &[],
            None,
        )
        .await,
        "SubmitJob",
    ))
    .unwrap();
    let claimed = wf::NextTaskResponse::decode(ok(
        h2_call(
            &client,
            &url,
            NEXT,
            &claim_request(&cluster, None),
            &[],
            None,
        )
        .await,
        "NextTask",
    ))
    .unwrap()
    .next_task
    .expect("a queued task is handed out");
    let lease = wf::TaskLease::decode(ok(
        h2_call(
            &client,
            &url,
            EXTEND,
            &wf::TaskLeaseRequest {
                task_id: claimed.id.clone(),
                requested_lease: Some(prost_types::Duration {
                    seconds: 5,
                    nanos: 0,
                }),
            },
            &[],
            None,
        )
        .await,
        "ExtendTaskLease",
    ))
    .unwrap();
    assert_eq!(lease.lease.unwrap().seconds, 5);
    ok(
        h2_call(
            &client,
            &url,
            FAILED,
            &wf::TaskFailedRequest {
                task_id: claimed.id.clone(),
                display: String::new(),
                was_workflow_error: false,
                progress_updates: vec![],
            },
            &[],
            None,
        )
        .await,
        "TaskFailed",
    );
    ok(
        h2_call(
            &client,
            &url,
            CANCEL,
            &wf::CancelJobRequest {
                job_id: job.id.clone(),
            },
            &[],
            None,
        )
        .await,
        "CancelJob",
    );
    ok(
        h2_call(
            &client,
            &url,
            CREATE_CLUSTER,
            &wf::CreateClusterRequest {
                name: "after".into(),
                description: String::new(),
                slug: "after-load".into(),
            },
            &[],
            None,
        )
        .await,
        "CreateCluster",
    );
    // The store is consistent: every job's task counts add up to its total.
    let page = query(
        &url,
        wf::QueryFilters::default(),
        Some(tb::Pagination {
            limit: Some(10_000),
            starting_after: None,
        }),
    )
    .await;
    for j in page.jobs {
        let stats = j.execution_stats.unwrap();
        let sum: u64 = stats.tasks_by_state.iter().map(|s| s.count).sum();
        assert_eq!(sum, stats.total_tasks);
    }
}
