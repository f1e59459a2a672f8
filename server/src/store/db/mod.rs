//! The small database interface every store is written against once, with one driver per backend.
//!
//! A store operation is a synchronous function over [`Db`]: it runs statements with [`Param`]s and reads the
//! resulting rows through [`Row`] as [`Col`]umns. The SQL text is shared by both backends (`?` placeholders,
//! `INSERT … ON CONFLICT`, `RETURNING`, `CAST(… AS BIGINT)`); where the dialects really differ an operation
//! asks [`Db::dialect`]. [`Database`] runs such functions as *units*:
//!
//! * on SQLite (`rusqlite`, see [`sqlite`]) writes queue for one write connection and share its commits
//!   (group commit on a durable file); reads use a pool of read-only connections;
//! * on PostgreSQL (`postgres`, see [`postgres`]) every unit takes a pooled connection on a blocking thread;
//!   statements are prepared once per connection.
//!
//! Either way a unit runs on a thread of its own (or within one poll), so it always ends with a commit or a
//! rollback even when the request that asked for it is cancelled: the request only awaits its answer. A
//! unit that returns `Err` or panics is rolled back.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::sync::Arc;

pub(crate) use self::postgres::PgDb;
pub(crate) use self::sqlite::{SqliteDb, SqliteMode};

/// The SQL dialect of a backend, for the few statements whose text differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A failure of the database or its driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("database error: {}", postgres_message(.0))]
    Postgres(#[from] ::postgres::Error),
    /// A column did not hold what the store expected.
    #[error("unexpected column {index}: {message}")]
    Column {
        /// Column index.
        index: usize,
        /// What was wrong.
        message: String,
    },
    /// A statement that must return a row returned none.
    #[error("a statement returned no row")]
    NoRow,
    /// The transaction a unit shared with others (group commit) failed to commit.
    #[error("database error: commit failed: {0}")]
    Commit(String),
    /// A unit panicked; its transaction was rolled back.
    #[error("database error: the operation panicked and was rolled back")]
    Panicked,
    /// The database's worker is gone (the server is shutting down).
    #[error("database error: the database worker stopped")]
    Closed,
    /// Connecting or setting up the database failed.
    #[error("database error: {0}")]
    Setup(String),
}

/// A PostgreSQL error with the server's message, detail and code when it sent them.
fn postgres_message(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail}; {})", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => e.to_string(),
    }
}

impl DbError {
    /// Whether the database aborted the transaction for a reason that running it again may not meet: a
    /// deadlock (PostgreSQL `40P01`) or a serialization conflict (`40001`).
    pub fn is_retryable(&self) -> bool {
        match self {
            DbError::Postgres(e) => matches!(
                e.code(),
                Some(&::postgres::error::SqlState::T_R_DEADLOCK_DETECTED)
                    | Some(&::postgres::error::SqlState::T_R_SERIALIZATION_FAILURE)
            ),
            _ => false,
        }
    }

    /// Whether this is a violation of a unique constraint or primary key.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Postgres(e) => {
                e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }
}

/// A statement parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    /// SQL `NULL`.
    Null,
    /// An integer (also flags, as 0/1).
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(&'a str),
    /// Bytes (ids, encoded messages).
    Blob(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}
impl From<i32> for Param<'_> {
    fn from(v: i32) -> Self {
        Param::Int(v.into())
    }
}
impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::Int(v.into())
    }
}
impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Int(v.into())
    }
}
impl From<f64> for Param<'_> {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}
impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Blob(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Blob(v)
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for Param<'a> {
    fn from(v: &'a [u8; N]) -> Self {
        Param::Blob(v)
    }
}
impl<'a> From<&'a bytes::Bytes> for Param<'a> {
    fn from(v: &'a bytes::Bytes) -> Self {
        Param::Blob(v)
    }
}
impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// An owned statement parameter, for statements built piece by piece.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// The value as a parameter.
    pub fn param(&self) -> Param<'_> {
        match self {
            Value::Int(v) => Param::Int(*v),
            Value::Text(v) => Param::Text(v),
            Value::Blob(v) => Param::Blob(v),
        }
    }
}

/// A statement built piece by piece with its bound values.
#[derive(Debug, Default)]
pub struct Built {
    /// The statement so far.
    pub sql: String,
    /// Its bound values, in placeholder order.
    pub values: Vec<Value>,
}

impl Built {
    /// Appends statement text.
    pub fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: Value) {
        self.sql.push('?');
        self.values.push(value);
    }

    /// Appends ` IN (?, ?, …)` bound to `values`.
    pub fn any_of(&mut self, values: impl IntoIterator<Item = Value>) {
        self.push(" IN (");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self.push(")");
    }

    /// The bound values as parameters.
    pub fn params(&self) -> Vec<Param<'_>> {
        self.values.iter().map(Value::param).collect()
    }
}

/// Statement parameters from a list of values that convert into [`Param`].
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::db::Param::from($value)),*][..]
    };
}
pub(crate) use args;

/// One column of a result row, borrowed from the row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Col<'a> {
    /// SQL `NULL`.
    Null,
    /// An integer (PostgreSQL booleans read as 0/1).
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

/// A result row.
pub trait Row {
    /// Column `index` (0-based).
    fn col(&self, index: usize) -> Result<Col<'_>, DbError>;
}

impl dyn Row + '_ {
    /// The whole row as a tuple (see [`FromRow`]).
    pub fn tuple<T: FromRow>(&self) -> Result<T, DbError> {
        T::from_row(self)
    }

    /// Column `index` converted to `T`.
    pub fn get<T: FromCol>(&self, index: usize) -> Result<T, DbError> {
        T::from_col(self.col(index)?).map_err(|message| DbError::Column { index, message })
    }
}

/// A whole row read as a tuple of [`FromCol`] values, column `i` into element `i`.
pub trait FromRow: Sized {
    /// Reads the row.
    fn from_row(row: &dyn Row) -> Result<Self, DbError>;
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: FromCol),+> FromRow for ($($t,)+) {
            fn from_row(row: &dyn Row) -> Result<Self, DbError> {
                Ok(($(row.get::<$t>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// A value read from a [`Col`].
pub trait FromCol: Sized {
    /// Converts the column, or says why it cannot.
    fn from_col(col: Col<'_>) -> Result<Self, String>;
}

fn mismatch(want: &str, got: Col<'_>) -> String {
    format!("expected {want}, found {got:?}")
}

impl FromCol for i64 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Int(v) => Ok(v),
            other => Err(mismatch("an integer", other)),
        }
    }
}
impl FromCol for i32 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        i64::from_col(col).and_then(|v| i32::try_from(v).map_err(|e| e.to_string()))
    }
}
impl FromCol for u64 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        i64::from_col(col).map(|v| v.max(0) as u64)
    }
}
impl FromCol for bool {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        i64::from_col(col).map(|v| v != 0)
    }
}
impl FromCol for f64 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Real(v) => Ok(v),
            Col::Int(v) => Ok(v as f64),
            other => Err(mismatch("a float", other)),
        }
    }
}
impl FromCol for String {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Text(v) => Ok(v.to_owned()),
            other => Err(mismatch("text", other)),
        }
    }
}
impl FromCol for Vec<u8> {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Blob(v) => Ok(v.to_vec()),
            other => Err(mismatch("bytes", other)),
        }
    }
}
impl FromCol for bytes::Bytes {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Blob(v) => Ok(bytes::Bytes::copy_from_slice(v)),
            other => Err(mismatch("bytes", other)),
        }
    }
}
impl FromCol for [u8; 16] {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Blob(v) => v
                .try_into()
                .map_err(|_| format!("expected a 16-byte id, found {} bytes", v.len())),
            other => Err(mismatch("a 16-byte id", other)),
        }
    }
}
impl<T: FromCol> FromCol for Option<T> {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Null => Ok(None),
            other => T::from_col(other).map(Some),
        }
    }
}

/// What a row callback tells [`Db::query_each`]: go on to the next row, or stop.
pub type Flow = std::ops::ControlFlow<()>;

/// A connection inside a unit: statements run on it in the unit's transaction (or, for reads, on its own).
pub trait Db {
    /// The connection's dialect.
    fn dialect(&self) -> Dialect;
    /// Runs a statement and returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError>;
    /// Runs a statement and hands each result row to `each` until it says stop.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<Flow, DbError>,
    ) -> Result<(), DbError>;
    /// Runs a script of statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
}

impl dyn Db + '_ {
    /// All rows of a statement, each mapped by `map`.
    pub fn query<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        mut map: impl FnMut(&dyn Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let mut out = Vec::new();
        self.query_each(sql, params, &mut |row| {
            out.push(map(row)?);
            Ok(Flow::Continue(()))
        })?;
        Ok(out)
    }

    /// The first row of a statement, if any, mapped by `map`.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        map: impl FnOnce(&dyn Row) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        let mut map = Some(map);
        let mut out = None;
        self.query_each(sql, params, &mut |row| {
            if let Some(map) = map.take() {
                out = Some(map(row)?);
            }
            Ok(Flow::Break(()))
        })?;
        Ok(out)
    }

    /// The first row of a statement, mapped by `map`; [`DbError::NoRow`] when there is none.
    pub fn query_one<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        map: impl FnOnce(&dyn Row) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.query_opt(sql, params, map)?.ok_or(DbError::NoRow)
    }

    /// The first column of the first row of a statement.
    pub fn scalar<T: FromCol>(&mut self, sql: &str, params: &[Param<'_>]) -> Result<T, DbError> {
        self.query_one(sql, params, |r| r.get(0))
    }
}

/// A unit's outcome, as the drivers see it: whether to commit, and how to answer once the commit is done.
type Finish = Box<dyn FnOnce(Result<(), DbError>) + Send>;

/// The body of a [`Unit`].
type RunUnit = Box<dyn FnOnce(&mut dyn Db) -> (bool, Finish) + Send>;

/// A unit of work handed to a driver's thread.
pub(crate) struct Unit {
    /// Runs the unit on a connection; `true` when it succeeded (commit), `false` when it must be rolled
    /// back.
    run: RunUnit,
    /// Whether the caller still waits (a unit whose caller left before it started is dropped).
    wanted: Box<dyn Fn() -> bool + Send>,
}

impl Unit {
    /// Wraps `work` so that its result reaches the returned receiver once the driver has committed (or
    /// rolled back) its transaction.
    fn new<T, E, F>(work: F) -> (Self, tokio::sync::oneshot::Receiver<Result<T, E>>)
    where
        F: FnOnce(&mut dyn Db) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let reply = Arc::new(std::sync::Mutex::new(Some(reply)));
        let wanted = {
            let reply = reply.clone();
            Box::new(move || {
                reply
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_some_and(|r| !r.is_closed())
            })
        };
        let run = Box::new(move |db: &mut dyn Db| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(db)))
                .unwrap_or_else(|_| Err(E::from(DbError::Panicked)));
            let ok = outcome.is_ok();
            let finish: Finish = Box::new(move |committed: Result<(), DbError>| {
                let answer = match (outcome, committed) {
                    (Ok(_), Err(e)) => Err(E::from(e)),
                    (outcome, _) => outcome,
                };
                if let Some(reply) = reply.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = reply.send(answer);
                }
            });
            (ok, finish)
        });
        (Unit { run, wanted }, answer)
    }

    /// Whether the caller still waits for the unit.
    fn wanted(&self) -> bool {
        (self.wanted)()
    }

    /// Runs the unit; see [`Unit::run`].
    fn run(self, db: &mut dyn Db) -> (bool, Finish) {
        (self.run)(db)
    }
}

/// A database: the backend's driver behind one handle that runs units.
#[derive(Clone, Debug)]
pub enum Database {
    /// SQLite.
    Sqlite(Arc<SqliteDb>),
    /// PostgreSQL.
    Postgres(Arc<PgDb>),
}

impl Database {
    /// The dialect of the backend.
    pub fn dialect(&self) -> Dialect {
        match self {
            Database::Sqlite(_) => Dialect::Sqlite,
            Database::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `work` as one write transaction: committed when it returns `Ok`, rolled back when it returns
    /// `Err` or panics. Dropping the returned future before the unit started drops the unit; once started
    /// it runs to its end.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Db) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.run(Mode::Write, work).await
    }

    /// Runs `work` with every statement committing on its own: on PostgreSQL without a transaction around
    /// them (no `BEGIN`/`COMMIT` round trips), on SQLite as a [`Database::write`]. For work whose statements
    /// each stand alone.
    pub async fn autocommit<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Db) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.run(Mode::Autocommit, work).await
    }

    /// Runs `work` as a read: it sees committed data; its writes, if any, are refused (SQLite) or not
    /// kept together (PostgreSQL: each statement commits on its own). Use [`Database::write`] for writes.
    pub async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Db) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.run(Mode::Read, work).await
    }

    async fn run<T, E, F>(&self, mode: Mode, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Db) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (unit, answer) = Unit::new(work);
        match (self, mode) {
            (Database::Sqlite(db), Mode::Write | Mode::Autocommit) => db.write(unit).await,
            (Database::Sqlite(db), Mode::Read) => db.read(unit).await,
            (Database::Postgres(db), Mode::Write) => db.run(unit, true).await,
            (Database::Postgres(db), Mode::Read | Mode::Autocommit) => db.run(unit, false).await,
        }
        answer
            .await
            .unwrap_or_else(|_| Err(E::from(DbError::Closed)))
    }
}

/// How [`Database::run`] runs a unit.
#[derive(Clone, Copy)]
enum Mode {
    Write,
    Read,
    Autocommit,
}

/// A [`Db`] whose every call fails with the error it holds: a unit that got no connection (or no
/// transaction) still runs, so that it answers its caller with that error.
pub(super) struct Failing {
    error: Option<DbError>,
    dialect: Dialect,
}

impl Failing {
    /// A connection of `dialect` failing with `error`.
    pub(super) fn new(dialect: Dialect, error: DbError) -> Self {
        Failing {
            error: Some(error),
            dialect,
        }
    }

    fn error(&mut self) -> DbError {
        self.error
            .take()
            .unwrap_or_else(|| DbError::Setup("no connection".into()))
    }

    /// Runs `unit` against this failing connection and answers its caller.
    pub(super) fn answer(mut self, unit: Unit) {
        let (_, finish) = unit.run(&mut self);
        finish(Ok(()));
    }
}

impl Db for Failing {
    fn dialect(&self) -> Dialect {
        self.dialect
    }
    fn execute(&mut self, _: &str, _: &[Param<'_>]) -> Result<u64, DbError> {
        Err(self.error())
    }
    fn query_each(
        &mut self,
        _: &str,
        _: &[Param<'_>],
        _: &mut dyn FnMut(&dyn Row) -> Result<Flow, DbError>,
    ) -> Result<(), DbError> {
        Err(self.error())
    }
    fn batch(&mut self, _: &str) -> Result<(), DbError> {
        Err(self.error())
    }
}

/// Rewrites `?` placeholders as PostgreSQL's `$1`, `$2`, … (outside quoted text).
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match (quote, c) {
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod cancel_tests {
    //! A request's future may be dropped at any point: before its unit started the unit never runs, after
    //! it the unit commits or rolls back whole, and the database stays usable. Checked on every backend.

    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};

    use super::*;

    const POOL: u32 = 4;

    fn schema(db: &mut dyn Db) -> Result<(), DbError> {
        db.batch("CREATE TABLE IF NOT EXISTS pairs (k BIGINT PRIMARY KEY, unit BIGINT NOT NULL)")
    }

    /// Every backend this machine has: SQLite in each mode, PostgreSQL when the test fixture has one.
    async fn backends(dir: &std::path::Path) -> Vec<(String, Database)> {
        let mut out = Vec::new();
        for mode in [
            SqliteMode::Durable,
            SqliteMode::Scratch,
            SqliteMode::Private,
        ] {
            let path = dir.join(format!("{mode:?}.db"));
            let db = SqliteDb::open(&path, mode, schema).expect("opens");
            out.push((format!("{mode:?}"), Database::Sqlite(db)));
        }
        match tilebox_test_support::postgres_url() {
            Ok(_) => {
                let url = tilebox_test_support::fresh_database("db_cancel");
                let db = PgDb::connect(&url, POOL as usize, schema)
                    .await
                    .expect("connects");
                out.push(("postgres".into(), Database::Postgres(db)));
            }
            Err(skip) => skip.report(),
        }
        out
    }

    /// Polls `fut` `polls` times (yielding to the runtime in between), then drops it.
    async fn poll_then_drop(fut: impl Future, polls: usize) {
        let mut fut = pin!(fut);
        for _ in 0..polls {
            let ready = std::future::poll_fn(|cx: &mut Context<'_>| {
                Poll::Ready(fut.as_mut().poll(cx).is_ready())
            })
            .await;
            if ready {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    async fn quiesce(db: &Database) {
        match db {
            // The writer thread runs units in order: a later unit answers after every earlier one ended.
            Database::Sqlite(_) => db
                .write(|_| Ok::<_, DbError>(()))
                .await
                .expect("a write after the cancelled ones"),
            Database::Postgres(pg) => pg.quiesce(POOL).await,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_units_complete_or_never_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, db) in backends(dir.path()).await {
            const UNITS: i64 = 200;
            for unit in 0..UNITS {
                let write = db.write(move |tx| -> Result<(), DbError> {
                    tx.execute(
                        "INSERT INTO pairs (k, unit) VALUES (?, ?)",
                        args![2 * unit, unit],
                    )?;
                    tx.execute(
                        "INSERT INTO pairs (k, unit) VALUES (?, ?)",
                        args![2 * unit + 1, unit],
                    )?;
                    Ok(())
                });
                match unit % 4 {
                    // Awaited to its end: it must be there.
                    3 => write.await.expect("an awaited unit commits"),
                    polls => poll_then_drop(write, polls as usize).await,
                }
            }
            quiesce(&db).await;
            let per_unit: Vec<(i64, i64)> = db
                .read(|tx| {
                    tx.query(
                        "SELECT unit, COUNT(*) FROM pairs GROUP BY unit ORDER BY unit",
                        &[],
                        |r| r.tuple(),
                    )
                })
                .await
                .expect("reads");
            assert!(
                per_unit.iter().all(|&(_, n)| n == 2),
                "{name}: a unit was half written: {per_unit:?}"
            );
            let awaited = per_unit.iter().filter(|&&(u, _)| u % 4 == 3).count() as i64;
            assert_eq!(awaited, UNITS / 4, "{name}: an awaited unit is missing");
            // Units dropped before their first poll never started.
            assert!(
                per_unit.iter().all(|&(u, _)| u % 4 != 0),
                "{name}: a unit whose future was never polled ran: {per_unit:?}"
            );
            // Units polled to completion (or run once started) are there, and the database takes writes.
            db.write(|tx| tx.execute("INSERT INTO pairs (k, unit) VALUES (-1, -1)", &[]))
                .await
                .unwrap_or_else(|e| panic!("{name}: the database is still usable: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE a = ? AND b = '?' AND c IN (?, ?)"),
            "SELECT a FROM t WHERE a = $1 AND b = '?' AND c IN ($2, $3)"
        );
        assert_eq!(numbered_placeholders("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn columns_convert() {
        assert_eq!(i64::from_col(Col::Int(7)), Ok(7));
        assert!(i64::from_col(Col::Text("x")).is_err());
        assert_eq!(Option::<i64>::from_col(Col::Null), Ok(None));
        assert_eq!(bool::from_col(Col::Int(1)), Ok(true));
        assert_eq!(f64::from_col(Col::Int(2)), Ok(2.0));
        assert!(<[u8; 16]>::from_col(Col::Blob(&[1, 2])).is_err());
        assert_eq!(<[u8; 16]>::from_col(Col::Blob(&[3; 16])), Ok([3; 16]));
    }

    #[test]
    fn params_convert() {
        let id = [1u8; 16];
        let p: &[Param<'_>] = args![1i64, true, "a", &id, None::<i64>, Some(2.5)];
        assert_eq!(
            p,
            &[
                Param::Int(1),
                Param::Int(1),
                Param::Text("a"),
                Param::Blob(&id),
                Param::Null,
                Param::Real(2.5)
            ]
        );
    }
}
