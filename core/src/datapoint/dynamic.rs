//! [`DynamicDatapoint`]: a decoded datapoint of any dataset, read by field name.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use prost_reflect::{DynamicMessage, FieldDescriptor, Value};

use super::meta::{timestamp_to_datetime, uuid_from_bytes};
use super::schema::{CommonField, Schema};
use crate::error::{Error, Result};

/// A datapoint decoded with its dataset's [`Schema`].
///
/// The common fields are found by name (`time`, `id`, `ingestion_time`, `geometry`), never by number, so
/// legacy schemas that lack them simply answer `None`. Unset fields are `None` from [`get`](Self::get), and
/// a field explicitly set to zero is `Some(0)`.
#[derive(Debug, Clone)]
pub struct DynamicDatapoint {
    schema: Schema,
    message: DynamicMessage,
}

impl DynamicDatapoint {
    pub(super) fn new(schema: Schema, message: DynamicMessage) -> Self {
        DynamicDatapoint { schema, message }
    }

    /// The schema it was decoded with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The underlying dynamic message.
    pub fn message(&self) -> &DynamicMessage {
        &self.message
    }

    /// The underlying dynamic message, by value.
    pub fn into_message(self) -> DynamicMessage {
        self.message
    }

    /// The datapoint id (16 bytes read as a UUID; version bits are not checked).
    pub fn id(&self) -> Option<uuid::Uuid> {
        match self.common(CommonField::Id)? {
            Value::Message(m) => match m.get_field_by_name("uuid")?.as_ref() {
                Value::Bytes(b) => uuid_from_bytes(b).ok(),
                _ => None,
            },
            Value::Bytes(b) => uuid_from_bytes(&b).ok(),
            Value::String(s) => uuid::Uuid::parse_str(&s).ok(),
            _ => None,
        }
    }

    /// The datapoint time.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.common(CommonField::Time)
            .as_ref()
            .and_then(value_to_datetime)
    }

    /// When the server stored the datapoint.
    pub fn ingestion_time(&self) -> Option<DateTime<Utc>> {
        self.common(CommonField::IngestionTime)
            .as_ref()
            .and_then(value_to_datetime)
    }

    /// The `geometry` field's WKB/EWKB bytes, as stored.
    pub fn geometry_wkb(&self) -> Option<Bytes> {
        match self.common(CommonField::Geometry)? {
            Value::Message(m) => match m.get_field_by_name("wkb")?.as_ref() {
                Value::Bytes(b) if !b.is_empty() => Some(b.clone()),
                _ => None,
            },
            Value::Bytes(b) if !b.is_empty() => Some(b),
            _ => None,
        }
    }

    /// A set UUID field `name` (`datasets.v1.UUID` / `tilebox.v1.ID` messages, 16-byte `bytes`, or a UUID
    /// string); `None` when unset, of another type, or not a valid UUID.
    pub fn uuid(&self, name: &str) -> Option<uuid::Uuid> {
        match self.get(name)? {
            Value::Message(m) => match m.get_field_by_number(1)?.as_ref() {
                Value::Bytes(b) => uuid_from_bytes(b).ok(),
                _ => None,
            },
            Value::Bytes(b) => uuid_from_bytes(&b).ok(),
            Value::String(s) => uuid::Uuid::parse_str(&s).ok(),
            _ => None,
        }
    }

    /// A set geometry field `name` (`datasets.v1.Geometry` or `bytes` holding WKB/EWKB) parsed into a
    /// `geo_types` geometry: `Ok(None)` when unset or of another type, [`Error::Decode`] when the bytes are
    /// not a readable geometry.
    pub fn geometry(&self, name: &str) -> Result<Option<geo_types::Geometry<f64>>> {
        let wkb = match self.get(name) {
            Some(Value::Message(m)) => match m.get_field_by_number(1).as_deref() {
                Some(Value::Bytes(b)) if !b.is_empty() => b.clone(),
                _ => return Ok(None),
            },
            Some(Value::Bytes(b)) if !b.is_empty() => b,
            _ => return Ok(None),
        };
        geometry_from_wkb(&wkb).map(Some)
    }

    /// The value of the field called `name`, or `None` when the schema has no such field or it is unset.
    pub fn get(&self, name: &str) -> Option<Value> {
        let field = self.schema.message_descriptor().get_field_by_name(name)?;
        self.value_of(&field)
    }

    /// The string value of field `name`, if it is a set string field.
    pub fn get_str(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The symbolic name of a set enum field `name` (e.g. `PROCESSING_LEVEL_L1C`); `None` when unset, not an
    /// enum, or the number has no name in the schema (enums are open: unknown numbers are kept as numbers).
    pub fn get_enum_name(&self, name: &str) -> Option<String> {
        let field = self.schema.message_descriptor().get_field_by_name(name)?;
        let kind = field.kind();
        let enum_desc = kind.as_enum()?;
        match self.value_of(&field)? {
            Value::EnumNumber(n) => enum_desc.get_value(n).map(|v| v.name().to_owned()),
            _ => None,
        }
    }

    /// A set `google.protobuf.Timestamp` field `name` as a UTC instant.
    pub fn get_datetime(&self, name: &str) -> Option<DateTime<Utc>> {
        self.get(name).as_ref().and_then(value_to_datetime)
    }

    /// Every set field with its value, in declaration order.
    pub fn fields(&self) -> Vec<(String, Value)> {
        self.schema
            .message_descriptor()
            .fields()
            .filter_map(|f| self.value_of(&f).map(|v| (f.name().to_owned(), v)))
            .collect()
    }

    fn value_of(&self, field: &FieldDescriptor) -> Option<Value> {
        self.message
            .has_field(field)
            .then(|| self.message.get_field(field).into_owned())
    }

    fn common(&self, which: CommonField) -> Option<Value> {
        let field = self.schema.common_field(which)?;
        self.value_of(field)
    }
}

/// Parses WKB or EWKB (either byte order) into a `geo_types` geometry.
pub(crate) fn geometry_from_wkb(wkb: &[u8]) -> Result<geo_types::Geometry<f64>> {
    use geo_traits::to_geo::ToGeoGeometry;
    let parsed = wkb::reader::read_wkb(wkb)
        .map_err(|e| Error::decode(format!("cannot read the WKB geometry: {e}")))?;
    parsed
        .try_to_geometry()
        .ok_or_else(|| Error::decode("the WKB geometry has no geo_types equivalent (empty point)"))
}

/// Reads a `google.protobuf.Timestamp` dynamic value.
fn value_to_datetime(value: &Value) -> Option<DateTime<Utc>> {
    let Value::Message(m) = value else {
        return None;
    };
    let seconds = m
        .get_field_by_name("seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let nanos = m
        .get_field_by_name("nanos")
        .and_then(|v| v.as_i32())
        .unwrap_or(0);
    timestamp_to_datetime(&prost_types::Timestamp { seconds, nanos }).ok()
}
