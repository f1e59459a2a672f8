//! Workflow definition rows (WorkflowsService CreateWorkflow … DeleteWorkflow).

use super::now_us;
use crate::store::db::{Db, DbError, Row, args};
use crate::store::workflows::{WfResult, WorkflowRecord, WorkflowsStoreError};

const SELECT: &str = "SELECT slug, name, summary, description FROM wf_workflows";

fn from_row(row: &dyn Row) -> Result<WorkflowRecord, DbError> {
    Ok(WorkflowRecord {
        slug: row.get(0)?,
        name: row.get(1)?,
        summary: row.get(2)?,
        description: row.get(3)?,
    })
}

fn not_found(slug: &str) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("workflow {slug:?} not found"))
}

pub(super) fn create(db: &mut dyn Db, w: WorkflowRecord) -> WfResult<WorkflowRecord> {
    let inserted = db.execute(
        "INSERT INTO wf_workflows (slug, name, summary, description, created_at_us)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        args![&w.slug, &w.name, &w.summary, &w.description, now_us()],
    )?;
    if inserted == 0 {
        return Err(WorkflowsStoreError::AlreadyExists(format!(
            "workflow {:?} already exists",
            w.slug
        )));
    }
    Ok(w)
}

pub(super) fn get(db: &mut dyn Db, slug: &str) -> WfResult<Option<WorkflowRecord>> {
    Ok(db.query_opt(&format!("{SELECT} WHERE slug = ?"), args![slug], from_row)?)
}

pub(super) fn list(
    db: &mut dyn Db,
    after: Option<&str>,
    limit: u64,
) -> WfResult<Vec<WorkflowRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(db.query(
        &format!("{SELECT} WHERE slug > ? ORDER BY slug LIMIT ?"),
        args![after.unwrap_or(""), limit],
        from_row,
    )?)
}

pub(super) fn update(
    db: &mut dyn Db,
    slug: &str,
    name: Option<&str>,
    summary: Option<&str>,
    description: Option<&str>,
) -> WfResult<WorkflowRecord> {
    let n = db.execute(
        "UPDATE wf_workflows SET name = COALESCE(?, name), summary = COALESCE(?, summary),
            description = COALESCE(?, description)
         WHERE slug = ?",
        args![name, summary, description, slug],
    )?;
    if n == 0 {
        return Err(not_found(slug));
    }
    get(db, slug)?.ok_or_else(|| not_found(slug))
}

pub(super) fn delete(db: &mut dyn Db, slug: &str) -> WfResult<()> {
    if db.execute("DELETE FROM wf_workflows WHERE slug = ?", args![slug])? == 0 {
        return Err(not_found(slug));
    }
    Ok(())
}
