//! Cluster rows.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::now_us;
use crate::store::workflows::random_suffix;
use crate::store::workflows::{ClusterRecord, NewGroup, WfResult, WorkflowsStoreError};

fn from_row(row: &SqliteRow) -> WfResult<ClusterRecord> {
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

/// Creates the default cluster (`default-<random>`) if there is none.
pub(super) async fn ensure_default(conn: &mut SqliteConnection) -> WfResult<()> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM wf_clusters WHERE is_default = 1")
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        sqlx::query(
            "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
             VALUES (?, 'Default', 'The default cluster', 1, ?)",
        )
        .bind(format!("default-{}", random_suffix(14)))
        .bind(now_us())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The default cluster's slug.
pub(super) async fn default_slug(conn: &mut SqliteConnection) -> WfResult<String> {
    Ok(
        sqlx::query_scalar("SELECT slug FROM wf_clusters WHERE is_default = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// A cluster by slug, the default one for `None`.
pub(super) async fn get(
    conn: &mut SqliteConnection,
    slug: Option<&str>,
) -> WfResult<Option<ClusterRecord>> {
    let row = match slug {
        None => {
            sqlx::query("SELECT * FROM wf_clusters WHERE is_default = 1")
                .fetch_optional(&mut *conn)
                .await?
        }
        Some(slug) => {
            sqlx::query("SELECT * FROM wf_clusters WHERE slug = ?")
                .bind(slug)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    row.as_ref().map(from_row).transpose()
}

/// All clusters, the default one first.
pub(super) async fn list(conn: &mut SqliteConnection) -> WfResult<Vec<ClusterRecord>> {
    let rows =
        sqlx::query("SELECT * FROM wf_clusters ORDER BY is_default DESC, created_at_us, slug")
            .fetch_all(conn)
            .await?;
    rows.iter().map(from_row).collect()
}

pub(super) async fn create(
    conn: &mut SqliteConnection,
    cluster: ClusterRecord,
) -> WfResult<ClusterRecord> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM wf_clusters WHERE slug = ?")
        .bind(&cluster.slug)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_some() {
        return Err(WorkflowsStoreError::AlreadyExists(format!(
            "cluster {:?} already exists",
            cluster.slug
        )));
    }
    sqlx::query(
        "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
         VALUES (?, ?, ?, 0, ?)",
    )
    .bind(&cluster.slug)
    .bind(&cluster.display_name)
    .bind(&cluster.description)
    .bind(now_us())
    .execute(&mut *conn)
    .await?;
    Ok(ClusterRecord {
        is_default: false,
        ..cluster
    })
}

pub(super) async fn update(
    conn: &mut SqliteConnection,
    slug: String,
    display_name: Option<String>,
    description: Option<String>,
) -> WfResult<ClusterRecord> {
    let n = sqlx::query(
        "UPDATE wf_clusters SET display_name = COALESCE(?, display_name),
                description = COALESCE(?, description)
         WHERE slug = ?",
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

pub(super) async fn delete(conn: &mut SqliteConnection, slug: String) -> WfResult<()> {
    let is_default: Option<i64> =
        sqlx::query_scalar("SELECT is_default FROM wf_clusters WHERE slug = ?")
            .bind(&slug)
            .fetch_optional(&mut *conn)
            .await?;
    match is_default {
        None => Err(not_found(&slug)),
        Some(d) if d != 0 => Err(WorkflowsStoreError::FailedPrecondition(
            "the default cluster cannot be deleted".into(),
        )),
        Some(_) => {
            sqlx::query("DELETE FROM wf_clusters WHERE slug = ?")
                .bind(&slug)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    }
}

/// Fails with `InvalidArgument` when a task of `groups` names a cluster that does not exist.
pub(super) async fn check_exist(conn: &mut SqliteConnection, groups: &[NewGroup]) -> WfResult<()> {
    let mut seen: Vec<&str> = Vec::new();
    for cluster in groups
        .iter()
        .flat_map(|g| &g.tasks)
        .filter_map(|t| t.cluster.as_deref())
    {
        if seen.contains(&cluster) {
            continue;
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM wf_clusters WHERE slug = ?")
            .bind(cluster)
            .fetch_optional(&mut *conn)
            .await?;
        if exists.is_none() {
            return Err(WorkflowsStoreError::InvalidArgument(format!(
                "cluster {cluster:?} does not exist"
            )));
        }
        seen.push(cluster);
    }
    Ok(())
}
