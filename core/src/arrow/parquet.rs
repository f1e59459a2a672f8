//! Query results to Parquet files with GeoParquet metadata (feature `parquet`).
//!
//! [`ParquetWriter`] takes record batches one at a time (a page, a collection, a whole load) and writes them
//! to any `std::io::Write`; it flushes a row group whenever the buffered data passes a size limit, so memory
//! stays bounded however large the load. Columns whose Arrow field carries the `geoarrow.wkb` extension type
//! are declared in the GeoParquet `geo` file metadata (version 1.1.0, `WKB` encoding, the geometry types
//! seen and their bounding box), so GeoPandas, DuckDB or GDAL read them as geometries. The CRS is left
//! unset, which GeoParquet defines as OGC:CRS84 (WGS 84 longitude/latitude), the CRS of Tilebox geometries.

use std::collections::BTreeSet;
use std::io::Write;

use arrow_array::{Array, BinaryArray, LargeBinaryArray, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

use super::{EXTENSION_NAME_KEY as EXTENSION_NAME, WKB_EXTENSION as GEOARROW_WKB};

/// The compression of the column chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ParquetCompression {
    /// Snappy: fast, read by every Parquet reader (the default).
    #[default]
    Snappy,
    /// No compression.
    Uncompressed,
}

/// How [`ParquetWriter`] writes. Build with [`ParquetOptions::new`] and the setters.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    compression: ParquetCompression,
    max_row_group_rows: usize,
    max_buffered_bytes: usize,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            compression: ParquetCompression::default(),
            max_row_group_rows: 65_536,
            max_buffered_bytes: 64 * 1024 * 1024,
        }
    }
}

impl ParquetOptions {
    /// Defaults: Snappy, row groups of at most 65,536 rows, at most 64 MiB buffered before a row group is
    /// written.
    pub fn new() -> Self {
        Self::default()
    }

    /// The compression of the column chunks.
    pub fn compression(mut self, compression: ParquetCompression) -> Self {
        self.compression = compression;
        self
    }

    /// The maximum number of rows per row group.
    pub fn max_row_group_rows(mut self, rows: usize) -> Self {
        self.max_row_group_rows = rows.max(1);
        self
    }

    /// The encoded bytes buffered in memory at most before the current row group is written out (the bound
    /// on the writer's memory).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes.max(1);
        self
    }

    fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(match self.compression {
                ParquetCompression::Snappy => Compression::SNAPPY,
                ParquetCompression::Uncompressed => Compression::UNCOMPRESSED,
            })
            .set_max_row_group_row_count(Some(self.max_row_group_rows))
            .set_max_row_group_bytes(Some(self.max_buffered_bytes))
            .build()
    }
}

/// What a finished [`ParquetWriter`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParquetSummary {
    /// Rows written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: usize,
    /// Columns (top-level fields) of the file.
    pub columns: usize,
    /// The geometry columns declared in the GeoParquet metadata.
    pub geometry_columns: Vec<String>,
}

/// A streaming Parquet writer for query results, with GeoParquet metadata for geometry columns.
///
/// ```no_run
/// # fn example(batches: Vec<arrow_array::RecordBatch>) -> tilebox_core::Result<()> {
/// use tilebox_core::arrow::ParquetWriter;
/// let file = std::fs::File::create("landsat.parquet").map_err(|e| tilebox_core::Error::Write {
///     message: e.to_string(),
/// })?;
/// let mut writer = ParquetWriter::try_new(file, batches[0].schema())?;
/// for batch in &batches {
///     writer.write(batch)?; // e.g. page by page as a load goes
/// }
/// let summary = writer.finish()?;
/// println!("{} rows", summary.rows);
/// # Ok(()) }
/// ```
pub struct ParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    geometry: Vec<GeometryColumn>,
    rows: u64,
    columns: usize,
}

impl<W: Write + Send> std::fmt::Debug for ParquetWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("rows", &self.rows)
            .field("columns", &self.columns)
            .field(
                "geometry_columns",
                &self.geometry.iter().map(|g| &g.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<W: Write + Send> ParquetWriter<W> {
    /// A writer of batches with `schema` to `out`, with the default [`ParquetOptions`].
    pub fn try_new(out: W, schema: SchemaRef) -> Result<Self> {
        Self::with_options(out, schema, &ParquetOptions::default())
    }

    /// A writer of batches with `schema` to `out`.
    pub fn with_options(out: W, schema: SchemaRef, options: &ParquetOptions) -> Result<Self> {
        let geometry = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.metadata().get(EXTENSION_NAME).map(String::as_str) == Some(GEOARROW_WKB)
                    && matches!(f.data_type(), DataType::Binary | DataType::LargeBinary)
            })
            .map(|(index, f)| GeometryColumn::new(index, f.name()))
            .collect();
        let columns = schema.fields().len();
        let writer =
            ArrowWriter::try_new(out, schema, Some(options.properties())).map_err(write_error)?;
        Ok(ParquetWriter {
            writer,
            geometry,
            rows: 0,
            columns,
        })
    }

    /// Appends a batch (its schema must be the writer's). A row group is written out whenever the buffered
    /// rows reach [`ParquetOptions::max_row_group_rows`] or their estimated encoded size reaches
    /// [`ParquetOptions::max_buffered_bytes`].
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        for column in &mut self.geometry {
            column.observe(batch.column(column.index).as_ref());
        }
        self.writer.write(batch).map_err(write_error)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the last row group, the GeoParquet metadata and the footer.
    pub fn finish(mut self) -> Result<ParquetSummary> {
        if let Some(geo) = geo_metadata(&self.geometry) {
            self.writer
                .append_key_value_metadata(KeyValue::new("geo".to_owned(), geo));
        }
        let metadata = self.writer.close().map_err(write_error)?;
        Ok(ParquetSummary {
            rows: self.rows,
            row_groups: metadata.num_row_groups(),
            columns: self.columns,
            geometry_columns: self.geometry.iter().map(|g| g.name.clone()).collect(),
        })
    }
}

impl crate::query::Datapoints {
    /// Decodes the datapoints to Arrow and writes them to `out` as a GeoParquet file (default
    /// [`ParquetOptions`]).
    pub fn write_parquet<W: Write + Send>(&self, out: W) -> Result<ParquetSummary> {
        let batch = self.to_record_batch()?;
        let mut writer = ParquetWriter::try_new(out, batch.schema())?;
        writer.write(&batch)?;
        writer.finish()
    }
}

impl super::RecordBatches {
    /// Writes the batches to `out` as a GeoParquet file (default [`ParquetOptions`]), batch by batch.
    pub fn write_parquet<W: Write + Send>(&self, out: W) -> Result<ParquetSummary> {
        let mut writer = ParquetWriter::try_new(out, self.schema().clone())?;
        for batch in self.batches() {
            writer.write(batch)?;
        }
        writer.finish()
    }
}

fn write_error(e: impl std::fmt::Display) -> Error {
    Error::Write {
        message: format!("parquet: {e}"),
    }
}

/// A geometry column and what its values showed so far: the geometry types and the bounding box.
struct GeometryColumn {
    index: usize,
    name: String,
    types: BTreeSet<&'static str>,
    bbox: Option<[f64; 4]>,
    /// Some value could not be read as WKB: the column's types and box are then left unknown.
    unreadable: bool,
}

impl GeometryColumn {
    fn new(index: usize, name: &str) -> Self {
        GeometryColumn {
            index,
            name: name.to_owned(),
            types: BTreeSet::new(),
            bbox: None,
            unreadable: false,
        }
    }

    fn observe(&mut self, array: &dyn Array) {
        if self.unreadable {
            return;
        }
        if let Some(values) = array.as_any().downcast_ref::<BinaryArray>() {
            values
                .iter()
                .flatten()
                .for_each(|wkb| self.observe_one(wkb));
        } else if let Some(values) = array.as_any().downcast_ref::<LargeBinaryArray>() {
            values
                .iter()
                .flatten()
                .for_each(|wkb| self.observe_one(wkb));
        }
    }

    fn observe_one(&mut self, wkb: &[u8]) {
        let mut scan = WkbScan {
            bytes: wkb,
            pos: 0,
            bbox: self.bbox,
        };
        match scan.geometry() {
            Some(kind) => {
                self.types.insert(kind);
                self.bbox = scan.bbox;
            }
            None => self.unreadable = true,
        }
    }
}

/// The `geo` metadata JSON for the geometry columns, if there are any.
fn geo_metadata(columns: &[GeometryColumn]) -> Option<String> {
    let primary = columns
        .iter()
        .find(|c| c.name == "geometry")
        .or_else(|| columns.first())?;
    let mut entries = serde_json::Map::new();
    for column in columns {
        let mut entry = serde_json::Map::new();
        entry.insert("encoding".to_owned(), "WKB".into());
        let types: Vec<serde_json::Value> = if column.unreadable {
            Vec::new()
        } else {
            column.types.iter().map(|t| (*t).into()).collect()
        };
        entry.insert("geometry_types".to_owned(), types.into());
        if let (Some(bbox), false) = (column.bbox, column.unreadable) {
            entry.insert(
                "bbox".to_owned(),
                bbox.iter().map(|v| serde_json::Value::from(*v)).collect(),
            );
        }
        entries.insert(column.name.clone(), entry.into());
    }
    let geo = serde_json::json!({
        "version": "1.1.0",
        "primary_column": primary.name,
        "columns": entries,
    });
    Some(geo.to_string())
}

/// A reader of one WKB / EWKB / ISO WKB geometry that only collects its type and bounding box.
struct WkbScan<'a> {
    bytes: &'a [u8],
    pos: usize,
    bbox: Option<[f64; 4]>,
}

/// Guards against absurd counts in malformed input (each coordinate needs at least 16 bytes anyway).
const MAX_DEPTH: u32 = 16;

impl WkbScan<'_> {
    /// The GeoParquet name of the top-level geometry type, or `None` if the bytes are not WKB.
    fn geometry(&mut self) -> Option<&'static str> {
        let (code, has_z) = self.node(0)?;
        (self.pos == self.bytes.len()).then_some(())?;
        let name = match code {
            1 => ["Point", "Point Z"],
            2 => ["LineString", "LineString Z"],
            3 => ["Polygon", "Polygon Z"],
            4 => ["MultiPoint", "MultiPoint Z"],
            5 => ["MultiLineString", "MultiLineString Z"],
            6 => ["MultiPolygon", "MultiPolygon Z"],
            _ => ["GeometryCollection", "GeometryCollection Z"],
        };
        Some(name[usize::from(has_z)])
    }

    /// Reads one geometry (header and body); returns its base type code and whether it has Z.
    fn node(&mut self, depth: u32) -> Option<(u32, bool)> {
        if depth > MAX_DEPTH {
            return None;
        }
        let little = match self.take(1)?[0] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let raw = self.u32(little)?;
        // EWKB flags in the high bits, ISO dimensions as thousands.
        let (ewkb_z, ewkb_m, srid) = (
            raw & 0x8000_0000 != 0,
            raw & 0x4000_0000 != 0,
            raw & 0x2000_0000 != 0,
        );
        let iso = raw & 0x0FFF_FFFF;
        let (code, iso_z, iso_m) = (iso % 1000, matches!(iso / 1000, 1 | 3), iso / 1000 >= 2);
        if srid {
            self.u32(little)?;
        }
        let has_z = ewkb_z || iso_z;
        let dims = 2 + usize::from(has_z) + usize::from(ewkb_m || iso_m);
        match code {
            1 => self.point(little, dims)?,
            2 => self.points(little, dims)?,
            3 => {
                for _ in 0..self.u32(little)? {
                    self.points(little, dims)?;
                }
            }
            4..=7 => {
                for _ in 0..self.u32(little)? {
                    self.node(depth + 1)?;
                }
            }
            _ => return None,
        }
        Some((code, has_z))
    }

    fn points(&mut self, little: bool, dims: usize) -> Option<()> {
        let n = self.u32(little)? as usize;
        // A count larger than the remaining bytes can hold is malformed.
        if n.checked_mul(dims * 8)? > self.bytes.len() - self.pos {
            return None;
        }
        for _ in 0..n {
            self.point(little, dims)?;
        }
        Some(())
    }

    fn point(&mut self, little: bool, dims: usize) -> Option<()> {
        let x = self.f64(little)?;
        let y = self.f64(little)?;
        for _ in 2..dims {
            self.f64(little)?;
        }
        // An empty point is written as NaN coordinates.
        if x.is_nan() || y.is_nan() {
            return Some(());
        }
        let b = self.bbox.get_or_insert([x, y, x, y]);
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
        Some(())
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u32(&mut self, little: bool) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn f64(&mut self, little: bool) -> Option<f64> {
        let b: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(if little {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polygon_wkb(little: bool) -> Vec<u8> {
        let mut out = vec![u8::from(little)];
        let u = |v: u32, out: &mut Vec<u8>| {
            out.extend(if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            })
        };
        let f = |v: f64, out: &mut Vec<u8>| {
            out.extend(if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            })
        };
        u(3, &mut out);
        u(1, &mut out);
        u(4, &mut out);
        for (x, y) in [(1.0, 2.0), (3.0, 2.0), (3.0, -4.0), (1.0, 2.0)] {
            f(x, &mut out);
            f(y, &mut out);
        }
        out
    }

    #[test]
    fn scans_polygon_types_and_bbox_in_both_byte_orders() {
        for little in [true, false] {
            let mut column = GeometryColumn::new(0, "geometry");
            column.observe_one(&polygon_wkb(little));
            assert!(!column.unreadable);
            assert_eq!(
                column.types.iter().copied().collect::<Vec<_>>(),
                ["Polygon"]
            );
            assert_eq!(column.bbox, Some([1.0, -4.0, 3.0, 2.0]));
        }
    }

    #[test]
    fn truncated_or_garbage_wkb_leaves_the_column_unknown() {
        let wkb = polygon_wkb(true);
        for len in 0..wkb.len() {
            let mut column = GeometryColumn::new(0, "g");
            column.observe_one(&wkb[..len]);
            assert!(column.unreadable, "prefix of {len} bytes accepted");
        }
        let mut column = GeometryColumn::new(0, "g");
        column.observe_one(&[7, 1, 0, 0, 0]);
        assert!(column.unreadable);
        let metadata = geo_metadata(&[column]).expect("a geometry column");
        assert!(metadata.contains("\"geometry_types\":[]"));
        assert!(!metadata.contains("bbox"));
    }
}
