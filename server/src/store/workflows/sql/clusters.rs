//! Cluster rows.

use super::{Inner, now_us};
use crate::store::db::{Db, DbError, Row, args};
use crate::store::workflows::random_suffix;
use crate::store::workflows::values::{named_clusters, unknown_cluster};
use crate::store::workflows::{ClusterRecord, NewGroup, WfResult, WorkflowsStoreError};

const SELECT: &str = "SELECT slug, display_name, description, is_default FROM wf_clusters";

fn from_row(row: &dyn Row) -> Result<ClusterRecord, DbError> {
    Ok(ClusterRecord {
        slug: row.get(0)?,
        display_name: row.get(1)?,
        description: row.get(2)?,
        is_default: row.get(3)?,
    })
}

fn not_found(slug: &str) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("cluster {slug:?} not found"))
}

/// Creates the default cluster (`default-<random>`) if there is none. Server processes starting together on
/// one PostgreSQL database make one: a unique index allows a single default cluster.
pub(super) fn ensure_default(_: &Inner, db: &mut dyn Db) -> WfResult<()> {
    db.execute(
        "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
         SELECT CAST(? AS TEXT), 'Default', 'The default cluster', 1, CAST(? AS BIGINT)
         WHERE NOT EXISTS (SELECT 1 FROM wf_clusters WHERE is_default = 1)
         ON CONFLICT DO NOTHING",
        args![format!("default-{}", random_suffix(14)).as_str(), now_us()],
    )?;
    Ok(())
}

/// The default cluster's slug.
pub(super) fn default_slug(db: &mut dyn Db) -> WfResult<String> {
    Ok(db.scalar("SELECT slug FROM wf_clusters WHERE is_default = 1", &[])?)
}

/// A cluster by slug, the default one for `None`.
pub(super) fn get(db: &mut dyn Db, slug: Option<&str>) -> WfResult<Option<ClusterRecord>> {
    Ok(match slug {
        None => db.query_opt(&format!("{SELECT} WHERE is_default = 1"), &[], from_row)?,
        Some(slug) => db.query_opt(&format!("{SELECT} WHERE slug = ?"), args![slug], from_row)?,
    })
}

/// All clusters, the default one first.
pub(super) fn list(db: &mut dyn Db) -> WfResult<Vec<ClusterRecord>> {
    Ok(db.query(
        &format!("{SELECT} ORDER BY is_default DESC, created_at_us, slug"),
        &[],
        from_row,
    )?)
}

fn exists(db: &mut dyn Db, slug: &str) -> WfResult<bool> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM wf_clusters WHERE slug = ?",
            args![slug],
            |_| Ok(()),
        )?
        .is_some())
}

pub(super) fn create(db: &mut dyn Db, cluster: ClusterRecord) -> WfResult<ClusterRecord> {
    let inserted = db.execute(
        "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
         VALUES (?, ?, ?, 0, ?) ON CONFLICT DO NOTHING",
        args![
            &cluster.slug,
            &cluster.display_name,
            &cluster.description,
            now_us()
        ],
    )?;
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

pub(super) fn update(
    db: &mut dyn Db,
    slug: String,
    display_name: Option<String>,
    description: Option<String>,
) -> WfResult<ClusterRecord> {
    let n = db.execute(
        "UPDATE wf_clusters SET display_name = COALESCE(?, display_name),
            description = COALESCE(?, description)
         WHERE slug = ?",
        args![display_name.as_deref(), description.as_deref(), &slug],
    )?;
    if n == 0 {
        return Err(not_found(&slug));
    }
    get(db, Some(&slug))?.ok_or_else(|| not_found(&slug))
}

pub(super) fn delete(db: &mut dyn Db, slug: String) -> WfResult<()> {
    let is_default: Option<bool> = db.query_opt(
        "SELECT is_default FROM wf_clusters WHERE slug = ?",
        args![&slug],
        |r| r.get(0),
    )?;
    match is_default {
        None => Err(not_found(&slug)),
        Some(true) => Err(WorkflowsStoreError::FailedPrecondition(
            "the default cluster cannot be deleted".into(),
        )),
        Some(false) => {
            db.execute("DELETE FROM wf_clusters WHERE slug = ?", args![&slug])?;
            Ok(())
        }
    }
}

/// Fails with `InvalidArgument` when a task of `groups` names a cluster that does not exist.
pub(super) fn check_exist(db: &mut dyn Db, groups: &[NewGroup]) -> WfResult<()> {
    for cluster in named_clusters(groups) {
        if !exists(db, cluster)? {
            return Err(unknown_cluster(cluster));
        }
    }
    Ok(())
}
