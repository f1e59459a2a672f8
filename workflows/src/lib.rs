//! `tilebox-workflows`: Tilebox workflows in Rust — tasks, jobs, clusters and the task runner.
//!
//! Workflows are distributed: a job is a tree of tasks that runners on any number of machines pull from the
//! server. Define task types with serde inputs and implement [`Task`] (sync) or [`AsyncTask`] (async),
//! submit jobs through [`Client::jobs`], and execute them with a [`Runner`] built from [`Client::runner`].
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use tilebox_workflows::{Client, Task, TaskContext, TaskError, TaskIdentifier, TaskSpec};
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
//! # fn main() -> Result<(), tilebox_workflows::WorkflowsError> {
//! let client = Client::new("http://127.0.0.1:8080")?;
//! let runner = client.runner().register::<Hello>().build()?;
//! runner.run_forever()
//! # }
//! ```
//!
//! Async code inside a sync task goes through [`TaskContext::block_on`], which accepts tokio-, async-std- and
//! smol-based futures and never panics because of where it runs. Blocking entry points called from inside an
//! async runtime return [`WorkflowsError::InsideAsyncRuntime`] instead of panicking.

mod blocking;
mod cache;
mod client;
mod context;
mod error;
#[cfg(feature = "object-store")]
mod object_store_cache;
mod runner;
mod submission;
mod task;

pub use blocking::BlockingClient;
pub use cache::{CacheGroup, InMemoryCache, JobCache, LocalFileSystemCache};
pub use client::{
    Client, Cluster, ClusterClient, Job, JobClient, JobQuery, JobState, Progress, SubmitOptions,
    TaskState, TaskSummary,
};
pub use context::{AsyncTaskContext, ExecutionContext, ProgressIndicator, TaskContext};
pub use error::{Result, TaskError, WorkflowsError};
#[cfg(feature = "object-store")]
pub use object_store_cache::ObjectStoreCache;
pub use runner::{Runner, RunnerBuilder, RunnerStats, ShutdownHandle};
pub use submission::{FutureTask, MAX_GROUPS, SubtaskOptions};
pub use task::{
    AsyncTask, MAX_INPUT_BYTES, Task, TaskCodec, TaskIdentifier, TaskSpec, protobuf_decode,
    protobuf_encode,
};
pub use tokio_util::sync::CancellationToken;
pub use uuid::Uuid;
