//! Apache Arrow interop (feature `arrow`): query results as record batches, record batches as datapoints
//! to ingest, and (feature `parquet`) Parquet files with GeoParquet metadata.

mod encode;
#[cfg(feature = "parquet")]
mod parquet;

pub use encode::encode_record_batch;
#[cfg(feature = "parquet")]
pub use parquet::{ParquetCompression, ParquetOptions, ParquetSummary, ParquetWriter};

pub use arrow_array::RecordBatch;
