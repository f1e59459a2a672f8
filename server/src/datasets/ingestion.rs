//! `datasets.v1.DataIngestionService`: all-or-nothing `Ingest` and `Delete`.

use tilebox_core::wire::datasets::v1::{
    DeleteRequest, DeleteResponse, IngestRequest, IngestResponse,
};

use super::{internal, load_collection, load_dataset, parse_id, parse_raw_id, wire_id};
use crate::datapoint::{now_ns, prepare};
use crate::registry::{RpcContext, ServiceRegistry};
use crate::status::Status;
use crate::store::StoreError;

/// Most values (or ids) per request, as the hosted API validates.
pub const MAX_BATCH: usize = 8192;

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary("datasets.v1.DataIngestionService/Ingest", ingest);
    r.unary("datasets.v1.DataIngestionService/Delete", delete);
}

async fn ingest(ctx: RpcContext, req: IngestRequest) -> Result<IngestResponse, Status> {
    let state = &ctx.state;
    let collection_id = parse_id(req.collection_id.as_ref(), "collection_id")?;
    if req.values.len() > MAX_BATCH {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_BATCH} values per request, got {}",
            req.values.len()
        )));
    }
    let collection = load_collection(state, collection_id).await?;
    let dataset = load_dataset(state, collection.dataset_id).await?;
    let schema = state.schemas.get(
        &dataset.id,
        &dataset.group_id,
        &dataset.code_name,
        &dataset.fields,
    )?;
    let now = now_ns();
    let mut rows = Vec::with_capacity(req.values.len());
    for (i, value) in req.values.iter().enumerate() {
        let row = prepare(&schema, &collection_id, value, now)
            .map_err(|e| Status::invalid_argument(format!("values[{i}]: {e}")))?;
        rows.push(row);
    }
    let datapoint_ids = rows.iter().map(|r| wire_id(&r.id)).collect();
    let outcome = match state
        .store
        .insert_datapoints(collection_id, rows, req.allow_existing)
        .await
    {
        Ok(o) => o,
        Err(StoreError::Conflict(m)) => return Err(Status::invalid_argument(m)),
        Err(e) => return Err(internal(e)),
    };
    Ok(IngestResponse {
        num_created: outcome.created as i64,
        num_existing: outcome.existing as i64,
        datapoint_ids,
    })
}

async fn delete(ctx: RpcContext, req: DeleteRequest) -> Result<DeleteResponse, Status> {
    let collection_id = parse_id(req.collection_id.as_ref(), "collection_id")?;
    if req.datapoint_ids.len() > MAX_BATCH {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_BATCH} datapoint_ids per request, got {}",
            req.datapoint_ids.len()
        )));
    }
    let mut ids = Vec::with_capacity(req.datapoint_ids.len());
    for (i, id) in req.datapoint_ids.iter().enumerate() {
        ids.push(parse_raw_id(&id.uuid, &format!("datapoint_ids[{i}]"))?);
    }
    load_collection(&ctx.state, collection_id).await?;
    let num_deleted = ctx
        .state
        .store
        .delete_datapoints(collection_id, ids)
        .await
        .map_err(internal)?;
    Ok(DeleteResponse {
        num_deleted: num_deleted as i64,
    })
}
