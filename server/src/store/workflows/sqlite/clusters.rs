//! Cluster rows.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::now_us;
use crate::store::workflows::random_suffix;
use crate::store::workflows::values::{named_clusters, unknown_cluster};
use crate::store::workflows::{ClusterRecord, NewGroup, WfResult, WorkflowsStoreError};

const COLUMNS: &str = "slug, display_name, description, is_default";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ClusterRecord> {
    Ok(ClusterRecord {
        slug: row.get(0)?,
        display_name: row.get(1)?,
        description: row.get(2)?,
        is_default: row.get::<_, i64>(3)? != 0,
    })
}

fn not_found(slug: &str) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("cluster {slug:?} not found"))
}

/// Creates the default cluster (`default-<random>`) if there is none.
pub(super) fn ensure_default(conn: &Connection) -> WfResult<()> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM wf_clusters WHERE is_default = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        conn.prepare_cached(
            "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
             VALUES (?, 'Default', 'The default cluster', 1, ?)",
        )?
        .execute(params![format!("default-{}", random_suffix(14)), now_us()])?;
    }
    Ok(())
}

/// The default cluster's slug.
pub(super) fn default_slug(conn: &Connection) -> WfResult<String> {
    Ok(conn
        .prepare_cached("SELECT slug FROM wf_clusters WHERE is_default = 1")?
        .query_row([], |r| r.get(0))?)
}

/// A cluster by slug, the default one for `None`.
pub(super) fn get(conn: &Connection, slug: Option<&str>) -> WfResult<Option<ClusterRecord>> {
    let found = match slug {
        None => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM wf_clusters WHERE is_default = 1"
            ))?
            .query_row([], from_row)
            .optional()?,
        Some(slug) => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM wf_clusters WHERE slug = ?"))?
            .query_row([slug], from_row)
            .optional()?,
    };
    Ok(found)
}

/// All clusters, the default one first.
pub(super) fn list(conn: &Connection) -> WfResult<Vec<ClusterRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM wf_clusters ORDER BY is_default DESC, created_at_us, slug"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn exists(conn: &Connection, slug: &str) -> WfResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM wf_clusters WHERE slug = ?")?
        .query_row([slug], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(super) fn create(conn: &Connection, cluster: ClusterRecord) -> WfResult<ClusterRecord> {
    if exists(conn, &cluster.slug)? {
        return Err(WorkflowsStoreError::AlreadyExists(format!(
            "cluster {:?} already exists",
            cluster.slug
        )));
    }
    conn.prepare_cached(
        "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
         VALUES (?, ?, ?, 0, ?)",
    )?
    .execute(params![
        cluster.slug,
        cluster.display_name,
        cluster.description,
        now_us()
    ])?;
    Ok(ClusterRecord {
        is_default: false,
        ..cluster
    })
}

pub(super) fn update(
    conn: &Connection,
    slug: String,
    display_name: Option<String>,
    description: Option<String>,
) -> WfResult<ClusterRecord> {
    let n = conn
        .prepare_cached(
            "UPDATE wf_clusters SET display_name = COALESCE(?, display_name),
                description = COALESCE(?, description)
             WHERE slug = ?",
        )?
        .execute(params![display_name, description, slug])?;
    if n == 0 {
        return Err(not_found(&slug));
    }
    get(conn, Some(&slug))?.ok_or_else(|| not_found(&slug))
}

pub(super) fn delete(conn: &Connection, slug: String) -> WfResult<()> {
    let is_default: Option<i64> = conn
        .prepare_cached("SELECT is_default FROM wf_clusters WHERE slug = ?")?
        .query_row([&slug], |r| r.get(0))
        .optional()?;
    match is_default {
        None => Err(not_found(&slug)),
        Some(d) if d != 0 => Err(WorkflowsStoreError::FailedPrecondition(
            "the default cluster cannot be deleted".into(),
        )),
        Some(_) => {
            conn.prepare_cached("DELETE FROM wf_clusters WHERE slug = ?")?
                .execute([&slug])?;
            Ok(())
        }
    }
}

/// Fails with `InvalidArgument` when a task of `groups` names a cluster that does not exist.
pub(super) fn check_exist(conn: &Connection, groups: &[NewGroup]) -> WfResult<()> {
    for cluster in named_clusters(groups) {
        if !exists(conn, cluster)? {
            return Err(unknown_cluster(cluster));
        }
    }
    Ok(())
}
