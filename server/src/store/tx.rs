//! Cancel-safe write transactions on the SQLite pool.
//!
//! A request future can be dropped at any await point: its deadline runs out, the client resets the HTTP/2
//! stream, the connection closes. A write transaction must then still either commit or roll back, and its
//! pooled connection must never go back to the pool inside an open transaction (that would hold SQLite's write
//! lock forever and wedge every later writer). Three layers make sure of it:
//!
//! * [`Writer::run`] runs a whole write unit (`BEGIN IMMEDIATE` → statements → `COMMIT`/`ROLLBACK`) in a tokio
//!   task of its own that the request only awaits. Writers queue on an async mutex first, so a request that
//!   goes away while queued cancels its unit cleanly (nothing written, no connection held); once the unit has
//!   started it runs to its end whatever happens to the request.
//! * [`begin_immediate`] starts a transaction for code that keeps its work inline (the workflows store): the
//!   `BEGIN IMMEDIATE` itself runs in a task, so dropping the caller while it waits for the write lock cannot
//!   leave a begun-but-unowned transaction behind (the gap sqlx leaves between its `BEGIN` and the
//!   `Transaction` value). Once returned, dropping the `Transaction` queues its rollback as usual.
//! * [`rollback_on_release`] is the pool's last line: a connection returned to the pool while sqlx still counts
//!   an open transaction on it is rolled back before anyone else can acquire it.
//!
//! [`Writer::run_direct`] is the synchronous twin of [`Writer::run`] for hot write units of many small
//! statements (the workflows store): it takes the same queue, then runs the whole unit on one `rusqlite`
//! connection of its own to the same database file inside `BEGIN IMMEDIATE` — on tokio's blocking pool for
//! a durable database, in place for a throw-away one (no fsync, no other process: the unit is cheaper than
//! the hop to a blocking thread). A `Writer::private` writer has no pool at all: its connection is the only
//! one that ever opens its throw-away file, which lets it hold the file's lock for good and keep its rollback
//! journal in memory (see `Journal::Private`). Every statement is then a plain function call on one thread instead of a
//! round trip to sqlx's connection worker thread, and its prepared statement comes from the connection's
//! cache. The same guarantees hold: a unit whose caller leaves while it is queued never starts; once
//! started it runs to commit or rollback (on the blocking thread, which keeps running when the awaiting
//! future is dropped, or within the one poll that runs it in place), and a panic inside it rolls the
//! transaction back.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::OpenFlags;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::sqlite::{SqlitePoolOptions, SqliteTransactionManager};
use sqlx::{Connection, Sqlite, SqliteConnection, SqlitePool, Transaction, TransactionManager};
use tokio::sync::{Mutex, oneshot};

use super::StoreError;

/// The statement that opens every write transaction: it takes SQLite's write lock up front, so concurrent
/// writers wait (busy timeout) instead of failing when a deferred transaction cannot be upgraded.
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// Adds the release guard to pool options: a connection that comes back to the pool with a transaction still
/// open (as counted by sqlx) is rolled back first; if that fails the connection is closed, which makes SQLite
/// roll back.
///
/// Acquiring skips sqlx's liveness ping: a connection to a local SQLite file has no peer that could have gone
/// away, and the guard already vets every connection on its way back; the ping would cost a round trip to
/// the connection's worker thread on every transaction.
pub fn rollback_on_release(options: SqlitePoolOptions) -> SqlitePoolOptions {
    options
        .after_release(release_guard)
        .test_before_acquire(false)
}

fn release_guard(
    conn: &mut SqliteConnection,
    _meta: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        while conn.is_in_transaction() {
            tracing::warn!("connection returned to the pool inside a transaction; rolling back");
            SqliteTransactionManager::rollback(conn).await?;
        }
        Ok(true)
    })
}

/// Begins a `BEGIN IMMEDIATE` transaction on a pooled connection, cancel-safely: the begin runs in a task of its
/// own, and if the caller has gone away by the time it completes the transaction is rolled back at once.
pub async fn begin_immediate(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    let pool = pool.clone();
    let (result_tx, result_rx) = oneshot::channel();
    tokio::spawn(async move {
        let begun = pool.begin_with(BEGIN_IMMEDIATE).await;
        if let Err(Ok(unclaimed)) = result_tx.send(begun) {
            let _ = unclaimed.rollback().await;
        }
    });
    result_rx.await.map_err(|_| task_lost())?
}

fn task_lost() -> sqlx::Error {
    sqlx::Error::Protocol("the database task ended without an answer".into())
}

/// One writer at a time per database, each write unit run to its end in a task of its own.
///
/// Cloning shares the queue. Give every store that writes the same database the same `Writer`, so writers
/// queue here (cheaply, cancellable) rather than inside SQLite's busy wait holding a pooled connection.
#[derive(Clone, Debug)]
pub struct Writer {
    /// The sqlx pool of [`Writer::run`]; `None` for a [`Writer::private`] one.
    pool: Option<SqlitePool>,
    queue: Arc<Mutex<()>>,
    /// The connection of [`Writer::run_direct`], for databases in a file.
    direct: Option<Arc<DirectConnection>>,
}

/// Prepared statements cached by the direct write connection (the claim has a shape per number of
/// identifiers and whether it prefers a job).
const DIRECT_STATEMENT_CACHE: usize = 64;

/// How the direct connection keeps its database file, which decides where its units run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Journal {
    /// A file shared with the sqlx pool and readers that must survive a crash: WAL, every commit synced
    /// (`synchronous=FULL`, as the pool's connections). Units run on tokio's blocking pool (an fsync each).
    Durable,
    /// A throw-away file shared with the sqlx pool and readers: WAL, commits not synced. Units run in place.
    Unsynced,
    /// A throw-away file that no other connection opens: exclusive locking (the lock is taken once and
    /// kept, so no file lock per transaction), the rollback journal in memory (a commit writes each changed
    /// page once, in place, instead of a WAL frame and its header), commits not synced. Units run in place.
    /// A crash loses the file, which is thrown away anyway.
    Private,
}

/// The `rusqlite` write connection of a database file, opened on first use and kept.
#[derive(Debug)]
struct DirectConnection {
    path: PathBuf,
    journal: Journal,
    conn: StdMutex<Option<rusqlite::Connection>>,
}

impl DirectConnection {
    /// The connection of the file at `path`, not opened yet.
    fn new(path: &Path, journal: Journal) -> Arc<Self> {
        Arc::new(DirectConnection {
            path: path.to_owned(),
            journal,
            conn: StdMutex::new(None),
        })
    }

    /// Opens the connection: for a shared file with the settings of the sqlx pool (WAL, the same
    /// `synchronous`), for a private one as [`Journal::Private`] says; a busy timeout and foreign keys.
    fn open(&self) -> Result<rusqlite::Connection, rusqlite::Error> {
        // A shared file exists (its pool created it); a private one is created here.
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if self.journal == Journal::Private {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = rusqlite::Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let journal_mode = match self.journal {
            Journal::Durable | Journal::Unsynced => "WAL",
            Journal::Private => {
                conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
                "MEMORY"
            }
        };
        let _: String =
            conn.pragma_update_and_check(None, "journal_mode", journal_mode, |row| row.get(0))?;
        let synchronous = match self.journal {
            Journal::Durable => "FULL",
            Journal::Unsynced | Journal::Private => "OFF",
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.set_prepared_statement_cache_capacity(DIRECT_STATEMENT_CACHE);
        Ok(conn)
    }

    /// Runs `unit` in a `BEGIN IMMEDIATE` transaction: commit on `Ok`, rollback on `Err` or panic.
    fn run<T, E, F>(&self, unit: F) -> Result<T, E>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, E>,
        E: From<StoreError>,
    {
        // A panicking unit poisons the lock after its transaction was rolled back by the unwind.
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|c| !c.is_autocommit()) {
            // Never reuse a connection left inside a transaction: closing it rolls back.
            *slot = None;
        }
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => slot.insert(self.open().map_err(StoreError::from)?),
        };
        let tx = DirectTx::begin(conn).map_err(StoreError::from)?;
        match unit(conn) {
            Ok(value) => {
                tx.end("COMMIT").map_err(StoreError::from)?;
                Ok(value)
            }
            Err(e) => {
                // Dropping the transaction would roll back too, but silently on failure.
                if let Err(rollback) = tx.end("ROLLBACK") {
                    tracing::warn!("rolling back a direct write unit failed: {rollback}");
                    *slot = None;
                }
                Err(e)
            }
        }
    }
}

/// A `BEGIN IMMEDIATE` transaction on the direct connection, begun and ended with cached statements (a
/// `rusqlite::Transaction` parses `BEGIN` and `COMMIT` anew every time, a sizeable part of a small unit).
/// Dropped before it ended (an error on the way out, or a panic in the unit), it rolls back.
struct DirectTx<'c> {
    conn: &'c rusqlite::Connection,
    open: bool,
}

impl<'c> DirectTx<'c> {
    fn begin(conn: &'c rusqlite::Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Self { conn, open: true })
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`; when that fails it is still rolled back on drop.
    fn end(mut self, statement: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(statement)?.execute([])?;
        self.open = false;
        Ok(())
    }
}

impl Drop for DirectTx<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let rolled_back = self
                .conn
                .prepare_cached("ROLLBACK")
                .and_then(|mut s| s.execute([]));
            if let Err(e) = rolled_back {
                tracing::warn!("rolling back an unfinished direct write unit failed: {e}");
            }
        }
    }
}

impl Writer {
    /// A writer over `pool`.
    pub fn new(pool: SqlitePool) -> Self {
        Writer {
            pool: Some(pool),
            queue: Arc::new(Mutex::new(())),
            direct: None,
        }
    }

    /// Lets [`Writer::run_direct`] write the database file at `path` (the file of `pool`); `durable` as the
    /// pool's `synchronous` setting (`FULL` when true; `OFF` otherwise, only for a throw-away database in a
    /// private directory that no other process opens).
    pub(crate) fn with_file(mut self, path: &Path, durable: bool) -> Self {
        let journal = if durable {
            Journal::Durable
        } else {
            Journal::Unsynced
        };
        self.direct = Some(DirectConnection::new(path, journal));
        self
    }

    /// A writer whose one connection is the only one ever to open the throw-away database file at `path`
    /// (created if missing, its schema applied with `schema`): [`Writer::run_direct`] and
    /// [`Writer::read_direct`] only, no sqlx pool, no other reader ([`Journal::Private`]).
    pub(crate) fn private<F>(path: &Path, schema: F) -> Result<Self, StoreError>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<(), StoreError>,
    {
        let direct = DirectConnection::new(path, Journal::Private);
        let conn = direct.open()?;
        schema(&conn)?;
        *direct.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
        Ok(Writer {
            pool: None,
            queue: Arc::new(Mutex::new(())),
            direct: Some(direct),
        })
    }

    /// The database file when other connections may open it too (for a [`Writer::private`] writer: `None`,
    /// read with [`Writer::read_direct`]).
    pub(crate) fn shared_file(&self) -> Option<&Path> {
        self.direct
            .as_deref()
            .filter(|d| d.journal != Journal::Private)
            .map(|d| d.path.as_path())
    }

    /// Runs `unit` synchronously in one `BEGIN IMMEDIATE` transaction on the direct `rusqlite` connection,
    /// queued with the units of [`Writer::run`]: committed when it returns `Ok`, rolled back when it returns
    /// `Err` or panics. On a durable database (an fsync per commit) it runs on tokio's blocking pool; on a
    /// throw-away one (`synchronous=OFF`, a file in a private directory) it runs in place, on the calling
    /// task's thread.
    ///
    /// Cancel safety as for [`Writer::run`]: dropped while queued, the unit never starts; once started it runs
    /// to commit or rollback whatever happens to the caller (in place it finishes within one poll). Fails for
    /// a database that is not a file.
    pub(crate) async fn run_direct<T, E, F>(&self, unit: F) -> Result<T, E>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let in_place = self
            .direct
            .as_ref()
            .is_some_and(|d| d.journal != Journal::Durable);
        self.run_queued(unit, in_place).await
    }

    /// Runs `read` on the direct connection of a [`Writer::private`] writer, queued with its writes, on
    /// tokio's blocking pool (a read may be long: a job with all its tasks). Like a unit of
    /// [`Writer::run_direct`] it runs inside one transaction, so it sees one state.
    pub(crate) async fn read_direct<T, E, F>(&self, read: F) -> Result<T, E>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run_queued(read, false).await
    }

    /// Takes the queue, then runs `unit` on the direct connection in place (within the poll that got the
    /// turn) or on tokio's blocking pool.
    async fn run_queued<T, E, F>(&self, unit: F, in_place: bool) -> Result<T, E>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let Some(direct) = self.direct.clone() else {
            return Err(E::from(StoreError::Io(
                "direct writes need a database file".into(),
            )));
        };
        let turn = Arc::clone(&self.queue).lock_owned().await;
        if in_place {
            // No fsync, and no other process knows the throw-away file, so nothing can make the unit wait:
            // it is tens of microseconds of CPU, less than the hand-off to a blocking thread and back. It
            // runs inside this poll, so it cannot be interrupted by the caller going away either.
            let _turn = turn;
            return std::panic::catch_unwind(AssertUnwindSafe(|| direct.run(unit)))
                .unwrap_or_else(|_| Err(E::from(StoreError::Database(task_lost()))));
        }
        let (result_tx, result_rx) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            if result_tx.is_closed() {
                // The caller left before the unit started: nothing is written.
                return;
            }
            let _ = result_tx.send(direct.run(unit));
        });
        result_rx
            .await
            .map_err(|_| E::from(StoreError::Database(task_lost())))?
    }

    /// Runs `unit` in one `BEGIN IMMEDIATE` transaction: committed when it returns `Ok`, rolled back when it
    /// returns `Err` (or panics).
    ///
    /// Cancel safety: if the returned future is dropped while the unit is still queued behind other writers,
    /// the unit never starts. Once it has started it runs to commit or rollback in its own task, whatever
    /// happens to the caller, so a dropped request can neither leave a transaction open nor half-write.
    pub async fn run<T, E, F>(&self, unit: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        let Some(pool) = self.pool.clone() else {
            return Err(E::from(sqlx::Error::PoolClosed));
        };
        let turn = Arc::clone(&self.queue).lock_owned().await;
        let (result_tx, result_rx) = oneshot::channel();
        tokio::spawn(async move {
            let _turn = turn;
            if result_tx.is_closed() {
                return;
            }
            let mut tx = match pool.begin_with(BEGIN_IMMEDIATE).await {
                Ok(tx) => tx,
                Err(e) => {
                    let _ = result_tx.send(Err(E::from(e)));
                    return;
                }
            };
            if result_tx.is_closed() {
                // The caller left while we waited for the lock: nothing was written.
                let _ = tx.rollback().await;
                return;
            }
            let outcome = match unit(&mut tx).await {
                Ok(value) => tx.commit().await.map(|()| value).map_err(E::from),
                Err(e) => {
                    let _ = tx.rollback().await;
                    Err(e)
                }
            };
            let _ = result_tx.send(outcome);
        });
        result_rx.await.map_err(|_| E::from(task_lost()))?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::future::Future;
    use std::path::Path;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::task::{ArcWake, noop_waker_ref};
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use sqlx::{Connection, Executor};

    use super::*;

    fn options(path: &Path) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
    }

    async fn guarded_pool(path: &Path) -> SqlitePool {
        let pool = rollback_on_release(SqlitePoolOptions::new())
            .max_connections(1)
            .connect_with(options(path))
            .await
            .unwrap();
        pool.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
            .await
            .unwrap();
        pool
    }

    /// A waker that records that it was woken.
    struct Woken(AtomicBool);

    impl ArcWake for Woken {
        fn wake_by_ref(this: &Arc<Self>) {
            this.0.store(true, Ordering::SeqCst);
        }
    }

    /// Polls `future` `polls` times, each time after it asked to be woken, then drops it: a cancellation at
    /// exactly its `polls`-th await point. Returns whether it finished first.
    async fn drop_at_await_point<F: Future>(future: F, polls: usize) -> bool {
        let woken = Arc::new(Woken(AtomicBool::new(false)));
        let waker = futures::task::waker(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        for _ in 0..polls {
            woken.0.store(false, Ordering::SeqCst);
            if future.as_mut().poll(&mut cx).is_ready() {
                return true;
            }
            while !woken.0.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
        }
        false
    }

    /// Cancels `begin` at each of its await points in turn — including just after sqlx acknowledged the
    /// `BEGIN` but before it built its `Transaction` — and checks after each that the pool's connection is
    /// not left inside a transaction and that the next write transaction begins and commits.
    async fn cancel_begin_at_every_await_point<F, Fut>(pool: &SqlitePool, begin: F)
    where
        F: Fn() -> Fut,
        Fut: Future,
    {
        for polls in 1..=8 {
            let finished = drop_at_await_point(begin(), polls).await;
            let mut tx = begin_immediate(pool)
                .await
                .unwrap_or_else(|e| panic!("cancelled after {polls} polls: next begin fails: {e}"));
            assert!(tx.is_in_transaction());
            sqlx::query("INSERT INTO t VALUES (1)")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let conn = pool.acquire().await.unwrap();
            assert!(!conn.is_in_transaction(), "after {polls} polls");
            if finished {
                break;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn begins_cancelled_at_any_point_leave_no_transaction_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let pool = guarded_pool(&path).await;
        cancel_begin_at_every_await_point(&pool, || begin_immediate(&pool)).await;
        // sqlx's own begin can leave its connection inside a transaction when cancelled right after the
        // `BEGIN`; the release guard rolls it back before the connection is reused.
        cancel_begin_at_every_await_point(&pool, || pool.begin_with(BEGIN_IMMEDIATE)).await;
    }

    /// Polls a write `unit` up to `polls` times (it may finish, which must be a success), drops it, then
    /// checks that a sqlx unit queued after it runs to its end.
    async fn poll_then_drop_then_queue<E: std::fmt::Debug>(
        writer: &Writer,
        mut unit: Pin<Box<impl Future<Output = Result<(), E>>>>,
        polls: u64,
    ) {
        let mut cx = Context::from_waker(noop_waker_ref());
        for _ in 0..polls {
            if let Poll::Ready(r) = Pin::as_mut(&mut unit).poll(&mut cx) {
                r.unwrap();
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(unit);
        writer
            .run(|conn| {
                Box::pin(async move {
                    sqlx::query("SELECT 1").execute(&mut *conn).await?;
                    Ok::<_, sqlx::Error>(())
                })
            })
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_units_complete_or_never_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let pool = guarded_pool(&path).await;
        let writer = Writer::new(pool.clone());
        let mut started = 0;
        for i in 0..50u64 {
            let unit = Box::pin(writer.run(move |conn| {
                Box::pin(async move {
                    for _ in 0..3 {
                        sqlx::query("INSERT INTO t VALUES (?)")
                            .bind(i as i64)
                            .execute(&mut *conn)
                            .await?;
                        tokio::task::yield_now().await;
                    }
                    Ok::<_, sqlx::Error>(())
                })
            }));
            // Drop the caller after a varying number of polls; a later unit always runs (the queue and the
            // write lock are free again) …
            poll_then_drop_then_queue(&writer, unit, i % 7).await;
            started += 1;
        }
        assert_eq!(started, 50);
        // … and every unit wrote all of its rows or none.
        let counts: Vec<i64> = sqlx::query_scalar("SELECT COUNT(*) FROM t GROUP BY v")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(counts.iter().all(|&c| c == 3), "{counts:?}");
    }

    /// Runs a direct unit that inserts a row (1000) then fails, and one that inserts a row (1001) then panics
    /// inside its transaction; both must report an error.
    async fn fail_and_panic_inside_units(writer: &Writer) {
        let failed = writer
            .run_direct(|tx| {
                tx.execute("INSERT INTO t VALUES (1000)", [])?;
                Err::<(), _>(StoreError::Conflict("refused".into()))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
        let panicked = writer
            .run_direct(|tx| {
                tx.execute("INSERT INTO t VALUES (1001)", [])?;
                if tx.is_autocommit() {
                    return Ok::<_, StoreError>(());
                }
                panic!("the unit panics inside its transaction");
            })
            .await;
        assert!(panicked.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_units_complete_or_never_start() {
        // Durable: on the blocking pool; throw-away: in place.
        for durable in [true, false] {
            direct_units_complete_or_never_start_on(durable).await;
        }
    }

    async fn direct_units_complete_or_never_start_on(durable: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let pool = guarded_pool(&path).await;
        let writer = Writer::new(pool.clone()).with_file(&path, durable);
        for i in 0..50i64 {
            let unit = Box::pin(writer.run_direct(move |tx| {
                for _ in 0..3 {
                    tx.execute("INSERT INTO t VALUES (?)", [i])?;
                    std::thread::yield_now();
                }
                Ok::<_, StoreError>(())
            }));
            // Drop the caller after a varying number of polls; a later unit always runs, sqlx and direct
            // ones sharing the queue …
            poll_then_drop_then_queue(&writer, unit, (i % 7) as u64).await;
        }
        // … and every unit wrote all of its rows or none.
        let counts: Vec<i64> = sqlx::query_scalar("SELECT COUNT(*) FROM t GROUP BY v")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(counts.iter().all(|&c| c == 3), "{counts:?}");

        // A unit that fails or panics writes nothing, and the next one runs.
        fail_and_panic_inside_units(&writer).await;
        let (stray, synchronous, foreign_keys) = writer
            .run_direct(|tx| {
                let stray: i64 =
                    tx.query_row("SELECT COUNT(*) FROM t WHERE v >= 1000", [], |r| r.get(0))?;
                let synchronous: i64 = tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
                let foreign_keys: i64 = tx.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                Ok::<_, StoreError>((stray, synchronous, foreign_keys))
            })
            .await
            .unwrap();
        assert_eq!(stray, 0);
        // A durable database's direct connection syncs every commit (`FULL`) like the pool's.
        let expected = if durable { 2 } else { 0 };
        assert_eq!((synchronous, foreign_keys), (expected, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn private_units_complete_or_never_start_and_reads_see_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.db");
        let writer = Writer::private(&path, |conn| {
            conn.execute_batch("CREATE TABLE t (v INTEGER)")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(writer.shared_file(), None);
        let mut cx = Context::from_waker(noop_waker_ref());
        for i in 0..50i64 {
            let mut unit = Box::pin(writer.run_direct(move |tx| {
                for _ in 0..3 {
                    tx.execute("INSERT INTO t VALUES (?)", [i])?;
                }
                Ok::<_, StoreError>(())
            }));
            // Polled or not before it is dropped: it runs whole within one poll, or never.
            if i % 2 == 0 {
                let _ = Pin::as_mut(&mut unit).poll(&mut cx);
            }
            drop(unit);
        }
        fail_and_panic_inside_units(&writer).await;
        // Reads run on the same connection, queued with the writes.
        let (counts, stray, journal, locking) = writer
            .read_direct(|conn| {
                let counts = conn
                    .prepare("SELECT COUNT(*) FROM t GROUP BY v")?
                    .query_map([], |r| r.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                let stray: i64 =
                    conn.query_row("SELECT COUNT(*) FROM t WHERE v >= 1000", [], |r| r.get(0))?;
                let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                let locking: String = conn.query_row("PRAGMA locking_mode", [], |r| r.get(0))?;
                Ok::<_, StoreError>((counts, stray, journal, locking))
            })
            .await
            .unwrap();
        // Exactly the polled units wrote, each all of its rows.
        assert_eq!(counts, vec![3; 25]);
        assert_eq!(stray, 0);
        assert_eq!(
            (journal.as_str(), locking.as_str()),
            ("memory", "exclusive")
        );
        // No other connection gets at the file while the writer holds it.
        let other = rusqlite::Connection::open(&path).unwrap();
        other.busy_timeout(Duration::ZERO).unwrap();
        let read = other.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0));
        assert!(read.is_err(), "{read:?}");
        // A private writer has no pool for sqlx units.
        let sqlx_unit = writer
            .run(|_conn| Box::pin(async { Ok::<_, sqlx::Error>(()) }))
            .await;
        assert!(sqlx_unit.is_err());
    }
}
