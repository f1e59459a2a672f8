//! The Arrow shape of a dataset type: every protobuf field of a datapoint message mapped to one Arrow column.
//!
//! The mapping is documented on the [`arrow`](crate::arrow) module.
//!
//! [`FieldPlan`] is the compiled form the decoder (and the encoder) walk: per field its number, wire
//! representation and value kind, with the Arrow field it produces.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, StringArray};
use arrow_schema::{DataType, Field, Fields, Schema as ArrowSchema, SchemaRef, TimeUnit};
use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

use crate::error::{Error, Result};

/// Metadata key of an Arrow extension type's name.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Metadata key of an Arrow extension type's serialized metadata.
pub const EXTENSION_METADATA_KEY: &str = "ARROW:extension:metadata";
/// The canonical Arrow extension type of UUID columns (`FixedSizeBinary(16)`).
pub const UUID_EXTENSION: &str = "arrow.uuid";
/// The GeoArrow extension type of WKB geometry columns (`Binary`).
pub const WKB_EXTENSION: &str = "geoarrow.wkb";
/// The GeoArrow extension metadata of geometry columns: longitude/latitude on WGS 84.
pub const WKB_EXTENSION_METADATA: &str = r#"{"crs":"OGC:CRS84","crs_type":"authority_code"}"#;

/// Names of the common columns a `skip_data` query returns.
pub const COMMON_COLUMNS: [&str; 3] = ["time", "id", "ingestion_time"];

/// Type name of `google.protobuf.Timestamp`.
const TIMESTAMP: &str = "google.protobuf.Timestamp";
/// Type name of `google.protobuf.Duration`.
const DURATION: &str = "google.protobuf.Duration";
/// Type names read as a 16-byte UUID (field 1, `bytes`).
const UUIDS: [&str; 2] = ["datasets.v1.UUID", "tilebox.v1.ID"];
/// Type name of the WKB geometry message (field 1, `bytes`).
const GEOMETRY: &str = "datasets.v1.Geometry";

/// The Arrow schema of datapoints of message type `descriptor`: one column per field, in declaration order,
/// named as the fields are (see the module documentation for the type mapping).
///
/// Fails with [`Error::Decode`] only for field types no Arrow column can represent (protobuf groups).
pub fn arrow_schema(descriptor: &MessageDescriptor) -> Result<SchemaRef> {
    Ok(MessagePlan::compile(descriptor, false)?.schema)
}

/// The Arrow schema of `skip_data` results of `descriptor`: only the common columns (`time`, `id`,
/// `ingestion_time`) the type has, in declaration order.
pub fn arrow_schema_common(descriptor: &MessageDescriptor) -> Result<SchemaRef> {
    Ok(MessagePlan::compile(descriptor, true)?.schema)
}

/// The Arrow field (column) of one protobuf field.
pub fn arrow_field(field: &FieldDescriptor) -> Result<Field> {
    let mut path = vec![field.parent_message().full_name().to_owned()];
    Ok(FieldPlan::compile(field, &mut path)?.arrow)
}

/// A compiled datapoint message: its columns and the Arrow schema they make.
#[derive(Debug, Clone)]
pub(crate) struct MessagePlan {
    /// The columns, in declaration order.
    pub(crate) fields: Vec<FieldPlan>,
    /// Column index by field number, for numbers below [`DENSE_LIMIT`] (`NONE`: not a column).
    pub(crate) dense: Vec<u16>,
    /// Column index by field number for larger numbers.
    pub(crate) sparse: HashMap<u32, u16>,
    /// The Arrow schema (one field per column).
    pub(crate) schema: SchemaRef,
}

/// Field numbers below this are looked up in a dense table.
const DENSE_LIMIT: u32 = 256;
/// "No column" in the dense table.
pub(crate) const NONE: u16 = u16::MAX;

impl MessagePlan {
    /// Compiles a top-level datapoint message; `common_only` keeps only the `skip_data` columns.
    pub(crate) fn compile(descriptor: &MessageDescriptor, common_only: bool) -> Result<Self> {
        let mut path = vec![descriptor.full_name().to_owned()];
        let fields = descriptor
            .fields()
            .filter(|f| !common_only || COMMON_COLUMNS.contains(&f.name()))
            .map(|f| FieldPlan::compile(&f, &mut path))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_fields(fields))
    }

    fn from_fields(fields: Vec<FieldPlan>) -> Self {
        let mut dense = Vec::new();
        let mut sparse = HashMap::new();
        for (i, f) in fields.iter().enumerate() {
            let index = u16::try_from(i).unwrap_or(NONE);
            if f.number < DENSE_LIMIT {
                let n = f.number as usize;
                if dense.len() <= n {
                    dense.resize(n + 1, NONE);
                }
                dense[n] = index;
            } else {
                sparse.insert(f.number, index);
            }
        }
        let schema = Arc::new(ArrowSchema::new(
            fields.iter().map(|f| f.arrow.clone()).collect::<Vec<_>>(),
        ));
        MessagePlan {
            fields,
            dense,
            sparse,
            schema,
        }
    }

    /// The column of field `number`, if it is one.
    #[inline]
    pub(crate) fn column_of(&self, number: u32) -> Option<usize> {
        let index = if number < DENSE_LIMIT {
            *self.dense.get(number as usize)?
        } else {
            *self.sparse.get(&number)?
        };
        (index != NONE).then_some(index as usize)
    }
}

/// How a field repeats.
#[derive(Debug, Clone)]
pub(crate) enum Repr {
    /// One value; `presence`: unset is null (else the default).
    Single {
        /// Whether the field tracks presence.
        presence: bool,
    },
    /// `repeated`: a list of values.
    List,
    /// `map<K, V>`: a list of entries; `key` and `value` are the entry message's fields 1 and 2.
    Map {
        /// The key field (number 1 of the entry).
        key: Box<FieldPlan>,
        /// The value field (number 2 of the entry).
        value: Box<FieldPlan>,
    },
}

/// What one value of a field is.
#[derive(Debug, Clone)]
pub(crate) enum ValueKind {
    /// `bool` → `Boolean`.
    Bool,
    /// `int32` (varint, sign-extended) → `Int32`.
    Int32,
    /// `sint32` (zigzag varint) → `Int32`.
    Sint32,
    /// `sfixed32` → `Int32`.
    Sfixed32,
    /// `int64` → `Int64`.
    Int64,
    /// `sint64` → `Int64`.
    Sint64,
    /// `sfixed64` → `Int64`.
    Sfixed64,
    /// `uint32` → `UInt32`.
    Uint32,
    /// `fixed32` → `UInt32`.
    Fixed32,
    /// `uint64` → `UInt64`.
    Uint64,
    /// `fixed64` → `UInt64`.
    Fixed64,
    /// `float` → `Float32`.
    Float,
    /// `double` → `Float64`.
    Double,
    /// `string` → `Utf8`.
    String,
    /// `bytes` → `Binary`.
    Bytes,
    /// An enum → `Dictionary(Int32, Utf8)`.
    Enum(EnumPlan),
    /// `google.protobuf.Timestamp` → `Timestamp(ns, UTC)`.
    Timestamp,
    /// `google.protobuf.Duration` → `Duration(ns)`.
    Duration,
    /// `datasets.v1.UUID` / `tilebox.v1.ID` → `FixedSizeBinary(16)` (`arrow.uuid`).
    Uuid,
    /// `datasets.v1.Geometry` → `Binary` WKB (`geoarrow.wkb`).
    Geometry,
    /// Any other message → `Struct`.
    Message(Box<MessagePlan>),
    /// A message nested in itself: its serialized bytes → `Binary`.
    Opaque,
}

impl ValueKind {
    /// The Arrow type of one value, and the metadata of an extension type if it carries one.
    fn data_type(&self) -> (DataType, Option<(&'static str, Option<&'static str>)>) {
        match self {
            ValueKind::Bool => (DataType::Boolean, None),
            ValueKind::Int32 | ValueKind::Sint32 | ValueKind::Sfixed32 => (DataType::Int32, None),
            ValueKind::Int64 | ValueKind::Sint64 | ValueKind::Sfixed64 => (DataType::Int64, None),
            ValueKind::Uint32 | ValueKind::Fixed32 => (DataType::UInt32, None),
            ValueKind::Uint64 | ValueKind::Fixed64 => (DataType::UInt64, None),
            ValueKind::Float => (DataType::Float32, None),
            ValueKind::Double => (DataType::Float64, None),
            ValueKind::String => (DataType::Utf8, None),
            ValueKind::Bytes | ValueKind::Opaque => (DataType::Binary, None),
            ValueKind::Enum(_) => (enum_type(), None),
            ValueKind::Timestamp => (
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                None,
            ),
            ValueKind::Duration => (DataType::Duration(TimeUnit::Nanosecond), None),
            ValueKind::Uuid => (
                DataType::FixedSizeBinary(16),
                Some((UUID_EXTENSION, Some(""))),
            ),
            ValueKind::Geometry => (
                DataType::Binary,
                Some((WKB_EXTENSION, Some(WKB_EXTENSION_METADATA))),
            ),
            ValueKind::Message(plan) => (DataType::Struct(plan.schema.fields().clone()), None),
        }
    }
}

/// An enum compiled: its dictionary of value names (shared by every batch, so batches concatenate without
/// merging dictionaries) and the dictionary index of each number.
#[derive(Debug, Clone)]
pub(crate) struct EnumPlan {
    /// The enum.
    pub(crate) descriptor: EnumDescriptor,
    /// The declared value names, in declaration order.
    pub(crate) names: ArrayRef,
    /// Dictionary index by number for numbers `0..dense.len()` (-1: not declared).
    pub(crate) dense: Vec<i32>,
    /// Dictionary index of other declared numbers.
    pub(crate) sparse: HashMap<i32, i32>,
}

/// Enum numbers below this are looked up in a dense table.
const ENUM_DENSE_LIMIT: i32 = 256;

impl EnumPlan {
    fn new(descriptor: EnumDescriptor) -> Self {
        let mut dense = Vec::new();
        let mut sparse = HashMap::new();
        for (i, value) in descriptor.values().enumerate() {
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            let n = value.number();
            if (0..ENUM_DENSE_LIMIT).contains(&n) {
                let n = n as usize;
                if dense.len() <= n {
                    dense.resize(n + 1, -1);
                }
                // Aliases: the first name of a number is its name.
                if dense[n] < 0 {
                    dense[n] = index;
                }
            } else {
                sparse.entry(n).or_insert(index);
            }
        }
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(
            descriptor.values().map(|v| v.name().to_owned()),
        ));
        EnumPlan {
            descriptor,
            names,
            dense,
            sparse,
        }
    }

    /// The dictionary index of a declared `number`.
    #[inline]
    pub(crate) fn index_of(&self, number: i32) -> Option<i32> {
        if (0..self.dense.len() as i32).contains(&number) {
            Some(self.dense[number as usize]).filter(|&i| i >= 0)
        } else {
            self.sparse.get(&number).copied()
        }
    }

    /// Number of declared values (the first part of every dictionary).
    pub(crate) fn declared(&self) -> usize {
        self.names.len()
    }
}

/// The Arrow type of enum columns.
pub(crate) fn enum_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// One field compiled: where it is on the wire and what column it makes.
#[derive(Debug, Clone)]
pub(crate) struct FieldPlan {
    /// The field number.
    pub(crate) number: u32,
    /// The field name (= column name).
    pub(crate) name: String,
    /// Single, list or map.
    pub(crate) repr: Repr,
    /// The value kind (for maps: unused, see [`Repr::Map`]; set to the value's kind).
    pub(crate) kind: ValueKind,
    /// Whether a repeated scalar is written packed (decoding accepts both forms; for encoding).
    #[allow(dead_code)]
    pub(crate) packed: bool,
    /// The Arrow field.
    pub(crate) arrow: Field,
}

impl FieldPlan {
    /// Compiles `field`; `path` holds the message types being compiled (to cut recursion).
    fn compile(field: &FieldDescriptor, path: &mut Vec<String>) -> Result<Self> {
        if field.is_group() {
            return Err(Error::decode(format!(
                "field {} is a group, which has no Arrow column",
                field.full_name()
            )));
        }
        let name = field.name().to_owned();
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return Err(Error::decode(format!(
                    "map field {} has no entry message",
                    field.full_name()
                )));
            };
            let key_field = entry.map_entry_key_field();
            let value_field = entry.map_entry_value_field();
            let mut key = FieldPlan::compile(&key_field, path)?;
            let value = FieldPlan::compile(&value_field, path)?;
            // Map keys are never null (an absent key is its default); values are what their type makes them.
            key.repr = Repr::Single { presence: false };
            key.arrow = Field::new("key", key.arrow.data_type().clone(), false);
            let key_arrow = key.arrow.clone();
            let value_arrow = value.arrow.clone().with_name("value");
            let entries = Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![key_arrow, value_arrow])),
                false,
            );
            let arrow = Field::new(&name, DataType::Map(Arc::new(entries), false), false);
            let kind = value.kind.clone();
            return Ok(FieldPlan {
                number: field.number(),
                name,
                repr: Repr::Map {
                    key: Box::new(key),
                    value: Box::new(value),
                },
                kind,
                packed: false,
                arrow,
            });
        }
        let kind = value_kind(field, path)?;
        let (data_type, extension) = kind.data_type();
        let with_extension = |f: Field| match extension {
            Some((ext, meta)) => {
                let mut m = HashMap::from([(EXTENSION_NAME_KEY.to_owned(), ext.to_owned())]);
                if let Some(meta) = meta {
                    m.insert(EXTENSION_METADATA_KEY.to_owned(), meta.to_owned());
                }
                f.with_metadata(m)
            }
            None => f,
        };
        let (repr, arrow) = if field.is_list() {
            let item = with_extension(Field::new("item", data_type, false));
            (
                Repr::List,
                Field::new(&name, DataType::List(Arc::new(item)), false),
            )
        } else {
            let presence = field.supports_presence();
            (
                Repr::Single { presence },
                with_extension(Field::new(&name, data_type, presence)),
            )
        };
        Ok(FieldPlan {
            number: field.number(),
            name,
            repr,
            packed: field.is_packed(),
            kind,
            arrow,
        })
    }
}

/// The value kind of a (non-map) field.
fn value_kind(field: &FieldDescriptor, path: &mut Vec<String>) -> Result<ValueKind> {
    Ok(match field.kind() {
        Kind::Double => ValueKind::Double,
        Kind::Float => ValueKind::Float,
        Kind::Int32 => ValueKind::Int32,
        Kind::Int64 => ValueKind::Int64,
        Kind::Uint32 => ValueKind::Uint32,
        Kind::Uint64 => ValueKind::Uint64,
        Kind::Sint32 => ValueKind::Sint32,
        Kind::Sint64 => ValueKind::Sint64,
        Kind::Fixed32 => ValueKind::Fixed32,
        Kind::Fixed64 => ValueKind::Fixed64,
        Kind::Sfixed32 => ValueKind::Sfixed32,
        Kind::Sfixed64 => ValueKind::Sfixed64,
        Kind::Bool => ValueKind::Bool,
        Kind::String => ValueKind::String,
        Kind::Bytes => ValueKind::Bytes,
        Kind::Enum(e) => ValueKind::Enum(EnumPlan::new(e)),
        Kind::Message(m) => {
            let full = m.full_name();
            if full == TIMESTAMP {
                ValueKind::Timestamp
            } else if full == DURATION {
                ValueKind::Duration
            } else if UUIDS.contains(&full) {
                ValueKind::Uuid
            } else if full == GEOMETRY {
                ValueKind::Geometry
            } else if path.iter().any(|p| p == full) {
                ValueKind::Opaque
            } else {
                path.push(full.to_owned());
                let fields = m
                    .fields()
                    .map(|f| FieldPlan::compile(&f, path))
                    .collect::<Result<Vec<_>>>();
                path.pop();
                ValueKind::Message(Box::new(MessagePlan::from_fields(fields?)))
            }
        }
    })
}
