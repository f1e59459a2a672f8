//! Datapoints as Apache Arrow record batches (feature `arrow`).
//!
//! * [`arrow_schema()`]: the Arrow schema of a dataset type — one column per field, in declaration order,
//!   named as the fields are (the mapping is below).
//! * The decoder: compiled once per dataset type from its message descriptor (cached with the dataset's
//!   [`Schema`](crate::Schema)), it walks each datapoint's wire bytes once and appends straight into Arrow
//!   buffers — no `DynamicMessage`, no per-datapoint allocation. Unknown fields are skipped; malformed bytes
//!   give [`Error::MalformedDatapoint`](crate::Error::MalformedDatapoint) naming the datapoint and the field.
//!
//! Entry points: [`Datapoints::to_record_batch`](crate::Datapoints::to_record_batch) (a result or one page),
//! [`Client::load_collections_arrow`](crate::Client::load_collections_arrow),
//! [`Collection::query_arrow`](crate::Collection::query_arrow) and
//! [`Collection::pages_arrow`](crate::Collection::pages_arrow) (pages decoded while the load goes on), and
//! [`Schema::to_record_batch`](crate::Schema::to_record_batch) for serialized datapoints from elsewhere.
//! The way back: [`encode_record_batch`] turns a record batch into datapoints (used by
//! `Collection::ingest_record_batch`), and with feature `parquet`, `ParquetWriter` streams record batches into
//! a GeoParquet file.
//!
//! # Column types
//!
//! | protobuf | Arrow |
//! |---|---|
//! | `double` / `float` | `Float64` / `Float32` |
//! | `int32`, `sint32`, `sfixed32` / `int64`, `sint64`, `sfixed64` | `Int32` / `Int64` |
//! | `uint32`, `fixed32` / `uint64`, `fixed64` | `UInt32` / `UInt64` |
//! | `bool`, `string`, `bytes` | `Boolean`, `Utf8`, `Binary` |
//! | enum | `Dictionary(Int32, Utf8)` of the value names (an unknown number becomes its decimal string) |
//! | `google.protobuf.Timestamp` | `Timestamp(Nanosecond, "UTC")` |
//! | `google.protobuf.Duration` | `Duration(Nanosecond)` |
//! | `datasets.v1.UUID`, `tilebox.v1.ID` | `FixedSizeBinary(16)`, extension `arrow.uuid` |
//! | `datasets.v1.Geometry` | `Binary` (WKB), extension `geoarrow.wkb` with WGS 84 (`OGC:CRS84`) CRS metadata |
//! | any other message (`LatLon`, `Vec3`, ...) | `Struct` of its fields, mapped the same way |
//! | `repeated T` | `List(T)` (non-null items; an absent field is an empty list) |
//! | `map<K, V>` | `Map(entries: Struct(key, value))` |
//!
//! A singular field with explicit presence (every field of a dataset created through the API, messages,
//! proto3 `optional`) is a nullable column: unset → null. A proto3 field without presence is non-nullable and
//! reads as its default when absent. A message type that contains itself is cut at the second occurrence on a
//! path and kept there as `Binary` (the nested message's serialized bytes). Geometries are ISO WKB: EWKB
//! headers (Z/M/SRID flags) are rewritten, the SRID dropped.
//!
//! The crates `arrow_array` and `arrow_schema` are re-exported so callers use the same versions.

mod decode;
mod encode;
mod load;
#[cfg(feature = "parquet")]
mod parquet;
mod schema;

pub(crate) use decode::decode_batch;
pub use encode::encode_record_batch;
pub use load::RecordBatches;
pub(crate) use load::{ArrowSink, run};
#[cfg(feature = "parquet")]
pub use parquet::{ParquetCompression, ParquetOptions, ParquetSummary, ParquetWriter};
pub use schema::{
    COMMON_COLUMNS, EXTENSION_METADATA_KEY, EXTENSION_NAME_KEY, UUID_EXTENSION, WKB_EXTENSION,
    WKB_EXTENSION_METADATA, arrow_field, arrow_schema, arrow_schema_common,
};
#[allow(unused_imports)]
pub(crate) use schema::{FieldPlan, MessagePlan, Repr, ValueKind};
