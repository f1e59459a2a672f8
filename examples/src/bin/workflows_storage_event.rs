//! A storage-event automation: a task runs for each file dropped into a directory.
//!
//! `cargo run -p tilebox-examples --bin workflows_storage_event -- [FILES]` starts a local server in-process,
//! registers a temporary directory as a local storage location, creates an automation for `*.txt` files,
//! drops FILES (default 3) files into it and runs a runner until each file's job has finished, then stops.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tilebox_workflows::{
    AutomationOptions, OnStorageEvent, StorageEventTask, StorageReference, TaskContext, TaskError,
    TaskIdentifier, TriggeredStorageEvent, WorkflowsExt,
};

/// Prints the path of each new file; the automation's arguments say what to call it.
#[derive(Serialize, Deserialize)]
struct OnNewFile {
    kind: String,
}

impl StorageEventTask for OnNewFile {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("examples/OnNewFile", "v1.0")
    }

    fn execute(&self, trigger: &TriggeredStorageEvent, _: &TaskContext) -> Result<(), TaskError> {
        println!("new {}: {}", self.kind, trigger.object_path);
        Ok(())
    }
}

fn main() -> Result<(), tilebox_examples::BoxError> {
    let files: usize = std::env::args().nth(1).map_or(Ok(3), |n| n.parse())?;
    let server = tilebox_server::spawn_background(tilebox_server::ServerConfig::builder().build())?;
    let datasets = tilebox::blocking::Client::builder()
        .url(server.url())
        .build()?;
    let client = datasets.as_async().workflows();
    let blocking = tilebox_workflows::BlockingClient::from(client.clone());

    let dir = tempfile::tempdir()?;
    let location = blocking.create_storage_location(
        "drop folder",
        &StorageReference::local(dir.path().to_str().ok_or("non-UTF-8 temp dir")?),
    )?;
    let automation = blocking.create_storage_event_automation(
        "text files",
        &OnNewFile {
            kind: "text file".into(),
        },
        &location,
        &["**/*.txt"],
        AutomationOptions::new(),
    )?;
    for i in 0..files {
        let path = dir.path().join(format!("file-{i}.txt"));
        std::fs::write(&path, format!("file {i}"))?;
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(SystemTime::now())?;
    }

    let runner = client
        .runner()
        .register::<OnStorageEvent<OnNewFile>>()
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    tilebox_examples::run_automation_jobs(&blocking, &runner, automation.id, files, deadline)?;
    for event in blocking.storage_location_events(location.id)? {
        println!(
            "{} -> {} job(s)",
            event.object_path,
            event.triggered_jobs.len()
        );
    }
    blocking.delete_automation(automation.id, true)?;
    Ok(())
}
