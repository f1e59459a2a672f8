//! Storage location rows and the object events they recorded.

use bytes::Bytes;
use prost::Message;
use tilebox_core::wire::tilebox::v1::Id;
use tilebox_core::wire::workflows::v1 as wf;

use super::{Inner, automations, fmt_id, now_us};
use crate::store::RawId;
use crate::store::db::{Db, DbError, Row, args};
use crate::store::workflows::automations::{
    StorageEventRecord, StorageLocationRecord, TriggeredJobRecord,
};
use crate::store::workflows::{WfResult, WorkflowsStoreError};

const SELECT: &str =
    "SELECT id, name, storage_type, location, reference, created_at_us FROM wf_storage_locations";

pub(super) fn not_found(id: &RawId) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("storage location {} not found", fmt_id(id)))
}

fn from_row(row: &dyn Row) -> Result<StorageLocationRecord, DbError> {
    Ok(StorageLocationRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        storage_type: row.get(2)?,
        location: row.get(3)?,
        reference: row.get(4)?,
        created_at_us: row.get(5)?,
    })
}

pub(super) fn get(db: &mut dyn Db, id: &RawId) -> WfResult<Option<StorageLocationRecord>> {
    Ok(db.query_opt(&format!("{SELECT} WHERE id = ?"), args![id], from_row)?)
}

pub(super) fn list(db: &mut dyn Db) -> WfResult<Vec<StorageLocationRecord>> {
    Ok(db.query(
        &format!("{SELECT} ORDER BY created_at_us, id"),
        &[],
        from_row,
    )?)
}

pub(super) fn create(
    inner: &Inner,
    db: &mut dyn Db,
    name: String,
    storage_type: i32,
    location: String,
    reference: Bytes,
) -> WfResult<StorageLocationRecord> {
    let record = StorageLocationRecord {
        id: inner.new_id(),
        name,
        storage_type,
        location,
        reference,
        created_at_us: now_us(),
    };
    db.execute(
        "INSERT INTO wf_storage_locations (id, name, storage_type, location, reference, created_at_us)
         VALUES (?, ?, ?, ?, ?, ?)",
        args![
            &record.id,
            &record.name,
            record.storage_type,
            &record.location,
            &record.reference,
            record.created_at_us
        ],
    )?;
    Ok(record)
}

pub(super) fn rename(db: &mut dyn Db, id: RawId, name: String) -> WfResult<StorageLocationRecord> {
    if db.execute(
        "UPDATE wf_storage_locations SET name = ? WHERE id = ?",
        args![&name, &id],
    )? == 0
    {
        return Err(not_found(&id));
    }
    get(db, &id)?.ok_or_else(|| not_found(&id))
}

pub(super) fn delete(db: &mut dyn Db, id: RawId) -> WfResult<()> {
    if get(db, &id)?.is_none() {
        return Err(not_found(&id));
    }
    let watched: Option<RawId> = db.query_opt(
        "SELECT automation_id FROM wf_storage_triggers WHERE storage_location_id = ?",
        args![&id],
        |r| r.get(0),
    )?;
    if let Some(automation) = watched {
        return Err(WorkflowsStoreError::FailedPrecondition(format!(
            "storage location {} is watched by automation {}: delete the automation first",
            fmt_id(&id),
            fmt_id(&automation)
        )));
    }
    db.execute(
        "DELETE FROM wf_storage_event_jobs WHERE event_id IN
           (SELECT id FROM wf_storage_events WHERE storage_location_id = ?)",
        args![&id],
    )?;
    db.execute(
        "DELETE FROM wf_storage_events WHERE storage_location_id = ?",
        args![&id],
    )?;
    db.execute("DELETE FROM wf_storage_locations WHERE id = ?", args![&id])?;
    Ok(())
}

pub(super) fn event_keys(db: &mut dyn Db, location: &RawId) -> WfResult<Vec<String>> {
    Ok(db.query(
        "SELECT object_key FROM wf_storage_events WHERE storage_location_id = ?",
        args![location],
        |r| r.get(0),
    )?)
}

/// Records an event once; the unit whose insert records it submits the jobs of the matching triggers.
pub(super) fn record_event(
    inner: &Inner,
    db: &mut dyn Db,
    location: RawId,
    object_key: String,
    event_time_us: i64,
    trigger_ids: &[RawId],
) -> WfResult<Option<StorageEventRecord>> {
    if get(db, &location)?.is_none() {
        return Err(not_found(&location));
    }
    let mut event = StorageEventRecord {
        id: inner.new_id(),
        location_id: location,
        object_key,
        event_time_us,
        received_at_us: now_us(),
        jobs: Vec::new(),
    };
    let inserted = db.execute(
        "INSERT INTO wf_storage_events (id, storage_location_id, object_key, event_time_us, received_at_us)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        args![
            &event.id,
            &location,
            &event.object_key,
            event.event_time_us,
            event.received_at_us
        ],
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    let trigger = wf::TriggeredStorageEvent {
        storage_location_id: Some(Id {
            uuid: Bytes::copy_from_slice(&location),
        }),
        r#type: wf::StorageEventType::Created as i32,
        location: event.object_key.clone(),
    }
    .encode_to_vec();
    for (automation, glob_pattern) in
        automations::storage_trigger_targets(db, &location, trigger_ids)?
    {
        let Some(job) = automations::submit(inner, db, &automation, trigger.clone())? else {
            continue;
        };
        db.execute(
            "INSERT INTO wf_storage_event_jobs (event_id, job_id, automation_id, glob_pattern)
             VALUES (?, ?, ?, ?)",
            args![&event.id, &job.id, &automation.id, &glob_pattern],
        )?;
        event.jobs.push(TriggeredJobRecord {
            job_id: job.id,
            automation_id: automation.id,
            glob_pattern,
        });
    }
    Ok(Some(event))
}

/// One page of a location's events, newest first.
pub(super) fn events(
    db: &mut dyn Db,
    location: &RawId,
    starting_after: Option<RawId>,
    limit: u64,
) -> WfResult<Vec<StorageEventRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // The cursor, or the largest id there is.
    let before = starting_after.unwrap_or([0xff; 16]);
    let mut events: Vec<StorageEventRecord> = db.query(
        "SELECT id, object_key, event_time_us, received_at_us FROM wf_storage_events
         WHERE storage_location_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
        args![location, &before, limit],
        |r| {
            Ok(StorageEventRecord {
                id: r.get(0)?,
                location_id: *location,
                object_key: r.get(1)?,
                event_time_us: r.get(2)?,
                received_at_us: r.get(3)?,
                jobs: Vec::new(),
            })
        },
    )?;
    for event in &mut events {
        event.jobs = db.query(
            "SELECT job_id, automation_id, glob_pattern FROM wf_storage_event_jobs
             WHERE event_id = ? ORDER BY job_id",
            args![&event.id],
            |r| {
                Ok(TriggeredJobRecord {
                    job_id: r.get(0)?,
                    automation_id: r.get(1)?,
                    glob_pattern: r.get(2)?,
                })
            },
        )?;
    }
    Ok(events)
}
