//! Server-side filter expressions over a dataset's queryable fields.
//!
//! Build them from [`field`] with comparisons ([`Field::eq`], [`Field::lt`], ...) and null checks, and
//! combine them with `&`, `|` and `!` (or [`Filter::all`] / [`Filter::any`]):
//!
//! ```
//! use tilebox_core::filter::{enum_name, field};
//!
//! let filter = field("cloud_cover").lt(10.0)
//!     & (field("platform").eq("LANDSAT_8") | field("processing_level").eq(enum_name("PROCESSING_LEVEL_L2")))
//!     & !field("row").is_null();
//! assert!(filter.validate().is_ok());
//! ```
//!
//! The server evaluates filters with SQL/CQL2 three-valued logic: a comparison with a missing (null) field
//! is *unknown* — also for [`Field::ne`] — `NOT unknown` stays unknown, and only datapoints for which the
//! whole filter is *true* are returned. Combine a comparison with [`Field::is_null`] to include missing
//! values.
//!
//! Building never fails; invalid parts (a non-finite float, an out-of-range integer or duration, an
//! ordering comparison of booleans, a malformed field name, more operands, nodes or nesting than the API
//! allows) are reported as [`Error::InvalidInput`] by [`Filter::validate`], [`Filter::to_wire`] and by any
//! query that carries the filter, before a request is sent.

use std::fmt;
use std::ops::{BitAnd, BitOr, Not};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::wire::datasets::v1 as pb;

/// At most this many top-level expressions in one query, and operands of one `AND` / `OR`.
pub const MAX_OPERANDS: usize = 64;
/// At most this many expression nodes in one filter.
pub const MAX_NODES: usize = 256;
/// At most this nesting depth (a lone comparison has depth 1).
pub const MAX_DEPTH: usize = 8;
/// Largest `|seconds|` of a protobuf `Duration` (10,000 years).
const DURATION_MAX_SECONDS: i64 = 315_576_000_000;
/// Protobuf `Timestamp` range: 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z.
const TIMESTAMP_MIN_SECONDS: i64 = -62_135_596_800;
const TIMESTAMP_MAX_SECONDS: i64 = 253_402_300_799;

/// A reference to a queryable dataset field, the start of a comparison. See [`field`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    name: String,
}

/// References the queryable field `name` (a top-level field of the dataset, e.g. `"cloud_cover"`).
pub fn field(name: impl Into<String>) -> Field {
    Field { name: name.into() }
}

/// A symbolic enum value, compared with an enum field by name (`"PROCESSING_LEVEL_L1"`).
pub fn enum_name(name: impl Into<String>) -> Value {
    Value(Literal::EnumName(name.into()))
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Comparison {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `<`
    LessThan,
    /// `<=`
    LessThanOrEqual,
    /// `>`
    GreaterThan,
    /// `>=`
    GreaterThanOrEqual,
}

impl Comparison {
    fn to_wire(self) -> pb::FieldComparisonOperator {
        match self {
            Comparison::Equal => pb::FieldComparisonOperator::Equal,
            Comparison::NotEqual => pb::FieldComparisonOperator::NotEqual,
            Comparison::LessThan => pb::FieldComparisonOperator::LessThan,
            Comparison::LessThanOrEqual => pb::FieldComparisonOperator::LessThanOrEqual,
            Comparison::GreaterThan => pb::FieldComparisonOperator::GreaterThan,
            Comparison::GreaterThanOrEqual => pb::FieldComparisonOperator::GreaterThanOrEqual,
        }
    }
}

impl Field {
    /// The field name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `field = value`.
    pub fn eq(self, value: impl Into<Value>) -> Filter {
        self.compare(Comparison::Equal, value)
    }

    /// `field != value` (unknown, so not matching, when the field is missing).
    pub fn ne(self, value: impl Into<Value>) -> Filter {
        self.compare(Comparison::NotEqual, value)
    }

    /// `field < value`.
    pub fn lt(self, value: impl Into<Value>) -> Filter {
        self.compare(Comparison::LessThan, value)
    }

    /// `field <= value`.
    pub fn le(self, value: impl Into<Value>) -> Filter {
        self.compare(Comparison::LessThanOrEqual, value)
    }

    /// `field > value`.
    pub fn gt(self, value: impl Into<Value>) -> Filter {
        self.compare(Comparison::GreaterThan, value)
    }

    /// `field >= value`.
    pub fn ge(self, value: impl Into<Value>) -> Filter {
        self.compare(Comparison::GreaterThanOrEqual, value)
    }

    /// `field <op> value`.
    pub fn compare(self, op: Comparison, value: impl Into<Value>) -> Filter {
        Filter(Node::Compare {
            field: self.name,
            op,
            value: value.into().0,
        })
    }

    /// Matches datapoints where the field is missing (null).
    pub fn is_null(self) -> Filter {
        Filter(Node::IsNull(self.name))
    }

    /// Matches datapoints where the field is present: `NOT (field IS NULL)`.
    pub fn is_not_null(self) -> Filter {
        !self.is_null()
    }
}

/// A literal a field is compared with. Built by `From` conversions: `bool`, integers, `f32`/`f64`, strings,
/// byte strings, [`SystemTime`] / `chrono::DateTime` (timestamps), [`Duration`] / `chrono::TimeDelta`
/// (durations) and [`enum_name`]. Out-of-range conversions (`i128`, `u128`, huge durations) and
/// non-finite floats are kept as invalid and reported when the filter is validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Value(Literal);

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Bool(bool),
    Int64(i64),
    Uint64(u64),
    Double(f64),
    String(String),
    Bytes(Bytes),
    Timestamp { seconds: i64, nanos: i32 },
    Duration { seconds: i64, nanos: i32 },
    EnumName(String),
    Invalid(String),
}

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value(Literal::Int64(i64::from(v)))
            }
        }
    )*};
}
signed!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value(Literal::Uint64(v))
    }
}

impl From<isize> for Value {
    fn from(v: isize) -> Self {
        Value::from(v as i128)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u128)
    }
}

impl From<i128> for Value {
    /// `int64` when it fits, `uint64` for larger positive values, invalid otherwise.
    fn from(v: i128) -> Self {
        Value(if let Ok(i) = i64::try_from(v) {
            Literal::Int64(i)
        } else if let Ok(u) = u64::try_from(v) {
            Literal::Uint64(u)
        } else {
            Literal::Invalid(format!("integer {v} does not fit in int64 or uint64"))
        })
    }
}

impl From<u128> for Value {
    fn from(v: u128) -> Self {
        match i128::try_from(v) {
            Ok(i) => Value::from(i),
            Err(_) => Value(Literal::Invalid(format!(
                "integer {v} does not fit in uint64"
            ))),
        }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value(Literal::Double(v))
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value(Literal::Double(f64::from(v)))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value(Literal::Bool(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value(Literal::String(v.to_owned()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value(Literal::String(v))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value(Literal::String(v.clone()))
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value(Literal::Bytes(Bytes::copy_from_slice(v)))
    }
}

impl<const N: usize> From<&[u8; N]> for Value {
    fn from(v: &[u8; N]) -> Self {
        Value(Literal::Bytes(Bytes::copy_from_slice(v)))
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value(Literal::Bytes(Bytes::from(v)))
    }
}

impl From<Bytes> for Value {
    fn from(v: Bytes) -> Self {
        Value(Literal::Bytes(v))
    }
}

/// A timestamp literal from `(seconds, nanos)` since the epoch, `nanos` normalised into `0..1e9`.
fn timestamp(seconds: i128, nanos: i128) -> Value {
    let total = seconds * 1_000_000_000 + nanos;
    let (s, n) = (
        total.div_euclid(1_000_000_000),
        total.rem_euclid(1_000_000_000),
    );
    match i64::try_from(s) {
        Ok(s) if (TIMESTAMP_MIN_SECONDS..=TIMESTAMP_MAX_SECONDS).contains(&s) => {
            Value(Literal::Timestamp {
                seconds: s,
                nanos: n as i32,
            })
        }
        _ => Value(Literal::Invalid(
            "timestamp is outside 0001-01-01 ..= 9999-12-31".into(),
        )),
    }
}

/// A duration literal from a signed count of nanoseconds (protobuf form: same-sign seconds and nanos).
fn duration(total_nanos: i128) -> Value {
    let seconds = total_nanos / 1_000_000_000;
    let nanos = (total_nanos % 1_000_000_000) as i32;
    match i64::try_from(seconds) {
        Ok(s) if (-DURATION_MAX_SECONDS..=DURATION_MAX_SECONDS).contains(&s) => {
            Value(Literal::Duration { seconds: s, nanos })
        }
        _ => Value(Literal::Invalid(
            "duration is outside the protobuf range of ±10,000 years".into(),
        )),
    }
}

impl From<SystemTime> for Value {
    fn from(v: SystemTime) -> Self {
        match v.duration_since(UNIX_EPOCH) {
            Ok(d) => timestamp(i128::from(d.as_secs()), i128::from(d.subsec_nanos())),
            Err(e) => {
                let d = e.duration();
                timestamp(-i128::from(d.as_secs()), -i128::from(d.subsec_nanos()))
            }
        }
    }
}

impl<Tz: chrono::TimeZone> From<chrono::DateTime<Tz>> for Value {
    fn from(v: chrono::DateTime<Tz>) -> Self {
        timestamp(
            i128::from(v.timestamp()),
            i128::from(v.timestamp_subsec_nanos()),
        )
    }
}

impl From<Duration> for Value {
    fn from(v: Duration) -> Self {
        duration(v.as_nanos() as i128)
    }
}

impl From<chrono::TimeDelta> for Value {
    fn from(v: chrono::TimeDelta) -> Self {
        duration(i128::from(v.num_seconds()) * 1_000_000_000 + i128::from(v.subsec_nanos()))
    }
}

/// A filter expression. Combine with `&` (AND), `|` (OR) and `!` (NOT); operands of the same operator are
/// flattened into one node (`a & b & c` is one AND of three).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Compare {
        field: String,
        op: Comparison,
        value: Literal,
    },
    IsNull(String),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// A wire expression handed through unchanged (validated by the server only).
    Raw(Box<pb::FilterExpression>),
    Invalid(String),
}

impl Filter {
    /// The AND of all `filters` (one filter is itself; none is invalid).
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Self::combine(filters, true)
    }

    /// The OR of all `filters` (one filter is itself; none is invalid).
    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Self::combine(filters, false)
    }

    fn combine(filters: impl IntoIterator<Item = Filter>, and: bool) -> Filter {
        let mut operands = Vec::new();
        for Filter(node) in filters {
            match (node, and) {
                (Node::And(inner), true) | (Node::Or(inner), false) => operands.extend(inner),
                (node, _) => operands.push(node),
            }
        }
        match operands.len() {
            0 => Filter(Node::Invalid(format!(
                "{} needs at least one operand",
                if and { "AND" } else { "OR" }
            ))),
            1 => Filter(operands.pop().unwrap_or(Node::Invalid(String::new()))),
            _ if and => Filter(Node::And(operands)),
            _ => Filter(Node::Or(operands)),
        }
    }

    /// Checks the filter as the server would before sending it: literals, field names, operand counts,
    /// at most [`MAX_NODES`] nodes and [`MAX_DEPTH`] levels.
    pub fn validate(&self) -> Result<()> {
        self.to_wire().map(|_| ())
    }

    /// The wire form, or [`Error::InvalidInput`] naming what is wrong.
    pub fn to_wire(&self) -> Result<pb::FilterExpression> {
        let mut nodes = 0usize;
        encode(&self.0, 1, &mut nodes)
    }
}

impl From<pb::FilterExpression> for Filter {
    /// Hands a wire expression through unchanged (the server validates it).
    fn from(expression: pb::FilterExpression) -> Self {
        Filter(Node::Raw(Box::new(expression)))
    }
}

impl BitAnd for Filter {
    type Output = Filter;

    fn bitand(self, rhs: Filter) -> Filter {
        Filter::all([self, rhs])
    }
}

impl BitOr for Filter {
    type Output = Filter;

    fn bitor(self, rhs: Filter) -> Filter {
        Filter::any([self, rhs])
    }
}

impl Not for Filter {
    type Output = Filter;

    fn not(self) -> Filter {
        Filter(Node::Not(Box::new(self.0)))
    }
}

impl fmt::Display for Filter {
    /// CQL2-text-like rendering, e.g. `(cloud_cover < 10 AND platform = 'LANDSAT_8')`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(&self.0, f)
    }
}

fn render(node: &Node, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let join = |f: &mut fmt::Formatter<'_>, nodes: &[Node], sep: &str| -> fmt::Result {
        f.write_str("(")?;
        for (i, n) in nodes.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            render(n, f)?;
        }
        f.write_str(")")
    };
    match node {
        Node::Compare { field, op, value } => {
            let op = match op {
                Comparison::Equal => "=",
                Comparison::NotEqual => "<>",
                Comparison::LessThan => "<",
                Comparison::LessThanOrEqual => "<=",
                Comparison::GreaterThan => ">",
                Comparison::GreaterThanOrEqual => ">=",
            };
            write!(f, "{field} {op} ")?;
            match value {
                Literal::Bool(b) => write!(f, "{b}"),
                Literal::Int64(i) => write!(f, "{i}"),
                Literal::Uint64(u) => write!(f, "{u}"),
                Literal::Double(d) => write!(f, "{d:?}"),
                Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
                Literal::Bytes(b) => write!(f, "{b:?}"),
                Literal::Timestamp { seconds, nanos } => {
                    write!(f, "TIMESTAMP({seconds}.{nanos:09})")
                }
                Literal::Duration { seconds, nanos } => write!(f, "DURATION({seconds}s {nanos}ns)"),
                Literal::EnumName(n) => f.write_str(n),
                Literal::Invalid(reason) => write!(f, "<invalid: {reason}>"),
            }
        }
        Node::IsNull(field) => write!(f, "{field} IS NULL"),
        Node::And(nodes) => join(f, nodes, " AND "),
        Node::Or(nodes) => join(f, nodes, " OR "),
        Node::Not(inner) => {
            f.write_str("NOT ")?;
            render(inner, f)
        }
        Node::Raw(_) => f.write_str("<wire expression>"),
        Node::Invalid(reason) => write!(f, "<invalid: {reason}>"),
    }
}

/// Whether `name` is a valid field name: `^[a-z][a-z0-9_]*$`, at most 100 characters.
fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 100
}

fn invalid(message: impl fmt::Display) -> Error {
    Error::invalid_input(format!("invalid filter: {message}"))
}

fn check_field(name: &str) -> Result<()> {
    if valid_field_name(name) {
        Ok(())
    } else {
        Err(invalid(format_args!(
            "field name {name:?} must match ^[a-z][a-z0-9_]*$ (at most 100 characters)"
        )))
    }
}

fn encode(node: &Node, depth: usize, nodes: &mut usize) -> Result<pb::FilterExpression> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(invalid(format_args!(
            "more than {MAX_NODES} expression nodes"
        )));
    }
    if depth > MAX_DEPTH {
        return Err(invalid(format_args!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let logical = |op: pb::LogicalOperator, operands: &[Node], nodes: &mut usize| {
        if operands.len() > MAX_OPERANDS {
            return Err(invalid(format_args!(
                "{} operands in one {}, at most {MAX_OPERANDS} are allowed",
                operands.len(),
                op.as_str_name()
            )));
        }
        let operands = operands
            .iter()
            .map(|o| encode(o, depth + 1, nodes))
            .collect::<Result<Vec<_>>>()?;
        Ok(pb::FilterExpression {
            logical: Some(pb::LogicalExpression {
                operator: op as i32,
                operands,
            }),
            ..Default::default()
        })
    };
    match node {
        Node::Compare { field, op, value } => {
            check_field(field)?;
            let mut v = pb::FieldQueryValue::default();
            match value {
                Literal::Bool(b) => {
                    if !matches!(op, Comparison::Equal | Comparison::NotEqual) {
                        return Err(invalid(format_args!(
                            "field {field}: booleans support only = and !="
                        )));
                    }
                    v.bool_value = Some(*b);
                }
                Literal::Int64(i) => v.int64_value = Some(*i),
                Literal::Uint64(u) => v.uint64_value = Some(*u),
                Literal::Double(d) => {
                    if !d.is_finite() {
                        return Err(invalid(format_args!(
                            "field {field}: float values must be finite, got {d}"
                        )));
                    }
                    v.double_value = Some(*d);
                }
                Literal::String(s) => v.string_value = Some(s.clone()),
                Literal::Bytes(b) => v.bytes_value = Some(b.clone()),
                Literal::Timestamp { seconds, nanos } => {
                    v.timestamp_value = Some(prost_types::Timestamp {
                        seconds: *seconds,
                        nanos: *nanos,
                    });
                }
                Literal::Duration { seconds, nanos } => {
                    v.duration_value = Some(prost_types::Duration {
                        seconds: *seconds,
                        nanos: *nanos,
                    });
                }
                Literal::EnumName(n) => {
                    if n.is_empty() {
                        return Err(invalid(format_args!(
                            "field {field}: empty enum value name"
                        )));
                    }
                    v.enum_name = Some(n.clone());
                }
                Literal::Invalid(reason) => {
                    return Err(invalid(format_args!("field {field}: {reason}")));
                }
            }
            Ok(pb::FilterExpression {
                comparison: Some(pb::FieldComparison {
                    field_name: field.clone(),
                    operator: op.to_wire() as i32,
                    value: Some(v),
                }),
                ..Default::default()
            })
        }
        Node::IsNull(field) => {
            check_field(field)?;
            Ok(pb::FilterExpression {
                is_null: Some(pb::FieldNullCheck {
                    field_name: field.clone(),
                }),
                ..Default::default()
            })
        }
        Node::And(operands) => logical(pb::LogicalOperator::And, operands, nodes),
        Node::Or(operands) => logical(pb::LogicalOperator::Or, operands, nodes),
        Node::Not(inner) => logical(
            pb::LogicalOperator::Not,
            std::slice::from_ref(inner.as_ref()),
            nodes,
        ),
        Node::Raw(expression) => Ok(expression.as_ref().clone()),
        Node::Invalid(reason) => Err(invalid(reason)),
    }
}

/// Checks the top-level expressions of one query against the API's limits and encodes them.
pub(crate) fn encode_all(filters: &[Filter]) -> Result<Vec<pb::FilterExpression>> {
    if filters.len() > MAX_OPERANDS {
        return Err(invalid(format_args!(
            "{} top-level expressions, at most {MAX_OPERANDS} are allowed",
            filters.len()
        )));
    }
    let mut nodes = 0usize;
    filters
        .iter()
        .map(|f| encode(&f.0, 1, &mut nodes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(e: &pb::FilterExpression) -> &pb::FieldComparison {
        e.comparison.as_ref().expect("a comparison")
    }

    #[test]
    fn comparisons_encode_every_literal_kind() {
        let at = chrono::DateTime::parse_from_rfc3339("2020-06-01T12:00:00.5+02:00").expect("time");
        let cases: Vec<(Filter, pb::FieldQueryValue)> = vec![
            (
                field("b").eq(true),
                pb::FieldQueryValue {
                    bool_value: Some(true),
                    ..Default::default()
                },
            ),
            (
                field("i").lt(-3i32),
                pb::FieldQueryValue {
                    int64_value: Some(-3),
                    ..Default::default()
                },
            ),
            (
                field("u").ge(u64::MAX),
                pb::FieldQueryValue {
                    uint64_value: Some(u64::MAX),
                    ..Default::default()
                },
            ),
            (
                field("d").gt(0.0),
                pb::FieldQueryValue {
                    double_value: Some(0.0),
                    ..Default::default()
                },
            ),
            (
                field("s").ne(""),
                pb::FieldQueryValue {
                    string_value: Some(String::new()),
                    ..Default::default()
                },
            ),
            (
                field("y").le(b"\x00\x01"),
                pb::FieldQueryValue {
                    bytes_value: Some(Bytes::from_static(b"\x00\x01")),
                    ..Default::default()
                },
            ),
            (
                field("t").ge(at),
                pb::FieldQueryValue {
                    timestamp_value: Some(prost_types::Timestamp {
                        seconds: 1_591_005_600,
                        nanos: 500_000_000,
                    }),
                    ..Default::default()
                },
            ),
            (
                field("w").lt(Duration::from_millis(1500)),
                pb::FieldQueryValue {
                    duration_value: Some(prost_types::Duration {
                        seconds: 1,
                        nanos: 500_000_000,
                    }),
                    ..Default::default()
                },
            ),
            (
                field("w").gt(chrono::TimeDelta::milliseconds(-1500)),
                pb::FieldQueryValue {
                    duration_value: Some(prost_types::Duration {
                        seconds: -1,
                        nanos: -500_000_000,
                    }),
                    ..Default::default()
                },
            ),
            (
                field("e").eq(enum_name("FLIGHT_DIRECTION_ASCENDING")),
                pb::FieldQueryValue {
                    enum_name: Some("FLIGHT_DIRECTION_ASCENDING".into()),
                    ..Default::default()
                },
            ),
            (
                field("i").eq(i128::from(u64::MAX)),
                pb::FieldQueryValue {
                    uint64_value: Some(u64::MAX),
                    ..Default::default()
                },
            ),
        ];
        for (filter, value) in cases {
            let wire = filter.to_wire().expect("valid");
            assert_eq!(cmp(&wire).value.as_ref(), Some(&value), "{filter}");
        }
        let before_epoch = UNIX_EPOCH - Duration::from_millis(1);
        let wire = field("t").lt(before_epoch).to_wire().expect("valid");
        assert_eq!(
            cmp(&wire).value.as_ref().and_then(|v| v.timestamp_value),
            Some(prost_types::Timestamp {
                seconds: -1,
                nanos: 999_000_000
            })
        );
    }

    #[test]
    fn operators_map_to_the_wire_enum() {
        let ops = [
            (field("x").eq(1), pb::FieldComparisonOperator::Equal),
            (field("x").ne(1), pb::FieldComparisonOperator::NotEqual),
            (field("x").lt(1), pb::FieldComparisonOperator::LessThan),
            (
                field("x").le(1),
                pb::FieldComparisonOperator::LessThanOrEqual,
            ),
            (field("x").gt(1), pb::FieldComparisonOperator::GreaterThan),
            (
                field("x").ge(1),
                pb::FieldComparisonOperator::GreaterThanOrEqual,
            ),
        ];
        for (filter, op) in ops {
            let wire = filter.to_wire().expect("valid");
            assert_eq!(cmp(&wire).operator, op as i32);
            assert_eq!(cmp(&wire).field_name, "x");
        }
    }

    #[test]
    fn logic_flattens_and_negates() {
        let f = field("a").eq(1) & field("b").eq(2) & field("c").eq(3);
        let wire = f.to_wire().expect("valid");
        let logical = wire.logical.expect("logical");
        assert_eq!(logical.operator, pb::LogicalOperator::And as i32);
        assert_eq!(logical.operands.len(), 3);

        let f = (field("a").eq(1) | field("b").eq(2)) & field("c").is_not_null();
        let wire = f.to_wire().expect("valid");
        let and = wire.logical.expect("and");
        assert_eq!(and.operands.len(), 2);
        assert_eq!(
            and.operands[0].logical.as_ref().map(|l| l.operator),
            Some(pb::LogicalOperator::Or as i32)
        );
        let not = and.operands[1].logical.as_ref().expect("not");
        assert_eq!(not.operator, pb::LogicalOperator::Not as i32);
        assert_eq!(
            not.operands[0]
                .is_null
                .as_ref()
                .map(|n| n.field_name.as_str()),
            Some("c")
        );
        assert_eq!(
            Filter::all([field("a").eq(1)]).to_wire().expect("valid"),
            field("a").eq(1).to_wire().expect("valid")
        );
    }

    #[test]
    fn invalid_filters_are_rejected_with_a_reason() {
        let bad: Vec<(Filter, &str)> = vec![
            (field("x").lt(f64::NAN), "finite"),
            (field("x").eq(f64::INFINITY), "finite"),
            (field("x").gt(true), "booleans"),
            (field("x").eq(i128::MIN), "does not fit"),
            (field("x").eq(u128::MAX), "does not fit"),
            (
                field("x").eq(Duration::from_secs(DURATION_MAX_SECONDS as u64 + 1)),
                "duration",
            ),
            (field("Bad").eq(1), "field name"),
            (field("").is_null(), "field name"),
            (field("x").eq(enum_name("")), "enum"),
            (Filter::any([]), "at least one"),
        ];
        for (filter, needle) in bad {
            let err = filter.validate().expect_err("invalid");
            assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn limits_on_depth_nodes_and_operands() {
        let mut deep = field("x").eq(1);
        for _ in 1..MAX_DEPTH {
            deep = !deep;
        }
        assert!(deep.validate().is_ok());
        assert!((!deep).validate().is_err());

        let wide = Filter::any((0..MAX_OPERANDS as i64).map(|i| field("x").eq(i)));
        assert!(wide.validate().is_ok());
        let wider = Filter::any((0..=MAX_OPERANDS as i64).map(|i| field("x").eq(i)));
        assert!(wider.validate().is_err());

        // 5 ORs of 60 comparisons under one AND: 1 + 5 + 300 nodes.
        let many = Filter::all((0..5).map(|_| Filter::any((0..60).map(|i| field("x").eq(i)))));
        let err = many.validate().expect_err("too many nodes");
        assert!(err.to_string().contains("256"), "{err}");

        let top: Vec<Filter> = (0..=MAX_OPERANDS as i64)
            .map(|i| field("x").eq(i))
            .collect();
        assert!(encode_all(&top).is_err());
        assert_eq!(
            encode_all(&top[..MAX_OPERANDS]).expect("ok").len(),
            MAX_OPERANDS
        );
    }

    #[test]
    fn display_reads_like_cql2() {
        let f = field("cloud_cover").lt(10) & !field("platform").eq("L'8");
        assert_eq!(
            f.to_string(),
            "(cloud_cover < 10 AND NOT platform = 'L''8')"
        );
    }
}
