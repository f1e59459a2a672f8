//! The Arrow decoder (feature `arrow`) without a server: the column type of every field kind, equality with
//! prost-reflect's `DynamicMessage` on random datapoints, protobuf parsing rules (unknown fields, last value
//! wins, packed and unpacked lists), EWKB → ISO WKB, and malformed input (random, truncated and corrupted
//! bytes: an error naming the datapoint and field, never a panic).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    DurationNanosecondType, Float32Type, Float64Type, Int32Type, Int64Type,
    TimestampNanosecondType, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use bytes::Bytes;
use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tilebox_core::arrow::{
    EXTENSION_METADATA_KEY, EXTENSION_NAME_KEY, UUID_EXTENSION, WKB_EXTENSION,
};
use tilebox_core::wire::datasets::v1 as pb;
use tilebox_core::{Error, Schema};

mod descriptors;
use descriptors::{opt, rep};

/// A dataset type with every field kind a dataset can have, as the server sends it (edition 2023).
fn all_kinds_type() -> pb::AnnotatedType {
    let msg = |n: &str| Some(format!(".{n}"));
    let fields = vec![
        opt(
            "time",
            1,
            Type::Message,
            msg("google.protobuf.Timestamp").as_deref(),
        ),
        opt("id", 2, Type::Message, msg("datasets.v1.UUID").as_deref()),
        opt(
            "ingestion_time",
            3,
            Type::Message,
            msg("google.protobuf.Timestamp").as_deref(),
        ),
        opt(
            "geometry",
            4,
            Type::Message,
            msg("datasets.v1.Geometry").as_deref(),
        ),
        opt("f_double", 5, Type::Double, None),
        opt("f_float", 6, Type::Float, None),
        opt("f_int32", 7, Type::Int32, None),
        opt("f_int64", 8, Type::Int64, None),
        opt("f_uint32", 9, Type::Uint32, None),
        opt("f_uint64", 10, Type::Uint64, None),
        opt("f_sint32", 11, Type::Sint32, None),
        opt("f_sint64", 12, Type::Sint64, None),
        opt("f_fixed32", 13, Type::Fixed32, None),
        opt("f_fixed64", 14, Type::Fixed64, None),
        opt("f_sfixed32", 15, Type::Sfixed32, None),
        opt("f_sfixed64", 16, Type::Sfixed64, None),
        opt("f_bool", 17, Type::Bool, None),
        opt("f_string", 18, Type::String, None),
        opt("f_bytes", 19, Type::Bytes, None),
        opt(
            "f_enum",
            20,
            Type::Enum,
            msg("datasets.v1.ProcessingLevel").as_deref(),
        ),
        opt(
            "f_duration",
            21,
            Type::Message,
            msg("google.protobuf.Duration").as_deref(),
        ),
        opt(
            "f_latlon",
            22,
            Type::Message,
            msg("datasets.v1.LatLon").as_deref(),
        ),
        opt(
            "f_latlonalt",
            23,
            Type::Message,
            msg("datasets.v1.LatLonAlt").as_deref(),
        ),
        opt(
            "f_quaternion",
            24,
            Type::Message,
            msg("datasets.v1.Quaternion").as_deref(),
        ),
        opt(
            "f_vec3",
            25,
            Type::Message,
            msg("datasets.v1.Vec3").as_deref(),
        ),
        opt(
            "f_uuid",
            26,
            Type::Message,
            msg("datasets.v1.UUID").as_deref(),
        ),
        opt(
            "f_timestamp",
            27,
            Type::Message,
            msg("google.protobuf.Timestamp").as_deref(),
        ),
        rep("r_int64", 28, Type::Int64, None),
        rep("r_double", 29, Type::Double, None),
        rep("r_string", 30, Type::String, None),
        rep(
            "r_enum",
            31,
            Type::Enum,
            msg("datasets.v1.Polarization").as_deref(),
        ),
        rep(
            "r_timestamp",
            32,
            Type::Message,
            msg("google.protobuf.Timestamp").as_deref(),
        ),
        rep(
            "r_latlon",
            33,
            Type::Message,
            msg("datasets.v1.LatLon").as_deref(),
        ),
        rep(
            "r_geometry",
            34,
            Type::Message,
            msg("datasets.v1.Geometry").as_deref(),
        ),
        rep("r_bool", 35, Type::Bool, None),
        opt("f_big_number", 536_870_000, Type::Int32, None),
    ];
    let file = FileDescriptorProto {
        name: Some("datasets/v1/group_77/AllKinds.proto".into()),
        package: Some("datasets.v1.group_77".into()),
        dependency: vec![
            "google/protobuf/duration.proto".into(),
            "google/protobuf/timestamp.proto".into(),
            "datasets/v1/well_known_types.proto".into(),
        ],
        message_type: vec![DescriptorProto {
            name: Some("AllKinds".into()),
            field: fields,
            ..Default::default()
        }],
        syntax: Some("editions".into()),
        ..Default::default()
    };
    pb::AnnotatedType {
        descriptor_set: Some(FileDescriptorSet { file: vec![file] }),
        type_url: "datasets.v1.group_77.AllKinds".into(),
        field_annotations: vec![],
        kind: pb::DatasetKind::Spatiotemporal as i32,
    }
}

fn all_kinds() -> Schema {
    Schema::from_annotated_type(&all_kinds_type()).expect("the schema loads")
}

/// A proto3 message with a map, a nested message, implicit-presence scalars and a self-reference.
fn proto3_schema() -> Schema {
    let file = FileDescriptorProto {
        name: Some("test/p3.proto".into()),
        package: Some("test".into()),
        dependency: vec![
            "google/protobuf/timestamp.proto".into(),
            "datasets/v1/well_known_types.proto".into(),
        ],
        message_type: vec![
            DescriptorProto {
                name: Some("Node".into()),
                field: vec![
                    opt("label", 1, Type::String, None),
                    opt("child", 2, Type::Message, Some(".test.Node")),
                ],
                ..Default::default()
            },
            DescriptorProto {
                name: Some("P3".into()),
                field: vec![
                    opt("time", 1, Type::Message, Some(".google.protobuf.Timestamp")),
                    opt("count", 2, Type::Int64, None),
                    opt("name", 3, Type::String, None),
                    rep("tags", 4, Type::Message, Some(".test.P3.TagsEntry")),
                    opt("node", 5, Type::Message, Some(".test.Node")),
                    opt("level", 6, Type::Enum, Some(".datasets.v1.ProcessingLevel")),
                ],
                nested_type: vec![DescriptorProto {
                    name: Some("TagsEntry".into()),
                    field: vec![
                        opt("key", 1, Type::String, None),
                        opt("value", 2, Type::Int64, None),
                    ],
                    options: Some(prost_types::MessageOptions {
                        map_entry: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
        syntax: Some("proto3".into()),
        ..Default::default()
    };
    let mut pool = tilebox_core::datapoint::bundled_pool().unwrap();
    pool.add_file_descriptor_proto(file).unwrap();
    Schema::from_descriptor(pool.get_message_by_name("test.P3").unwrap())
}

fn extension(field: &arrow_schema::Field) -> Option<(&str, Option<&str>)> {
    let meta = field.metadata();
    meta.get(EXTENSION_NAME_KEY).map(|n| {
        (
            n.as_str(),
            meta.get(EXTENSION_METADATA_KEY).map(String::as_str),
        )
    })
}

#[test]
fn every_field_kind_has_its_column_type() {
    let schema = all_kinds();
    let arrow = schema.arrow_schema(false).unwrap();
    let names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        schema
            .field_names()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let ty = |name: &str| arrow.field_with_name(name).unwrap().data_type().clone();
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    assert_eq!(ty("time"), ts);
    assert_eq!(ty("ingestion_time"), ts);
    assert_eq!(ty("f_timestamp"), ts);
    assert_eq!(ty("id"), DataType::FixedSizeBinary(16));
    assert_eq!(ty("f_uuid"), DataType::FixedSizeBinary(16));
    assert_eq!(ty("geometry"), DataType::Binary);
    assert_eq!(ty("f_double"), DataType::Float64);
    assert_eq!(ty("f_float"), DataType::Float32);
    for name in ["f_int32", "f_sint32", "f_sfixed32", "f_big_number"] {
        assert_eq!(ty(name), DataType::Int32, "{name}");
    }
    for name in ["f_int64", "f_sint64", "f_sfixed64"] {
        assert_eq!(ty(name), DataType::Int64, "{name}");
    }
    assert_eq!(ty("f_uint32"), DataType::UInt32);
    assert_eq!(ty("f_fixed32"), DataType::UInt32);
    assert_eq!(ty("f_uint64"), DataType::UInt64);
    assert_eq!(ty("f_fixed64"), DataType::UInt64);
    assert_eq!(ty("f_bool"), DataType::Boolean);
    assert_eq!(ty("f_string"), DataType::Utf8);
    assert_eq!(ty("f_bytes"), DataType::Binary);
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    assert_eq!(ty("f_enum"), dict);
    assert_eq!(ty("f_duration"), DataType::Duration(TimeUnit::Nanosecond));
    let DataType::Struct(latlon) = ty("f_latlon") else {
        panic!("LatLon is a struct")
    };
    assert_eq!(latlon.len(), 2);
    assert_eq!(latlon[0].name(), "latitude");
    assert_eq!(latlon[0].data_type(), &DataType::Float64);
    assert!(
        !latlon[0].is_nullable(),
        "proto3 implicit fields are never null"
    );
    let DataType::Struct(lla) = ty("f_latlonalt") else {
        panic!()
    };
    assert_eq!(lla.len(), 3);
    let DataType::Struct(q) = ty("f_quaternion") else {
        panic!()
    };
    assert_eq!(
        q.iter().map(|f| f.name().as_str()).collect::<Vec<_>>(),
        ["q1", "q2", "q3", "q4"]
    );
    let DataType::Struct(v) = ty("f_vec3") else {
        panic!()
    };
    assert_eq!(v.len(), 3);
    let DataType::List(item) = ty("r_int64") else {
        panic!()
    };
    assert_eq!(item.data_type(), &DataType::Int64);
    let DataType::List(item) = ty("r_enum") else {
        panic!()
    };
    assert_eq!(item.data_type(), &dict);
    let DataType::List(item) = ty("r_geometry") else {
        panic!()
    };
    assert_eq!(
        extension(&item),
        Some((
            WKB_EXTENSION,
            Some(r#"{"crs":"OGC:CRS84","crs_type":"authority_code"}"#)
        ))
    );
    let DataType::List(item) = ty("r_latlon") else {
        panic!()
    };
    assert!(matches!(item.data_type(), DataType::Struct(f) if f.len() == 2));

    // Extension types, and nullability from presence.
    let field = |name: &str| arrow.field_with_name(name).unwrap().clone();
    assert_eq!(extension(&field("id")).map(|e| e.0), Some(UUID_EXTENSION));
    assert_eq!(
        extension(&field("f_uuid")).map(|e| e.0),
        Some(UUID_EXTENSION)
    );
    let geometry = field("geometry");
    let (name, meta) = extension(&geometry).unwrap();
    assert_eq!(name, WKB_EXTENSION);
    assert!(meta.unwrap().contains("OGC:CRS84"));
    assert!(
        field("f_int64").is_nullable(),
        "explicit presence → nullable"
    );
    assert!(
        !field("r_int64").is_nullable(),
        "an absent list is empty, not null"
    );

    // skip_data: only the common columns.
    let common = schema.arrow_schema(true).unwrap();
    let names: Vec<&str> = common.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["time", "id", "ingestion_time"]);
}

#[test]
fn proto3_maps_implicit_fields_and_recursion() {
    let schema = proto3_schema();
    let arrow = schema.arrow_schema(false).unwrap();
    let count = arrow.field_with_name("count").unwrap();
    assert!(!count.is_nullable());
    let DataType::Map(entries, false) = arrow.field_with_name("tags").unwrap().data_type() else {
        panic!("tags is a map")
    };
    let DataType::Struct(kv) = entries.data_type() else {
        panic!()
    };
    assert_eq!(kv[0].name(), "key");
    assert_eq!(kv[0].data_type(), &DataType::Utf8);
    assert!(!kv[0].is_nullable());
    assert_eq!(kv[1].name(), "value");
    // Node contains Node: cut to bytes at the second level.
    let DataType::Struct(node) = arrow.field_with_name("node").unwrap().data_type() else {
        panic!()
    };
    assert_eq!(node[1].data_type(), &DataType::Binary);

    let desc = schema.message_descriptor();
    let mut full = DynamicMessage::new(desc.clone());
    full.set_field_by_name("count", Value::I64(7));
    full.set_field_by_name("name", Value::String("x".into()));
    full.set_field_by_name("level", Value::EnumNumber(42));
    let mut tags = HashMap::new();
    tags.insert(MapKey::String("a".into()), Value::I64(1));
    tags.insert(MapKey::String("b".into()), Value::I64(2));
    full.set_field_by_name("tags", Value::Map(tags));
    let empty = DynamicMessage::new(desc);
    let values = vec![full.encode_to_vec(), empty.encode_to_vec()];
    let batch = schema.to_record_batch(&values, false).unwrap();
    let counts = batch
        .column_by_name("count")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(
        counts.values().to_vec(),
        [7, 0],
        "implicit fields read as their default"
    );
    assert_eq!(counts.null_count(), 0);
    let names = batch.column_by_name("name").unwrap().as_string::<i32>();
    assert_eq!((names.value(0), names.value(1)), ("x", ""));
    assert_eq!(
        enum_name(batch.column_by_name("level").unwrap(), 0),
        "42",
        "unknown number kept as its string"
    );
    assert_eq!(
        enum_name(batch.column_by_name("level").unwrap(), 1),
        "PROCESSING_LEVEL_UNSPECIFIED"
    );
    let map = batch.column_by_name("tags").unwrap().as_map();
    assert_eq!(map.value_length(0), 2);
    assert_eq!(map.value_length(1), 0);
    check_batch(&batch, &schema.message_descriptor(), &values);
}

fn enum_name(column: &ArrayRef, row: usize) -> String {
    let dict = column.as_dictionary::<Int32Type>();
    let key = dict.keys().value(row) as usize;
    dict.values().as_string::<i32>().value(key).to_owned()
}

// ---------------------------------------------------------------------------------------------------------
// Random datapoints, checked field by field against prost-reflect.

fn random_wkb(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.random_range(4..8);
    let mut coords: Vec<geo_types::Coord<f64>> = (0..n)
        .map(|_| geo_types::coord! { x: rng.random_range(-180.0..180.0), y: rng.random_range(-90.0..90.0) })
        .collect();
    coords.push(coords[0]);
    let polygon = geo_types::Polygon::new(geo_types::LineString::new(coords), vec![]);
    let geometry: geo_types::Geometry<f64> = if rng.random_bool(0.5) {
        polygon.into()
    } else {
        geo_types::MultiPolygon::new(vec![polygon.clone(), polygon]).into()
    };
    let mut out = Vec::new();
    wkb::writer::write_geometry(&mut out, &geometry, &Default::default()).unwrap();
    out
}

fn random_string(rng: &mut StdRng) -> String {
    let n = rng.random_range(0..12);
    (0..n)
        .map(|_| match rng.random_range(0..4) {
            0 => 'é',
            1 => '🛰',
            _ => rng.random_range('a'..='z'),
        })
        .collect()
}

fn random_value(rng: &mut StdRng, kind: &Kind) -> Value {
    match kind {
        Kind::Double => Value::F64(rng.random_range(-1e9..1e9)),
        Kind::Float => Value::F32(rng.random_range(-1e6..1e6)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(rng.random()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(rng.random()),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(rng.random()),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(rng.random()),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::String => Value::String(random_string(rng)),
        Kind::Bytes => Value::Bytes(Bytes::from(
            (0..rng.random_range(0..20))
                .map(|_| rng.random())
                .collect::<Vec<u8>>(),
        )),
        Kind::Enum(e) => {
            if rng.random_bool(0.1) {
                Value::EnumNumber(1000 + rng.random_range(0..3))
            } else {
                let values: Vec<_> = e.values().collect();
                Value::EnumNumber(values[rng.random_range(0..values.len())].number())
            }
        }
        Kind::Message(m) => {
            let mut msg = DynamicMessage::new(m.clone());
            match m.full_name() {
                "google.protobuf.Timestamp" | "google.protobuf.Duration" => {
                    msg.set_field_by_name(
                        "seconds",
                        Value::I64(rng.random_range(-4_000_000_000..4_000_000_000)),
                    );
                    msg.set_field_by_name("nanos", Value::I32(rng.random_range(0..1_000_000_000)));
                }
                "datasets.v1.UUID" => {
                    let id: [u8; 16] = rng.random();
                    msg.set_field_by_name("uuid", Value::Bytes(Bytes::copy_from_slice(&id)));
                }
                "datasets.v1.Geometry" => {
                    msg.set_field_by_name("wkb", Value::Bytes(Bytes::from(random_wkb(rng))));
                }
                _ => {
                    for f in m.fields() {
                        if rng.random_bool(0.8) {
                            msg.set_field(&f, random_value(rng, &f.kind()));
                        }
                    }
                }
            }
            Value::Message(msg)
        }
    }
}

fn random_datapoint(rng: &mut StdRng, desc: &MessageDescriptor) -> DynamicMessage {
    let mut msg = DynamicMessage::new(desc.clone());
    for f in desc.fields() {
        if rng.random_bool(0.25) {
            continue;
        }
        if f.is_list() {
            let n = rng.random_range(0..4);
            msg.set_field(
                &f,
                Value::List((0..n).map(|_| random_value(rng, &f.kind())).collect()),
            );
        } else {
            msg.set_field(&f, random_value(rng, &f.kind()));
        }
    }
    msg
}

/// Checks every column of every row against prost-reflect's decoding of the same bytes.
fn check_batch(batch: &RecordBatch, desc: &MessageDescriptor, values: &[Vec<u8>]) {
    assert_eq!(batch.num_rows(), values.len());
    for (row, bytes) in values.iter().enumerate() {
        let msg = DynamicMessage::decode(desc.clone(), bytes.as_slice()).unwrap();
        for (i, f) in desc.fields().enumerate() {
            check_field(
                batch.column(i),
                row,
                &f,
                &msg,
                &format!("row {row} {}", f.name()),
            );
        }
    }
}

fn check_field(column: &ArrayRef, row: usize, f: &FieldDescriptor, msg: &DynamicMessage, at: &str) {
    if f.is_map() {
        let map = column.as_map();
        let Value::Map(expected) = msg.get_field(f).into_owned() else {
            panic!("{at}: not a map")
        };
        let entries = map.value(row);
        assert_eq!(entries.len(), expected.len(), "{at}: entries");
        let keys = entries.column(0).as_string::<i32>();
        let values = entries.column(1).as_primitive::<Int64Type>();
        for j in 0..entries.len() {
            let v = expected
                .get(&MapKey::String(keys.value(j).to_owned()))
                .unwrap();
            assert_eq!(v.as_i64(), Some(values.value(j)), "{at}: map value");
        }
        return;
    }
    if f.is_list() {
        let list = column.as_list::<i32>();
        assert!(!list.is_null(row), "{at}: lists are never null");
        let items = list.value(row);
        let Value::List(expected) = msg.get_field(f).into_owned() else {
            panic!("{at}: not a list")
        };
        assert_eq!(items.len(), expected.len(), "{at}: list length");
        for (j, value) in expected.iter().enumerate() {
            check_value(&items, j, &f.kind(), value, &format!("{at}[{j}]"));
        }
        return;
    }
    if f.supports_presence() && !msg.has_field(f) {
        assert!(column.is_null(row), "{at}: unset must be null");
        return;
    }
    assert!(column.is_valid(row), "{at}: set must be valid");
    check_value(column, row, &f.kind(), &msg.get_field(f), at);
}

fn ns(m: &DynamicMessage) -> i64 {
    let s = m.get_field_by_name("seconds").unwrap().as_i64().unwrap();
    let n = m.get_field_by_name("nanos").unwrap().as_i32().unwrap();
    s * 1_000_000_000 + i64::from(n)
}

fn check_value(column: &ArrayRef, row: usize, kind: &Kind, value: &Value, at: &str) {
    match kind {
        Kind::Double => assert_eq!(
            column.as_primitive::<Float64Type>().value(row),
            value.as_f64().unwrap(),
            "{at}"
        ),
        Kind::Float => assert_eq!(
            column.as_primitive::<Float32Type>().value(row),
            value.as_f32().unwrap(),
            "{at}"
        ),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            assert_eq!(
                column.as_primitive::<Int32Type>().value(row),
                value.as_i32().unwrap(),
                "{at}"
            )
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            assert_eq!(
                column.as_primitive::<Int64Type>().value(row),
                value.as_i64().unwrap(),
                "{at}"
            )
        }
        Kind::Uint32 | Kind::Fixed32 => {
            assert_eq!(
                column.as_primitive::<UInt32Type>().value(row),
                value.as_u32().unwrap(),
                "{at}"
            )
        }
        Kind::Uint64 | Kind::Fixed64 => {
            assert_eq!(
                column.as_primitive::<UInt64Type>().value(row),
                value.as_u64().unwrap(),
                "{at}"
            )
        }
        Kind::Bool => assert_eq!(
            column.as_boolean().value(row),
            value.as_bool().unwrap(),
            "{at}"
        ),
        Kind::String => assert_eq!(
            column.as_string::<i32>().value(row),
            value.as_str().unwrap(),
            "{at}"
        ),
        Kind::Bytes => assert_eq!(
            column.as_binary::<i32>().value(row),
            value.as_bytes().unwrap().as_ref(),
            "{at}"
        ),
        Kind::Enum(e) => {
            let n = value.as_enum_number().unwrap();
            let expected = e
                .get_value(n)
                .map_or_else(|| n.to_string(), |v| v.name().to_owned());
            assert_eq!(enum_name(column, row), expected, "{at}");
        }
        Kind::Message(m) => {
            let nested = value.as_message().unwrap();
            match m.full_name() {
                "google.protobuf.Timestamp" => {
                    assert_eq!(
                        column.as_primitive::<TimestampNanosecondType>().value(row),
                        ns(nested),
                        "{at}"
                    )
                }
                "google.protobuf.Duration" => {
                    assert_eq!(
                        column.as_primitive::<DurationNanosecondType>().value(row),
                        ns(nested),
                        "{at}"
                    )
                }
                "datasets.v1.UUID" => {
                    let id = nested.get_field_by_name("uuid").unwrap();
                    assert_eq!(
                        column.as_fixed_size_binary().value(row),
                        id.as_bytes().unwrap().as_ref(),
                        "{at}"
                    );
                }
                "datasets.v1.Geometry" => {
                    let wkb = nested.get_field_by_name("wkb").unwrap();
                    assert_eq!(
                        column.as_binary::<i32>().value(row),
                        wkb.as_bytes().unwrap().as_ref(),
                        "{at}"
                    );
                }
                _ => {
                    let array = column.as_struct();
                    for (i, f) in m.fields().enumerate() {
                        check_field(
                            array.column(i),
                            row,
                            &f,
                            nested,
                            &format!("{at}.{}", f.name()),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn random_datapoints_equal_dynamic_decoding() {
    let schema = all_kinds();
    let desc = schema.message_descriptor();
    let mut rng = StdRng::seed_from_u64(0x7e57);
    for round in 0..4 {
        let n = [0, 1, 17, 300][round];
        let values: Vec<Vec<u8>> = (0..n)
            .map(|_| random_datapoint(&mut rng, &desc).encode_to_vec())
            .collect();
        let batch = schema.to_record_batch(&values, false).unwrap();
        assert_eq!(batch.schema(), schema.arrow_schema(false).unwrap());
        check_batch(&batch, &desc, &values);
        // skip_data reads just the common fields of the same bytes.
        let common = schema.to_record_batch(&values, true).unwrap();
        assert_eq!(common.num_columns(), 3);
        assert_eq!(common.num_rows(), n);
        for i in 0..3 {
            assert_eq!(common.column(i).as_ref(), batch.column(i).as_ref());
        }
    }
}

#[test]
fn every_optional_field_unset_gives_nulls_and_empty_lists() {
    let schema = all_kinds();
    let empty = DynamicMessage::new(schema.message_descriptor()).encode_to_vec();
    let batch = schema.to_record_batch(&[empty], false).unwrap();
    for (i, field) in batch.schema().fields().iter().enumerate() {
        let column = batch.column(i);
        if field.name().starts_with("r_") {
            assert_eq!(
                column.as_list::<i32>().value_length(0),
                0,
                "{}",
                field.name()
            );
        } else {
            assert!(column.is_null(0), "{} must be null", field.name());
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Protobuf parsing rules.

fn key(number: u32, wire_type: u32) -> Vec<u8> {
    varint(u64::from(number << 3 | wire_type))
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn len_field(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = key(number, 2);
    out.extend(varint(payload.len() as u64));
    out.extend_from_slice(payload);
    out
}

#[test]
fn unknown_fields_are_skipped_and_the_last_value_wins() {
    let schema = all_kinds();
    let mut bytes = Vec::new();
    // Unknown fields of every wire type, including a group with a nested group.
    bytes.extend(key(900, 0));
    bytes.extend(varint(u64::MAX));
    bytes.extend(key(901, 1));
    bytes.extend([1; 8]);
    bytes.extend(len_field(902, b"whatever"));
    bytes.extend(key(903, 5));
    bytes.extend([2; 4]);
    bytes.extend(key(904, 3));
    bytes.extend(key(905, 3));
    bytes.extend(key(1, 0));
    bytes.extend(varint(5));
    bytes.extend(key(905, 4));
    bytes.extend(key(904, 4));
    // f_int64 twice: the last wins; f_string twice likewise.
    bytes.extend(key(8, 0));
    bytes.extend(varint(1));
    bytes.extend(len_field(18, b"first"));
    bytes.extend(key(8, 0));
    bytes.extend(varint(2));
    bytes.extend(len_field(18, b"second"));
    // f_latlon twice: merged (latitude from the first, longitude from the second).
    let mut lat = key(1, 1);
    lat.extend(1.5f64.to_le_bytes());
    let mut lon = key(2, 1);
    lon.extend(2.5f64.to_le_bytes());
    bytes.extend(len_field(22, &lat));
    bytes.extend(len_field(22, &lon));
    // r_int64 packed, then one unpacked element; r_double unpacked.
    let mut packed = varint(10);
    packed.extend(varint(20));
    bytes.extend(len_field(28, &packed));
    bytes.extend(key(28, 0));
    bytes.extend(varint(30));
    bytes.extend(key(29, 1));
    bytes.extend(4.0f64.to_le_bytes());
    // The big field number goes through the sparse table.
    bytes.extend(key(536_870_000, 0));
    bytes.extend(varint(77));

    let batch = schema.to_record_batch(&[bytes.clone()], false).unwrap();
    check_batch(&batch, &schema.message_descriptor(), &[bytes]);
    let col = |n: &str| batch.column_by_name(n).unwrap().clone();
    assert_eq!(col("f_int64").as_primitive::<Int64Type>().value(0), 2);
    assert_eq!(col("f_string").as_string::<i32>().value(0), "second");
    let latlon = col("f_latlon");
    let latlon = latlon.as_struct();
    assert_eq!(latlon.column(0).as_primitive::<Float64Type>().value(0), 1.5);
    assert_eq!(latlon.column(1).as_primitive::<Float64Type>().value(0), 2.5);
    let list = col("r_int64");
    let list = list.as_list::<i32>().value(0);
    assert_eq!(
        list.as_primitive::<Int64Type>().values().to_vec(),
        [10, 20, 30]
    );
    assert_eq!(col("f_big_number").as_primitive::<Int32Type>().value(0), 77);
}

#[test]
fn ewkb_geometries_become_iso_wkb() {
    let schema = all_kinds();
    // An EWKB polygon with SRID 4326 and Z coordinates, little endian.
    let mut ewkb = vec![1u8];
    ewkb.extend((0x2000_0000u32 | 0x8000_0000 | 3).to_le_bytes());
    ewkb.extend(4326u32.to_le_bytes());
    ewkb.extend(1u32.to_le_bytes());
    ewkb.extend(4u32.to_le_bytes());
    for (x, y) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)] {
        for c in [x, y, 9.0f64] {
            ewkb.extend(c.to_le_bytes());
        }
    }
    let geometry = len_field(1, &ewkb);
    let bytes = len_field(4, &geometry);
    let batch = schema.to_record_batch(&[bytes], false).unwrap();
    let iso = batch
        .column_by_name("geometry")
        .unwrap()
        .as_binary::<i32>()
        .value(0)
        .to_vec();
    assert_eq!(iso[0], 1);
    assert_eq!(
        u32::from_le_bytes(iso[1..5].try_into().unwrap()),
        1003,
        "ISO code of PolygonZ"
    );
    assert_eq!(iso.len(), ewkb.len() - 4, "the SRID is dropped");
    assert_eq!(&iso[5..], &ewkb[9..], "coordinates unchanged");
    let parsed = |b: &[u8]| {
        use geo_traits::to_geo::ToGeoGeometry;
        wkb::reader::read_wkb(b).unwrap().to_geometry()
    };
    assert_eq!(parsed(&iso), parsed(&ewkb));
}

// ---------------------------------------------------------------------------------------------------------
// Malformed input.

fn malformed(result: tilebox_core::Result<RecordBatch>) -> (usize, String, String) {
    match result {
        Err(Error::MalformedDatapoint {
            index,
            field,
            message,
        }) => (index, field, message),
        other => panic!("expected MalformedDatapoint, got {other:?}"),
    }
}

#[test]
fn malformed_datapoints_name_the_index_and_field() {
    let schema = all_kinds();
    let good = DynamicMessage::new(schema.message_descriptor()).encode_to_vec();
    let values = |bad: Vec<u8>| vec![good.clone(), good.clone(), bad, good.clone()];

    let (index, field, message) =
        malformed(schema.to_record_batch(&values(len_field(18, &[0xff, 0xfe])), false));
    assert_eq!((index, field.as_str()), (2, "f_string"));
    assert!(message.contains("UTF-8"), "{message}");

    let (index, field, _) = malformed(schema.to_record_batch(&values(key(8, 2)), false));
    assert_eq!((index, field.as_str()), (2, "f_int64"), "wrong wire type");

    // A timestamp whose nanos field is truncated, inside the nested message.
    let mut ts = key(2, 0);
    ts.push(0x80);
    let (index, field, message) =
        malformed(schema.to_record_batch(&values(len_field(1, &ts)), false));
    assert_eq!((index, field.as_str()), (2, "time"));
    assert!(message.contains("varint"), "{message}");

    let (_, field, message) =
        malformed(schema.to_record_batch(&values(len_field(2, &len_field(1, &[1, 2, 3]))), false));
    assert_eq!(field, "id");
    assert!(message.contains("16 bytes"), "{message}");

    let mut lat = key(1, 1);
    lat.extend([0; 3]);
    let (_, field, _) = malformed(schema.to_record_batch(&values(len_field(22, &lat)), false));
    assert_eq!(
        field, "f_latlon.latitude",
        "nested fields are named by path"
    );

    let (index, field, _) = malformed(schema.to_record_batch(&values(vec![0x80]), false));
    assert_eq!(
        (index, field.as_str()),
        (2, "?"),
        "a broken tag names no field"
    );

    let (_, _, message) = malformed(schema.to_record_batch(&values(key(0, 0)), false));
    assert!(message.contains("field number"), "{message}");

    let mut huge = key(1, 0);
    huge.extend(varint(i64::MAX as u64));
    let seconds = len_field(1, &huge);
    let (_, field, message) = malformed(schema.to_record_batch(&values(seconds), false));
    assert_eq!(field, "time");
    assert!(message.contains("nanoseconds"), "{message}");
}

/// Random bytes, truncations and corruptions of valid datapoints: never a panic; an error always names the
/// datapoint; anything prost-reflect rejects is rejected too, and anything accepted decodes to the same
/// values as prost-reflect's.
#[test]
fn random_truncated_and_corrupted_input_never_panics() {
    let schema = all_kinds();
    let desc = schema.message_descriptor();
    let mut rng = StdRng::seed_from_u64(0xbad_f00d);
    let good: Vec<Vec<u8>> = (0..40)
        .map(|_| random_datapoint(&mut rng, &desc).encode_to_vec())
        .collect();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for _ in 0..300 {
        let n = rng.random_range(0..64);
        cases.push((0..n).map(|_| rng.random()).collect());
    }
    for value in &good {
        for cut in (0..value.len()).step_by(3) {
            cases.push(value[..cut].to_vec());
        }
        for _ in 0..10 {
            let mut v = value.clone();
            if v.is_empty() {
                continue;
            }
            let i = rng.random_range(0..v.len());
            v[i] = rng.random();
            cases.push(v);
        }
    }
    let (mut accepted, mut rejected) = (0, 0);
    for case in &cases {
        let values = vec![good[0].clone(), case.clone()];
        let reference = DynamicMessage::decode(desc.clone(), case.as_slice());
        match schema.to_record_batch(&values, false) {
            Ok(batch) => {
                accepted += 1;
                let reference = reference.unwrap_or_else(|e| {
                    panic!("accepted what prost-reflect rejects ({e}): {case:?}")
                });
                // Row 1 against the reference message.
                for (i, f) in desc.fields().enumerate() {
                    check_field(
                        batch.column(i),
                        1,
                        &f,
                        &reference,
                        &format!("case {}", f.name()),
                    );
                }
            }
            Err(Error::MalformedDatapoint { index, .. }) => {
                rejected += 1;
                assert_eq!(index, 1, "the bad datapoint is named");
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert!(
        accepted > 0 && rejected > 0,
        "accepted {accepted}, rejected {rejected}"
    );
}

#[test]
fn datapoints_without_a_dataset_have_no_record_batch() {
    let datapoints = tilebox_core::Datapoints::new("x.Y", vec![Bytes::from_static(b"")], None);
    assert!(matches!(
        datapoints.to_record_batch(),
        Err(Error::Decode { .. })
    ));
}

// ---------------------------------------------------------------------------------------------------------
// Loading straight into Arrow, against the in-memory fake server.

mod fake;

/// Runs each job on a new thread (an `Offload` like the adapters').
struct ThreadOffload;

impl tilebox_core::Offload for ThreadOffload {
    fn spawn(&self, job: tilebox_core::OffloadJob) {
        std::thread::spawn(job);
    }
}

#[test]
fn load_collections_arrow_equals_decoding_afterwards_and_reports_malformed_pages() {
    use futures::executor::block_on;
    let fake = fake::Fake::new(&[3000, 500, 0, 4100], 100);
    // Corrupt datapoint 250 of C3: `time` with the wrong wire type.
    fake.state.lock().unwrap().collections[3].points[250].bytes = Bytes::from_static(&[0x08, 0x80]);
    for offload in [false, true] {
        let rpc = fake.rpc();
        let rpc = if offload {
            rpc.with_offload(Some(std::sync::Arc::new(ThreadOffload)))
        } else {
            rpc
        };
        let client = tilebox_core::Client::from_rpc(rpc);
        block_on(async {
            let dataset = client.dataset(fake::SLUG).await.unwrap();
            let collections = dataset.collections().await.unwrap();
            let options =
                tilebox_core::QueryOptions::new(("2020-01-01", "2021-01-01")).parallel_pages(3);
            let tables = client.load_collections_arrow(&collections, &options).await;
            let raw = client.load_collections(&collections, &options).await;
            for (i, (table, raw)) in tables.iter().zip(&raw).enumerate() {
                if i == 3 {
                    match table {
                        Err(Error::MalformedDatapoint { index, field, .. }) => {
                            assert!(*index < 100, "position within its page of 100");
                            assert_eq!(field, "time");
                        }
                        other => panic!("C3 must fail to decode, got {other:?}"),
                    }
                    continue;
                }
                let table = table.as_ref().unwrap();
                let raw = raw.as_ref().unwrap();
                assert_eq!(table.num_rows(), raw.len());
                assert_eq!(
                    table.concat().unwrap(),
                    raw.to_record_batch().unwrap(),
                    "C{i}"
                );
                if raw.len() > 100 {
                    assert!(table.batches().len() >= raw.len() / 100, "a batch per page");
                }
            }
            assert_eq!(tables[2].as_ref().unwrap().num_rows(), 0);
            assert_eq!(tables[2].as_ref().unwrap().concat().unwrap().num_rows(), 0);
        });
    }
}
