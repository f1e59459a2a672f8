//! Arrow record batches to serialized datapoints: the inverse of the Arrow export, for ingest from Arrow
//! (and so from Parquet).
//!
//! Each column of the batch is matched by name to a field of the dataset's datapoint message and checked
//! once against the field's kind; then every row is written straight to protobuf wire bytes in field-number
//! order. The Arrow types accepted are the ones the export produces, plus a few loss-free equivalents:
//!
//! | field kind | Arrow types |
//! |---|---|
//! | `double` / `float` | `Float64` / `Float32` |
//! | `int32`, `sint32`, `sfixed32` / 64-bit twins | `Int32` / `Int64` |
//! | `uint32`, `fixed32` / `uint64`, `fixed64` | `UInt32` / `UInt64` |
//! | `bool` | `Boolean` |
//! | `string` / `bytes` | `Utf8`, `LargeUtf8`, `Utf8View` / `Binary`, `LargeBinary`, `BinaryView` |
//! | enum | `Dictionary(Int32, Utf8)` or `Utf8` of value names (with or without the enum's prefix, or a number as text), or `Int32` numbers |
//! | `google.protobuf.Timestamp` / `Duration` | `Timestamp(any unit, any zone)` / `Duration(any unit)` |
//! | `datasets.v1.UUID`, `tilebox.v1.ID` | `FixedSizeBinary(16)` |
//! | `datasets.v1.Geometry` | `Binary`, `LargeBinary` (WKB) |
//! | other messages | `Struct` whose children match the message's fields by name (or `Binary`: serialized messages) |
//! | repeated fields / maps | `List` of the element type / `Map` |
//!
//! A null leaves the field unset. Fields without a column stay unset (`id` and `ingestion_time` are assigned
//! by the server anyway). The first column that names no field, or whose type does not fit, is reported as
//! [`Error::ColumnMismatch`] before anything is encoded.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, Float32Array, Float64Array, Int32Array,
    Int64Array, RecordBatch, StructArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, TimeUnit};
use bytes::Bytes;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

use crate::datapoint::Schema;
use crate::error::{Error, Result};

/// Encodes every row of `batch` as a datapoint of `schema`'s message type.
pub fn encode_record_batch(schema: &Schema, batch: &RecordBatch) -> Result<Vec<Bytes>> {
    let descriptor = schema.message_descriptor();
    let columns: Vec<(&str, &ArrayRef)> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .zip(batch.columns())
        .collect();
    let plan = MessagePlan::by_name(&descriptor, &columns, "")?;
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut buf = Vec::new();
    for row in 0..batch.num_rows() {
        buf.clear();
        plan.encode(row, &mut buf)
            .map_err(|e| e.at_row(row, schema.type_url()))?;
        out.push(Bytes::copy_from_slice(&buf));
    }
    Ok(out)
}

/// A failure while encoding a value (the column plan was fine but a value is not).
struct ValueError {
    column: String,
    message: String,
}

impl ValueError {
    fn at_row(self, row: usize, type_url: &str) -> Error {
        Error::ColumnMismatch {
            column: self.column,
            message: format!("row {row}: {} (dataset type {type_url})", self.message),
        }
    }
}

fn mismatch(column: &str, message: impl Into<String>) -> Error {
    Error::ColumnMismatch {
        column: column.to_owned(),
        message: message.into(),
    }
}

/// The fields of one message with the columns that feed them, in field-number order.
struct MessagePlan<'a> {
    fields: Vec<FieldPlan<'a>>,
}

struct FieldPlan<'a> {
    number: u32,
    /// Whether an unset field is distinguishable from its default (then defaults are written).
    presence: bool,
    packed: bool,
    column: String,
    source: Source<'a>,
}

/// A singular column, or a list/map column with its element column.
enum Source<'a> {
    Single(Col<'a>),
    List {
        array: &'a dyn Array,
        offsets: Offsets<'a>,
        element: Col<'a>,
    },
}

enum Offsets<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl Offsets<'_> {
    fn range(&self, row: usize) -> std::ops::Range<usize> {
        match self {
            // Offsets of a valid array are non-negative and ascending.
            Offsets::I32(o) => o[row] as usize..o[row + 1] as usize,
            Offsets::I64(o) => o[row] as usize..o[row + 1] as usize,
        }
    }
}

/// How a field's proto kind is written on the wire for integer kinds.
#[derive(Clone, Copy)]
enum IntWire {
    Varint,
    ZigZag,
    Fixed,
}

/// One column, typed for the field it feeds.
enum Col<'a> {
    Double(&'a Float64Array),
    Float(&'a Float32Array),
    Int32(&'a Int32Array, IntWire),
    Int64(&'a Int64Array, IntWire),
    UInt32(&'a UInt32Array, IntWire),
    UInt64(&'a UInt64Array, IntWire),
    Bool(&'a BooleanArray),
    Str(&'a dyn Array, StrCol<'a>),
    Bytes(&'a dyn Array, BinCol<'a>),
    EnumNumber(&'a Int32Array),
    EnumName(&'a dyn Array, EnumNames<'a>, EnumDescriptor),
    /// Timestamps and durations: the i64 values and the nanoseconds per unit.
    Time {
        array: &'a dyn Array,
        values: &'a [i64],
        nanos_per_unit: i64,
        duration: bool,
    },
    Uuid(&'a FixedSizeBinaryArray),
    /// A message with one `bytes` field 1 (`datasets.v1.Geometry`).
    Wkb(&'a dyn Array, BinCol<'a>),
    Message(&'a StructArray, MessagePlan<'a>),
}

enum StrCol<'a> {
    Utf8(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
}

impl StrCol<'_> {
    fn get(&self, row: usize) -> &str {
        match self {
            StrCol::Utf8(a) => a.value(row),
            StrCol::Large(a) => a.value(row),
            StrCol::View(a) => a.value(row),
        }
    }

    fn of(array: &dyn Array) -> Option<StrCol<'_>> {
        match array.data_type() {
            DataType::Utf8 => Some(StrCol::Utf8(array.as_string::<i32>())),
            DataType::LargeUtf8 => Some(StrCol::Large(array.as_string::<i64>())),
            DataType::Utf8View => Some(StrCol::View(array.as_string_view())),
            _ => None,
        }
    }
}

enum BinCol<'a> {
    Binary(&'a arrow_array::BinaryArray),
    Large(&'a arrow_array::LargeBinaryArray),
    View(&'a arrow_array::BinaryViewArray),
}

impl BinCol<'_> {
    fn get(&self, row: usize) -> &[u8] {
        match self {
            BinCol::Binary(a) => a.value(row),
            BinCol::Large(a) => a.value(row),
            BinCol::View(a) => a.value(row),
        }
    }

    fn of(array: &dyn Array) -> Option<BinCol<'_>> {
        match array.data_type() {
            DataType::Binary => Some(BinCol::Binary(array.as_binary::<i32>())),
            DataType::LargeBinary => Some(BinCol::Large(array.as_binary::<i64>())),
            DataType::BinaryView => Some(BinCol::View(array.as_binary_view())),
            _ => None,
        }
    }
}

/// Enum names as a dictionary column (keys into a string dictionary) or a plain string column.
enum EnumNames<'a> {
    Dictionary {
        keys: &'a Int32Array,
        values: StrCol<'a>,
    },
    Plain(StrCol<'a>),
}

impl EnumNames<'_> {
    fn get(&self, row: usize) -> &str {
        match self {
            EnumNames::Dictionary { keys, values } => {
                values.get(usize::try_from(keys.value(row)).unwrap_or(0))
            }
            EnumNames::Plain(values) => values.get(row),
        }
    }
}

impl<'a> MessagePlan<'a> {
    /// Matches `columns` to the fields of `descriptor` by name.
    fn by_name(
        descriptor: &MessageDescriptor,
        columns: &[(&str, &'a ArrayRef)],
        prefix: &str,
    ) -> Result<Self> {
        let mut fields = Vec::with_capacity(columns.len());
        for &(name, array) in columns {
            let path = join(prefix, name);
            let field = descriptor.get_field_by_name(name).ok_or_else(|| {
                mismatch(
                    &path,
                    format!("{} has no field of this name", descriptor.full_name()),
                )
            })?;
            fields.push(FieldPlan::new(&field, array.as_ref(), path)?);
        }
        fields.sort_by_key(|f| f.number);
        Ok(MessagePlan { fields })
    }

    /// Matches `columns` to the fields of `descriptor` by position (map entries: key, value).
    fn by_position(
        descriptor: &MessageDescriptor,
        columns: &[&'a ArrayRef],
        prefix: &str,
    ) -> Result<Self> {
        let mut fields = Vec::with_capacity(columns.len());
        for (field, &array) in descriptor.fields().zip(columns) {
            let path = join(prefix, field.name());
            fields.push(FieldPlan::new(&field, array.as_ref(), path)?);
        }
        Ok(MessagePlan { fields })
    }

    fn encode(&self, row: usize, buf: &mut Vec<u8>) -> std::result::Result<(), ValueError> {
        for field in &self.fields {
            field.encode(row, buf)?;
        }
        Ok(())
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

impl<'a> FieldPlan<'a> {
    fn new(field: &FieldDescriptor, array: &'a dyn Array, path: String) -> Result<Self> {
        let source = if field.is_list() || field.is_map() {
            let (offsets, values) = match array.data_type() {
                DataType::List(_) if field.is_list() => {
                    let list = array.as_list::<i32>();
                    (Offsets::I32(list.value_offsets()), list.values())
                }
                DataType::LargeList(_) if field.is_list() => {
                    let list = array.as_list::<i64>();
                    (Offsets::I64(list.value_offsets()), list.values())
                }
                DataType::Map(_, _) if field.is_map() => {
                    let map = array.as_map();
                    let Kind::Message(entry) = field.kind() else {
                        return Err(mismatch(&path, "map field without an entry message"));
                    };
                    let entries = map.entries();
                    let columns: Vec<&ArrayRef> = entries.columns().iter().collect();
                    let plan = MessagePlan::by_position(&entry, &columns, &path)?;
                    return Ok(FieldPlan {
                        number: field.number(),
                        presence: false,
                        packed: false,
                        column: path,
                        source: Source::List {
                            array,
                            offsets: Offsets::I32(map.value_offsets()),
                            element: Col::Message(entries, plan),
                        },
                    });
                }
                other => {
                    let expected = if field.is_map() { "a Map" } else { "a List" };
                    return Err(mismatch(
                        &path,
                        format!(
                            "field {} is repeated, expected {expected} column, found {other}",
                            field.name()
                        ),
                    ));
                }
            };
            Source::List {
                array,
                offsets,
                element: Col::new(field, values.as_ref(), &path)?,
            }
        } else {
            Source::Single(Col::new(field, array, &path)?)
        };
        Ok(FieldPlan {
            number: field.number(),
            presence: field.supports_presence(),
            packed: field.is_packed(),
            column: path,
            source,
        })
    }

    fn encode(&self, row: usize, buf: &mut Vec<u8>) -> std::result::Result<(), ValueError> {
        match &self.source {
            Source::Single(col) => {
                if col.is_null(row) {
                    return Ok(());
                }
                if !self.presence && col.is_default(row) {
                    return Ok(());
                }
                col.encode_field(self.number, row, buf)
                    .map_err(|message| self.error(message))
            }
            Source::List {
                array,
                offsets,
                element,
            } => {
                if array.is_null(row) {
                    return Ok(());
                }
                let range = offsets.range(row);
                if range.is_empty() {
                    return Ok(());
                }
                if self.packed {
                    let mut packed = Vec::new();
                    for i in range {
                        element
                            .encode_value(i, &mut packed)
                            .map_err(|message| self.error(message))?;
                    }
                    encode_key(self.number, WireType::LengthDelimited, buf);
                    encode_varint(packed.len() as u64, buf);
                    buf.extend_from_slice(&packed);
                } else {
                    for i in range {
                        element
                            .encode_field(self.number, i, buf)
                            .map_err(|message| self.error(message))?;
                    }
                }
                Ok(())
            }
        }
    }

    fn error(&self, message: String) -> ValueError {
        ValueError {
            column: self.column.clone(),
            message,
        }
    }
}

fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

impl<'a> Col<'a> {
    fn new(field: &FieldDescriptor, array: &'a dyn Array, path: &str) -> Result<Self> {
        let kind = field.kind();
        let found = array.data_type();
        let wrong = |expected: &str| {
            mismatch(
                path,
                format!(
                    "field {} ({}) takes {expected}, found {found}",
                    field.name(),
                    kind_name(&kind)
                ),
            )
        };
        let col = match &kind {
            Kind::Double => Col::Double(
                array
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(|| wrong("Float64"))?,
            ),
            Kind::Float => Col::Float(
                array
                    .as_primitive_opt::<Float32Type>()
                    .ok_or_else(|| wrong("Float32"))?,
            ),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Col::Int32(
                array
                    .as_primitive_opt::<Int32Type>()
                    .ok_or_else(|| wrong("Int32"))?,
                int_wire(&kind),
            ),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Col::Int64(
                array
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| wrong("Int64"))?,
                int_wire(&kind),
            ),
            Kind::Uint32 | Kind::Fixed32 => Col::UInt32(
                array
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(|| wrong("UInt32"))?,
                int_wire(&kind),
            ),
            Kind::Uint64 | Kind::Fixed64 => Col::UInt64(
                array
                    .as_primitive_opt::<UInt64Type>()
                    .ok_or_else(|| wrong("UInt64"))?,
                int_wire(&kind),
            ),
            Kind::Bool => Col::Bool(array.as_boolean_opt().ok_or_else(|| wrong("Boolean"))?),
            Kind::String => Col::Str(array, StrCol::of(array).ok_or_else(|| wrong("Utf8"))?),
            Kind::Bytes => Col::Bytes(array, BinCol::of(array).ok_or_else(|| wrong("Binary"))?),
            Kind::Enum(e) => {
                let expected = "Dictionary(Int32, Utf8), Utf8 names or Int32 numbers";
                match found {
                    DataType::Int32 => Col::EnumNumber(array.as_primitive::<Int32Type>()),
                    DataType::Dictionary(key, _) if **key == DataType::Int32 => {
                        let dict = array
                            .as_dictionary_opt::<Int32Type>()
                            .ok_or_else(|| wrong(expected))?;
                        let values =
                            StrCol::of(dict.values().as_ref()).ok_or_else(|| wrong(expected))?;
                        Col::EnumName(
                            array,
                            EnumNames::Dictionary {
                                keys: dict.keys(),
                                values,
                            },
                            e.clone(),
                        )
                    }
                    _ => Col::EnumName(
                        array,
                        EnumNames::Plain(StrCol::of(array).ok_or_else(|| wrong(expected))?),
                        e.clone(),
                    ),
                }
            }
            Kind::Message(m) => match m.full_name() {
                "google.protobuf.Timestamp" => {
                    let (values, nanos_per_unit) = match found {
                        DataType::Timestamp(TimeUnit::Second, _) => (
                            array
                                .as_primitive::<TimestampSecondType>()
                                .values()
                                .as_ref(),
                            1_000_000_000,
                        ),
                        DataType::Timestamp(TimeUnit::Millisecond, _) => (
                            array
                                .as_primitive::<TimestampMillisecondType>()
                                .values()
                                .as_ref(),
                            1_000_000,
                        ),
                        DataType::Timestamp(TimeUnit::Microsecond, _) => (
                            array
                                .as_primitive::<TimestampMicrosecondType>()
                                .values()
                                .as_ref(),
                            1_000,
                        ),
                        DataType::Timestamp(TimeUnit::Nanosecond, _) => (
                            array
                                .as_primitive::<TimestampNanosecondType>()
                                .values()
                                .as_ref(),
                            1,
                        ),
                        _ => return Err(wrong("Timestamp")),
                    };
                    Col::Time {
                        array,
                        values,
                        nanos_per_unit,
                        duration: false,
                    }
                }
                "google.protobuf.Duration" => {
                    let (values, nanos_per_unit) = match found {
                        DataType::Duration(TimeUnit::Second) => (
                            array.as_primitive::<DurationSecondType>().values().as_ref(),
                            1_000_000_000,
                        ),
                        DataType::Duration(TimeUnit::Millisecond) => (
                            array
                                .as_primitive::<DurationMillisecondType>()
                                .values()
                                .as_ref(),
                            1_000_000,
                        ),
                        DataType::Duration(TimeUnit::Microsecond) => (
                            array
                                .as_primitive::<DurationMicrosecondType>()
                                .values()
                                .as_ref(),
                            1_000,
                        ),
                        DataType::Duration(TimeUnit::Nanosecond) => (
                            array
                                .as_primitive::<DurationNanosecondType>()
                                .values()
                                .as_ref(),
                            1,
                        ),
                        _ => return Err(wrong("Duration")),
                    };
                    Col::Time {
                        array,
                        values,
                        nanos_per_unit,
                        duration: true,
                    }
                }
                "datasets.v1.UUID" | "tilebox.v1.ID" => match found {
                    DataType::FixedSizeBinary(16) => Col::Uuid(array.as_fixed_size_binary()),
                    _ => return Err(wrong("FixedSizeBinary(16)")),
                },
                "datasets.v1.Geometry" => Col::Wkb(
                    array,
                    BinCol::of(array).ok_or_else(|| wrong("Binary (WKB)"))?,
                ),
                // A message kept as its serialized bytes (the export does so for self-containing types).
                _ if BinCol::of(array).is_some() => {
                    Col::Bytes(array, BinCol::of(array).ok_or_else(|| wrong("Struct"))?)
                }
                _ => {
                    let structs = array.as_struct_opt().ok_or_else(|| wrong("Struct"))?;
                    let names: Vec<&str> = structs.column_names().into_iter().collect();
                    let columns: Vec<(&str, &ArrayRef)> =
                        names.into_iter().zip(structs.columns()).collect();
                    Col::Message(structs, MessagePlan::by_name(m, &columns, path)?)
                }
            },
        };
        Ok(col)
    }

    fn array(&self) -> &dyn Array {
        match self {
            Col::Double(a) => *a,
            Col::Float(a) => *a,
            Col::Int32(a, _) | Col::EnumNumber(a) => *a,
            Col::Int64(a, _) => *a,
            Col::UInt32(a, _) => *a,
            Col::UInt64(a, _) => *a,
            Col::Bool(a) => *a,
            Col::Uuid(a) => *a,
            Col::Message(a, _) => *a,
            Col::Str(a, _)
            | Col::Bytes(a, _)
            | Col::EnumName(a, _, _)
            | Col::Wkb(a, _)
            | Col::Time { array: a, .. } => *a,
        }
    }

    fn is_null(&self, row: usize) -> bool {
        self.array().is_null(row)
    }

    /// Whether the value is the kind's default (skipped for fields without presence).
    fn is_default(&self, row: usize) -> bool {
        match self {
            Col::Double(a) => a.value(row).to_bits() == 0,
            Col::Float(a) => a.value(row).to_bits() == 0,
            Col::Int32(a, _) | Col::EnumNumber(a) => a.value(row) == 0,
            Col::Int64(a, _) => a.value(row) == 0,
            Col::UInt32(a, _) => a.value(row) == 0,
            Col::UInt64(a, _) => a.value(row) == 0,
            Col::Bool(a) => !a.value(row),
            Col::Str(_, s) => s.get(row).is_empty(),
            Col::Bytes(_, b) => b.get(row).is_empty(),
            _ => false,
        }
    }

    fn wire_type(&self) -> WireType {
        match self {
            Col::Double(_) => WireType::SixtyFourBit,
            Col::Float(_) => WireType::ThirtyTwoBit,
            Col::Int32(_, IntWire::Fixed) | Col::UInt32(_, IntWire::Fixed) => {
                WireType::ThirtyTwoBit
            }
            Col::Int64(_, IntWire::Fixed) | Col::UInt64(_, IntWire::Fixed) => {
                WireType::SixtyFourBit
            }
            Col::Int32(..)
            | Col::Int64(..)
            | Col::UInt32(..)
            | Col::UInt64(..)
            | Col::Bool(_)
            | Col::EnumNumber(_)
            | Col::EnumName(..) => WireType::Varint,
            _ => WireType::LengthDelimited,
        }
    }

    /// Writes the value at `row` with its field key.
    fn encode_field(
        &self,
        number: u32,
        row: usize,
        buf: &mut Vec<u8>,
    ) -> std::result::Result<(), String> {
        encode_key(number, self.wire_type(), buf);
        self.encode_value(row, buf)
    }

    /// Writes the value at `row` without a key (length-prefixed for length-delimited kinds).
    fn encode_value(&self, row: usize, buf: &mut Vec<u8>) -> std::result::Result<(), String> {
        match self {
            Col::Double(a) => buf.extend_from_slice(&a.value(row).to_le_bytes()),
            Col::Float(a) => buf.extend_from_slice(&a.value(row).to_le_bytes()),
            Col::Int32(a, wire) => {
                let v = a.value(row);
                match wire {
                    IntWire::Varint => encode_varint(i64::from(v) as u64, buf),
                    IntWire::ZigZag => encode_varint(zigzag32(v), buf),
                    IntWire::Fixed => buf.extend_from_slice(&v.to_le_bytes()),
                }
            }
            Col::Int64(a, wire) => {
                let v = a.value(row);
                match wire {
                    IntWire::Varint => encode_varint(v as u64, buf),
                    IntWire::ZigZag => encode_varint(zigzag64(v), buf),
                    IntWire::Fixed => buf.extend_from_slice(&v.to_le_bytes()),
                }
            }
            Col::UInt32(a, wire) => match wire {
                IntWire::Fixed => buf.extend_from_slice(&a.value(row).to_le_bytes()),
                _ => encode_varint(u64::from(a.value(row)), buf),
            },
            Col::UInt64(a, wire) => match wire {
                IntWire::Fixed => buf.extend_from_slice(&a.value(row).to_le_bytes()),
                _ => encode_varint(a.value(row), buf),
            },
            Col::Bool(a) => encode_varint(u64::from(a.value(row)), buf),
            Col::EnumNumber(a) => encode_varint(i64::from(a.value(row)) as u64, buf),
            Col::EnumName(_, names, descriptor) => {
                let name = names.get(row);
                let number = enum_number(descriptor, name).ok_or_else(|| {
                    format!("{name:?} is not a value of enum {}", descriptor.full_name())
                })?;
                encode_varint(i64::from(number) as u64, buf);
            }
            Col::Str(_, s) => length_delimited(s.get(row).as_bytes(), buf),
            Col::Bytes(_, b) => length_delimited(b.get(row), buf),
            Col::Time {
                values,
                nanos_per_unit,
                duration,
                ..
            } => {
                let nanos = i128::from(values[row]) * i128::from(*nanos_per_unit);
                let (seconds, nanos) = if *duration {
                    (nanos / 1_000_000_000, nanos % 1_000_000_000)
                } else {
                    (
                        nanos.div_euclid(1_000_000_000),
                        nanos.rem_euclid(1_000_000_000),
                    )
                };
                let seconds = i64::try_from(seconds).map_err(|_| "time out of range".to_owned())?;
                let nanos = i32::try_from(nanos).map_err(|_| "time out of range".to_owned())?;
                let mut inner = Vec::with_capacity(16);
                if seconds != 0 {
                    encode_key(1, WireType::Varint, &mut inner);
                    encode_varint(seconds as u64, &mut inner);
                }
                if nanos != 0 {
                    encode_key(2, WireType::Varint, &mut inner);
                    encode_varint(i64::from(nanos) as u64, &mut inner);
                }
                length_delimited(&inner, buf);
            }
            Col::Uuid(a) => single_bytes_message(a.value(row), buf),
            Col::Wkb(_, b) => single_bytes_message(b.get(row), buf),
            Col::Message(_, plan) => {
                let mut inner = Vec::new();
                plan.encode(row, &mut inner)
                    .map_err(|e| format!("{}: {}", e.column, e.message))?;
                length_delimited(&inner, buf);
            }
        }
        Ok(())
    }
}

fn int_wire(kind: &Kind) -> IntWire {
    match kind {
        Kind::Sint32 | Kind::Sint64 => IntWire::ZigZag,
        Kind::Sfixed32 | Kind::Sfixed64 | Kind::Fixed32 | Kind::Fixed64 => IntWire::Fixed,
        _ => IntWire::Varint,
    }
}

fn length_delimited(bytes: &[u8], buf: &mut Vec<u8>) {
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

/// A message whose only field is `bytes` number 1 (`UUID`, `ID`, `Geometry`), length-prefixed.
fn single_bytes_message(bytes: &[u8], buf: &mut Vec<u8>) {
    let mut inner = Vec::with_capacity(bytes.len() + 4);
    if !bytes.is_empty() {
        encode_key(1, WireType::LengthDelimited, &mut inner);
        length_delimited(bytes, &mut inner);
    }
    length_delimited(&inner, buf);
}

/// The number of an enum value given by its full name, its name without the enum's `UPPER_SNAKE_` prefix
/// (as the Python client shows them), or a number as text.
fn enum_number(descriptor: &EnumDescriptor, name: &str) -> Option<i32> {
    if let Some(value) = descriptor.get_value_by_name(name) {
        return Some(value.number());
    }
    let prefixed = format!("{}_{name}", upper_snake(descriptor.name()));
    if let Some(value) = descriptor.get_value_by_name(&prefixed) {
        return Some(value.number());
    }
    name.parse().ok()
}

/// `ProcessingLevel` → `PROCESSING_LEVEL`.
fn upper_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => m.full_name().to_owned(),
        Kind::Enum(e) => format!("enum {}", e.full_name()),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_prefixes() {
        assert_eq!(upper_snake("ProcessingLevel"), "PROCESSING_LEVEL");
        assert_eq!(upper_snake("SARPolarization"), "SAR_POLARIZATION");
        assert_eq!(upper_snake("FlightDirection"), "FLIGHT_DIRECTION");
    }

    #[test]
    fn zigzag() {
        assert_eq!(zigzag32(0), 0);
        assert_eq!(zigzag32(-1), 1);
        assert_eq!(zigzag32(1), 2);
        assert_eq!(zigzag64(-2), 3);
    }
}

#[cfg(test)]
mod wire_tests {
    use std::sync::Arc;

    use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder};
    use arrow_array::types::Int32Type;
    use arrow_array::{
        BinaryArray, DictionaryArray, DurationNanosecondArray, FixedSizeBinaryArray, Float64Array,
        Int32Array, RecordBatch, StringArray, StructArray, TimestampMillisecondArray, UInt64Array,
    };
    use arrow_schema::{DataType, Field};
    use prost::Message as _;
    use prost_reflect::{DynamicMessage, Value};
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};

    use super::*;

    fn field(
        name: &str,
        number: i32,
        ty: Type,
        type_name: Option<&str>,
        repeated: bool,
    ) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.to_owned()),
            number: Some(number),
            label: Some(if repeated {
                Label::Repeated
            } else {
                Label::Optional
            } as i32),
            r#type: Some(ty as i32),
            type_name: type_name.map(str::to_owned),
            proto3_optional: None,
            ..Default::default()
        }
    }

    fn schema() -> Schema {
        let mut pool = crate::datapoint::bundled_pool().expect("bundled pool");
        let file = FileDescriptorProto {
            name: Some("test/every.proto".to_owned()),
            package: Some("test".to_owned()),
            dependency: vec![
                "google/protobuf/timestamp.proto".to_owned(),
                "google/protobuf/duration.proto".to_owned(),
                "datasets/v1/well_known_types.proto".to_owned(),
            ],
            message_type: vec![DescriptorProto {
                name: Some("Every".to_owned()),
                field: vec![
                    field(
                        "time",
                        1,
                        Type::Message,
                        Some(".google.protobuf.Timestamp"),
                        false,
                    ),
                    field("f_double", 2, Type::Double, None, false),
                    field("f_sint32", 3, Type::Sint32, None, false),
                    field("f_fixed64", 4, Type::Fixed64, None, false),
                    field("f_string", 5, Type::String, None, false),
                    field(
                        "f_level",
                        6,
                        Type::Enum,
                        Some(".datasets.v1.ProcessingLevel"),
                        false,
                    ),
                    field(
                        "f_duration",
                        7,
                        Type::Message,
                        Some(".google.protobuf.Duration"),
                        false,
                    ),
                    field("f_uuid", 8, Type::Message, Some(".datasets.v1.UUID"), false),
                    field(
                        "geometry",
                        9,
                        Type::Message,
                        Some(".datasets.v1.Geometry"),
                        false,
                    ),
                    field(
                        "f_latlon",
                        10,
                        Type::Message,
                        Some(".datasets.v1.LatLon"),
                        false,
                    ),
                    field("r_int64", 11, Type::Int64, None, true),
                    field("r_string", 12, Type::String, None, true),
                ],
                ..Default::default()
            }],
            syntax: Some("proto2".to_owned()),
            ..Default::default()
        };
        // proto2 repeated scalars are unpacked unless asked: pack r_int64 like the server's schemas do.
        let mut file = file;
        file.message_type[0].field[10].options = Some(prost_types::FieldOptions {
            packed: Some(true),
            ..Default::default()
        });
        pool.add_file_descriptor_proto(file).expect("test file");
        Schema::from_descriptor(pool.get_message_by_name("test.Every").expect("message"))
    }

    fn batch() -> RecordBatch {
        let latlon = StructArray::from(vec![
            (
                Arc::new(Field::new("latitude", DataType::Float64, false)),
                Arc::new(Float64Array::from(vec![52.5, 0.0])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("longitude", DataType::Float64, false)),
                Arc::new(Float64Array::from(vec![13.4, 0.0])) as ArrayRef,
            ),
        ]);
        let latlon = StructArray::try_new(
            latlon.fields().clone(),
            latlon.columns().to_vec(),
            Some(vec![true, false].into()),
        )
        .expect("struct");
        let mut ints = ListBuilder::new(Int64Builder::new());
        ints.values().append_slice(&[1, -2, 300]);
        ints.append(true);
        ints.append(true);
        let mut strings = ListBuilder::new(StringBuilder::new());
        strings.values().append_value("a");
        strings.values().append_value("");
        strings.append(true);
        strings.append(false);
        let levels: DictionaryArray<Int32Type> = vec![Some("PROCESSING_LEVEL_L2A"), None]
            .into_iter()
            .collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "time",
                Arc::new(
                    TimestampMillisecondArray::from(vec![-1, 1_609_459_200_001])
                        .with_timezone("UTC"),
                ),
            ),
            (
                "f_double",
                Arc::new(Float64Array::from(vec![Some(0.0), None])),
            ),
            (
                "f_sint32",
                Arc::new(Int32Array::from(vec![Some(-5), Some(i32::MIN)])),
            ),
            (
                "f_fixed64",
                Arc::new(UInt64Array::from(vec![Some(u64::MAX), None])),
            ),
            (
                "f_string",
                Arc::new(StringArray::from(vec![Some(""), Some("ü")])),
            ),
            ("f_level", Arc::new(levels)),
            (
                "f_duration",
                Arc::new(DurationNanosecondArray::from(vec![
                    Some(-1_250_000_000),
                    None,
                ])),
            ),
            (
                "f_uuid",
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                        vec![Some([7u8; 16]), None].into_iter(),
                        16,
                    )
                    .expect("uuids"),
                ),
            ),
            (
                "geometry",
                Arc::new(BinaryArray::from(vec![Some(&[1u8, 2, 3][..]), None])),
            ),
            ("f_latlon", Arc::new(latlon)),
            ("r_int64", Arc::new(ints.finish())),
            ("r_string", Arc::new(strings.finish())),
        ];
        RecordBatch::try_from_iter(columns).expect("batch")
    }

    fn get(m: &DynamicMessage, name: &str) -> Option<Value> {
        m.has_field_by_name(name)
            .then(|| m.get_field_by_name(name).expect("field").into_owned())
    }

    #[test]
    fn encodes_every_kind_as_the_protobuf_runtime_reads_it() {
        let schema = schema();
        let values = encode_record_batch(&schema, &batch()).expect("encode");
        let rows: Vec<DynamicMessage> = values
            .iter()
            .map(|v| {
                DynamicMessage::decode(schema.message_descriptor(), v.as_ref()).expect("decodes")
            })
            .collect();

        let first = &rows[0];
        let time = get(first, "time").expect("time");
        let time = time.as_message().expect("timestamp");
        assert_eq!(
            time.get_field_by_name("seconds").expect("s").as_i64(),
            Some(-1)
        );
        assert_eq!(
            time.get_field_by_name("nanos").expect("n").as_i32(),
            Some(999_000_000)
        );
        assert_eq!(
            get(first, "f_double"),
            Some(Value::F64(0.0)),
            "a set zero stays set"
        );
        assert_eq!(get(first, "f_sint32"), Some(Value::I32(-5)));
        assert_eq!(get(first, "f_fixed64"), Some(Value::U64(u64::MAX)));
        assert_eq!(get(first, "f_string"), Some(Value::String(String::new())));
        assert_eq!(get(first, "f_level"), Some(Value::EnumNumber(5)));
        let duration = get(first, "f_duration").expect("duration");
        let duration = duration.as_message().expect("duration");
        assert_eq!(
            duration.get_field_by_name("seconds").expect("s").as_i64(),
            Some(-1)
        );
        assert_eq!(
            duration.get_field_by_name("nanos").expect("n").as_i32(),
            Some(-250_000_000)
        );
        let uuid = get(first, "f_uuid").expect("uuid");
        assert_eq!(
            uuid.as_message()
                .expect("uuid")
                .get_field_by_name("uuid")
                .expect("bytes")
                .as_bytes()
                .map(|b| b.to_vec()),
            Some(vec![7u8; 16])
        );
        let geometry = get(first, "geometry").expect("geometry");
        assert_eq!(
            geometry
                .as_message()
                .expect("g")
                .get_field_by_name("wkb")
                .expect("wkb")
                .as_bytes()
                .map(|b| b.to_vec()),
            Some(vec![1, 2, 3])
        );
        let latlon = get(first, "f_latlon").expect("latlon");
        assert_eq!(
            latlon
                .as_message()
                .expect("ll")
                .get_field_by_name("latitude")
                .expect("lat")
                .as_f64(),
            Some(52.5)
        );
        assert_eq!(
            get(first, "r_int64"),
            Some(Value::List(vec![
                Value::I64(1),
                Value::I64(-2),
                Value::I64(300)
            ]))
        );
        assert_eq!(
            get(first, "r_string"),
            Some(Value::List(vec![
                Value::String("a".into()),
                Value::String(String::new())
            ]))
        );

        let second = &rows[1];
        for unset in [
            "f_double",
            "f_fixed64",
            "f_level",
            "f_duration",
            "f_uuid",
            "geometry",
            "f_latlon",
        ] {
            assert_eq!(get(second, unset), None, "{unset} is null, so unset");
        }
        assert_eq!(get(second, "f_sint32"), Some(Value::I32(i32::MIN)));
        assert_eq!(get(second, "r_int64"), None, "an empty list writes nothing");
        assert_eq!(get(second, "r_string"), None, "a null list writes nothing");
        // Canonical: re-encoding what the runtime read gives the same bytes.
        assert_eq!(second.encode_to_vec(), values[1].to_vec());
    }

    #[test]
    fn the_first_misfit_column_is_named() {
        let schema = schema();
        let batch = RecordBatch::try_from_iter(vec![
            (
                "f_double",
                Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
            ),
            (
                "f_sint32",
                Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
            ),
            ("nope", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
        ])
        .expect("batch");
        match encode_record_batch(&schema, &batch) {
            Err(Error::ColumnMismatch { column, message }) => {
                assert_eq!(column, "f_sint32");
                assert!(message.contains("Int32"), "{message}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        let struct_batch = RecordBatch::try_from_iter(vec![(
            "f_latlon",
            Arc::new(StructArray::from(vec![(
                Arc::new(Field::new("lat", DataType::Float64, false)),
                Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
            )])) as ArrayRef,
        )])
        .expect("batch");
        match encode_record_batch(&schema, &struct_batch) {
            Err(Error::ColumnMismatch { column, .. }) => assert_eq!(column, "f_latlon.lat"),
            other => panic!("expected a mismatch, got {other:?}"),
        }
        let unknown_enum = RecordBatch::try_from_iter(vec![(
            "f_level",
            Arc::new(StringArray::from(vec!["L2A", "NOPE"])) as ArrayRef,
        )])
        .expect("batch");
        match encode_record_batch(&schema, &unknown_enum) {
            Err(Error::ColumnMismatch { column, message }) => {
                assert_eq!(column, "f_level");
                assert!(message.starts_with("row 1:"), "{message}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }
}
