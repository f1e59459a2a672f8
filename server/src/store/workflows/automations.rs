//! Records and storage operations of automations and storage locations ([`AutomationStore`], a supertrait of
//! [`WorkflowsStore`](super::WorkflowsStore)).
//!
//! Firing is decided by the caller (which cron time is due, which globs match an object) and carried out
//! here, each firing one transaction that records it and submits its job:
//!
//! * a cron trigger's `next_at_us` moves forward only if it still holds the value the caller read, so of
//!   several server processes on one database exactly one submits the job of a scheduled time;
//! * an object event is unique per (location, object path): the process whose insert records it submits the
//!   jobs of the matching triggers, the others change nothing.

use bytes::Bytes;
use futures::future::BoxFuture;

use super::{JobRecord, WfResult};
use crate::store::RawId;

/// A bucket, container or directory whose new objects fire storage-event triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageLocationRecord {
    /// Location id.
    pub id: RawId,
    /// Display name.
    pub name: String,
    /// `workflows.v1.StorageType` number.
    pub storage_type: i32,
    /// Bucket, container or directory path.
    pub location: String,
    /// Encoded `workflows.v1.StorageLocationReference`, as given at creation.
    pub reference: Bytes,
    /// Creation time; objects last modified before it are not new.
    pub created_at_us: i64,
}

/// The task an automation submits, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationTask {
    /// Task identifier name.
    pub name: String,
    /// Task identifier version (`vMAJOR.MINOR`).
    pub version: String,
    /// Parsed major version.
    pub major: i64,
    /// Parsed minor version.
    pub minor: i64,
    /// Cluster to run on; `None` for the default cluster.
    pub cluster: Option<String>,
    /// Display name.
    pub display: String,
    /// The task's own encoded arguments (the trigger is added when it fires).
    pub args: Bytes,
    /// How many failures the task may retry.
    pub max_retries: i64,
}

/// A cron trigger of an automation.
#[derive(Debug, Clone, PartialEq)]
pub struct CronTriggerRecord {
    /// Trigger id.
    pub id: RawId,
    /// The schedule as given.
    pub schedule: String,
    /// The next scheduled time.
    pub next_at_us: i64,
}

/// A storage-event trigger of an automation.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageTriggerRecord {
    /// Trigger id.
    pub id: RawId,
    /// The location it watches.
    pub location: StorageLocationRecord,
    /// Glob over object paths inside the location.
    pub glob_pattern: String,
}

/// An automation with its triggers (in the order given).
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationRecord {
    /// Automation id.
    pub id: RawId,
    /// Name; also the name of the jobs it submits.
    pub name: String,
    /// The task it submits.
    pub task: AutomationTask,
    /// A disabled automation does not fire.
    pub disabled: bool,
    /// Cron triggers.
    pub cron: Vec<CronTriggerRecord>,
    /// Storage-event triggers.
    pub storage: Vec<StorageTriggerRecord>,
}

/// An automation to create, or the new content of one to update (its triggers are replaced).
#[derive(Debug, Clone)]
pub struct NewAutomation {
    /// Name.
    pub name: String,
    /// The task it submits.
    pub task: AutomationTask,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Cron triggers: schedule and its first scheduled time.
    pub cron: Vec<(String, i64)>,
    /// Storage-event triggers: location id and glob.
    pub storage: Vec<(RawId, String)>,
}

/// A cron trigger whose scheduled time has come.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCron {
    /// Trigger id.
    pub trigger_id: RawId,
    /// Its automation.
    pub automation_id: RawId,
    /// The schedule.
    pub schedule: String,
    /// The scheduled time that is due (as read).
    pub next_at_us: i64,
}

/// A cron firing: the trigger, the `next_at_us` it was read with, the time it fires for and the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronFiring {
    /// Trigger id.
    pub trigger_id: RawId,
    /// `next_at_us` as read; the firing happens only if it still holds.
    pub expected_next_us: i64,
    /// The scheduled time handed to the task.
    pub trigger_time_us: i64,
    /// The next scheduled time after this firing.
    pub new_next_us: i64,
}

/// A job an object event submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggeredJobRecord {
    /// The job.
    pub job_id: RawId,
    /// The automation whose trigger matched.
    pub automation_id: RawId,
    /// The trigger's glob.
    pub glob_pattern: String,
}

/// A recorded object event of a location.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageEventRecord {
    /// Event id (a UUIDv7: ids sort by recording time).
    pub id: RawId,
    /// The location.
    pub location_id: RawId,
    /// Object path inside the location.
    pub object_key: String,
    /// When the object was created (its modification time).
    pub event_time_us: i64,
    /// When the server recorded the event.
    pub received_at_us: i64,
    /// Jobs it submitted.
    pub jobs: Vec<TriggeredJobRecord>,
}

/// Storage operations of automations and storage locations. Every write is one transaction.
pub trait AutomationStore {
    /// Creates a storage location.
    fn create_storage_location(
        &self,
        name: String,
        storage_type: i32,
        location: String,
        reference: Bytes,
    ) -> BoxFuture<'_, WfResult<StorageLocationRecord>>;
    /// A storage location, `None` when it does not exist.
    fn get_storage_location(
        &self,
        id: RawId,
    ) -> BoxFuture<'_, WfResult<Option<StorageLocationRecord>>>;
    /// All storage locations, oldest first.
    fn list_storage_locations(&self) -> BoxFuture<'_, WfResult<Vec<StorageLocationRecord>>>;
    /// Renames a storage location; `NotFound` when it does not exist.
    fn rename_storage_location(
        &self,
        id: RawId,
        name: String,
    ) -> BoxFuture<'_, WfResult<StorageLocationRecord>>;
    /// Deletes a storage location and its events; `NotFound`, or `FailedPrecondition` while an automation
    /// watches it.
    fn delete_storage_location(&self, id: RawId) -> BoxFuture<'_, WfResult<()>>;

    /// Creates an automation; `InvalidArgument` naming the field for an unknown cluster or location.
    fn create_automation(
        &self,
        automation: NewAutomation,
    ) -> BoxFuture<'_, WfResult<AutomationRecord>>;
    /// An automation, `None` when it does not exist.
    fn get_automation(&self, id: RawId) -> BoxFuture<'_, WfResult<Option<AutomationRecord>>>;
    /// All automations, oldest first.
    fn list_automations(&self) -> BoxFuture<'_, WfResult<Vec<AutomationRecord>>>;
    /// Replaces an automation's content and triggers; `NotFound` when it does not exist.
    fn update_automation(
        &self,
        id: RawId,
        automation: NewAutomation,
    ) -> BoxFuture<'_, WfResult<AutomationRecord>>;
    /// Deletes an automation (and cancels its unfinished jobs when `cancel_jobs`); `NotFound` when it does
    /// not exist.
    fn delete_automation(&self, id: RawId, cancel_jobs: bool) -> BoxFuture<'_, WfResult<()>>;

    /// Cron triggers of enabled automations whose next scheduled time is at or before `now_us`.
    fn due_cron_triggers(&self, now_us: i64) -> BoxFuture<'_, WfResult<Vec<DueCron>>>;
    /// Fires a cron trigger: moves its next time forward and submits its job, or returns `None` when the
    /// trigger is gone, disabled, or was fired by someone else since it was read.
    fn fire_cron(&self, firing: CronFiring) -> BoxFuture<'_, WfResult<Option<JobRecord>>>;
    /// Object paths of a location that have an event recorded.
    fn storage_event_keys(&self, location_id: RawId) -> BoxFuture<'_, WfResult<Vec<String>>>;
    /// Records an object event once and submits one job per trigger of `trigger_ids` (still enabled and
    /// watching the location); `None` when the event had been recorded before.
    fn record_storage_event(
        &self,
        location_id: RawId,
        object_key: String,
        event_time_us: i64,
        trigger_ids: Vec<RawId>,
    ) -> BoxFuture<'_, WfResult<Option<StorageEventRecord>>>;
    /// One page of a location's events, newest first, after the event `starting_after`.
    fn list_storage_events(
        &self,
        location_id: RawId,
        starting_after: Option<RawId>,
        limit: u64,
    ) -> BoxFuture<'_, WfResult<Vec<StorageEventRecord>>>;
}
