//! An in-memory fake of the datasets API behind the `Transport` trait, for testing the loading logic and the
//! client API without I/O. It decodes real Connect requests and answers with real Connect responses.
//!
//! Every request future yields `yields` times before answering (so concurrent requests overlap under any
//! executor), counts requests in flight (max recorded), and can be put on hold (requests never answer)
//! to test cancellation.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet, Timestamp,
};
use tilebox_core::error::Code;
use tilebox_core::time::{datetime_to_timestamp, timestamp_to_datetime};
use tilebox_core::wire::datasets::v1 as pb;
use tilebox_core::wire::tilebox::v1::{Id, Pagination};
use tilebox_core::{
    AsyncSleep, BoxFuture, ClientConfig, HttpRequest, HttpResponse, RetryPolicy, Transport,
    TransportError,
};
use uuid::Uuid;

pub const TYPE_URL: &str = "datasets.v1.group_test.Synthetic";
pub const SLUG: &str = "open_data.test.synthetic";

/// The datapoint message of the fake dataset (typed decoding in tests).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Synthetic {
    #[prost(message, optional, tag = "1")]
    pub time: Option<Timestamp>,
    #[prost(message, optional, tag = "2")]
    pub id: Option<pb::Uuid>,
    #[prost(message, optional, tag = "3")]
    pub ingestion_time: Option<Timestamp>,
    #[prost(string, tag = "4")]
    pub label: String,
    #[prost(int64, tag = "5")]
    pub number: i64,
}

#[derive(Clone, Debug)]
pub struct Stored {
    pub id: Uuid,
    pub time: DateTime<Utc>,
    pub bytes: Bytes,
}

pub struct CollectionData {
    pub id: Uuid,
    pub name: String,
    /// Sorted by id.
    pub points: Vec<Stored>,
}

pub struct State {
    pub collections: Vec<CollectionData>,
}

pub struct Fake {
    pub state: Mutex<State>,
    pub dataset_id: Uuid,
    pub page_size: usize,
    pub yields: usize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub started: AtomicUsize,
    pub completed: AtomicUsize,
    pub hold: AtomicBool,
    pub requests: Mutex<Vec<(String, Bytes)>>,
    /// Queries fail with `unavailable` while this is > 0 (decremented per failure).
    pub fail_queries: AtomicUsize,
}

pub fn id_for(time: DateTime<Utc>, salt: u64) -> Uuid {
    let mut b = [0u8; 16];
    let ms = time.timestamp_millis() as u64;
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6..14].copy_from_slice(&salt.to_be_bytes());
    Uuid::from_bytes(b)
}

pub fn encode_point(time: DateTime<Utc>, id: Uuid, label: &str, number: i64) -> Bytes {
    Bytes::from(
        Synthetic {
            time: Some(datetime_to_timestamp(&time)),
            id: Some(pb::Uuid {
                uuid: Bytes::copy_from_slice(id.as_bytes()),
            }),
            ingestion_time: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            label: label.to_owned(),
            number,
        }
        .encode_to_vec(),
    )
}

/// `n` datapoints spread over 2020 with some sharing the same millisecond, plus a few outside 2020.
pub fn synthetic_points(collection: usize, n: usize) -> Vec<Stored> {
    let start = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let year_ms = 366 * 24 * 3600 * 1000i64;
    let mut points: Vec<Stored> = (0..n)
        .map(|i| {
            // deterministic pseudo-random spread; every 10th point shares the previous one's millisecond
            let base = (i as i64 * 7919 * 1_000_003) % year_ms;
            let ms = if i % 10 == 9 {
                (((i - 1) as i64) * 7919 * 1_000_003) % year_ms
            } else {
                base
            };
            let time =
                start + TimeDelta::milliseconds(ms) + TimeDelta::microseconds((i % 1000) as i64);
            let id = id_for(time, ((collection as u64) << 32) | i as u64);
            Stored {
                id,
                time,
                bytes: encode_point(time, id, &format!("c{collection}-{i}"), i as i64),
            }
        })
        .collect();
    for (k, time) in [
        Utc.with_ymd_and_hms(2019, 12, 31, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap(),
    ]
    .into_iter()
    .enumerate()
    {
        let id = id_for(time, ((collection as u64) << 32) | (1_000_000 + k as u64));
        points.push(Stored {
            id,
            time,
            bytes: encode_point(time, id, "outside", -1),
        });
    }
    points.sort_by_key(|p| p.id);
    points
}

pub fn descriptor_set() -> FileDescriptorSet {
    let field = |name: &str, number: i32, ty: Type, type_name: Option<&str>| FieldDescriptorProto {
        name: Some(name.to_owned()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(ty as i32),
        type_name: type_name.map(str::to_owned),
        json_name: None,
        ..Default::default()
    };
    FileDescriptorSet {
        file: vec![FileDescriptorProto {
            name: Some("datasets/v1/group_test/Synthetic.proto".to_owned()),
            package: Some("datasets.v1.group_test".to_owned()),
            dependency: vec![
                "google/protobuf/timestamp.proto".to_owned(),
                "datasets/v1/well_known_types.proto".to_owned(),
            ],
            message_type: vec![DescriptorProto {
                name: Some("Synthetic".to_owned()),
                field: vec![
                    field("time", 1, Type::Message, Some(".google.protobuf.Timestamp")),
                    field("id", 2, Type::Message, Some(".datasets.v1.UUID")),
                    field(
                        "ingestion_time",
                        3,
                        Type::Message,
                        Some(".google.protobuf.Timestamp"),
                    ),
                    field("label", 4, Type::String, None),
                    field("number", 5, Type::Int64, None),
                ],
                ..Default::default()
            }],
            syntax: Some("proto3".to_owned()),
            ..Default::default()
        }],
    }
}

fn wire_id(id: &Uuid) -> Id {
    Id {
        uuid: Bytes::copy_from_slice(id.as_bytes()),
    }
}

fn read_id(id: &Option<Id>) -> Option<Uuid> {
    id.as_ref().and_then(|i| Uuid::from_slice(&i.uuid).ok())
}

/// Group ids: open_data (root) and test (child).
pub fn group_ids() -> (Uuid, Uuid) {
    (Uuid::from_u128(0xA1), Uuid::from_u128(0xA2))
}

impl Fake {
    /// A fake with collections of the given sizes (named C0, C1, ...), `page_size` per page by default.
    pub fn new(sizes: &[usize], page_size: usize) -> Arc<Self> {
        let collections = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| CollectionData {
                id: Uuid::from_u128(0xC0 + i as u128),
                name: format!("C{i}"),
                points: if n == 0 {
                    Vec::new()
                } else {
                    synthetic_points(i, n)
                },
            })
            .collect();
        Arc::new(Fake {
            state: Mutex::new(State { collections }),
            dataset_id: Uuid::from_u128(0xD0),
            page_size,
            yields: 3,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
            hold: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            fail_queries: AtomicUsize::new(0),
        })
    }

    pub fn config() -> ClientConfig {
        ClientConfig::builder()
            .url("http://fake.invalid")
            .api_key("test-key")
            .concurrency(4)
            .retry(RetryPolicy::builder().max_attempts(3).build())
            .build()
    }

    pub fn client(self: &Arc<Self>) -> tilebox_core::Client {
        self.client_with(Self::config())
    }

    pub fn client_with(self: &Arc<Self>, config: ClientConfig) -> tilebox_core::Client {
        tilebox_core::Client::new(
            config,
            Arc::new(FakeTransport(self.clone())),
            Arc::new(NoSleep),
        )
    }

    pub fn rpc(self: &Arc<Self>) -> tilebox_core::RpcClient {
        tilebox_core::RpcClient::new(
            Self::config(),
            Arc::new(FakeTransport(self.clone())),
            Arc::new(NoSleep),
        )
    }

    pub fn dataset_wire(&self) -> pb::Dataset {
        pb::Dataset {
            id: Some(wire_id(&self.dataset_id)),
            group_id: Some(wire_id(&group_ids().1)),
            r#type: Some(pb::AnnotatedType {
                descriptor_set: Some(descriptor_set()),
                type_url: TYPE_URL.to_owned(),
                field_annotations: vec![],
                kind: pb::DatasetKind::Temporal as i32,
            }),
            code_name: "synthetic".to_owned(),
            name: "Synthetic".to_owned(),
            slug: SLUG.to_owned(),
            ..Default::default()
        }
    }

    fn collection_info(c: &CollectionData) -> pb::CollectionInfo {
        let availability = match (
            c.points.iter().map(|p| p.time).min(),
            c.points.iter().map(|p| p.time).max(),
        ) {
            (Some(first), Some(last)) => pb_interval(first, last, false, true),
            _ => tilebox_core::wire::tilebox::v1::TimeInterval {
                start_time: Some(Timestamp::default()),
                end_time: Some(Timestamp::default()),
                start_exclusive: false,
                end_inclusive: false,
            },
        };
        pb::CollectionInfo {
            collection: Some(pb::Collection {
                name: c.name.clone(),
                id: Some(wire_id(&c.id)),
            }),
            availability: Some(availability),
            count: Some(c.points.len() as u64),
        }
    }

    /// All datapoints of the selected collections matching the filters, ordered by id (the fake's truth).
    pub fn expected(
        &self,
        collection_names: &[&str],
        interval: &tilebox_core::TimeInterval,
    ) -> Vec<Bytes> {
        let state = self.state.lock().unwrap();
        let mut points: Vec<&Stored> = state
            .collections
            .iter()
            .filter(|c| collection_names.contains(&c.name.as_str()))
            .flat_map(|c| c.points.iter())
            .filter(|p| matches_ms(&interval.to_wire(), p.time))
            .collect();
        points.sort_by_key(|p| p.id);
        points.into_iter().map(|p| p.bytes.clone()).collect()
    }

    pub fn methods(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }

    fn answer(&self, method: &str, body: Bytes) -> Result<Bytes, (Code, String)> {
        let mut state = self.state.lock().unwrap();
        let find_collection = |state: &State, id: &Option<Id>| -> Result<usize, (Code, String)> {
            let id =
                read_id(id).ok_or((Code::InvalidArgument, "missing collection id".to_owned()))?;
            state
                .collections
                .iter()
                .position(|c| c.id == id)
                .ok_or((Code::NotFound, "no such collection".to_owned()))
        };
        let check_dataset = |id: &Option<Id>| -> Result<(), (Code, String)> {
            if read_id(id) == Some(self.dataset_id) {
                Ok(())
            } else {
                Err((Code::NotFound, "no such dataset".to_owned()))
            }
        };
        let bad = |e: prost::DecodeError| (Code::InvalidArgument, e.to_string());
        Ok(match method {
            "datasets.v1.DatasetService/ListDatasets" => {
                let (root, child) = group_ids();
                pb::ListDatasetsResponse {
                    datasets: vec![self.dataset_wire()],
                    // child listed before its parent on purpose
                    groups: vec![
                        pb::DatasetGroup { id: Some(wire_id(&child)), parent_id: Some(wire_id(&root)), code_name: "test".into(), name: "Test".into(), icon: String::new() },
                        pb::DatasetGroup { id: Some(wire_id(&root)), parent_id: None, code_name: "open_data".into(), name: "Open data".into(), icon: String::new() },
                    ],
                    server_message: String::new(),
                    owned_datasets: 0,
                    maximum_owned_datasets: None,
                }
                .encode_to_vec()
            }
            "datasets.v1.DatasetService/GetDataset" => {
                let req = pb::GetDatasetRequest::decode(body).map_err(bad)?;
                if req.slug == SLUG || req.slug == "synthetic" || read_id(&req.id) == Some(self.dataset_id) {
                    self.dataset_wire().encode_to_vec()
                } else {
                    return Err((Code::NotFound, "no such dataset".into()));
                }
            }
            "datasets.v1.DatasetService/CreateDataset" => {
                let req = pb::CreateDatasetRequest::decode(body).map_err(bad)?;
                let mut d = self.dataset_wire();
                d.id = Some(wire_id(&Uuid::from_u128(0xD1)));
                d.code_name = req.code_name.clone();
                d.name = req.name.clone();
                d.slug = format!("org.{}", req.code_name);
                // echo the requested fields as the descriptor (numbers = positions)
                let fields = req.r#type.map(|t| t.fields).unwrap_or_default();
                let mut set = descriptor_set();
                set.file[0].message_type[0].field = fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| FieldDescriptorProto { number: Some(i as i32 + 1), ..f.descriptor.clone().unwrap_or_default() })
                    .collect();
                if let Some(t) = d.r#type.as_mut() {
                    t.descriptor_set = Some(set);
                }
                d.encode_to_vec()
            }
            "datasets.v1.DatasetService/UpdateDataset" => {
                let req = pb::UpdateDatasetRequest::decode(body).map_err(bad)?;
                check_dataset(&req.id)?;
                let mut d = self.dataset_wire();
                if let Some(name) = req.name {
                    d.name = name;
                }
                d.encode_to_vec()
            }
            "datasets.v1.CollectionService/ListCollections" => {
                let req = pb::ListCollectionsRequest::decode(body).map_err(bad)?;
                check_dataset(&req.dataset_id)?;
                pb::ListCollectionsResponse {
                    data: state.collections.iter().map(Self::collection_info).collect(),
                    owned_collections: 0,
                    maximum_owned_collections: None,
                }
                .encode_to_vec()
            }
            "datasets.v1.CollectionService/GetCollectionByName" => {
                let req = pb::GetCollectionByNameRequest::decode(body).map_err(bad)?;
                check_dataset(&req.dataset_id)?;
                let c = state
                    .collections
                    .iter()
                    .find(|c| c.name == req.collection_name)
                    .ok_or((Code::NotFound, "no such collection".to_owned()))?;
                Self::collection_info(c).encode_to_vec()
            }
            "datasets.v1.CollectionService/CreateCollection" => {
                let req = pb::CreateCollectionRequest::decode(body).map_err(bad)?;
                check_dataset(&req.dataset_id)?;
                if state.collections.iter().any(|c| c.name == req.name) {
                    return Err((Code::AlreadyExists, "collection exists".into()));
                }
                let c = CollectionData { id: Uuid::from_u128(0xC0 + state.collections.len() as u128 + 100), name: req.name, points: Vec::new() };
                let info = Self::collection_info(&c);
                state.collections.push(c);
                info.encode_to_vec()
            }
            "datasets.v1.CollectionService/DeleteCollection" => {
                let req = pb::DeleteCollectionRequest::decode(body).map_err(bad)?;
                check_dataset(&req.dataset_id)?;
                let i = find_collection(&state, &req.collection_id)?;
                state.collections.remove(i);
                pb::DeleteCollectionResponse {}.encode_to_vec()
            }
            "datasets.v1.DataAccessService/Query" => {
                let req = pb::QueryRequest::decode(body).map_err(bad)?;
                check_dataset(&req.dataset_id)?;
                if self.fail_queries.load(Ordering::SeqCst) > 0 {
                    self.fail_queries.fetch_sub(1, Ordering::SeqCst);
                    return Err((Code::Unavailable, "try again".into()));
                }
                let filters = req.filters.unwrap_or_default();
                let ids: Vec<Uuid> = req.collection_ids.iter().filter_map(|i| Uuid::from_slice(&i.uuid).ok()).collect();
                let mut points: Vec<&Stored> = state
                    .collections
                    .iter()
                    .filter(|c| ids.is_empty() || ids.contains(&c.id))
                    .flat_map(|c| c.points.iter())
                    .filter(|p| match (&filters.time_interval, &filters.datapoint_interval) {
                        (Some(t), _) => matches_ms(t, p.time),
                        (None, Some(d)) => matches_id(d, p.id),
                        (None, None) => false,
                    })
                    .collect();
                points.sort_by_key(|p| p.id);
                let limit = req.page.as_ref().and_then(|p| p.limit).map_or(self.page_size, |l| l as usize);
                if limit < 1 {
                    return Err((Code::InvalidArgument, "limit must be >= 1".into()));
                }
                let after = req.page.as_ref().and_then(|p| read_id(&p.starting_after));
                let rest: Vec<&Stored> = points.into_iter().filter(|p| after.is_none_or(|a| p.id > a)).collect();
                let page: Vec<&Stored> = rest.iter().take(limit).copied().collect();
                let more = rest.len() > page.len();
                let value = page
                    .iter()
                    .map(|p| {
                        if req.skip_data {
                            let full = Synthetic::decode(p.bytes.clone()).unwrap();
                            Bytes::from(Synthetic { label: String::new(), number: 0, ..full }.encode_to_vec())
                        } else {
                            p.bytes.clone()
                        }
                    })
                    .collect();
                pb::QueryResultPage {
                    data: Some(pb::RepeatedAny { type_url: TYPE_URL.to_owned(), value }),
                    next_page: more.then(|| Pagination { limit: Some(limit as i64), starting_after: page.last().map(|p| wire_id(&p.id)) }),
                }
                .encode_to_vec()
            }
            "datasets.v1.DataAccessService/QueryByID" => {
                let req = pb::QueryByIdRequest::decode(body).map_err(bad)?;
                check_dataset(&req.dataset_id)?;
                let id = req.id.as_ref().and_then(|i| Uuid::from_slice(&i.uuid).ok()).ok_or((Code::InvalidArgument, "bad id".to_owned()))?;
                let ids: Vec<Uuid> = req.collection_ids.iter().filter_map(|i| Uuid::from_slice(&i.uuid).ok()).collect();
                let p = state
                    .collections
                    .iter()
                    .filter(|c| ids.is_empty() || ids.contains(&c.id))
                    .flat_map(|c| c.points.iter())
                    .find(|p| p.id == id)
                    .ok_or((Code::NotFound, "no such datapoint".to_owned()))?;
                pb::Any { type_url: TYPE_URL.to_owned(), value: p.bytes.clone() }.encode_to_vec()
            }
            "datasets.v1.DataIngestionService/Ingest" => {
                let req = pb::IngestRequest::decode(body).map_err(bad)?;
                if req.values.len() > 8192 {
                    return Err((Code::InvalidArgument, "too many values".into()));
                }
                let i = find_collection(&state, &req.collection_id)?;
                let mut created = 0;
                let mut existing = 0;
                let mut ids = Vec::new();
                let mut new_points = Vec::new();
                let known: std::collections::HashSet<Uuid> = state.collections[i].points.iter().map(|p| p.id).collect();
                for v in &req.values {
                    let dp = Synthetic::decode(v.clone()).map_err(bad)?;
                    let time = timestamp_to_datetime(&dp.time.unwrap_or_default()).unwrap();
                    let salt = (dp.number as u64) ^ (dp.label.len() as u64) << 40;
                    let id = id_for(time, salt);
                    let exists = known.contains(&id);
                    if exists {
                        if !req.allow_existing {
                            return Err((Code::InvalidArgument, "found existing datapoints with same id, refusing to ingest with \"allow_existing=false\"".into()));
                        }
                        existing += 1;
                    } else {
                        created += 1;
                        new_points.push(Stored { id, time, bytes: encode_point(time, id, &dp.label, dp.number) });
                    }
                    ids.push(wire_id(&id));
                }
                state.collections[i].points.extend(new_points);
                state.collections[i].points.sort_by_key(|p| p.id);
                pb::IngestResponse { num_created: created, num_existing: existing, datapoint_ids: ids }.encode_to_vec()
            }
            "datasets.v1.DataIngestionService/Delete" => {
                let req = pb::DeleteRequest::decode(body).map_err(bad)?;
                let i = find_collection(&state, &req.collection_id)?;
                let ids: Vec<Uuid> = req.datapoint_ids.iter().filter_map(|i| Uuid::from_slice(&i.uuid).ok()).collect();
                let known: std::collections::HashSet<Uuid> = state.collections[i].points.iter().map(|p| p.id).collect();
                if ids.iter().any(|id| !known.contains(id)) {
                    return Err((Code::NotFound, "datapoints not found, nothing deleted".into()));
                }
                let remove: std::collections::HashSet<Uuid> = ids.iter().copied().collect();
                state.collections[i].points.retain(|p| !remove.contains(&p.id));
                pb::DeleteResponse { num_deleted: ids.len() as i64 }.encode_to_vec()
            }
            other => return Err((Code::Unimplemented, format!("{other} not implemented"))),
        }
        .into())
    }
}

pub fn pb_interval(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    start_exclusive: bool,
    end_inclusive: bool,
) -> tilebox_core::wire::tilebox::v1::TimeInterval {
    tilebox_core::wire::tilebox::v1::TimeInterval {
        start_time: Some(datetime_to_timestamp(&start)),
        end_time: Some(datetime_to_timestamp(&end)),
        start_exclusive,
        end_inclusive,
    }
}

/// Millisecond matching as the server does it (spec §7.1).
pub fn matches_ms(t: &tilebox_core::wire::tilebox::v1::TimeInterval, time: DateTime<Utc>) -> bool {
    let ms = |ts: &Option<Timestamp>| {
        timestamp_to_datetime(&ts.unwrap_or_default())
            .unwrap()
            .timestamp_millis()
    };
    let (s, e, x) = (ms(&t.start_time), ms(&t.end_time), time.timestamp_millis());
    (if t.start_exclusive { x > s } else { x >= s })
        && (if t.end_inclusive { x <= e } else { x < e })
}

fn matches_id(d: &tilebox_core::wire::tilebox::v1::IdInterval, id: Uuid) -> bool {
    let (s, e) = (
        read_id(&d.start_id).unwrap_or_default(),
        read_id(&d.end_id).unwrap_or_default(),
    );
    (if d.start_exclusive { id > s } else { id >= s })
        && (if d.end_inclusive { id <= e } else { id < e })
}

/// Counts a request as in flight until dropped (answered or cancelled).
struct InFlight(Arc<Fake>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Yields `n` times (waking itself), then completes: makes requests overlap without timers.
struct YieldN(usize);

impl Future for YieldN {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Pending while the fake is on hold (re-checks when polled; the test drops the future instead).
struct Hold(Arc<Fake>);

impl Future for Hold {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0.hold.load(Ordering::SeqCst) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// The `Transport` over a shared [`Fake`].
pub struct FakeTransport(pub Arc<Fake>);

impl Transport for FakeTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let this = self.0.clone();
        Box::pin(async move {
            let now = this.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            this.max_in_flight.fetch_max(now, Ordering::SeqCst);
            this.started.fetch_add(1, Ordering::SeqCst);
            let _guard = InFlight(this.clone());
            let path = request.uri().path().trim_start_matches('/').to_owned();
            let (parts, body) = request.into_parts();
            assert_eq!(parts.method, http::Method::POST);
            assert_eq!(
                parts.headers.get("content-type").unwrap(),
                "application/proto"
            );
            let body = tilebox_core::connect::decode_body(&parts.headers, body).unwrap();
            this.requests
                .lock()
                .unwrap()
                .push((path.clone(), body.clone()));
            YieldN(this.yields).await;
            Hold(this.clone()).await;
            let response = match this.answer(&path, body) {
                Ok(bytes) => http::Response::builder()
                    .status(200)
                    .header("content-type", "application/proto")
                    .body(bytes),
                Err((code, message)) => http::Response::builder()
                    .status(code.http_status())
                    .header("content-type", "application/json")
                    .body(tilebox_core::connect::error_body(code, &message)),
            };
            this.completed.fetch_add(1, Ordering::SeqCst);
            Ok(response.unwrap())
        })
    }
}

pub struct NoSleep;

impl AsyncSleep for NoSleep {
    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
