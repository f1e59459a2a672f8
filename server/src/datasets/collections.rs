//! `datasets.v1.CollectionService`: collections of a dataset, with optional availability and count.

use tilebox_core::wire::datasets::v1::{
    Collection, CollectionInfo, CreateCollectionRequest, DeleteCollectionRequest,
    DeleteCollectionResponse, GetCollectionByNameRequest, ListCollectionsRequest,
    ListCollectionsResponse,
};
use tilebox_core::wire::tilebox::v1::TimeInterval;

use super::{internal, load_collection, load_dataset, parse_id, wire_id};
use crate::datapoint::ns_timestamp;
use crate::registry::{RpcContext, ServiceRegistry};
use crate::state::ServerState;
use crate::status::Status;
use crate::store::CollectionRecord;

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary(
        "datasets.v1.CollectionService/CreateCollection",
        create_collection,
    );
    r.unary(
        "datasets.v1.CollectionService/GetCollectionByName",
        get_collection_by_name,
    );
    r.unary(
        "datasets.v1.CollectionService/DeleteCollection",
        delete_collection,
    );
    r.unary(
        "datasets.v1.CollectionService/ListCollections",
        list_collections,
    );
}

async fn collection_info(
    state: &ServerState,
    c: &CollectionRecord,
    with_availability: bool,
    with_count: bool,
) -> Result<CollectionInfo, Status> {
    let stats = if with_availability || with_count {
        Some(state.store.collection_stats(c.id).await.map_err(internal)?)
    } else {
        None
    };
    let availability = stats
        .filter(|_| with_availability)
        .map(|s| match s.range_ns {
            Some((first, last)) => TimeInterval {
                start_time: Some(ns_timestamp(first)),
                end_time: Some(ns_timestamp(last)),
                start_exclusive: false,
                end_inclusive: true,
            },
            // Empty collection: the all-default interval both official clients read as "empty".
            None => TimeInterval::default(),
        });
    Ok(CollectionInfo {
        collection: Some(Collection {
            name: c.name.clone(),
            id: Some(wire_id(&c.id)),
        }),
        availability,
        count: stats.filter(|_| with_count).map(|s| s.count),
    })
}

fn check_collection_name(name: &str) -> Result<(), Status> {
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Status::invalid_argument(
            "collection name must have 1 to 200 characters",
        ));
    }
    Ok(())
}

async fn create_collection(
    ctx: RpcContext,
    req: CreateCollectionRequest,
) -> Result<CollectionInfo, Status> {
    let dataset_id = parse_id(req.dataset_id.as_ref(), "dataset_id")?;
    check_collection_name(&req.name)?;
    load_dataset(&ctx.state, dataset_id).await?;
    let record = CollectionRecord {
        id: *uuid::Uuid::new_v4().as_bytes(),
        dataset_id,
        name: req.name,
    };
    ctx.state
        .store
        .insert_collection(record.clone())
        .await
        .map_err(internal)?;
    collection_info(&ctx.state, &record, false, false).await
}

async fn get_collection_by_name(
    ctx: RpcContext,
    req: GetCollectionByNameRequest,
) -> Result<CollectionInfo, Status> {
    let dataset_id = parse_id(req.dataset_id.as_ref(), "dataset_id")?;
    check_collection_name(&req.collection_name)?;
    load_dataset(&ctx.state, dataset_id).await?;
    let record = ctx
        .state
        .store
        .get_collection_by_name(dataset_id, &req.collection_name)
        .await
        .map_err(internal)?
        .ok_or_else(|| Status::not_found("no such collection"))?;
    collection_info(&ctx.state, &record, req.with_availability, req.with_count).await
}

async fn delete_collection(
    ctx: RpcContext,
    req: DeleteCollectionRequest,
) -> Result<DeleteCollectionResponse, Status> {
    let collection_id = parse_id(req.collection_id.as_ref(), "collection_id")?;
    let dataset_id = parse_id(req.dataset_id.as_ref(), "dataset_id")?;
    let record = load_collection(&ctx.state, collection_id).await?;
    if record.dataset_id != dataset_id {
        return Err(Status::not_found("no such collection"));
    }
    if !ctx
        .state
        .store
        .delete_collection(collection_id)
        .await
        .map_err(internal)?
    {
        return Err(Status::not_found("no such collection"));
    }
    Ok(DeleteCollectionResponse {})
}

async fn list_collections(
    ctx: RpcContext,
    req: ListCollectionsRequest,
) -> Result<ListCollectionsResponse, Status> {
    let dataset_id = parse_id(req.dataset_id.as_ref(), "dataset_id")?;
    load_dataset(&ctx.state, dataset_id).await?;
    let records = ctx
        .state
        .store
        .list_collections(dataset_id)
        .await
        .map_err(internal)?;
    let mut data = Vec::with_capacity(records.len());
    for c in &records {
        data.push(collection_info(&ctx.state, c, req.with_availability, req.with_count).await?);
    }
    Ok(ListCollectionsResponse {
        owned_collections: data.len() as i64,
        data,
        maximum_owned_collections: None,
    })
}
