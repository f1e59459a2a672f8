//! Blocking variants of the job and cluster clients, for programs without an async runtime.
//!
//! Every call parks the calling thread on the core's [`block_on`](tilebox_core::block_on), the SDK's one rule
//! for blocking entry points: it works inside any runtime too, blocking that thread like any blocking call.
//! Make it from a `tilebox_blocking::Client` (whose transport runs its I/O on threads of its own, so nothing
//! needs a runtime); over a tokio transport the calls need a multi-thread tokio runtime around them.

use std::future::Future;

use tilebox_core::block_on;
use uuid::Uuid;

use crate::client::{Client, Cluster, Job, JobQuery, SubmitOptions};
use crate::error::Result;
use crate::task::TaskSpec;

/// A blocking workflows client. Cheap to clone.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let datasets = tilebox_blocking::Client::new()?;
/// let workflows = tilebox_workflows::BlockingClient::from(datasets.as_async());
/// println!("{:?}", workflows.clusters()?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct BlockingClient {
    client: Client,
}

impl From<&tilebox_core::Client> for BlockingClient {
    fn from(client: &tilebox_core::Client) -> Self {
        Self::from_client(Client::from(client))
    }
}

impl From<Client> for BlockingClient {
    fn from(client: Client) -> Self {
        Self::from_client(client)
    }
}

impl BlockingClient {
    /// A blocking wrapper of an async workflows client.
    pub fn from_client(client: Client) -> Self {
        Self { client }
    }

    /// The async client inside.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn run<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        block_on(fut)
    }

    /// See [`JobClient::submit`](crate::JobClient::submit).
    pub fn submit<T: TaskSpec>(&self, name: &str, task: &T) -> Result<Job> {
        self.run(self.client.jobs().submit(name, task))
    }

    /// See [`JobClient::submit_with`](crate::JobClient::submit_with).
    pub fn submit_with<T: TaskSpec>(
        &self,
        name: &str,
        task: &T,
        options: SubmitOptions,
    ) -> Result<Job> {
        self.run(self.client.jobs().submit_with(name, task, options))
    }

    /// See [`JobClient::get`](crate::JobClient::get).
    pub fn job(&self, id: Uuid) -> Result<Job> {
        self.run(self.client.jobs().get(id))
    }

    /// See [`JobClient::progress`](crate::JobClient::progress).
    pub fn job_progress(&self, id: Uuid) -> Result<Job> {
        self.run(self.client.jobs().progress(id))
    }

    /// See [`JobClient::cancel`](crate::JobClient::cancel).
    pub fn cancel_job(&self, id: Uuid) -> Result<()> {
        self.run(self.client.jobs().cancel(id))
    }

    /// See [`JobClient::retry`](crate::JobClient::retry).
    pub fn retry_job(&self, id: Uuid) -> Result<i64> {
        self.run(self.client.jobs().retry(id))
    }

    /// See [`JobClient::query`](crate::JobClient::query).
    pub fn query_jobs(&self, query: &JobQuery) -> Result<Vec<Job>> {
        self.run(self.client.jobs().query(query))
    }

    /// See [`ClusterClient::get`](crate::ClusterClient::get).
    pub fn cluster(&self, slug: &str) -> Result<Cluster> {
        self.run(self.client.clusters().get(slug))
    }

    /// See [`ClusterClient::list`](crate::ClusterClient::list).
    pub fn clusters(&self) -> Result<Vec<Cluster>> {
        self.run(self.client.clusters().list())
    }

    /// See [`ClusterClient::create`](crate::ClusterClient::create).
    pub fn create_cluster(&self, name: &str) -> Result<Cluster> {
        self.run(self.client.clusters().create(name))
    }

    /// See [`ClusterClient::delete`](crate::ClusterClient::delete).
    pub fn delete_cluster(&self, slug: &str) -> Result<()> {
        self.run(self.client.clusters().delete(slug))
    }

    /// See [`ClusterClient::update`](crate::ClusterClient::update).
    pub fn update_cluster(
        &self,
        slug: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Cluster> {
        self.run(self.client.clusters().update(slug, name, description))
    }

    /// See [`JobClient::visualize`](crate::JobClient::visualize).
    pub fn visualize_job(&self, id: Uuid, options: &crate::DiagramOptions) -> Result<String> {
        self.run(self.client.jobs().visualize(id, options))
    }

    /// See [`JobClient::query_page`](crate::JobClient::query_page).
    pub fn query_jobs_page(
        &self,
        query: &JobQuery,
        cursor: Option<&crate::JobCursor>,
    ) -> Result<crate::JobPage> {
        self.run(self.client.jobs().query_page(query, cursor))
    }

    /// Start configuring a runner (build it with [`RunnerBuilder::build`](crate::RunnerBuilder::build)).
    pub fn runner(&self) -> crate::RunnerBuilder {
        self.client.runner()
    }
}
