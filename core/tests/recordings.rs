//! Replays real responses of the hosted Tilebox API (the official Go client's test recordings).
//!
//! The folder comes from `TILEBOX_RECORDINGS` (the `recordings` directory holding `datasets/*.rpcs.bin`);
//! without it every test prints `SKIPPED: <test>: <reason>` and returns. The recordings are data only and are
//! not part of the repository.
//!
//! Three levels: (a) every entry decodes as the message type the call sequence says; (b) the typed calls of
//! `RpcClient` over the replay transport make exactly the recorded RPC sequence and consume every entry;
//! (c) the contents (slugs, type names, collections, counts, datapoints) are what the recordings hold, read
//! through the dynamic datapoint decoder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::executor::block_on;
use prost::Message;
use prost_reflect::Value;
use tilebox_core::connect::gunzip;
use tilebox_core::replay::{ReplayTransport, parse_recording};
use tilebox_core::rpc::rust_client_info;
use tilebox_core::wire::datasets::v1 as pb;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::{
    AsyncSleep, BoxFuture, ClientConfig, DynamicDatapoint, Error, RetryPolicy, RpcClient, Schema,
    TransportError, decode_meta,
};

const SENTINEL2_TYPE: &str = "datasets.v1.group_019039b5c894a3db09e149ee36fe4983.Sentinel2Msi";
const ERS_TYPE: &str = "datasets.v1.group_019039b5b2b1c0c84ad6e3b2b759b69a.ErsSar";

fn recordings() -> Option<PathBuf> {
    match std::env::var_os("TILEBOX_RECORDINGS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            tilebox_test_support::report_skip(
                "TILEBOX_RECORDINGS is not set (point it at the `recordings` fixtures folder)",
            );
            None
        }
    }
}

fn file(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let path = dir.join("datasets").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The decompressed bodies of a recording (all entries are HTTP 200 and gzip).
fn bodies(dir: &std::path::Path, name: &str) -> Vec<Bytes> {
    parse_recording(&file(dir, name))
        .unwrap()
        .into_iter()
        .map(|e| {
            assert_eq!(e.status, 200, "{name}");
            assert!(e.body.starts_with(&[0x1f, 0x8b]), "{name}: gzip body");
            Bytes::from(gunzip(&e.body).unwrap())
        })
        .collect()
}

struct NoSleep;
impl AsyncSleep for NoSleep {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

fn replay(dir: &std::path::Path, name: &str) -> (RpcClient, Arc<ReplayTransport>) {
    let transport = Arc::new(ReplayTransport::from_bytes(&file(dir, name)).unwrap());
    let config = ClientConfig::builder()
        .url("http://replay.invalid")
        .api_key("tbx-api-test")
        .retry(RetryPolicy::none())
        .build();
    (
        RpcClient::new(config, transport.clone(), Arc::new(NoSleep)),
        transport,
    )
}

/// Checks the path sequence, that every entry was used, and that one more call reports exhaustion.
fn finish(client: &RpcClient, transport: &ReplayTransport, expected: &[&str]) {
    let paths = transport.request_paths();
    let expected: Vec<String> = expected
        .iter()
        .map(|m| format!("/datasets.v1.{m}"))
        .collect();
    assert_eq!(paths, expected);
    assert_eq!(
        transport.remaining(),
        0,
        "all recorded entries must be used"
    );
    let err = block_on(client.list_datasets(pb::ListDatasetsRequest::default())).unwrap_err();
    match err {
        Error::Transport {
            source: TransportError::Other(message),
            attempts: 1,
        } => {
            assert_eq!(
                message,
                format!("replay exhausted after {} calls", expected.len())
            )
        }
        other => panic!("expected exhaustion, got {other:?}"),
    }
}

/// The request body of call `i`, decoded as `M`.
fn request<M: Message + Default>(transport: &ReplayTransport, i: usize) -> M {
    M::decode(transport.requests()[i].decoded_body().unwrap()).unwrap()
}

fn uuid(id: &Option<tb::Id>) -> uuid::Uuid {
    uuid::Uuid::from_slice(&id.as_ref().expect("id present").uuid).unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn ts(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos })
}

fn schema_of(dataset: &pb::Dataset) -> Result<Schema, Error> {
    Schema::from_annotated_type(dataset.r#type.as_ref().expect("dataset type"))
}

fn field_count(dataset: &pb::Dataset) -> usize {
    let set = dataset
        .r#type
        .as_ref()
        .unwrap()
        .descriptor_set
        .as_ref()
        .unwrap();
    assert_eq!(
        set.file.len(),
        1,
        "the server sends only the dataset's own file"
    );
    set.file[0].message_type[0].field.len()
}

fn assert_missing_geobuf(dataset: &pb::Dataset) {
    match schema_of(dataset) {
        Err(Error::Decode { message }) => {
            assert!(
                message.contains("datasets.v1.GeobufData"),
                "error must name the missing type: {message}"
            )
        }
        other => panic!("expected a decode error naming GeobufData, got {other:?}"),
    }
}

fn get_by_slug(slug: &str) -> pb::GetDatasetRequest {
    pb::GetDatasetRequest {
        slug: slug.into(),
        id: None,
    }
}

// ---------------------------------------------------------------------------------------------------------
// (a) message level

#[test]
fn every_entry_decodes_as_its_message_type() {
    let Some(dir) = recordings() else { return };
    type Check = fn(&[u8]) -> Result<(), prost::DecodeError>;
    fn ok<M: Message + Default>(b: &[u8]) -> Result<(), prost::DecodeError> {
        M::decode(b).map(|_| ())
    }
    let dataset: Check = ok::<pb::Dataset>;
    let info: Check = ok::<pb::CollectionInfo>;
    let any: Check = ok::<pb::Any>;
    let page: Check = ok::<pb::QueryResultPage>;
    let files: [(&str, Vec<Check>); 9] = [
        ("collection.rpcs.bin", vec![dataset, info]),
        ("collection_get_or_create.rpcs.bin", vec![dataset, info]),
        (
            "collections.rpcs.bin",
            vec![dataset, ok::<pb::ListCollectionsResponse>],
        ),
        ("datapoint_getinto.rpcs.bin", vec![dataset, info, any, any]),
        ("dataset.rpcs.bin", vec![dataset]),
        (
            "dataset_create_or_update.rpcs.bin",
            vec![dataset, dataset, dataset, dataset],
        ),
        ("datasets.rpcs.bin", vec![ok::<pb::ListDatasetsResponse>]),
        ("query.rpcs.bin", vec![dataset, page, page]),
        (
            "query_collections.rpcs.bin",
            vec![dataset, info, page, page],
        ),
    ];
    let mut total = 0;
    for (name, checks) in files {
        let bodies = bodies(&dir, name);
        assert_eq!(bodies.len(), checks.len(), "{name}: number of entries");
        for (i, (body, check)) in bodies.iter().zip(checks).enumerate() {
            check(body).unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
            total += 1;
        }
    }
    assert_eq!(total, 23, "all datasets entries");
}

// ---------------------------------------------------------------------------------------------------------
// (b) + (c) client level, one test per recording

#[test]
fn dataset_get_legacy_schema() {
    let Some(dir) = recordings() else { return };
    let (client, transport) = replay(&dir, "dataset.rpcs.bin");
    let dataset = block_on(client.get_dataset(get_by_slug("open_data.asf.ers_sar"))).unwrap();
    finish(&client, &transport, &["DatasetService/GetDataset"]);
    assert_eq!(
        request::<pb::GetDatasetRequest>(&transport, 0).slug,
        "open_data.asf.ers_sar"
    );
    assert_eq!(
        transport.requests()[0].headers["authorization"],
        "Bearer tbx-api-test"
    );

    assert_eq!(dataset.name, "ERS SAR Granules");
    assert_eq!(dataset.slug, "");
    assert_eq!(dataset.code_name, "");
    assert_eq!(
        uuid(&dataset.id).to_string(),
        "49f17988-9f1c-446e-be2a-f949875b8274"
    );
    assert_eq!(
        uuid(&dataset.group_id).to_string(),
        "019039b5-b2b1-c0c8-4ad6-e3b2b759b69a"
    );
    assert!(
        dataset.description.len() > 1000,
        "long markdown description"
    );
    let ty = dataset.r#type.as_ref().unwrap();
    assert_eq!(ty.type_url, "datasets_internal.v1.ASFSarGranule");
    assert_eq!(ty.kind, pb::DatasetKind::Unspecified as i32);
    assert!(ty.field_annotations.is_empty());
    let file = &ty.descriptor_set.as_ref().unwrap().file[0];
    assert_eq!(file.name(), "datasets_internal/v1/asf_sar_granule.proto");
    assert_eq!(file.syntax(), "proto3");
    assert_eq!(field_count(&dataset), 18);
    // Opening the dataset works; only building its schema fails, naming the removed type.
    assert_missing_geobuf(&dataset);
}

#[test]
fn datasets_list_legacy_catalogue() {
    let Some(dir) = recordings() else { return };
    let (client, transport) = replay(&dir, "datasets.rpcs.bin");
    let req = pb::ListDatasetsRequest {
        client_info: Some(rust_client_info()),
    };
    let list = block_on(client.list_datasets(req)).unwrap();
    finish(&client, &transport, &["DatasetService/ListDatasets"]);
    let sent = request::<pb::ListDatasetsRequest>(&transport, 0)
        .client_info
        .unwrap();
    assert_eq!(sent.name, "Rust");
    assert!(sent.packages.iter().any(|p| p.name == "tilebox-core"));

    assert_eq!(list.server_message, "");
    assert_eq!(list.datasets.len(), 10);
    assert_eq!(list.groups.len(), 4);
    // Rebuild the slugs from the group tree (the 2024 server left `slug` empty).
    let group = |id: &Option<tb::Id>| {
        list.groups
            .iter()
            .find(|g| g.id == *id)
            .expect("group listed")
    };
    let root = list.groups.iter().find(|g| g.parent_id.is_none()).unwrap();
    assert_eq!(
        (
            root.code_name.as_str(),
            root.name.as_str(),
            root.icon.as_str()
        ),
        ("open_data", "Open Data", "Globe")
    );
    let mut slugs: Vec<String> = list
        .datasets
        .iter()
        .map(|d| {
            let mut path = vec![d.code_name.clone()];
            let mut g = group(&d.group_id);
            loop {
                path.insert(0, g.code_name.clone());
                match &g.parent_id {
                    Some(_) => g = group(&g.parent_id),
                    None => break,
                }
            }
            path.join(".")
        })
        .collect();
    slugs.sort();
    assert_eq!(
        slugs,
        [
            "open_data.asf.ers_sar",
            "open_data.copernicus.landsat8_oli_tirs",
            "open_data.copernicus.sentinel1_sar",
            "open_data.copernicus.sentinel2_msi",
            "open_data.copernicus.sentinel3_olci",
            "open_data.copernicus.sentinel3_slstr",
            "open_data.copernicus.sentinel3_sral",
            "open_data.copernicus.sentinel3_synergy",
            "open_data.copernicus.sentinel5p_tropomi",
            "open_data.umbra.sar",
        ]
    );
    let s2 = list
        .datasets
        .iter()
        .find(|d| d.code_name == "sentinel2_msi")
        .unwrap();
    assert_eq!(s2.name, "Sentinel-2 MSI Granules");
    assert_eq!(
        s2.r#type.as_ref().unwrap().type_url,
        "datasets_internal.v1.CopernicusDataspaceGranule"
    );
    let umbra = list.datasets.iter().find(|d| d.code_name == "sar").unwrap();
    assert_eq!(
        umbra.r#type.as_ref().unwrap().type_url,
        "datasets_internal.v1.UmbraSarGranule"
    );
    // Every listed dataset is usable as a listing entry; each legacy schema fails lazily and names the
    // removed type.
    for d in &list.datasets {
        assert!(
            d.r#type
                .as_ref()
                .unwrap()
                .type_url
                .starts_with("datasets_internal.v1.")
        );
        assert_missing_geobuf(d);
    }
}

#[test]
fn dataset_create_or_update_takes_the_update_branch() {
    let Some(dir) = recordings() else { return };
    let (client, transport) = replay(&dir, "dataset_create_or_update.rpcs.bin");
    let field = |name: &str, ty: prost_types::field_descriptor_proto::Type| pb::Field {
        descriptor: Some(prost_types::FieldDescriptorProto {
            name: Some(name.into()),
            r#type: Some(ty as i32),
            label: Some(prost_types::field_descriptor_proto::Label::Optional as i32),
            ..Default::default()
        }),
        annotation: None,
    };
    use prost_types::field_descriptor_proto::Type;
    let rounds = [
        ("Test Dataset", vec![field("test_field", Type::String)]),
        (
            "Updated Test Dataset",
            vec![
                field("test_field", Type::String),
                field("updated_field", Type::Int64),
            ],
        ),
    ];
    let mut results = Vec::new();
    for (name, fields) in rounds {
        // create_or_update: get by code name; on not_found create, otherwise update with the found id.
        let found = block_on(client.get_dataset(get_by_slug("test_dataset")));
        let existing = found.expect("the dataset existed when this was recorded");
        let updated = block_on(client.update_dataset(pb::UpdateDatasetRequest {
            id: existing.id.clone(),
            name: Some(name.into()),
            r#type: Some(pb::DatasetType {
                kind: pb::DatasetKind::Spatiotemporal as i32,
                fields,
            }),
            ..Default::default()
        }))
        .unwrap();
        results.push((existing, updated));
    }
    finish(
        &client,
        &transport,
        &[
            "DatasetService/GetDataset",
            "DatasetService/UpdateDataset",
            "DatasetService/GetDataset",
            "DatasetService/UpdateDataset",
        ],
    );
    let update: pb::UpdateDatasetRequest = request(&transport, 1);
    assert_eq!(
        uuid(&update.id).to_string(),
        "4a3330d6-1c5f-4605-ab72-558fa49e511b"
    );
    assert_eq!(update.name.as_deref(), Some("Test Dataset"));

    for (existing, updated) in &results {
        for d in [existing, updated] {
            assert_eq!(d.slug, "opendata_read_only.test_dataset");
            assert_eq!(d.code_name, "test_dataset");
            assert_eq!(d.permissions, vec![1, 2, 3]);
            assert_eq!(d.visibility, pb::Visibility::Private as i32);
            assert_eq!(
                d.r#type.as_ref().unwrap().type_url,
                "datasets.v1.group_f0d858d749204e39b7cdb811652990eb.TestDataset"
            );
        }
    }
    let names: Vec<(&str, &str)> = results
        .iter()
        .map(|(e, u)| (e.name.as_str(), u.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Updated Test Dataset", "Test Dataset"),
            ("Test Dataset", "Updated Test Dataset")
        ]
    );
    let after_first = schema_of(&results[0].1).unwrap();
    assert_eq!(
        after_first.field_names(),
        ["time", "id", "ingestion_time", "geometry", "test_field"]
    );
    assert_eq!(after_first.kind(), pb::DatasetKind::Spatiotemporal);
    let after_second = schema_of(&results[1].1).unwrap();
    assert_eq!(
        after_second.field_names(),
        [
            "time",
            "id",
            "ingestion_time",
            "geometry",
            "test_field",
            "updated_field"
        ]
    );
    // Editions file rewritten for loading: explicit presence kept, field numbers 1..N.
    let desc = after_second.message_descriptor();
    assert!(desc.fields().all(|f| f.supports_presence()));
    assert_eq!(
        desc.fields().map(|f| f.number()).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
}

fn ers_collection_flow(name: &str) {
    let Some(dir) = recordings() else { return };
    let (client, transport) = replay(&dir, name);
    let dataset = block_on(client.get_dataset(get_by_slug("open_data.asf.ers_sar"))).unwrap();
    let info = block_on(
        client.get_collection_by_name(pb::GetCollectionByNameRequest {
            collection_name: "ERS-2".into(),
            with_availability: true,
            with_count: true,
            dataset_id: dataset.id.clone(),
        }),
    )
    .unwrap();
    finish(
        &client,
        &transport,
        &[
            "DatasetService/GetDataset",
            "CollectionService/GetCollectionByName",
        ],
    );
    let sent: pb::GetCollectionByNameRequest = request(&transport, 1);
    assert_eq!(sent.collection_name, "ERS-2");
    assert_eq!(
        uuid(&sent.dataset_id).to_string(),
        "33722c64-76c8-49a3-b991-4fa76b93602c"
    );

    assert_eq!(dataset.code_name, "ers_sar");
    assert_eq!(dataset.slug, "");
    let ty = dataset.r#type.as_ref().unwrap();
    assert_eq!(ty.type_url, ERS_TYPE);
    assert_eq!(ty.kind, pb::DatasetKind::Spatiotemporal as i32);
    assert_eq!(ty.field_annotations.len(), 17);
    assert_eq!(field_count(&dataset), 17);
    let schema = schema_of(&dataset).unwrap();
    assert_eq!(schema.type_url(), ERS_TYPE);
    assert_eq!(
        &schema.field_names()[..5],
        ["time", "id", "ingestion_time", "geometry", "granule_name"]
    );

    let collection = info.collection.unwrap();
    assert_eq!(collection.name, "ERS-2");
    assert_eq!(
        uuid(&collection.id).to_string(),
        "18b986bf-de32-4a76-ad20-39b3df056803"
    );
    assert_eq!(info.count, Some(299_119));
    let availability = info.availability.unwrap();
    assert_eq!(availability.start_time, ts(812_517_183, 0));
    assert_eq!(availability.end_time, ts(1_309_652_611, 0));
    assert!(availability.end_inclusive && !availability.start_exclusive);
}

#[test]
fn collection_get() {
    ers_collection_flow("collection.rpcs.bin");
}

#[test]
fn collection_get_or_create_existing() {
    // get, and create only on not_found: the collection existed, so the same two RPCs.
    ers_collection_flow("collection_get_or_create.rpcs.bin");
}

#[test]
fn collections_list_with_removed_type_in_schema() {
    let Some(dir) = recordings() else { return };
    let (client, transport) = replay(&dir, "collections.rpcs.bin");
    let dataset = block_on(client.get_dataset(get_by_slug("open_data.asf.ers_sar"))).unwrap();
    let list = block_on(client.list_collections(pb::ListCollectionsRequest {
        dataset_id: dataset.id.clone(),
        with_availability: true,
        with_count: true,
    }))
    .unwrap();
    finish(
        &client,
        &transport,
        &[
            "DatasetService/GetDataset",
            "CollectionService/ListCollections",
        ],
    );
    let sent: pb::ListCollectionsRequest = request(&transport, 1);
    assert_eq!(
        uuid(&sent.dataset_id).to_string(),
        "49f17988-9f1c-446e-be2a-f949875b8274"
    );

    let ty = dataset.r#type.as_ref().unwrap();
    assert_eq!(ty.type_url, ERS_TYPE);
    assert_eq!(ty.kind, pb::DatasetKind::Temporal as i32);
    assert_eq!(field_count(&dataset), 19);
    assert_eq!(dataset.icon, "Satellite");
    assert_missing_geobuf(&dataset);

    assert_eq!(list.owned_collections, 0);
    assert_eq!(list.maximum_owned_collections, None);
    let got: Vec<(String, Option<u64>, i64, i64)> = list
        .data
        .iter()
        .map(|c| {
            let a = c.availability.as_ref().unwrap();
            assert!(a.end_inclusive);
            (
                c.collection.as_ref().unwrap().name.clone(),
                c.count,
                a.start_time.unwrap().seconds,
                a.end_time.unwrap().seconds,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ERS-1".to_owned(), Some(239_260), 681_621_491, 875_460_028),
            (
                "ERS-2".to_owned(),
                Some(299_119),
                812_517_183,
                1_309_652_611
            ),
        ]
    );
}

fn s2_dataset_checks(dataset: &pb::Dataset) -> Schema {
    assert_eq!(dataset.slug, "open_data.copernicus.sentinel2_msi");
    assert_eq!(dataset.code_name, "sentinel2_msi");
    assert_eq!(dataset.name, "Sentinel-2 MSI Granules");
    let ty = dataset.r#type.as_ref().unwrap();
    assert_eq!(ty.type_url, SENTINEL2_TYPE);
    assert_eq!(ty.kind, pb::DatasetKind::Spatiotemporal as i32);
    assert_eq!(ty.field_annotations.len(), 24);
    assert_eq!(field_count(dataset), 24);
    let schema = schema_of(dataset).unwrap();
    assert_eq!(schema.field_names().len(), 24);
    schema
}

fn s2_collection_checks(info: &pb::CollectionInfo, count: u64) -> tb::Id {
    let collection = info.collection.clone().unwrap();
    assert_eq!(collection.name, "S2B_S2MSI1C");
    assert_eq!(info.count, Some(count));
    let a = info.availability.unwrap();
    assert_eq!(a.start_time, ts(1_489_739_839, 27_000_000));
    assert_eq!(a.end_time, ts(1_772_780_209, 24_000_000));
    assert!(a.end_inclusive);
    collection.id.unwrap()
}

/// The first 48 bits of a generated id are the datapoint time in Unix milliseconds.
fn assert_id_matches_time(dp: &DynamicDatapoint) {
    let id = dp.id().unwrap();
    let ms_from_id = u64::from_be_bytes([
        0,
        0,
        id.as_bytes()[0],
        id.as_bytes()[1],
        id.as_bytes()[2],
        id.as_bytes()[3],
        id.as_bytes()[4],
        id.as_bytes()[5],
    ]);
    assert_eq!(
        ms_from_id as i64,
        dp.time().unwrap().timestamp_millis(),
        "{id}"
    );
}

#[test]
fn datapoint_find_full_and_skip_data() {
    let Some(dir) = recordings() else { return };
    let (client, transport) = replay(&dir, "datapoint_getinto.rpcs.bin");
    let dataset =
        block_on(client.get_dataset(get_by_slug("open_data.copernicus.sentinel2_msi"))).unwrap();
    let info = block_on(
        client.get_collection_by_name(pb::GetCollectionByNameRequest {
            collection_name: "S2B_S2MSI1C".into(),
            with_availability: true,
            with_count: true,
            dataset_id: dataset.id.clone(),
        }),
    )
    .unwrap();
    let schema = s2_dataset_checks(&dataset);
    let collection_id = s2_collection_checks(&info, 32_435_380);
    let wanted: uuid::Uuid = "01941f29-c650-202f-6495-c71dd2118fb1".parse().unwrap();
    let find = |skip_data| {
        block_on(client.query_by_id(pb::QueryByIdRequest {
            collection_ids: vec![collection_id.clone()],
            id: Some(tb::Id {
                uuid: Bytes::copy_from_slice(wanted.as_bytes()),
            }),
            skip_data,
            dataset_id: dataset.id.clone(),
        }))
        .unwrap()
    };
    let full = find(false);
    let meta_only = find(true);
    finish(
        &client,
        &transport,
        &[
            "DatasetService/GetDataset",
            "CollectionService/GetCollectionByName",
            "DataAccessService/QueryByID",
            "DataAccessService/QueryByID",
        ],
    );
    let sent: pb::QueryByIdRequest = request(&transport, 3);
    assert!(sent.skip_data);
    assert_eq!(uuid(&sent.id), wanted);

    assert_eq!(full.type_url, SENTINEL2_TYPE);
    assert_eq!(full.value.len(), 726);
    let dp = schema.decode(&full.value).unwrap();
    assert_eq!(dp.id(), Some(wanted));
    assert_eq!(dp.time(), Some(at("2025-01-01T00:00:19.024Z")));
    assert_eq!(
        dp.ingestion_time(),
        Some(at("2025-04-26T13:24:25.139062430Z"))
    );
    assert_id_matches_time(&dp);
    assert_eq!(dp.fields().len(), 24, "all 24 fields set");
    assert_eq!(
        dp.get_str("granule_name").as_deref(),
        Some("S2B_MSIL1C_20250101T000019_N0511_R073_T57QWV_20250101T010340.SAFE")
    );
    assert_eq!(dp.get_str("platform").as_deref(), Some("S2B"));
    assert_eq!(dp.get_str("product_type").as_deref(), Some("S2MSI1C"));
    assert_eq!(
        dp.get_str("mission_take_id").as_deref(),
        Some("GS2B_20250101T000019_040854_N05.11")
    );
    assert_eq!(
        dp.get_str("location").as_deref(),
        Some(
            "/eodata/Sentinel-2/MSI/L1C/2025/01/01/S2B_MSIL1C_20250101T000019_N0511_R073_T57QWV_20250101T010340.SAFE"
        )
    );
    assert_eq!(dp.get("orbit_number"), Some(Value::I64(40_854)));
    assert_eq!(dp.get("relative_orbit_number"), Some(Value::I64(73)));
    assert_eq!(dp.get("processing_baseline"), Some(Value::F64(5.11)));
    assert_eq!(dp.get("file_size"), Some(Value::I64(670_492_469)));
    assert_eq!(
        dp.get("processing_level"),
        Some(Value::EnumNumber(3)),
        "PROCESSING_LEVEL_L1C"
    );
    assert_eq!(
        dp.get_enum_name("processing_level").as_deref(),
        Some("PROCESSING_LEVEL_L1C")
    );
    assert_eq!(
        dp.get_enum_name("flight_direction").as_deref(),
        Some("FLIGHT_DIRECTION_UNSPECIFIED")
    );
    // Explicit zeros on the wire stay distinct from absent fields.
    assert_eq!(dp.get("resolution"), Some(Value::I64(0)));
    assert_eq!(dp.get("flight_direction"), Some(Value::EnumNumber(0)));
    assert_eq!(dp.get("no_such_field"), None);
    // geometry: little-endian EWKB with SRID 4326; centroid: plain WKB point.
    let geometry = dp.geometry_wkb().unwrap();
    assert_eq!(
        &geometry[..9],
        &[0x01, 0x03, 0x00, 0x00, 0x20, 0xe6, 0x10, 0x00, 0x00]
    );
    let Some(Value::Message(centroid)) = dp.get("centroid") else {
        panic!("centroid")
    };
    let Some(Value::Bytes(wkb)) = centroid.get_field_by_name("wkb").map(|v| v.into_owned()) else {
        panic!()
    };
    assert_eq!(&wkb[..5], &[0x01, 0x01, 0x00, 0x00, 0x00]);
    assert_eq!(wkb.len(), 21, "a 2D point");

    assert_eq!(meta_only.type_url, SENTINEL2_TYPE);
    assert_eq!(meta_only.value.len(), 46);
    let slim = schema.decode(&meta_only.value).unwrap();
    assert_eq!(slim.fields().len(), 3);
    assert_eq!(slim.id(), Some(wanted));
    assert_eq!(slim.time(), dp.time());
    assert_eq!(
        slim.ingestion_time(),
        Some(at("2025-04-26T13:24:25.139Z")),
        "truncated to ms"
    );
    assert_eq!(slim.geometry_wkb(), None);
    let meta = decode_meta(&meta_only.value).unwrap();
    assert_eq!(
        (meta.id, meta.time, meta.ingestion_time),
        (wanted, dp.time().unwrap(), slim.ingestion_time())
    );
}

/// Pages through a query until `next_page` is absent, returning the pages.
/// Pages of `base` with full datapoints, then of the same query with `skip_data` (the order the recorded
/// tests issued them).
fn query_full_then_slim(
    client: &RpcClient,
    base: pb::QueryRequest,
) -> (Vec<pb::QueryResultPage>, Vec<pb::QueryResultPage>) {
    let full = query_all(client, base.clone());
    let slim = query_all(
        client,
        pb::QueryRequest {
            skip_data: true,
            ..base
        },
    );
    (full, slim)
}

fn query_all(client: &RpcClient, request: pb::QueryRequest) -> Vec<pb::QueryResultPage> {
    let mut pages = Vec::new();
    let mut request = request;
    loop {
        let page = block_on(client.query(request.clone())).unwrap();
        let next = page.next_page.clone();
        pages.push(page);
        match next {
            Some(next) => request.page = Some(next),
            None => return pages,
        }
    }
}

fn hour_filter() -> pb::QueryFilters {
    pb::QueryFilters {
        time_interval: Some(tb::TimeInterval {
            start_time: ts(1_735_689_600, 0),
            end_time: ts(1_735_693_200, 0),
            start_exclusive: false,
            end_inclusive: false,
        }),
        ..Default::default()
    }
}

fn decode_page(schema: &Schema, page: &pb::QueryResultPage) -> Vec<DynamicDatapoint> {
    let data = page.data.as_ref().unwrap();
    assert_eq!(data.type_url, SENTINEL2_TYPE);
    let decoded: Vec<DynamicDatapoint> = data
        .value
        .iter()
        .map(|v| schema.decode(v).unwrap())
        .collect();
    #[cfg(feature = "arrow")]
    arrow_matches_records(schema, &data.value, &decoded);
    decoded
}

/// The Arrow decoder reads the hosted API's real datapoints (full or `skip_data`) like `records()` does.
#[cfg(feature = "arrow")]
fn arrow_matches_records(schema: &Schema, values: &[Bytes], records: &[DynamicDatapoint]) {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampNanosecondType;
    let batch = schema.to_record_batch(values, false).unwrap();
    assert_eq!(batch.num_rows(), records.len());
    assert_eq!(batch.num_columns(), schema.field_names().len());
    let time = batch.column_by_name("time").unwrap();
    let time = time.as_primitive::<TimestampNanosecondType>();
    let id = batch.column_by_name("id").unwrap();
    let id = id.as_fixed_size_binary();
    let granule = batch.column_by_name("granule_name").unwrap();
    let granule = granule.as_string::<i32>();
    for (row, record) in records.iter().enumerate() {
        assert_eq!(
            Some(time.value(row)),
            record.time().and_then(|t| t.timestamp_nanos_opt())
        );
        assert_eq!(
            Some(id.value(row)),
            record.id().as_ref().map(|u| &u.as_bytes()[..])
        );
        match record.get_str("granule_name") {
            Some(g) => assert_eq!(granule.value(row), g),
            None => assert!(granule.is_null(row)),
        }
    }
}

/// Checks ordering, time range, id/time agreement, and that the skip_data page holds the same datapoints
/// with only fields 1–3.
fn check_full_and_slim(full: &[DynamicDatapoint], slim: &[DynamicDatapoint]) {
    let (start, end) = (at("2025-01-01T00:00:00Z"), at("2025-01-01T01:00:00Z"));
    for pair in full.windows(2) {
        let key = |d: &DynamicDatapoint| (d.time().unwrap(), d.id().unwrap());
        assert!(key(&pair[0]) < key(&pair[1]), "ordered by time, then id");
    }
    for dp in full {
        let t = dp.time().unwrap();
        assert!(start <= t && t < end, "{t}");
        assert_id_matches_time(dp);
        let granule = dp.get_str("granule_name").unwrap();
        let platform = dp.get_str("platform").unwrap();
        assert!(
            granule.starts_with(&platform) && granule.ends_with(".SAFE"),
            "{granule}"
        );
        assert_eq!(
            &dp.geometry_wkb().unwrap()[..5],
            &[0x01, 0x03, 0x00, 0x00, 0x20]
        );
    }
    assert_eq!(full.len(), slim.len());
    for (f, s) in full.iter().zip(slim) {
        assert_eq!(s.id(), f.id());
        assert_eq!(s.time(), f.time());
        let fi = f.ingestion_time().unwrap();
        let si = s.ingestion_time().unwrap();
        assert_eq!(si.timestamp_millis(), fi.timestamp_millis());
        assert_eq!(
            si.timestamp_subsec_nanos() % 1_000_000,
            0,
            "skip_data ingestion_time is ms-truncated"
        );
        assert_eq!(s.fields().len(), 3);
        assert_eq!(s.get_str("granule_name"), None);
        let meta = decode_meta(&s.message().encode_to_vec()).unwrap();
        assert_eq!(Some(meta.id), f.id());
    }
}

fn count_by(dps: &[DynamicDatapoint], name: &str) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for dp in dps {
        let key = match dp.get(name) {
            Some(Value::String(s)) => s,
            Some(Value::EnumNumber(n)) => n.to_string(),
            other => format!("{other:?}"),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

#[test]
fn query_whole_dataset_single_page() {
    let Some(dir) = recordings() else { return };
    let (client, transport) = replay(&dir, "query.rpcs.bin");
    let dataset =
        block_on(client.get_dataset(get_by_slug("open_data.copernicus.sentinel2_msi"))).unwrap();
    let schema = s2_dataset_checks(&dataset);
    let base = pb::QueryRequest {
        collection_ids: vec![],
        filters: Some(hour_filter()),
        page: None,
        skip_data: false,
        dataset_id: dataset.id.clone(),
    };
    let (full_pages, slim_pages) = query_full_then_slim(&client, base);
    finish(
        &client,
        &transport,
        &[
            "DatasetService/GetDataset",
            "DataAccessService/Query",
            "DataAccessService/Query",
        ],
    );
    let sent: pb::QueryRequest = request(&transport, 1);
    assert!(sent.collection_ids.is_empty() && !sent.skip_data);
    assert_eq!(sent.filters, Some(hour_filter()));
    assert_eq!(
        uuid(&sent.dataset_id).to_string(),
        "34d7b08b-8a27-4b40-819b-b11c6189695a"
    );

    assert_eq!(full_pages.len(), 1, "no next_page: a single page");
    assert_eq!(slim_pages.len(), 1);
    let full = decode_page(&schema, &full_pages[0]);
    let slim = decode_page(&schema, &slim_pages[0]);
    assert_eq!(full.len(), 1459);
    assert_eq!(
        full[0].id().unwrap().to_string(),
        "01941f29-c650-202f-6495-c71dd2118fb1"
    );
    assert_eq!(full[0].time(), Some(at("2025-01-01T00:00:19.024Z")));
    assert_eq!(
        full[1458].id().unwrap().to_string(),
        "01941f5d-d670-ab58-966a-1f54c0479887"
    );
    assert_eq!(full[1458].time(), Some(at("2025-01-01T00:57:11.024Z")));
    assert_eq!(
        full[1458].get_str("granule_name").as_deref(),
        Some("S2A_MSIL2A_20250101T005711_N0511_R002_T53HNB_20250101T031859.SAFE")
    );
    // Several collections: both satellites, L1C (3) and L2A (5).
    assert_eq!(
        count_by(&full, "platform"),
        [("S2A".to_owned(), 624), ("S2B".to_owned(), 835)]
    );
    assert_eq!(
        count_by(&full, "processing_level"),
        [("3".to_owned(), 749), ("5".to_owned(), 710)]
    );
    check_full_and_slim(&full, &slim);
}

#[test]
fn query_one_collection_single_page() {
    let Some(dir) = recordings() else { return };
    let (client, transport) = replay(&dir, "query_collections.rpcs.bin");
    let dataset =
        block_on(client.get_dataset(get_by_slug("open_data.copernicus.sentinel2_msi"))).unwrap();
    let schema = s2_dataset_checks(&dataset);
    let info = block_on(
        client.get_collection_by_name(pb::GetCollectionByNameRequest {
            collection_name: "S2B_S2MSI1C".into(),
            with_availability: true,
            with_count: true,
            dataset_id: dataset.id.clone(),
        }),
    )
    .unwrap();
    let collection_id = s2_collection_checks(&info, 32_435_432);
    let base = pb::QueryRequest {
        collection_ids: vec![collection_id.clone()],
        filters: Some(hour_filter()),
        page: None,
        skip_data: false,
        dataset_id: dataset.id.clone(),
    };
    let (full_pages, slim_pages) = query_full_then_slim(&client, base);
    finish(
        &client,
        &transport,
        &[
            "DatasetService/GetDataset",
            "CollectionService/GetCollectionByName",
            "DataAccessService/Query",
            "DataAccessService/Query",
        ],
    );
    let sent: pb::QueryRequest = request(&transport, 2);
    assert_eq!(sent.collection_ids, vec![collection_id]);

    assert_eq!((full_pages.len(), slim_pages.len()), (1, 1));
    let full = decode_page(&schema, &full_pages[0]);
    let slim = decode_page(&schema, &slim_pages[0]);
    assert_eq!(full.len(), 437);
    assert_eq!(
        full[0].id().unwrap().to_string(),
        "01941f29-c650-202f-6495-c71dd2118fb1"
    );
    assert_eq!(
        full[436].id().unwrap().to_string(),
        "01941f46-c430-83f1-f923-35e28c2ca0ed"
    );
    assert_eq!(full[436].time(), Some(at("2025-01-01T00:31:59.024Z")));
    assert_eq!(
        full[436].get_str("granule_name").as_deref(),
        Some("S2B_MSIL1C_20250101T003159_N0511_R073_T34CER_20250101T024048.SAFE")
    );
    // Only that collection: S2B, L1C.
    assert_eq!(count_by(&full, "platform"), [("S2B".to_owned(), 437)]);
    assert_eq!(
        count_by(&full, "product_type"),
        [("S2MSI1C".to_owned(), 437)]
    );
    assert_eq!(count_by(&full, "processing_level"), [("3".to_owned(), 437)]);
    check_full_and_slim(&full, &slim);
}

/// Every field the hosted API sends on datasets, groups and collection listings is reachable through the
/// typed model (not only through the wire messages).
#[test]
fn typed_accessors_reach_every_recorded_field() {
    use tilebox_core::{CollectionInfo, Dataset, DatasetPermission, DatasetTree, Visibility};
    let Some(dir) = recordings() else { return };
    let (client, _) = replay(&dir, "datasets.rpcs.bin");

    // ListDatasets (2024): group icons, dataset icons, no permissions or visibility sent yet.
    let list =
        pb::ListDatasetsResponse::decode(bodies(&dir, "datasets.rpcs.bin")[0].clone()).unwrap();
    let tree = DatasetTree::from_wire(&client, list.clone()).unwrap();
    let open_data = tree.group("open_data").unwrap();
    assert_eq!(open_data.icon(), "Globe");
    assert_eq!(tree.group("open_data.copernicus").unwrap().icon(), "");
    assert_eq!(tree.owned_datasets(), list.owned_datasets);
    assert_eq!(tree.maximum_owned_datasets(), list.maximum_owned_datasets);
    assert_eq!(tree.datasets().len(), 10);
    for d in tree.datasets() {
        assert_eq!(d.icon(), "Satellite");
        assert!(d.permissions().is_empty());
        assert_eq!(d.visibility(), Visibility::Unspecified);
        assert!(!d.type_editable());
        assert!(d.embedded_collections().unwrap().is_empty());
    }

    // GetDataset of a public open-data dataset (2026): read access only, public.
    let s2 = pb::Dataset::decode(bodies(&dir, "datapoint_getinto.rpcs.bin")[0].clone()).unwrap();
    let s2 = Dataset::from_wire(client.clone(), s2).unwrap();
    assert_eq!(s2.slug(), "open_data.copernicus.sentinel2_msi");
    assert_eq!(s2.icon(), "");
    assert_eq!(s2.permissions(), vec![DatasetPermission::AccessData]);
    assert!(s2.has_permission(DatasetPermission::AccessData));
    assert!(!s2.has_permission(DatasetPermission::WriteData));
    assert_eq!(s2.visibility(), Visibility::Public);
    assert!(!s2.type_editable());

    // A dataset the caller owns (2026): every permission, private, schema editable.
    for body in bodies(&dir, "dataset_create_or_update.rpcs.bin") {
        let own = Dataset::from_wire(client.clone(), pb::Dataset::decode(body).unwrap()).unwrap();
        assert_eq!(own.slug(), "opendata_read_only.test_dataset");
        assert_eq!(
            own.permissions(),
            vec![
                DatasetPermission::AccessData,
                DatasetPermission::WriteData,
                DatasetPermission::Edit
            ]
        );
        assert!(own.has_permission(DatasetPermission::Edit));
        assert_eq!(own.visibility(), Visibility::Private);
        assert!(own.type_editable());
    }

    // ListCollections: the quota fields next to the collections.
    let (client, _) = replay(&dir, "collections.rpcs.bin");
    let ers = block_on(client.get_dataset(get_by_slug("open_data.asf.ers_sar"))).unwrap();
    let ers = Dataset::from_wire(client, ers).unwrap();
    assert_eq!(ers.icon(), "Satellite");
    let (collections, quota) = block_on(ers.collections_and_quota()).unwrap();
    assert_eq!(quota.owned, 0);
    assert_eq!(quota.maximum, None);
    let names: Vec<String> = collections.iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(names, ["ERS-1", "ERS-2"]);
    let infos: Vec<CollectionInfo> = collections.iter().map(|c| (*c.info()).clone()).collect();
    assert_eq!(infos[0].count, Some(239_260));
}
