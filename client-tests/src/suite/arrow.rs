//! The Arrow tests of the shared suite (feature `arrow`): the seed workload loaded straight into record
//! batches equals the raw load decoded afterwards and, field by field, `records()`; and a dataset with every
//! field kind survives ingest → query → Arrow.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use bytes::Bytes;
use geo_traits::to_geo::ToGeoGeometry;
use prost::Message;
use prost_reflect::{DynamicMessage, Value};
use tilebox_core::arrow::RecordBatches;
use tilebox_core::{
    DatasetKind, DatasetSpec, DynamicDatapoint, FieldSpec, FieldType, IngestOptions, QueryOptions,
};
use tilebox_core::{arrow_array, arrow_schema};

use super::api::{Api, Setup};
use super::servers;
use super::tests::{LANDSAT, SEED, year_2020};

/// The name of enum value `row` of a dictionary column.
fn enum_name(column: &ArrayRef, row: usize) -> &str {
    let dict = column.as_dictionary::<Int32Type>();
    let key = usize::try_from(dict.keys().value(row)).expect("non-negative key");
    dict.values().as_string::<i32>().value(key)
}

fn wkb_shape(wkb: &[u8]) -> geo_types::Geometry<f64> {
    wkb::reader::read_wkb(wkb)
        .expect("Arrow geometry is readable WKB")
        .to_geometry()
}

/// Every Landsat column of `batch` equals what `records()` reads from the same datapoints.
fn landsat_equals_records(batch: &RecordBatch, records: &[DynamicDatapoint]) {
    assert_eq!(batch.num_rows(), records.len());
    let col = |name: &str| batch.column_by_name(name).expect(name).clone();
    let (time, id, ingestion, geometry) = (
        col("time"),
        col("id"),
        col("ingestion_time"),
        col("geometry"),
    );
    let time = time.as_primitive::<TimestampNanosecondType>();
    let ingestion = ingestion.as_primitive::<TimestampNanosecondType>();
    let id = id.as_fixed_size_binary();
    let geometry = geometry.as_binary::<i32>();
    for (row, record) in records.iter().enumerate() {
        let nanos = |t: chrono::DateTime<chrono::Utc>| t.timestamp_nanos_opt().expect("in range");
        assert_eq!(
            Some(time.value(row)),
            record.time().map(nanos),
            "time {row}"
        );
        assert_eq!(
            Some(ingestion.value(row)),
            record.ingestion_time().map(nanos),
            "ingestion_time {row}"
        );
        assert_eq!(
            Some(id.value(row)),
            record.id().as_ref().map(|u| &u.as_bytes()[..])
        );
        assert_eq!(record.uuid("id"), record.id(), "uuid(name) reads ids");
        let shape = record
            .geometry("geometry")
            .expect("geometry parses")
            .expect("geometry set");
        assert_eq!(wkb_shape(geometry.value(row)), shape, "geometry {row}");
        for name in ["granule_name", "platform"] {
            let column = col(name);
            assert_eq!(
                Some(column.as_string::<i32>().value(row).to_owned()),
                record.get_str(name),
                "{name} {row}"
            );
        }
        assert_eq!(
            Some(enum_name(&col("processing_level"), row).to_owned()),
            record.get_enum_name("processing_level"),
            "processing_level {row}"
        );
        for name in ["path", "row"] {
            let column = col(name);
            assert_eq!(
                Some(column.as_primitive::<Int64Type>().value(row)),
                record.get(name).and_then(|v| v.as_i64()),
                "{name} {row}"
            );
        }
        for name in ["cloud_cover", "sun_elevation", "sun_azimuth"] {
            let column = col(name);
            assert_eq!(
                Some(column.as_primitive::<Float64Type>().value(row)),
                record.get(name).and_then(|v| v.as_f64()),
                "{name} {row}"
            );
        }
    }
}

/// The seed workload through `load_collections_arrow` (pages decoded while others are in flight) equals
/// the raw load decoded afterwards; L1T equals `records()` field by field; `query_arrow`, `pages_arrow` and
/// `skip_data` agree.
pub fn arrow_seed_workload<A: Api>() {
    let api = A::build(Setup::new(servers::demo()).concurrency(8));
    let dataset = api.dataset(LANDSAT).expect("landsat dataset");
    let collections: Vec<A::Collection> = SEED
        .iter()
        .map(|(name, _)| api.collection(&dataset, name).expect("collection"))
        .collect();
    let options = year_2020().parallel_pages(4);
    let arrow = api.load_collections_arrow(&collections, &options);
    let raw = api.load_collections(&collections, &options);
    let expected_schema = A::core_dataset(&dataset)
        .schema()
        .expect("schema")
        .arrow_schema(false)
        .expect("arrow schema");
    for (((name, count), arrow), raw) in SEED.iter().zip(arrow).zip(raw) {
        let arrow = arrow.expect("arrow load");
        let raw = raw.expect("raw load");
        assert_eq!(arrow.num_rows(), *count, "{name}");
        assert_eq!(arrow.schema(), &expected_schema);
        assert!(
            arrow.batches().len() >= count.div_ceil(2000),
            "{name}: one batch per page of at most 2000"
        );
        let batch = arrow.concat().expect("concat");
        assert_eq!(
            batch,
            raw.to_record_batch().expect("to_record_batch"),
            "{name}: decoding during the load = decoding afterwards"
        );
    }

    let l1t = &collections[1];
    let data = api.query(l1t, &year_2020()).expect("query");
    let records = data.records().expect("records");
    let batch = api
        .query_arrow(l1t, &year_2020())
        .expect("query_arrow")
        .concat()
        .expect("concat");
    landsat_equals_records(&batch, &records);
    let first = data.get(0).expect("a first datapoint");
    assert_eq!(first.id().ok(), records[0].id());
    assert_eq!(
        first.geometry().expect("geometry"),
        records[0].geometry("geometry").expect("geometry")
    );

    let pages: Vec<RecordBatch> = api
        .pages_arrow(l1t, &year_2020().page_size(300))
        .into_iter()
        .collect::<tilebox_core::Result<_>>()
        .expect("pages_arrow");
    assert_eq!(pages.len(), 5, "1281 datapoints in pages of 300");
    let paged = RecordBatches::new(batch.schema(), pages)
        .concat()
        .expect("concat");
    assert_eq!(paged, batch);

    let skipped = api
        .query_arrow(l1t, &year_2020().skip_data(true))
        .expect("skip_data")
        .concat()
        .expect("concat");
    let names: Vec<&str> = skipped
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["time", "id", "ingestion_time"]);
    for column in ["time", "id"] {
        assert_eq!(
            skipped.column_by_name(column).map(|c| c.to_data()),
            batch.column_by_name(column).map(|c| c.to_data()),
            "{column}"
        );
    }
    // skip_data answers carry the ingestion time truncated to milliseconds.
    let millis = |b: &RecordBatch| -> Vec<i64> {
        b.column_by_name("ingestion_time")
            .expect("ingestion_time")
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .iter()
            .map(|ns| ns.div_euclid(1_000_000))
            .collect()
    };
    assert_eq!(millis(&skipped), millis(&batch));
}

fn polygon(x: f64, y: f64, size: f64) -> geo_types::Polygon<f64> {
    geo_types::Polygon::new(
        geo_types::LineString::from(vec![
            (x, y),
            (x + size, y),
            (x + size, y + size),
            (x, y + size),
            (x, y),
        ]),
        vec![],
    )
}

fn wkb_bytes(geometry: geo_types::Geometry<f64>) -> Bytes {
    let mut out = Vec::new();
    wkb::writer::write_geometry(&mut out, &geometry, &Default::default()).expect("WKB");
    Bytes::from(out)
}

fn message(desc: &prost_reflect::MessageDescriptor, name: &str, fields: &[(&str, Value)]) -> Value {
    let kind = desc.get_field_by_name(name).expect(name).kind();
    let mut msg = DynamicMessage::new(kind.as_message().expect("message field").clone());
    for (field, value) in fields {
        msg.set_field_by_name(field, value.clone());
    }
    Value::Message(msg)
}

/// A dataset with every field kind: datapoints ingested as `DynamicMessage`s come back through
/// `query_arrow` with the values they were sent with (ids and ingestion times set by the server), and a
/// datapoint with every optional field unset gives nulls and empty lists.
pub fn arrow_all_kinds_round_trip<A: Api>() {
    let api = A::build(Setup::new(servers::demo()));
    let repeated = |name: &str, t: FieldType| FieldSpec::new(name, t).repeated();
    let spec = DatasetSpec::new(DatasetKind::Spatiotemporal, "suite_arrow_kinds")
        .field(FieldSpec::new("f_string", FieldType::String))
        .field(FieldSpec::new("f_bytes", FieldType::Bytes))
        .field(FieldSpec::new("f_bool", FieldType::Bool))
        .field(FieldSpec::new("f_int32", FieldType::Int32))
        .field(FieldSpec::new("f_int64", FieldType::Int64))
        .field(FieldSpec::new("f_uint64", FieldType::Uint64))
        .field(FieldSpec::new("f_double", FieldType::Double))
        .field(FieldSpec::new("f_duration", FieldType::Duration))
        .field(FieldSpec::new("f_timestamp", FieldType::Timestamp))
        .field(FieldSpec::new("f_uuid", FieldType::Uuid))
        .field(FieldSpec::new("f_geometry", FieldType::Geometry))
        .field(FieldSpec::new("f_vec3", FieldType::Vec3))
        .field(FieldSpec::new("f_quaternion", FieldType::Quaternion))
        .field(FieldSpec::new("f_latlon", FieldType::LatLon))
        .field(FieldSpec::new("f_latlonalt", FieldType::LatLonAlt))
        .field(FieldSpec::new(
            "f_level",
            FieldType::Enum("datasets.v1.ProcessingLevel".into()),
        ))
        .field(repeated("r_int64", FieldType::Int64))
        .field(repeated("r_string", FieldType::String))
        .field(repeated("r_latlon", FieldType::LatLon))
        .field(repeated("r_timestamp", FieldType::Timestamp))
        .field(repeated(
            "r_polarization",
            FieldType::Enum("datasets.v1.Polarization".into()),
        ));
    let dataset = api.create_dataset(spec).expect("create dataset");
    let collection = api
        .create_collection(&dataset, "kinds")
        .expect("collection");
    let schema = A::core_dataset(&dataset).schema().expect("schema");
    let desc = schema.message_descriptor();

    let start = chrono::DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc);
    let timestamp = |t: chrono::DateTime<chrono::Utc>| {
        let ts = tilebox_core::time::datetime_to_timestamp(&t);
        message(
            &desc,
            "time",
            &[
                ("seconds", Value::I64(ts.seconds)),
                ("nanos", Value::I32(ts.nanos)),
            ],
        )
    };
    let mut values = Vec::new();
    for i in 0..24i64 {
        let t = start
            + chrono::TimeDelta::milliseconds(i * 1000 + 123)
            + chrono::TimeDelta::nanoseconds(i * 7);
        let mut msg = DynamicMessage::new(desc.clone());
        msg.set_field_by_name("time", timestamp(t));
        if i == 0 {
            // Every optional field unset.
            values.push(msg);
            continue;
        }
        let x = i as f64;
        let shape: geo_types::Geometry<f64> = if i % 2 == 0 {
            polygon(x, -x, 1.5).into()
        } else {
            geo_types::MultiPolygon::new(vec![polygon(x, x, 1.0), polygon(-x, x, 0.5)]).into()
        };
        let geometry = message(
            &desc,
            "geometry",
            &[("wkb", Value::Bytes(wkb_bytes(shape.clone())))],
        );
        msg.set_field_by_name("geometry", geometry.clone());
        msg.set_field_by_name("f_geometry", geometry);
        msg.set_field_by_name("f_string", Value::String(format!("value-{i}-é🛰")));
        msg.set_field_by_name(
            "f_bytes",
            Value::Bytes(Bytes::from(vec![i as u8; i as usize])),
        );
        msg.set_field_by_name("f_bool", Value::Bool(i % 3 == 0));
        msg.set_field_by_name("f_int32", Value::I32(-(i as i32) * 1000));
        msg.set_field_by_name("f_int64", Value::I64(i * 10_000_000_000));
        msg.set_field_by_name("f_uint64", Value::U64(u64::MAX - i as u64));
        msg.set_field_by_name("f_double", Value::F64(x / 3.0));
        msg.set_field_by_name(
            "f_duration",
            message(
                &desc,
                "f_duration",
                &[("seconds", Value::I64(i * 60)), ("nanos", Value::I32(5))],
            ),
        );
        msg.set_field_by_name("f_timestamp", timestamp(start - chrono::TimeDelta::days(i)));
        msg.set_field_by_name(
            "f_uuid",
            message(
                &desc,
                "f_uuid",
                &[(
                    "uuid",
                    Value::Bytes(Bytes::from(
                        uuid::Uuid::from_u128(i as u128).as_bytes().to_vec(),
                    )),
                )],
            ),
        );
        msg.set_field_by_name(
            "f_vec3",
            message(
                &desc,
                "f_vec3",
                &[
                    ("x", Value::F64(x)),
                    ("y", Value::F64(-x)),
                    ("z", Value::F64(0.5)),
                ],
            ),
        );
        msg.set_field_by_name(
            "f_quaternion",
            message(
                &desc,
                "f_quaternion",
                &[("q1", Value::F64(1.0)), ("q4", Value::F64(x))],
            ),
        );
        msg.set_field_by_name(
            "f_latlon",
            message(
                &desc,
                "f_latlon",
                &[("latitude", Value::F64(x)), ("longitude", Value::F64(-x))],
            ),
        );
        msg.set_field_by_name(
            "f_latlonalt",
            message(
                &desc,
                "f_latlonalt",
                &[("latitude", Value::F64(x)), ("altitude", Value::F64(100.0))],
            ),
        );
        // Number 99 is not a declared ProcessingLevel: kept as "99".
        msg.set_field_by_name(
            "f_level",
            Value::EnumNumber(if i == 5 { 99 } else { (i % 12) as i32 }),
        );
        msg.set_field_by_name(
            "r_int64",
            Value::List((0..i % 4).map(|k| Value::I64(k * i)).collect()),
        );
        msg.set_field_by_name(
            "r_string",
            Value::List((0..i % 3).map(|k| Value::String(format!("s{k}"))).collect()),
        );
        msg.set_field_by_name(
            "r_latlon",
            Value::List(
                (0..i % 3)
                    .map(|k| message(&desc, "r_latlon", &[("latitude", Value::F64(k as f64))]))
                    .collect(),
            ),
        );
        msg.set_field_by_name(
            "r_timestamp",
            Value::List(vec![timestamp(start + chrono::TimeDelta::hours(i))]),
        );
        msg.set_field_by_name(
            "r_polarization",
            Value::List(vec![
                Value::EnumNumber(4),
                Value::EnumNumber((i % 11) as i32),
            ]),
        );
        values.push(msg);
    }
    let summary = api.ingest(&collection, &values, false).expect("ingest");
    let sent: Vec<Vec<u8>> = values.iter().map(Message::encode_to_vec).collect();
    let expected = schema
        .to_record_batch(&sent, false)
        .expect("decode what was sent");

    let options = QueryOptions::new(("2024-05-01", "2024-05-02"));
    let result = api.query_arrow(&collection, &options).expect("query_arrow");
    assert_eq!(
        result.schema(),
        &schema.arrow_schema(false).expect("arrow schema")
    );
    let batch = result.concat().expect("concat");
    assert_eq!(batch.num_rows(), values.len());
    for (i, field) in batch.schema().fields().iter().enumerate() {
        let name = field.name();
        match name.as_str() {
            "id" => {
                let ids = batch.column(i).as_fixed_size_binary();
                for (row, id) in summary.datapoint_ids.iter().enumerate() {
                    assert_eq!(ids.value(row), id.as_bytes(), "id {row}");
                }
            }
            "ingestion_time" => assert_eq!(batch.column(i).null_count(), 0),
            _ => assert_eq!(
                batch.column(i).to_data(),
                expected.column(i).to_data(),
                "column {name}"
            ),
        }
    }
    // Spot checks of the mapping on values.
    let level = batch.column_by_name("f_level").expect("f_level");
    assert!(level.is_null(0));
    assert_eq!(enum_name(level, 3), "PROCESSING_LEVEL_L1C");
    assert_eq!(enum_name(level, 5), "99");
    let row0_nulls = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            !["time", "id", "ingestion_time"].contains(&f.name().as_str())
                && !matches!(f.data_type(), arrow_schema::DataType::List(_))
                && !batch.column(*i).is_null(0)
        })
        .map(|(_, f)| f.name().clone())
        .collect::<Vec<_>>();
    assert!(
        row0_nulls.is_empty(),
        "unset fields of datapoint 0 must be null: {row0_nulls:?}"
    );
    let geometry = batch.column_by_name("f_geometry").expect("f_geometry");
    let record = api
        .query(&collection, &options)
        .expect("query")
        .records()
        .expect("records");
    for (row, record) in record.iter().enumerate().skip(1) {
        assert_eq!(
            Some(wkb_shape(geometry.as_binary::<i32>().value(row))),
            record.geometry("f_geometry").expect("geometry")
        );
        assert_eq!(
            record.uuid("f_uuid"),
            Some(uuid::Uuid::from_u128(row as u128))
        );
    }
    let _ = IngestOptions::new();
    api.delete_dataset(&dataset).expect("delete dataset");
}
