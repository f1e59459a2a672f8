//! Automations, storage locations, workflow definitions and the job views from Rust against the local server,
//! on tokio, smol and the blocking client: each call's happy path and a `not_found` / `invalid_argument`
//! case; a cron automation created from Rust fires and a Rust cron task runs with its scheduled time; a file
//! written into a local storage location runs a Rust storage-event task with the object path.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde::{Deserialize, Serialize};
use tilebox_workflows::{
    AutomationOptions, AutomationTrigger, Client, Cron, CronTask, JobQuery, JobState,
    OnStorageEvent, StorageEventTask, StorageEventType, StorageReference, TaskContext, TaskError,
    TaskIdentifier, TriggeredCronEvent, TriggeredStorageEvent, Uuid, WorkflowsError,
};

/// What the triggered tasks saw, by label.
static SEEN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn seen(label: &str) -> Vec<String> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|(l, _)| l == label)
        .map(|(_, v)| v.clone())
        .collect()
}

#[derive(Serialize, Deserialize)]
struct Tick {
    label: String,
}

impl CronTask for Tick {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/automations/Tick", "v1.0")
    }
    fn execute(&self, trigger: &TriggeredCronEvent, _: &TaskContext) -> Result<(), TaskError> {
        let t = trigger.time.duration_since(UNIX_EPOCH)?;
        SEEN.lock().unwrap().push((
            self.label.clone(),
            format!("{}.{:09}", t.as_secs(), t.subsec_nanos()),
        ));
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct OnFile {
    label: String,
}

impl StorageEventTask for OnFile {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/automations/OnFile", "v1.0")
    }
    fn execute(&self, trigger: &TriggeredStorageEvent, _: &TaskContext) -> Result<(), TaskError> {
        SEEN.lock().unwrap().push((
            self.label.clone(),
            format!(
                "{} {:?} {}",
                trigger.location_id, trigger.event_type, trigger.object_path
            ),
        ));
        Ok(())
    }
}

fn code(err: &WorkflowsError) -> Option<tilebox_core::Code> {
    match err {
        WorkflowsError::Rpc(e) => e.code(),
        _ => None,
    }
}

fn assert_code(err: WorkflowsError, expected: tilebox_core::Code, naming: &str) {
    assert_eq!(code(&err), Some(expected), "{err}");
    assert!(
        err.to_string().contains(naming),
        "{err} should name {naming}"
    );
}

/// The jobs `automation` submitted, once there are at least `n` (polling the server; 30 s at most).
async fn automation_jobs(client: &Client, automation: Uuid, n: usize) -> Vec<Uuid> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = client
            .jobs()
            .query(&JobQuery::new().automations(&[automation]))
            .await
            .unwrap();
        if jobs.len() >= n {
            return jobs.into_iter().map(|j| j.id).collect();
        }
        assert!(
            Instant::now() < deadline,
            "automation {automation} fired {} of {n} times",
            jobs.len()
        );
        futures_timer(Duration::from_millis(100)).await;
    }
}

/// A runtime-independent wait (the poll interval of `automation_jobs`).
async fn futures_timer(d: Duration) {
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        let _ = tx.send(());
    });
    let _ = rx.await;
}

/// Every async client call: happy paths and refusals, on whichever adapter `client` was made from.
async fn client_calls(client: Client, tag: &str) {
    use tilebox_core::Code;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();

    // Storage locations.
    let locations = client.storage_locations();
    let loc = locations
        .create(&format!("drop-{tag}"), &StorageReference::local(&path))
        .await
        .unwrap();
    assert_eq!(loc.reference, StorageReference::local(&path));
    assert_eq!(locations.get(loc.id).await.unwrap(), loc);
    assert!(locations.list().await.unwrap().contains(&loc));
    let renamed = locations.update(loc.id, "renamed").await.unwrap();
    assert_eq!((renamed.id, renamed.name.as_str()), (loc.id, "renamed"));
    assert!(locations.events(loc.id).await.unwrap().is_empty());
    assert_code(
        locations.get(Uuid::new_v4()).await.unwrap_err(),
        Code::NotFound,
        "not found",
    );
    assert_code(
        locations
            .create("relative", &StorageReference::local("not/absolute"))
            .await
            .unwrap_err(),
        Code::InvalidArgument,
        "reference.local.path",
    );

    // Automations.
    let automations = client.automations();
    let tick = Tick {
        label: format!("calls-{tag}"),
    };
    let cron = automations
        .create_cron(
            "nightly",
            &tick,
            &["0 3 * * *"],
            AutomationOptions::new().max_retries(2),
        )
        .await
        .unwrap();
    assert_eq!(cron.identifier, Tick::identifier());
    assert_eq!(cron.max_retries, 2);
    assert!(
        matches!(&cron.triggers[..], [AutomationTrigger::Cron { schedule, next_at: Some(_), .. }] if schedule == "0 3 * * *")
    );
    let storage = automations
        .create_storage_event(
            "on-tif",
            &OnFile {
                label: format!("calls-{tag}"),
            },
            &renamed,
            &["*.tif"],
            AutomationOptions::new(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&storage.triggers[..], [AutomationTrigger::StorageEvent { location, glob_pattern, .. }] if location.id == loc.id && glob_pattern == "*.tif")
    );
    assert_eq!(automations.get(cron.id).await.unwrap(), cron);
    let listed: Vec<Uuid> = automations
        .list()
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert!(listed.contains(&cron.id) && listed.contains(&storage.id));
    let mut changed = cron.clone();
    changed.name = "hourly".into();
    changed.triggers = vec![AutomationTrigger::cron("@hourly")];
    let updated = automations.update(&changed).await.unwrap();
    assert_eq!(updated.name, "hourly");
    assert!(
        matches!(&updated.triggers[..], [AutomationTrigger::Cron { schedule, .. }] if schedule == "@hourly")
    );
    assert_code(
        automations
            .create_cron("bad", &tick, &["61 * * * *"], AutomationOptions::new())
            .await
            .unwrap_err(),
        Code::InvalidArgument,
        "cron_triggers[0].schedule",
    );
    assert_code(
        automations.get(Uuid::new_v4()).await.unwrap_err(),
        Code::NotFound,
        "not found",
    );
    automations.delete(cron.id, true).await.unwrap();
    automations.delete(storage.id, false).await.unwrap();
    assert_code(
        automations.get(cron.id).await.unwrap_err(),
        Code::NotFound,
        "not found",
    );
    locations.delete(loc.id).await.unwrap();
    assert_code(
        locations.get(loc.id).await.unwrap_err(),
        Code::NotFound,
        "not found",
    );

    // Workflow definitions.
    let definitions = client.definitions();
    let def = definitions
        .create(&format!("Ingest {tag}"), "ingests", Some("longer"))
        .await
        .unwrap();
    assert_eq!(definitions.get(&def.slug).await.unwrap(), def);
    assert!(definitions.list().await.unwrap().contains(&def));
    let def2 = definitions
        .update(&def.slug, None, Some("ingests more"), None)
        .await
        .unwrap();
    assert_eq!(
        (def2.summary.as_str(), def2.description.as_str()),
        ("ingests more", "longer")
    );
    definitions.delete(&def.slug).await.unwrap();
    assert_code(
        definitions.get(&def.slug).await.unwrap_err(),
        Code::NotFound,
        "",
    );

    // Job views: a cron task submitted once by hand (Python's `task.once(time)`), then cloned.
    let jobs = client.jobs();
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let job = jobs.submit("once", &Cron::once(tick, at)).await.unwrap();
    let proto = jobs.prototype(job.id).await.unwrap();
    assert_eq!(proto.name, "once");
    assert_eq!(proto.root_tasks[0].identifier, Some(Tick::identifier()));
    let page = jobs.tasks_page(job.id, None, None).await.unwrap();
    assert_eq!(page.tasks.len(), 1);
    assert!(page.next.is_none());
    let clone = jobs.clone_job(job.id, Some("once again")).await.unwrap();
    assert_eq!(clone.name, "once again");
    assert_ne!(clone.id, job.id);
    assert_eq!(
        jobs.prototype(clone.id).await.unwrap().root_tasks,
        proto.root_tasks
    );
    let now = SystemTime::now();
    let counts = jobs
        .state_counts(
            now - Duration::from_secs(3600),
            now + Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(counts.total >= 2, "{counts:?}");
    let stats = jobs.queue_stats(Duration::from_secs(3600)).await.unwrap();
    assert!(stats.queued_tasks >= 2, "{stats:?}");
    assert!(
        jobs.logs(job.id, &Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(jobs.spans(job.id, None).await.unwrap().is_empty());
    assert_code(
        jobs.prototype(Uuid::new_v4()).await.unwrap_err(),
        Code::NotFound,
        "",
    );
    assert_code(
        jobs.clone_job(Uuid::new_v4(), None).await.unwrap_err(),
        Code::NotFound,
        "",
    );
    // Both jobs run the Rust cron task with the trigger time they were submitted with.
    let runner = client
        .runner()
        .register::<Cron<Tick>>()
        .build_async()
        .await
        .unwrap();
    runner
        .run_until_jobs_finish_async(&[job.id, clone.id])
        .await
        .unwrap();
    assert_eq!(
        seen(&format!("calls-{tag}")),
        vec!["1700000000.000000000"; 2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_calls_on_tokio() {
    if common::skip() {
        return;
    }
    let server = server().await;
    client_calls(client(&server.url()), "tokio").await;
    server.shutdown().await;
}

#[test]
fn client_calls_on_smol() {
    if common::skip() {
        return;
    }
    let server = background_server();
    let client = async_std_client(&server.url());
    smol::block_on(async {
        assert!(tokio::runtime::Handle::try_current().is_err());
        client_calls(client, "smol").await;
    });
}

#[test]
fn client_calls_blocking() {
    use tilebox_core::Code;
    if common::skip() {
        return;
    }
    let server = background_server();
    let client = blocking_client(&server.url());
    let dir = tempfile::tempdir().unwrap();
    let loc = client
        .create_storage_location(
            "blocking",
            &StorageReference::local(dir.path().to_str().unwrap()),
        )
        .unwrap();
    assert_eq!(client.storage_location(loc.id).unwrap(), loc);
    assert_eq!(client.storage_locations().unwrap(), vec![loc.clone()]);
    assert_eq!(
        client.update_storage_location(loc.id, "b").unwrap().name,
        "b"
    );
    assert!(client.storage_location_events(loc.id).unwrap().is_empty());
    let a = client
        .create_cron_automation(
            "every minute",
            &Tick {
                label: "blocking".into(),
            },
            &["* * * * *"],
            AutomationOptions::new(),
        )
        .unwrap();
    let s = client
        .create_storage_event_automation(
            "files",
            &OnFile {
                label: "blocking".into(),
            },
            &loc,
            &["**/*"],
            AutomationOptions::new(),
        )
        .unwrap();
    assert_eq!(client.automations().unwrap().len(), 2);
    assert_eq!(client.automation(a.id).unwrap(), a);
    let mut off = s.clone();
    off.disabled = true;
    assert!(client.update_automation(&off).unwrap().disabled);
    client.delete_automation(a.id, true).unwrap();
    client.delete_automation(s.id, true).unwrap();
    assert_code(
        client.automation(a.id).unwrap_err(),
        Code::NotFound,
        "not found",
    );
    assert_code(
        client
            .create_storage_event_automation(
                "bad glob",
                &OnFile {
                    label: "blocking".into(),
                },
                &loc,
                &["[unclosed"],
                AutomationOptions::new(),
            )
            .unwrap_err(),
        Code::InvalidArgument,
        "glob_pattern",
    );
    client.delete_storage_location(loc.id).unwrap();
    assert_code(
        client.storage_location(loc.id).unwrap_err(),
        Code::NotFound,
        "not found",
    );

    let def = client
        .create_definition("Blocking flow", "s", None)
        .unwrap();
    assert_eq!(client.definition(&def.slug).unwrap(), def);
    assert_eq!(client.definitions().unwrap(), vec![def.clone()]);
    assert_eq!(
        client
            .update_definition(&def.slug, Some("Renamed"), None, None)
            .unwrap()
            .name,
        "Renamed"
    );
    client.delete_definition(&def.slug).unwrap();
    assert_code(
        client.definition(&def.slug).unwrap_err(),
        Code::NotFound,
        "",
    );

    let job = client
        .submit(
            "once",
            &Cron::once(
                Tick {
                    label: "blocking".into(),
                },
                SystemTime::now(),
            ),
        )
        .unwrap();
    assert_eq!(client.job_prototype(job.id).unwrap().name, "once");
    assert_eq!(
        client
            .job_tasks_page(job.id, None, None)
            .unwrap()
            .tasks
            .len(),
        1
    );
    let clone = client.clone_job(job.id, None).unwrap();
    assert_eq!(clone.name, "once");
    let now = SystemTime::now();
    let counts = client
        .job_state_counts(now - Duration::from_secs(60), now + Duration::from_secs(60))
        .unwrap();
    assert_eq!(counts.total, 2);
    assert_eq!(
        client
            .queue_stats(Duration::from_secs(60))
            .unwrap()
            .queued_tasks,
        2
    );
    assert!(
        client
            .job_logs(job.id, &Default::default())
            .unwrap()
            .is_empty()
    );
    assert!(client.job_spans(job.id, None).unwrap().is_empty());
    assert_code(
        client.job_prototype(Uuid::new_v4()).unwrap_err(),
        Code::NotFound,
        "",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_automation_from_rust_runs_a_rust_cron_task_with_its_scheduled_time() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let before = SystemTime::now();
    let automation = client
        .automations()
        .create_cron(
            "every second",
            &Tick {
                label: "cron".into(),
            },
            &["* * * * * *"],
            AutomationOptions::new(),
        )
        .await
        .unwrap();
    let fired = automation_jobs(&client, automation.id, 1).await;
    let runner = client
        .runner()
        .register::<Cron<Tick>>()
        .build_async()
        .await
        .unwrap();
    runner
        .run_until_jobs_finish_async(&fired[..1])
        .await
        .unwrap();
    assert_eq!(
        client.jobs().get(fired[0]).await.unwrap().state,
        JobState::Completed
    );
    let got = seen("cron");
    assert_eq!(got.len(), 1, "{got:?}");
    let (secs, nanos) = got[0].split_once('.').unwrap();
    let secs: u64 = secs.parse().unwrap();
    assert_eq!(nanos, "000000000", "scheduled times are whole seconds");
    let before = before.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (before..=after).contains(&secs),
        "{secs} not in {before}..={after}"
    );
    client
        .automations()
        .delete(automation.id, true)
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_dropped_into_a_local_location_runs_a_rust_storage_event_task() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let dir = tempfile::tempdir().unwrap();
    let loc = client
        .storage_locations()
        .create(
            "drop",
            &StorageReference::local(dir.path().to_str().unwrap()),
        )
        .await
        .unwrap();
    let automation = client
        .automations()
        .create_storage_event(
            "on txt",
            &OnFile {
                label: "storage".into(),
            },
            &loc,
            &["**/*.txt"],
            AutomationOptions::new(),
        )
        .await
        .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for (name, body) in [("sub/scene.txt", "hello"), ("ignored.csv", "a,b")] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        // The kernel stamps files from a coarse clock (up to a few ms behind the time the server read when
        // it created the location): stamp them with the precise time, as a file written later would be.
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now()).unwrap();
    }
    let fired = automation_jobs(&client, automation.id, 1).await;
    let runner = client
        .runner()
        .register::<OnStorageEvent<OnFile>>()
        .build_async()
        .await
        .unwrap();
    runner.run_until_jobs_finish_async(&fired).await.unwrap();
    assert_eq!(
        seen("storage"),
        vec![format!("{} Created sub/scene.txt", loc.id)]
    );
    let events = client.storage_locations().events(loc.id).await.unwrap();
    let by_path: HashMap<_, _> = events.iter().map(|e| (e.object_path.as_str(), e)).collect();
    let scene = by_path["sub/scene.txt"];
    assert_eq!(scene.event_type, StorageEventType::Created);
    assert_eq!(scene.triggered_jobs.len(), 1);
    assert_eq!(
        (
            scene.triggered_jobs[0].job_id,
            scene.triggered_jobs[0].automation_id
        ),
        (fired[0], automation.id)
    );
    if let Some(csv) = by_path.get("ignored.csv") {
        assert!(
            csv.triggered_jobs.is_empty(),
            "a path the glob does not match submits nothing"
        );
    }
    assert_eq!(
        loc.local_path("sub/scene.txt").unwrap(),
        dir.path().join("sub/scene.txt")
    );
    server.shutdown().await;
}
