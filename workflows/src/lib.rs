//! `tilebox-workflows`: Tilebox workflows in Rust — tasks, jobs, clusters and the task runner.
//!
//! Workflows are distributed: a job is a tree of tasks that runners on any number of machines pull from the
//! server. Define task types with serde inputs and implement [`Task`] (sync) or [`AsyncTask`] (async),
//! submit jobs through [`Client::jobs`], and execute them with a [`Runner`] built from [`Client::runner`].
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use tilebox_workflows::{Task, TaskContext, TaskError, TaskIdentifier, TaskSpec, WorkflowsExt};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Hello { name: String }
//!
//! impl TaskSpec for Hello {
//!     fn identifier() -> TaskIdentifier { TaskIdentifier::new("example.com/Hello", "v1.0") }
//! }
//! impl Task for Hello {
//!     fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
//!         ctx.set_display(format!("Hello {}", self.name));
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any adapter: here the blocking one, so no async runtime is involved at all.
//! let datasets = tilebox_blocking::Client::builder().url("http://127.0.0.1:8080").build()?;
//! let client = datasets.as_async().workflows();
//! let runner = client.runner().register::<Hello>().max_concurrent_tasks(8).build()?;
//! runner.run_forever()?;
//! # Ok(()) }
//! ```
//!
//! ## Runtimes
//!
//! The job and cluster clients and the runner are written once over the core's RPC client, so they run on
//! the runtime of whichever adapter's client they were made from: a `tilebox_tokio::Client` (tokio), a
//! `tilebox_async_std::Client` (async-std or smol, no tokio runtime anywhere), or a
//! `tilebox_blocking::Client` (no runtime). Blocking entry points ([`BlockingClient`], [`RunnerBuilder::build`],
//! [`Runner::run_forever`], ...) follow the SDK's one rule: they park the calling thread with
//! [`tilebox_core::block_on`] and work inside any runtime. Async code inside a sync task goes through
//! [`TaskContext::block_on`], which accepts async-std- and smol-based futures, tokio-based ones with the
//! `tokio` feature, and never panics.
//!
//! ## Features
//!
//! * `tokio`: tokio-based futures in tasks; the runner enters the caller's tokio runtime on its threads (or,
//!   started by a blocking entry point outside any runtime, a multi-thread runtime of its own).
//! * `otel`: export task spans, and the `tracing` events inside tasks as logs, to an OpenTelemetry collector
//!   over OTLP/HTTP (see [`otel`]).

mod automations;
mod blocking;
mod cache;
mod client;
mod context;
mod definitions;
mod error;
mod job_views;
#[cfg(feature = "object-store")]
mod object_store_cache;
#[cfg(feature = "otel")]
pub mod otel;
#[cfg(feature = "otel")]
mod otel_logs;
mod runner;
mod runtime;
mod signals;
mod storage;
mod submission;
mod task;
pub mod trace;

pub use automations::{
    Automation, AutomationClient, AutomationOptions, AutomationTrigger, Cron, CronTask,
    OnStorageEvent, StorageEventTask, TriggeredCronEvent, TriggeredStorageEvent,
};
pub use blocking::BlockingClient;
pub use cache::{CacheGroup, InMemoryCache, JobCache, LocalFileSystemCache};
pub use client::{
    Client, Cluster, ClusterClient, DiagramOptions, ExecutionStats, Job, JobClient, JobCursor,
    JobPage, JobQuery, JobState, LegacyJobState, Progress, SubmitOptions, TaskState, TaskSummary,
    WorkflowsExt,
};
pub use context::{AsyncTaskContext, ExecutionContext, ProgressIndicator, TaskContext};
pub use definitions::{DefinitionClient, WorkflowDefinition};
pub use error::{Result, TaskError, WorkflowsError};
pub use job_views::{
    JobLog, JobPrototype, JobSpan, JobStateCounts, JobTask, JobTaskPage, LogLevel, LogQuery,
    QueueStats, TaskCursor, TaskPrototype,
};
#[cfg(feature = "object-store")]
pub use object_store_cache::ObjectStoreCache;
pub use runner::{Runner, RunnerBuilder, RunnerStats, ShutdownHandle};
pub use storage::{
    StorageEventType, StorageLocation, StorageLocationClient, StorageLocationEvent,
    StorageReference, TriggeredJob,
};
pub use submission::{FutureTask, MAX_GROUPS, SubtaskOptions};
pub use task::{
    AsyncTask, MAX_INPUT_BYTES, Task, TaskCodec, TaskIdentifier, TaskSpec, protobuf_decode,
    protobuf_encode,
};
pub use tokio_util::sync::CancellationToken;
pub use uuid::Uuid;
