//! SQLite backend of [`Store`](super::Store) (sqlx, WAL, `synchronous=FULL`). Writes go through sqlx; the
//! reads of `Query`/`QueryByID` go through [`reader`](super::reader) (rusqlite on the blocking pool) when the
//! database is a file.
//!
//! Schema notes (the tables come from `migrations/sqlite/`, see [`migrate`](super::migrate); the PostgreSQL
//! backend's schema is the same with `BYTEA` for `BLOB` and no `WITHOUT ROWID`):
//! * `datapoints` is keyed by `(collection_id, id)`. Because the first 6 bytes of an id are the datapoint's
//!   time in Unix milliseconds, a time interval maps exactly onto an id interval, so time queries, id
//!   queries and `starting_after` cursors are all range scans of the primary key, already in result order.
//! * `time_ms` / `time_ns` / `ingestion_time_ns` and the bounding-box columns are denormalised from the
//!   encoded datapoint so that counts, availability and spatial filters need no decoding.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::reader::{self, Reader};
use super::rows::{
    DATASET_COLUMNS, collection_from_row, conflict_on_duplicate, datapoint_from_row,
    dataset_from_row, group_from_row, ms_prefix_id, raw_id, slug_taken,
};
use super::tx::{Writer, rollback_on_release};
use super::{
    CollectionRecord, CollectionStats, DatapointRecord, DatasetRecord, GroupRecord, InsertOutcome,
    RangeQuery, RawId, Store, StoreError,
};

/// Rows per multi-row `INSERT` (10 bound values each, well under SQLite's variable limit).
const INSERT_CHUNK: usize = 400;

/// The SQLite store. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The direct read path (file databases only); `None` reads through sqlx.
    reader: Option<Arc<Reader>>,
    /// Runs every write transaction cancel-safely, one at a time.
    writer: Writer,
    /// The directory of an ephemeral database, removed when the last clone of the store is dropped.
    ephemeral: Option<Arc<tempfile::TempDir>>,
}

/// Connections of a file-backed pool: WAL lets readers run in parallel with each other and with the writer.
const FILE_POOL_CONNECTIONS: u32 = 4;

impl SqliteStore {
    /// Opens (creating if missing) a database file with WAL journaling and `synchronous=FULL`, so every
    /// acknowledged commit is on disk before the RPC answers.
    pub async fn open_file(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = rollback_on_release(SqlitePoolOptions::new())
            .max_connections(FILE_POOL_CONNECTIONS)
            .connect_with(options)
            .await?;
        let mut store = Self::with_pool(pool, None).await?;
        store.writer = store.writer.with_file(path, true);
        store.reader = Some(Reader::open(path)?);
        Ok(store)
    }

    /// Opens a throw-away database: a WAL file in a fresh temporary directory that is deleted with the
    /// store. This is the default when no database path is configured: unlike a private in-memory database
    /// (one connection), it serves concurrent queries on several connections in parallel. Durability is
    /// irrelevant for it, so commits are not synced. The server's workflows store keeps a private file of its
    /// own in the same directory (`SqliteStore::scratch_dir`).
    pub async fn open_ephemeral() -> Result<Self, StoreError> {
        let dir = crate::scratch::scratch_dir("tilebox-server-db-")
            .map_err(|e| StoreError::Io(e.to_string()))?;
        let path = dir.path().join("tilebox.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Off)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = rollback_on_release(SqlitePoolOptions::new())
            .max_connections(FILE_POOL_CONNECTIONS)
            .connect_with(options)
            .await?;
        let mut store = Self::with_pool(pool, Some(Arc::new(dir))).await?;
        store.writer = store.writer.with_file(&path, false);
        store.reader = Some(Reader::open(&path)?);
        Ok(store)
    }

    /// Opens a private in-memory database. A single connection is kept open for the pool's lifetime (an
    /// in-memory SQLite database lives exactly as long as its connection). The workflows store cannot share
    /// it (its task writes run on a connection of their own, see `Writer::run_direct`).
    pub async fn open_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = rollback_on_release(SqlitePoolOptions::new())
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::with_pool(pool, None).await
    }

    /// The temporary directory of a throw-away database (`None` for a file the server keeps, or memory).
    pub(crate) fn scratch_dir(&self) -> Option<Arc<tempfile::TempDir>> {
        self.ephemeral.clone()
    }

    async fn with_pool(
        pool: SqlitePool,
        ephemeral: Option<Arc<tempfile::TempDir>>,
    ) -> Result<Self, StoreError> {
        super::migrate::sqlite(&pool).await?;
        Ok(SqliteStore {
            writer: Writer::new(pool.clone()),
            pool,
            reader: None,
            ephemeral,
        })
    }

    /// Reads through sqlx like the writes instead of the direct read path (slower; kept to compare the two
    /// in the server benchmark).
    pub fn with_sqlx_reads(mut self) -> Self {
        self.reader = None;
        self
    }

    /// Whether reads take the direct path (rusqlite on the blocking pool).
    pub fn direct_reads(&self) -> bool {
        self.reader.is_some()
    }

    /// Runs `unit` as one write transaction (`BEGIN IMMEDIATE`) through the [`Writer`]: queued behind other
    /// writers, then run to commit (`Ok`) or rollback (`Err`) in a task of its own, so a dropped request can
    /// neither leave a transaction open nor half-write.
    async fn write<T, F>(&self, unit: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
        T: Send + 'static,
    {
        self.writer.run(unit).await
    }

    /// The write queue of this database, for services that keep their own tables in it.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The connection pool, for services that keep their own tables in the same database.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl Store for SqliteStore {
    fn list_groups(&self) -> BoxFuture<'_, Result<Vec<GroupRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT id, parent_id, code_name, name, icon FROM dataset_groups ORDER BY code_name")
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(group_from_row).collect()
        })
    }

    fn ensure_group(&self, group: GroupRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO dataset_groups (id, parent_id, code_name, name, icon) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&group.id[..])
            .bind(group.parent_id.as_ref().map(|p| p.to_vec()))
            .bind(&group.code_name)
            .bind(&group.name)
            .bind(&group.icon)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn list_datasets(&self) -> BoxFuture<'_, Result<Vec<DatasetRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!(
                "SELECT {DATASET_COLUMNS} FROM datasets ORDER BY slug"
            ))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(dataset_from_row).collect()
        })
    }

    fn get_dataset(&self, id: RawId) -> BoxFuture<'_, Result<Option<DatasetRecord>, StoreError>> {
        Box::pin(async move {
            if let Some(reader) = &self.reader {
                return reader.run(move |c| reader::get_dataset(c, id)).await;
            }
            let row = sqlx::query(&format!(
                "SELECT {DATASET_COLUMNS} FROM datasets WHERE id = ?"
            ))
            .bind(&id[..])
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(dataset_from_row).transpose()
        })
    }

    fn get_dataset_by_slug<'a>(
        &'a self,
        slug: &'a str,
    ) -> BoxFuture<'a, Result<Option<DatasetRecord>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(&format!(
                "SELECT {DATASET_COLUMNS} FROM datasets WHERE slug = ?"
            ))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(dataset_from_row).transpose()
        })
    }

    fn insert_dataset(&self, d: DatasetRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let result = sqlx::query(&format!(
                "INSERT INTO datasets ({DATASET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(&d.id[..])
            .bind(&d.group_id[..])
            .bind(&d.code_name)
            .bind(&d.slug)
            .bind(&d.name)
            .bind(&d.summary)
            .bind(&d.description)
            .bind(&d.icon)
            .bind(d.kind)
            .bind(&d.fields[..])
            .bind(d.visibility)
            .execute(&self.pool)
            .await;
            conflict_on_duplicate(result, || slug_taken(&d.slug))?;
            Ok(())
        })
    }

    fn update_dataset(&self, d: DatasetRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let result = sqlx::query(
                "UPDATE datasets SET code_name = ?, slug = ?, name = ?, summary = ?, description = ?, icon = ?,
                 kind = ?, fields = ?, visibility = ? WHERE id = ?",
            )
            .bind(&d.code_name)
            .bind(&d.slug)
            .bind(&d.name)
            .bind(&d.summary)
            .bind(&d.description)
            .bind(&d.icon)
            .bind(d.kind)
            .bind(&d.fields[..])
            .bind(d.visibility)
            .bind(&d.id[..])
            .execute(&self.pool)
            .await;
            if conflict_on_duplicate(result, || slug_taken(&d.slug))?.rows_affected() == 0 {
                return Err(StoreError::NotFound("no such dataset".into()));
            }
            Ok(())
        })
    }

    fn delete_dataset(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM datapoints WHERE collection_id IN (SELECT id FROM collections WHERE dataset_id = ?)",
                )
                .bind(&id[..])
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM collections WHERE dataset_id = ?")
                    .bind(&id[..])
                    .execute(&mut *tx)
                    .await?;
                let r = sqlx::query("DELETE FROM datasets WHERE id = ?")
                    .bind(&id[..])
                    .execute(&mut *tx)
                    .await?;
                Ok(r.rows_affected() > 0)
            })
        }))
    }

    fn dataset_has_data(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT 1 FROM datapoints WHERE collection_id IN (SELECT id FROM collections WHERE dataset_id = ?)
                 LIMIT 1",
            )
            .bind(&id[..])
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.is_some())
        })
    }

    fn list_collections(
        &self,
        dataset_id: RawId,
    ) -> BoxFuture<'_, Result<Vec<CollectionRecord>, StoreError>> {
        Box::pin(async move {
            if let Some(reader) = &self.reader {
                return reader
                    .run(move |c| reader::list_collections(c, dataset_id))
                    .await;
            }
            let rows = sqlx::query(
                "SELECT id, dataset_id, name FROM collections WHERE dataset_id = ? ORDER BY name",
            )
            .bind(&dataset_id[..])
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(collection_from_row).collect()
        })
    }

    fn get_collection(
        &self,
        id: RawId,
    ) -> BoxFuture<'_, Result<Option<CollectionRecord>, StoreError>> {
        Box::pin(async move {
            if let Some(reader) = &self.reader {
                return reader.run(move |c| reader::get_collection(c, id)).await;
            }
            let row = sqlx::query("SELECT id, dataset_id, name FROM collections WHERE id = ?")
                .bind(&id[..])
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(collection_from_row).transpose()
        })
    }

    fn get_collection_by_name<'a>(
        &'a self,
        dataset_id: RawId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<CollectionRecord>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT id, dataset_id, name FROM collections WHERE dataset_id = ? AND name = ?",
            )
            .bind(&dataset_id[..])
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(collection_from_row).transpose()
        })
    }

    fn insert_collection(&self, c: CollectionRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let result =
                sqlx::query("INSERT INTO collections (id, dataset_id, name) VALUES (?, ?, ?)")
                    .bind(&c.id[..])
                    .bind(&c.dataset_id[..])
                    .bind(&c.name)
                    .execute(&self.pool)
                    .await;
            conflict_on_duplicate(result, || format!("collection {} already exists", c.name))?;
            Ok(())
        })
    }

    fn delete_collection(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("DELETE FROM datapoints WHERE collection_id = ?")
                    .bind(&id[..])
                    .execute(&mut *tx)
                    .await?;
                let r = sqlx::query("DELETE FROM collections WHERE id = ?")
                    .bind(&id[..])
                    .execute(&mut *tx)
                    .await?;
                Ok(r.rows_affected() > 0)
            })
        }))
    }

    fn collection_stats(&self, id: RawId) -> BoxFuture<'_, Result<CollectionStats, StoreError>> {
        Box::pin(async move {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM datapoints WHERE collection_id = ?")
                    .bind(&id[..])
                    .fetch_one(&self.pool)
                    .await?;
            if count == 0 {
                return Ok(CollectionStats {
                    count: 0,
                    range_ns: None,
                });
            }
            // First and last millisecond via the primary key, then the exact extreme within that millisecond.
            let first_ms: i64 = sqlx::query_scalar(
                "SELECT time_ms FROM datapoints WHERE collection_id = ? ORDER BY id ASC LIMIT 1",
            )
            .bind(&id[..])
            .fetch_one(&self.pool)
            .await?;
            let last_ms: i64 = sqlx::query_scalar(
                "SELECT time_ms FROM datapoints WHERE collection_id = ? ORDER BY id DESC LIMIT 1",
            )
            .bind(&id[..])
            .fetch_one(&self.pool)
            .await?;
            let min_ns: i64 = sqlx::query_scalar(
                "SELECT MIN(time_ns) FROM datapoints WHERE collection_id = ? AND id >= ? AND id < ?",
            )
            .bind(&id[..])
            .bind(&ms_prefix_id(first_ms)[..])
            .bind(&ms_prefix_id(first_ms + 1)[..])
            .fetch_one(&self.pool)
            .await?;
            let max_ns: i64 = sqlx::query_scalar(
                "SELECT MAX(time_ns) FROM datapoints WHERE collection_id = ? AND id >= ? AND id < ?",
            )
            .bind(&id[..])
            .bind(&ms_prefix_id(last_ms)[..])
            .bind(&ms_prefix_id(last_ms + 1)[..])
            .fetch_one(&self.pool)
            .await?;
            Ok(CollectionStats {
                count: u64::try_from(count).unwrap_or(0),
                range_ns: Some((min_ns, max_ns)),
            })
        })
    }

    fn insert_datapoints(
        &self,
        collection_id: RawId,
        rows: Vec<DatapointRecord>,
        allow_existing: bool,
    ) -> BoxFuture<'_, Result<InsertOutcome, StoreError>> {
        Box::pin(async move {
            let outcome = self.write(move |tx| {
                Box::pin(async move {
                    // Which ids exist already (in the table, or earlier in this same request)?
                    let mut existing_ids: HashSet<RawId> = HashSet::new();
                    for chunk in rows.chunks(INSERT_CHUNK) {
                        let mut q =
                            QueryBuilder::<Sqlite>::new("SELECT id FROM datapoints WHERE collection_id = ");
                        q.push_bind(&collection_id[..]).push(" AND id IN (");
                        let mut sep = q.separated(", ");
                        for row in chunk {
                            sep.push_bind(&row.id[..]);
                        }
                        q.push(")");
                        for found in q.build().fetch_all(&mut *tx).await? {
                            existing_ids.insert(raw_id(&found.try_get::<Vec<u8>, _>("id")?)?);
                        }
                    }
                    let mut seen: HashSet<RawId> = HashSet::new();
                    let mut new_rows = Vec::with_capacity(rows.len());
                    let mut existing = 0u64;
                    for row in rows {
                        if existing_ids.contains(&row.id) || !seen.insert(row.id) {
                            existing += 1;
                        } else {
                            new_rows.push(row);
                        }
                    }
                    if existing > 0 && !allow_existing {
                        return Err(StoreError::Conflict(
                            "found existing datapoints with same id, refusing to ingest with \"allow_existing=false\"".into(),
                        ));
                    }
                    for chunk in new_rows.chunks(INSERT_CHUNK) {
                        let mut q = QueryBuilder::<Sqlite>::new(
                            "INSERT INTO datapoints (collection_id, id, time_ms, time_ns, ingestion_time_ns, \
                             min_x, min_y, max_x, max_y, data) ",
                        );
                        q.push_values(chunk, |mut b, row| {
                            let bbox = row.bbox;
                            b.push_bind(&collection_id[..])
                                .push_bind(&row.id[..])
                                .push_bind(row.time_ns.div_euclid(1_000_000))
                                .push_bind(row.time_ns)
                                .push_bind(row.ingestion_time_ns)
                                .push_bind(bbox.map(|b| b[0]))
                                .push_bind(bbox.map(|b| b[1]))
                                .push_bind(bbox.map(|b| b[2]))
                                .push_bind(bbox.map(|b| b[3]))
                                .push_bind(&row.data[..]);
                        });
                        q.build().execute(&mut *tx).await?;
                    }
                    Ok(InsertOutcome {
                        created: new_rows.len() as u64,
                        existing,
                    })
                })
            });
            outcome.await
        })
    }

    fn delete_datapoints(
        &self,
        collection_id: RawId,
        ids: Vec<RawId>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let unique: Vec<RawId> = {
                let mut seen = HashSet::new();
                ids.into_iter().filter(|id| seen.insert(*id)).collect()
            };
            let outcome = self.write(move |tx| {
                Box::pin(async move {
                    let mut deleted = 0u64;
                    for chunk in unique.chunks(INSERT_CHUNK) {
                        let mut q = QueryBuilder::<Sqlite>::new(
                            "DELETE FROM datapoints WHERE collection_id = ",
                        );
                        q.push_bind(&collection_id[..]).push(" AND id IN (");
                        let mut sep = q.separated(", ");
                        for id in chunk {
                            sep.push_bind(&id[..]);
                        }
                        q.push(")");
                        deleted += q.build().execute(&mut *tx).await?.rows_affected();
                    }
                    if deleted != unique.len() as u64 {
                        // Dropping the transaction rolls it back: nothing is deleted.
                        return Err(StoreError::NotFound(format!(
                            "{} of {} datapoints not found in the collection, nothing deleted",
                            unique.len() as u64 - deleted,
                            unique.len()
                        )));
                    }
                    Ok(deleted)
                })
            });
            outcome.await
        })
    }

    fn query_range(
        &self,
        query: RangeQuery,
    ) -> BoxFuture<'_, Result<Vec<DatapointRecord>, StoreError>> {
        Box::pin(async move {
            if let Some(reader) = &self.reader {
                return reader.run(move |c| reader::query_range(c, &query)).await;
            }
            let read_data = query.with_data || query.filter.is_some();
            let columns = if read_data {
                "id, time_ns, ingestion_time_ns, data"
            } else {
                "id, time_ns, ingestion_time_ns"
            };
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {columns} FROM datapoints WHERE collection_id = "
            ));
            q.push_bind(query.collection_id.to_vec());
            match query.lower {
                Bound::Included(id) => {
                    q.push(" AND id >= ").push_bind(id.to_vec());
                }
                Bound::Excluded(id) => {
                    q.push(" AND id > ").push_bind(id.to_vec());
                }
                Bound::Unbounded => {}
            }
            match query.upper {
                Bound::Included(id) => {
                    q.push(" AND id <= ").push_bind(id.to_vec());
                }
                Bound::Excluded(id) => {
                    q.push(" AND id < ").push_bind(id.to_vec());
                }
                Bound::Unbounded => {}
            }
            if let (Some([min_x, min_y, max_x, max_y]), true) = (query.bbox, query.bbox_within) {
                q.push(" AND min_x IS NOT NULL AND min_x >= ")
                    .push_bind(min_x)
                    .push(" AND max_x <= ")
                    .push_bind(max_x)
                    .push(" AND min_y >= ")
                    .push_bind(min_y)
                    .push(" AND max_y <= ")
                    .push_bind(max_y);
            } else if let Some([min_x, min_y, max_x, max_y]) = query.bbox {
                q.push(" AND min_x IS NOT NULL AND max_x >= ")
                    .push_bind(min_x)
                    .push(" AND min_x <= ")
                    .push_bind(max_x)
                    .push(" AND max_y >= ")
                    .push_bind(min_y)
                    .push(" AND min_y <= ")
                    .push_bind(max_y);
            }
            q.push(" ORDER BY id ASC");
            if query.filter.is_none() {
                q.push(" LIMIT ")
                    .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
            }
            let rows = q.build().fetch_all(&self.pool).await?;
            let mut records = Vec::new();
            for row in &rows {
                let mut record = datapoint_from_row(row, read_data)?;
                if let Some(filter) = &query.filter
                    && !filter.matches(&record.data)
                {
                    continue;
                }
                if !query.with_data {
                    record.data = Bytes::new();
                }
                records.push(record);
                if records.len() as u64 >= query.limit {
                    break;
                }
            }
            Ok(records)
        })
    }

    fn get_datapoint(
        &self,
        collection_ids: Vec<RawId>,
        id: RawId,
    ) -> BoxFuture<'_, Result<Option<DatapointRecord>, StoreError>> {
        Box::pin(async move {
            if let Some(reader) = &self.reader {
                return reader
                    .run(move |c| reader::get_datapoint(c, &collection_ids, id))
                    .await;
            }
            for collection_id in collection_ids {
                let row = sqlx::query(
                    "SELECT id, time_ns, ingestion_time_ns, data FROM datapoints WHERE collection_id = ? AND id = ?",
                )
                .bind(&collection_id[..])
                .bind(&id[..])
                .fetch_optional(&self.pool)
                .await?;
                if let Some(row) = row {
                    return datapoint_from_row(&row, true).map(Some);
                }
            }
            Ok(None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ms_prefix_id;

    #[test]
    fn prefix_id_is_big_endian_ms() {
        let id = ms_prefix_id(0x0181_f4ef_2040);
        assert_eq!(&id[..6], &[0x01, 0x81, 0xf4, 0xef, 0x20, 0x40]);
        assert!(id[6..].iter().all(|b| *b == 0));
    }
}
