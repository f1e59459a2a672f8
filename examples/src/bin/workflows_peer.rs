//! Interop helper for the Python peer test (`tests/python/test_workflows_peer.py`): the Rust side of a
//! task type shared with the official Python SDK.
//!
//! `workflows_peer submit URL NAME COUNT` submits a `peer/Greeting` job and prints its id;
//! `workflows_peer run URL JOB_ID` runs `peer/Greeting` tasks until that job finished, printing each one; the
//! runner exports its task spans and the `tracing` events inside each task (one info and one warning per
//! greeting) over OTLP/HTTP to `URL/v1/traces` and `URL/v1/logs`, flushed before it exits;
//! `workflows_peer automation URL AUTOMATION_ID COUNT` runs the first COUNT jobs the automation submits with
//! the cron task `peer/Tick` and the storage-event task `peer/OnDrop`, printing each trigger it received.

use serde::{Deserialize, Serialize};
use tilebox_workflows::otel::OtlpTracing;
use tilebox_workflows::{
    BlockingClient, Cron, CronTask, OnStorageEvent, StorageEventTask, Task, TaskContext, TaskError,
    TaskIdentifier, TaskSpec, TriggeredCronEvent, TriggeredStorageEvent,
};
use tracing_subscriber::layer::SubscriberExt;

/// The shared task: a multi-field Python dataclass is a JSON object keyed by field name.
#[derive(Serialize, Deserialize)]
struct Greeting {
    name: String,
    count: u32,
}

impl TaskSpec for Greeting {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("peer/Greeting", "v1.0")
    }
}

impl Task for Greeting {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        println!(
            "rust executed Greeting name={} count={}",
            self.name, self.count
        );
        tracing::info!(count = self.count, "rust greeting {}", self.name);
        tracing::warn!("rust greeted {} x{}", self.name, self.count);
        ctx.set_display(format!("greeted {} x{}", self.name, self.count));
        Ok(())
    }
}

/// The shared cron task (arguments as for [`Greeting`]).
#[derive(Serialize, Deserialize)]
struct Tick {
    label: String,
    n: u32,
}

impl CronTask for Tick {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("peer/Tick", "v1.0")
    }

    fn execute(&self, trigger: &TriggeredCronEvent, _: &TaskContext) -> Result<(), TaskError> {
        let time = trigger.time.duration_since(std::time::UNIX_EPOCH)?;
        println!(
            "rust cron {} {} at {}.{:06}",
            self.label,
            self.n,
            time.as_secs(),
            time.subsec_micros()
        );
        Ok(())
    }
}

/// The shared storage-event task.
#[derive(Serialize, Deserialize)]
struct OnDrop {
    label: String,
    n: u32,
}

impl StorageEventTask for OnDrop {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("peer/OnDrop", "v1.0")
    }

    fn execute(&self, trigger: &TriggeredStorageEvent, _: &TaskContext) -> Result<(), TaskError> {
        println!(
            "rust storage {} {} {:?} {} {}",
            self.label, self.n, trigger.event_type, trigger.object_path, trigger.location_id
        );
        Ok(())
    }
}

fn main() -> Result<(), tilebox_examples::BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: workflows_peer submit URL NAME COUNT | run URL JOB_ID | automation URL ID COUNT";
    let (cmd, url) = match (args.get(1), args.get(2)) {
        (Some(c), Some(u)) => (c.as_str(), u.clone()),
        _ => return Err(usage.into()),
    };
    let datasets = tilebox::blocking::Client::builder().url(&url).build()?;
    let client = BlockingClient::from(datasets.as_async());
    match cmd {
        "submit" => {
            let name = args.get(3).ok_or(usage)?.clone();
            let count = args.get(4).ok_or(usage)?.parse()?;
            let job = client.submit("rust-submitted", &Greeting { name, count })?;
            println!("{}", job.id);
        }
        "run" => {
            let job = args.get(3).ok_or(usage)?.parse()?;
            let otlp = OtlpTracing::builder()
                .endpoint(format!("{url}/v1/traces"))
                .logs_endpoint(format!("{url}/v1/logs"))
                .service_name("workflows_peer")
                .transport(datasets.as_async().rpc().transport().clone())
                .build()?;
            tracing::subscriber::set_global_default(
                tracing_subscriber::registry()
                    .with(otlp.layer())
                    .with(otlp.logs_layer()),
            )?;
            let runner = client.runner().register::<Greeting>().build()?;
            runner.run_until_jobs_finish(&[job])?;
            otlp.flush()?;
            otlp.shutdown();
            println!("job state {:?}", client.job_progress(job)?.state);
        }
        "automation" => {
            let automation = args.get(3).ok_or(usage)?.parse()?;
            let count = args.get(4).ok_or(usage)?.parse()?;
            let runner = client
                .runner()
                .register::<Cron<Tick>>()
                .register::<OnStorageEvent<OnDrop>>()
                .build()?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            tilebox_examples::run_automation_jobs(&client, &runner, automation, count, deadline)?;
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
