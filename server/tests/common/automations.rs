//! Automations over Connect, shared by the automation suites: prototypes, an automation's jobs, claiming the
//! tasks they queued, storage locations and their events.

use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;

use super::call;

pub const CREATE: &str = "workflows.v1.AutomationService/CreateAutomation";
pub const DELETE: &str = "workflows.v1.AutomationService/DeleteAutomation";
pub const CREATE_LOCATION: &str = "workflows.v1.StorageLocationService/CreateStorageLocation";
pub const EVENTS: &str = "workflows.v1.StorageLocationService/ListStorageSubscriptionEvents";
const QUERY: &str = "workflows.v1.JobService/QueryJobs";
const NEXT: &str = "workflows.v1.TaskService/NextTask";

pub fn prototype(
    name: &str,
    cron: &[&str],
    storage: Vec<wf::StorageEventTrigger>,
) -> wf::AutomationPrototype {
    wf::AutomationPrototype {
        id: None,
        name: name.into(),
        prototype: Some(wf::SingleTaskSubmission {
            cluster_slug: String::new(),
            identifier: Some(wf::TaskIdentifier {
                name: "tests/Triggered".into(),
                version: "v1.0".into(),
            }),
            input: Bytes::from_static(b"{\"x\": 1}"),
            display: "Triggered".into(),
            dependencies: vec![],
            max_retries: 0,
        }),
        storage_event_triggers: storage,
        cron_triggers: cron
            .iter()
            .map(|s| wf::CronTrigger {
                id: None,
                schedule: (*s).into(),
                next_scheduled_at: None,
            })
            .collect(),
        disabled: false,
    }
}

pub async fn automation_jobs(url: &str, automation: &tb::Id) -> Vec<wf::Job> {
    let resp: wf::QueryJobsResponse = call(
        url,
        QUERY,
        &wf::QueryJobsRequest {
            filters: Some(wf::QueryFilters {
                automation_ids: vec![automation.clone()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    resp.jobs
}

/// Polls the automation's jobs until there are at least `n` (or fails after 20 s).
pub async fn wait_for_jobs(url: &str, automation: &tb::Id, n: usize) -> Vec<wf::Job> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let jobs = automation_jobs(url, automation).await;
        if jobs.len() >= n {
            return jobs;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} jobs after 20 s",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Claims the next task of the triggered identifier on the default cluster, reporting `done` first (as
/// completed without subtasks).
pub async fn claim_next(url: &str, done: Option<&wf::Task>) -> Option<wf::Task> {
    let default: wf::Cluster = call(
        url,
        "workflows.v1.WorkflowsService/GetCluster",
        &wf::GetClusterRequest::default(),
    )
    .await
    .unwrap();
    #[allow(deprecated)]
    let computed_task = done.map(|task| wf::ComputedTask {
        id: task.id.clone(),
        display: String::new(),
        sub_tasks: None,
        legacy_sub_tasks: vec![],
        progress_updates: vec![],
    });
    let resp: wf::NextTaskResponse = call(
        url,
        NEXT,
        &wf::NextTaskRequest {
            computed_task,
            next_task_to_run: Some(wf::NextTaskToRun {
                cluster_slug: default.slug,
                identifiers: vec![wf::TaskIdentifier {
                    name: "tests/Triggered".into(),
                    version: "v1.0".into(),
                }],
            }),
        },
    )
    .await
    .unwrap();
    resp.next_task
}

fn automation_input(task: &wf::Task) -> wf::Automation {
    wf::Automation::decode(task.input.clone().unwrap_or_default()).unwrap()
}

/// Claims the next task of the triggered identifier and decodes its `Automation` input.
pub async fn claim_input(url: &str) -> wf::Automation {
    let task = claim_next(url, None)
        .await
        .expect("a triggered task is queued");
    automation_input(&task)
}

/// Claims (and completes) every queued task of the triggered identifier; their `Automation` inputs.
pub async fn claim_all_inputs(url: &str) -> Vec<wf::Automation> {
    let mut inputs = Vec::new();
    let mut last: Option<wf::Task> = None;
    while let Some(task) = claim_next(url, last.as_ref()).await {
        inputs.push(automation_input(&task));
        last = Some(task);
    }
    inputs
}

/// The scheduled time (whole seconds since the epoch) a cron job was submitted for.
pub fn cron_time(input: &wf::Automation) -> i64 {
    let event = wf::TriggeredCronEvent::decode(input.trigger_event.clone()).unwrap();
    let time = event.trigger_time.unwrap();
    assert_eq!(time.nanos, 0, "scheduled times are whole seconds");
    time.seconds
}

/// Creates a storage location.
pub async fn create_location(
    url: &str,
    name: &str,
    reference: wf::StorageLocationReference,
) -> wf::StorageLocation {
    call(
        url,
        CREATE_LOCATION,
        &wf::CreateStorageLocationRequest {
            name: name.into(),
            reference: Some(reference),
        },
    )
    .await
    .unwrap()
}

/// Creates a `local` storage location for `dir`.
pub async fn local_location(url: &str, dir: &std::path::Path) -> wf::StorageLocation {
    let reference = wf::StorageLocationReference {
        local: Some(wf::LocalReference {
            path: dir.to_string_lossy().into_owned(),
        }),
        r#type: wf::StorageType::Local as i32,
        ..Default::default()
    };
    create_location(url, "drop", reference).await
}

/// A storage trigger on `location` for `glob`.
pub fn storage_trigger(location: &wf::StorageLocation, glob: &str) -> wf::StorageEventTrigger {
    wf::StorageEventTrigger {
        id: None,
        storage_location: Some(location.clone()),
        glob_pattern: glob.into(),
    }
}

/// Polls a location's events until there are at least `n` (or 20 s passed); returns them.
pub async fn wait_for_events(
    url: &str,
    location: &wf::StorageLocation,
    n: usize,
) -> Vec<wf::StorageSubscriptionEvent> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page: wf::StorageSubscriptionEvents = call(
            url,
            EVENTS,
            &wf::ListStorageSubscriptionEventsRequest {
                storage_location_id: location.id.clone(),
                page: None,
            },
        )
        .await
        .unwrap();
        if page.events.len() >= n || Instant::now() > deadline {
            return page.events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
