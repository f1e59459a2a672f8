//! The Arrow decoder: datapoints' wire bytes straight into Arrow buffers, following a compiled
//! [`MessagePlan`].
//!
//! Each datapoint is walked once: a field tag is read, its column found by number in the plan's dense table,
//! and the value appended to that column's buffer (varints decoded inline, strings copied, nested messages
//! walked recursively). No message object and no per-datapoint allocation is made: fixed-width buffers are
//! sized from the number of datapoints up front, variable-length ones from the values seen so far. A datapoint
//! costs only the fields it carries: a column catches up with the rows it was absent from (null, default,
//! empty list) when it is next met or finished, and builds a validity bitmap only at its first null. Strings
//! are validated as UTF-8 once per column; when that fails, a second, strict pass names the datapoint. Field semantics follow protobuf parsing: unknown fields
//! are skipped, a repeated singular scalar keeps its last value, a repeated singular message is merged,
//! repeated scalars are accepted packed and unpacked.
//!
//! Any malformed input (truncated varints or lengths, wrong wire types for a known field, invalid UTF-8,
//! out-of-range times, ids that are not 16 bytes) ends decoding with
//! [`Error::MalformedDatapoint`] naming the datapoint's index and the field's dotted path; nothing panics and
//! no partial batch is returned.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, DictionaryArray, DurationNanosecondArray,
    FixedSizeBinaryArray, Float32Array, Float64Array, Int32Array, Int64Array, ListArray, MapArray,
    RecordBatch, RecordBatchOptions, StringArray, StructArray, TimestampNanosecondArray,
    UInt32Array, UInt64Array,
};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef, Fields};

use super::schema::{EnumPlan, FieldPlan, MessagePlan, Repr, ValueKind};
use crate::error::{Error, Result};

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const SGROUP: u8 = 3;
const EGROUP: u8 = 4;
const I32: u8 = 5;

/// Deepest group nesting skipped in unknown fields.
const MAX_GROUP_DEPTH: usize = 64;

/// Decodes `values` (serialized datapoints) into one record batch with `plan`'s schema.
pub(crate) fn decode_batch<B: AsRef<[u8]>>(
    plan: &MessagePlan,
    values: &[B],
) -> Result<RecordBatch> {
    let arrays = match decode_columns(plan, values, false) {
        Ok(arrays) => arrays,
        // Strings are validated once per column when the arrays are built. If that fails, decode again
        // validating each value, to name the datapoint and field holding the invalid string.
        Err(fail) if fail.0.invalid_utf8 => {
            decode_columns(plan, values, true).map_err(|strict| strict.into_error(0))?;
            return Err(fail.into_error(0));
        }
        Err(fail) => return Err(fail.into_error(0)),
    };
    let rows = values.len();
    RecordBatch::try_new_with_options(
        plan.schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| Error::decode(format!("cannot assemble the record batch: {e}")))
}

/// Walks every datapoint into columns and builds their arrays. `strict`: validate each string as it is read
/// (else once per column, when its array is built).
fn decode_columns<B: AsRef<[u8]>>(
    plan: &MessagePlan,
    values: &[B],
    strict: bool,
) -> Res<Vec<ArrayRef>> {
    let rows = values.len();
    let mut columns: Vec<Column<'_>> = plan
        .fields
        .iter()
        .map(|f| Column::new(f, rows, strict))
        .collect();
    for (index, value) in values.iter().enumerate() {
        decode_message(plan, &mut columns, value.as_ref(), index).map_err(|f| f.at(index))?;
    }
    columns.into_iter().map(|c| c.finish(rows)).collect()
}

/// Why decoding failed (boxed, so that the decoder's results stay one word wide).
#[derive(Debug)]
struct Fail(Box<FailDetail>);

/// The message, the field path (innermost last) it failed in, and the datapoint.
#[derive(Debug)]
struct FailDetail {
    path: Vec<String>,
    message: Cow<'static, str>,
    /// The datapoint's index, once known.
    index: Option<usize>,
    /// A string column failed UTF-8 validation while its array was built.
    invalid_utf8: bool,
}

impl Fail {
    #[cold]
    fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Fail(Box::new(FailDetail {
            path: Vec::new(),
            message: message.into(),
            index: None,
            invalid_utf8: false,
        }))
    }

    /// Records the datapoint's index.
    fn at(mut self, index: usize) -> Self {
        self.0.index = Some(index);
        self
    }

    /// Marks a string column's failed UTF-8 validation.
    fn invalid_utf8(mut self) -> Self {
        self.0.invalid_utf8 = true;
        self
    }

    /// Adds the enclosing field's name (called while unwinding, outermost last).
    #[cold]
    fn within(mut self, name: &str) -> Self {
        self.0.path.push(name.to_owned());
        self
    }

    /// The error; `index` is the datapoint's index when the failure did not record one.
    fn into_error(self, index: usize) -> Error {
        let detail = *self.0;
        let index = detail.index.unwrap_or(index);
        let field = if detail.path.is_empty() {
            "?".to_owned()
        } else {
            detail
                .path
                .iter()
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join(".")
        };
        Error::MalformedDatapoint {
            index,
            field,
            message: detail.message.into_owned(),
        }
    }
}

type Res<T> = std::result::Result<T, Fail>;

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    #[inline]
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    fn varint(&mut self) -> Res<u64> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            Some(_) => self.varint_slow(),
            None => Err(Fail::new("truncated varint")),
        }
    }

    /// A varint of two or more bytes.
    fn varint_slow(&mut self) -> Res<u64> {
        let mut value = 0u64;
        let mut shift = 0u32;
        let mut pos = self.pos;
        while let Some(&b) = self.buf.get(pos) {
            pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                if shift == 63 && b > 1 {
                    return Err(Fail::new("varint longer than 64 bits"));
                }
                self.pos = pos;
                return Ok(value);
            }
            shift += 7;
            if shift > 63 {
                return Err(Fail::new("varint longer than 10 bytes"));
            }
        }
        Err(Fail::new("truncated varint"))
    }

    #[inline]
    fn fixed<const N: usize>(&mut self) -> Res<[u8; N]> {
        let end = self.pos + N;
        match self.buf.get(self.pos..end) {
            Some(slice) => {
                self.pos = end;
                let mut out = [0u8; N];
                out.copy_from_slice(slice);
                Ok(out)
            }
            None => Err(Fail::new("truncated fixed-width value")),
        }
    }

    #[inline]
    fn bytes(&mut self) -> Res<&'a [u8]> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| Fail::new("length out of range"))?;
        let end = self
            .pos
            .checked_add(len)
            .ok_or_else(|| Fail::new("length out of range"))?;
        match self.buf.get(self.pos..end) {
            Some(slice) => {
                self.pos = end;
                Ok(slice)
            }
            None => Err(Fail::new(format!(
                "length {len} runs past the end of the message"
            ))),
        }
    }

    /// Skips one value of wire type `wire_type` (field `number`, for groups).
    fn skip(&mut self, wire_type: u8, number: u64, depth: usize) -> Res<()> {
        match wire_type {
            VARINT => self.varint().map(drop),
            I64 => self.fixed::<8>().map(drop),
            I32 => self.fixed::<4>().map(drop),
            LEN => self.bytes().map(drop),
            SGROUP => {
                if depth >= MAX_GROUP_DEPTH {
                    return Err(Fail::new("groups nested too deeply"));
                }
                loop {
                    if self.at_end() {
                        return Err(Fail::new("unterminated group"));
                    }
                    let key = self.varint()?;
                    let (n, wt) = (key >> 3, (key & 7) as u8);
                    if wt == EGROUP {
                        return if n == number {
                            Ok(())
                        } else {
                            Err(Fail::new("mismatched end of group"))
                        };
                    }
                    self.skip(wt, n, depth + 1)?;
                }
            }
            EGROUP => Err(Fail::new("unexpected end of group")),
            other => Err(Fail::new(format!("invalid wire type {other}"))),
        }
    }
}

#[inline]
fn expect(wire_type: u8, expected: u8) -> Res<()> {
    if wire_type == expected {
        Ok(())
    } else {
        Err(Fail::new(format!(
            "wire type {wire_type}, expected {expected}"
        )))
    }
}

/// Walks one message's fields into row `row` of `columns` (the columns of `plan`).
#[inline]
fn decode_message(
    plan: &MessagePlan,
    columns: &mut [Column<'_>],
    buf: &[u8],
    row: usize,
) -> Res<()> {
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let key = r.varint()?;
        let number = key >> 3;
        let wire_type = (key & 7) as u8;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(Fail::new(format!("invalid field number {number}")));
        }
        match plan.column_of(number as u32) {
            Some(i) => {
                let column = &mut columns[i];
                column
                    .read(wire_type, &mut r, row)
                    .map_err(|f| f.within(&column.plan.name))?;
            }
            None => r.skip(wire_type, number, 0)?,
        }
    }
    Ok(())
}

/// One column being built: its shape (single, list, map) and its value storage.
///
/// Rows are filled lazily: a column catches up with the rows it did not appear in (nulls, defaults, empty
/// lists) when it is next read and when it is finished, so a datapoint costs only the fields it carries.
struct Column<'p> {
    plan: &'p FieldPlan,
    shape: Shape<'p>,
    values: Values<'p>,
}

enum Shape<'p> {
    /// One value per row; `rows`: rows held (the last one is the current row once the field was met in
    /// it). A field with `presence` gets its `validity` bitmap at its first unset row (a column without
    /// nulls never builds one).
    Single {
        rows: usize,
        presence: bool,
        validity: Option<BooleanBufferBuilder>,
    },
    /// A list per row: `offsets` into the values (a row is open until its end offset is pushed).
    List { offsets: Vec<i32> },
    /// A map per row: `offsets` into the entries (`entries` so far), whose keys and values are two
    /// columns with one row per entry.
    Map {
        offsets: Vec<i32>,
        entries: usize,
        key: Box<Column<'p>>,
        value: Box<Column<'p>>,
    },
}

/// Variable-length values: offsets and bytes.
struct VarBytes {
    offsets: Vec<i32>,
    data: Vec<u8>,
    /// The number of values expected (sizes the data buffer from the values seen so far).
    expected: usize,
    /// Validate each value as UTF-8 as it is pushed (strict decoding of string columns).
    validate: bool,
}

impl VarBytes {
    fn new(capacity: usize, validate: bool) -> Self {
        let mut offsets = Vec::with_capacity(capacity + 1);
        offsets.push(0);
        VarBytes {
            offsets,
            data: Vec::new(),
            expected: capacity,
            validate,
        }
    }

    /// Makes room for `additional` more bytes, growing once to what the remaining values will likely
    /// need (their mean size so far) rather than doubling repeatedly.
    #[inline]
    fn reserve(&mut self, additional: usize) {
        if self.data.capacity() - self.data.len() < additional {
            self.grow(additional);
        }
    }

    #[cold]
    fn grow(&mut self, additional: usize) {
        let held = self.offsets.len() - 1;
        let mean = self.data.len().checked_div(held).unwrap_or(additional);
        let remaining = self.expected.saturating_sub(held).max(1);
        let estimate = mean.max(1).saturating_mul(remaining).min(1 << 30);
        self.data.reserve(additional.max(estimate + estimate / 8));
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) -> Res<()> {
        self.reserve(bytes.len());
        self.data.extend_from_slice(bytes);
        let end = i32::try_from(self.data.len())
            .map_err(|_| Fail::new("more than 2 GiB of data in one column"))?;
        self.offsets.push(end);
        Ok(())
    }

    /// Ends a value whose bytes were appended to `data` directly.
    fn close(&mut self) -> Res<()> {
        self.push(&[])
    }

    fn pop(&mut self) {
        if self.offsets.len() > 1 {
            self.offsets.pop();
            let end = self.offsets.last().copied().unwrap_or(0);
            self.data.truncate(usize::try_from(end).unwrap_or(0));
        }
    }

    fn offsets(mut self) -> (OffsetBuffer<i32>, Buffer) {
        // The buffer was sized from an estimate: give back a sizeable unused tail.
        if self.data.capacity() - self.data.len() > self.data.len() / 16 {
            self.data.shrink_to_fit();
        }
        (
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            Buffer::from_vec(self.data),
        )
    }
}

/// An enum column: dictionary keys, plus the undeclared numbers met (appended to the dictionary).
struct EnumValues<'p> {
    plan: &'p EnumPlan,
    keys: Vec<i32>,
    /// Undeclared numbers met, in order (dictionary entries after the declared names).
    unknown: Vec<i32>,
}

impl<'p> EnumValues<'p> {
    fn new(plan: &'p EnumPlan, capacity: usize) -> Self {
        EnumValues {
            plan,
            keys: Vec::with_capacity(capacity),
            unknown: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, number: i32) {
        let index = match self.plan.index_of(number) {
            Some(index) => index,
            None => self.unknown_index(number),
        };
        self.keys.push(index);
    }

    #[cold]
    fn unknown_index(&mut self, number: i32) -> i32 {
        let pos = match self.unknown.iter().position(|&u| u == number) {
            Some(pos) => pos,
            None => {
                self.unknown.push(number);
                self.unknown.len() - 1
            }
        };
        i32::try_from(self.plan.declared() + pos).unwrap_or(i32::MAX)
    }

    /// The default value: the first declared value (number 0 in proto3).
    fn push_default(&mut self) {
        if self.plan.declared() > 0 {
            self.keys.push(0);
        } else {
            self.push(0);
        }
    }

    /// The dictionary: the plan's shared names, extended only when undeclared numbers were met.
    fn dictionary(&self) -> ArrayRef {
        if self.unknown.is_empty() {
            return self.plan.names.clone();
        }
        let names = self
            .plan
            .descriptor
            .values()
            .map(|v| v.name().to_owned())
            .chain(self.unknown.iter().map(|n| n.to_string()));
        Arc::new(StringArray::from_iter_values(names))
    }
}

/// A nested message's columns.
struct StructValues<'p> {
    plan: &'p MessagePlan,
    columns: Vec<Column<'p>>,
    len: usize,
}

impl StructValues<'_> {
    /// Reads a message into the last element (see [`StructValues::open`]); meeting it again merges.
    fn read(&mut self, buf: &[u8]) -> Res<()> {
        decode_message(
            self.plan,
            &mut self.columns,
            buf,
            self.len.saturating_sub(1),
        )
    }

    /// Starts a new element (its unset children get null or their default when finished).
    fn open(&mut self) {
        self.len += 1;
    }
}

/// The value storage of a column, one variant per value kind.
enum Values<'p> {
    Bool(BooleanBufferBuilder),
    Int32(Vec<i32>),
    Sint32(Vec<i32>),
    Sfixed32(Vec<i32>),
    Int64(Vec<i64>),
    Sint64(Vec<i64>),
    Sfixed64(Vec<i64>),
    Uint32(Vec<u32>),
    Fixed32(Vec<u32>),
    Uint64(Vec<u64>),
    Fixed64(Vec<u64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    String(VarBytes),
    Bytes(VarBytes),
    Geometry(VarBytes),
    Opaque(VarBytes),
    Timestamp(Vec<i64>),
    Duration(Vec<i64>),
    Uuid(Vec<u8>),
    Enum(EnumValues<'p>),
    Struct(StructValues<'p>),
    /// Maps keep their storage in [`Shape::Map`].
    None,
}

impl<'p> Values<'p> {
    fn new(kind: &'p ValueKind, capacity: usize, strict: bool) -> Self {
        match kind {
            ValueKind::Bool => Values::Bool(BooleanBufferBuilder::new(capacity)),
            ValueKind::Int32 => Values::Int32(Vec::with_capacity(capacity)),
            ValueKind::Sint32 => Values::Sint32(Vec::with_capacity(capacity)),
            ValueKind::Sfixed32 => Values::Sfixed32(Vec::with_capacity(capacity)),
            ValueKind::Int64 => Values::Int64(Vec::with_capacity(capacity)),
            ValueKind::Sint64 => Values::Sint64(Vec::with_capacity(capacity)),
            ValueKind::Sfixed64 => Values::Sfixed64(Vec::with_capacity(capacity)),
            ValueKind::Uint32 => Values::Uint32(Vec::with_capacity(capacity)),
            ValueKind::Fixed32 => Values::Fixed32(Vec::with_capacity(capacity)),
            ValueKind::Uint64 => Values::Uint64(Vec::with_capacity(capacity)),
            ValueKind::Fixed64 => Values::Fixed64(Vec::with_capacity(capacity)),
            ValueKind::Float => Values::Float(Vec::with_capacity(capacity)),
            ValueKind::Double => Values::Double(Vec::with_capacity(capacity)),
            ValueKind::String => Values::String(VarBytes::new(capacity, strict)),
            ValueKind::Bytes => Values::Bytes(VarBytes::new(capacity, false)),
            ValueKind::Geometry => Values::Geometry(VarBytes::new(capacity, false)),
            ValueKind::Opaque => Values::Opaque(VarBytes::new(capacity, false)),
            ValueKind::Timestamp => Values::Timestamp(Vec::with_capacity(capacity)),
            ValueKind::Duration => Values::Duration(Vec::with_capacity(capacity)),
            ValueKind::Uuid => Values::Uuid(Vec::with_capacity(capacity * 16)),
            ValueKind::Enum(e) => Values::Enum(EnumValues::new(e, capacity)),
            ValueKind::Message(plan) => Values::Struct(StructValues {
                plan,
                columns: plan
                    .fields
                    .iter()
                    .map(|f| Column::new(f, capacity, strict))
                    .collect(),
                len: 0,
            }),
        }
    }

    /// Whether a repeated field of this kind may arrive packed (one length-delimited run of values).
    fn packable(&self) -> bool {
        !matches!(
            self,
            Values::String(_)
                | Values::Bytes(_)
                | Values::Geometry(_)
                | Values::Opaque(_)
                | Values::Timestamp(_)
                | Values::Duration(_)
                | Values::Uuid(_)
                | Values::Struct(_)
                | Values::None
        )
    }

    /// Reads one value of wire type `wire_type` and appends it; a message is read into the last struct
    /// element (see [`StructValues::open`]).
    #[inline]
    fn read(&mut self, wire_type: u8, r: &mut Reader<'_>) -> Res<()> {
        match self {
            Values::Bool(v) => {
                expect(wire_type, VARINT)?;
                v.append(r.varint()? != 0);
            }
            Values::Int32(v) => {
                expect(wire_type, VARINT)?;
                v.push(r.varint()? as i32);
            }
            Values::Sint32(v) => {
                expect(wire_type, VARINT)?;
                let n = r.varint()? as u32;
                v.push((n >> 1) as i32 ^ -((n & 1) as i32));
            }
            Values::Sfixed32(v) => {
                expect(wire_type, I32)?;
                v.push(i32::from_le_bytes(r.fixed()?));
            }
            Values::Int64(v) => {
                expect(wire_type, VARINT)?;
                v.push(r.varint()? as i64);
            }
            Values::Sint64(v) => {
                expect(wire_type, VARINT)?;
                let n = r.varint()?;
                v.push((n >> 1) as i64 ^ -((n & 1) as i64));
            }
            Values::Sfixed64(v) => {
                expect(wire_type, I64)?;
                v.push(i64::from_le_bytes(r.fixed()?));
            }
            Values::Uint32(v) => {
                expect(wire_type, VARINT)?;
                v.push(r.varint()? as u32);
            }
            Values::Fixed32(v) => {
                expect(wire_type, I32)?;
                v.push(u32::from_le_bytes(r.fixed()?));
            }
            Values::Uint64(v) => {
                expect(wire_type, VARINT)?;
                v.push(r.varint()?);
            }
            Values::Fixed64(v) => {
                expect(wire_type, I64)?;
                v.push(u64::from_le_bytes(r.fixed()?));
            }
            Values::Float(v) => {
                expect(wire_type, I32)?;
                v.push(f32::from_le_bytes(r.fixed()?));
            }
            Values::Double(v) => {
                expect(wire_type, I64)?;
                v.push(f64::from_le_bytes(r.fixed()?));
            }
            Values::String(v) => {
                expect(wire_type, LEN)?;
                let bytes = r.bytes()?;
                if v.validate && std::str::from_utf8(bytes).is_err() {
                    return Err(Fail::new("invalid UTF-8 in a string"));
                }
                v.push(bytes)?;
            }
            Values::Bytes(v) | Values::Opaque(v) => {
                expect(wire_type, LEN)?;
                v.push(r.bytes()?)?;
            }
            Values::Geometry(v) => {
                expect(wire_type, LEN)?;
                let wkb = single_bytes_field(r.bytes()?)?;
                if is_extended_wkb(wkb) {
                    // GeoArrow WKB is ISO WKB: rewrite EWKB headers (Z/M/SRID flags) as ISO codes.
                    let start = v.data.len();
                    v.reserve(wkb.len());
                    if let Err(fail) = ewkb_to_iso(&mut Reader::new(wkb), &mut v.data, 0) {
                        v.data.truncate(start);
                        return Err(fail);
                    }
                    v.close()?;
                } else {
                    v.push(wkb)?;
                }
            }
            Values::Uuid(v) => {
                expect(wire_type, LEN)?;
                let id = single_bytes_field(r.bytes()?)?;
                match id.len() {
                    16 => v.extend_from_slice(id),
                    0 => v.extend_from_slice(&[0; 16]),
                    n => return Err(Fail::new(format!("an id must be 16 bytes, got {n}"))),
                }
            }
            Values::Timestamp(v) | Values::Duration(v) => {
                expect(wire_type, LEN)?;
                v.push(seconds_nanos(r.bytes()?)?);
            }
            Values::Enum(e) => {
                expect(wire_type, VARINT)?;
                e.push(r.varint()? as i32);
            }
            Values::Struct(s) => {
                expect(wire_type, LEN)?;
                s.read(r.bytes()?)?;
            }
            Values::None => {}
        }
        Ok(())
    }

    /// Appends a placeholder (null slot) or the default value.
    fn push_default(&mut self) -> Res<()> {
        match self {
            Values::Bool(v) => v.append(false),
            Values::Int32(v) | Values::Sint32(v) | Values::Sfixed32(v) => v.push(0),
            Values::Int64(v) | Values::Sint64(v) | Values::Sfixed64(v) => v.push(0),
            Values::Timestamp(v) | Values::Duration(v) => v.push(0),
            Values::Uint32(v) | Values::Fixed32(v) => v.push(0),
            Values::Uint64(v) | Values::Fixed64(v) => v.push(0),
            Values::Float(v) => v.push(0.0),
            Values::Double(v) => v.push(0.0),
            Values::String(v) | Values::Bytes(v) | Values::Geometry(v) | Values::Opaque(v) => {
                v.push(&[])?;
            }
            Values::Uuid(v) => v.extend_from_slice(&[0; 16]),
            Values::Enum(e) => e.push_default(),
            Values::Struct(s) => s.open(),
            Values::None => {}
        }
        Ok(())
    }

    /// Drops the last value (a singular field met again: the last one wins).
    fn pop(&mut self) {
        match self {
            Values::Bool(v) => v.truncate(v.len().saturating_sub(1)),
            Values::Int32(v) | Values::Sint32(v) | Values::Sfixed32(v) => drop(v.pop()),
            Values::Int64(v) | Values::Sint64(v) | Values::Sfixed64(v) => drop(v.pop()),
            Values::Timestamp(v) | Values::Duration(v) => drop(v.pop()),
            Values::Uint32(v) | Values::Fixed32(v) => drop(v.pop()),
            Values::Uint64(v) | Values::Fixed64(v) => drop(v.pop()),
            Values::Float(v) => drop(v.pop()),
            Values::Double(v) => drop(v.pop()),
            Values::String(v) | Values::Bytes(v) | Values::Geometry(v) | Values::Opaque(v) => {
                v.pop();
            }
            Values::Uuid(v) => v.truncate(v.len().saturating_sub(16)),
            Values::Enum(e) => drop(e.keys.pop()),
            // Messages merge: never popped.
            Values::Struct(_) | Values::None => {}
        }
    }

    /// Number of values held.
    fn len(&self) -> usize {
        match self {
            Values::Bool(v) => v.len(),
            Values::Int32(v) | Values::Sint32(v) | Values::Sfixed32(v) => v.len(),
            Values::Int64(v) | Values::Sint64(v) | Values::Sfixed64(v) => v.len(),
            Values::Timestamp(v) | Values::Duration(v) => v.len(),
            Values::Uint32(v) | Values::Fixed32(v) => v.len(),
            Values::Uint64(v) | Values::Fixed64(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Double(v) => v.len(),
            Values::String(v) | Values::Bytes(v) | Values::Geometry(v) | Values::Opaque(v) => {
                v.offsets.len() - 1
            }
            Values::Uuid(v) => v.len() / 16,
            Values::Enum(e) => e.keys.len(),
            Values::Struct(s) => s.len,
            Values::None => 0,
        }
    }

    /// The finished array of the values, with `nulls`; `data_type` is the plan's type for one value.
    fn finish(self, data_type: &DataType, nulls: Option<NullBuffer>) -> Res<ArrayRef> {
        let array: ArrayRef = match self {
            Values::Bool(mut v) => Arc::new(BooleanArray::new(v.finish(), nulls)),
            Values::Int32(v) | Values::Sint32(v) | Values::Sfixed32(v) => {
                Arc::new(Int32Array::new(ScalarBuffer::from(v), nulls))
            }
            Values::Int64(v) | Values::Sint64(v) | Values::Sfixed64(v) => {
                Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls))
            }
            Values::Uint32(v) | Values::Fixed32(v) => {
                Arc::new(UInt32Array::new(ScalarBuffer::from(v), nulls))
            }
            Values::Uint64(v) | Values::Fixed64(v) => {
                Arc::new(UInt64Array::new(ScalarBuffer::from(v), nulls))
            }
            Values::Float(v) => Arc::new(Float32Array::new(ScalarBuffer::from(v), nulls)),
            Values::Double(v) => Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls)),
            Values::Timestamp(v) => Arc::new(
                TimestampNanosecondArray::new(ScalarBuffer::from(v), nulls).with_timezone("UTC"),
            ),
            Values::Duration(v) => {
                Arc::new(DurationNanosecondArray::new(ScalarBuffer::from(v), nulls))
            }
            Values::String(v) => {
                let (offsets, data) = v.offsets();
                let array = StringArray::try_new(offsets, data, nulls)
                    .map_err(|e| arrow_fail(e).invalid_utf8())?;
                Arc::new(array)
            }
            Values::Bytes(v) | Values::Geometry(v) | Values::Opaque(v) => {
                let (offsets, data) = v.offsets();
                Arc::new(BinaryArray::try_new(offsets, data, nulls).map_err(arrow_fail)?)
            }
            Values::Uuid(v) => Arc::new(
                FixedSizeBinaryArray::try_new(16, Buffer::from_vec(v), nulls)
                    .map_err(arrow_fail)?,
            ),
            Values::Enum(mut e) => {
                let keys = Int32Array::new(ScalarBuffer::from(std::mem::take(&mut e.keys)), nulls);
                let dictionary = e.dictionary();
                Arc::new(
                    DictionaryArray::<Int32Type>::try_new(keys, dictionary).map_err(arrow_fail)?,
                )
            }
            Values::Struct(s) => {
                let DataType::Struct(fields) = data_type else {
                    return Err(Fail::new("plan and Arrow type disagree (struct)"));
                };
                finish_struct(fields, s, nulls)?
            }
            Values::None => return Err(Fail::new("plan and Arrow type disagree (map)")),
        };
        Ok(array)
    }
}

fn arrow_fail(e: arrow_schema::ArrowError) -> Fail {
    Fail::new(format!("cannot build the Arrow array: {e}"))
}

fn finish_struct(fields: &Fields, s: StructValues<'_>, nulls: Option<NullBuffer>) -> Res<ArrayRef> {
    let len = s.len;
    let children = s
        .columns
        .into_iter()
        .map(|c| c.finish(len))
        .collect::<Res<Vec<_>>>()?;
    let array = if fields.is_empty() {
        StructArray::new_empty_fields(len, nulls)
    } else {
        StructArray::try_new(fields.clone(), children, nulls).map_err(arrow_fail)?
    };
    Ok(Arc::new(array))
}

/// Field 1 (`bytes`) of a one-field message such as `datasets.v1.Geometry` or `UUID` (last one wins).
#[inline]
fn single_bytes_field(buf: &[u8]) -> Res<&[u8]> {
    // The usual encoding: the one field, nothing else.
    if let [0x0a, len, rest @ ..] = buf
        && usize::from(*len) == rest.len()
    {
        return Ok(rest);
    }
    let mut r = Reader::new(buf);
    let mut out: &[u8] = &[];
    while !r.at_end() {
        let key = r.varint()?;
        let (number, wire_type) = (key >> 3, (key & 7) as u8);
        if number == 1 {
            expect(wire_type, LEN)?;
            out = r.bytes()?;
        } else {
            r.skip(wire_type, number, 0)?;
        }
    }
    Ok(out)
}

const EWKB_Z: u32 = 0x8000_0000;
const EWKB_M: u32 = 0x4000_0000;
const EWKB_SRID: u32 = 0x2000_0000;
const EWKB_FLAGS: u32 = EWKB_Z | EWKB_M | EWKB_SRID;
/// Deepest geometry-collection nesting rewritten.
const MAX_WKB_DEPTH: usize = 32;

/// Whether the geometry's header uses EWKB flags (PostGIS-style Z/M/SRID bits).
fn is_extended_wkb(wkb: &[u8]) -> bool {
    match wkb {
        [0, a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]) & EWKB_FLAGS != 0,
        [1, a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]) & EWKB_FLAGS != 0,
        _ => false,
    }
}

/// Copies one (E)WKB geometry from `r` to `out` as ISO WKB: same byte order and coordinates, flags turned
/// into ISO type codes (+1000 Z, +2000 M), SRIDs dropped.
fn ewkb_to_iso(r: &mut Reader<'_>, out: &mut Vec<u8>, depth: usize) -> Res<()> {
    if depth > MAX_WKB_DEPTH {
        return Err(Fail::new("WKB geometry nested too deeply"));
    }
    let [order] = r.fixed::<1>()?;
    let le = match order {
        0 => false,
        1 => true,
        other => return Err(Fail::new(format!("invalid WKB byte order {other}"))),
    };
    let u32_of = |b: [u8; 4]| {
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let code = u32_of(r.fixed::<4>()?);
    let base = code & !EWKB_FLAGS;
    let (iso_z, iso_m) = match base / 1000 {
        0 => (false, false),
        1 => (true, false),
        2 => (false, true),
        3 => (true, true),
        _ => return Err(Fail::new(format!("invalid WKB geometry type {code:#x}"))),
    };
    let z = iso_z || code & EWKB_Z != 0;
    let m = iso_m || code & EWKB_M != 0;
    let kind = base % 1000;
    let iso = kind + if z { 1000 } else { 0 } + if m { 2000 } else { 0 };
    out.push(order);
    out.extend_from_slice(&if le {
        iso.to_le_bytes()
    } else {
        iso.to_be_bytes()
    });
    if code & EWKB_SRID != 0 {
        r.fixed::<4>()?;
    }
    let coord = 8 * (2 + usize::from(z) + usize::from(m));
    let copy = |r: &mut Reader<'_>, out: &mut Vec<u8>, len: usize| -> Res<()> {
        let end = r
            .pos
            .checked_add(len)
            .ok_or_else(|| Fail::new("truncated WKB"))?;
        let slice = r
            .buf
            .get(r.pos..end)
            .ok_or_else(|| Fail::new("truncated WKB"))?;
        out.extend_from_slice(slice);
        r.pos = end;
        Ok(())
    };
    let count = |r: &mut Reader<'_>, out: &mut Vec<u8>| -> Res<usize> {
        let b = r.fixed::<4>()?;
        out.extend_from_slice(&b);
        Ok(u32_of(b) as usize)
    };
    match kind {
        1 => copy(r, out, coord),
        2 => {
            let n = count(r, out)?;
            copy(r, out, n.saturating_mul(coord))
        }
        3 => {
            let rings = count(r, out)?;
            for _ in 0..rings {
                let n = count(r, out)?;
                copy(r, out, n.saturating_mul(coord))?;
            }
            Ok(())
        }
        4..=7 => {
            let parts = count(r, out)?;
            for _ in 0..parts {
                ewkb_to_iso(r, out, depth + 1)?;
            }
            Ok(())
        }
        other => Err(Fail::new(format!("unsupported WKB geometry type {other}"))),
    }
}

/// A `Timestamp` or `Duration` message as nanoseconds.
#[inline]
fn seconds_nanos(buf: &[u8]) -> Res<i64> {
    let mut r = Reader::new(buf);
    let (mut seconds, mut nanos) = (0i64, 0i32);
    // The usual encoding: seconds, then nanos, each at most once.
    if buf.first() == Some(&0x08) {
        r.pos = 1;
        seconds = r.varint()? as i64;
        if r.buf.get(r.pos) == Some(&0x10) {
            r.pos += 1;
            nanos = r.varint()? as i32;
        }
    }
    while !r.at_end() {
        let key = r.varint()?;
        let (number, wire_type) = (key >> 3, (key & 7) as u8);
        match number {
            1 => {
                expect(wire_type, VARINT)?;
                seconds = r.varint()? as i64;
            }
            2 => {
                expect(wire_type, VARINT)?;
                nanos = r.varint()? as i32;
            }
            _ => r.skip(wire_type, number, 0)?,
        }
    }
    if !(-999_999_999..=999_999_999).contains(&nanos) {
        return Err(Fail::new(format!("nanos out of range: {nanos}")));
    }
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(i64::from(nanos)))
        .ok_or_else(|| {
            Fail::new(format!(
                "time {seconds}s {nanos}ns does not fit in 64-bit nanoseconds"
            ))
        })
}

impl<'p> Column<'p> {
    fn new(plan: &'p FieldPlan, rows: usize, strict: bool) -> Self {
        match &plan.repr {
            Repr::Single { presence } => Column {
                plan,
                shape: Shape::Single {
                    rows: 0,
                    presence: *presence,
                    validity: None,
                },
                values: Values::new(&plan.kind, rows, strict),
            },
            Repr::List => Column {
                plan,
                shape: Shape::List {
                    offsets: offsets_with_capacity(rows),
                },
                values: Values::new(&plan.kind, rows, strict),
            },
            Repr::Map { key, value } => Column {
                plan,
                shape: Shape::Map {
                    offsets: offsets_with_capacity(rows),
                    entries: 0,
                    key: Box::new(Column::new(key, rows, strict)),
                    value: Box::new(Column::new(value, rows, strict)),
                },
                values: Values::None,
            },
        }
    }

    /// Reads one occurrence of the field in row `row` (rows are visited in order).
    #[inline(always)]
    fn read(&mut self, wire_type: u8, r: &mut Reader<'_>, row: usize) -> Res<()> {
        // The common case, kept inline: a scalar field met once per row, no nulls so far.
        if let Shape::Single {
            rows,
            validity: None,
            ..
        } = &mut self.shape
            && *rows == row
            && !matches!(self.values, Values::Struct(_))
        {
            *rows = row + 1;
            return self.values.read(wire_type, r);
        }
        self.read_any(wire_type, r, row)
    }

    /// [`Column::read`] for every case.
    #[inline(never)]
    fn read_any(&mut self, wire_type: u8, r: &mut Reader<'_>, row: usize) -> Res<()> {
        match &mut self.shape {
            Shape::Single {
                rows,
                presence,
                validity,
            } => {
                if *rows > row {
                    // Met again in this row: the last value wins, messages merge.
                    if !matches!(self.values, Values::Struct(_)) {
                        self.values.pop();
                    }
                } else {
                    if *rows < row {
                        Self::fill_unset(&mut self.values, *presence, validity, *rows, row)?;
                    }
                    if let Values::Struct(s) = &mut self.values {
                        s.open();
                    }
                    if let Some(validity) = validity {
                        validity.append(true);
                    }
                    *rows = row + 1;
                }
                self.values.read(wire_type, r)
            }
            Shape::List { offsets } => {
                close_rows(offsets, row, self.values.len());
                if wire_type == LEN && self.values.packable() {
                    let mut packed = Reader::new(r.bytes()?);
                    let element = element_wire_type(&self.values);
                    while !packed.at_end() {
                        self.values.read(element, &mut packed)?;
                    }
                    Ok(())
                } else {
                    if let Values::Struct(s) = &mut self.values {
                        s.open();
                    }
                    self.values.read(wire_type, r)
                }
            }
            Shape::Map {
                offsets,
                entries,
                key,
                value,
            } => {
                expect(wire_type, LEN)?;
                close_rows(offsets, row, *entries);
                let mut entry = Reader::new(r.bytes()?);
                let index = *entries;
                while !entry.at_end() {
                    let tag = entry.varint()?;
                    let (number, wt) = (tag >> 3, (tag & 7) as u8);
                    match number {
                        1 => key
                            .read(wt, &mut entry, index)
                            .map_err(|f| f.within("key"))?,
                        2 => value
                            .read(wt, &mut entry, index)
                            .map_err(|f| f.within("value"))?,
                        _ => entry.skip(wt, number, 0)?,
                    }
                }
                *entries += 1;
                Ok(())
            }
        }
    }

    /// Gives rows `from..to` of a single field, where it was not met, null (with `presence`) or its
    /// default.
    #[cold]
    fn fill_unset(
        values: &mut Values<'_>,
        presence: bool,
        validity: &mut Option<BooleanBufferBuilder>,
        from: usize,
        to: usize,
    ) -> Res<()> {
        for _ in from..to {
            values.push_default()?;
        }
        if presence {
            let validity = validity.get_or_insert_with(|| {
                let mut all_set = BooleanBufferBuilder::new(to.max(64));
                all_set.append_n(from, true);
                all_set
            });
            validity.append_n(to - from, false);
        }
        Ok(())
    }

    /// The finished column of `rows` rows (rows the field was not met in get null, the default or an empty
    /// list).
    fn finish(mut self, rows: usize) -> Res<ArrayRef> {
        let name = &self.plan.name;
        let data_type = self.plan.arrow.data_type();
        match self.shape {
            Shape::Single {
                rows: held,
                presence,
                mut validity,
            } => {
                if held < rows {
                    Self::fill_unset(&mut self.values, presence, &mut validity, held, rows)
                        .map_err(|f| f.within(name))?;
                }
                let nulls = validity
                    .map(|mut v| NullBuffer::new(v.finish()))
                    .filter(|n| n.null_count() > 0);
                self.values
                    .finish(data_type, nulls)
                    .map_err(|f| f.within(name))
            }
            Shape::List { mut offsets } => {
                close_rows(&mut offsets, rows, self.values.len());
                let DataType::List(item) = data_type else {
                    return Err(Fail::new("plan and Arrow type disagree (list)").within(name));
                };
                let values = self
                    .values
                    .finish(item.data_type(), None)
                    .map_err(|f| f.within(name))?;
                list_array(item, offsets, values).map_err(|f| f.within(name))
            }
            Shape::Map {
                mut offsets,
                entries,
                key,
                value,
            } => {
                close_rows(&mut offsets, rows, entries);
                let DataType::Map(entries_field, sorted) = data_type else {
                    return Err(Fail::new("plan and Arrow type disagree (map)").within(name));
                };
                let DataType::Struct(fields) = entries_field.data_type() else {
                    return Err(Fail::new("plan and Arrow type disagree (map)").within(name));
                };
                let keys = key.finish(entries).map_err(|f| f.within(name))?;
                let values = value.finish(entries).map_err(|f| f.within(name))?;
                let entries_array = StructArray::try_new(fields.clone(), vec![keys, values], None)
                    .map_err(|e| arrow_fail(e).within(name))?;
                let map = MapArray::try_new(
                    entries_field.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    entries_array,
                    None,
                    *sorted,
                )
                .map_err(|e| arrow_fail(e).within(name))?;
                Ok(Arc::new(map))
            }
        }
    }
}

/// Ends every row of a list or map column before `row` (`end`: the values or entries held so far), so that
/// `row` is the open one.
#[inline]
fn close_rows(offsets: &mut Vec<i32>, row: usize, end: usize) {
    if offsets.len() <= row {
        let end = i32::try_from(end).unwrap_or(i32::MAX);
        offsets.resize(row + 1, end);
    }
}

fn list_array(item: &FieldRef, offsets: Vec<i32>, values: ArrayRef) -> Res<ArrayRef> {
    let list = ListArray::try_new(
        item.clone(),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        None,
    )
    .map_err(arrow_fail)?;
    Ok(Arc::new(list))
}

fn offsets_with_capacity(rows: usize) -> Vec<i32> {
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0);
    offsets
}

/// The wire type of one element inside a packed run.
fn element_wire_type(values: &Values<'_>) -> u8 {
    match values {
        Values::Sfixed32(_) | Values::Fixed32(_) | Values::Float(_) => I32,
        Values::Sfixed64(_) | Values::Fixed64(_) | Values::Double(_) => I64,
        _ => VARINT,
    }
}
