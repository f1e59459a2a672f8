//! `datasets.v1.DatasetService`: list, get, create, update and delete datasets.

use std::collections::HashSet;

use prost::Message as _;
use tilebox_core::wire::datasets::v1::{
    CreateDatasetRequest, DatasetGroup, DatasetPermission, DeleteDatasetRequest,
    DeleteDatasetResponse, GetDatasetRequest, ListDatasetsRequest, UpdateDatasetRequest,
    Visibility,
};

use super::wire::{AnnotatedTypeOut, DatasetOut, ListDatasetsResponseOut, RawDescriptorSet};
use super::{LOCAL_GROUP_CODE_NAME, internal, load_dataset, parse_id, wire_id};
use crate::registry::{RpcContext, ServiceRegistry};
use crate::schema::{is_snake_identifier, normalise_type};
use crate::state::ServerState;
use crate::status::Status;
use crate::store::{DatasetRecord, GroupRecord, RawId, StoreError};

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary("datasets.v1.DatasetService/ListDatasets", list_datasets);
    r.unary("datasets.v1.DatasetService/GetDataset", get_dataset);
    r.unary("datasets.v1.DatasetService/CreateDataset", create_dataset);
    r.unary("datasets.v1.DatasetService/UpdateDataset", update_dataset);
    r.unary("datasets.v1.DatasetService/DeleteDataset", delete_dataset);
}

/// Deterministic id of the group holding datasets created through the API.
pub(crate) fn local_group() -> GroupRecord {
    GroupRecord {
        id: crate::demo::stable_id("group:local"),
        parent_id: None,
        code_name: LOCAL_GROUP_CODE_NAME.to_owned(),
        name: "Local datasets".to_owned(),
        icon: "Folder".to_owned(),
    }
}

pub(crate) fn dataset_out(state: &ServerState, d: &DatasetRecord) -> Result<DatasetOut, Status> {
    let schema = state
        .schemas
        .get(&d.id, &d.group_id, &d.code_name, &d.fields)?;
    Ok(DatasetOut {
        id: Some(wire_id(&d.id)),
        group_id: Some(wire_id(&d.group_id)),
        r#type: Some(AnnotatedTypeOut {
            descriptor_set: Some(RawDescriptorSet {
                file: vec![schema.client_file.clone()],
            }),
            type_url: schema.type_url.clone(),
            field_annotations: schema.annotations.clone(),
            kind: schema.kind as i32,
        }),
        code_name: d.code_name.clone(),
        name: d.name.clone(),
        summary: d.summary.clone(),
        icon: d.icon.clone(),
        description: d.description.clone(),
        permissions: vec![
            DatasetPermission::AccessData as i32,
            DatasetPermission::WriteData as i32,
            DatasetPermission::Edit as i32,
        ],
        visibility: d.visibility,
        slug: d.slug.clone(),
        type_editable: true,
        collections: Vec::new(),
    })
}

fn group_wire(g: &GroupRecord) -> DatasetGroup {
    DatasetGroup {
        id: Some(wire_id(&g.id)),
        parent_id: g.parent_id.as_ref().map(wire_id),
        code_name: g.code_name.clone(),
        name: g.name.clone(),
        icon: g.icon.clone(),
    }
}

async fn list_datasets(
    ctx: RpcContext,
    _req: ListDatasetsRequest,
) -> Result<ListDatasetsResponseOut, Status> {
    let state = &ctx.state;
    let datasets = state.store.list_datasets().await.map_err(internal)?;
    let groups = state.store.list_groups().await.map_err(internal)?;
    // Every group a dataset references, plus their ancestors; skip groups that hold nothing.
    let mut needed: HashSet<RawId> = datasets.iter().map(|d| d.group_id).collect();
    loop {
        let parents: Vec<RawId> = groups
            .iter()
            .filter(|g| needed.contains(&g.id))
            .filter_map(|g| g.parent_id)
            .collect();
        let before = needed.len();
        needed.extend(parents);
        if needed.len() == before {
            break;
        }
    }
    let local = local_group().id;
    let out = datasets
        .iter()
        .map(|d| dataset_out(state, d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ListDatasetsResponseOut {
        owned_datasets: datasets.iter().filter(|d| d.group_id == local).count() as i64,
        datasets: out,
        groups: groups
            .iter()
            .filter(|g| needed.contains(&g.id))
            .map(group_wire)
            .collect(),
        server_message: String::new(),
        maximum_owned_datasets: None,
    })
}

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 300
        && slug
            .split('.')
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

async fn get_dataset(ctx: RpcContext, req: GetDatasetRequest) -> Result<DatasetOut, Status> {
    let state = &ctx.state;
    let record = match (req.slug.is_empty(), req.id.as_ref()) {
        (false, None) => {
            if !valid_slug(&req.slug) {
                return Err(Status::invalid_argument(format!(
                    "invalid dataset slug {:?}",
                    req.slug
                )));
            }
            let mut found = state
                .store
                .get_dataset_by_slug(&req.slug)
                .await
                .map_err(internal)?;
            if found.is_none() && !req.slug.contains('.') {
                let own = format!("{LOCAL_GROUP_CODE_NAME}.{}", req.slug);
                found = state
                    .store
                    .get_dataset_by_slug(&own)
                    .await
                    .map_err(internal)?;
            }
            found.ok_or_else(|| Status::not_found("no such dataset"))?
        }
        (true, Some(id)) => load_dataset(state, parse_id(Some(id), "id")?).await?,
        (true, None) => return Err(Status::invalid_argument("either slug or id is required")),
        (false, Some(_)) => {
            return Err(Status::invalid_argument(
                "only one of slug and id may be set",
            ));
        }
    };
    dataset_out(state, &record)
}

fn check_name(name: &str) -> Result<(), Status> {
    let n = name.chars().count();
    if n == 0 || n > 100 {
        return Err(Status::invalid_argument(
            "dataset name must have 1 to 100 characters",
        ));
    }
    Ok(())
}

fn check_code_name(code_name: &str) -> Result<(), Status> {
    if !is_snake_identifier(code_name) {
        return Err(Status::invalid_argument(format!(
            "invalid code_name {code_name:?}: must match ^[a-z][a-z0-9_]*$ and have at most 100 characters"
        )));
    }
    Ok(())
}

fn conflict_to_already_exists(e: StoreError) -> Status {
    internal(e)
}

async fn create_dataset(ctx: RpcContext, req: CreateDatasetRequest) -> Result<DatasetOut, Status> {
    let state = &ctx.state;
    check_code_name(&req.code_name)?;
    let name = if req.name.is_empty() {
        req.code_name.clone()
    } else {
        req.name.clone()
    };
    check_name(&name)?;
    let requested = req
        .r#type
        .as_ref()
        .ok_or_else(|| Status::invalid_argument("type is required"))?;
    let dataset_type = normalise_type(requested)?;
    let group = local_group();
    state
        .store
        .ensure_group(group.clone())
        .await
        .map_err(internal)?;
    let record = DatasetRecord {
        id: *uuid::Uuid::new_v4().as_bytes(),
        group_id: group.id,
        code_name: req.code_name.clone(),
        slug: format!("{}.{}", group.code_name, req.code_name),
        name,
        summary: req.summary.clone(),
        description: req.description.clone(),
        icon: String::new(),
        kind: dataset_type.kind,
        fields: dataset_type.encode_to_vec().into(),
        visibility: Visibility::Private as i32,
    };
    // Build the schema first so an invalid type never reaches the store.
    let out = dataset_out(state, &record)?;
    state
        .store
        .insert_dataset(record)
        .await
        .map_err(conflict_to_already_exists)?;
    Ok(out)
}

async fn update_dataset(ctx: RpcContext, req: UpdateDatasetRequest) -> Result<DatasetOut, Status> {
    let state = &ctx.state;
    let id = parse_id(req.id.as_ref(), "id")?;
    let mut record = load_dataset(state, id).await?;
    if let Some(name) = req.name {
        check_name(&name)?;
        record.name = name;
    }
    if let Some(summary) = req.summary {
        record.summary = summary;
    }
    if let Some(description) = req.description {
        record.description = description;
    }
    if let Some(code_name) = req.code_name.filter(|c| *c != record.code_name) {
        check_code_name(&code_name)?;
        let prefix = record
            .slug
            .rsplit_once('.')
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default();
        record.slug = if prefix.is_empty() {
            code_name.clone()
        } else {
            format!("{prefix}.{code_name}")
        };
        record.code_name = code_name;
    }
    if let Some(requested) = req.r#type {
        let new_type = normalise_type(&requested)?;
        let old_type = tilebox_core::wire::datasets::v1::DatasetType::decode(record.fields.clone())
            .map_err(|e| Status::internal(format!("stored dataset type is corrupt: {e}")))?;
        if new_type != old_type && state.store.dataset_has_data(id).await.map_err(internal)? {
            let same_kind = new_type.kind == old_type.kind;
            let extends = new_type.fields.len() >= old_type.fields.len()
                && new_type
                    .fields
                    .iter()
                    .zip(&old_type.fields)
                    .all(|(n, o)| n.descriptor == o.descriptor);
            if !same_kind || !extends {
                return Err(Status::failed_precondition(
                    "the dataset has data: its type may only be extended by appending new fields",
                ));
            }
        }
        record.kind = new_type.kind;
        record.fields = new_type.encode_to_vec().into();
    }
    let out = dataset_out(state, &record)?;
    state
        .store
        .update_dataset(record)
        .await
        .map_err(conflict_to_already_exists)?;
    Ok(out)
}

async fn delete_dataset(
    ctx: RpcContext,
    req: DeleteDatasetRequest,
) -> Result<DeleteDatasetResponse, Status> {
    let id = parse_id(req.id.as_ref(), "id")?;
    if !ctx.state.store.delete_dataset(id).await.map_err(internal)? {
        return Err(Status::not_found("no such dataset"));
    }
    Ok(DeleteDatasetResponse { trashed: true })
}
