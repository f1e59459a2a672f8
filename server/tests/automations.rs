//! Automations and storage locations over Connect: a cron automation fires, a file written into a local
//! storage location fires its automation (once, with the trigger in the task input), and bad input is refused
//! naming the field with nothing stored. `automations_pg.rs` runs the same tests on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::automations::{
    CREATE, CREATE_LOCATION, DELETE, automation_jobs, claim_input, local_location, prototype,
    storage_trigger, wait_for_events, wait_for_jobs,
};
use common::{ConnectError, call, empty_server};
use prost::Message;
use tilebox_core::wire::workflows::v1 as wf;
use tilebox_server::{BackgroundServer, ServerConfig, WorkflowsConfig};

const LIST: &str = "workflows.v1.AutomationService/ListAutomations";
const GET: &str = "workflows.v1.AutomationService/GetAutomation";
const LIST_LOCATIONS: &str = "workflows.v1.StorageLocationService/ListStorageLocations";

fn server() -> BackgroundServer {
    empty_server(
        ServerConfig::builder().workflows(
            WorkflowsConfig::builder()
                .automation_interval(Duration::from_millis(50))
                .build(),
        ),
    )
}

#[tokio::test]
async fn a_cron_automation_fires_with_its_scheduled_time() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    let created: wf::AutomationPrototype = call(
        &url,
        CREATE,
        &prototype("every second", &["* * * * * *"], vec![]),
    )
    .await
    .unwrap();
    let id = created.id.clone().unwrap();
    let next = created.cron_triggers[0].next_scheduled_at.unwrap();
    let jobs = wait_for_jobs(&url, &id, 2).await;
    assert!(jobs.iter().all(|j| j.name == "every second"));
    let input = claim_input(&url).await;
    assert_eq!(input.args, Bytes::from_static(b"{\"x\": 1}"));
    let event = wf::TriggeredCronEvent::decode(input.trigger_event).unwrap();
    let time = event.trigger_time.unwrap();
    assert_eq!(time.nanos, 0, "scheduled times are whole seconds");
    assert!(time.seconds >= next.seconds);
    // Deleting with cancel_jobs cancels what it submitted, and it fires no more.
    let _: () = call(
        &url,
        DELETE,
        &wf::DeleteAutomationRequest {
            automation_id: Some(id.clone()),
            cancel_jobs: true,
        },
    )
    .await
    .unwrap();
    let after = automation_jobs(&url, &id).await;
    assert!(
        after
            .iter()
            .all(|j| j.state == wf::JobState::Canceled as i32
                || j.state == wf::JobState::Completed as i32),
        "{after:?}"
    );
    let err: ConnectError = call::<_, wf::AutomationPrototype>(&url, GET, &id)
        .await
        .unwrap_err();
    assert_eq!(err.code, "not_found");
}

#[tokio::test]
async fn a_file_written_into_a_local_location_fires_once() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.txt"), b"before").unwrap();
    // Older than the location: not a new object.
    let old = std::fs::File::options()
        .write(true)
        .open(dir.path().join("old.txt"))
        .unwrap();
    old.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    let location = local_location(&url, dir.path()).await;
    let trigger = storage_trigger(&location, "**/*.txt");
    let created: wf::AutomationPrototype =
        call(&url, CREATE, &prototype("on drop", &[], vec![trigger]))
            .await
            .unwrap();
    let id = created.id.clone().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/new.txt"), b"x").unwrap();
    std::fs::write(dir.path().join("skip.bin"), b"x").unwrap();
    let jobs = wait_for_jobs(&url, &id, 1).await;
    assert_eq!(jobs.len(), 1);
    let input = claim_input(&url).await;
    let event = wf::TriggeredStorageEvent::decode(input.trigger_event).unwrap();
    assert_eq!(event.location, "sub/new.txt");
    assert_eq!(event.storage_location_id, location.id);
    assert_eq!(event.r#type, wf::StorageEventType::Created as i32);
    // Both new files are recorded (the .bin without a job); the old one is not.
    let events = wait_for_events(&url, &location, 2).await;
    let mut keys: Vec<_> = events
        .iter()
        .map(|e| (e.object_key.as_str(), e.triggered_jobs.len()))
        .collect();
    keys.sort();
    assert_eq!(keys, [("skip.bin", 0), ("sub/new.txt", 1)]);
    assert_eq!(
        automation_jobs(&url, &id).await.len(),
        1,
        "one job per object"
    );
}

async fn refused<Req: Message>(url: &str, path: &str, req: &Req, code: &str, field: &str) {
    let err = call::<_, wf::AutomationPrototype>(url, path, req)
        .await
        .unwrap_err();
    assert_eq!(err.code, code, "{err:?}");
    assert!(
        err.message.contains(field),
        "{field} not named in {:?}",
        err.message
    );
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_stored() {
    if common::skip() {
        return;
    }
    let server = server();
    let url = server.url();
    for bad in ["not a cron", "61 * * * *", "CRON_TZ=Nowhere/City 0 9 * * *"] {
        refused(
            &url,
            CREATE,
            &prototype("bad", &[bad], vec![]),
            "invalid_argument",
            "cron_triggers[0].schedule",
        )
        .await;
    }
    refused(
        &url,
        CREATE,
        &prototype("none", &[], vec![]),
        "invalid_argument",
        "cron_triggers",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let location = local_location(&url, dir.path()).await;
    let bad_glob = wf::StorageEventTrigger {
        id: None,
        storage_location: Some(location.clone()),
        glob_pattern: "[unclosed".into(),
    };
    refused(
        &url,
        CREATE,
        &prototype("glob", &[], vec![bad_glob]),
        "invalid_argument",
        "storage_event_triggers[0].glob_pattern",
    )
    .await;
    let mut elsewhere = location.clone();
    elsewhere.id = Some(common::id(&[7; 16]));
    let unknown = wf::StorageEventTrigger {
        id: None,
        storage_location: Some(elsewhere),
        glob_pattern: "*".into(),
    };
    refused(
        &url,
        CREATE,
        &prototype("unknown", &[], vec![unknown]),
        "invalid_argument",
        "storage_event_triggers[0].storage_location",
    )
    .await;
    let missing_dir = wf::CreateStorageLocationRequest {
        name: "gone".into(),
        reference: Some(wf::StorageLocationReference {
            local: Some(wf::LocalReference {
                path: "/no/such/dir/anywhere".into(),
            }),
            ..Default::default()
        }),
    };
    refused(
        &url,
        CREATE_LOCATION,
        &missing_dir,
        "invalid_argument",
        "reference.local.path",
    )
    .await;
    refused(&url, GET, &common::id(&[9; 16]), "not_found", "automation").await;
    refused(
        &url,
        DELETE,
        &wf::DeleteAutomationRequest {
            automation_id: Some(common::id(&[9; 16])),
            cancel_jobs: false,
        },
        "not_found",
        "automation",
    )
    .await;
    let all: wf::Automations = call(&url, LIST, &()).await.unwrap();
    assert!(all.automations.is_empty(), "{all:?}");
    let locations: wf::StorageLocations = call(&url, LIST_LOCATIONS, &()).await.unwrap();
    assert_eq!(
        locations.locations.len(),
        1,
        "only the valid location is stored"
    );
}
