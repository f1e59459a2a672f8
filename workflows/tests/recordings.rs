//! The recorded production runs (`$TILEBOX_RECORDINGS/workflows/`) replayed through the client and runner.
//! Skipped, printing `SKIPPED: <test>: <reason>`, when `TILEBOX_RECORDINGS` is unset.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use prost::Message;
use tilebox_core::replay::ReplayTransport;
use tilebox_core::wire::workflows::v1 as wf;
use tilebox_core::{ClientConfig, RpcClient};
use tilebox_workflows::{
    CacheGroup, Client, InMemoryCache, JobQuery, JobState, LegacyJobState, TaskState,
};

fn recording(name: &str) -> Option<PathBuf> {
    match std::env::var_os("TILEBOX_RECORDINGS") {
        Some(dir) => Some(PathBuf::from(dir).join("workflows").join(name)),
        None => {
            tilebox_test_support::report_skip(
                "TILEBOX_RECORDINGS is not set (path to the recordings folder)",
            );
            None
        }
    }
}

fn replay_client(path: &PathBuf) -> (Client, Arc<ReplayTransport>) {
    let replay = ReplayTransport::from_file(path).unwrap().into_arc();
    let config = ClientConfig::builder()
        .url("http://replay.invalid")
        .api_key("replay")
        .build();
    let rpc = RpcClient::new(config, replay.clone(), Arc::new(tilebox_tokio::TokioSleep));
    (Client::from_rpc(rpc), replay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fibonacci_recording_replays_with_the_exact_call_sequence() {
    let Some(path) = recording("fibonacci_workflow.json.rpcs.bin") else {
        return;
    };
    let (client, replay) = replay_client(&path);
    let cache = InMemoryCache::new();
    let runner = client
        .runner()
        .cache(cache.clone())
        .register::<FibonacciTask>()
        .register::<SumResultTask>()
        .build_async()
        .await
        .unwrap();
    assert_eq!(runner.cluster(), "default-56uboc82HDVNys");
    let job = client
        .jobs()
        .submit("fibonacci", &FibonacciTask { n: 7 })
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Submitted);
    runner.run_all_async().await.unwrap();

    let mut expected = vec![
        "/workflows.v1.WorkflowsService/GetCluster".to_owned(),
        "/workflows.v1.JobService/SubmitJob".to_owned(),
    ];
    expected.extend(std::iter::repeat_n(
        "/workflows.v1.TaskService/NextTask".to_owned(),
        18,
    ));
    assert_eq!(replay.request_paths(), expected);
    assert_eq!(replay.remaining(), 0, "every recorded entry is consumed");

    // Request bodies: GetCluster(""), then work stealing, 16 reports, one final work-stealing request.
    let requests = replay.requests();
    let get_cluster = wf::GetClusterRequest::decode(requests[0].decoded_body().unwrap()).unwrap();
    assert_eq!(get_cluster.cluster_slug, "");
    let submit = wf::SubmitJobRequest::decode(requests[1].decoded_body().unwrap()).unwrap();
    let tasks = submit.tasks.unwrap();
    assert_eq!(tasks.task_groups[0].inputs[0].as_ref(), br#"{"N":7}"#);
    assert!(!submit.trace_parent.is_empty());
    let next: Vec<wf::NextTaskRequest> = requests[2..]
        .iter()
        .map(|r| wf::NextTaskRequest::decode(r.decoded_body().unwrap()).unwrap())
        .collect();
    assert!(next[0].computed_task.is_none());
    assert!(next[1..17].iter().all(|r| r.computed_task.is_some()));
    assert!(next[17].computed_task.is_none());
    assert!(
        next.iter()
            .all(|r| r.next_task_to_run.as_ref().unwrap().cluster_slug == "default-56uboc82HDVNys")
    );
    // F7's report carries its three subtasks in two groups (F6+F5, then S7 depending on them).
    let f7 = next[1]
        .computed_task
        .as_ref()
        .unwrap()
        .sub_tasks
        .as_ref()
        .unwrap();
    assert_eq!(f7.task_groups.len(), 2);
    assert_eq!(f7.task_groups[1].dependencies_on_other_groups, vec![0]);

    let group = CacheGroup::for_job(Arc::new(cache.clone()), job.id);
    let values: Vec<u64> = (1..=7)
        .map(|i| cached_u64(&group, &format!("fib_{i}")).unwrap())
        .collect();
    assert_eq!(values, vec![1, 1, 2, 3, 5, 8, 13]);
    assert_eq!(
        read_log(&group),
        "F7 F5 F3 F1 F2 S3 F4 F2 F3 S4 S5 F6 F4 F5 S6 S7"
    );
    assert_eq!(runner.stats().extensions_granted, 0);
}

#[tokio::test]
async fn job_cluster_and_query_recordings_decode() {
    let Some(path) = recording("Job.rpcs.bin") else {
        return;
    };
    let (client, replay) = replay_client(&path);
    let id: tilebox_workflows::Uuid = "0199614b-6102-1498-815b-3cb23f72b489".parse().unwrap();
    let job = client.jobs().get(id).await.unwrap();
    assert_eq!(job.id, id);
    assert!(!job.tasks.is_empty());
    assert!(
        job.tasks.iter().skip(1).all(|t| t.parent_id.is_some()),
        "subtasks carry parent ids"
    );
    assert_eq!(
        job.trace_parent,
        "00-6b5dd6328ae6f7dc35fc987eade2cb97-899fb70e0df2b53d-01"
    );
    assert_eq!(job.name, "progress-example");
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.legacy_state, LegacyJobState::Completed);
    assert!(!job.canceled);
    assert_eq!(job.automation_id, None);
    let at = |secs: u64, nanos: u32| Some(UNIX_EPOCH + Duration::new(secs, nanos));
    assert_eq!(job.submitted_at, at(1_758_273_954, 50_000_000));
    assert_eq!(job.started_at, at(1_758_273_954, 223_623_000));
    assert_eq!(job.progress("").map(|p| (p.total, p.done)), Some((5, 5)));
    let stats = job.execution_stats.as_ref().unwrap();
    assert_eq!(stats.first_task_started_at, at(1_758_273_954, 223_623_000));
    assert_eq!(stats.last_task_stopped_at, at(1_758_273_954, 815_481_000));
    assert_eq!(stats.compute_time, Duration::from_nanos(470_236_000));
    assert_eq!(stats.elapsed_time, Duration::from_nanos(591_858_000));
    assert_eq!(stats.parallelism, 1.0);
    assert_eq!(stats.total_tasks, 6);
    assert_eq!(stats.tasks_by_state, vec![(TaskState::Computed, 6)]);
    assert_eq!(stats.tasks_in(TaskState::Computed), 6);
    assert_eq!(job.total_tasks, 6);
    assert_eq!(
        replay.request_paths(),
        vec!["/workflows.v1.JobService/GetJob"]
    );

    let (client, replay) = replay_client(&recording("Jobs.rpcs.bin").unwrap());
    let start = UNIX_EPOCH + Duration::from_secs(1_706_745_600); // 2024-02-01
    let end = UNIX_EPOCH + Duration::from_secs(1_738_368_000); // 2025-02-01
    let jobs = client
        .jobs()
        .query(&JobQuery::new().submitted_between(start, end))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 12);
    assert!(jobs.iter().any(|j| j.state == JobState::Failed));
    // The deprecated fields as the hosted API still sends them: failed jobs are "canceled" and "started".
    for j in &jobs {
        assert!(j.started_at.is_some());
        assert_eq!(j.automation_id, None);
        match j.state {
            JobState::Failed => {
                assert!(j.canceled);
                assert_eq!(j.legacy_state, LegacyJobState::Started);
            }
            JobState::Completed => {
                assert!(!j.canceled);
                assert_eq!(j.legacy_state, LegacyJobState::Completed);
            }
            other => panic!("unexpected state {other:?}"),
        }
        let stats = j.execution_stats.as_ref().unwrap();
        assert_eq!(stats.first_task_started_at, j.started_at);
    }
    assert_eq!(jobs[0].name, "my-windows-job");
    let first = jobs[0].execution_stats.as_ref().unwrap();
    assert_eq!(first.compute_time, Duration::from_nanos(40_478_000));
    assert_eq!(first.elapsed_time, Duration::from_nanos(40_478_000));
    assert_eq!(first.parallelism, 1.0);
    assert_eq!(first.total_tasks, 1);
    assert_eq!(
        replay.request_paths(),
        vec!["/workflows.v1.JobService/QueryJobs"]
    );
    assert_eq!(replay.remaining(), 0);

    let (client, _) = replay_client(&recording("cluster.rpcs.bin").unwrap());
    let cluster = client
        .clusters()
        .get("dev-cluster-ESugE7S4cwADVK")
        .await
        .unwrap();
    assert_eq!(cluster.slug, "dev-cluster-ESugE7S4cwADVK");
    assert_eq!(cluster.display_name, "dev-cluster");
    assert_eq!(cluster.description, "");
    assert!(cluster.deployed_workflows.is_empty());
    assert!(cluster.deletable);

    let (client, _) = replay_client(&recording("clusters.rpcs.bin").unwrap());
    let clusters = client.clusters().list().await.unwrap();
    assert_eq!(
        clusters
            .iter()
            .map(|c| (c.slug.as_str(), c.display_name.as_str(), c.deletable))
            .collect::<Vec<_>>(),
        vec![
            ("default-56uboc82HDVNys", "Default", false),
            ("dev-cluster-ESugE7S4cwADVK", "dev-cluster", true),
        ]
    );
    assert!(
        !clusters[0].deletable,
        "the default cluster comes first and is not deletable"
    );
}
