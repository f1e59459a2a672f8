//! PostgreSQL backend of [`WorkflowsStore`] (sqlx), sharing the datasets store's database — and, unlike
//! SQLite, shared by every server process that points at that database.
//!
//! The SQL mirrors the SQLite backend's (same tables, same [`machine`](super::machine) rules); what differs
//! is concurrency. SQLite runs one writer at a time; here transactions of many processes run at once, so the
//! modules take row locks where the SQLite code relies on being alone (see [`tasks`] for the claim, report and
//! reaper rules). Every write is one transaction run by the [`PgWriter`]: in a task of its own (a cancelled
//! request never leaves a transaction open nor half a change behind), and run again when PostgreSQL aborts it
//! to break a deadlock.

mod clusters;
mod jobs;
mod tasks;

use super::values::IdGenerator;
use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use tilebox_core::wire::workflows::v1::TaskState;

pub(super) use super::values::{dur_us, fmt_id, now_us, raw_id, task_state};
use super::{
    ClaimRequest, ClaimedTask, ClusterRecord, ComputedReport, FailureReport, JobPage, JobQuery,
    JobRecord, Lease, NewJob, WfResult, WorkflowsStore, WorkflowsStoreError,
};
use crate::config::WorkflowsConfig;
use crate::store::postgres::tx::UnitError;
use crate::store::{PgWriter, RawId, StoreError};

/// The workflows store on PostgreSQL. Cloning shares the pool.
#[derive(Clone)]
pub struct PgWorkflowsStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgWorkflowsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgWorkflowsStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What a write transaction can reach.
pub(super) struct Inner {
    pool: PgPool,
    writer: PgWriter,
    pub(super) config: WorkflowsConfig,
    ids: IdGenerator,
}

impl UnitError for WorkflowsStoreError {
    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            WorkflowsStoreError::Store(StoreError::Database(e)) => Some(e),
            _ => None,
        }
    }
}

impl PgWorkflowsStore {
    /// Opens the store on the pool of the datasets store (whose migrations created the tables) and makes sure
    /// the default cluster exists.
    pub async fn open(pool: PgPool, config: WorkflowsConfig) -> Result<Self, StoreError> {
        let store = PgWorkflowsStore {
            inner: Arc::new(Inner {
                writer: PgWriter::new(pool.clone()),
                pool,
                config,
                ids: IdGenerator::default(),
            }),
        };
        store
            .write(|_, conn| Box::pin(clusters::ensure_default(conn)))
            .await
            .map_err(|e| match e {
                WorkflowsStoreError::Store(e) => e,
                other => StoreError::Corrupt(other.to_string()),
            })?;
        Ok(store)
    }

    /// Runs `unit` as one write transaction through the [`PgWriter`]: committed when it returns `Ok`, rolled
    /// back when it returns an error, repeated when PostgreSQL aborted it as a deadlock victim; once started it
    /// runs to its end whatever happens to the caller.
    async fn write<T, F>(&self, unit: F) -> WfResult<T>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c Inner, &'c mut PgConnection) -> BoxFuture<'c, WfResult<T>>
            + Send
            + Sync
            + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let unit = Arc::new(unit);
        self.inner
            .writer
            .run(move |conn| {
                let inner = Arc::clone(&inner);
                let unit = Arc::clone(&unit);
                Box::pin(async move { unit(&inner, conn).await })
            })
            .await
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }
}

impl Inner {
    /// A new UUIDv7, strictly greater than every id handed out before by this process (ids of different
    /// processes are ordered by their millisecond only).
    fn new_id(&self) -> RawId {
        self.ids.next()
    }
}

impl WorkflowsStore for PgWorkflowsStore {
    fn get_cluster(&self, slug: Option<String>) -> BoxFuture<'_, WfResult<Option<ClusterRecord>>> {
        Box::pin(async move {
            let mut conn = self.pool().acquire().await?;
            clusters::get(&mut conn, slug.as_deref()).await
        })
    }

    fn list_clusters(&self) -> BoxFuture<'_, WfResult<Vec<ClusterRecord>>> {
        Box::pin(async move {
            let mut conn = self.pool().acquire().await?;
            clusters::list(&mut conn).await
        })
    }

    fn create_cluster(&self, cluster: ClusterRecord) -> BoxFuture<'_, WfResult<ClusterRecord>> {
        Box::pin(self.write(move |_, conn| Box::pin(clusters::create(conn, cluster.clone()))))
    }

    fn update_cluster(
        &self,
        slug: String,
        display_name: Option<String>,
        description: Option<String>,
    ) -> BoxFuture<'_, WfResult<ClusterRecord>> {
        Box::pin(self.write(move |_, conn| {
            Box::pin(clusters::update(
                conn,
                slug.clone(),
                display_name.clone(),
                description.clone(),
            ))
        }))
    }

    fn delete_cluster(&self, slug: String) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, conn| Box::pin(clusters::delete(conn, slug.clone()))))
    }

    fn submit_job(&self, job: NewJob) -> BoxFuture<'_, WfResult<JobRecord>> {
        Box::pin(self.write(move |inner, conn| Box::pin(jobs::submit(inner, conn, job.clone()))))
    }

    fn get_job(&self, id: RawId, with_tasks: bool) -> BoxFuture<'_, WfResult<Option<JobRecord>>> {
        Box::pin(async move {
            let mut conn = self.pool().acquire().await?;
            jobs::view(&mut conn, id, with_tasks).await
        })
    }

    fn cancel_job(&self, id: RawId) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, conn| Box::pin(jobs::cancel(conn, id))))
    }

    fn retry_job(&self, id: RawId) -> BoxFuture<'_, WfResult<u64>> {
        Box::pin(self.write(move |_, conn| Box::pin(jobs::retry(conn, id))))
    }

    fn query_jobs(&self, query: JobQuery) -> BoxFuture<'_, WfResult<JobPage>> {
        Box::pin(async move {
            let mut conn = self.pool().acquire().await?;
            jobs::query(&mut conn, &query).await
        })
    }

    fn next_task(
        &self,
        computed: Option<ComputedReport>,
        claim: Option<ClaimRequest>,
    ) -> BoxFuture<'_, WfResult<Option<ClaimedTask>>> {
        Box::pin(self.write(move |inner, conn| {
            Box::pin(tasks::next_task(
                inner,
                conn,
                computed.clone(),
                claim.clone(),
            ))
        }))
    }

    fn task_failed(&self, report: FailureReport) -> BoxFuture<'_, WfResult<TaskState>> {
        Box::pin(
            self.write(move |inner, conn| Box::pin(tasks::failed(inner, conn, report.clone()))),
        )
    }

    fn extend_lease(&self, id: RawId, requested_us: i64) -> BoxFuture<'_, WfResult<Option<Lease>>> {
        Box::pin(
            self.write(move |inner, conn| {
                Box::pin(tasks::extend_lease(inner, conn, id, requested_us))
            }),
        )
    }

    fn reap_expired(&self) -> BoxFuture<'_, WfResult<u64>> {
        Box::pin(self.write(|inner, conn| Box::pin(tasks::reap(inner, conn, now_us()))))
    }
}
