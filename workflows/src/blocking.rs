//! Blocking variants of the job and cluster clients, for programs without an async runtime.
//!
//! Every call runs on a small tokio runtime owned by the client. Called from inside an async runtime, the
//! calls return [`WorkflowsError::InsideAsyncRuntime`] instead of panicking; use the async clients there.
//!
//! The runtime has one worker thread of its own that keeps running between calls. That matters because the
//! connection pool is shared with every clone of the client, including runners built from it: a
//! connection opened during a blocking call is served by a task spawned on this runtime, and a runner on
//! another runtime may reuse that connection later. With a current-thread runtime (driven only inside
//! `block_on`) such a connection stalls as soon as the blocking call returns, and the runner's request on it
//! never completes.

use std::future::Future;
use std::sync::Arc;

use tokio::runtime::{Handle, Runtime};
use uuid::Uuid;

use crate::client::{Client, Cluster, Job, JobQuery, SubmitOptions};
use crate::error::{Result, WorkflowsError};
use crate::task::TaskSpec;

/// A blocking workflows client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BlockingClient {
    client: Client,
    runtime: Arc<OwnedRuntime>,
}

/// The runtime of a client and its clones, shut down without blocking when the last clone goes (dropping a runtime blocks,
/// which panics inside an async context).
#[derive(Debug)]
struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    fn get(&self) -> &Runtime {
        self.0.as_ref().expect("the runtime lives until drop")
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl BlockingClient {
    /// A blocking client for `url`.
    pub fn new(url: impl Into<String>) -> Result<Self> {
        Self::from_client(Client::new(url)?)
    }

    /// A blocking wrapper of an async client.
    pub fn from_client(client: Client) -> Result<Self> {
        // A worker thread drives the connections this client opens, also between calls (see the module docs).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tilebox-blocking-client")
            .enable_all()
            .build()?;
        Ok(Self {
            client,
            runtime: Arc::new(OwnedRuntime(Some(runtime))),
        })
    }

    /// The async client inside.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn run<T>(&self, what: &'static str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        if Handle::try_current().is_ok() {
            return Err(WorkflowsError::InsideAsyncRuntime(what));
        }
        self.runtime.get().block_on(fut)
    }

    /// See [`JobClient::submit`](crate::JobClient::submit).
    pub fn submit<T: TaskSpec>(&self, name: &str, task: &T) -> Result<Job> {
        self.run(
            "BlockingClient::submit",
            self.client.jobs().submit(name, task),
        )
    }

    /// See [`JobClient::submit_with`](crate::JobClient::submit_with).
    pub fn submit_with<T: TaskSpec>(
        &self,
        name: &str,
        task: &T,
        options: SubmitOptions,
    ) -> Result<Job> {
        self.run(
            "BlockingClient::submit_with",
            self.client.jobs().submit_with(name, task, options),
        )
    }

    /// See [`JobClient::get`](crate::JobClient::get).
    pub fn job(&self, id: Uuid) -> Result<Job> {
        self.run("BlockingClient::job", self.client.jobs().get(id))
    }

    /// See [`JobClient::progress`](crate::JobClient::progress).
    pub fn job_progress(&self, id: Uuid) -> Result<Job> {
        self.run(
            "BlockingClient::job_progress",
            self.client.jobs().progress(id),
        )
    }

    /// See [`JobClient::cancel`](crate::JobClient::cancel).
    pub fn cancel_job(&self, id: Uuid) -> Result<()> {
        self.run("BlockingClient::cancel_job", self.client.jobs().cancel(id))
    }

    /// See [`JobClient::retry`](crate::JobClient::retry).
    pub fn retry_job(&self, id: Uuid) -> Result<i64> {
        self.run("BlockingClient::retry_job", self.client.jobs().retry(id))
    }

    /// See [`JobClient::query`](crate::JobClient::query).
    pub fn query_jobs(&self, query: &JobQuery) -> Result<Vec<Job>> {
        self.run(
            "BlockingClient::query_jobs",
            self.client.jobs().query(query),
        )
    }

    /// See [`ClusterClient::get`](crate::ClusterClient::get).
    pub fn cluster(&self, slug: &str) -> Result<Cluster> {
        self.run("BlockingClient::cluster", self.client.clusters().get(slug))
    }

    /// See [`ClusterClient::list`](crate::ClusterClient::list).
    pub fn clusters(&self) -> Result<Vec<Cluster>> {
        self.run("BlockingClient::clusters", self.client.clusters().list())
    }

    /// See [`ClusterClient::create`](crate::ClusterClient::create).
    pub fn create_cluster(&self, name: &str) -> Result<Cluster> {
        self.run(
            "BlockingClient::create_cluster",
            self.client.clusters().create(name),
        )
    }

    /// See [`ClusterClient::delete`](crate::ClusterClient::delete).
    pub fn delete_cluster(&self, slug: &str) -> Result<()> {
        self.run(
            "BlockingClient::delete_cluster",
            self.client.clusters().delete(slug),
        )
    }

    /// Start configuring a runner (build it with [`RunnerBuilder::build`](crate::RunnerBuilder::build)).
    pub fn runner(&self) -> crate::RunnerBuilder {
        self.client.runner()
    }
}
