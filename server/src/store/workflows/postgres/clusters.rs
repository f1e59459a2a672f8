//! Cluster rows on PostgreSQL.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::now_us;
use crate::store::workflows::random_suffix;
use crate::store::workflows::values::{named_clusters, unknown_cluster};
use crate::store::workflows::{ClusterRecord, NewGroup, WfResult, WorkflowsStoreError};

fn from_row(row: &PgRow) -> WfResult<ClusterRecord> {
    Ok(ClusterRecord {
        slug: row.try_get("slug")?,
        display_name: row.try_get("display_name")?,
        description: row.try_get("description")?,
        is_default: row.try_get::<i64, _>("is_default")? != 0,
    })
}

fn not_found(slug: &str) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("cluster {slug:?} not found"))
}

/// Creates the default cluster (`default-<random>`) if there is none. Server processes starting at once on
/// one database create one: the unique index `wf_clusters_one_default` turns the others' inserts into no-ops.
pub(super) async fn ensure_default(conn: &mut PgConnection) -> WfResult<()> {
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1::BIGINT FROM wf_clusters WHERE is_default = 1")
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_none() {
        sqlx::query(
            "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
             VALUES ($1, 'Default', 'The default cluster', 1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(format!("default-{}", random_suffix(14)))
        .bind(now_us())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The default cluster's slug.
pub(super) async fn default_slug(conn: &mut PgConnection) -> WfResult<String> {
    Ok(
        sqlx::query_scalar("SELECT slug FROM wf_clusters WHERE is_default = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// A cluster by slug, the default one for `None`.
pub(super) async fn get(
    conn: &mut PgConnection,
    slug: Option<&str>,
) -> WfResult<Option<ClusterRecord>> {
    let row = match slug {
        None => {
            sqlx::query("SELECT * FROM wf_clusters WHERE is_default = 1")
                .fetch_optional(&mut *conn)
                .await?
        }
        Some(slug) => {
            sqlx::query("SELECT * FROM wf_clusters WHERE slug = $1")
                .bind(slug)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    row.as_ref().map(from_row).transpose()
}

/// All clusters, the default one first.
pub(super) async fn list(conn: &mut PgConnection) -> WfResult<Vec<ClusterRecord>> {
    let rows =
        sqlx::query("SELECT * FROM wf_clusters ORDER BY is_default DESC, created_at_us, slug")
            .fetch_all(conn)
            .await?;
    rows.iter().map(from_row).collect()
}

pub(super) async fn create(
    conn: &mut PgConnection,
    cluster: ClusterRecord,
) -> WfResult<ClusterRecord> {
    // The primary key settles concurrent creations of one slug.
    let inserted = sqlx::query(
        "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
         VALUES ($1, $2, $3, 0, $4) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(&cluster.slug)
    .bind(&cluster.display_name)
    .bind(&cluster.description)
    .bind(now_us())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(WorkflowsStoreError::AlreadyExists(format!(
            "cluster {:?} already exists",
            cluster.slug
        )));
    }
    Ok(ClusterRecord {
        is_default: false,
        ..cluster
    })
}

pub(super) async fn update(
    conn: &mut PgConnection,
    slug: String,
    display_name: Option<String>,
    description: Option<String>,
) -> WfResult<ClusterRecord> {
    let n = sqlx::query(
        "UPDATE wf_clusters SET display_name = COALESCE($1, display_name),
                description = COALESCE($2, description)
         WHERE slug = $3",
    )
    .bind(display_name)
    .bind(description)
    .bind(&slug)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(not_found(&slug));
    }
    get(conn, Some(&slug))
        .await?
        .ok_or_else(|| not_found(&slug))
}

pub(super) async fn delete(conn: &mut PgConnection, slug: String) -> WfResult<()> {
    let is_default: Option<i64> =
        sqlx::query_scalar("SELECT is_default FROM wf_clusters WHERE slug = $1")
            .bind(&slug)
            .fetch_optional(&mut *conn)
            .await?;
    match is_default {
        None => Err(not_found(&slug)),
        Some(d) if d != 0 => Err(WorkflowsStoreError::FailedPrecondition(
            "the default cluster cannot be deleted".into(),
        )),
        Some(_) => {
            sqlx::query("DELETE FROM wf_clusters WHERE slug = $1")
                .bind(&slug)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    }
}

/// Fails with `InvalidArgument` when a task of `groups` names a cluster that does not exist.
pub(super) async fn check_exist(conn: &mut PgConnection, groups: &[NewGroup]) -> WfResult<()> {
    for cluster in named_clusters(groups) {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1::BIGINT FROM wf_clusters WHERE slug = $1")
                .bind(cluster)
                .fetch_optional(&mut *conn)
                .await?;
        if exists.is_none() {
            return Err(unknown_cluster(cluster));
        }
    }
    Ok(())
}
