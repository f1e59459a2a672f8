//! The PostgreSQL driver: a pool of `postgres` connections, each unit run on tokio's blocking pool.
//!
//! A unit first waits (cancellably) for a permit of the pool, then runs on a blocking thread with a pooled
//! connection: `BEGIN`, its statements, `COMMIT` or `ROLLBACK`. Each connection prepares a statement the
//! first time it runs it and keeps it, so a statement is parsed and planned once per connection. Several
//! server processes may share one database: claims lock rows with `FOR UPDATE SKIP LOCKED`, and PostgreSQL
//! commits concurrent transactions together on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use super::{Col, Db, DbError, Dialect, Failing, Flow, Param, Row, Unit, numbered_placeholders};

/// A pooled connection with the statements it prepared.
struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&numbered_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// A PostgreSQL database and its connection pool.
pub struct PgDb {
    config: postgres::Config,
    idle: Mutex<Vec<PgConn>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDb").finish_non_exhaustive()
    }
}

impl PgDb {
    /// Connects to the database at `url` (a `postgres://` URL) with at most `pool_size` connections, and
    /// runs `schema` (the migrations) once in a transaction.
    pub async fn connect(
        url: &str,
        pool_size: usize,
        schema: impl FnOnce(&mut dyn Db) -> Result<(), DbError> + Send + 'static,
    ) -> Result<Arc<Self>, DbError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| DbError::Setup(format!("invalid PostgreSQL URL: {e}")))?;
        let db = Arc::new(PgDb {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(pool_size.max(1))),
        });
        let setup = db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = setup.connect_one()?;
            conn.client.batch_execute("BEGIN")?;
            match schema(&mut PgTx(&mut conn)) {
                Ok(()) => conn.client.batch_execute("COMMIT")?,
                Err(e) => {
                    let _ = conn.client.batch_execute("ROLLBACK");
                    return Err(e);
                }
            }
            setup.put_back(conn);
            Ok::<_, DbError>(())
        })
        .await
        .map_err(|e| DbError::Setup(format!("connecting: {e}")))??;
        Ok(db)
    }

    fn connect_one(&self) -> Result<PgConn, DbError> {
        let mut client = self.config.connect(NoTls)?;
        // Every statement of the stores is a short indexed lookup or range scan whose best plan does not
        // depend on its values; a plan made for the values at hand is worse when the statistics are stale
        // (right after a bulk ingest the planner sorted a whole collection instead of walking its primary
        // key: 46 ms instead of 0.8 ms for a page) and costs planning time on every execution.
        client.batch_execute("SET plan_cache_mode = force_generic_plan")?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    fn take(&self) -> Result<PgConn, DbError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(conn) if conn.client.is_closed() => continue,
                Some(conn) => return Ok(conn),
                None => return self.connect_one(),
            }
        }
    }

    fn put_back(&self, conn: PgConn) {
        if !conn.client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }

    /// Waits until no unit runs (every permit of the pool is free again).
    #[cfg(test)]
    pub(crate) async fn quiesce(&self, pool_size: u32) {
        let _all = self.permits.acquire_many(pool_size).await;
    }

    /// Runs a unit on a pooled connection, in a transaction when `write`.
    pub(super) async fn run(self: &Arc<Self>, unit: Unit, write: bool) {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let db = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if !unit.wanted() {
                return;
            }
            let mut conn = match db.take() {
                Ok(conn) => conn,
                Err(e) => return Failing::new(Dialect::Postgres, e).answer(unit),
            };
            if !write {
                let (_, finish) = unit.run(&mut PgTx(&mut conn));
                finish(Ok(()));
                db.put_back(conn);
                return;
            }
            if let Err(e) = conn.client.batch_execute("BEGIN") {
                return Failing::new(Dialect::Postgres, e.into()).answer(unit);
            }
            let (ok, finish) = unit.run(&mut PgTx(&mut conn));
            let ended = conn
                .client
                .batch_execute(if ok { "COMMIT" } else { "ROLLBACK" })
                .map_err(DbError::from);
            let healthy = ended.is_ok();
            finish(if ok { ended } else { Ok(()) });
            // A connection whose transaction could not be ended is closed, which rolls it back.
            if healthy {
                db.put_back(conn);
            }
        })
        .await;
    }

    /// Takes the session-level advisory lock `key` on a connection of its own (outside the pool), waiting
    /// while another session holds it. The lock lasts until the returned guard is released or dropped
    /// (ending the session releases it).
    pub(crate) async fn advisory_lock(
        self: &Arc<Self>,
        key: i64,
    ) -> Result<PgAdvisoryLock, DbError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = db.connect_one()?.client;
            client.execute("SELECT pg_advisory_lock($1)", &[&key])?;
            Ok(PgAdvisoryLock(Some(client)))
        })
        .await
        .map_err(|e| DbError::Setup(format!("taking an advisory lock: {e}")))?
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // A blocking client must not be dropped on an async thread (it blocks on its own runtime).
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            std::thread::spawn(move || drop(idle));
        }
    }
}

/// A session-level advisory lock (see [`PgDb::advisory_lock`]): closing its connection releases it.
pub(crate) struct PgAdvisoryLock(Option<Client>);

impl PgAdvisoryLock {
    /// Releases the lock by closing its connection.
    pub(crate) async fn release(mut self) {
        if let Some(client) = self.0.take() {
            let _ = tokio::task::spawn_blocking(move || drop(client.close())).await;
        }
    }
}

impl Drop for PgAdvisoryLock {
    fn drop(&mut self) {
        // The blocking client must not be closed on an async thread.
        if let Some(client) = self.0.take() {
            std::thread::spawn(move || drop(client.close()));
        }
    }
}

/// A [`Db`] over a pooled connection.
struct PgTx<'c>(&'c mut PgConn);

impl Db for PgTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        let statement = self.0.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.0.client.execute(&statement, &params)?)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<Flow, DbError>,
    ) -> Result<(), DbError> {
        let statement = self.0.statement(sql)?;
        // Rows are handed over as they arrive (a page is not collected into a `Vec` first); stopping early
        // drops the rest of the answer.
        let mut rows = self
            .0
            .client
            .query_raw(&statement, params.iter().map(|p| p as &(dyn ToSql + Sync)))?;
        while let Some(row) = rows.next()? {
            if each(&PgRow(&row))?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.0.client.batch_execute(sql)?)
    }
}

struct PgRow<'r>(&'r postgres::Row);

impl PgRow<'_> {
    fn typed<'a, T: postgres::types::FromSql<'a>>(
        &'a self,
        index: usize,
        to_col: impl FnOnce(T) -> Col<'a>,
    ) -> Result<Col<'a>, DbError> {
        Ok(self
            .0
            .try_get::<_, Option<T>>(index)?
            .map_or(Col::Null, to_col))
    }
}

impl Row for PgRow<'_> {
    fn col(&self, index: usize) -> Result<Col<'_>, DbError> {
        let ty = self
            .0
            .columns()
            .get(index)
            .ok_or(DbError::Column {
                index,
                message: "no such column".into(),
            })?
            .type_()
            .clone();
        match ty {
            Type::INT8 => self.typed(index, Col::Int),
            Type::INT4 => self.typed(index, |v: i32| Col::Int(v.into())),
            Type::INT2 => self.typed(index, |v: i16| Col::Int(v.into())),
            Type::BOOL => self.typed(index, |v: bool| Col::Int(v.into())),
            Type::FLOAT8 => self.typed(index, Col::Real),
            Type::FLOAT4 => self.typed(index, |v: f32| Col::Real(v.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => self.typed(index, Col::Text),
            Type::BYTEA => self.typed(index, Col::Blob),
            other => Err(DbError::Column {
                index,
                message: format!("unsupported column type {other} (cast it in the statement)"),
            }),
        }
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(v) => match *ty {
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Param::Real(v) => match *ty {
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Param::Text(v) => v.to_sql(ty, out),
            Param::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}
