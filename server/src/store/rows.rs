//! Row mapping shared by the sqlx backends (SQLite and PostgreSQL): the tables have the same columns in
//! both, so a record is read from a row the same way whichever database it came from.

use bytes::Bytes;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::{CollectionRecord, DatapointRecord, DatasetRecord, GroupRecord, RawId, StoreError};

/// The columns of `datasets` that [`dataset_from_row`] reads, in table order.
pub(super) const DATASET_COLUMNS: &str =
    "id, group_id, code_name, slug, name, summary, description, icon, kind, fields, visibility";

/// A row of either backend, read by column name.
pub(super) trait SqlRow {
    /// A BLOB / BYTEA column.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
    /// A nullable BLOB / BYTEA column.
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
    /// A TEXT column.
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    /// A 64-bit integer column.
    fn int64(&self, column: &str) -> Result<i64, sqlx::Error>;
    /// A 32-bit integer column (SQLite's INTEGER read as `i32`).
    fn int32(&self, column: &str) -> Result<i32, sqlx::Error>;
}

macro_rules! sql_row {
    ($($row:ty),*) => {$(
        impl SqlRow for $row {
            fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
                self.try_get(column)
            }
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn int64(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn int32(&self, column: &str) -> Result<i32, sqlx::Error> {
                self.try_get(column)
            }
        }
    )*};
}

sql_row!(SqliteRow, PgRow);

/// A 16-byte id from a BLOB / BYTEA value.
pub(super) fn raw_id(v: &[u8]) -> Result<RawId, StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt(format!("id of {} bytes", v.len())))
}

fn opt_raw_id(v: Option<Vec<u8>>) -> Result<Option<RawId>, StoreError> {
    v.map(|v| raw_id(&v)).transpose()
}

pub(super) fn group_from_row(row: &impl SqlRow) -> Result<GroupRecord, StoreError> {
    Ok(GroupRecord {
        id: raw_id(&row.bytes("id")?)?,
        parent_id: opt_raw_id(row.opt_bytes("parent_id")?)?,
        code_name: row.text("code_name")?,
        name: row.text("name")?,
        icon: row.text("icon")?,
    })
}

pub(super) fn dataset_from_row(row: &impl SqlRow) -> Result<DatasetRecord, StoreError> {
    Ok(DatasetRecord {
        id: raw_id(&row.bytes("id")?)?,
        group_id: raw_id(&row.bytes("group_id")?)?,
        code_name: row.text("code_name")?,
        slug: row.text("slug")?,
        name: row.text("name")?,
        summary: row.text("summary")?,
        description: row.text("description")?,
        icon: row.text("icon")?,
        kind: row.int32("kind")?,
        fields: Bytes::from(row.bytes("fields")?),
        visibility: row.int32("visibility")?,
    })
}

pub(super) fn collection_from_row(row: &impl SqlRow) -> Result<CollectionRecord, StoreError> {
    Ok(CollectionRecord {
        id: raw_id(&row.bytes("id")?)?,
        dataset_id: raw_id(&row.bytes("dataset_id")?)?,
        name: row.text("name")?,
    })
}

pub(super) fn datapoint_from_row(
    row: &impl SqlRow,
    with_data: bool,
) -> Result<DatapointRecord, StoreError> {
    let data = if with_data {
        Bytes::from(row.bytes("data")?)
    } else {
        Bytes::new()
    };
    Ok(DatapointRecord {
        id: raw_id(&row.bytes("id")?)?,
        time_ns: row.int64("time_ns")?,
        ingestion_time_ns: row.int64("ingestion_time_ns")?,
        bbox: None,
        data,
    })
}

/// `result`, with a unique-constraint violation turned into [`StoreError::Conflict`] saying `message()`.
pub(super) fn conflict_on_duplicate<T>(
    result: Result<T, sqlx::Error>,
    message: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    result.map_err(|e| match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        e => e.into(),
    })
}

/// The conflict message of a dataset slug that is taken.
pub(super) fn slug_taken(slug: &str) -> String {
    format!("a dataset with slug {slug} already exists")
}

/// The id whose first 6 bytes encode `ms` and whose other bytes are zero.
pub(super) fn ms_prefix_id(ms: i64) -> RawId {
    let mut id = [0u8; 16];
    let b = ms.to_be_bytes();
    id[..6].copy_from_slice(&b[2..]);
    id
}
