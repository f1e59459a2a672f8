//! `workflows.v1.StorageLocationService`: storage locations and their events.
//!
//! The server finds new objects itself (see [`super::triggers`]), so the subscription RPCs, which register
//! cloud notification channels with the hosted API, answer `unimplemented`.

use bytes::Bytes;
use prost::Message;
use tilebox_core::wire::tilebox::v1::{Id, Pagination};
use tilebox_core::wire::workflows::v1::{
    CreateStorageLocationRequest, CreateStorageSubscriptionRequest,
    ListStorageSubscriptionEventsRequest, ListStorageSubscriptionsRequest,
    NotifyObjectCreatedRequest, StorageEventType, StorageLocation, StorageLocationReference,
    StorageLocations, StorageSubscription, StorageSubscriptionEvent, StorageSubscriptionEvents,
    StorageSubscriptions, StorageType, TriggeredJob, UpdateStorageLocationRequest,
};

use super::{status, wire};
use crate::registry::{RpcContext, ServiceRegistry};
use crate::status::Status;
use crate::store::workflows::automations::{StorageEventRecord, StorageLocationRecord};

const SERVICE: &str = "workflows.v1.StorageLocationService";
/// Longest location name.
const MAX_NAME: usize = 200;
/// Default and largest page of events.
const EVENT_PAGE: (i64, i64) = (100, 1000);

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary(
        "workflows.v1.StorageLocationService/ListStorageLocations",
        list,
    );
    r.unary(
        "workflows.v1.StorageLocationService/GetStorageLocation",
        get,
    );
    r.unary(
        "workflows.v1.StorageLocationService/CreateStorageLocation",
        create,
    );
    r.unary(
        "workflows.v1.StorageLocationService/UpdateStorageLocation",
        update,
    );
    r.unary(
        "workflows.v1.StorageLocationService/DeleteStorageLocation",
        delete,
    );
    r.unary(
        "workflows.v1.StorageLocationService/ListStorageSubscriptionEvents",
        events,
    );
    r.unary(
        "workflows.v1.StorageLocationService/CreateStorageSubscription",
        |_: RpcContext, _: CreateStorageSubscriptionRequest| {
            no_subscriptions::<StorageSubscription>()
        },
    );
    r.unary(
        "workflows.v1.StorageLocationService/ListStorageSubscriptions",
        |_: RpcContext, _: ListStorageSubscriptionsRequest| {
            no_subscriptions::<StorageSubscriptions>()
        },
    );
    r.unary(
        "workflows.v1.StorageLocationService/GetStorageSubscription",
        |_: RpcContext, _: Id| no_subscriptions::<StorageSubscription>(),
    );
    r.unary(
        "workflows.v1.StorageLocationService/DeleteStorageSubscription",
        |_: RpcContext, _: Id| no_subscriptions::<()>(),
    );
    r.unary(
        "workflows.v1.StorageLocationService/NotifyObjectCreated",
        |_: RpcContext, _: NotifyObjectCreatedRequest| no_subscriptions::<()>(),
    );
}

async fn no_subscriptions<T>() -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{SERVICE}: storage subscriptions are not used by a local server, which lists its storage \
         locations (local directories, S3, GCS and Azure buckets) itself; create a storage location and an \
         automation instead"
    )))
}

/// The wire form of a location.
pub(crate) fn location(l: StorageLocationRecord) -> StorageLocation {
    StorageLocation {
        id: Some(wire_id(&l.id)),
        location: l.location,
        r#type: l.storage_type,
        name: l.name,
        reference: StorageLocationReference::decode(l.reference).ok(),
    }
}

fn wire_id(id: &[u8; 16]) -> Id {
    Id {
        uuid: Bytes::copy_from_slice(id),
    }
}

/// Validates a reference and returns its type and location (bucket, container or absolute directory).
fn check_reference(r: &StorageLocationReference) -> Result<(StorageType, String), Status> {
    let set = [
        r.aws_s3_bucket.is_some(),
        r.gcs_bucket.is_some(),
        r.azure_blob.is_some(),
        r.local.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err(Status::invalid_argument(
            "reference: exactly one of aws_s3_bucket, gcs_bucket, azure_blob and local must be set",
        ));
    }
    let (kind, name) = if let Some(s3) = &r.aws_s3_bucket {
        (
            StorageType::AwsS3,
            ("reference.aws_s3_bucket.bucket", &s3.bucket),
        )
    } else if let Some(gcs) = &r.gcs_bucket {
        (
            StorageType::Gcs,
            ("reference.gcs_bucket.bucket", &gcs.bucket),
        )
    } else if let Some(azure) = &r.azure_blob {
        (
            StorageType::AzureBlob,
            ("reference.azure_blob.container", &azure.container),
        )
    } else {
        let path = &r
            .local
            .as_ref()
            .map(|l| l.path.as_str())
            .unwrap_or_default();
        let dir = std::path::Path::new(path);
        if !dir.is_absolute() || !dir.is_dir() {
            return Err(Status::invalid_argument(format!(
                "reference.local.path: {path:?} is not an absolute path of an existing directory"
            )));
        }
        return Ok((StorageType::Local, (*path).to_owned()));
    };
    if name.1.is_empty() {
        return Err(Status::invalid_argument(format!("{} is required", name.0)));
    }
    if r.r#type != StorageType::Unspecified as i32 && r.r#type != kind as i32 {
        return Err(Status::invalid_argument(
            "reference.type does not match the reference that is set",
        ));
    }
    Ok((kind, name.1.clone()))
}

fn check_name(name: &str) -> Result<(), Status> {
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Status::invalid_argument(format!(
            "name must be 1..={MAX_NAME} characters"
        )));
    }
    Ok(())
}

async fn create(
    ctx: RpcContext,
    req: CreateStorageLocationRequest,
) -> Result<StorageLocation, Status> {
    check_name(&req.name)?;
    let mut reference = req
        .reference
        .ok_or_else(|| Status::invalid_argument("reference is required"))?;
    let (kind, path) = check_reference(&reference)?;
    reference.r#type = kind as i32;
    let created = ctx
        .state
        .workflows
        .create_storage_location(
            req.name,
            kind as i32,
            path,
            Bytes::from(reference.encode_to_vec()),
        )
        .await
        .map_err(status)?;
    Ok(location(created))
}

async fn get(ctx: RpcContext, req: Id) -> Result<StorageLocation, Status> {
    let id = wire::id(Some(&req), "id")?;
    ctx.state
        .workflows
        .get_storage_location(id)
        .await
        .map_err(status)?
        .map(location)
        .ok_or_else(|| {
            Status::not_found(format!(
                "storage location {} not found",
                uuid::Uuid::from_bytes(id)
            ))
        })
}

async fn list(ctx: RpcContext, _req: ()) -> Result<StorageLocations, Status> {
    let locations = ctx
        .state
        .workflows
        .list_storage_locations()
        .await
        .map_err(status)?;
    Ok(StorageLocations {
        locations: locations.into_iter().map(location).collect(),
    })
}

async fn update(
    ctx: RpcContext,
    req: UpdateStorageLocationRequest,
) -> Result<StorageLocation, Status> {
    let id = wire::id(req.storage_location_id.as_ref(), "storage_location_id")?;
    check_name(&req.name)?;
    let updated = ctx
        .state
        .workflows
        .rename_storage_location(id, req.name)
        .await
        .map_err(status)?;
    Ok(location(updated))
}

async fn delete(ctx: RpcContext, req: Id) -> Result<(), Status> {
    let id = wire::id(Some(&req), "id")?;
    ctx.state
        .workflows
        .delete_storage_location(id)
        .await
        .map_err(status)
}

fn event(e: StorageEventRecord) -> StorageSubscriptionEvent {
    StorageSubscriptionEvent {
        id: Some(wire_id(&e.id)),
        object_key: e.object_key,
        r#type: StorageEventType::Created as i32,
        event_time: Some(wire::timestamp(e.event_time_us)),
        received_at: Some(wire::timestamp(e.received_at_us)),
        triggered_jobs: e
            .jobs
            .into_iter()
            .map(|j| TriggeredJob {
                job_id: Some(wire_id(&j.job_id)),
                automation_id: Some(wire_id(&j.automation_id)),
                glob_pattern: j.glob_pattern,
            })
            .collect(),
        storage_subscription_id: None,
    }
}

async fn events(
    ctx: RpcContext,
    req: ListStorageSubscriptionEventsRequest,
) -> Result<StorageSubscriptionEvents, Status> {
    let id = wire::id(req.storage_location_id.as_ref(), "storage_location_id")?;
    let page = req.page.unwrap_or_default();
    let limit = page.limit.unwrap_or(EVENT_PAGE.0);
    if !(1..=EVENT_PAGE.1).contains(&limit) {
        return Err(Status::invalid_argument(format!(
            "page.limit must be 1..={}",
            EVENT_PAGE.1
        )));
    }
    let after = match &page.starting_after {
        Some(a) => Some(wire::id(Some(a), "page.starting_after")?),
        None => None,
    };
    let store = &ctx.state.workflows;
    if store
        .get_storage_location(id)
        .await
        .map_err(status)?
        .is_none()
    {
        return Err(Status::not_found(format!(
            "storage location {} not found",
            uuid::Uuid::from_bytes(id)
        )));
    }
    // One more than asked tells whether another page follows.
    let mut found = store
        .list_storage_events(id, after, limit as u64 + 1)
        .await
        .map_err(status)?;
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let next_page = more.then(|| Pagination {
        limit: Some(limit),
        starting_after: found.last().map(|e| wire_id(&e.id)),
    });
    Ok(StorageSubscriptionEvents {
        events: found.into_iter().map(event).collect(),
        next_page,
    })
}
