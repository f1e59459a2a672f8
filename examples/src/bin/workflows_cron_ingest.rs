//! A cron automation that ingests one datapoint into a local dataset every minute.
//!
//! `cargo run -p tilebox-examples --bin workflows_cron_ingest -- [--every-second] [--fires N]` starts a local
//! server in-process, creates a temporal dataset `cron_readings` with a `source` field, creates a cron
//! automation (`* * * * *`, or `* * * * * *` with `--every-second`) whose task ingests one datapoint stamped with
//! its scheduled time, runs a runner for each job the automation submits, and after N firings (default 3)
//! deletes the automation, prints the collection's datapoints and exits.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Parser;
use serde::{Deserialize, Serialize};
use tilebox::blocking::{
    Client, Dataset, DatasetKind, DatasetSpec, FieldSpec, FieldType, QueryOptions,
};
use tilebox_workflows::{
    AutomationOptions, BlockingClient, Cron, CronTask, TaskContext, TaskError, TaskIdentifier,
    TriggeredCronEvent, WorkflowsExt,
};

/// Command line.
#[derive(Parser)]
struct Args {
    /// Fire every second (`* * * * * *`) instead of every minute, to try the example quickly.
    #[arg(long)]
    every_second: bool,
    /// Stop after this many firings.
    #[arg(long, default_value_t = 3)]
    fires: usize,
}

/// A datapoint of the `cron_readings` dataset: the required temporal fields plus `source`.
#[derive(Clone, PartialEq, prost::Message)]
struct Reading {
    #[prost(message, optional, tag = "1")]
    time: Option<prost_types::Timestamp>,
    #[prost(string, tag = "4")]
    source: String,
}

/// Ingests one reading for the scheduled time into `collection` of the dataset the runner holds.
#[derive(Serialize, Deserialize)]
struct IngestReading {
    collection: String,
    source: String,
}

impl CronTask for IngestReading {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("examples/IngestReading", "v1.0")
    }

    fn execute(&self, trigger: &TriggeredCronEvent, ctx: &TaskContext) -> Result<(), TaskError> {
        let dataset = ctx.data::<Dataset>()?;
        let collection = dataset.get_or_create_collection(&self.collection)?;
        let time = DateTime::<Utc>::from(trigger.time);
        let reading = Reading {
            time: Some(tilebox::core::time::datetime_to_timestamp(&time)),
            source: self.source.clone(),
        };
        let summary = collection.ingest(&[reading], true)?;
        println!(
            "ingested datapoint {} at {time} into {}",
            summary.datapoint_ids[0], self.collection
        );
        Ok(())
    }
}

fn main() -> Result<(), tilebox_examples::BoxError> {
    let args = Args::parse();
    let (schedule, period) = if args.every_second {
        ("* * * * * *", Duration::from_secs(1))
    } else {
        ("* * * * *", Duration::from_secs(60))
    };
    let workflows = tilebox_server::WorkflowsConfig::builder()
        .automation_interval(Duration::from_millis(100))
        .build();
    let server = tilebox_server::spawn_background(
        tilebox_server::ServerConfig::builder()
            .workflows(workflows)
            .build(),
    )?;
    let datasets = Client::builder().url(server.url()).build()?;
    let dataset = datasets.create_dataset(
        DatasetSpec::new(DatasetKind::Temporal, "cron_readings")
            .field(FieldSpec::new("source", FieldType::String)),
    )?;
    let client = datasets.as_async().workflows();
    let blocking = BlockingClient::from(client.clone());

    let task = IngestReading {
        collection: "readings".into(),
        source: "cron example".into(),
    };
    let automation = blocking.create_cron_automation(
        "ingest a reading",
        &task,
        &[schedule],
        AutomationOptions::new(),
    )?;
    println!("cron automation {} fires on {schedule:?}", automation.id);
    let runner = client
        .runner()
        .data(dataset.clone())
        .register::<Cron<IngestReading>>()
        .build()?;

    // Run each job the automation submits as it appears, until `fires` have run.
    let deadline = Instant::now() + period * (args.fires as u32 + 1) + Duration::from_secs(30);
    let ran = tilebox_examples::run_automation_jobs(
        &blocking,
        &runner,
        automation.id,
        args.fires,
        deadline,
    )?;
    // Stop the schedule; a job it submitted meanwhile is canceled.
    blocking.delete_automation(automation.id, true)?;

    let readings = dataset
        .collection("readings")?
        .query(&QueryOptions::new(("1970-01-01", "2100-01-01")))?;
    println!(
        "{} datapoint(s) in cron_readings/readings after {} firing(s)",
        readings.len(),
        ran.len()
    );
    Ok(())
}
