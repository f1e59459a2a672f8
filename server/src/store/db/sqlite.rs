//! The SQLite driver: `rusqlite` connections to one database file.
//!
//! * Writes go to one write connection. For a file shared with readers ([`SqliteMode::Durable`],
//!   [`SqliteMode::Scratch`]) it lives on a writer thread that takes units from a queue; units that queue
//!   while a commit is in flight run together in the next transaction, each inside a savepoint of its own,
//!   and share one commit (one fsync on a durable file) — *group commit*. A unit that fails rolls back to its
//!   savepoint and leaves the others alone; nobody is answered before the shared commit is done.
//! * A [`SqliteMode::Private`] file is opened by this one connection only (exclusive lock, rollback journal
//!   in memory, no fsync): units run in place, within the poll that got the connection, which is cheaper
//!   than a hop to another thread; reads take the same connection on tokio's blocking pool.
//! * Reads of a shared file run on tokio's blocking pool on read-only connections (WAL lets them run next
//!   to the writer; each sees the last commit).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::{Col, Db, DbError, Dialect, Failing, Finish, Flow, Param, Row, Unit};

/// Prepared statements cached per connection (the claim and job queries have a shape per filter set).
const STATEMENT_CACHE: usize = 128;
/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;
/// The most units that share one transaction.
const MAX_GROUP: usize = 64;

/// How a database file is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteMode {
    /// A file that must survive a crash: WAL, every commit synced (`synchronous=FULL`), group commit.
    Durable,
    /// A throw-away file shared with readers: WAL, commits not synced.
    Scratch,
    /// A throw-away file no other connection opens: exclusive locking, journal in memory, not synced; units
    /// run in place.
    Private,
}

/// A SQLite database file and its connections.
#[derive(Debug)]
pub struct SqliteDb {
    path: PathBuf,
    mode: SqliteMode,
    /// The writer thread's queue (shared modes).
    queue: Option<Mutex<mpsc::Sender<Unit>>>,
    /// The one connection of a private file.
    private: Option<Arc<tokio::sync::Mutex<Connection>>>,
    idle_readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unit")
    }
}

impl SqliteDb {
    /// Opens (creating it if missing) the database file at `path`; `schema` runs once on the write
    /// connection, in a transaction, before anything else (the migrations).
    pub fn open(
        path: &Path,
        mode: SqliteMode,
        schema: impl FnOnce(&mut dyn Db) -> Result<(), DbError>,
    ) -> Result<Arc<Self>, DbError> {
        let conn = open_writer(path, mode)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        match schema(&mut SqliteConn(&conn)) {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        let (queue, private) = if mode == SqliteMode::Private {
            (None, Some(Arc::new(tokio::sync::Mutex::new(conn))))
        } else {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("tilebox-sqlite-writer".into())
                .spawn(move || writer_loop(conn, rx))
                .map_err(|e| DbError::Setup(format!("starting the writer thread: {e}")))?;
            (Some(Mutex::new(tx)), None)
        };
        Ok(Arc::new(SqliteDb {
            path: path.to_owned(),
            mode,
            queue,
            private,
            idle_readers: Mutex::new(Vec::new()),
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the file is kept.
    pub fn mode(&self) -> SqliteMode {
        self.mode
    }

    /// Queues (or, on a private file, runs in place) a write unit.
    pub(super) async fn write(&self, unit: Unit) {
        if let Some(private) = &self.private {
            let conn = private.lock().await;
            if unit.wanted() {
                run_one(&conn, unit);
            }
            return;
        }
        if let Some(queue) = &self.queue {
            // A send fails only when the writer thread is gone; the dropped unit then answers `Closed`.
            let _ = queue.lock().unwrap_or_else(|p| p.into_inner()).send(unit);
        }
    }

    /// Runs a read unit on tokio's blocking pool.
    pub(super) async fn read(self: &Arc<Self>, unit: Unit) {
        if let Some(private) = &self.private {
            let conn = private.clone().lock_owned().await;
            if !unit.wanted() {
                return;
            }
            let _ = tokio::task::spawn_blocking(move || run_read(&conn, unit)).await;
            return;
        }
        let db = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if !unit.wanted() {
                return;
            }
            let conn = match db.take_reader() {
                Ok(conn) => conn,
                Err(e) => return Failing::new(Dialect::Sqlite, e).answer(unit),
            };
            run_read(&conn, unit);
            db.put_back(conn);
        })
        .await;
    }

    fn take_reader(&self) -> Result<Connection, DbError> {
        let idle = self
            .idle_readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                // Opened read-write (without create) so the WAL and its index work as for any connection,
                // even after every other connection closed; `query_only` then refuses any write.
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(Duration::from_secs(30))?;
                conn.pragma_update(None, "query_only", true)?;
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                Ok(conn)
            }
        }
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle_readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS && conn.is_autocommit() {
            idle.push(conn);
        }
    }
}

/// Opens the write connection with the settings of `mode`.
fn open_writer(path: &Path, mode: SqliteMode) -> Result<Connection, DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let journal = match mode {
        SqliteMode::Durable | SqliteMode::Scratch => "WAL",
        SqliteMode::Private => {
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            "MEMORY"
        }
    };
    let _: String = conn.pragma_update_and_check(None, "journal_mode", journal, |r| r.get(0))?;
    let synchronous = if mode == SqliteMode::Durable {
        "FULL"
    } else {
        "OFF"
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The writer thread: takes a unit, then every unit queued behind it (up to [`MAX_GROUP`]), runs them in
/// one transaction and answers them after its commit.
fn writer_loop(conn: Connection, queue: mpsc::Receiver<Unit>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(unit) => batch.push(unit),
                Err(_) => break,
            }
        }
        batch.retain(Unit::wanted);
        match batch.len() {
            0 => {}
            1 => run_one(&conn, batch.remove(0)),
            _ => run_group(&conn, batch),
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<(), DbError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs one unit in a transaction of its own.
fn run_one(conn: &Connection, unit: Unit) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        return Failing::new(Dialect::Sqlite, e).answer(unit);
    }
    let (ok, finish) = unit.run(&mut SqliteConn(conn));
    let ended = if ok {
        exec(conn, "COMMIT")
    } else {
        exec(conn, "ROLLBACK")
    };
    if ended.is_err() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
    finish(if ok { ended } else { Ok(()) });
}

/// Runs several units in one transaction, each in a savepoint, with one commit.
fn run_group(conn: &Connection, batch: Vec<Unit>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let message = e.to_string();
        for unit in batch {
            Failing::new(Dialect::Sqlite, DbError::Commit(message.clone())).answer(unit);
        }
        return;
    }
    let mut finished: Vec<(bool, Finish)> = Vec::with_capacity(batch.len());
    for unit in batch {
        let (ok, finish) = match exec(conn, "SAVEPOINT unit") {
            Ok(()) => {
                let (ok, finish) = unit.run(&mut SqliteConn(conn));
                let closed = if ok {
                    exec(conn, "RELEASE unit")
                } else {
                    exec(conn, "ROLLBACK TO unit").and_then(|()| exec(conn, "RELEASE unit"))
                };
                (ok && closed.is_ok(), finish)
            }
            Err(e) => {
                let (_, finish) = unit.run(&mut Failing::new(Dialect::Sqlite, e));
                (false, finish)
            }
        };
        finished.push((ok, finish));
    }
    let committed = exec(conn, "COMMIT");
    if committed.is_err() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
    let failure = committed.as_ref().err().map(ToString::to_string);
    for (ok, finish) in finished {
        finish(match (&failure, ok) {
            (Some(message), true) => Err(DbError::Commit(message.clone())),
            _ => Ok(()),
        });
    }
}

/// Runs a read unit outside any explicit transaction: a single statement sees one state; a unit that
/// needs several to agree runs in a deferred transaction.
fn run_read(conn: &Connection, unit: Unit) {
    let begun = exec(conn, "BEGIN");
    let (_, finish) = unit.run(&mut SqliteConn(conn));
    if begun.is_ok() && !conn.is_autocommit() {
        let _ = exec(conn, "COMMIT");
    }
    finish(Ok(()));
}

/// A [`Db`] over a `rusqlite` connection.
struct SqliteConn<'c>(&'c Connection);

impl Db for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        let mut statement = self.0.prepare_cached(sql)?;
        Ok(statement.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<Flow, DbError>,
    ) -> Result<(), DbError> {
        let mut statement = self.0.prepare_cached(sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            if each(&SqliteRow(row))?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.0.execute_batch(sql)?)
    }
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    fn col(&self, index: usize) -> Result<Col<'_>, DbError> {
        Ok(match self.0.get_ref(index)? {
            ValueRef::Null => Col::Null,
            ValueRef::Integer(v) => Col::Int(v),
            ValueRef::Real(v) => Col::Real(v),
            ValueRef::Text(v) => {
                Col::Text(std::str::from_utf8(v).map_err(|e| DbError::Column {
                    index,
                    message: e.to_string(),
                })?)
            }
            ValueRef::Blob(v) => Col::Blob(v),
        })
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Null => ValueRef::Null,
            Param::Int(v) => ValueRef::Integer(v),
            Param::Real(v) => ValueRef::Real(v),
            Param::Text(v) => ValueRef::Text(v.as_bytes()),
            Param::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::{Database, args};

    fn schema(db: &mut dyn Db) -> Result<(), DbError> {
        db.batch("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
    }

    async fn database(mode: SqliteMode) -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = SqliteDb::open(&dir.path().join("t.db"), mode, schema).expect("opens");
        (dir, Database::Sqlite(db))
    }

    #[tokio::test]
    async fn a_failing_unit_in_a_group_leaves_the_others_committed() {
        for mode in [
            SqliteMode::Durable,
            SqliteMode::Scratch,
            SqliteMode::Private,
        ] {
            let (_dir, db) = database(mode).await;
            let units = (0..40).map(|i| {
                let db = db.clone();
                async move {
                    db.write(move |tx| -> Result<(), DbError> {
                        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", args![i, "x"])?;
                        // Every unit but the first collides on `v`, so the group holds failing units.
                        tx.execute(
                            "INSERT INTO t (k, v) VALUES (?, ?)",
                            args![i + 1000, format!("v{}", i % 2).as_str()],
                        )?;
                        Ok(())
                    })
                    .await
                }
            });
            let results = futures::future::join_all(units).await;
            let ok = results.iter().filter(|r| r.is_ok()).count();
            assert!(
                results
                    .iter()
                    .any(|r| r.as_ref().is_err_and(DbError::is_unique_violation))
            );
            let rows: i64 = db
                .read(|tx| tx.scalar::<i64>("SELECT COUNT(*) FROM t", &[]))
                .await
                .expect("counts");
            // Each successful unit wrote two rows, each failed one none (its first insert rolled back too).
            assert_eq!(rows, 2 * ok as i64, "{mode:?}");
        }
    }

    #[tokio::test]
    async fn a_panicking_unit_rolls_back() {
        let (_dir, db) = database(SqliteMode::Durable).await;
        let result = db
            .write(|tx| -> Result<(), DbError> {
                tx.execute("INSERT INTO t (k, v) VALUES (1, 'a')", &[])?;
                panic!("boom");
            })
            .await;
        assert!(matches!(result, Err(DbError::Panicked)));
        let rows: i64 = db
            .read(|tx| tx.scalar("SELECT COUNT(*) FROM t", &[]))
            .await
            .expect("counts");
        assert_eq!(rows, 0);
        db.write(|tx| tx.execute("INSERT INTO t (k, v) VALUES (1, 'a')", &[]))
            .await
            .expect("the writer still works");
    }

    #[tokio::test]
    async fn reads_refuse_writes_on_a_shared_file() {
        let (_dir, db) = database(SqliteMode::Scratch).await;
        let result = db
            .read(|tx| tx.execute("INSERT INTO t (k, v) VALUES (1, 'a')", &[]))
            .await;
        assert!(result.is_err());
    }
}
