//! Automations: a task submitted as a job on a cron schedule or for each new object of a storage location,
//! and the task types that receive their trigger.
//!
//! A triggered task's input is the official client's `Automation { trigger_event, args }` message: the
//! encoded trigger (`TriggeredCronEvent` or `TriggeredStorageEvent`) and the task's own arguments in its
//! usual codec. A [`CronTask`] or [`StorageEventTask`] type `T` is registered with a runner as
//! [`Cron<T>`] or [`OnStorageEvent<T>`], which decode both and hand the trigger to `execute`; so automations
//! and triggered tasks written in Python (`CronTask`, `StorageEventTask`) and in Rust run each other's jobs.

use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use tilebox_core::rpc::RpcClient;
use tilebox_core::wire::workflows::v1 as wf;
use uuid::Uuid;

use crate::client::{id_msg, time_of, timestamp, uuid_of};
use crate::context::TaskContext;
use crate::error::{Result, TaskError, WorkflowsError};
use crate::storage::{StorageEventType, StorageLocation};
use crate::task::{Task, TaskCodec, TaskIdentifier, TaskSpec, check_input};

/// A task run on a cron schedule: its arguments are the value itself, the scheduled time comes with each
/// execution. Register it with a runner as [`Cron<Self>`].
pub trait CronTask: TaskCodec + Send + Sync + 'static {
    /// The identifier (name + version) of the task.
    fn identifier() -> TaskIdentifier;

    /// Run the task for the scheduled time in `trigger`.
    fn execute(&self, trigger: &TriggeredCronEvent, ctx: &TaskContext) -> Result<(), TaskError>;
}

/// A task run for each new object of a storage location. Register it with a runner as
/// [`OnStorageEvent<Self>`].
pub trait StorageEventTask: TaskCodec + Send + Sync + 'static {
    /// The identifier (name + version) of the task.
    fn identifier() -> TaskIdentifier;

    /// Run the task for the object event in `trigger`.
    fn execute(&self, trigger: &TriggeredStorageEvent, ctx: &TaskContext) -> Result<(), TaskError>;
}

/// The trigger a cron task receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TriggeredCronEvent {
    /// The scheduled time this execution is for.
    pub time: SystemTime,
}

impl TriggeredCronEvent {
    /// A trigger for `time` (to run a cron task once by hand: [`Cron::once`]).
    pub fn new(time: SystemTime) -> Self {
        Self { time }
    }
}

/// The trigger a storage-event task receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TriggeredStorageEvent {
    /// The storage location (get it with [`StorageLocationClient::get`](crate::StorageLocationClient::get)).
    pub location_id: Uuid,
    /// What happened.
    pub event_type: StorageEventType,
    /// The object's path inside the location.
    pub object_path: String,
}

impl TriggeredStorageEvent {
    /// A "created" event of `object_path` in `location` (to run a storage-event task once by hand).
    pub fn created(location: &StorageLocation, object_path: impl Into<String>) -> Self {
        Self {
            location_id: location.id,
            event_type: StorageEventType::Created,
            object_path: object_path.into(),
        }
    }
}

/// The automation input of a triggered task: the encoded trigger event and the encoded arguments.
fn encode_automation(trigger_event: Vec<u8>, args: Vec<u8>) -> Vec<u8> {
    wf::Automation {
        trigger_event: trigger_event.into(),
        args: args.into(),
    }
    .encode_to_vec()
}

fn decode_automation<T: TaskCodec, E: Message + Default>(input: &[u8]) -> Result<(T, E)> {
    let codec = |e: prost::DecodeError| WorkflowsError::Codec(format!("automation input: {e}"));
    let message = wf::Automation::decode(input).map_err(codec)?;
    let event = E::decode(message.trigger_event).map_err(codec)?;
    Ok((T::decode_input(&message.args)?, event))
}

/// A [`CronTask`] with its trigger: what a runner registers (`register::<Cron<MyTask>>()`) and what the
/// server submits when a cron automation fires.
#[derive(Debug, Clone)]
pub struct Cron<T> {
    /// The task's arguments.
    pub task: T,
    /// The scheduled time.
    pub trigger: TriggeredCronEvent,
}

impl<T: CronTask> Cron<T> {
    /// `task` triggered for `time`, to submit as a job directly (Python's `task.once(time)`).
    pub fn once(task: T, time: SystemTime) -> Self {
        Self {
            task,
            trigger: TriggeredCronEvent::new(time),
        }
    }
}

impl<T: CronTask> TaskCodec for Cron<T> {
    fn encode_input(&self) -> Result<Vec<u8>> {
        let event = wf::TriggeredCronEvent {
            trigger_time: Some(timestamp(self.trigger.time)),
        };
        Ok(encode_automation(
            event.encode_to_vec(),
            self.task.encode_input()?,
        ))
    }

    fn decode_input(input: &[u8]) -> Result<Self> {
        let (task, event) = decode_automation::<T, wf::TriggeredCronEvent>(input)?;
        let time = time_of(event.trigger_time.as_ref()).unwrap_or(UNIX_EPOCH);
        Ok(Self {
            task,
            trigger: TriggeredCronEvent::new(time),
        })
    }
}

impl<T: CronTask> TaskSpec for Cron<T> {
    fn identifier() -> TaskIdentifier {
        T::identifier()
    }
}

impl<T: CronTask> Task for Cron<T> {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        self.task.execute(&self.trigger, ctx)
    }
}

/// A [`StorageEventTask`] with its trigger: what a runner registers (`register::<OnStorageEvent<MyTask>>()`)
/// and what the server submits for a new object.
#[derive(Debug, Clone)]
pub struct OnStorageEvent<T> {
    /// The task's arguments.
    pub task: T,
    /// The object event.
    pub trigger: TriggeredStorageEvent,
}

impl<T: StorageEventTask> OnStorageEvent<T> {
    /// `task` triggered by `trigger`, to submit as a job directly (Python's `task.once(...)`).
    pub fn once(task: T, trigger: TriggeredStorageEvent) -> Self {
        Self { task, trigger }
    }
}

impl<T: StorageEventTask> TaskCodec for OnStorageEvent<T> {
    fn encode_input(&self) -> Result<Vec<u8>> {
        let event = wf::TriggeredStorageEvent {
            storage_location_id: Some(id_msg(self.trigger.location_id)),
            r#type: self.trigger.event_type.to_wire(),
            location: self.trigger.object_path.clone(),
        };
        Ok(encode_automation(
            event.encode_to_vec(),
            self.task.encode_input()?,
        ))
    }

    fn decode_input(input: &[u8]) -> Result<Self> {
        let (task, event) = decode_automation::<T, wf::TriggeredStorageEvent>(input)?;
        Ok(Self {
            task,
            trigger: TriggeredStorageEvent {
                location_id: uuid_of(event.storage_location_id.as_ref()),
                event_type: StorageEventType::from_wire(event.r#type),
                object_path: event.location,
            },
        })
    }
}

impl<T: StorageEventTask> TaskSpec for OnStorageEvent<T> {
    fn identifier() -> TaskIdentifier {
        T::identifier()
    }
}

impl<T: StorageEventTask> Task for OnStorageEvent<T> {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        self.task.execute(&self.trigger, ctx)
    }
}

/// What fires an automation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AutomationTrigger {
    /// A cron schedule: five fields (an optional leading seconds field), `@daily` and friends, an optional
    /// `CRON_TZ=<zone>` prefix.
    Cron {
        /// Trigger id (nil for a trigger not stored yet).
        id: Uuid,
        /// The schedule.
        schedule: String,
        /// The next scheduled time, as the server sent it.
        next_at: Option<SystemTime>,
    },
    /// Each new object of a storage location whose path matches a glob.
    StorageEvent {
        /// Trigger id (nil for a trigger not stored yet).
        id: Uuid,
        /// The location.
        location: StorageLocation,
        /// The glob pattern, e.g. `*.tif` or `**/*.json`.
        glob_pattern: String,
    },
}

impl AutomationTrigger {
    /// A new cron trigger.
    pub fn cron(schedule: impl Into<String>) -> Self {
        Self::Cron {
            id: Uuid::nil(),
            schedule: schedule.into(),
            next_at: None,
        }
    }

    /// A new storage-event trigger.
    pub fn storage_event(location: &StorageLocation, glob_pattern: impl Into<String>) -> Self {
        Self::StorageEvent {
            id: Uuid::nil(),
            location: location.clone(),
            glob_pattern: glob_pattern.into(),
        }
    }
}

/// An automation: the task it submits and its triggers. Change fields of a fetched one and pass it to
/// [`AutomationClient::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Automation {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// The task it submits.
    pub identifier: TaskIdentifier,
    /// The task's encoded arguments (the trigger is added when it fires).
    pub args: Vec<u8>,
    /// Display name of the submitted task.
    pub display: String,
    /// Cluster of the submitted task (empty: the default cluster).
    pub cluster: String,
    /// Retries of the submitted task.
    pub max_retries: u32,
    /// What fires it.
    pub triggers: Vec<AutomationTrigger>,
    /// Disabled automations do not fire.
    pub disabled: bool,
}

impl Automation {
    fn from_wire(a: &wf::AutomationPrototype) -> Self {
        let p = a.prototype.clone().unwrap_or_default();
        let cron = a.cron_triggers.iter().map(|c| AutomationTrigger::Cron {
            id: uuid_of(c.id.as_ref()),
            schedule: c.schedule.clone(),
            next_at: time_of(c.next_scheduled_at.as_ref()),
        });
        let storage = a
            .storage_event_triggers
            .iter()
            .map(|s| AutomationTrigger::StorageEvent {
                id: uuid_of(s.id.as_ref()),
                location: StorageLocation::from_wire(
                    &s.storage_location.clone().unwrap_or_default(),
                ),
                glob_pattern: s.glob_pattern.clone(),
            });
        Self {
            id: uuid_of(a.id.as_ref()),
            name: a.name.clone(),
            identifier: p
                .identifier
                .as_ref()
                .map(TaskIdentifier::from_wire)
                .unwrap_or_else(|| TaskIdentifier::new("", "")),
            args: p.input.to_vec(),
            display: p.display,
            cluster: p.cluster_slug,
            max_retries: u32::try_from(p.max_retries).unwrap_or(0),
            triggers: cron.chain(storage).collect(),
            disabled: a.disabled,
        }
    }

    fn to_wire(&self) -> wf::AutomationPrototype {
        let opt_id = |id: &Uuid| (!id.is_nil()).then(|| id_msg(*id));
        let mut out = wf::AutomationPrototype {
            id: opt_id(&self.id),
            name: self.name.clone(),
            prototype: Some(wf::SingleTaskSubmission {
                cluster_slug: self.cluster.clone(),
                identifier: Some(self.identifier.to_wire()),
                input: self.args.clone().into(),
                display: self.display.clone(),
                dependencies: Vec::new(),
                max_retries: i64::from(self.max_retries),
            }),
            disabled: self.disabled,
            ..Default::default()
        };
        for t in &self.triggers {
            match t {
                AutomationTrigger::Cron { id, schedule, .. } => {
                    out.cron_triggers.push(wf::CronTrigger {
                        id: opt_id(id),
                        schedule: schedule.clone(),
                        next_scheduled_at: None,
                    })
                }
                AutomationTrigger::StorageEvent {
                    id,
                    location,
                    glob_pattern,
                } => out.storage_event_triggers.push(wf::StorageEventTrigger {
                    id: opt_id(id),
                    storage_location: Some(location.to_wire()),
                    glob_pattern: glob_pattern.clone(),
                }),
            }
        }
        out
    }
}

/// Options of a new automation's task.
#[derive(Debug, Clone, Default)]
pub struct AutomationOptions {
    cluster: String,
    max_retries: u32,
}

impl AutomationOptions {
    /// Defaults: the default cluster, no retries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run the submitted task on this cluster.
    pub fn cluster(mut self, slug: impl Into<String>) -> Self {
        self.cluster = slug.into();
        self
    }

    /// Retries of the submitted task.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }
}

/// Automations.
#[derive(Clone, Debug)]
pub struct AutomationClient {
    rpc: RpcClient,
}

impl AutomationClient {
    pub(crate) fn new(rpc: RpcClient) -> Self {
        Self { rpc }
    }

    /// Every automation.
    pub async fn list(&self) -> Result<Vec<Automation>> {
        let resp = self.rpc.list_automations().await?;
        Ok(resp.automations.iter().map(Automation::from_wire).collect())
    }

    /// An automation by id (`not_found` for an unknown id).
    pub async fn get(&self, id: Uuid) -> Result<Automation> {
        Ok(Automation::from_wire(
            &self.rpc.get_automation(id_msg(id)).await?,
        ))
    }

    /// Create an automation submitting `task` on each of the cron `schedules` (an invalid schedule is
    /// refused with `invalid_argument` naming it).
    pub async fn create_cron<T: CronTask>(
        &self,
        name: &str,
        task: &T,
        schedules: &[&str],
        options: AutomationOptions,
    ) -> Result<Automation> {
        let triggers = schedules.iter().map(|s| AutomationTrigger::cron(*s));
        let args = check_input(&T::identifier(), task.encode_input()?)?;
        self.create(name, T::identifier(), args, triggers, options)
            .await
    }

    /// Create an automation submitting `task` for each new object of `location` whose path matches one of
    /// `glob_patterns`.
    pub async fn create_storage_event<T: StorageEventTask>(
        &self,
        name: &str,
        task: &T,
        location: &StorageLocation,
        glob_patterns: &[&str],
        options: AutomationOptions,
    ) -> Result<Automation> {
        let triggers = glob_patterns
            .iter()
            .map(|g| AutomationTrigger::storage_event(location, *g));
        let args = check_input(&T::identifier(), task.encode_input()?)?;
        self.create(name, T::identifier(), args, triggers, options)
            .await
    }

    async fn create(
        &self,
        name: &str,
        identifier: TaskIdentifier,
        args: Vec<u8>,
        triggers: impl Iterator<Item = AutomationTrigger>,
        options: AutomationOptions,
    ) -> Result<Automation> {
        let automation = Automation {
            id: Uuid::nil(),
            name: name.to_owned(),
            display: identifier.name().to_owned(),
            identifier,
            args,
            cluster: options.cluster,
            max_retries: options.max_retries,
            triggers: triggers.collect(),
            disabled: false,
        };
        let created = self.rpc.create_automation(automation.to_wire()).await?;
        Ok(Automation::from_wire(&created))
    }

    /// Replace an automation's name, task, triggers and disabled flag with those of `automation`.
    pub async fn update(&self, automation: &Automation) -> Result<Automation> {
        let updated = self.rpc.update_automation(automation.to_wire()).await?;
        Ok(Automation::from_wire(&updated))
    }

    /// Delete an automation; with `cancel_jobs`, also cancel its jobs that have not finished.
    pub async fn delete(&self, id: Uuid, cancel_jobs: bool) -> Result<()> {
        let req = wf::DeleteAutomationRequest {
            automation_id: Some(id_msg(id)),
            cancel_jobs,
        };
        self.rpc.delete_automation(req).await?;
        Ok(())
    }
}
