//! The datasets store: [`Store`] written once over the [`db`](super::db) interface, for SQLite and PostgreSQL.
//!
//! Schema notes (the tables come from [`migrations`](super::migrations); PostgreSQL has `BYTEA` for `BLOB`):
//! * `datapoints` is keyed by `(collection_id, id)`. Because the first 6 bytes of an id are the datapoint's
//!   time in Unix milliseconds, a time interval maps exactly onto an id interval, so time queries, id
//!   queries and `starting_after` cursors are all range scans of the primary key, already in result order.
//! * `time_ms` / `time_ns` / `ingestion_time_ns` and the bounding-box columns are denormalised from the
//!   encoded datapoint so that counts, availability and spatial filters need no decoding.
//!
//! A query page is one statement whose rows are stepped in place (SQLite) or read from the answer
//! (PostgreSQL); every blob of a page is copied once into one buffer whose slices become the records'
//! `data`, and stepping stops as soon as the page is full. Ingests are multi-row
//! `INSERT … ON CONFLICT DO NOTHING` statements in one transaction: the primary key settles ids that exist
//! (also those of concurrent ingests from other server processes on PostgreSQL).

use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;

use super::db::{
    Col, Database, Db, DbError, Dialect, Flow, Param, PgDb, Row, SqliteDb, SqliteMode, args,
};
use super::{
    CollectionRecord, CollectionStats, DatapointRecord, DatasetRecord, GroupRecord, InsertOutcome,
    RangeQuery, RawId, Store, StoreError, migrations,
};

/// The columns of `datasets` that [`dataset_from_row`] reads, in table order.
const DATASET_COLUMNS: &str =
    "id, group_id, code_name, slug, name, summary, description, icon, kind, fields, visibility";

/// The columns of `datapoints` an ingest writes, in the order of [`push_datapoint`].
const DATAPOINT_COLUMNS: &str =
    "collection_id, id, time_ms, time_ns, ingestion_time_ns, min_x, min_y, max_x, max_y, data";
/// Values bound per ingested row.
const DATAPOINT_VALUES: usize = 10;

/// The most rows of one multi-row statement (ingest, delete). Smaller pieces are powers of two (see
/// [`pieces`]), so few statement shapes reach the connections' statement caches. 2048 rows of 10 values
/// stay within SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const MAX_CHUNK: usize = 2048;

/// Rows a filtered PostgreSQL page reads per statement at first (doubling up to [`MAX_FILTER_BATCH`]): the
/// answer of a statement arrives whole, so an open-ended scan is read in batches until the page is full.
const FIRST_FILTER_BATCH: u64 = 1024;
/// See [`FIRST_FILTER_BATCH`].
const MAX_FILTER_BATCH: u64 = 65_536;

/// The advisory lock key of demo seeding on PostgreSQL (any constant unique to this application).
const SEEDING_LOCK: i64 = 0x7469_6c65_626f_7801;

/// The store of groups, datasets, collections and datapoints, on either backend. Cloning shares the
/// database.
#[derive(Clone, Debug)]
pub struct DatasetsStore {
    db: Database,
    /// The directory of a throw-away database, removed when the last user of it is dropped.
    scratch: Option<Arc<tempfile::TempDir>>,
}

/// Holds the demo seeding lock (see [`DatasetsStore::seeding_lock`]) until released or dropped.
pub(crate) struct SeedingLock(Option<super::db::postgres::PgAdvisoryLock>);

impl SeedingLock {
    /// Releases the lock.
    pub(crate) async fn release(self) {
        if let Some(lock) = self.0 {
            lock.release().await;
        }
    }
}

impl DatasetsStore {
    /// The store on an opened database (with its schema).
    pub(crate) fn new(db: Database) -> Self {
        DatasetsStore { db, scratch: None }
    }

    /// Opens (creating if missing) a SQLite database file that must survive a crash (WAL, every commit
    /// synced before the RPC answers) and brings its schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let db = tokio::task::spawn_blocking(move || {
            SqliteDb::open(&path, SqliteMode::Durable, migrations::apply)
        })
        .await
        .map_err(|e| StoreError::Io(format!("opening the database failed: {e}")))??;
        Ok(Self::new(Database::Sqlite(db)))
    }

    /// Opens a throw-away database: `tilebox.db` in a fresh temporary directory that is deleted with the
    /// store (see [`DatasetsStore::scratch_dir`]). WAL lets queries run in parallel on several connections;
    /// commits are not synced.
    pub async fn open_scratch() -> Result<Self, StoreError> {
        let dir = crate::scratch::scratch_dir("tilebox-server-db-")
            .map_err(|e| StoreError::Io(e.to_string()))?;
        let path = dir.path().join("tilebox.db");
        let db = tokio::task::spawn_blocking(move || {
            SqliteDb::open(&path, SqliteMode::Scratch, migrations::apply)
        })
        .await
        .map_err(|e| StoreError::Io(format!("opening the database failed: {e}")))??;
        Ok(DatasetsStore {
            db: Database::Sqlite(db),
            scratch: Some(Arc::new(dir)),
        })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:password@host:port/database`) with at
    /// most `pool_size` connections and brings its schema up to date.
    pub async fn connect_postgres(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let db = PgDb::connect(url, pool_size, migrations::apply).await?;
        Ok(Self::new(Database::Postgres(db)))
    }

    /// The database, for stores that keep their own tables in it.
    pub(crate) fn database(&self) -> &Database {
        &self.db
    }

    /// The temporary directory of a throw-away database (`None` for a database the server keeps); other
    /// throw-away files of the server may live there too.
    pub(crate) fn scratch_dir(&self) -> Option<Arc<tempfile::TempDir>> {
        self.scratch.clone()
    }

    /// Takes the database-wide lock under which server processes sharing a PostgreSQL database seed demo
    /// data, so processes starting at once on an empty database seed it once (the others then find it
    /// seeded). A SQLite database has one server process: nothing to lock.
    pub(crate) async fn seeding_lock(&self) -> Result<SeedingLock, StoreError> {
        match &self.db {
            Database::Postgres(db) => Ok(SeedingLock(Some(db.advisory_lock(SEEDING_LOCK).await?))),
            Database::Sqlite(_) => Ok(SeedingLock(None)),
        }
    }

    /// Runs `work` as a read.
    fn read<T, F>(&self, work: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        Box::pin(self.db.read(work))
    }

    /// Runs `work` as one write transaction (rolled back when it fails).
    fn write<T, F>(&self, work: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        Box::pin(self.db.write(work))
    }
}

fn group_from_row(row: &dyn Row) -> Result<GroupRecord, DbError> {
    Ok(GroupRecord {
        id: row.get(0)?,
        parent_id: row.get(1)?,
        code_name: row.get(2)?,
        name: row.get(3)?,
        icon: row.get(4)?,
    })
}

fn dataset_from_row(row: &dyn Row) -> Result<DatasetRecord, DbError> {
    Ok(DatasetRecord {
        id: row.get(0)?,
        group_id: row.get(1)?,
        code_name: row.get(2)?,
        slug: row.get(3)?,
        name: row.get(4)?,
        summary: row.get(5)?,
        description: row.get(6)?,
        icon: row.get(7)?,
        kind: row.get(8)?,
        fields: row.get(9)?,
        visibility: row.get(10)?,
    })
}

fn collection_from_row(row: &dyn Row) -> Result<CollectionRecord, DbError> {
    Ok(CollectionRecord {
        id: row.get(0)?,
        dataset_id: row.get(1)?,
        name: row.get(2)?,
    })
}

/// `e` as [`StoreError::Conflict`] saying `message()` when it violates a unique constraint.
fn conflict(e: DbError, message: impl FnOnce() -> String) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict(message())
    } else {
        e.into()
    }
}

/// The conflict message of a dataset slug that is taken.
fn slug_taken(slug: &str) -> String {
    format!("a dataset with slug {slug} already exists")
}

/// The id whose first 6 bytes encode `ms` and whose other bytes are zero.
fn ms_prefix_id(ms: i64) -> RawId {
    let mut id = [0u8; 16];
    let b = ms.to_be_bytes();
    id[..6].copy_from_slice(&b[2..]);
    id
}

/// Splits `len` rows into pieces of [`MAX_CHUNK`] rows and a rest in powers of two, largest first.
fn pieces(len: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let left = len - start;
        if left == 0 {
            return None;
        }
        let size = if left >= MAX_CHUNK {
            MAX_CHUNK
        } else {
            1 << left.ilog2()
        };
        start += size;
        Some(start - size..start)
    })
}

/// `n` groups of `width` placeholders: `(?, ?), (?, ?)`.
fn placeholder_rows(n: usize, width: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row.as_str(); n].join(", ")
}

/// Appends the values of one ingested row, in the order of [`DATAPOINT_COLUMNS`].
fn push_datapoint<'a>(
    params: &mut Vec<Param<'a>>,
    collection_id: &'a RawId,
    row: &'a DatapointRecord,
) {
    let bbox = row.bbox;
    params.extend([
        Param::Blob(collection_id),
        Param::Blob(&row.id),
        Param::Int(row.time_ns.div_euclid(1_000_000)),
        Param::Int(row.time_ns),
        Param::Int(row.ingestion_time_ns),
    ]);
    params.extend((0..4).map(|i| Param::from(bbox.map(|b| b[i]))));
    params.push(Param::Blob(&row.data));
}

/// Inserts `rows` (skipping ids that exist) and counts the new ones; see [`Store::insert_datapoints`].
fn insert_datapoints(
    db: &mut dyn Db,
    collection_id: RawId,
    rows: &[DatapointRecord],
    allow_existing: bool,
) -> Result<InsertOutcome, StoreError> {
    // On PostgreSQL a share lock on the collection row: a concurrent delete of the collection waits for this
    // ingest (or this ingest finds the collection gone), so no datapoint outlives its collection. SQLite
    // writes one transaction at a time.
    let collection = match db.dialect() {
        Dialect::Sqlite => "SELECT 1 FROM collections WHERE id = ?",
        Dialect::Postgres => "SELECT 1 FROM collections WHERE id = ? FOR SHARE",
    };
    if db
        .query_opt(collection, args![&collection_id], |_| Ok(()))?
        .is_none()
    {
        return Err(StoreError::NotFound("no such collection".into()));
    }
    let mut created = 0u64;
    let mut params = Vec::with_capacity(MAX_CHUNK.min(rows.len()) * DATAPOINT_VALUES);
    for piece in pieces(rows.len()) {
        let sql = format!(
            "INSERT INTO datapoints ({DATAPOINT_COLUMNS}) VALUES {} ON CONFLICT (collection_id, id) DO NOTHING",
            placeholder_rows(piece.len(), DATAPOINT_VALUES)
        );
        params.clear();
        for row in &rows[piece] {
            push_datapoint(&mut params, &collection_id, row);
        }
        created += db.execute(&sql, &params)?;
    }
    // Ids that existed (in the table or earlier in this request) were skipped by the primary key.
    let existing = rows.len() as u64 - created;
    if existing > 0 && !allow_existing {
        return Err(StoreError::Conflict(
            "found existing datapoints with same id, refusing to ingest with \"allow_existing=false\""
                .into(),
        ));
    }
    Ok(InsertOutcome { created, existing })
}

/// Deletes the (distinct) `ids` of a collection; `NotFound` when any is missing (the unit then rolls back).
fn delete_datapoints(
    db: &mut dyn Db,
    collection_id: RawId,
    ids: &[RawId],
) -> Result<u64, StoreError> {
    let mut deleted = 0u64;
    let mut params = Vec::with_capacity(MAX_CHUNK.min(ids.len()) + 1);
    for piece in pieces(ids.len()) {
        let sql = format!(
            "DELETE FROM datapoints WHERE collection_id = ? AND id IN ({})",
            vec!["?"; piece.len()].join(", ")
        );
        params.clear();
        params.push(Param::Blob(&collection_id));
        params.extend(ids[piece].iter().map(|id| Param::Blob(id)));
        deleted += db.execute(&sql, &params)?;
    }
    if deleted != ids.len() as u64 {
        return Err(StoreError::NotFound(format!(
            "{} of {} datapoints not found in the collection, nothing deleted",
            ids.len() as u64 - deleted,
            ids.len()
        )));
    }
    Ok(deleted)
}

/// The rows of one page being read: records, and their blobs in one buffer.
struct Page {
    records: Vec<DatapointRecord>,
    buffer: BytesMut,
    spans: Vec<(usize, usize)>,
}

impl Page {
    fn with_capacity(limit: usize) -> Self {
        Page {
            records: Vec::with_capacity(limit.min(16_384)),
            buffer: BytesMut::new(),
            spans: Vec::new(),
        }
    }

    /// Adds a record, copying `data` (when given) into the page's buffer.
    fn push(&mut self, record: DatapointRecord, data: Option<&[u8]>) {
        if let Some(data) = data {
            if self.buffer.capacity() - self.buffer.len() < data.len() {
                self.buffer.reserve((data.len() * 64).max(256 * 1024));
            }
            let start = self.buffer.len();
            self.buffer.extend_from_slice(data);
            self.spans.push((start, self.buffer.len()));
        }
        self.records.push(record);
    }

    /// The records, their `data` slices of the one buffer.
    fn finish(mut self) -> Vec<DatapointRecord> {
        if !self.spans.is_empty() {
            let buffer = self.buffer.freeze();
            for (record, (start, end)) in self.records.iter_mut().zip(self.spans) {
                record.data = buffer.slice(start..end);
            }
        }
        self.records
    }
}

/// The statement of a range query: id bounds (exclusive or not), the bounding-box condition (`Some(within)`),
/// id order and a `LIMIT`.
fn range_sql(
    read_data: bool,
    lower_excluded: bool,
    upper_excluded: bool,
    bbox: Option<bool>,
) -> String {
    let mut sql = String::from(if read_data {
        "SELECT id, time_ns, ingestion_time_ns, data FROM datapoints WHERE collection_id = ?"
    } else {
        "SELECT id, time_ns, ingestion_time_ns FROM datapoints WHERE collection_id = ?"
    });
    sql.push_str(if lower_excluded {
        " AND id > ?"
    } else {
        " AND id >= ?"
    });
    sql.push_str(if upper_excluded {
        " AND id < ?"
    } else {
        " AND id <= ?"
    });
    // Both conditions take the box as (min_x, max_x, min_y, max_y).
    sql.push_str(match bbox {
        Some(true) => {
            " AND min_x IS NOT NULL AND min_x >= ? AND max_x <= ? AND min_y >= ? AND max_y <= ?"
        }
        Some(false) => {
            " AND min_x IS NOT NULL AND max_x >= ? AND min_x <= ? AND max_y >= ? AND min_y <= ?"
        }
        None => "",
    });
    sql.push_str(" ORDER BY id ASC LIMIT ?");
    sql
}

/// Column `index` of `row` as borrowed bytes.
fn blob(row: &dyn Row, index: usize) -> Result<&[u8], DbError> {
    match row.col(index)? {
        Col::Blob(data) => Ok(data),
        other => Err(DbError::Column {
            index,
            message: format!("expected bytes, found {other:?}"),
        }),
    }
}

/// One page of one collection in id order: at most `limit` rows that pass the bounding-box condition and
/// the row filter. Rows are read until the page is full, so a row filter never shortens a page that more
/// matching rows could fill.
fn query_range(db: &mut dyn Db, query: &RangeQuery) -> Result<Vec<DatapointRecord>, StoreError> {
    // A row filter looks at the datapoint bytes, also when the page itself goes out without them.
    let read_data = query.with_data || query.filter.is_some();
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let mut page = Page::with_capacity(limit);
    // Unbounded ends become the smallest and largest ids, so the statement shapes stay few.
    let (mut lower, mut lower_excluded) = match query.lower {
        Bound::Included(id) => (id, false),
        Bound::Excluded(id) => (id, true),
        Bound::Unbounded => ([0u8; 16], false),
    };
    let (upper, upper_excluded) = match query.upper {
        Bound::Included(id) => (id, false),
        Bound::Excluded(id) => (id, true),
        Bound::Unbounded => ([0xffu8; 16], false),
    };
    let bbox = query
        .bbox
        .map(|[min_x, min_y, max_x, max_y]| [min_x, max_x, min_y, max_y]);
    // Without a filter the LIMIT is the page. With one, SQLite steps rows in place until the page is full;
    // PostgreSQL answers a statement whole, so it reads batches, each after the last row seen.
    let mut batch = match (&query.filter, db.dialect()) {
        (None, _) => i64::try_from(query.limit).unwrap_or(i64::MAX),
        (Some(_), Dialect::Sqlite) => i64::MAX,
        (Some(_), Dialect::Postgres) => {
            query.limit.clamp(FIRST_FILTER_BATCH, MAX_FILTER_BATCH) as i64
        }
    };
    loop {
        let sql = range_sql(
            read_data,
            lower_excluded,
            upper_excluded,
            query.bbox.map(|_| query.bbox_within),
        );
        let mut params = vec![
            Param::Blob(&query.collection_id),
            Param::Blob(&lower),
            Param::Blob(&upper),
        ];
        params.extend(bbox.iter().flatten().map(|v| Param::Real(*v)));
        params.push(Param::Int(batch));
        let mut seen = 0i64;
        let mut last = None;
        db.query_each(&sql, &params, &mut |row| {
            seen += 1;
            let id: RawId = row.get(0)?;
            last = Some(id);
            let data = if read_data { Some(blob(row, 3)?) } else { None };
            if let (Some(filter), Some(data)) = (&query.filter, data)
                && !filter.matches(data)
            {
                return Ok(Flow::Continue(()));
            }
            let record = DatapointRecord {
                id,
                time_ns: row.get(1)?,
                ingestion_time_ns: row.get(2)?,
                bbox: None,
                data: Bytes::new(),
            };
            page.push(record, data.filter(|_| query.with_data));
            Ok(if page.records.len() >= limit {
                Flow::Break(())
            } else {
                Flow::Continue(())
            })
        })?;
        match last {
            Some(id) if query.filter.is_some() && seen == batch && page.records.len() < limit => {
                lower = id;
                lower_excluded = true;
                batch = batch.saturating_mul(2).min(MAX_FILTER_BATCH as i64);
            }
            _ => break,
        }
    }
    Ok(page.finish())
}

/// A datapoint by id within any of the collections.
fn get_datapoint(
    db: &mut dyn Db,
    collection_ids: &[RawId],
    id: RawId,
) -> Result<Option<DatapointRecord>, StoreError> {
    for collection_id in collection_ids {
        let found = db.query_opt(
            "SELECT time_ns, ingestion_time_ns, data FROM datapoints WHERE collection_id = ? AND id = ?",
            args![collection_id, &id],
            |row| {
                Ok(DatapointRecord {
                    id,
                    time_ns: row.get(0)?,
                    ingestion_time_ns: row.get(1)?,
                    bbox: None,
                    data: row.get(2)?,
                })
            },
        )?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Count and time range of a collection.
fn collection_stats(db: &mut dyn Db, id: RawId) -> Result<CollectionStats, StoreError> {
    let count: i64 = db.scalar(
        "SELECT COUNT(*) FROM datapoints WHERE collection_id = ?",
        args![&id],
    )?;
    if count == 0 {
        return Ok(CollectionStats::default());
    }
    // First and last millisecond via the primary key, then the exact extreme within that millisecond.
    let mut edge_ms = |order: &str| {
        db.query_opt(
            &format!(
                "SELECT time_ms FROM datapoints WHERE collection_id = ? ORDER BY id {order} LIMIT 1"
            ),
            args![&id],
            |r| r.get::<i64>(0),
        )
    };
    let (Some(first_ms), Some(last_ms)) = (edge_ms("ASC")?, edge_ms("DESC")?) else {
        // Emptied by another process since the count (PostgreSQL reads statement by statement).
        return Ok(CollectionStats::default());
    };
    let mut extreme = |agg: &str, ms: i64| {
        db.scalar::<Option<i64>>(
            &format!(
                "SELECT {agg}(time_ns) FROM datapoints WHERE collection_id = ? AND id >= ? AND id < ?"
            ),
            args![&id, &ms_prefix_id(ms), &ms_prefix_id(ms + 1)],
        )
    };
    let min_ns = extreme("MIN", first_ms)?;
    let max_ns = extreme("MAX", last_ms)?;
    Ok(CollectionStats {
        count: u64::try_from(count).unwrap_or(0),
        range_ns: min_ns.zip(max_ns),
    })
}

impl Store for DatasetsStore {
    fn list_groups(&self) -> BoxFuture<'_, Result<Vec<GroupRecord>, StoreError>> {
        self.read(|db| {
            Ok(db.query(
                "SELECT id, parent_id, code_name, name, icon FROM dataset_groups ORDER BY code_name",
                &[],
                group_from_row,
            )?)
        })
    }

    fn ensure_group(&self, group: GroupRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |db| {
            db.execute(
                "INSERT INTO dataset_groups (id, parent_id, code_name, name, icon) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
                args![&group.id, group.parent_id.as_ref(), &group.code_name, &group.name, &group.icon],
            )?;
            Ok(())
        })
    }

    fn list_datasets(&self) -> BoxFuture<'_, Result<Vec<DatasetRecord>, StoreError>> {
        self.read(|db| {
            Ok(db.query(
                &format!("SELECT {DATASET_COLUMNS} FROM datasets ORDER BY slug"),
                &[],
                dataset_from_row,
            )?)
        })
    }

    fn get_dataset(&self, id: RawId) -> BoxFuture<'_, Result<Option<DatasetRecord>, StoreError>> {
        self.read(move |db| {
            Ok(db.query_opt(
                &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE id = ?"),
                args![&id],
                dataset_from_row,
            )?)
        })
    }

    fn get_dataset_by_slug<'a>(
        &'a self,
        slug: &'a str,
    ) -> BoxFuture<'a, Result<Option<DatasetRecord>, StoreError>> {
        let slug = slug.to_owned();
        self.read(move |db| {
            Ok(db.query_opt(
                &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE slug = ?"),
                args![&slug],
                dataset_from_row,
            )?)
        })
    }

    fn insert_dataset(&self, d: DatasetRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |db| {
            db.execute(
                &format!(
                    "INSERT INTO datasets ({DATASET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                args![
                    &d.id,
                    &d.group_id,
                    &d.code_name,
                    &d.slug,
                    &d.name,
                    &d.summary,
                    &d.description,
                    &d.icon,
                    d.kind,
                    &d.fields,
                    d.visibility
                ],
            )
            .map_err(|e| conflict(e, || slug_taken(&d.slug)))?;
            Ok(())
        })
    }

    fn update_dataset(&self, d: DatasetRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |db| {
            let changed = db
                .execute(
                    "UPDATE datasets SET code_name = ?, slug = ?, name = ?, summary = ?, description = ?,
                     icon = ?, kind = ?, fields = ?, visibility = ? WHERE id = ?",
                    args![
                        &d.code_name,
                        &d.slug,
                        &d.name,
                        &d.summary,
                        &d.description,
                        &d.icon,
                        d.kind,
                        &d.fields,
                        d.visibility,
                        &d.id
                    ],
                )
                .map_err(|e| conflict(e, || slug_taken(&d.slug)))?;
            if changed == 0 {
                return Err(StoreError::NotFound("no such dataset".into()));
            }
            Ok(())
        })
    }

    fn delete_dataset(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.write(move |db| {
            let deleted = db.execute("DELETE FROM datasets WHERE id = ?", args![&id])?;
            // Collections before their datapoints: on PostgreSQL deleting a collection row waits for ingests
            // holding it, whose rows the datapoint deletes (later statements) then see.
            let collections: Vec<RawId> = db.query(
                "DELETE FROM collections WHERE dataset_id = ? RETURNING id",
                args![&id],
                |r| r.get(0),
            )?;
            for collection in &collections {
                db.execute(
                    "DELETE FROM datapoints WHERE collection_id = ?",
                    args![collection],
                )?;
            }
            Ok(deleted > 0)
        })
    }

    fn dataset_has_data(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.read(move |db| {
            let found = db.query_opt(
                "SELECT 1 FROM datapoints
                 WHERE collection_id IN (SELECT id FROM collections WHERE dataset_id = ?) LIMIT 1",
                args![&id],
                |_| Ok(()),
            )?;
            Ok(found.is_some())
        })
    }

    fn list_collections(
        &self,
        dataset_id: RawId,
    ) -> BoxFuture<'_, Result<Vec<CollectionRecord>, StoreError>> {
        self.read(move |db| {
            Ok(db.query(
                "SELECT id, dataset_id, name FROM collections WHERE dataset_id = ? ORDER BY name",
                args![&dataset_id],
                collection_from_row,
            )?)
        })
    }

    fn get_collection(
        &self,
        id: RawId,
    ) -> BoxFuture<'_, Result<Option<CollectionRecord>, StoreError>> {
        self.read(move |db| {
            Ok(db.query_opt(
                "SELECT id, dataset_id, name FROM collections WHERE id = ?",
                args![&id],
                collection_from_row,
            )?)
        })
    }

    fn get_collection_by_name<'a>(
        &'a self,
        dataset_id: RawId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<CollectionRecord>, StoreError>> {
        let name = name.to_owned();
        self.read(move |db| {
            Ok(db.query_opt(
                "SELECT id, dataset_id, name FROM collections WHERE dataset_id = ? AND name = ?",
                args![&dataset_id, &name],
                collection_from_row,
            )?)
        })
    }

    fn insert_collection(&self, c: CollectionRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |db| {
            db.execute(
                "INSERT INTO collections (id, dataset_id, name) VALUES (?, ?, ?)",
                args![&c.id, &c.dataset_id, &c.name],
            )
            .map_err(|e| conflict(e, || format!("collection {} already exists", c.name)))?;
            Ok(())
        })
    }

    fn delete_collection(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.write(move |db| {
            // The collection row first: on PostgreSQL ingests hold a share lock on it, so none is half-way
            // through.
            let deleted = db.execute("DELETE FROM collections WHERE id = ?", args![&id])?;
            db.execute("DELETE FROM datapoints WHERE collection_id = ?", args![&id])?;
            Ok(deleted > 0)
        })
    }

    fn collection_stats(&self, id: RawId) -> BoxFuture<'_, Result<CollectionStats, StoreError>> {
        self.read(move |db| collection_stats(db, id))
    }

    fn insert_datapoints(
        &self,
        collection_id: RawId,
        rows: Vec<DatapointRecord>,
        allow_existing: bool,
    ) -> BoxFuture<'_, Result<InsertOutcome, StoreError>> {
        self.write(move |db| insert_datapoints(db, collection_id, &rows, allow_existing))
    }

    fn delete_datapoints(
        &self,
        collection_id: RawId,
        ids: Vec<RawId>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let mut seen = HashSet::new();
        let unique: Vec<RawId> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
        self.write(move |db| delete_datapoints(db, collection_id, &unique))
    }

    fn query_range(
        &self,
        query: RangeQuery,
    ) -> BoxFuture<'_, Result<Vec<DatapointRecord>, StoreError>> {
        self.read(move |db| query_range(db, &query))
    }

    fn get_datapoint(
        &self,
        collection_ids: Vec<RawId>,
        id: RawId,
    ) -> BoxFuture<'_, Result<Option<DatapointRecord>, StoreError>> {
        self.read(move |db| get_datapoint(db, &collection_ids, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_id_is_big_endian_ms() {
        let id = ms_prefix_id(0x0181_f4ef_2040);
        assert_eq!(&id[..6], &[0x01, 0x81, 0xf4, 0xef, 0x20, 0x40]);
        assert!(id[6..].iter().all(|b| *b == 0));
    }

    #[test]
    fn pieces_cover_every_row_in_few_shapes() {
        for len in [
            0,
            1,
            2,
            3,
            1000,
            MAX_CHUNK,
            MAX_CHUNK + 1,
            3 * MAX_CHUNK + 777,
        ] {
            let parts: Vec<_> = pieces(len).collect();
            let mut next = 0;
            for part in &parts {
                assert_eq!(part.start, next);
                assert!(part.len().is_power_of_two() && part.len() <= MAX_CHUNK);
                next = part.end;
            }
            assert_eq!(next, len);
        }
        assert_eq!(
            pieces(1000).map(|p| p.len()).collect::<Vec<_>>(),
            [512, 256, 128, 64, 32, 8]
        );
    }

    #[test]
    fn placeholders_form_rows() {
        assert_eq!(placeholder_rows(2, 3), "(?, ?, ?), (?, ?, ?)");
    }
}
