//! SQLite backend of [`WorkflowsStore`]: in the datasets store's database file, or in a private throw-away
//! file of its own.
//!
//! All of its SQL runs synchronously on `rusqlite` connections, through a [`Writer`] ([`Writer::run_direct`]):
//! queued behind the other writes, then run as one `BEGIN IMMEDIATE` transaction on the writer's direct
//! connection (on tokio's blocking pool, or in place for a throw-away database; see
//! [`SqliteWorkflowsStore::write`]), so a request that is cancelled while it waits for the lock or in the
//! middle of a transaction never leaves a transaction open nor half a change behind.
//!
//! * In a database file the server keeps ([`SqliteWorkflowsStore::open`]) the store shares the datasets
//!   store's writer queue, and reads run on read-only connections of their own ([`Reader`]). The schema comes
//!   from the sqlx migrations the datasets store applies when it opens.
//! * The throw-away server ([`SqliteWorkflowsStore::open_private`]) keeps the workflows tables in a file of
//!   their own, next to the datasets file, that only the writer's one connection opens: it holds the file's
//!   lock for good and keeps its rollback journal in memory, which makes the small transaction of every task
//!   report and claim cheaper than in a shared WAL file. Reads then run on that connection too
//!   ([`Writer::read_direct`]), queued with the writes.

mod clusters;
mod jobs;
mod schema;
mod tasks;

use super::values::IdGenerator;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures::future::BoxFuture;
use rusqlite::Connection;
use sqlx::SqlitePool;
use tilebox_core::wire::workflows::v1::TaskState;

use super::{
    ClaimRequest, ClaimedTask, ClusterRecord, ComputedReport, FailureReport, JobPage, JobQuery,
    JobRecord, Lease, NewJob, WfResult, WorkflowsStore, WorkflowsStoreError,
};
use crate::config::WorkflowsConfig;
use crate::store::reader::Reader;
use crate::store::tx::Writer;
use crate::store::{RawId, StoreError};

/// The workflows store on SQLite. Cloning shares the connections and the writer lock.
#[derive(Clone)]
pub struct SqliteWorkflowsStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteWorkflowsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWorkflowsStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What a write transaction can reach.
pub(super) struct Inner {
    /// Read-only connections to a shared database file; `None` for a private file (reads go through the
    /// writer).
    reader: Option<Arc<Reader>>,
    writer: Writer,
    pub(super) config: WorkflowsConfig,
    ids: IdGenerator,
    /// No running task's lease ends before this instant (µs since the epoch): the reap that opens every
    /// task write is skipped until then. Claims and extensions lower it inside their transaction; a reap
    /// raises it to the earliest lease it leaves running; a failed write unit forgets it (`i64::MIN`), so
    /// a rolled-back reap is repeated. The background reaper always reaps.
    lease_floor: AtomicI64,
    /// The directory of a private throw-away file, removed when the last user of it is dropped.
    _scratch: Option<Arc<tempfile::TempDir>>,
}

impl SqliteWorkflowsStore {
    /// Opens the store on the database of the datasets store (`pool` and `writer` of the same database
    /// file), writing through the same `writer`: upgrades old tables and creates the default cluster. A
    /// database that is not a file (private in-memory) cannot hold the workflows store.
    pub async fn open(
        pool: SqlitePool,
        writer: Writer,
        config: WorkflowsConfig,
    ) -> Result<Self, StoreError> {
        let file = writer.shared_file().ok_or_else(|| {
            StoreError::Io(
                "the workflows store needs a database file, not a private in-memory one".into(),
            )
        })?;
        let reader = Reader::open(file)?;
        let store = Self::with(Some(reader), writer, config, None);
        schema::create(&pool).await.map_err(into_store_error)?;
        store.init().await?;
        Ok(store)
    }

    /// Opens the store of a throw-away server in a new private file `workflows.db` in `dir` (kept until the
    /// store is dropped), created with the schema of this build.
    pub async fn open_private(
        dir: Arc<tempfile::TempDir>,
        config: WorkflowsConfig,
    ) -> Result<Self, StoreError> {
        let path = dir.path().join("workflows.db");
        let writer = tokio::task::spawn_blocking(move || {
            Writer::private(&path, crate::store::migrate::sqlite_private)
        })
        .await
        .map_err(|e| StoreError::Io(format!("opening the workflows database failed: {e}")))??;
        let store = Self::with(None, writer, config, Some(dir));
        store.init().await?;
        Ok(store)
    }

    fn with(
        reader: Option<Arc<Reader>>,
        writer: Writer,
        config: WorkflowsConfig,
        scratch: Option<Arc<tempfile::TempDir>>,
    ) -> Self {
        SqliteWorkflowsStore {
            inner: Arc::new(Inner {
                reader,
                writer,
                config,
                ids: IdGenerator::default(),
                lease_floor: AtomicI64::new(i64::MIN),
                _scratch: scratch,
            }),
        }
    }

    /// Creates the default cluster.
    async fn init(&self) -> Result<(), StoreError> {
        self.write(|_, conn| clusters::ensure_default(conn))
            .await
            .map_err(into_store_error)
    }

    /// Runs `unit` as one write transaction through the [`Writer`]'s direct connection: committed when it
    /// returns `Ok`, rolled back when it returns an error; once started it runs to its end whatever happens
    /// to the caller.
    async fn write<T, F>(&self, unit: F) -> WfResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &Connection) -> WfResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .run_direct(move |tx| {
                let result = unit(&inner, tx);
                if result.is_err() {
                    // The transaction rolls back, a reap inside it included.
                    inner.forget_lease_floor();
                }
                result
            })
            .await
    }

    /// Runs `read` on the blocking pool: on a read-only connection, or on the writer's for a private file.
    async fn read<T, F>(&self, read: F) -> WfResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> WfResult<T> + Send + 'static,
    {
        match &self.inner.reader {
            Some(reader) => reader.run(read).await,
            None => self.inner.writer.read_direct(read).await,
        }
    }
}

/// Opening fails with a storage error; anything else the store reports then means the tables are not what
/// this build expects.
fn into_store_error(e: WorkflowsStoreError) -> StoreError {
    match e {
        WorkflowsStoreError::Store(e) => e,
        other => StoreError::Corrupt(other.to_string()),
    }
}

impl Inner {
    /// Whether a running task's lease may have ended by `now`.
    pub(super) fn lease_may_have_ended(&self, now: i64) -> bool {
        now >= self.lease_floor.load(Ordering::Acquire)
    }

    /// A running task's lease now ends at `until`.
    pub(super) fn lease_ends_at(&self, until: i64) {
        self.lease_floor.fetch_min(until, Ordering::AcqRel);
    }

    /// After a reap: the earliest lease still running ends at `earliest` (`None`: no task runs).
    pub(super) fn set_lease_floor(&self, earliest: Option<i64>) {
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
}

pub(super) use super::values::{dur_us, fmt_id, now_us, raw_id, task_state};

impl WorkflowsStore for SqliteWorkflowsStore {
    fn get_cluster(&self, slug: Option<String>) -> BoxFuture<'_, WfResult<Option<ClusterRecord>>> {
        Box::pin(self.read(move |conn| clusters::get(conn, slug.as_deref())))
    }

    fn list_clusters(&self) -> BoxFuture<'_, WfResult<Vec<ClusterRecord>>> {
        Box::pin(self.read(clusters::list))
    }

    fn create_cluster(&self, cluster: ClusterRecord) -> BoxFuture<'_, WfResult<ClusterRecord>> {
        Box::pin(self.write(move |_, conn| clusters::create(conn, cluster)))
    }

    fn update_cluster(
        &self,
        slug: String,
        display_name: Option<String>,
        description: Option<String>,
    ) -> BoxFuture<'_, WfResult<ClusterRecord>> {
        Box::pin(self.write(move |_, conn| clusters::update(conn, slug, display_name, description)))
    }

    fn delete_cluster(&self, slug: String) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, conn| clusters::delete(conn, slug)))
    }

    fn submit_job(&self, job: NewJob) -> BoxFuture<'_, WfResult<JobRecord>> {
        Box::pin(self.write(move |inner, conn| jobs::submit(inner, conn, job)))
    }

    fn get_job(&self, id: RawId, with_tasks: bool) -> BoxFuture<'_, WfResult<Option<JobRecord>>> {
        Box::pin(self.read(move |conn| jobs::view(conn, id, with_tasks)))
    }

    fn cancel_job(&self, id: RawId) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, conn| jobs::cancel(conn, id)))
    }

    fn retry_job(&self, id: RawId) -> BoxFuture<'_, WfResult<u64>> {
        Box::pin(self.write(move |_, conn| jobs::retry(conn, id)))
    }

    fn query_jobs(&self, query: JobQuery) -> BoxFuture<'_, WfResult<JobPage>> {
        Box::pin(self.read(move |conn| jobs::query(conn, &query)))
    }

    fn next_task(
        &self,
        computed: Option<ComputedReport>,
        claim: Option<ClaimRequest>,
    ) -> BoxFuture<'_, WfResult<Option<ClaimedTask>>> {
        Box::pin(self.write(move |inner, conn| tasks::next_task(inner, conn, computed, claim)))
    }

    fn task_failed(&self, report: FailureReport) -> BoxFuture<'_, WfResult<TaskState>> {
        Box::pin(self.write(move |inner, conn| tasks::failed(inner, conn, report)))
    }

    fn extend_lease(&self, id: RawId, requested_us: i64) -> BoxFuture<'_, WfResult<Option<Lease>>> {
        Box::pin(self.write(move |inner, conn| tasks::extend_lease(inner, conn, id, requested_us)))
    }

    fn reap_expired(&self) -> BoxFuture<'_, WfResult<u64>> {
        Box::pin(self.write(|inner, conn| tasks::reap(inner, conn, now_us())))
    }
}
