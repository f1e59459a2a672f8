//! A spatiotemporal dataset with a field of every kind a dataset schema can hold (every scalar kind, enums,
//! timestamps, durations, ids, geometries, the well-known nested messages, repeated fields) and a few
//! datapoints that cover extremes, empty values, polygons, multipolygons and points, and one datapoint with
//! every optional field unset. Shared by the Arrow/Parquet tests and the `arrow-peer` binary the Python
//! oracle test drives.

use bytes::Bytes;
use geo_types::{Geometry, LineString, MultiPolygon, Point, Polygon, polygon};
use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value};
use prost_types::FieldDescriptorProto;
use prost_types::field_descriptor_proto::{Label, Type};
use tilebox_core::wire::datasets::v1 as pb;
use tilebox_core::{Client, Collection, Dataset, IngestOptions, Result, Schema};

/// The half-open interval holding every datapoint of [`datapoints`].
pub const INTERVAL: (&str, &str) = ("2021-01-01", "2021-01-02");

/// Fields of kinds the official Python client leaves out of its xarray results: it cannot convert datapoints
/// that have them set at all, so the oracle test checks them in a dataset of their own.
pub const NON_XARRAY_FIELDS: [&str; 7] = [
    "f_uint32",
    "f_sint32",
    "f_sint64",
    "f_fixed32",
    "f_fixed64",
    "f_sfixed32",
    "f_sfixed64",
];

/// Which fields a dataset gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    /// Every field.
    All,
    /// Every field but [`NON_XARRAY_FIELDS`].
    Xarray,
}

/// `(name, type, type name, repeated)` of every custom field.
const FIELDS: &[(&str, Type, Option<&str>, bool)] = &[
    ("f_double", Type::Double, None, false),
    ("f_float", Type::Float, None, false),
    ("f_int32", Type::Int32, None, false),
    ("f_int64", Type::Int64, None, false),
    ("f_uint32", Type::Uint32, None, false),
    ("f_uint64", Type::Uint64, None, false),
    ("f_sint32", Type::Sint32, None, false),
    ("f_sint64", Type::Sint64, None, false),
    ("f_fixed32", Type::Fixed32, None, false),
    ("f_fixed64", Type::Fixed64, None, false),
    ("f_sfixed32", Type::Sfixed32, None, false),
    ("f_sfixed64", Type::Sfixed64, None, false),
    ("f_bool", Type::Bool, None, false),
    ("f_string", Type::String, None, false),
    ("f_bytes", Type::Bytes, None, false),
    (
        "f_level",
        Type::Enum,
        Some(".datasets.v1.ProcessingLevel"),
        false,
    ),
    (
        "f_direction",
        Type::Enum,
        Some(".datasets.v1.FlightDirection"),
        false,
    ),
    (
        "f_timestamp",
        Type::Message,
        Some(".google.protobuf.Timestamp"),
        false,
    ),
    (
        "f_duration",
        Type::Message,
        Some(".google.protobuf.Duration"),
        false,
    ),
    ("f_uuid", Type::Message, Some(".datasets.v1.UUID"), false),
    (
        "f_footprint",
        Type::Message,
        Some(".datasets.v1.Geometry"),
        false,
    ),
    ("f_vec3", Type::Message, Some(".datasets.v1.Vec3"), false),
    (
        "f_quaternion",
        Type::Message,
        Some(".datasets.v1.Quaternion"),
        false,
    ),
    (
        "f_latlon",
        Type::Message,
        Some(".datasets.v1.LatLon"),
        false,
    ),
    (
        "f_latlonalt",
        Type::Message,
        Some(".datasets.v1.LatLonAlt"),
        false,
    ),
    ("r_int64", Type::Int64, None, true),
    ("r_int32", Type::Int32, None, true),
    ("r_double", Type::Double, None, true),
    ("r_bool", Type::Bool, None, true),
    ("r_string", Type::String, None, true),
    ("r_bytes", Type::Bytes, None, true),
    (
        "r_level",
        Type::Enum,
        Some(".datasets.v1.ProcessingLevel"),
        true,
    ),
    (
        "r_timestamp",
        Type::Message,
        Some(".google.protobuf.Timestamp"),
        true,
    ),
    ("r_latlon", Type::Message, Some(".datasets.v1.LatLon"), true),
];

/// The `CreateDatasetRequest` of the every-kind dataset `code_name`.
pub fn create_request(code_name: &str, kinds: Kinds) -> pb::CreateDatasetRequest {
    let fields = FIELDS
        .iter()
        .filter(|(name, ..)| kinds == Kinds::All || !NON_XARRAY_FIELDS.contains(name))
        .map(|(name, ty, type_name, repeated)| pb::Field {
            descriptor: Some(FieldDescriptorProto {
                name: Some((*name).to_owned()),
                label: Some(if *repeated {
                    Label::Repeated
                } else {
                    Label::Optional
                } as i32),
                r#type: Some(*ty as i32),
                type_name: type_name.map(str::to_owned),
                ..Default::default()
            }),
            annotation: Some(pb::FieldAnnotation::default()),
        })
        .collect();
    pb::CreateDatasetRequest {
        name: code_name.to_owned(),
        r#type: Some(pb::DatasetType {
            kind: pb::DatasetKind::Spatiotemporal as i32,
            fields,
        }),
        summary: "A field of every kind".to_owned(),
        code_name: code_name.to_owned(),
        description: String::new(),
    }
}

/// Creates the every-kind dataset `code_name`.
pub async fn create_dataset(client: &Client, code_name: &str, kinds: Kinds) -> Result<Dataset> {
    let wire = client
        .rpc()
        .create_dataset(create_request(code_name, kinds))
        .await?;
    Dataset::from_wire(client.rpc().clone(), wire)
}

/// Creates the dataset and the collection `collection` and ingests [`datapoints`] into it.
pub async fn seed(
    client: &Client,
    code_name: &str,
    collection: &str,
    kinds: Kinds,
) -> Result<Collection> {
    let dataset = create_dataset(client, code_name, kinds).await?;
    let collection = dataset.create_collection(collection).await?;
    let values = datapoints(&dataset.schema()?);
    collection
        .ingest_with(&values, &IngestOptions::new())
        .await?;
    Ok(collection)
}

fn wkb(geometry: impl Into<Geometry<f64>>) -> Value {
    let mut out = Vec::new();
    wkb::writer::write_geometry(
        &mut out,
        &geometry.into(),
        &wkb::writer::WriteOptions::default(),
    )
    .expect("in-memory WKB encoding");
    Value::Bytes(Bytes::from(out))
}

/// Sets field `name` of `message` to a sub-message with these fields.
fn sub(message: &DynamicMessage, name: &str, fields: &[(&str, Value)]) -> Value {
    let field = message
        .descriptor()
        .get_field_by_name(name)
        .expect("field of the every-kind dataset");
    let Kind::Message(descriptor) = field.kind() else {
        panic!("{name} is not a message field");
    };
    let mut sub = DynamicMessage::new(descriptor);
    for (n, v) in fields {
        sub.set_field_by_name(n, v.clone());
    }
    Value::Message(sub)
}

fn timestamp(m: &DynamicMessage, name: &str, seconds: i64, nanos: i32) -> Value {
    sub(
        m,
        name,
        &[
            ("seconds", Value::I64(seconds)),
            ("nanos", Value::I32(nanos)),
        ],
    )
}

fn square(x: f64, y: f64, size: f64) -> Polygon<f64> {
    polygon![(x: x, y: y), (x: x + size, y: y), (x: x + size, y: y + size), (x: x, y: y + size), (x: x, y: y)]
}

const T0: i64 = 1_609_459_200; // 2021-01-01T00:00:00Z

/// A datapoint message that ignores fields its schema does not have (the [`Kinds::Xarray`] dataset).
struct Datapoint(DynamicMessage);

impl Datapoint {
    fn set_field_by_name(&mut self, name: &str, value: Value) {
        if self.0.descriptor().get_field_by_name(name).is_some() {
            self.0.set_field_by_name(name, value);
        }
    }
}

impl std::ops::Deref for Datapoint {
    type Target = DynamicMessage;
    fn deref(&self) -> &DynamicMessage {
        &self.0
    }
}

/// The datapoints: two with every field set (ordinary values, then extremes and empty values), one with
/// every optional field unset, and one with a point and a polygon with a hole.
pub fn datapoints(schema: &Schema) -> Vec<DynamicMessage> {
    let mut out = Vec::new();

    let mut m = Datapoint(schema.new_message());
    m.set_field_by_name("time", timestamp(&m, "time", T0, 123_456_789));
    m.set_field_by_name(
        "geometry",
        sub(&m, "geometry", &[("wkb", wkb(square(10.0, 50.0, 1.5)))]),
    );
    m.set_field_by_name("f_double", Value::F64(1.5));
    m.set_field_by_name("f_float", Value::F32(-2.25));
    m.set_field_by_name("f_int32", Value::I32(-7));
    m.set_field_by_name("f_int64", Value::I64(1 << 40));
    m.set_field_by_name("f_uint32", Value::U32(7));
    m.set_field_by_name("f_uint64", Value::U64(1 << 50));
    m.set_field_by_name("f_sint32", Value::I32(-100));
    m.set_field_by_name("f_sint64", Value::I64(-(1 << 45)));
    m.set_field_by_name("f_fixed32", Value::U32(123_456));
    m.set_field_by_name("f_fixed64", Value::U64(9_876_543_210));
    m.set_field_by_name("f_sfixed32", Value::I32(-123_456));
    m.set_field_by_name("f_sfixed64", Value::I64(-9_876_543_210));
    m.set_field_by_name("f_bool", Value::Bool(true));
    m.set_field_by_name("f_string", Value::String("Grüße, Tilebox".to_owned()));
    m.set_field_by_name("f_bytes", Value::Bytes(Bytes::from_static(&[0, 1, 2, 255])));
    m.set_field_by_name("f_level", Value::EnumNumber(5));
    m.set_field_by_name("f_direction", Value::EnumNumber(1));
    m.set_field_by_name(
        "f_timestamp",
        timestamp(&m, "f_timestamp", 1_582_977_600, 1),
    );
    m.set_field_by_name(
        "f_duration",
        sub(
            &m,
            "f_duration",
            &[
                ("seconds", Value::I64(90)),
                ("nanos", Value::I32(500_000_000)),
            ],
        ),
    );
    m.set_field_by_name(
        "f_uuid",
        sub(
            &m,
            "f_uuid",
            &[("uuid", Value::Bytes(Bytes::from_static(&[0x11; 16])))],
        ),
    );
    m.set_field_by_name(
        "f_footprint",
        sub(
            &m,
            "f_footprint",
            &[(
                "wkb",
                wkb(MultiPolygon(vec![
                    square(0.0, 0.0, 1.0),
                    square(5.0, 5.0, 2.0),
                ])),
            )],
        ),
    );
    m.set_field_by_name(
        "f_vec3",
        sub(
            &m,
            "f_vec3",
            &[
                ("x", Value::F64(1.0)),
                ("y", Value::F64(-2.0)),
                ("z", Value::F64(3.5)),
            ],
        ),
    );
    m.set_field_by_name(
        "f_quaternion",
        sub(
            &m,
            "f_quaternion",
            &[
                ("q1", Value::F64(0.5)),
                ("q2", Value::F64(0.5)),
                ("q3", Value::F64(-0.5)),
                ("q4", Value::F64(0.5)),
            ],
        ),
    );
    m.set_field_by_name(
        "f_latlon",
        sub(
            &m,
            "f_latlon",
            &[
                ("latitude", Value::F64(52.52)),
                ("longitude", Value::F64(13.405)),
            ],
        ),
    );
    m.set_field_by_name(
        "f_latlonalt",
        sub(
            &m,
            "f_latlonalt",
            &[
                ("latitude", Value::F64(-33.9)),
                ("longitude", Value::F64(151.2)),
                ("altitude", Value::F64(58.0)),
            ],
        ),
    );
    m.set_field_by_name(
        "r_int64",
        Value::List(vec![Value::I64(1), Value::I64(-2), Value::I64(3)]),
    );
    m.set_field_by_name("r_int32", Value::List(vec![Value::I32(-1)]));
    m.set_field_by_name(
        "r_double",
        Value::List(vec![Value::F64(0.25), Value::F64(-1e300)]),
    );
    m.set_field_by_name(
        "r_bool",
        Value::List(vec![
            Value::Bool(true),
            Value::Bool(false),
            Value::Bool(true),
        ]),
    );
    m.set_field_by_name(
        "r_string",
        Value::List(vec![
            Value::String("a".to_owned()),
            Value::String("bc".to_owned()),
        ]),
    );
    m.set_field_by_name(
        "r_bytes",
        Value::List(vec![Value::Bytes(Bytes::from_static(b"xyz"))]),
    );
    m.set_field_by_name(
        "r_level",
        Value::List(vec![Value::EnumNumber(1), Value::EnumNumber(4)]),
    );
    let stamps = vec![
        timestamp(&m, "r_timestamp", T0, 0),
        timestamp(&m, "r_timestamp", -1, 999_999_999),
    ];
    m.set_field_by_name("r_timestamp", Value::List(stamps));
    let latlons = vec![
        sub(
            &m,
            "r_latlon",
            &[
                ("latitude", Value::F64(1.0)),
                ("longitude", Value::F64(2.0)),
            ],
        ),
        sub(
            &m,
            "r_latlon",
            &[
                ("latitude", Value::F64(-3.0)),
                ("longitude", Value::F64(4.0)),
            ],
        ),
    ];
    m.set_field_by_name("r_latlon", Value::List(latlons));
    out.push(m.0);

    // Extremes, zero values that are set (explicit presence), empty strings and lists of other lengths.
    let mut m = Datapoint(schema.new_message());
    m.set_field_by_name("time", timestamp(&m, "time", T0 + 1, 1));
    m.set_field_by_name(
        "geometry",
        sub(
            &m,
            "geometry",
            &[(
                "wkb",
                wkb(MultiPolygon(vec![
                    square(-10.0, -10.0, 1.0),
                    square(20.0, 30.0, 0.5),
                ])),
            )],
        ),
    );
    m.set_field_by_name("f_double", Value::F64(-1.0e308));
    m.set_field_by_name("f_float", Value::F32(0.0));
    m.set_field_by_name("f_int32", Value::I32(i32::MIN));
    m.set_field_by_name("f_int64", Value::I64(i64::MIN));
    m.set_field_by_name("f_uint32", Value::U32(u32::MAX));
    m.set_field_by_name("f_uint64", Value::U64(u64::MAX));
    m.set_field_by_name("f_sint32", Value::I32(i32::MAX));
    m.set_field_by_name("f_sint64", Value::I64(i64::MIN));
    m.set_field_by_name("f_fixed32", Value::U32(0));
    m.set_field_by_name("f_fixed64", Value::U64(u64::MAX));
    m.set_field_by_name("f_sfixed32", Value::I32(i32::MIN));
    m.set_field_by_name("f_sfixed64", Value::I64(i64::MAX));
    m.set_field_by_name("f_bool", Value::Bool(false));
    m.set_field_by_name("f_string", Value::String(String::new()));
    m.set_field_by_name("f_bytes", Value::Bytes(Bytes::new()));
    m.set_field_by_name("f_level", Value::EnumNumber(0));
    m.set_field_by_name("f_direction", Value::EnumNumber(2));
    m.set_field_by_name(
        "f_timestamp",
        timestamp(&m, "f_timestamp", -14_182_940, 500_000_000),
    );
    m.set_field_by_name(
        "f_duration",
        sub(
            &m,
            "f_duration",
            &[
                ("seconds", Value::I64(-1)),
                ("nanos", Value::I32(-250_000_000)),
            ],
        ),
    );
    m.set_field_by_name(
        "f_uuid",
        sub(
            &m,
            "f_uuid",
            &[(
                "uuid",
                Value::Bytes(Bytes::copy_from_slice(
                    uuid::Uuid::from_u128(0x0191_dac5_2b1a_7d4e_9f5c_1a2b_3c4d_5e6f).as_bytes(),
                )),
            )],
        ),
    );
    m.set_field_by_name(
        "f_footprint",
        sub(
            &m,
            "f_footprint",
            &[("wkb", wkb(square(-180.0, -90.0, 360.0)))],
        ),
    );
    m.set_field_by_name(
        "f_vec3",
        sub(
            &m,
            "f_vec3",
            &[
                ("x", Value::F64(0.0)),
                ("y", Value::F64(0.0)),
                ("z", Value::F64(0.0)),
            ],
        ),
    );
    m.set_field_by_name(
        "f_quaternion",
        sub(&m, "f_quaternion", &[("q4", Value::F64(1.0))]),
    );
    m.set_field_by_name("f_latlon", sub(&m, "f_latlon", &[]));
    m.set_field_by_name(
        "f_latlonalt",
        sub(&m, "f_latlonalt", &[("altitude", Value::F64(-420.5))]),
    );
    m.set_field_by_name("r_int64", Value::List(vec![Value::I64(i64::MAX)]));
    m.set_field_by_name("r_double", Value::List(Vec::new()));
    m.set_field_by_name(
        "r_string",
        Value::List(
            ["", "d", "ef", "ghi"]
                .iter()
                .map(|s| Value::String((*s).to_owned()))
                .collect(),
        ),
    );
    m.set_field_by_name("r_level", Value::List(vec![Value::EnumNumber(0)]));
    m.set_field_by_name(
        "r_latlon",
        Value::List(vec![sub(&m, "r_latlon", &[("latitude", Value::F64(89.5))])]),
    );
    out.push(m.0);

    // Every optional field unset.
    let mut m = Datapoint(schema.new_message());
    m.set_field_by_name("time", timestamp(&m, "time", T0 + 2, 0));
    out.push(m.0);

    // A point as the footprint and a polygon with a hole as the geometry.
    let mut m = Datapoint(schema.new_message());
    m.set_field_by_name("time", timestamp(&m, "time", T0 + 3_600, 999_999_999));
    let holed = Polygon::new(
        LineString::from(vec![
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (0.0, 0.0),
        ]),
        vec![LineString::from(vec![
            (2.0, 2.0),
            (4.0, 2.0),
            (4.0, 4.0),
            (2.0, 2.0),
        ])],
    );
    m.set_field_by_name("geometry", sub(&m, "geometry", &[("wkb", wkb(holed))]));
    m.set_field_by_name(
        "f_footprint",
        sub(&m, "f_footprint", &[("wkb", wkb(Point::new(13.4, 52.5)))]),
    );
    m.set_field_by_name("f_level", Value::EnumNumber(12));
    m.set_field_by_name("f_string", Value::String("only a few fields".to_owned()));
    m.set_field_by_name("r_int64", Value::List(vec![Value::I64(0), Value::I64(0)]));
    out.push(m.0);

    out
}
