//! The workflows store, written once over the [`Db`] interface for SQLite and PostgreSQL.
//!
//! Every write is one unit of the [`Database`]: one transaction that commits or rolls back even when the
//! request that asked for it is cancelled. Where the store keeps its tables:
//!
//! * a kept SQLite file or a PostgreSQL database holds them next to the datasets tables
//!   ([`SqlWorkflowsStore::open`]);
//! * the throw-away server keeps them in a private file of their own (see `SqliteMode::Private`), which
//!   makes the small transaction of every task report and claim cheaper than in a shared WAL file.

mod automations;
mod clusters;
mod job_views;
mod jobs;
mod storage;
mod tasks;
mod telemetry;
mod workflow_defs;

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tilebox_core::wire::workflows::v1::TaskState;

use self::jobs::JobHead;
use super::values::IdGenerator;
use super::{
    ClaimRequest, ClaimedTask, ClusterRecord, ComputedReport, FailureReport, JobPage, JobPrototype,
    JobQuery, JobRecord, JobStateCounts, JobTaskPage, Lease, NewJob, NewTelemetry, QueueStats,
    Retention, TelemetryKind, TelemetryPage, TelemetryQuery, WfResult, WorkflowRecord,
    WorkflowsStore,
};
use crate::config::WorkflowsConfig;
use crate::store::db::{Database, Db, Dialect};
use crate::store::{RawId, StoreError};

pub(super) use super::values::{dur_us, fmt_id, now_us, raw_id, task_state};

/// How often a unit PostgreSQL aborted as a deadlock victim or for a serialization conflict runs again.
const RETRIES: u32 = 8;

/// Job heads kept in memory for claims (a job's name, trace parent and submission time never change).
const HEAD_CACHE: usize = 4096;

/// The workflows store. Cloning shares the database and the caches.
#[derive(Clone)]
pub struct SqlWorkflowsStore {
    db: Database,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlWorkflowsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlWorkflowsStore")
            .field("db", &self.db)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What a unit can reach besides its connection.
pub(super) struct Inner {
    pub(super) config: WorkflowsConfig,
    ids: IdGenerator,
    /// SQLite only (one process): no running task's lease ends before this instant (µs since the epoch), so
    /// the reap that opens every task write is skipped until then. Claims and extensions lower it inside
    /// their transaction; a reap raises it to the earliest lease it leaves running; a failed unit forgets it
    /// (`i64::MIN`), so a rolled-back reap is repeated. The background reaper always reaps.
    lease_floor: AtomicI64,
    heads: Mutex<HashMap<RawId, Arc<JobHead>>>,
}

impl SqlWorkflowsStore {
    /// Opens the store on `db` (whose schema the migrations made) and creates the default cluster.
    pub async fn open(db: Database, config: WorkflowsConfig) -> Result<Self, StoreError> {
        let store = SqlWorkflowsStore {
            db,
            inner: Arc::new(Inner {
                config,
                ids: IdGenerator::default(),
                lease_floor: AtomicI64::new(i64::MIN),
                heads: Mutex::new(HashMap::new()),
            }),
        };
        store
            .write(clusters::ensure_default)
            .await
            .map_err(|e| match e {
                super::WorkflowsStoreError::Store(e) => e,
                other => StoreError::Corrupt(other.to_string()),
            })?;
        Ok(store)
    }

    /// Runs `unit` as one write transaction.
    async fn write<T, F>(&self, unit: F) -> WfResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &mut dyn Db) -> WfResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        self.db
            .write(move |db| {
                let result = unit(&inner, db);
                if result.is_err() {
                    // The transaction rolls back, a reap inside it included.
                    inner.forget_lease_floor();
                }
                result
            })
            .await
    }

    /// [`Self::write`] for units that lock several task rows (reports with subtasks, failures, retries, the
    /// reaper): on PostgreSQL two such transactions can deadlock, and the one PostgreSQL aborts (or one
    /// aborted by a serialization conflict) is run again, up to [`RETRIES`] times.
    async fn write_retried<T, F>(&self, unit: F) -> WfResult<T>
    where
        T: Send + 'static,
        F: Fn(&Inner, &mut dyn Db) -> WfResult<T> + Send + Sync + 'static,
    {
        let unit = Arc::new(unit);
        let mut attempt = 0;
        loop {
            let this = Arc::clone(&unit);
            match self.write(move |inner, db| this(inner, db)).await {
                Err(super::WorkflowsStoreError::Store(StoreError::Db(e)))
                    if e.is_retryable() && attempt < RETRIES =>
                {
                    attempt += 1;
                    tracing::debug!(
                        attempt,
                        "workflows write aborted by the database, run again: {e}"
                    );
                }
                other => return other,
            }
        }
    }

    /// Runs `read` on a read connection.
    async fn read<T, F>(&self, read: F) -> WfResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> WfResult<T> + Send + 'static,
    {
        self.db.read(read).await
    }

    /// Completes the parents a committed unit left open (PostgreSQL: see `tasks`).
    async fn complete_parents(&self, parents: Vec<RawId>) -> WfResult<()> {
        if parents.is_empty() || self.db.dialect() != Dialect::Postgres {
            return Ok(());
        }
        // Each check is one statement that stands alone.
        self.db
            .autocommit(move |db| tasks::complete_parents(db, &parents))
            .await
    }
}

impl Inner {
    /// Whether a running task's lease may have ended by `now`.
    fn lease_may_have_ended(&self, now: i64) -> bool {
        now >= self.lease_floor.load(Ordering::Acquire)
    }

    /// A running task's lease now ends at `until`.
    fn lease_ends_at(&self, until: i64) {
        self.lease_floor.fetch_min(until, Ordering::AcqRel);
    }

    /// After a reap: the earliest lease still running ends at `earliest` (`None`: no task runs).
    fn set_lease_floor(&self, earliest: Option<i64>) {
        self.lease_floor
            .store(earliest.unwrap_or(i64::MAX), Ordering::Release);
    }

    fn forget_lease_floor(&self) {
        self.lease_floor.store(i64::MIN, Ordering::Release);
    }

    /// A new UUIDv7, strictly greater than every id handed out before by this store.
    fn new_id(&self) -> RawId {
        self.ids.next()
    }

    fn cached_head(&self, job: &RawId) -> Option<Arc<JobHead>> {
        self.heads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .cloned()
    }

    fn cache_head(&self, job: RawId, head: JobHead) -> Arc<JobHead> {
        let head = Arc::new(head);
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        if heads.len() >= HEAD_CACHE {
            heads.clear();
        }
        heads.insert(job, Arc::clone(&head));
        head
    }
}

impl WorkflowsStore for SqlWorkflowsStore {
    fn get_cluster(&self, slug: Option<String>) -> BoxFuture<'_, WfResult<Option<ClusterRecord>>> {
        Box::pin(self.read(move |db| clusters::get(db, slug.as_deref())))
    }

    fn list_clusters(&self) -> BoxFuture<'_, WfResult<Vec<ClusterRecord>>> {
        Box::pin(self.read(clusters::list))
    }

    fn create_cluster(&self, cluster: ClusterRecord) -> BoxFuture<'_, WfResult<ClusterRecord>> {
        Box::pin(self.write(move |_, db| clusters::create(db, cluster)))
    }

    fn update_cluster(
        &self,
        slug: String,
        display_name: Option<String>,
        description: Option<String>,
    ) -> BoxFuture<'_, WfResult<ClusterRecord>> {
        Box::pin(self.write(move |_, db| clusters::update(db, slug, display_name, description)))
    }

    fn delete_cluster(&self, slug: String) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, db| clusters::delete(db, slug)))
    }

    fn submit_job(&self, job: NewJob) -> BoxFuture<'_, WfResult<JobRecord>> {
        Box::pin(self.write(move |inner, db| jobs::submit(inner, db, job)))
    }

    fn get_job(&self, id: RawId, with_tasks: bool) -> BoxFuture<'_, WfResult<Option<JobRecord>>> {
        Box::pin(self.read(move |db| jobs::view(db, id, with_tasks)))
    }

    fn cancel_job(&self, id: RawId) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, db| jobs::cancel(db, id)))
    }

    fn retry_job(&self, id: RawId) -> BoxFuture<'_, WfResult<u64>> {
        Box::pin(self.write_retried(move |_, db| jobs::retry(db, id)))
    }

    fn query_jobs(&self, query: JobQuery) -> BoxFuture<'_, WfResult<JobPage>> {
        Box::pin(self.read(move |db| jobs::query(db, &query)))
    }

    fn next_task(
        &self,
        computed: Option<ComputedReport>,
        claim: Option<ClaimRequest>,
    ) -> BoxFuture<'_, WfResult<Option<ClaimedTask>>> {
        Box::pin(async move {
            let (computed, claim) = match self.db.dialect() {
                Dialect::Sqlite => (computed, claim),
                Dialect::Postgres => {
                    let inner = Arc::clone(&self.inner);
                    let statements = self
                        .db
                        .autocommit(move |db| {
                            tasks::next_task_statements(&inner, db, computed, claim)
                        })
                        .await?;
                    match statements {
                        tasks::Statements::Done(claimed) => return Ok(claimed),
                        tasks::Statements::Transaction(computed, claim) => (computed, claim),
                    }
                }
            };
            let next = self
                .write_retried(move |inner, db| {
                    tasks::next_task(inner, db, computed.clone(), claim.clone())
                })
                .await?;
            self.complete_parents(next.open_parents).await?;
            Ok(next.claimed)
        })
    }

    fn task_failed(&self, report: FailureReport) -> BoxFuture<'_, WfResult<TaskState>> {
        Box::pin(async move {
            let (state, open) = self
                .write_retried(move |inner, db| tasks::failed(inner, db, report.clone()))
                .await?;
            self.complete_parents(open).await?;
            Ok(state)
        })
    }

    fn extend_lease(&self, id: RawId, requested_us: i64) -> BoxFuture<'_, WfResult<Option<Lease>>> {
        Box::pin(self.write(move |inner, db| tasks::extend_lease(inner, db, id, requested_us)))
    }

    fn reap_expired(&self) -> BoxFuture<'_, WfResult<u64>> {
        Box::pin(self.write_retried(|inner, db| tasks::reap(inner, db, now_us())))
    }

    fn list_job_tasks(
        &self,
        job: RawId,
        parent: Option<RawId>,
        after: Option<RawId>,
        limit: u64,
    ) -> BoxFuture<'_, WfResult<JobTaskPage>> {
        Box::pin(self.read(move |db| job_views::list_tasks(db, job, parent, after, limit)))
    }

    fn job_prototype(&self, job: RawId) -> BoxFuture<'_, WfResult<JobPrototype>> {
        Box::pin(self.read(move |db| job_views::prototype(db, job)))
    }

    fn job_state_counts(
        &self,
        submitted: (Bound<i64>, Bound<i64>),
    ) -> BoxFuture<'_, WfResult<JobStateCounts>> {
        Box::pin(self.read(move |db| job_views::state_counts(db, submitted)))
    }

    fn task_queue_stats(
        &self,
        submitted: (Bound<i64>, Bound<i64>),
    ) -> BoxFuture<'_, WfResult<QueueStats>> {
        Box::pin(self.read(move |db| job_views::queue_stats(db, submitted)))
    }

    fn store_telemetry(
        &self,
        kind: TelemetryKind,
        records: Vec<NewTelemetry>,
        retention: Retention,
    ) -> BoxFuture<'_, WfResult<u64>> {
        Box::pin(self.write(move |_, db| telemetry::store(db, kind, &records, retention)))
    }

    fn query_telemetry(&self, query: TelemetryQuery) -> BoxFuture<'_, WfResult<TelemetryPage>> {
        Box::pin(self.read(move |db| telemetry::query(db, &query)))
    }

    fn log_counts(
        &self,
        time: (Bound<i64>, Bound<i64>),
    ) -> BoxFuture<'_, WfResult<Vec<(i32, u64)>>> {
        Box::pin(self.read(move |db| telemetry::log_counts(db, time)))
    }

    fn create_workflow(&self, workflow: WorkflowRecord) -> BoxFuture<'_, WfResult<WorkflowRecord>> {
        Box::pin(self.write(move |_, db| workflow_defs::create(db, workflow)))
    }

    fn get_workflow(&self, slug: String) -> BoxFuture<'_, WfResult<Option<WorkflowRecord>>> {
        Box::pin(self.read(move |db| workflow_defs::get(db, &slug)))
    }

    fn list_workflows(
        &self,
        after: Option<String>,
        limit: u64,
    ) -> BoxFuture<'_, WfResult<Vec<WorkflowRecord>>> {
        Box::pin(self.read(move |db| workflow_defs::list(db, after.as_deref(), limit)))
    }

    fn update_workflow(
        &self,
        slug: String,
        name: Option<String>,
        summary: Option<String>,
        description: Option<String>,
    ) -> BoxFuture<'_, WfResult<WorkflowRecord>> {
        Box::pin(self.write(move |_, db| {
            workflow_defs::update(
                db,
                &slug,
                name.as_deref(),
                summary.as_deref(),
                description.as_deref(),
            )
        }))
    }

    fn delete_workflow(&self, slug: String) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, db| workflow_defs::delete(db, &slug)))
    }
}
