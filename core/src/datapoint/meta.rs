//! Typed decoding and the metadata fast path.

use chrono::{DateTime, Utc};
use prost::Message;

use crate::error::{Error, Result};
use crate::wire::datasets::v1::TemporalDatapoint;

/// The common metadata of a datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatapointMeta {
    /// The datapoint id (16 bytes; the version bits are not meaningful).
    pub id: uuid::Uuid,
    /// The datapoint's time.
    pub time: DateTime<Utc>,
    /// When the server stored it (absent in datapoints that were never ingested).
    pub ingestion_time: Option<DateTime<Utc>>,
}

/// Decodes a datapoint into the caller's own message type.
pub fn decode_typed<T: Message + Default>(bytes: &[u8]) -> Result<T> {
    T::decode(bytes).map_err(|e| {
        Error::decode(format!(
            "cannot decode datapoint as {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// Reads `time` (field 1), `id` (field 2) and `ingestion_time` (field 3) of a datapoint of any current dataset
/// type, skipping every other field. Fails with [`Error::Decode`] when the bytes are not a message or `time`
/// or `id` is missing (legacy schemas without the common fields).
pub fn decode_meta(bytes: &[u8]) -> Result<DatapointMeta> {
    let dp = TemporalDatapoint::decode(bytes)
        .map_err(|e| Error::decode(format!("cannot decode datapoint: {e}")))?;
    let id = dp
        .id
        .as_ref()
        .ok_or_else(|| Error::decode("datapoint has no id"))
        .and_then(|id| uuid_from_bytes(&id.uuid))?;
    let time = dp
        .time
        .as_ref()
        .ok_or_else(|| Error::decode("datapoint has no time"))
        .and_then(timestamp_to_datetime)?;
    let ingestion_time = dp
        .ingestion_time
        .as_ref()
        .map(timestamp_to_datetime)
        .transpose()?;
    Ok(DatapointMeta {
        id,
        time,
        ingestion_time,
    })
}

/// Converts a protobuf `Timestamp` to a UTC instant.
pub fn timestamp_to_datetime(ts: &prost_types::Timestamp) -> Result<DateTime<Utc>> {
    u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| {
            Error::decode(format!(
                "timestamp out of range: {}s {}ns",
                ts.seconds, ts.nanos
            ))
        })
}

/// Reads a 16-byte id (never validating the version bits).
pub fn uuid_from_bytes(bytes: &[u8]) -> Result<uuid::Uuid> {
    uuid::Uuid::from_slice(bytes)
        .map_err(|_| Error::decode(format!("an id must be 16 bytes, got {}", bytes.len())))
}
