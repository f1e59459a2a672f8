//! Blocking variants of the job, cluster, automation, storage location and definition clients, for programs without an async runtime.
//!
//! Every call parks the calling thread on the core's [`block_on`](tilebox_core::block_on), the SDK's one rule
//! for blocking entry points: it works inside any runtime too, blocking that thread like any blocking call.
//! Make it from a `tilebox_blocking::Client` (whose transport runs its I/O on threads of its own, so nothing
//! needs a runtime). Over a tokio transport they work in any tokio runtime, a current-thread one included (the
//! transport then sends on a one-thread runtime of its own); only a transport made with
//! `ReqwestTransport::from_client` cannot do that and answers a clear error there instead.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tilebox_core::block_on;
use uuid::Uuid;

use crate::automations::{Automation, AutomationOptions, CronTask, StorageEventTask};
use crate::client::{Client, Cluster, Job, JobQuery, SubmitOptions};
use crate::definitions::WorkflowDefinition;
use crate::error::Result;
use crate::job_views::{
    JobLog, JobPrototype, JobSpan, JobStateCounts, JobTaskPage, LogQuery, QueueStats, TaskCursor,
};
use crate::storage::{StorageLocation, StorageLocationEvent, StorageReference};
use crate::task::TaskSpec;

/// Blocking methods that call one async client method with the same arguments.
macro_rules! blocking {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $sub:ident().$call:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                self.run(self.client.$sub().$call($($arg),*))
            }
        )*
    };
}

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

    /// See [`AutomationClient::create_cron`](crate::AutomationClient::create_cron).
    pub fn create_cron_automation<T: CronTask>(
        &self,
        name: &str,
        task: &T,
        schedules: &[&str],
        options: AutomationOptions,
    ) -> Result<Automation> {
        self.run(
            self.client
                .automations()
                .create_cron(name, task, schedules, options),
        )
    }

    /// See [`AutomationClient::create_storage_event`](crate::AutomationClient::create_storage_event).
    pub fn create_storage_event_automation<T: StorageEventTask>(
        &self,
        name: &str,
        task: &T,
        location: &StorageLocation,
        glob_patterns: &[&str],
        options: AutomationOptions,
    ) -> Result<Automation> {
        self.run(self.client.automations().create_storage_event(
            name,
            task,
            location,
            glob_patterns,
            options,
        ))
    }

    blocking! {
        /// See [`AutomationClient::list`](crate::AutomationClient::list).
        fn automations() -> Vec<Automation> = automations().list;
        /// See [`AutomationClient::get`](crate::AutomationClient::get).
        fn automation(id: Uuid) -> Automation = automations().get;
        /// See [`AutomationClient::update`](crate::AutomationClient::update).
        fn update_automation(automation: &Automation) -> Automation = automations().update;
        /// See [`AutomationClient::delete`](crate::AutomationClient::delete).
        fn delete_automation(id: Uuid, cancel_jobs: bool) -> () = automations().delete;
        /// See [`StorageLocationClient::list`](crate::StorageLocationClient::list).
        fn storage_locations() -> Vec<StorageLocation> = storage_locations().list;
        /// See [`StorageLocationClient::get`](crate::StorageLocationClient::get).
        fn storage_location(id: Uuid) -> StorageLocation = storage_locations().get;
        /// See [`StorageLocationClient::create`](crate::StorageLocationClient::create).
        fn create_storage_location(name: &str, reference: &StorageReference) -> StorageLocation
            = storage_locations().create;
        /// See [`StorageLocationClient::update`](crate::StorageLocationClient::update).
        fn update_storage_location(id: Uuid, name: &str) -> StorageLocation = storage_locations().update;
        /// See [`StorageLocationClient::delete`](crate::StorageLocationClient::delete).
        fn delete_storage_location(id: Uuid) -> () = storage_locations().delete;
        /// See [`StorageLocationClient::events`](crate::StorageLocationClient::events).
        fn storage_location_events(id: Uuid) -> Vec<StorageLocationEvent> = storage_locations().events;
        /// See [`JobClient::logs`](crate::JobClient::logs).
        fn job_logs(id: Uuid, query: &LogQuery) -> Vec<JobLog> = jobs().logs;
        /// See [`JobClient::spans`](crate::JobClient::spans).
        fn job_spans(id: Uuid, task: Option<Uuid>) -> Vec<JobSpan> = jobs().spans;
        /// See [`JobClient::tasks_page`](crate::JobClient::tasks_page).
        fn job_tasks_page(id: Uuid, parent: Option<Uuid>, cursor: Option<&TaskCursor>) -> JobTaskPage
            = jobs().tasks_page;
        /// See [`JobClient::prototype`](crate::JobClient::prototype).
        fn job_prototype(id: Uuid) -> JobPrototype = jobs().prototype;
        /// See [`JobClient::clone_job`](crate::JobClient::clone_job).
        fn clone_job(id: Uuid, name: Option<&str>) -> Job = jobs().clone_job;
        /// See [`JobClient::state_counts`](crate::JobClient::state_counts).
        fn job_state_counts(start: SystemTime, end: SystemTime) -> JobStateCounts = jobs().state_counts;
        /// See [`JobClient::queue_stats`](crate::JobClient::queue_stats).
        fn queue_stats(max_age: Duration) -> QueueStats = jobs().queue_stats;
        /// See [`DefinitionClient::list`](crate::DefinitionClient::list).
        fn definitions() -> Vec<WorkflowDefinition> = definitions().list;
        /// See [`DefinitionClient::get`](crate::DefinitionClient::get).
        fn definition(slug: &str) -> WorkflowDefinition = definitions().get;
        /// See [`DefinitionClient::create`](crate::DefinitionClient::create).
        fn create_definition(name: &str, summary: &str, description: Option<&str>) -> WorkflowDefinition
            = definitions().create;
        /// See [`DefinitionClient::update`](crate::DefinitionClient::update).
        fn update_definition(
            slug: &str, name: Option<&str>, summary: Option<&str>, description: Option<&str>
        ) -> WorkflowDefinition = definitions().update;
        /// See [`DefinitionClient::delete`](crate::DefinitionClient::delete).
        fn delete_definition(slug: &str) -> () = definitions().delete;
    }

    /// Start configuring a runner (build it with [`RunnerBuilder::build`](crate::RunnerBuilder::build)).
    pub fn runner(&self) -> crate::RunnerBuilder {
        self.client.runner()
    }
}
