//! Acceptance test 11: idempotency and leniency of the task protocol (raw RPC calls), and validation.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use tilebox_core::{Code, RpcClient};
use tilebox_workflows::{JobQuery, TaskState, WorkflowsError};

fn caps(cluster: &str) -> wf::NextTaskToRun {
    wf::NextTaskToRun {
        cluster_slug: cluster.into(),
        identifiers: vec![wf::TaskIdentifier {
            name: "tests/Node".into(),
            version: "v1.0".into(),
        }],
    }
}

async fn claim(rpc: &RpcClient, cluster: &str) -> wf::Task {
    let r: wf::NextTaskResponse = rpc
        .call(
            "workflows.v1.TaskService/NextTask",
            &wf::NextTaskRequest {
                computed_task: None,
                next_task_to_run: Some(caps(cluster)),
            },
        )
        .await
        .unwrap();
    r.next_task.expect("a task")
}

fn leaves(n: usize, input_len: usize) -> wf::TaskSubmissions {
    wf::TaskSubmissions {
        task_groups: (0..n)
            .map(|_| wf::TaskSubmissionGroup {
                inputs: vec![Bytes::from(vec![b' '; input_len])],
                identifier_pointers: vec![0],
                cluster_slug_pointers: vec![0],
                display_pointers: vec![0],
                max_retries_values: vec![0],
                ..Default::default()
            })
            .collect(),
        cluster_slug_lookup: vec![String::new()],
        identifier_lookup: vec![wf::TaskIdentifier {
            name: "tests/Node".into(),
            version: "v1.0".into(),
        }],
        display_lookup: vec!["leaf".into()],
    }
}

fn computed(task: &wf::Task, subs: Option<wf::TaskSubmissions>) -> wf::NextTaskRequest {
    #[allow(deprecated)]
    wf::NextTaskRequest {
        computed_task: Some(wf::ComputedTask {
            id: task.id.clone(),
            sub_tasks: subs,
            ..Default::default()
        }),
        next_task_to_run: None,
    }
}

async fn failed(rpc: &RpcClient, task: &wf::Task, workflow_error: bool) -> i32 {
    let r: wf::TaskStateResponse = rpc
        .call(
            "workflows.v1.TaskService/TaskFailed",
            &wf::TaskFailedRequest {
                task_id: task.id.clone(),
                display: "x\nboom".into(),
                was_workflow_error: workflow_error,
                progress_updates: vec![],
            },
        )
        .await
        .unwrap();
    r.state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_late_and_invalid_reports_are_handled_leniently() {
    let server = server().await;
    let client = client(&server.url());
    let rpc = client.rpc().clone();
    let cluster = client.clusters().default_cluster().await.unwrap().slug;

    // A duplicate ComputedTask inserts the subtasks once.
    let job = client
        .jobs()
        .submit("dup", &Node::leaf("root"))
        .await
        .unwrap();
    let root = claim(&rpc, &cluster).await;
    for _ in 0..2 {
        let r: wf::NextTaskResponse = rpc
            .call(
                "workflows.v1.TaskService/NextTask",
                &computed(&root, Some(leaves(2, 2))),
            )
            .await
            .unwrap();
        assert!(
            r.next_task.is_none() && r.idling.is_none(),
            "no next_task_to_run: empty answer"
        );
    }
    let view = client.jobs().get(job.id).await.unwrap();
    assert_eq!(view.tasks.len(), 3);

    // TaskFailed on a COMPUTED task changes nothing and answers COMPUTED.
    assert_eq!(
        failed(&rpc, &root, true).await,
        wf::TaskState::Computed as i32
    );

    // ExtendTaskLease on a queued task: an empty lease, not an error.
    let queued = view
        .tasks
        .iter()
        .find(|t| t.state == TaskState::Queued)
        .unwrap();
    let lease: wf::TaskLease = rpc
        .call(
            "workflows.v1.TaskService/ExtendTaskLease",
            &wf::TaskLeaseRequest {
                task_id: Some(tb::Id {
                    uuid: Bytes::copy_from_slice(queued.id.as_bytes()),
                }),
                requested_lease: Some(prost_types::Duration {
                    seconds: 10,
                    nanos: 0,
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(lease, wf::TaskLease::default());

    // A ComputedTask for a FAILED task is ignored without an error.
    client.jobs().cancel(job.id).await.unwrap();
    let job2 = client
        .jobs()
        .submit("fails", &Node::leaf("f"))
        .await
        .unwrap();
    let f = claim(&rpc, &cluster).await;
    assert_eq!(f.job.as_ref().unwrap().name, "fails");
    assert_eq!(failed(&rpc, &f, true).await, wf::TaskState::Failed as i32);
    let _: wf::NextTaskResponse = rpc
        .call(
            "workflows.v1.TaskService/NextTask",
            &computed(&f, Some(leaves(1, 2))),
        )
        .await
        .unwrap();
    let view = client.jobs().get(job2.id).await.unwrap();
    assert_eq!(
        (view.tasks.len(), view.tasks[0].state),
        (1, TaskState::Failed)
    );

    // Invalid submissions: InvalidArgument, nothing changes.
    let before = client.jobs().query(&JobQuery::new()).await.unwrap().len();
    for (groups, len) in [(65, 2), (1, 2049)] {
        let req = wf::SubmitJobRequest {
            tasks: Some(leaves(groups, len)),
            job_name: "bad".into(),
            trace_parent: "00-x-y-01".into(),
            ..Default::default()
        };
        let err = rpc
            .call::<_, wf::Job>("workflows.v1.JobService/SubmitJob", &req)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
    }
    assert_eq!(
        client.jobs().query(&JobQuery::new()).await.unwrap().len(),
        before
    );
    // The same for subtasks: the task stays RUNNING.
    let job3 = client
        .jobs()
        .submit("bad-subtasks", &Node::leaf("p"))
        .await
        .unwrap();
    let p = claim(&rpc, &cluster).await;
    let err = rpc
        .call::<_, wf::NextTaskResponse>(
            "workflows.v1.TaskService/NextTask",
            &computed(&p, Some(leaves(65, 2))),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    assert_eq!(
        client.jobs().get(job3.id).await.unwrap().tasks[0].state,
        TaskState::Running
    );
    server.shutdown().await;
}

#[tokio::test]
async fn client_side_limits_fail_before_sending() {
    let server = server().await;
    let client = client(&server.url());
    let big = Node::leaf(&"x".repeat(3000));
    let err = client.jobs().submit("too-big", &big).await.unwrap_err();
    assert!(
        matches!(err, WorkflowsError::InputTooLarge { limit: 2048, .. }),
        "{err}"
    );
    assert!(
        client
            .jobs()
            .query(&JobQuery::new())
            .await
            .unwrap()
            .is_empty(),
        "nothing was sent"
    );
    server.shutdown().await;
}
