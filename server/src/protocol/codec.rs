//! gzip and JSON transcoding.

use std::io::{Read, Write};

use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor};

use crate::status::{Code, Status};

/// Decompresses gzip, refusing output larger than `limit`.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Bytes, Status> {
    let mut out = Vec::new();
    let mut decoder = GzDecoder::new(data).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| Status::invalid_argument(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(Status::resource_exhausted(format!(
            "decompressed message exceeds the limit of {limit} bytes"
        )));
    }
    Ok(Bytes::from(out))
}

/// Compresses with gzip (fast level).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>, Status> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    enc.write_all(data)
        .map_err(|e| Status::internal(format!("gzip failed: {e}")))?;
    enc.finish()
        .map_err(|e| Status::internal(format!("gzip failed: {e}")))
}

/// Canonical proto3 JSON → binary message.
pub fn json_to_proto(desc: &MessageDescriptor, json: &[u8]) -> Result<Bytes, Status> {
    let json = if json.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        json
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let msg = DynamicMessage::deserialize(desc.clone(), &mut de)
        .map_err(|e| Status::invalid_argument(format!("malformed JSON request: {e}")))?;
    de.end()
        .map_err(|e| Status::invalid_argument(format!("malformed JSON request: {e}")))?;
    Ok(Bytes::from(msg.encode_to_vec()))
}

/// Binary message → canonical proto3 JSON.
pub fn proto_to_json(desc: &MessageDescriptor, bytes: &[u8]) -> Result<Bytes, Status> {
    let msg = DynamicMessage::decode(desc.clone(), bytes).map_err(|e| {
        Status::new(
            Code::Internal,
            format!("response does not decode for JSON: {e}"),
        )
    })?;
    serde_json::to_vec(&msg)
        .map(Bytes::from)
        .map_err(|e| Status::internal(format!("JSON encoding failed: {e}")))
}
