//! Datapoint ids and the per-datapoint work of ingest and query.
//!
//! **Id scheme** (decided here, spec §7.1 left it open): 6 bytes big-endian `floor(time in ms)` ‖ the first
//! 10 bytes of `SHA-256(collection id (16 bytes) ‖ canonical encoding)`, where the canonical encoding is the
//! datapoint re-encoded by the dataset's descriptor (fields in number order) with `id` and
//! `ingestion_time` cleared. Ids are therefore time-sortable, deterministic (re-ingesting the same content
//! into the same collection yields the same id), and unique across collections, so one id cursor orders
//! results across all collections of a dataset.

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, ReflectMessage, Value};
use prost_types::Timestamp;
use sha2::{Digest, Sha256};
use tilebox_core::wire::datasets::v1::{DatasetKind, TemporalDatapoint, Uuid};

use crate::geometry::wkb_bbox;
use crate::schema::DatasetSchema;
use crate::status::Status;
use crate::store::{DatapointRecord, RawId};

/// Builds an id from a time in ms and the hash of the canonical content.
pub fn make_id(time_ms: i64, collection_id: &RawId, canonical: &[u8]) -> RawId {
    let mut hasher = Sha256::new();
    hasher.update(collection_id);
    hasher.update(canonical);
    let digest = hasher.finalize();
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&time_ms.to_be_bytes()[2..]);
    id[6..].copy_from_slice(&digest[..10]);
    id
}

/// The id whose first 6 bytes encode `ms` (clamped to 0..2^48) and whose remaining bytes are zero.
pub fn ms_prefix(ms: i64) -> RawId {
    let ms = ms.clamp(0, (1i64 << 48) - 1);
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    id
}

/// Nanoseconds since the epoch of a Timestamp, if representable and valid.
pub fn timestamp_ns(ts: &Timestamp) -> Option<i64> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return None;
    }
    ts.seconds
        .checked_mul(1_000_000_000)?
        .checked_add(i64::from(ts.nanos))
}

/// A Timestamp from nanoseconds since the epoch.
pub fn ns_timestamp(ns: i64) -> Timestamp {
    Timestamp {
        seconds: ns.div_euclid(1_000_000_000),
        nanos: ns.rem_euclid(1_000_000_000) as i32,
    }
}

/// The current time in ns since the epoch.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

fn dynamic_timestamp(msg: &DynamicMessage, field: &str) -> Result<Option<Timestamp>, String> {
    if !msg.has_field_by_name(field) {
        return Ok(None);
    }
    match msg.get_field_by_name(field).as_deref() {
        Some(Value::Message(ts)) => {
            let seconds = ts
                .get_field_by_name("seconds")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            let nanos = ts
                .get_field_by_name("nanos")
                .and_then(|v| v.as_i32())
                .unwrap_or(0);
            Ok(Some(Timestamp { seconds, nanos }))
        }
        _ => Err(format!("field {field} is not a timestamp")),
    }
}

fn set_message_field(
    msg: &mut DynamicMessage,
    field: &str,
    values: &[(&str, Value)],
) -> Result<(), Status> {
    let fd = msg
        .descriptor()
        .get_field_by_name(field)
        .ok_or_else(|| Status::internal(format!("schema has no field {field}")))?;
    let kind = fd.kind();
    let md = kind
        .as_message()
        .ok_or_else(|| Status::internal(format!("field {field} is not a message")))?;
    let mut inner = DynamicMessage::new(md.clone());
    for (name, value) in values {
        inner
            .try_set_field_by_name(name, value.clone())
            .map_err(|e| Status::internal(format!("cannot set {field}.{name}: {e}")))?;
    }
    msg.try_set_field(&fd, Value::Message(inner))
        .map_err(|e| Status::internal(format!("cannot set {field}: {e}")))
}

/// Validates one ingested datapoint and turns it into a stored record (id and ingestion time assigned).
pub fn prepare(
    schema: &DatasetSchema,
    collection_id: &RawId,
    value: &[u8],
    ingestion_ns: i64,
) -> Result<DatapointRecord, String> {
    if value.is_empty() {
        return Err("empty datapoint".into());
    }
    let mut msg = DynamicMessage::decode(schema.descriptor.clone(), value)
        .map_err(|e| format!("malformed datapoint: {e}"))?;
    let time = dynamic_timestamp(&msg, "time")?.ok_or("datapoint has no time")?;
    let time_ns =
        timestamp_ns(&time).ok_or("datapoint time out of range (must be within 1970..2262)")?;
    if time_ns < 0 {
        return Err("datapoint time before 1970 is not supported".into());
    }
    let bbox = if schema.kind == DatasetKind::Spatiotemporal && msg.has_field_by_name("geometry") {
        match msg.get_field_by_name("geometry").as_deref() {
            Some(Value::Message(g)) => {
                let wkb = g
                    .get_field_by_name("wkb")
                    .and_then(|v| v.as_bytes().cloned())
                    .unwrap_or_default();
                wkb_bbox(&wkb).map_err(|e| format!("invalid geometry: {e}"))?
            }
            _ => None,
        }
    } else {
        None
    };
    msg.clear_field_by_name("id");
    msg.clear_field_by_name("ingestion_time");
    let canonical = msg.encode_to_vec();
    let id = make_id(time_ns.div_euclid(1_000_000), collection_id, &canonical);
    set_message_field(
        &mut msg,
        "id",
        &[("uuid", Value::Bytes(Bytes::copy_from_slice(&id)))],
    )
    .map_err(|s| s.message)?;
    let ts = ns_timestamp(ingestion_ns);
    set_message_field(
        &mut msg,
        "ingestion_time",
        &[
            ("seconds", Value::I64(ts.seconds)),
            ("nanos", Value::I32(ts.nanos)),
        ],
    )
    .map_err(|s| s.message)?;
    Ok(DatapointRecord {
        id,
        time_ns,
        ingestion_time_ns: ingestion_ns,
        bbox,
        data: Bytes::from(msg.encode_to_vec()),
    })
}

/// The `skip_data` form of a datapoint: fields 1–3 only, ingestion time truncated to milliseconds.
pub fn skip_data_encoding(record: &DatapointRecord) -> Bytes {
    let ingestion_ms_ns = record.ingestion_time_ns.div_euclid(1_000_000) * 1_000_000;
    let dp = TemporalDatapoint {
        time: Some(ns_timestamp(record.time_ns)),
        id: Some(Uuid {
            uuid: Bytes::copy_from_slice(&record.id),
        }),
        ingestion_time: Some(ns_timestamp(ingestion_ms_ns)),
    };
    Bytes::from(dp.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_prefix_is_time() {
        let id = make_id(0x0181_f4ef_2040, &[7; 16], b"x");
        assert_eq!(&id[..6], &[0x01, 0x81, 0xf4, 0xef, 0x20, 0x40]);
        assert_ne!(make_id(1, &[7; 16], b"x"), make_id(1, &[8; 16], b"x"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            timestamp_ns(&Timestamp {
                seconds: 1,
                nanos: 5
            }),
            Some(1_000_000_005)
        );
        assert_eq!(
            timestamp_ns(&Timestamp {
                seconds: 1,
                nanos: -1
            }),
            None
        );
        assert_eq!(
            ns_timestamp(-1),
            Timestamp {
                seconds: -1,
                nanos: 999_999_999
            }
        );
    }
}
