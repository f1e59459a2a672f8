//! PostgreSQL backend of [`Store`](super::Store) (sqlx's Postgres driver), for servers that share one
//! database between several processes or machines.
//!
//! The schema is the SQLite one (see [`crate::store::migrate`]): `datapoints` keyed by `(collection_id, id)`,
//! ids leading with the time in ms, so time and id intervals and paging cursors are range scans of the primary
//! key (`BYTEA` compares bytewise like SQLite's `BLOB`). Filters and spatial tests are evaluated in Rust over
//! the rows a range scan returns, as on SQLite. Every multi-statement write runs through [`PgWriter`]: one
//! transaction in a task of its own, so a dropped request neither leaves a transaction open nor half-writes.
//! Concurrent ingests of the same ids from several processes are settled by the primary key
//! (`ON CONFLICT DO NOTHING`), not by a read-then-write.

pub(crate) mod tx;

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use super::rows::{
    DATASET_COLUMNS, collection_from_row, conflict_on_duplicate, datapoint_from_row,
    dataset_from_row, group_from_row, ms_prefix_id, slug_taken,
};
use super::{
    CollectionRecord, CollectionStats, DatapointRecord, DatasetRecord, GroupRecord, InsertOutcome,
    RangeQuery, RawId, Store, StoreError,
};
pub(crate) use tx::PgWriter;
use tx::rollback_on_release;

/// Rows per multi-row `INSERT` (10 bound values each, well under PostgreSQL's 65,535 parameters).
const INSERT_CHUNK: usize = 1000;
/// Ids per `DELETE … IN (…)`.
const DELETE_CHUNK: usize = 4000;

/// The advisory lock key of demo seeding (any constant unique to this application).
const SEEDING_LOCK: i64 = 0x7469_6c65_626f_7801;

/// Holds the demo seeding lock (see [`PgStore::seeding_lock`]) until closed or dropped.
pub(crate) struct SeedingLock(PgConnection);

impl SeedingLock {
    /// Releases the lock by ending its session.
    pub(crate) async fn release(self) {
        use sqlx::Connection;
        let _ = self.0.close().await;
    }
}

/// The PostgreSQL store. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    writer: PgWriter,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) with at most
    /// `pool_size` connections and brings its schema up to date (refusing a schema newer than this build).
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = rollback_on_release(PgPoolOptions::new())
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        super::migrate::postgres(&pool).await?;
        Ok(PgStore {
            writer: PgWriter::new(pool.clone()),
            pool,
        })
    }

    /// The connection pool, for services that keep their own tables in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Takes the database-wide lock under which server processes seed demo data, so processes starting at
    /// once on an empty database seed it once (the others then find it seeded). The lock is a session
    /// advisory lock on a connection outside the pool; it is released when the returned guard is closed or
    /// dropped (closing the connection ends the session).
    pub(crate) async fn seeding_lock(&self) -> Result<SeedingLock, StoreError> {
        let mut conn = self.pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(SEEDING_LOCK)
            .execute(&mut conn)
            .await?;
        Ok(SeedingLock(conn))
    }

    /// Runs `unit` as one cancel-safe write transaction (see [`PgWriter::run`]).
    async fn write<T, F>(&self, unit: F) -> Result<T, StoreError>
    where
        F: for<'c> Fn(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + Sync
            + 'static,
        T: Send + 'static,
    {
        self.writer.run(unit).await
    }
}

fn push_id_bounds(q: &mut QueryBuilder<'_, Postgres>, lower: Bound<RawId>, upper: Bound<RawId>) {
    match lower {
        Bound::Included(id) => {
            q.push(" AND id >= ").push_bind(id.to_vec());
        }
        Bound::Excluded(id) => {
            q.push(" AND id > ").push_bind(id.to_vec());
        }
        Bound::Unbounded => {}
    }
    match upper {
        Bound::Included(id) => {
            q.push(" AND id <= ").push_bind(id.to_vec());
        }
        Bound::Excluded(id) => {
            q.push(" AND id < ").push_bind(id.to_vec());
        }
        Bound::Unbounded => {}
    }
}

impl Store for PgStore {
    fn list_groups(&self) -> BoxFuture<'_, Result<Vec<GroupRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, parent_id, code_name, name, icon FROM dataset_groups ORDER BY code_name",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(group_from_row).collect()
        })
    }

    fn ensure_group(&self, group: GroupRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO dataset_groups (id, parent_id, code_name, name, icon) VALUES ($1, $2, $3, $4, $5)
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
            let row = sqlx::query(&format!(
                "SELECT {DATASET_COLUMNS} FROM datasets WHERE id = $1"
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
                "SELECT {DATASET_COLUMNS} FROM datasets WHERE slug = $1"
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
                "INSERT INTO datasets ({DATASET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
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
                "UPDATE datasets SET code_name = $1, slug = $2, name = $3, summary = $4, description = $5,
                 icon = $6, kind = $7, fields = $8, visibility = $9 WHERE id = $10",
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
                let r = sqlx::query("DELETE FROM datasets WHERE id = $1")
                    .bind(&id[..])
                    .execute(&mut *tx)
                    .await?;
                // Collections before their datapoints: deleting a collection row waits for ingests holding
                // it, whose rows the datapoint delete (a later statement) then sees.
                let collections: Vec<Vec<u8>> = sqlx::query_scalar(
                    "DELETE FROM collections WHERE dataset_id = $1 RETURNING id",
                )
                .bind(&id[..])
                .fetch_all(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM datapoints WHERE collection_id = ANY($1)")
                    .bind(&collections)
                    .execute(&mut *tx)
                    .await?;
                Ok(r.rows_affected() > 0)
            })
        }))
    }

    fn dataset_has_data(&self, id: RawId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT 1 FROM datapoints WHERE collection_id IN (SELECT id FROM collections WHERE dataset_id = $1)
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
            let rows = sqlx::query(
                "SELECT id, dataset_id, name FROM collections WHERE dataset_id = $1 ORDER BY name",
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
            let row = sqlx::query("SELECT id, dataset_id, name FROM collections WHERE id = $1")
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
                "SELECT id, dataset_id, name FROM collections WHERE dataset_id = $1 AND name = $2",
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
                sqlx::query("INSERT INTO collections (id, dataset_id, name) VALUES ($1, $2, $3)")
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
                // The collection row first: ingests hold a share lock on it, so none is half-way through.
                let r = sqlx::query("DELETE FROM collections WHERE id = $1")
                    .bind(&id[..])
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM datapoints WHERE collection_id = $1")
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
                sqlx::query_scalar("SELECT COUNT(*) FROM datapoints WHERE collection_id = $1")
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
            let first_ms: Option<i64> = sqlx::query_scalar(
                "SELECT time_ms FROM datapoints WHERE collection_id = $1 ORDER BY id ASC LIMIT 1",
            )
            .bind(&id[..])
            .fetch_optional(&self.pool)
            .await?;
            let last_ms: Option<i64> = sqlx::query_scalar(
                "SELECT time_ms FROM datapoints WHERE collection_id = $1 ORDER BY id DESC LIMIT 1",
            )
            .bind(&id[..])
            .fetch_optional(&self.pool)
            .await?;
            let (Some(first_ms), Some(last_ms)) = (first_ms, last_ms) else {
                // Emptied by another process since the count.
                return Ok(CollectionStats::default());
            };
            let extreme = |agg: &'static str, ms: i64| {
                let pool = self.pool.clone();
                async move {
                    let v: Option<i64> = sqlx::query_scalar(&format!(
                        "SELECT {agg}(time_ns) FROM datapoints WHERE collection_id = $1 AND id >= $2 AND id < $3"
                    ))
                    .bind(&id[..])
                    .bind(&ms_prefix_id(ms)[..])
                    .bind(&ms_prefix_id(ms + 1)[..])
                    .fetch_one(&pool)
                    .await?;
                    Ok::<_, StoreError>(v)
                }
            };
            let min_ns = extreme("MIN", first_ms).await?;
            let max_ns = extreme("MAX", last_ms).await?;
            Ok(CollectionStats {
                count: u64::try_from(count).unwrap_or(0),
                range_ns: min_ns.zip(max_ns),
            })
        })
    }

    fn insert_datapoints(
        &self,
        collection_id: RawId,
        rows: Vec<DatapointRecord>,
        allow_existing: bool,
    ) -> BoxFuture<'_, Result<InsertOutcome, StoreError>> {
        let rows = Arc::new(rows);
        Box::pin(self.write(move |tx| {
            let rows = Arc::clone(&rows);
            Box::pin(async move {
                // A share lock on the collection row: a concurrent delete of the collection waits for this
                // ingest (or this ingest finds the collection gone), so no datapoint outlives its collection.
                let found: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM collections WHERE id = $1 FOR SHARE")
                        .bind(&collection_id[..])
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("no such collection".into()));
                }
                let mut created = 0u64;
                for chunk in rows.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<Postgres>::new(
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
                    // Existing ids (in the table or earlier in this request) are skipped by the primary key,
                    // which also settles concurrent ingests of the same ids.
                    q.push(" ON CONFLICT (collection_id, id) DO NOTHING");
                    created += q.build().execute(&mut *tx).await?.rows_affected();
                }
                let existing = rows.len() as u64 - created;
                if existing > 0 && !allow_existing {
                    return Err(StoreError::Conflict(
                        "found existing datapoints with same id, refusing to ingest with \"allow_existing=false\"".into(),
                    ));
                }
                Ok(InsertOutcome { created, existing })
            })
        }))
    }

    fn delete_datapoints(
        &self,
        collection_id: RawId,
        ids: Vec<RawId>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let unique: Arc<Vec<RawId>> = {
            let mut seen = HashSet::new();
            Arc::new(ids.into_iter().filter(|id| seen.insert(*id)).collect())
        };
        Box::pin(self.write(move |tx| {
            let unique = Arc::clone(&unique);
            Box::pin(async move {
                let mut deleted = 0u64;
                for chunk in unique.chunks(DELETE_CHUNK) {
                    let mut q = QueryBuilder::<Postgres>::new(
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
                    // The unit's error rolls the transaction back: nothing is deleted.
                    return Err(StoreError::NotFound(format!(
                        "{} of {} datapoints not found in the collection, nothing deleted",
                        unique.len() as u64 - deleted,
                        unique.len()
                    )));
                }
                Ok(deleted)
            })
        }))
    }

    fn query_range(
        &self,
        query: RangeQuery,
    ) -> BoxFuture<'_, Result<Vec<DatapointRecord>, StoreError>> {
        Box::pin(async move {
            let read_data = query.with_data || query.filter.is_some();
            let columns = if read_data {
                "id, time_ns, ingestion_time_ns, data"
            } else {
                "id, time_ns, ingestion_time_ns"
            };
            let mut q = QueryBuilder::<Postgres>::new(format!(
                "SELECT {columns} FROM datapoints WHERE collection_id = "
            ));
            q.push_bind(query.collection_id.to_vec());
            push_id_bounds(&mut q, query.lower, query.upper);
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
            // Rows stream in, so a filtered scan stops reading once the page is full.
            let mut rows = q.build().fetch(&self.pool);
            let mut records = Vec::new();
            while (records.len() as u64) < query.limit {
                let Some(row) = rows.try_next().await? else {
                    break;
                };
                let mut record = datapoint_from_row(&row, read_data)?;
                if let Some(filter) = &query.filter
                    && !filter.matches(&record.data)
                {
                    continue;
                }
                if !query.with_data {
                    record.data = Bytes::new();
                }
                records.push(record);
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
            for collection_id in collection_ids {
                let row = sqlx::query(
                    "SELECT id, time_ns, ingestion_time_ns, data FROM datapoints WHERE collection_id = $1 AND id = $2",
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
