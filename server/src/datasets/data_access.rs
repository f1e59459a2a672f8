//! `datasets.v1.DataAccessService`: `Query` (paged by id cursor) and `QueryById`.

use std::ops::Bound;

use bytes::Bytes;
use tilebox_core::wire::datasets::v1::{
    Any, DatasetKind, QueryByIdRequest, QueryFilters, QueryRequest, QueryResultPage, RepeatedAny,
};
use tilebox_core::wire::tilebox::v1::{Id, Pagination};

use super::filter::{RowFilter, RowPredicate};
use super::{internal, load_dataset, parse_id, parse_raw_id, wire_id};
use crate::datapoint::{ms_prefix, skip_data_encoding, timestamp_ns};
use crate::geometry::{CoordinateSystem, SpatialMode, SpatialPredicate};
use crate::registry::{RpcContext, ServiceRegistry};
use crate::schema::DatasetSchema;
use crate::state::ServerState;
use crate::status::Status;
use crate::store::{DatapointRecord, DatasetRecord, RangeQuery, RawId};

/// At most this many collections per request.
const MAX_COLLECTIONS: usize = 100;

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary("datasets.v1.DataAccessService/Query", query);
    r.unary("datasets.v1.DataAccessService/QueryByID", query_by_id);
}

/// Resolves the dataset (explicit, or from the first collection) and the selected collections.
async fn resolve_scope(
    state: &ServerState,
    dataset_id: Option<&Id>,
    collection_ids: &[Id],
) -> Result<(DatasetRecord, DatasetSchema, Vec<RawId>), Status> {
    if collection_ids.len() > MAX_COLLECTIONS {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_COLLECTIONS} collection_ids are allowed"
        )));
    }
    let mut collections = Vec::with_capacity(collection_ids.len());
    for (i, c) in collection_ids.iter().enumerate() {
        collections.push(parse_raw_id(&c.uuid, &format!("collection_ids[{i}]"))?);
    }
    let dataset_id = match dataset_id {
        Some(id) => parse_id(Some(id), "dataset_id")?,
        None => {
            let first = collections.first().ok_or_else(|| {
                Status::invalid_argument("dataset_id or at least one collection id is required")
            })?;
            super::load_collection(state, *first).await?.dataset_id
        }
    };
    let dataset = load_dataset(state, dataset_id).await?;
    let schema = state.schemas.get(
        &dataset.id,
        &dataset.group_id,
        &dataset.code_name,
        &dataset.fields,
    )?;
    let all = state
        .store
        .list_collections(dataset_id)
        .await
        .map_err(internal)?;
    if collections.is_empty() {
        collections = all.iter().map(|c| c.id).collect();
    } else {
        for c in &collections {
            if !all.iter().any(|a| a.id == *c) {
                return Err(Status::not_found("no such collection"));
            }
        }
        collections.sort_unstable();
        collections.dedup();
    }
    Ok((dataset, schema, collections))
}

/// Lower and upper id bound.
type IdRange = (Bound<RawId>, Bound<RawId>);

/// The id bounds a filter selects; `None` when it provably selects nothing.
fn id_bounds(filters: &QueryFilters) -> Result<Option<IdRange>, Status> {
    match (&filters.time_interval, &filters.datapoint_interval) {
        (Some(t), None) => {
            let (Some(start), Some(end)) = (&t.start_time, &t.end_time) else {
                return Err(Status::invalid_argument(
                    "time_interval needs start_time and end_time",
                ));
            };
            let (Some(start_ns), Some(end_ns)) = (timestamp_ns(start), timestamp_ns(end)) else {
                return Err(Status::invalid_argument("time_interval bound out of range"));
            };
            // Millisecond precision: [lo, hi) over floor(time in ms).
            let lo = start_ns.div_euclid(1_000_000) + i64::from(t.start_exclusive);
            let hi = end_ns.div_euclid(1_000_000) + i64::from(t.end_inclusive);
            // Empty and inverted intervals select nothing (a range predicate, as the hosted API answers).
            if hi <= lo {
                return Ok(None);
            }
            let max = 1i64 << 48;
            let (lo, hi) = (lo.clamp(0, max), hi.clamp(0, max));
            if hi <= lo {
                return Ok(None);
            }
            let upper = if hi >= max {
                Bound::Unbounded
            } else {
                Bound::Excluded(ms_prefix(hi))
            };
            Ok(Some((Bound::Included(ms_prefix(lo)), upper)))
        }
        (None, Some(d)) => {
            let start = parse_id(d.start_id.as_ref(), "datapoint_interval.start_id")?;
            let end = parse_id(d.end_id.as_ref(), "datapoint_interval.end_id")?;
            if end < start || (end == start && (d.start_exclusive || !d.end_inclusive)) {
                return Ok(None);
            }
            let lower = if d.start_exclusive {
                Bound::Excluded(start)
            } else {
                Bound::Included(start)
            };
            let upper = if d.end_inclusive {
                Bound::Included(end)
            } else {
                Bound::Excluded(end)
            };
            Ok(Some((lower, upper)))
        }
        (None, None) => Err(Status::invalid_argument(
            "filters need a time_interval or a datapoint_interval",
        )),
        (Some(_), Some(_)) => Err(Status::invalid_argument(
            "only one of time_interval and datapoint_interval may be set",
        )),
    }
}

/// The query's exact spatial filter, if any.
fn spatial_predicate(
    filters: &QueryFilters,
    kind: DatasetKind,
) -> Result<Option<SpatialPredicate>, Status> {
    let Some(spatial) = &filters.spatial_extent else {
        return Ok(None);
    };
    if kind != DatasetKind::Spatiotemporal {
        return Err(Status::invalid_argument(
            "spatial_extent is only supported for spatiotemporal datasets",
        ));
    }
    let geometry = spatial
        .geometry
        .as_ref()
        .ok_or_else(|| Status::invalid_argument("spatial_extent.geometry is required"))?;
    let mode = SpatialMode::from_wire(spatial.mode).ok_or_else(|| {
        Status::invalid_argument(format!("unknown spatial filter mode {}", spatial.mode))
    })?;
    let system = CoordinateSystem::from_wire(spatial.coordinate_system).ok_or_else(|| {
        Status::invalid_argument(format!(
            "unknown spatial coordinate system {}",
            spatial.coordinate_system
        ))
    })?;
    SpatialPredicate::new(&geometry.wkb, mode, system)
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("spatial_extent.geometry: {e}")))
}

async fn query(ctx: RpcContext, req: QueryRequest) -> Result<QueryResultPage, Status> {
    let state = &ctx.state;
    let config = &state.config;
    let filters = req
        .filters
        .clone()
        .ok_or_else(|| Status::invalid_argument("filters are required"))?;
    let page = req.page.clone().unwrap_or_default();
    let limit = match page.limit {
        None => config.default_page_size,
        Some(l) if l < 1 => {
            return Err(Status::invalid_argument(format!(
                "page.limit must be at least 1, got {l}"
            )));
        }
        Some(l) if l as u64 > config.max_page_size => {
            return Err(Status::invalid_argument(format!(
                "page.limit must be at most {}, got {l}",
                config.max_page_size
            )));
        }
        Some(l) => l as u64,
    };
    let cursor = match &page.starting_after {
        Some(id) => Some(parse_raw_id(&id.uuid, "page.starting_after")?),
        None => None,
    };
    let (_dataset, schema, collections) =
        resolve_scope(state, req.dataset_id.as_ref(), &req.collection_ids).await?;
    let spatial = spatial_predicate(&filters, schema.kind)?;
    let row_filter = RowFilter::compile(&filters.expressions, &schema)?;
    let predicate = RowPredicate::new(row_filter, spatial);
    let empty = QueryResultPage {
        data: Some(RepeatedAny {
            type_url: schema.type_url.clone(),
            value: Vec::new(),
        }),
        next_page: None,
    };
    let Some((mut lower, upper)) = id_bounds(&filters)? else {
        return Ok(empty);
    };
    if let Some(after) = cursor {
        let past_lower = match lower {
            Bound::Included(l) => after >= l,
            Bound::Excluded(l) => after >= l,
            Bound::Unbounded => true,
        };
        if past_lower {
            lower = Bound::Excluded(after);
        }
    }

    // Each collection yields its first limit+1 rows in id order; merging them gives the page and tells
    // whether more remain.
    let mut rows: Vec<DatapointRecord> = Vec::new();
    for collection_id in &collections {
        let range = RangeQuery {
            collection_id: *collection_id,
            lower,
            upper,
            bbox: predicate.prefilter().map(|(b, _)| b),
            bbox_within: predicate.prefilter().is_some_and(|(_, within)| within),
            limit: limit + 1,
            with_data: !req.skip_data,
            filter: None,
        };
        let part = predicate
            .scan(state.store.as_ref(), range)
            .await
            .map_err(internal)?;
        rows.extend(part);
    }
    if collections.len() > 1 {
        rows.sort_unstable_by_key(|r| r.id);
    }
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_page = match (more, rows.last()) {
        (true, Some(last)) => Some(Pagination {
            limit: Some(limit as i64),
            starting_after: Some(wire_id(&last.id)),
        }),
        _ => None,
    };
    let value: Vec<Bytes> = rows
        .iter()
        .map(|r| {
            if req.skip_data {
                skip_data_encoding(r)
            } else {
                r.data.clone()
            }
        })
        .collect();
    Ok(QueryResultPage {
        data: Some(RepeatedAny {
            type_url: schema.type_url,
            value,
        }),
        next_page,
    })
}

async fn query_by_id(ctx: RpcContext, req: QueryByIdRequest) -> Result<Any, Status> {
    let id = parse_id(req.id.as_ref(), "id")?;
    let (_dataset, schema, collections) =
        resolve_scope(&ctx.state, req.dataset_id.as_ref(), &req.collection_ids).await?;
    let record = ctx
        .state
        .store
        .get_datapoint(collections, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| Status::not_found("no such datapoint"))?;
    let value = if req.skip_data {
        skip_data_encoding(&record)
    } else {
        record.data
    };
    Ok(Any {
        type_url: schema.type_url,
        value,
    })
}
