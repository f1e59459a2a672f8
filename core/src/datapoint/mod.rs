//! Datapoint decoding, typed and dynamic.
//!
//! * Typed: [`decode_typed`] decodes a datapoint into the caller's own `prost::Message`.
//! * Dynamic: a [`Schema`] is built from a dataset's [`AnnotatedType`](crate::wire::datasets::v1::AnnotatedType)
//!   (its descriptor set, completed by the bundled well-known and STAC files, with editions-2023 files rewritten
//!   to proto2 so prost-reflect can load them) and [`decode_dynamic`] turns bytes into a [`DynamicDatapoint`].
//! * Metadata only: [`decode_meta`] reads `time`, `id` and `ingestion_time` (fields 1–3 of every current
//!   dataset type) without a schema.

mod dynamic;
mod meta;
mod pool;
mod schema;

pub use dynamic::DynamicDatapoint;
pub use meta::{DatapointMeta, decode_meta, decode_typed, timestamp_to_datetime, uuid_from_bytes};
pub use pool::bundled_pool;
pub use schema::Schema;

/// Decodes one serialized datapoint with a dataset's schema.
pub fn decode_dynamic(schema: &Schema, bytes: &[u8]) -> crate::Result<DynamicDatapoint> {
    schema.decode(bytes)
}
