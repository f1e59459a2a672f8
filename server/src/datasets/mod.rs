//! The four datasets services (spec §3): DatasetService, CollectionService, DataAccessService and
//! DataIngestionService.

mod collections;
mod data_access;
mod dataset_service;
pub mod filter;
mod ingestion;
pub mod wire;

use tilebox_core::wire::tilebox::v1::Id;

use crate::registry::ServiceRegistry;
use crate::state::ServerState;
use crate::status::Status;
use crate::store::{CollectionRecord, DatasetRecord, RawId, StoreError};

/// Registers every datasets RPC.
pub fn register(registry: &mut ServiceRegistry) {
    dataset_service::register(registry);
    collections::register(registry);
    data_access::register(registry);
    ingestion::register(registry);
}

/// Code name of the group that datasets created through the API belong to.
pub const LOCAL_GROUP_CODE_NAME: &str = "local";

/// Parses a required id field: present, 16 bytes, not nil.
pub(crate) fn parse_id(id: Option<&Id>, what: &str) -> Result<RawId, Status> {
    let id = id.ok_or_else(|| Status::invalid_argument(format!("{what} is required")))?;
    parse_raw_id(&id.uuid, what)
}

/// Validates id bytes: 16 bytes, not nil.
pub(crate) fn parse_raw_id(bytes: &[u8], what: &str) -> Result<RawId, Status> {
    let raw: RawId = bytes.try_into().map_err(|_| {
        Status::invalid_argument(format!(
            "{what}: invalid id, expected 16 bytes, got {}",
            bytes.len()
        ))
    })?;
    if raw == [0u8; 16] {
        return Err(Status::invalid_argument(format!(
            "{what}: the nil UUID is not a valid id"
        )));
    }
    Ok(raw)
}

/// The wire form of an id.
pub(crate) fn wire_id(raw: &RawId) -> Id {
    Id {
        uuid: bytes::Bytes::copy_from_slice(raw),
    }
}

/// Maps storage failures that are not expected outcomes to `internal`.
pub(crate) fn internal(e: StoreError) -> Status {
    match e {
        StoreError::NotFound(m) => Status::not_found(m),
        StoreError::Conflict(m) => Status::already_exists(m),
        other => {
            tracing::error!(error = %other, "storage failure");
            Status::internal(format!("storage failure: {other}"))
        }
    }
}

/// Loads a dataset or answers `not_found` / `no such dataset`.
pub(crate) async fn load_dataset(state: &ServerState, id: RawId) -> Result<DatasetRecord, Status> {
    state
        .store
        .get_dataset(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| Status::not_found("no such dataset"))
}

/// Loads a collection or answers `not_found` / `no such collection`.
pub(crate) async fn load_collection(
    state: &ServerState,
    id: RawId,
) -> Result<CollectionRecord, Status> {
    state
        .store
        .get_collection(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| Status::not_found("no such collection"))
}
