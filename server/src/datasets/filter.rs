//! Filter expressions over a dataset's queryable fields (spec §4.6): validation against the schema and
//! evaluation over encoded datapoints.
//!
//! [`RowFilter::compile`] checks the expressions once per request (limits, field names, `queryable`
//! annotations, operator and literal kinds against the field type) and answers `invalid_argument` naming the
//! offending field. [`RowFilter::matches`] then evaluates the compiled tree over the raw protobuf bytes of a
//! datapoint without building a message: one pass over the tags picks out the referenced fields.
//!
//! Semantics are SQL/CQL2 three-valued logic: a comparison with an absent field is *unknown* (also for
//! `!=`), `NOT unknown` is unknown, `AND` is false if any operand is false, `OR` is true if any operand is
//! true, and a datapoint matches only when the whole filter is *true*. `is_null` is never unknown.
//! Numbers compare by value across integer and floating-point kinds (`path = 42.0` holds for `path` 42);
//! a stored NaN is unordered (only `!=` holds). Strings and bytes compare bytewise (UTF-8 byte order is
//! code-point order), enums by number, timestamps and durations by `(seconds, nanos)`.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use prost_reflect::{Kind, MessageDescriptor};
use tilebox_core::wire::datasets::v1::{
    FieldComparisonOperator, FieldQueryValue, FilterExpression, LogicalOperator,
};

use crate::geometry::SpatialPredicate;
use crate::schema::DatasetSchema;
use crate::status::Status;
use crate::store::{
    BBox, DatapointRecord, RangeQuery, RowFilter as StoreRowFilter, Store, StoreError,
};

/// At most this many top-level expressions, and operands of one logical expression.
pub const MAX_OPERANDS: usize = 64;
/// At most this many expression nodes in one request.
pub const MAX_NODES: usize = 256;
/// At most this nesting depth (a top-level expression has depth 1).
pub const MAX_DEPTH: usize = 8;
/// Largest `|seconds|` of a protobuf `Duration`.
const DURATION_MAX_SECONDS: i64 = 315_576_000_000;

/// Truth values of three-valued logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    /// Holds.
    True,
    /// Does not hold.
    False,
    /// A comparison involved a missing value.
    Unknown,
}

impl Truth {
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }

    fn from_bool(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }
}

/// How a field is encoded on the wire and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Bool,
    /// int32/int64/sint*/sfixed*: a signed integer (`zigzag` for sint).
    Signed {
        zigzag: bool,
        width32: bool,
    },
    Unsigned {
        width32: bool,
    },
    Double,
    Float,
    String,
    Bytes,
    Enum,
    Timestamp,
    Duration,
}

/// A literal after type checking, in the form the field compares with.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Bool(bool),
    Number(Number),
    Bytes(Bytes),
    Seconds(i64, i32),
}

/// A number for cross-kind comparisons.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn compare(self, other: Number) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (Number::Float(a), Number::Float(b)) => a.partial_cmp(&b),
            (Number::Int(a), Number::Float(b)) => int_float_cmp(a, b),
            (Number::Float(a), Number::Int(b)) => int_float_cmp(b, a).map(Ordering::reverse),
        }
    }
}

/// Exact comparison of an integer with a float (no rounding of large integers).
fn int_float_cmp(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^127 is exactly representable; every i128 is below it and at or above -2^127.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if f >= LIMIT {
        return Some(Ordering::Less);
    }
    if f < -LIMIT {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    match i.cmp(&(whole as i128)) {
        Ordering::Equal => {
            let frac = f - whole;
            Some(if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            })
        }
        other => Some(other),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, ord: Option<Ordering>) -> bool {
        match (self, ord) {
            (Op::Ne, None) => true,
            (_, None) => false,
            (Op::Eq, Some(o)) => o == Ordering::Equal,
            (Op::Ne, Some(o)) => o != Ordering::Equal,
            (Op::Lt, Some(o)) => o == Ordering::Less,
            (Op::Le, Some(o)) => o != Ordering::Greater,
            (Op::Gt, Some(o)) => o == Ordering::Greater,
            (Op::Ge, Some(o)) => o != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Compare {
        slot: usize,
        op: Op,
        literal: Literal,
    },
    IsNull {
        slot: usize,
    },
}

/// A field the filter reads: its number and kind.
#[derive(Debug, Clone, Copy)]
struct FieldRef {
    number: u32,
    kind: FieldKind,
}

/// The raw encoding of one field occurrence.
#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

/// A validated filter, ready to evaluate datapoints of one dataset.
#[derive(Debug, Clone)]
pub struct RowFilter {
    root: Node,
    fields: Vec<FieldRef>,
}

impl RowFilter {
    /// Validates `expressions` (ANDed) against the dataset schema; `None` when there are none.
    pub fn compile(
        expressions: &[FilterExpression],
        schema: &DatasetSchema,
    ) -> Result<Option<RowFilter>, Status> {
        if expressions.is_empty() {
            return Ok(None);
        }
        if expressions.len() > MAX_OPERANDS {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_OPERANDS} filter expressions are allowed, got {}",
                expressions.len()
            )));
        }
        let mut compiler = Compiler {
            schema,
            fields: Vec::new(),
            nodes: 0,
        };
        let mut operands = Vec::with_capacity(expressions.len());
        for e in expressions {
            operands.push(compiler.node(e, 1)?);
        }
        let root = if operands.len() == 1 {
            operands.pop().unwrap_or(Node::And(Vec::new()))
        } else {
            Node::And(operands)
        };
        Ok(Some(RowFilter {
            root,
            fields: compiler.fields,
        }))
    }

    /// Whether the encoded datapoint satisfies the filter (the whole expression is true). Malformed data
    /// never matches.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.evaluate(data) == Truth::True
    }

    /// The three-valued result of the filter over an encoded datapoint (`Unknown` for malformed data).
    pub fn evaluate(&self, data: &[u8]) -> Truth {
        let mut raws: Vec<Option<Raw<'_>>> = vec![None; self.fields.len()];
        let numbers: Vec<u32> = self.fields.iter().map(|f| f.number).collect();
        if scan(data, &numbers, &mut raws).is_err() {
            return Truth::Unknown;
        }
        let values: Vec<Option<Value<'_>>> = self
            .fields
            .iter()
            .zip(&raws)
            .map(|(f, raw)| raw.and_then(|r| decode_value(f.kind, r)))
            .collect();
        eval(&self.root, &values)
    }
}

struct Compiler<'s> {
    schema: &'s DatasetSchema,
    fields: Vec<FieldRef>,
    nodes: usize,
}

impl Compiler<'_> {
    fn node(&mut self, e: &FilterExpression, depth: usize) -> Result<Node, Status> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Status::invalid_argument(format!(
                "filter has more than {MAX_NODES} expression nodes"
            )));
        }
        if depth > MAX_DEPTH {
            return Err(Status::invalid_argument(format!(
                "filter is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        let set = usize::from(e.logical.is_some())
            + usize::from(e.comparison.is_some())
            + usize::from(e.is_null.is_some());
        if set != 1 {
            return Err(Status::invalid_argument(
                "a filter expression must set exactly one of logical, comparison and is_null",
            ));
        }
        if let Some(logical) = &e.logical {
            let n = logical.operands.len();
            if n > MAX_OPERANDS {
                return Err(Status::invalid_argument(format!(
                    "a logical expression takes at most {MAX_OPERANDS} operands, got {n}"
                )));
            }
            let operator = LogicalOperator::try_from(logical.operator)
                .ok()
                .filter(|o| *o != LogicalOperator::Unspecified)
                .ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "unknown logical operator {}",
                        logical.operator
                    ))
                })?;
            let mut operands = Vec::with_capacity(n);
            for o in &logical.operands {
                operands.push(self.node(o, depth + 1)?);
            }
            return match operator {
                LogicalOperator::Not if n == 1 => Ok(Node::Not(Box::new(
                    operands.pop().unwrap_or(Node::And(Vec::new())),
                ))),
                LogicalOperator::Not => Err(Status::invalid_argument(format!(
                    "NOT takes exactly one operand, got {n}"
                ))),
                _ if n < 2 => Err(Status::invalid_argument(format!(
                    "AND and OR take at least two operands, got {n}"
                ))),
                LogicalOperator::And => Ok(Node::And(operands)),
                _ => Ok(Node::Or(operands)),
            };
        }
        if let Some(check) = &e.is_null {
            let slot = self.field(&check.field_name)?;
            return Ok(Node::IsNull { slot });
        }
        let Some(c) = &e.comparison else {
            return Err(Status::invalid_argument("empty filter expression"));
        };
        let slot = self.field(&c.field_name)?;
        let name = &c.field_name;
        let op = match FieldComparisonOperator::try_from(c.operator) {
            Ok(FieldComparisonOperator::Equal) => Op::Eq,
            Ok(FieldComparisonOperator::NotEqual) => Op::Ne,
            Ok(FieldComparisonOperator::LessThan) => Op::Lt,
            Ok(FieldComparisonOperator::LessThanOrEqual) => Op::Le,
            Ok(FieldComparisonOperator::GreaterThan) => Op::Gt,
            Ok(FieldComparisonOperator::GreaterThanOrEqual) => Op::Ge,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "field {name}: unknown comparison operator {}",
                    c.operator
                )));
            }
        };
        let value = c.value.as_ref().ok_or_else(|| {
            Status::invalid_argument(format!("field {name}: comparison without a value"))
        })?;
        let kind = self.fields[slot].kind;
        let literal = literal(name, kind, value, &self.schema.descriptor)?;
        if matches!(literal, Literal::Bool(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(Status::invalid_argument(format!(
                "field {name}: booleans support only = and !="
            )));
        }
        Ok(Node::Compare { slot, op, literal })
    }

    /// Resolves a field name to a slot, checking it exists, is queryable and has a comparable type.
    fn field(&mut self, name: &str) -> Result<usize, Status> {
        let descriptor = &self.schema.descriptor;
        let Some(fd) = descriptor.get_field_by_name(name) else {
            return Err(Status::invalid_argument(format!(
                "filter references unknown field {name:?}"
            )));
        };
        let queryable = descriptor
            .fields()
            .position(|f| f.number() == fd.number())
            .and_then(|i| self.schema.annotations.get(i))
            .is_some_and(|a| a.queryable);
        if !queryable {
            return Err(Status::invalid_argument(format!(
                "field {name} is not queryable"
            )));
        }
        if fd.is_list() || fd.is_map() {
            return Err(Status::invalid_argument(format!(
                "field {name} is repeated and cannot be filtered on"
            )));
        }
        let kind = match fd.kind() {
            Kind::Bool => FieldKind::Bool,
            Kind::Int32 | Kind::Sfixed32 => FieldKind::Signed {
                zigzag: false,
                width32: true,
            },
            Kind::Int64 | Kind::Sfixed64 => FieldKind::Signed {
                zigzag: false,
                width32: false,
            },
            Kind::Sint32 => FieldKind::Signed {
                zigzag: true,
                width32: true,
            },
            Kind::Sint64 => FieldKind::Signed {
                zigzag: true,
                width32: false,
            },
            Kind::Uint32 | Kind::Fixed32 => FieldKind::Unsigned { width32: true },
            Kind::Uint64 | Kind::Fixed64 => FieldKind::Unsigned { width32: false },
            Kind::Double => FieldKind::Double,
            Kind::Float => FieldKind::Float,
            Kind::String => FieldKind::String,
            Kind::Bytes => FieldKind::Bytes,
            Kind::Enum(_) => FieldKind::Enum,
            Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
                FieldKind::Timestamp
            }
            Kind::Message(m) if m.full_name() == "google.protobuf.Duration" => FieldKind::Duration,
            Kind::Message(m) => {
                return Err(Status::invalid_argument(format!(
                    "field {name} of type {} cannot be filtered on",
                    m.full_name()
                )));
            }
        };
        let number = fd.number();
        if let Some(i) = self.fields.iter().position(|f| f.number == number) {
            return Ok(i);
        }
        self.fields.push(FieldRef { number, kind });
        Ok(self.fields.len() - 1)
    }
}

/// Checks that exactly one literal is set and that it fits the field kind.
fn literal(
    name: &str,
    kind: FieldKind,
    v: &FieldQueryValue,
    descriptor: &MessageDescriptor,
) -> Result<Literal, Status> {
    let set = [
        v.bool_value.is_some(),
        v.int64_value.is_some(),
        v.uint64_value.is_some(),
        v.double_value.is_some(),
        v.string_value.is_some(),
        v.timestamp_value.is_some(),
        v.duration_value.is_some(),
        v.enum_name.is_some(),
        v.bytes_value.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if set != 1 {
        return Err(Status::invalid_argument(format!(
            "field {name}: a comparison value must set exactly one literal, got {set}"
        )));
    }
    let mismatch = |what: &str| {
        Status::invalid_argument(format!(
            "field {name}: a {what} value cannot be compared with a field of type {}",
            kind_name(kind)
        ))
    };
    let numeric = matches!(
        kind,
        FieldKind::Signed { .. }
            | FieldKind::Unsigned { .. }
            | FieldKind::Double
            | FieldKind::Float
            | FieldKind::Enum
    );
    if let Some(b) = v.bool_value {
        return if kind == FieldKind::Bool {
            Ok(Literal::Bool(b))
        } else {
            Err(mismatch("bool"))
        };
    }
    if let Some(i) = v.int64_value {
        return if numeric {
            Ok(Literal::Number(Number::Int(i128::from(i))))
        } else {
            Err(mismatch("int64"))
        };
    }
    if let Some(u) = v.uint64_value {
        return if numeric {
            Ok(Literal::Number(Number::Int(i128::from(u))))
        } else {
            Err(mismatch("uint64"))
        };
    }
    if let Some(d) = v.double_value {
        if !d.is_finite() {
            return Err(Status::invalid_argument(format!(
                "field {name}: double values must be finite"
            )));
        }
        return if numeric && kind != FieldKind::Enum {
            Ok(Literal::Number(Number::Float(d)))
        } else {
            Err(mismatch("double"))
        };
    }
    if let Some(s) = &v.string_value {
        return if kind == FieldKind::String {
            Ok(Literal::Bytes(Bytes::copy_from_slice(s.as_bytes())))
        } else {
            Err(mismatch("string"))
        };
    }
    if let Some(b) = &v.bytes_value {
        return if kind == FieldKind::Bytes {
            Ok(Literal::Bytes(b.clone()))
        } else {
            Err(mismatch("bytes"))
        };
    }
    if let Some(t) = &v.timestamp_value {
        if kind != FieldKind::Timestamp {
            return Err(mismatch("timestamp"));
        }
        if !(0..1_000_000_000).contains(&t.nanos) {
            return Err(Status::invalid_argument(format!(
                "field {name}: timestamp nanos must be within 0..1e9"
            )));
        }
        return Ok(Literal::Seconds(t.seconds, t.nanos));
    }
    if let Some(d) = &v.duration_value {
        if kind != FieldKind::Duration {
            return Err(mismatch("duration"));
        }
        let valid = (-DURATION_MAX_SECONDS..=DURATION_MAX_SECONDS).contains(&d.seconds)
            && (-999_999_999..=999_999_999).contains(&d.nanos)
            && !(d.seconds > 0 && d.nanos < 0 || d.seconds < 0 && d.nanos > 0);
        if !valid {
            return Err(Status::invalid_argument(format!(
                "field {name}: duration is out of range or has mixed signs"
            )));
        }
        return Ok(Literal::Seconds(d.seconds, d.nanos));
    }
    if let Some(e) = &v.enum_name {
        if kind != FieldKind::Enum {
            return Err(mismatch("enum"));
        }
        let number = descriptor
            .get_field_by_name(name)
            .and_then(|fd| match fd.kind() {
                // The full value name, or the name without the enum's prefix (`L1` for
                // `PROCESSING_LEVEL_L1`), as the official clients display enum values.
                Kind::Enum(ed) => ed
                    .get_value_by_name(e)
                    .or_else(|| ed.get_value_by_name(&format!("{}_{e}", upper_snake(ed.name()))))
                    .map(|v| v.number()),
                _ => None,
            })
            .ok_or_else(|| {
                Status::invalid_argument(format!("field {name}: unknown enum value {e:?}"))
            })?;
        return Ok(Literal::Number(Number::Int(i128::from(number))));
    }
    Err(Status::invalid_argument(format!(
        "field {name}: missing comparison value"
    )))
}

/// `ProcessingLevel` → `PROCESSING_LEVEL`.
fn upper_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Bool => "bool",
        FieldKind::Signed { .. } => "signed integer",
        FieldKind::Unsigned { .. } => "unsigned integer",
        FieldKind::Double => "double",
        FieldKind::Float => "float",
        FieldKind::String => "string",
        FieldKind::Bytes => "bytes",
        FieldKind::Enum => "enum",
        FieldKind::Timestamp => "timestamp",
        FieldKind::Duration => "duration",
    }
}

/// A decoded field value.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Bool(bool),
    Number(Number),
    Bytes(&'a [u8]),
    Seconds(i64, i32),
}

fn decode_value(kind: FieldKind, raw: Raw<'_>) -> Option<Value<'_>> {
    Some(match (kind, raw) {
        (FieldKind::Bool, Raw::Varint(v)) => Value::Bool(v != 0),
        (FieldKind::Signed { zigzag: true, .. }, Raw::Varint(v)) => {
            Value::Number(Number::Int(i128::from((v >> 1) as i64 ^ -((v & 1) as i64))))
        }
        (FieldKind::Signed { width32: true, .. }, Raw::Varint(v)) => {
            Value::Number(Number::Int(i128::from(v as i32)))
        }
        (FieldKind::Signed { .. }, Raw::Varint(v)) => {
            Value::Number(Number::Int(i128::from(v as i64)))
        }
        (FieldKind::Signed { .. }, Raw::Fixed32(v)) => {
            Value::Number(Number::Int(i128::from(v as i32)))
        }
        (FieldKind::Signed { .. }, Raw::Fixed64(v)) => {
            Value::Number(Number::Int(i128::from(v as i64)))
        }
        (FieldKind::Unsigned { width32: true }, Raw::Varint(v)) => {
            Value::Number(Number::Int(i128::from(v as u32)))
        }
        (FieldKind::Unsigned { .. }, Raw::Varint(v))
        | (FieldKind::Unsigned { .. }, Raw::Fixed64(v)) => {
            Value::Number(Number::Int(i128::from(v)))
        }
        (FieldKind::Unsigned { .. }, Raw::Fixed32(v)) => Value::Number(Number::Int(i128::from(v))),
        (FieldKind::Enum, Raw::Varint(v)) => Value::Number(Number::Int(i128::from(v as i32))),
        (FieldKind::Double, Raw::Fixed64(v)) => Value::Number(Number::Float(f64::from_bits(v))),
        (FieldKind::Float, Raw::Fixed32(v)) => {
            Value::Number(Number::Float(f64::from(f32::from_bits(v))))
        }
        (FieldKind::String | FieldKind::Bytes, Raw::Len(b)) => Value::Bytes(b),
        (FieldKind::Timestamp | FieldKind::Duration, Raw::Len(b)) => {
            let (seconds, nanos) = seconds_nanos(b)?;
            Value::Seconds(seconds, nanos)
        }
        _ => return None,
    })
}

/// `(seconds, nanos)` of an encoded Timestamp or Duration.
fn seconds_nanos(b: &[u8]) -> Option<(i64, i32)> {
    let mut raws = [None, None];
    scan(b, &[1, 2], &mut raws).ok()?;
    let seconds = match raws[0] {
        Some(Raw::Varint(v)) => v as i64,
        None => 0,
        _ => return None,
    };
    let nanos = match raws[1] {
        Some(Raw::Varint(v)) => v as i64 as i32,
        None => 0,
        _ => return None,
    };
    Some((seconds, nanos))
}

fn eval(node: &Node, values: &[Option<Value<'_>>]) -> Truth {
    match node {
        Node::And(operands) => {
            let mut result = Truth::True;
            for o in operands {
                match eval(o, values) {
                    Truth::False => return Truth::False,
                    Truth::Unknown => result = Truth::Unknown,
                    Truth::True => {}
                }
            }
            result
        }
        Node::Or(operands) => {
            let mut result = Truth::False;
            for o in operands {
                match eval(o, values) {
                    Truth::True => return Truth::True,
                    Truth::Unknown => result = Truth::Unknown,
                    Truth::False => {}
                }
            }
            result
        }
        Node::Not(inner) => eval(inner, values).not(),
        Node::IsNull { slot } => Truth::from_bool(values[*slot].is_none()),
        Node::Compare { slot, op, literal } => {
            let Some(value) = values[*slot] else {
                return Truth::Unknown;
            };
            let ord = match (value, literal) {
                (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
                (Value::Number(a), Literal::Number(b)) => a.compare(*b),
                (Value::Bytes(a), Literal::Bytes(b)) => Some(a.cmp(&b[..])),
                (Value::Seconds(s, n), Literal::Seconds(ls, ln)) => Some((s, n).cmp(&(*ls, *ln))),
                // The stored value does not have the field's declared wire type: treat as missing.
                _ => return Truth::Unknown,
            };
            Truth::from_bool(op.holds(ord))
        }
    }
}

/// Malformed protobuf.
#[derive(Debug)]
struct Malformed;

fn varint(data: &[u8], pos: &mut usize) -> Result<u64, Malformed> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *data.get(*pos).ok_or(Malformed)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return Err(Malformed);
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Malformed)
}

/// One pass over a message's top-level fields: the last occurrence of each wanted field number.
fn scan<'a>(data: &'a [u8], wanted: &[u32], out: &mut [Option<Raw<'a>>]) -> Result<(), Malformed> {
    let mut pos = 0usize;
    while pos < data.len() {
        let key = varint(data, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| Malformed)?;
        let raw = match key & 7 {
            0 => Raw::Varint(varint(data, &mut pos)?),
            1 => {
                let b = data.get(pos..pos + 8).ok_or(Malformed)?;
                pos += 8;
                Raw::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| Malformed)?))
            }
            2 => {
                let len = usize::try_from(varint(data, &mut pos)?).map_err(|_| Malformed)?;
                let end = pos.checked_add(len).ok_or(Malformed)?;
                let b = data.get(pos..end).ok_or(Malformed)?;
                pos = end;
                Raw::Len(b)
            }
            5 => {
                let b = data.get(pos..pos + 4).ok_or(Malformed)?;
                pos += 4;
                Raw::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| Malformed)?))
            }
            _ => return Err(Malformed),
        };
        if let Some(i) = wanted.iter().position(|w| *w == number) {
            out[i] = Some(raw);
        }
    }
    Ok(())
}

/// The `wkb` bytes of the `geometry` field (number `field`) of an encoded datapoint, if present.
pub fn geometry_wkb(data: &[u8], field: u32) -> Option<&[u8]> {
    let mut raws = [None];
    scan(data, &[field], &mut raws).ok()?;
    let Some(Raw::Len(geometry)) = raws[0] else {
        return None;
    };
    let mut inner = [None];
    scan(geometry, &[1], &mut inner).ok()?;
    match inner[0] {
        Some(Raw::Len(wkb)) => Some(wkb),
        _ => None,
    }
}

/// Field number of `geometry` in spatiotemporal datasets (after `time`, `id`, `ingestion_time`).
const GEOMETRY_FIELD: u32 = 4;
/// Everything a row must satisfy besides its id range: the filter expressions and the exact spatial filter.
///
/// This is the query path's one hook into storage: [`RowPredicate::scan`] hands it to
/// [`Store::query_range`] as the range's row filter, which keeps the matching rows until the page's limit
/// is reached, so filtering happens before paging (pages stay full and the cursor is the last *returned*
/// id).
#[derive(Debug, Clone, Default)]
pub struct RowPredicate {
    filter: Option<RowFilter>,
    spatial: Option<SpatialPredicate>,
}

impl RowPredicate {
    /// Combines the (optional) filter expressions and spatial filter of a query.
    pub fn new(filter: Option<RowFilter>, spatial: Option<SpatialPredicate>) -> RowPredicate {
        RowPredicate { filter, spatial }
    }

    /// The bounding-box prefilter rows must pass (see [`SpatialPredicate::prefilter`]).
    pub fn prefilter(&self) -> Option<(BBox, bool)> {
        self.spatial.as_ref().map(SpatialPredicate::prefilter)
    }

    /// Whether an encoded datapoint matches.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(data))
            && self.spatial.as_ref().is_none_or(|s| {
                geometry_wkb(data, GEOMETRY_FIELD).is_some_and(|wkb| s.matches(wkb))
            })
    }

    /// Up to `range.limit` matching rows of `range`, in id order (`range.bbox` is applied by the store as a
    /// prefilter). Rows come back without data when `range.with_data` is false.
    ///
    /// The predicate runs inside the store's row loop ([`RangeQuery::filter`]): rows that do not match are
    /// never copied out of the database, and one statement steps through the range until the page is full.
    pub async fn scan(
        &self,
        store: &dyn Store,
        range: RangeQuery,
    ) -> Result<Vec<DatapointRecord>, StoreError> {
        if self.filter.is_none() && self.spatial.is_none() {
            return store.query_range(range).await;
        }
        let predicate = Arc::new(self.clone());
        let outer = range.filter.clone();
        let filter = StoreRowFilter::new(move |data| {
            predicate.matches(data) && outer.as_ref().is_none_or(|f| f.matches(data))
        });
        store
            .query_range(RangeQuery {
                filter: Some(filter),
                ..range
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::schema::{build_schema, normalise_type};
    use prost::Message as _;
    use prost_reflect::{DynamicMessage, ReflectMessage, Value as RValue};
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{FieldDescriptorProto, Timestamp};
    use tilebox_core::filter::{Filter, enum_name, field};
    use tilebox_core::wire::datasets::v1::{DatasetKind, DatasetType, Field, FieldAnnotation};

    fn f(name: &str, ty: Type, type_name: Option<&str>, queryable: bool) -> Field {
        Field {
            descriptor: Some(FieldDescriptorProto {
                name: Some(name.into()),
                label: Some(Label::Optional as i32),
                r#type: Some(ty as i32),
                type_name: type_name.map(str::to_owned),
                ..Default::default()
            }),
            annotation: Some(FieldAnnotation {
                queryable,
                ..Default::default()
            }),
        }
    }

    fn schema() -> DatasetSchema {
        let ty = DatasetType {
            kind: DatasetKind::Temporal as i32,
            fields: vec![
                f("flag", Type::Bool, None, true),
                f("i64", Type::Int64, None, true),
                f("i32", Type::Int32, None, true),
                f("s64", Type::Sint64, None, true),
                f("u64", Type::Uint64, None, true),
                f("f32", Type::Float, None, true),
                f("f64", Type::Double, None, true),
                f("text", Type::String, None, true),
                f("blob", Type::Bytes, None, true),
                f(
                    "level",
                    Type::Enum,
                    Some(".datasets.v1.ProcessingLevel"),
                    true,
                ),
                f(
                    "at",
                    Type::Message,
                    Some(".google.protobuf.Timestamp"),
                    true,
                ),
                f(
                    "span",
                    Type::Message,
                    Some(".google.protobuf.Duration"),
                    true,
                ),
                f("hidden", Type::Int64, None, false),
            ],
        };
        build_schema(&[7; 16], "filter_test", &normalise_type(&ty).unwrap()).unwrap()
    }

    fn encode(schema: &DatasetSchema, set: &[(&str, RValue)]) -> Vec<u8> {
        let mut m = DynamicMessage::new(schema.descriptor.clone());
        let time = Timestamp {
            seconds: 1,
            nanos: 0,
        };
        m.set_field_by_name("time", RValue::Message(time.transcode_to_dynamic()));
        for (name, value) in set {
            m.set_field_by_name(name, value.clone());
        }
        m.encode_to_vec()
    }

    fn ts(seconds: i64, nanos: i32) -> RValue {
        RValue::Message(Timestamp { seconds, nanos }.transcode_to_dynamic())
    }

    fn dur(seconds: i64, nanos: i32) -> RValue {
        RValue::Message(prost_types::Duration { seconds, nanos }.transcode_to_dynamic())
    }

    fn compile(schema: &DatasetSchema, filter: Filter) -> Result<RowFilter, Status> {
        RowFilter::compile(&[filter.to_wire().unwrap()], schema).map(|f| f.unwrap())
    }

    fn truth(schema: &DatasetSchema, filter: Filter, data: &[u8]) -> Truth {
        compile(schema, filter).unwrap().evaluate(data)
    }

    /// A filter with the given truth value on a datapoint where `i64 = 1` and `u64` is missing.
    fn of(t: Truth) -> Filter {
        match t {
            Truth::True => field("i64").eq(1),
            Truth::False => field("i64").eq(2),
            Truth::Unknown => field("u64").eq(1),
        }
    }

    #[test]
    fn three_valued_truth_tables() {
        let s = schema();
        let data = encode(&s, &[("i64", RValue::I64(1))]);
        use Truth::{False as F, True as T, Unknown as U};
        let all = [T, F, U];
        for a in all {
            assert_eq!(truth(&s, of(a), &data), a);
            let not = match a {
                T => F,
                F => T,
                U => U,
            };
            assert_eq!(truth(&s, !of(a), &data), not, "NOT {a:?}");
            for b in all {
                let and = if a == F || b == F {
                    F
                } else if a == U || b == U {
                    U
                } else {
                    T
                };
                let or = if a == T || b == T {
                    T
                } else if a == U || b == U {
                    U
                } else {
                    F
                };
                assert_eq!(truth(&s, of(a) & of(b), &data), and, "{a:?} AND {b:?}");
                assert_eq!(truth(&s, of(a) | of(b), &data), or, "{a:?} OR {b:?}");
            }
        }
        // Null checks are never unknown, and != of a missing field is unknown.
        assert_eq!(truth(&s, field("u64").is_null(), &data), T);
        assert_eq!(truth(&s, field("i64").is_null(), &data), F);
        assert_eq!(truth(&s, field("u64").is_not_null(), &data), F);
        assert_eq!(truth(&s, field("u64").ne(5), &data), U);
        // Top-level expressions are ANDed.
        let both = RowFilter::compile(&[of(T).to_wire().unwrap(), of(U).to_wire().unwrap()], &s)
            .unwrap()
            .unwrap();
        assert_eq!(both.evaluate(&data), U);
        assert!(!both.matches(&data));
    }

    #[test]
    fn every_literal_kind_compares_with_its_field() {
        let s = schema();
        let data = encode(
            &s,
            &[
                ("flag", RValue::Bool(false)),
                ("i64", RValue::I64(-5)),
                ("i32", RValue::I32(-7)),
                ("s64", RValue::I64(-9)),
                ("u64", RValue::U64(u64::MAX)),
                ("f32", RValue::F32(0.5)),
                ("f64", RValue::F64(2.5)),
                ("text", RValue::String("LANDSAT_8".into())),
                ("blob", RValue::Bytes(Bytes::from_static(b"\x01\x02"))),
                ("level", RValue::EnumNumber(10)),
                ("at", ts(100, 5)),
                ("span", dur(-1, -500_000_000)),
            ],
        );
        let holds = [
            field("flag").eq(false),
            field("flag").ne(true),
            field("i64").eq(-5),
            field("i64").lt(-4.5),
            field("i64").gt(-5.5),
            field("i64").ge(-5.0),
            field("i32").eq(-7),
            field("s64").le(-9),
            field("u64").eq(u64::MAX),
            field("u64").gt(i64::MAX),
            field("u64").gt(1.0e19),
            field("f32").eq(0.5),
            field("f64").gt(2),
            field("f64").lt(3u64),
            field("text").eq("LANDSAT_8"),
            field("text").gt("LANDSAT_7"),
            field("text").lt("LANDSAT_9"),
            field("blob").eq(&b"\x01\x02"[..]),
            field("blob").lt(&b"\x01\x03"[..]),
            field("level").eq(enum_name("PROCESSING_LEVEL_L1")),
            field("level").eq(10),
            field("level").eq(enum_name("L1")),
            field("level").gt(enum_name("PROCESSING_LEVEL_L2")),
            field("at").eq(chrono::DateTime::from_timestamp(100, 5).unwrap()),
            field("at").gt(chrono::DateTime::from_timestamp(100, 4).unwrap()),
            field("span")
                .eq(std::time::Duration::from_millis(1500))
                .not_check(),
            field("span").eq(chrono::TimeDelta::milliseconds(-1500)),
            field("span").lt(chrono::TimeDelta::milliseconds(-1499)),
        ];
        for filter in holds {
            let shown = filter.to_string();
            assert_eq!(truth(&s, filter, &data), Truth::True, "{shown}");
        }
        // Every field missing: every comparison unknown.
        let empty = encode(&s, &[]);
        for name in ["flag", "i64", "f64", "text", "blob", "level", "at", "span"] {
            assert_eq!(truth(&s, field(name).is_null(), &empty), Truth::True);
        }
        assert_eq!(truth(&s, field("f64").lt(1), &empty), Truth::Unknown);
    }

    trait NotCheck {
        fn not_check(self) -> Filter;
    }

    impl NotCheck for Filter {
        /// Wraps a filter expected to be false into NOT, so it is expected true.
        fn not_check(self) -> Filter {
            !self
        }
    }

    #[test]
    fn mismatches_and_unknown_fields_name_the_field() {
        let s = schema();
        let bad = [
            (field("nope").eq(1), "nope"),
            (field("hidden").eq(1), "hidden"),
            (field("time").is_null(), "time"),
            (field("text").eq(1), "text"),
            (field("i64").eq("1"), "i64"),
            (field("flag").eq(1), "flag"),
            (field("level").eq(enum_name("NOPE")), "level"),
            (field("level").eq(1.5), "level"),
            (field("at").eq(3), "at"),
            (field("span").eq(chrono::Utc::now()), "span"),
            (field("blob").eq("x"), "blob"),
        ];
        for (filter, name) in bad {
            let e = compile(&s, filter).unwrap_err();
            assert_eq!(e.code, crate::status::Code::InvalidArgument);
            assert!(e.message.contains(name), "{} lacks {name}", e.message);
        }
        // Boolean ordering, non-finite doubles and mis-shaped nodes sent raw.
        let raw = |e: FilterExpression| RowFilter::compile(&[e], &s).unwrap_err();
        let mut lt_bool = field("flag").eq(true).to_wire().unwrap();
        lt_bool.comparison.as_mut().unwrap().operator = FieldComparisonOperator::LessThan as i32;
        assert!(raw(lt_bool).message.contains("flag"));
        let mut nan = field("f64").eq(1.0).to_wire().unwrap();
        nan.comparison
            .as_mut()
            .unwrap()
            .value
            .as_mut()
            .unwrap()
            .double_value = Some(f64::NAN);
        assert!(raw(nan).message.contains("finite"));
        let mut two_values = field("i64").eq(1).to_wire().unwrap();
        two_values
            .comparison
            .as_mut()
            .unwrap()
            .value
            .as_mut()
            .unwrap()
            .uint64_value = Some(1);
        assert!(raw(two_values).message.contains("exactly one"));
        let not_two = FilterExpression {
            logical: Some(tilebox_core::wire::datasets::v1::LogicalExpression {
                operator: LogicalOperator::Not as i32,
                operands: vec![of(Truth::True).to_wire().unwrap(); 2],
            }),
            ..Default::default()
        };
        assert!(raw(not_two).message.contains("NOT"));
        let many: Vec<FilterExpression> = (0..65)
            .map(|i| field("i64").eq(i).to_wire().unwrap())
            .collect();
        assert!(RowFilter::compile(&many, &s).is_err());
    }

    #[test]
    fn malformed_data_never_matches() {
        let s = schema();
        let f = compile(&s, field("i64").is_null()).unwrap();
        assert!(f.matches(&encode(&s, &[])));
        assert!(!f.matches(&[0x08]));
        assert!(!f.matches(&[0xff; 11]));
    }

    #[test]
    fn int_float_comparison_is_exact() {
        assert_eq!(
            int_float_cmp(1 << 53, 9_007_199_254_740_992.0),
            Some(Ordering::Equal)
        );
        assert_eq!(
            int_float_cmp((1 << 53) + 1, 9_007_199_254_740_992.0),
            Some(Ordering::Greater)
        );
        assert_eq!(int_float_cmp(-1, -0.5), Some(Ordering::Less));
        assert_eq!(int_float_cmp(0, f64::NAN), None);
        assert_eq!(int_float_cmp(i128::MAX, 1e300), Some(Ordering::Less));
    }
}
