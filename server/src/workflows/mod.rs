//! The workflows services of the local server: `WorkflowsService` (clusters), `JobService` and `TaskService`.
//!
//! Typed unary handlers on the same port as the datasets services, over the [`WorkflowsStore`] in
//! [`ServerState::workflows`](crate::state::ServerState) (tables prefixed `wf_` in the same database).
//! Requests are validated and mapped to storage records here ([`validate`], [`wire`]); the state machine and
//! SQL live in [`crate::store::workflows`]. Timings (lease length, idling, reaper) come from
//! [`WorkflowsConfig`](crate::config::WorkflowsConfig).

mod automations;
mod clusters;
mod diagram;
mod job_views;
mod jobs;
mod object_stores;
mod schedule;
mod storage_locations;
mod tasks;
mod telemetry;
mod triggers;
mod validate;
pub(crate) mod wire;
mod workflow_defs;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

pub use self::triggers::spawn_automation_firing;
use crate::registry::ServiceRegistry;
use crate::status::Status;
use crate::store::workflows::{WorkflowsStore, WorkflowsStoreError};

/// Registers every workflows RPC.
pub fn register(registry: &mut ServiceRegistry) {
    automations::register(registry);
    storage_locations::register(registry);
    clusters::register(registry);
    jobs::register(registry);
    tasks::register(registry);
    job_views::register(registry);
    telemetry::register(registry);
    workflow_defs::register(registry);
}

/// Maps storage outcomes to RPC statuses; failures of the database are `internal`.
pub(crate) fn status(e: WorkflowsStoreError) -> Status {
    match e {
        WorkflowsStoreError::NotFound(m) => Status::not_found(m),
        WorkflowsStoreError::AlreadyExists(m) => Status::already_exists(m),
        WorkflowsStoreError::InvalidArgument(m) => Status::invalid_argument(m),
        WorkflowsStoreError::FailedPrecondition(m) => Status::failed_precondition(m),
        other => {
            tracing::error!(error = %other, "workflows storage failure");
            Status::internal(format!("workflows storage failure: {other}"))
        }
    }
}

/// Requeues expired leases every `interval` (at least 10 ms) until the returned task is aborted. Task calls
/// also requeue expired leases, so this only matters while no runner calls in.
pub fn spawn_lease_reaper(store: Arc<dyn WorkflowsStore>, interval: Duration) -> JoinHandle<()> {
    let interval = interval.max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = store.reap_expired().await {
                tracing::warn!(error = %e, "workflows lease reaper");
            }
        }
    })
}
