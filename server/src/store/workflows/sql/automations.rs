//! Automation rows, their triggers, and cron firings.

use bytes::Bytes;
use futures::future::BoxFuture;
use prost::Message;
use tilebox_core::wire::workflows::v1 as wf;

use super::{Inner, SqlWorkflowsStore, fmt_id, jobs, now_us, storage};
use crate::store::RawId;
use crate::store::db::{Db, DbError, Row, args};
use crate::store::workflows::automations::{
    AutomationRecord, AutomationStore, AutomationTask, CronFiring, CronTriggerRecord, DueCron,
    NewAutomation, StorageEventRecord, StorageLocationRecord, StorageTriggerRecord,
};
use crate::store::workflows::{
    JobRecord, NewGroup, NewJob, NewTask, WfResult, WorkflowsStoreError,
};

const SELECT: &str =
    "SELECT id, name, task_name, task_version, task_major, task_minor, cluster, display,
    args, max_retries, disabled FROM wf_automations";

fn not_found(id: &RawId) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("automation {} not found", fmt_id(id)))
}

/// An automation row without its triggers.
fn from_row(row: &dyn Row) -> Result<AutomationRecord, DbError> {
    Ok(AutomationRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        task: AutomationTask {
            name: row.get(2)?,
            version: row.get(3)?,
            major: row.get(4)?,
            minor: row.get(5)?,
            cluster: row.get(6)?,
            display: row.get(7)?,
            args: row.get(8)?,
            max_retries: row.get(9)?,
        },
        disabled: row.get(10)?,
        cron: Vec::new(),
        storage: Vec::new(),
    })
}

/// Fills in an automation's triggers.
fn with_triggers(db: &mut dyn Db, mut a: AutomationRecord) -> WfResult<AutomationRecord> {
    a.cron = db.query(
        "SELECT id, schedule, next_at_us FROM wf_cron_triggers WHERE automation_id = ? ORDER BY position",
        args![&a.id],
        |r| {
            Ok(CronTriggerRecord {
                id: r.get(0)?,
                schedule: r.get(1)?,
                next_at_us: r.get(2)?,
            })
        },
    )?;
    let storage: Vec<(RawId, RawId, String)> = db.query(
        "SELECT id, storage_location_id, glob_pattern FROM wf_storage_triggers
         WHERE automation_id = ? ORDER BY position",
        args![&a.id],
        |r| r.tuple(),
    )?;
    for (id, location, glob_pattern) in storage {
        let location = storage::get(db, &location)?.ok_or_else(|| storage::not_found(&location))?;
        a.storage.push(StorageTriggerRecord {
            id,
            location,
            glob_pattern,
        });
    }
    Ok(a)
}

pub(super) fn get(db: &mut dyn Db, id: &RawId) -> WfResult<Option<AutomationRecord>> {
    match db.query_opt(&format!("{SELECT} WHERE id = ?"), args![id], from_row)? {
        Some(a) => Ok(Some(with_triggers(db, a)?)),
        None => Ok(None),
    }
}

fn list(db: &mut dyn Db) -> WfResult<Vec<AutomationRecord>> {
    let rows = db.query(
        &format!("{SELECT} ORDER BY created_at_us, id"),
        &[],
        from_row,
    )?;
    rows.into_iter().map(|a| with_triggers(db, a)).collect()
}

/// Checks what an automation refers to, then writes its triggers.
fn insert_triggers(inner: &Inner, db: &mut dyn Db, id: &RawId, a: &NewAutomation) -> WfResult<()> {
    if let Some(cluster) = &a.task.cluster
        && db
            .query_opt(
                "SELECT 1 FROM wf_clusters WHERE slug = ?",
                args![cluster],
                |_| Ok(()),
            )?
            .is_none()
    {
        return Err(WorkflowsStoreError::InvalidArgument(format!(
            "prototype.cluster_slug: cluster {cluster:?} not found"
        )));
    }
    for (position, (schedule, next_at)) in a.cron.iter().enumerate() {
        db.execute(
            "INSERT INTO wf_cron_triggers (id, automation_id, position, schedule, next_at_us)
             VALUES (?, ?, ?, ?, ?)",
            args![&inner.new_id(), id, position as i64, schedule, *next_at],
        )?;
    }
    for (position, (location, glob)) in a.storage.iter().enumerate() {
        if storage::get(db, location)?.is_none() {
            return Err(WorkflowsStoreError::InvalidArgument(format!(
                "storage_event_triggers[{position}].storage_location: storage location {} not found",
                fmt_id(location)
            )));
        }
        db.execute(
            "INSERT INTO wf_storage_triggers (id, automation_id, position, storage_location_id, glob_pattern)
             VALUES (?, ?, ?, ?, ?)",
            args![&inner.new_id(), id, position as i64, location, glob],
        )?;
    }
    Ok(())
}

fn delete_triggers(db: &mut dyn Db, id: &RawId) -> WfResult<()> {
    db.execute(
        "DELETE FROM wf_cron_triggers WHERE automation_id = ?",
        args![id],
    )?;
    db.execute(
        "DELETE FROM wf_storage_triggers WHERE automation_id = ?",
        args![id],
    )?;
    Ok(())
}

fn create(inner: &Inner, db: &mut dyn Db, a: NewAutomation) -> WfResult<AutomationRecord> {
    let id = inner.new_id();
    let t = &a.task;
    db.execute(
        "INSERT INTO wf_automations (id, name, task_name, task_version, task_major, task_minor, cluster,
            display, args, max_retries, disabled, created_at_us)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        args![
            &id,
            &a.name,
            &t.name,
            &t.version,
            t.major,
            t.minor,
            t.cluster.as_deref(),
            &t.display,
            &t.args,
            t.max_retries,
            a.disabled,
            now_us()
        ],
    )?;
    insert_triggers(inner, db, &id, &a)?;
    get(db, &id)?.ok_or_else(|| not_found(&id))
}

fn update(
    inner: &Inner,
    db: &mut dyn Db,
    id: RawId,
    a: NewAutomation,
) -> WfResult<AutomationRecord> {
    let t = &a.task;
    let n = db.execute(
        "UPDATE wf_automations SET name = ?, task_name = ?, task_version = ?, task_major = ?,
            task_minor = ?, cluster = ?, display = ?, args = ?, max_retries = ?, disabled = ?
         WHERE id = ?",
        args![
            &a.name,
            &t.name,
            &t.version,
            t.major,
            t.minor,
            t.cluster.as_deref(),
            &t.display,
            &t.args,
            t.max_retries,
            a.disabled,
            &id
        ],
    )?;
    if n == 0 {
        return Err(not_found(&id));
    }
    delete_triggers(db, &id)?;
    insert_triggers(inner, db, &id, &a)?;
    get(db, &id)?.ok_or_else(|| not_found(&id))
}

fn delete(db: &mut dyn Db, id: RawId, cancel_jobs: bool) -> WfResult<()> {
    if db.execute("DELETE FROM wf_automations WHERE id = ?", args![&id])? == 0 {
        return Err(not_found(&id));
    }
    delete_triggers(db, &id)?;
    if cancel_jobs {
        let job_ids: Vec<RawId> = db.query(
            "SELECT id FROM wf_jobs WHERE automation_id = ? AND canceled = 0",
            args![&id],
            |r| r.get(0),
        )?;
        for job in job_ids {
            jobs::cancel(db, job)?;
        }
    }
    Ok(())
}

/// A random W3C trace parent for a job the server submits.
fn trace_parent() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

/// Submits the job of an automation for a trigger event (an encoded `TriggeredCronEvent` or
/// `TriggeredStorageEvent`); `None` when the automation is disabled.
pub(super) fn submit(
    inner: &Inner,
    db: &mut dyn Db,
    automation: &AutomationRecord,
    trigger_event: Vec<u8>,
) -> WfResult<Option<JobRecord>> {
    if automation.disabled {
        return Ok(None);
    }
    let t = &automation.task;
    let input = wf::Automation {
        trigger_event: trigger_event.into(),
        args: t.args.clone(),
    };
    let job = NewJob {
        name: automation.name.clone(),
        trace_parent: trace_parent(),
        automation_id: Some(automation.id),
        groups: vec![NewGroup {
            deps: Vec::new(),
            tasks: vec![NewTask {
                name: t.name.clone(),
                version: t.version.clone(),
                major: t.major,
                minor: t.minor,
                cluster: t.cluster.clone(),
                display: t.display.clone(),
                input: Bytes::from(input.encode_to_vec()),
                max_retries: t.max_retries,
                optional: false,
            }],
        }],
    };
    jobs::submit(inner, db, job).map(Some)
}

fn due(db: &mut dyn Db, now: i64) -> WfResult<Vec<DueCron>> {
    Ok(db.query(
        "SELECT c.id, c.automation_id, c.schedule, c.next_at_us FROM wf_cron_triggers c
         JOIN wf_automations a ON a.id = c.automation_id
         WHERE c.next_at_us <= ? AND a.disabled = 0 ORDER BY c.next_at_us",
        args![now],
        |r| {
            Ok(DueCron {
                trigger_id: r.get(0)?,
                automation_id: r.get(1)?,
                schedule: r.get(2)?,
                next_at_us: r.get(3)?,
            })
        },
    )?)
}

fn fire(inner: &Inner, db: &mut dyn Db, f: CronFiring) -> WfResult<Option<JobRecord>> {
    // Moving the time forward locks the trigger row: a concurrent firing of the same time waits, then
    // finds the time moved and changes nothing.
    let moved = db.execute(
        "UPDATE wf_cron_triggers SET next_at_us = ? WHERE id = ? AND next_at_us = ?",
        args![f.new_next_us, &f.trigger_id, f.expected_next_us],
    )?;
    if moved == 0 {
        return Ok(None);
    }
    let automation_id: RawId = db.scalar(
        "SELECT automation_id FROM wf_cron_triggers WHERE id = ?",
        args![&f.trigger_id],
    )?;
    let Some(automation) = db.query_opt(
        &format!("{SELECT} WHERE id = ?"),
        args![&automation_id],
        from_row,
    )?
    else {
        return Ok(None);
    };
    let event = wf::TriggeredCronEvent {
        trigger_time: Some(crate::workflows::wire::timestamp(f.trigger_time_us)),
    };
    submit(inner, db, &automation, event.encode_to_vec())
}

/// The automations of storage triggers `ids` that watch `location`, with each trigger's glob.
pub(super) fn storage_trigger_targets(
    db: &mut dyn Db,
    location: &RawId,
    ids: &[RawId],
) -> WfResult<Vec<(AutomationRecord, String)>> {
    let mut out = Vec::new();
    for id in ids {
        let found: Option<(RawId, String)> = db.query_opt(
            "SELECT automation_id, glob_pattern FROM wf_storage_triggers
             WHERE id = ? AND storage_location_id = ?",
            args![id, location],
            |r| r.tuple(),
        )?;
        if let Some((automation, glob)) = found
            && let Some(a) = db.query_opt(
                &format!("{SELECT} WHERE id = ?"),
                args![&automation],
                from_row,
            )?
        {
            out.push((a, glob));
        }
    }
    Ok(out)
}

impl AutomationStore for SqlWorkflowsStore {
    fn create_storage_location(
        &self,
        name: String,
        storage_type: i32,
        location: String,
        reference: Bytes,
    ) -> BoxFuture<'_, WfResult<StorageLocationRecord>> {
        Box::pin(self.write(move |inner, db| {
            storage::create(inner, db, name, storage_type, location, reference)
        }))
    }

    fn get_storage_location(
        &self,
        id: RawId,
    ) -> BoxFuture<'_, WfResult<Option<StorageLocationRecord>>> {
        Box::pin(self.read(move |db| storage::get(db, &id)))
    }

    fn list_storage_locations(&self) -> BoxFuture<'_, WfResult<Vec<StorageLocationRecord>>> {
        Box::pin(self.read(storage::list))
    }

    fn rename_storage_location(
        &self,
        id: RawId,
        name: String,
    ) -> BoxFuture<'_, WfResult<StorageLocationRecord>> {
        Box::pin(self.write(move |_, db| storage::rename(db, id, name)))
    }

    fn delete_storage_location(&self, id: RawId) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, db| storage::delete(db, id)))
    }

    fn create_automation(
        &self,
        automation: NewAutomation,
    ) -> BoxFuture<'_, WfResult<AutomationRecord>> {
        Box::pin(self.write(move |inner, db| create(inner, db, automation)))
    }

    fn get_automation(&self, id: RawId) -> BoxFuture<'_, WfResult<Option<AutomationRecord>>> {
        Box::pin(self.read(move |db| get(db, &id)))
    }

    fn list_automations(&self) -> BoxFuture<'_, WfResult<Vec<AutomationRecord>>> {
        Box::pin(self.read(list))
    }

    fn update_automation(
        &self,
        id: RawId,
        automation: NewAutomation,
    ) -> BoxFuture<'_, WfResult<AutomationRecord>> {
        Box::pin(self.write(move |inner, db| update(inner, db, id, automation)))
    }

    fn delete_automation(&self, id: RawId, cancel_jobs: bool) -> BoxFuture<'_, WfResult<()>> {
        Box::pin(self.write(move |_, db| delete(db, id, cancel_jobs)))
    }

    fn due_cron_triggers(&self, now_us: i64) -> BoxFuture<'_, WfResult<Vec<DueCron>>> {
        Box::pin(self.read(move |db| due(db, now_us)))
    }

    fn fire_cron(&self, firing: CronFiring) -> BoxFuture<'_, WfResult<Option<JobRecord>>> {
        Box::pin(self.write(move |inner, db| fire(inner, db, firing)))
    }

    fn storage_event_keys(&self, location_id: RawId) -> BoxFuture<'_, WfResult<Vec<String>>> {
        Box::pin(self.read(move |db| storage::event_keys(db, &location_id)))
    }

    fn record_storage_event(
        &self,
        location_id: RawId,
        object_key: String,
        event_time_us: i64,
        trigger_ids: Vec<RawId>,
    ) -> BoxFuture<'_, WfResult<Option<StorageEventRecord>>> {
        Box::pin(self.write(move |inner, db| {
            storage::record_event(
                inner,
                db,
                location_id,
                object_key,
                event_time_us,
                &trigger_ids,
            )
        }))
    }

    fn list_storage_events(
        &self,
        location_id: RawId,
        starting_after: Option<RawId>,
        limit: u64,
    ) -> BoxFuture<'_, WfResult<Vec<StorageEventRecord>>> {
        Box::pin(self.read(move |db| storage::events(db, &location_id, starting_after, limit)))
    }
}
