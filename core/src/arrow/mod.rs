//! Datapoints as Apache Arrow record batches (feature `arrow`).
//!
//! * [`schema`](arrow_schema): the Arrow schema of a dataset type — one column per field, in declaration order
//!   (the type mapping is documented on [`arrow_schema`]'s module).
//! * The decoder: compiled once per dataset type from its message descriptor (cached with the dataset's
//!   [`Schema`](crate::Schema)), it walks each datapoint's wire bytes once and appends straight into Arrow
//!   buffers — no `DynamicMessage`, no per-datapoint allocation. Unknown fields are skipped; malformed bytes
//!   give [`Error::MalformedDatapoint`](crate::Error::MalformedDatapoint) naming the datapoint and the field.
//!
//! * Ingest from Arrow: [`encode_record_batch`] turns a record batch back into datapoints (used by
//!   `Collection::ingest_record_batch`).
//! * Parquet (feature `parquet`): [`ParquetWriter`] streams record batches into a GeoParquet file.
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
