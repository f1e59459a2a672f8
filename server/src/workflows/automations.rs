//! `workflows.v1.AutomationService`: automations (a task prototype and its cron and storage-event
//! triggers). The server fires them in [`super::triggers`].

use bytes::Bytes;
use globset::Glob;
use tilebox_core::wire::tilebox::v1::Id;
use tilebox_core::wire::workflows::v1::{
    AutomationPrototype, Automations, CronTrigger, DeleteAutomationRequest, SingleTaskSubmission,
    StorageEventTrigger, TaskIdentifier,
};

use super::schedule::Schedule;
use super::storage_locations::location;
use super::{status, validate, wire};
use crate::registry::{RpcContext, ServiceRegistry};
use crate::status::Status;
use crate::store::RawId;
use crate::store::workflows::automations::{AutomationRecord, AutomationTask, NewAutomation};

/// Longest automation name.
const MAX_NAME: usize = 200;
/// Most triggers of each kind per automation.
const MAX_TRIGGERS: usize = 100;

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary("workflows.v1.AutomationService/ListAutomations", list);
    r.unary("workflows.v1.AutomationService/GetAutomation", get);
    r.unary("workflows.v1.AutomationService/CreateAutomation", create);
    r.unary("workflows.v1.AutomationService/UpdateAutomation", update);
    r.unary("workflows.v1.AutomationService/DeleteAutomation", delete);
}

fn wire_id(id: &RawId) -> Id {
    Id {
        uuid: Bytes::copy_from_slice(id),
    }
}

fn prototype(a: AutomationRecord) -> AutomationPrototype {
    let t = a.task;
    AutomationPrototype {
        id: Some(wire_id(&a.id)),
        name: a.name,
        prototype: Some(SingleTaskSubmission {
            cluster_slug: t.cluster.unwrap_or_default(),
            identifier: Some(TaskIdentifier {
                name: t.name,
                version: t.version,
            }),
            input: t.args,
            display: t.display,
            dependencies: Vec::new(),
            max_retries: t.max_retries,
        }),
        storage_event_triggers: a
            .storage
            .into_iter()
            .map(|s| StorageEventTrigger {
                id: Some(wire_id(&s.id)),
                storage_location: Some(location(s.location)),
                glob_pattern: s.glob_pattern,
            })
            .collect(),
        cron_triggers: a
            .cron
            .into_iter()
            .map(|c| CronTrigger {
                id: Some(wire_id(&c.id)),
                schedule: c.schedule,
                next_scheduled_at: Some(wire::timestamp(c.next_at_us)),
            })
            .collect(),
        disabled: a.disabled,
    }
}

/// Validates a create or update request into what the store keeps.
fn new_automation(req: AutomationPrototype) -> Result<NewAutomation, Status> {
    if req.name.is_empty() || req.name.chars().count() > MAX_NAME {
        return Err(Status::invalid_argument(format!(
            "name must be 1..={MAX_NAME} characters"
        )));
    }
    let p = req
        .prototype
        .ok_or_else(|| Status::invalid_argument("prototype is required"))?;
    let identifier = p
        .identifier
        .ok_or_else(|| Status::invalid_argument("prototype.identifier is required"))?;
    let (major, minor) = validate::check_identifier(&identifier)
        .map_err(|s| Status::invalid_argument(format!("prototype.identifier: {}", s.message)))?;
    if p.max_retries < 0 {
        return Err(Status::invalid_argument(
            "prototype.max_retries must not be negative",
        ));
    }
    if req.cron_triggers.is_empty() && req.storage_event_triggers.is_empty() {
        return Err(Status::invalid_argument(
            "cron_triggers, storage_event_triggers: an automation needs at least one trigger",
        ));
    }
    if req.cron_triggers.len() > MAX_TRIGGERS || req.storage_event_triggers.len() > MAX_TRIGGERS {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_TRIGGERS} triggers of each kind"
        )));
    }
    let now = chrono::Utc::now().timestamp_micros();
    let mut cron = Vec::with_capacity(req.cron_triggers.len());
    for (i, t) in req.cron_triggers.into_iter().enumerate() {
        let next = Schedule::parse(&t.schedule)
            .and_then(|s| s.next_after(now).ok_or_else(|| "never fires".to_owned()))
            .map_err(|e| {
                Status::invalid_argument(format!(
                    "cron_triggers[{i}].schedule: invalid cron schedule {:?}: {e}",
                    t.schedule
                ))
            })?;
        cron.push((t.schedule, next));
    }
    let mut storage = Vec::with_capacity(req.storage_event_triggers.len());
    for (i, t) in req.storage_event_triggers.into_iter().enumerate() {
        let location = t.storage_location.and_then(|l| l.id).ok_or_else(|| {
            Status::invalid_argument(format!(
                "storage_event_triggers[{i}].storage_location.id is required"
            ))
        })?;
        let location = wire::id(
            Some(&location),
            &format!("storage_event_triggers[{i}].storage_location.id"),
        )?;
        if t.glob_pattern.is_empty() {
            return Err(Status::invalid_argument(format!(
                "storage_event_triggers[{i}].glob_pattern must not be empty"
            )));
        }
        Glob::new(&t.glob_pattern).map_err(|e| {
            Status::invalid_argument(format!(
                "storage_event_triggers[{i}].glob_pattern: invalid glob {:?}: {e}",
                t.glob_pattern
            ))
        })?;
        storage.push((location, t.glob_pattern));
    }
    Ok(NewAutomation {
        name: req.name,
        task: AutomationTask {
            name: identifier.name,
            version: identifier.version,
            major,
            minor,
            cluster: Some(p.cluster_slug).filter(|c| !c.is_empty()),
            display: validate::display(&p.display).unwrap_or_else(|| "automation".into()),
            args: p.input,
            max_retries: p.max_retries,
        },
        disabled: req.disabled,
        cron,
        storage,
    })
}

fn not_found(id: &RawId) -> Status {
    Status::not_found(format!(
        "automation {} not found",
        uuid::Uuid::from_bytes(*id)
    ))
}

async fn list(ctx: RpcContext, _req: ()) -> Result<Automations, Status> {
    let all = ctx
        .state
        .workflows
        .list_automations()
        .await
        .map_err(status)?;
    Ok(Automations {
        automations: all.into_iter().map(prototype).collect(),
    })
}

async fn get(ctx: RpcContext, req: Id) -> Result<AutomationPrototype, Status> {
    let id = wire::id(Some(&req), "id")?;
    ctx.state
        .workflows
        .get_automation(id)
        .await
        .map_err(status)?
        .map(prototype)
        .ok_or_else(|| not_found(&id))
}

async fn create(ctx: RpcContext, req: AutomationPrototype) -> Result<AutomationPrototype, Status> {
    let automation = new_automation(req)?;
    let created = ctx
        .state
        .workflows
        .create_automation(automation)
        .await
        .map_err(status)?;
    Ok(prototype(created))
}

async fn update(ctx: RpcContext, req: AutomationPrototype) -> Result<AutomationPrototype, Status> {
    let id = wire::id(req.id.as_ref(), "id")?;
    let automation = new_automation(req)?;
    let updated = ctx
        .state
        .workflows
        .update_automation(id, automation)
        .await
        .map_err(status)?;
    Ok(prototype(updated))
}

async fn delete(ctx: RpcContext, req: DeleteAutomationRequest) -> Result<(), Status> {
    let id = wire::id(req.automation_id.as_ref(), "automation_id")?;
    ctx.state
        .workflows
        .delete_automation(id, req.cancel_jobs)
        .await
        .map_err(status)
}
