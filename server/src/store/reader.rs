//! The read path of the SQLite store: plain `rusqlite` connections on tokio's blocking pool.
//!
//! sqlx runs each SQLite connection on a worker thread of its own and hands every row back through a
//! channel, with a heap copy per column. For `Query` pages (thousands of rows of a few hundred bytes) that
//! per-row traffic dominated the server's CPU time. Here one request is one hop to the blocking pool: the
//! statement comes from the connection's prepared-statement cache, rows are stepped in place, and every
//! blob of a page is copied once into one buffer whose slices become the records' `data`.
//!
//! Reads only: connections refuse writes (`query_only`); writes go through the [`Writer`](super::tx::Writer)
//! with their transactions and durability settings. The workflows store reads through these connections
//! too. WAL mode lets these readers run next to the writer; each
//! read sees the last committed state.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter, types::Value};

use super::rows::{DATASET_COLUMNS, raw_id};
use super::{
    CollectionRecord, DatapointRecord, DatasetRecord, RangeQuery, RawId, RowFilter, StoreError,
};

/// Idle connections kept for reuse (more are opened under load and closed when returned).
const MAX_IDLE: usize = 8;
/// Prepared statements cached per connection (the range query has up to 24 shapes).
const STATEMENT_CACHE: usize = 48;

/// A pool of read-only connections to one database file.
#[derive(Debug)]
pub(crate) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reader {
    /// Readers of the database at `path` (which must exist, with its schema).
    pub(crate) fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        let reader = Reader {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        // Fail early if the file cannot be opened.
        let conn = reader.connect()?;
        reader.put_back(conn);
        Ok(Arc::new(reader))
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        // Opened read-write (without create) so the WAL and its index work as for any connection, even
        // after every other connection closed; `query_only` then refuses any write.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let conn = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match conn {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `read` on a pooled connection on tokio's blocking pool.
    pub(crate) async fn run<T, E, F>(self: &Arc<Self>, read: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let reader = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = reader.take()?;
            let result = read(&conn);
            reader.put_back(conn);
            result
        })
        .await
        .map_err(|e| E::from(StoreError::Io(format!("read task failed: {e}"))))?
    }
}

/// A dataset by id.
pub(crate) fn get_dataset(
    conn: &Connection,
    id: RawId,
) -> Result<Option<DatasetRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DATASET_COLUMNS} FROM datasets WHERE id = ?1"
    ))?;
    let row = stmt
        .query_row([&id[..]], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, Vec<u8>>(1)?,
                DatasetRecord {
                    id: [0; 16],
                    group_id: [0; 16],
                    code_name: row.get(2)?,
                    slug: row.get(3)?,
                    name: row.get(4)?,
                    summary: row.get(5)?,
                    description: row.get(6)?,
                    icon: row.get(7)?,
                    kind: row.get(8)?,
                    fields: Bytes::from(row.get::<_, Vec<u8>>(9)?),
                    visibility: row.get(10)?,
                },
            ))
        })
        .optional()?;
    row.map(|(id, group_id, mut record)| {
        record.id = raw_id(&id)?;
        record.group_id = raw_id(&group_id)?;
        Ok(record)
    })
    .transpose()
}

fn collection_from(
    id: Vec<u8>,
    dataset_id: Vec<u8>,
    name: String,
) -> Result<CollectionRecord, StoreError> {
    Ok(CollectionRecord {
        id: raw_id(&id)?,
        dataset_id: raw_id(&dataset_id)?,
        name,
    })
}

/// A collection by id.
pub(crate) fn get_collection(
    conn: &Connection,
    id: RawId,
) -> Result<Option<CollectionRecord>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, dataset_id, name FROM collections WHERE id = ?1")?;
    let row = stmt
        .query_row([&id[..]], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    row.map(|(id, dataset_id, name)| collection_from(id, dataset_id, name))
        .transpose()
}

/// Collections of a dataset, ordered by name.
pub(crate) fn list_collections(
    conn: &Connection,
    dataset_id: RawId,
) -> Result<Vec<CollectionRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, dataset_id, name FROM collections WHERE dataset_id = ?1 ORDER BY name",
    )?;
    let mut rows = stmt.query([&dataset_id[..]])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(collection_from(row.get(0)?, row.get(1)?, row.get(2)?)?);
    }
    Ok(out)
}

/// A datapoint by id within any of the collections.
pub(crate) fn get_datapoint(
    conn: &Connection,
    collection_ids: &[RawId],
    id: RawId,
) -> Result<Option<DatapointRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT time_ns, ingestion_time_ns, data FROM datapoints WHERE collection_id = ?1 AND id = ?2",
    )?;
    for collection_id in collection_ids {
        let row = stmt
            .query_row([&collection_id[..], &id[..]], |row| {
                Ok(DatapointRecord {
                    id,
                    time_ns: row.get(0)?,
                    ingestion_time_ns: row.get(1)?,
                    bbox: None,
                    data: Bytes::from(row.get::<_, Vec<u8>>(2)?),
                })
            })
            .optional()?;
        if row.is_some() {
            return Ok(row);
        }
    }
    Ok(None)
}

/// One page of one collection in id order: at most `limit` rows that pass the bounding-box condition and
/// `filter`. Rows are stepped until the page is full, so a row filter never shortens a page that more
/// matching rows could fill.
pub(crate) fn query_range(
    conn: &Connection,
    query: &RangeQuery,
) -> Result<Vec<DatapointRecord>, StoreError> {
    // A row filter looks at the datapoint bytes, also when the page itself goes out without them.
    let read_data = query.with_data || query.filter.is_some();
    let mut sql = String::from(if read_data {
        "SELECT id, time_ns, ingestion_time_ns, data FROM datapoints WHERE collection_id = ?"
    } else {
        "SELECT id, time_ns, ingestion_time_ns FROM datapoints WHERE collection_id = ?"
    });
    let mut params: Vec<Value> = vec![Value::Blob(query.collection_id.to_vec())];
    // Unbounded ends become the smallest and largest ids, so the statement shapes stay few.
    let (lower_op, lower) = match query.lower {
        Bound::Included(id) => (">=", id),
        Bound::Excluded(id) => (">", id),
        Bound::Unbounded => (">=", [0u8; 16]),
    };
    let (upper_op, upper) = match query.upper {
        Bound::Included(id) => ("<=", id),
        Bound::Excluded(id) => ("<", id),
        Bound::Unbounded => ("<=", [0xffu8; 16]),
    };
    sql.push_str(&format!(" AND id {lower_op} ? AND id {upper_op} ?"));
    params.push(Value::Blob(lower.to_vec()));
    params.push(Value::Blob(upper.to_vec()));
    if let Some([min_x, min_y, max_x, max_y]) = query.bbox {
        if query.bbox_within {
            sql.push_str(
                " AND min_x IS NOT NULL AND min_x >= ? AND max_x <= ? AND min_y >= ? AND max_y <= ?",
            );
            params.extend([min_x, max_x, min_y, max_y].map(Value::Real));
        } else {
            sql.push_str(
                " AND min_x IS NOT NULL AND max_x >= ? AND min_x <= ? AND max_y >= ? AND min_y <= ?",
            );
            params.extend([min_x, max_x, min_y, max_y].map(Value::Real));
        }
    }
    sql.push_str(" ORDER BY id ASC");
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut records = Vec::with_capacity(limit.min(16_384));
    // Every blob of the page goes into one buffer; records hold slices of it.
    let mut buffer = BytesMut::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    while records.len() < limit {
        let Some(row) = rows.next()? else { break };
        let id = raw_id(blob(row, 0)?)?;
        if read_data {
            let data = blob(row, 3)?;
            if !passes(query.filter.as_ref(), data) {
                continue;
            }
        }
        if query.with_data {
            let data = blob(row, 3)?;
            if buffer.capacity() - buffer.len() < data.len() {
                buffer.reserve((data.len() * 64).max(256 * 1024));
            }
            let start = buffer.len();
            buffer.extend_from_slice(data);
            spans.push((start, buffer.len()));
        }
        records.push(DatapointRecord {
            id,
            time_ns: row.get(1)?,
            ingestion_time_ns: row.get(2)?,
            bbox: None,
            data: Bytes::new(),
        });
    }
    if query.with_data {
        let buffer = buffer.freeze();
        for (record, (start, end)) in records.iter_mut().zip(spans) {
            record.data = buffer.slice(start..end);
        }
    }
    Ok(records)
}

/// Column `i` of `row` as a borrowed blob.
fn blob<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r [u8], StoreError> {
    row.get_ref(i)?
        .as_blob()
        .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}

fn passes(filter: Option<&RowFilter>, data: &[u8]) -> bool {
    filter.is_none_or(|f| f.matches(data))
}
