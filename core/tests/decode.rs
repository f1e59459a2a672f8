//! Datapoint decoding without recordings: editions rewrite, legacy relative names, STAC imports, missing types,
//! presence, the metadata fast path, typed decoding, and the record/replay transports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use futures::executor::block_on;
use prost::Message;
use prost_reflect::{DynamicMessage, Value};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};
use tilebox_core::replay::{
    RecordedResponse, RecordingTransport, ReplayTransport, parse_recording, write_recording,
};
use tilebox_core::wire::datasets::v1 as pb;
use tilebox_core::{Error, Schema, Transport, decode_dynamic, decode_meta, decode_typed};

mod descriptors;
use descriptors::{field, opt};

/// A dataset type as the current server sends it: editions 2023, dependencies referenced but not included.
fn editions_type(extra: Vec<FieldDescriptorProto>, extra_deps: &[&str]) -> pb::AnnotatedType {
    let mut fields = vec![
        opt("time", 1, Type::Message, Some(".google.protobuf.Timestamp")),
        opt("id", 2, Type::Message, Some(".datasets.v1.UUID")),
        opt(
            "ingestion_time",
            3,
            Type::Message,
            Some(".google.protobuf.Timestamp"),
        ),
        opt("geometry", 4, Type::Message, Some(".datasets.v1.Geometry")),
    ];
    fields.extend(extra);
    let mut deps: Vec<String> = [
        "google/protobuf/duration.proto",
        "google/protobuf/timestamp.proto",
        "datasets/v1/well_known_types.proto",
    ]
    .map(str::to_owned)
    .to_vec();
    deps.extend(extra_deps.iter().map(|d| (*d).to_owned()));
    let file = FileDescriptorProto {
        name: Some("datasets/v1/group_0123/MyData.proto".into()),
        package: Some("datasets.v1.group_0123".into()),
        dependency: deps,
        message_type: vec![DescriptorProto {
            name: Some("MyData".into()),
            field: fields,
            ..Default::default()
        }],
        syntax: Some("editions".into()),
        ..Default::default()
    };
    pb::AnnotatedType {
        descriptor_set: Some(FileDescriptorSet { file: vec![file] }),
        type_url: "datasets.v1.group_0123.MyData".into(),
        field_annotations: vec![],
        kind: pb::DatasetKind::Spatiotemporal as i32,
    }
}

fn custom_fields() -> Vec<FieldDescriptorProto> {
    vec![
        opt("name", 5, Type::String, None),
        opt("count", 6, Type::Int64, None),
        field("values", 7, Type::Int64, None, Label::Repeated),
        opt("level", 8, Type::Enum, Some(".datasets.v1.ProcessingLevel")),
        field("levels", 9, Type::Enum, None, Label::Repeated),
        opt(
            "duration",
            10,
            Type::Message,
            Some(".google.protobuf.Duration"),
        ),
    ]
    .into_iter()
    .map(|mut f| {
        if f.name() == "levels" {
            f.type_name = Some(".datasets.v1.ProcessingLevel".into());
        }
        f
    })
    .collect()
}

/// Hand-encodes a datapoint: time, id, one explicit zero, a packed repeated int64 and an unpacked repeated enum.
fn encoded_datapoint(id: [u8; 16]) -> Vec<u8> {
    let time = prost_types::Timestamp {
        seconds: 1_735_689_619,
        nanos: 24_000_000,
    };
    let mut out = Vec::new();
    prost::encoding::message::encode(1, &time, &mut out);
    prost::encoding::message::encode(
        2,
        &pb::Uuid {
            uuid: Bytes::copy_from_slice(&id),
        },
        &mut out,
    );
    prost::encoding::string::encode(5, &"granule-1".to_owned(), &mut out);
    prost::encoding::int64::encode(6, &0, &mut out); // explicit zero
    prost::encoding::int64::encode_packed(7, &[1, 2, 3], &mut out);
    prost::encoding::int32::encode_repeated(9, &[3, 5], &mut out); // unpacked on the wire: must be accepted
    out
}

const ID: [u8; 16] = [
    0x01, 0x94, 0x1f, 0x29, 0xc6, 0x50, 0x20, 0x2f, 0x64, 0x95, 0xc7, 0x1d, 0xd2, 0x11, 0x8f, 0xb1,
];

#[test]
fn editions_descriptor_loads_and_keeps_presence() {
    let schema = Schema::from_annotated_type(&editions_type(custom_fields(), &[])).unwrap();
    assert_eq!(schema.type_url(), "datasets.v1.group_0123.MyData");
    assert_eq!(schema.kind(), pb::DatasetKind::Spatiotemporal);
    let desc = schema.message_descriptor();
    assert!(desc.get_field_by_name("count").unwrap().supports_presence());
    assert!(desc.get_field_by_name("values").unwrap().is_packed());
    assert!(desc.get_field_by_name("levels").unwrap().is_packed());

    let dp = decode_dynamic(&schema, &encoded_datapoint(ID)).unwrap();
    assert_eq!(
        dp.id().unwrap().to_string(),
        "01941f29-c650-202f-6495-c71dd2118fb1"
    );
    assert_eq!(
        dp.time().unwrap().to_rfc3339(),
        "2025-01-01T00:00:19.024+00:00"
    );
    assert_eq!(dp.ingestion_time(), None);
    assert_eq!(dp.geometry_wkb(), None);
    assert_eq!(dp.get_str("name").as_deref(), Some("granule-1"));
    assert_eq!(
        dp.get("count"),
        Some(Value::I64(0)),
        "explicit zero is present"
    );
    assert_eq!(dp.get("level"), None, "unset is absent");
    assert_eq!(dp.get_enum_name("level"), None);
    assert_eq!(dp.get_enum_name("name"), None, "not an enum");
    assert_eq!(dp.get("duration"), None);
    assert_eq!(
        dp.get("values"),
        Some(Value::List(vec![
            Value::I64(1),
            Value::I64(2),
            Value::I64(3)
        ]))
    );
    assert_eq!(
        dp.get("levels"),
        Some(Value::List(vec![
            Value::EnumNumber(3),
            Value::EnumNumber(5)
        ]))
    );
    let names: Vec<String> = dp.fields().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["time", "id", "name", "count", "values", "levels"]);
}

#[test]
fn ids_with_arbitrary_version_bits_are_accepted() {
    let schema = Schema::from_annotated_type(&editions_type(custom_fields(), &[])).unwrap();
    let id = [0xff; 16];
    let dp = schema.decode(&encoded_datapoint(id)).unwrap();
    assert_eq!(dp.id().unwrap().as_bytes(), &id);
    assert_eq!(
        decode_meta(&encoded_datapoint(id)).unwrap().id.as_bytes(),
        &id
    );
}

#[test]
fn schemas_are_cached_by_type_and_descriptor() {
    let a = Schema::from_annotated_type(&editions_type(custom_fields(), &[])).unwrap();
    let b = Schema::from_annotated_type(&editions_type(custom_fields(), &[])).unwrap();
    assert_eq!(a.message_descriptor(), b.message_descriptor());
    // Same type URL, different descriptor: a different schema, not the cached one.
    let c = Schema::from_annotated_type(&editions_type(vec![], &[])).unwrap();
    assert_eq!(
        c.field_names(),
        ["time", "id", "ingestion_time", "geometry"]
    );
    assert_eq!(a.field_names().len(), 10);
}

#[test]
fn missing_type_fails_only_when_building_the_schema_and_names_it() {
    let ty = editions_type(
        vec![opt(
            "shape",
            5,
            Type::Message,
            Some(".datasets.v1.GeobufData"),
        )],
        &[],
    );
    match Schema::from_annotated_type(&ty) {
        Err(Error::Decode { message }) => {
            assert!(message.contains("datasets.v1.GeobufData"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let mut no_set = ty.clone();
    no_set.descriptor_set = None;
    assert!(matches!(
        Schema::from_annotated_type(&no_set),
        Err(Error::Decode { .. })
    ));
    let mut wrong_url = editions_type(vec![], &[]);
    wrong_url.type_url = "datasets.v1.group_0123.Other".into();
    match Schema::from_annotated_type(&wrong_url) {
        Err(Error::Decode { message }) => assert!(message.contains("Other"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn legacy_proto3_relative_names_resolve() {
    let file = FileDescriptorProto {
        name: Some("datasets_internal/v1/legacy.proto".into()),
        package: Some("datasets_internal.v1".into()),
        dependency: vec![
            "google/protobuf/timestamp.proto".into(),
            "datasets/v1/well_known_types.proto".into(),
        ],
        message_type: vec![DescriptorProto {
            name: Some("Legacy".into()),
            field: vec![
                opt("granule_name", 1, Type::String, None),
                opt("level", 2, Type::Enum, Some("datasets.v1.ProcessingLevel")),
                opt(
                    "stop_time",
                    3,
                    Type::Message,
                    Some("google.protobuf.Timestamp"),
                ),
                opt("center", 4, Type::Message, Some("datasets.v1.LatLon")),
            ],
            ..Default::default()
        }],
        syntax: Some("proto3".into()),
        ..Default::default()
    };
    let ty = pb::AnnotatedType {
        descriptor_set: Some(FileDescriptorSet { file: vec![file] }),
        type_url: "datasets_internal.v1.Legacy".into(),
        ..Default::default()
    };
    let schema = Schema::from_annotated_type(&ty).unwrap();
    let mut msg = schema.new_message();
    msg.set_field_by_name("granule_name", Value::String("g".into()));
    msg.set_field_by_name("level", Value::EnumNumber(5));
    let dp = schema.decode(&msg.encode_to_vec()).unwrap();
    assert_eq!(dp.get_str("granule_name").as_deref(), Some("g"));
    assert_eq!(dp.get("level"), Some(Value::EnumNumber(5)));
    // No common fields in legacy schemas: they are simply absent.
    assert_eq!((dp.id(), dp.time()), (None, None));
    assert!(decode_meta(&msg.encode_to_vec()).is_err());
}

#[test]
fn stac_fields_decode() {
    let ty = editions_type(
        vec![
            opt("assets", 5, Type::Message, Some(".datasets.stac.v1.Assets")),
            opt("links", 6, Type::Message, Some(".datasets.stac.v1.Links")),
        ],
        &[
            "datasets/stac/v1/asset.proto",
            "datasets/stac/v1/core.proto",
        ],
    );
    let schema = Schema::from_annotated_type(&ty).unwrap();
    let assets = tilebox_core::wire::datasets::stac::v1::Assets {
        assets: vec![tilebox_core::wire::datasets::stac::v1::Asset {
            key: "B04".into(),
            title: Some("Red".into()),
            gsd: Some(10.0),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut out = Vec::new();
    let id = pb::Uuid {
        uuid: Bytes::copy_from_slice(&ID),
    };
    prost::encoding::message::encode(2, &id, &mut out);
    prost::encoding::message::encode(5, &assets, &mut out);
    let dp = schema.decode(&out).unwrap();
    let Some(Value::Message(m)) = dp.get("assets") else {
        panic!("assets")
    };
    let decoded: tilebox_core::wire::datasets::stac::v1::Assets = m.transcode_to().unwrap();
    assert_eq!(decoded, assets);
}

#[test]
fn schema_from_descriptor_and_typed_decoding() {
    let pool = tilebox_core::datapoint::bundled_pool().unwrap();
    let desc = pool
        .get_message_by_name("datasets.v1.SpatioTemporalDatapoint")
        .unwrap();
    let schema = Schema::from_descriptor(desc);
    assert_eq!(schema.kind(), pb::DatasetKind::Spatiotemporal);
    let dp = pb::SpatioTemporalDatapoint {
        time: Some(prost_types::Timestamp {
            seconds: 10,
            nanos: 5,
        }),
        id: Some(pb::Uuid {
            uuid: Bytes::copy_from_slice(&ID),
        }),
        ingestion_time: Some(prost_types::Timestamp {
            seconds: 20,
            nanos: 0,
        }),
        geometry: Some(pb::Geometry {
            wkb: Bytes::from_static(&[1, 1, 0, 0, 0]),
        }),
    };
    let bytes = dp.encode_to_vec();
    let dynamic = schema.decode(&bytes).unwrap();
    assert_eq!(dynamic.geometry_wkb().unwrap().as_ref(), &[1, 1, 0, 0, 0]);
    assert_eq!(dynamic.ingestion_time().unwrap().timestamp(), 20);
    let typed: pb::SpatioTemporalDatapoint = decode_typed(&bytes).unwrap();
    assert_eq!(typed, dp);
    let meta = decode_meta(&bytes).unwrap();
    assert_eq!(meta.time.timestamp_subsec_nanos(), 5);
    assert_eq!(meta.ingestion_time.unwrap().timestamp(), 20);
    // Garbage is a decode error, not a panic.
    assert!(matches!(
        decode_typed::<pb::SpatioTemporalDatapoint>(&[0x0a, 0xff]),
        Err(Error::Decode { .. })
    ));
    assert!(matches!(
        schema.decode(&[0x0a, 0xff]),
        Err(Error::Decode { .. })
    ));
    let _ = DynamicMessage::new(schema.message_descriptor());
}

#[test]
fn recording_format_round_trips_and_rejects_truncation() {
    let entries = vec![
        RecordedResponse {
            status: 200,
            body: Bytes::from_static(b"\x1f\x8babc"),
        },
        RecordedResponse {
            status: 404,
            body: Bytes::from_static(br#"{"code":"not_found"}"#),
        },
        RecordedResponse {
            status: 200,
            body: Bytes::new(),
        },
    ];
    let bytes = write_recording(&entries);
    assert_eq!(parse_recording(&bytes).unwrap(), entries);
    assert!(matches!(
        parse_recording(&bytes[..bytes.len() - 1]),
        Err(Error::Protocol { .. })
    ));
    assert!(matches!(
        parse_recording(&bytes[..10]),
        Err(Error::Protocol { .. })
    ));
    assert!(matches!(
        parse_recording(&bytes[..20]),
        Err(Error::Protocol { .. })
    ));
    assert!(parse_recording(&[]).unwrap().is_empty());
}

#[test]
fn replay_sets_headers_and_records_requests_and_recording_wraps() {
    let ok = pb::Any {
        type_url: "t".into(),
        value: Bytes::from_static(b"v"),
    };
    let entries = vec![
        RecordedResponse {
            status: 200,
            body: tilebox_core::connect::gzip(&ok.encode_to_vec()),
        },
        RecordedResponse {
            status: 404,
            body: tilebox_core::connect::error_body(tilebox_core::Code::NotFound, "gone"),
        },
    ];
    let replay = Arc::new(ReplayTransport::new(entries.clone()));
    let recorder = RecordingTransport::new(replay.clone());
    let request = || {
        http::Request::builder()
            .uri("http://x/a.B/C")
            .body(Bytes::from_static(b"req"))
            .unwrap()
    };

    let first = block_on(recorder.send(request())).unwrap();
    assert_eq!(first.headers()["content-encoding"], "gzip");
    assert_eq!(first.headers()["content-type"], "application/proto");
    assert_eq!(
        tilebox_core::connect::decode_response::<pb::Any>(first).unwrap(),
        ok
    );

    let second = block_on(recorder.send(request())).unwrap();
    assert!(second.headers().get("content-encoding").is_none());
    assert_eq!(second.headers()["content-type"], "application/json");
    let err = tilebox_core::connect::decode_response::<pb::Any>(second).unwrap_err();
    assert!(matches!(err, Error::NotFound { ref message } if message == "gone"));

    let third = block_on(recorder.send(request())).unwrap_err();
    assert_eq!(third.to_string(), "replay exhausted after 2 calls");

    assert_eq!(replay.request_paths(), ["/a.B/C", "/a.B/C", "/a.B/C"]);
    assert_eq!(replay.requests()[0].body, Bytes::from_static(b"req"));
    assert_eq!(recorder.len(), 2);
    assert_eq!(parse_recording(&recorder.recording()).unwrap(), entries);
}
