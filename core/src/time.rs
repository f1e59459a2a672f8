//! Time intervals and datapoint-id intervals: parsing user input (spec §6.5) and converting to and from the
//! wire.
//!
//! Rules:
//! - a pair `(start, end)` (or a range `start..end`) is half-open, `[start, end)`;
//! - a single instant `t` (or an inclusive range `a..=b`) includes its end: `[t, t]` selects every datapoint
//!   of that millisecond;
//! - a date-only string (`"2020-01-01"`) is midnight UTC, a string without a zone is UTC, a zoned string or
//!   date-time is converted to UTC;
//! - accepted strings: `2020-01-01`, `2020-01-01T02:00`, `2020-01-01 02:00:00.123456`, RFC 3339 with an offset
//!   or `Z` (`2020-01-01T02:00:00+02:00`), and any of the naive forms followed by ` UTC`;
//! - an end before the start is an [`Error::InvalidInput`].
//!
//! Timestamps are encoded as protobuf `Timestamp`s with floor-divided seconds and non-negative nanos, so
//! instants before 1970 round-trip.

use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::time::SystemTime;

use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::wire::tilebox::v1 as wire;

/// The Unix epoch as a UTC date-time.
pub const EPOCH: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// A time interval with explicit inclusivity of both ends, as the Query API filters by.
///
/// Build one with [`TimeInterval::new`] (half-open), [`TimeInterval::instant`] (`[t, t]`),
/// [`TimeInterval::parse`], or from anything implementing [`IntoTimeInterval`]: `("2020-01-01",
/// "2021-01-01")`, `start..end`, `start..=end`, a single instant.
#[derive(Debug, Clone, Copy, Eq)]
pub struct TimeInterval {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    start_exclusive: bool,
    end_inclusive: bool,
}

impl TimeInterval {
    /// The half-open interval `[start, end)`. Fails with [`Error::InvalidInput`] if a bound cannot be parsed
    /// or `end < start`.
    pub fn new(start: impl IntoInstant, end: impl IntoInstant) -> Result<Self> {
        Self::with_bounds(start.into_instant()?, end.into_instant()?, false, false)
    }

    /// An interval with explicit inclusivity flags. Fails with [`Error::InvalidInput`] if `end < start`.
    pub fn with_bounds(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        start_exclusive: bool,
        end_inclusive: bool,
    ) -> Result<Self> {
        if end < start {
            return Err(Error::invalid_input(format!(
                "invalid time interval: end {} is before start {}",
                format_instant(&end),
                format_instant(&start)
            )));
        }
        Ok(TimeInterval {
            start,
            end,
            start_exclusive,
            end_inclusive,
        })
    }

    /// The closed interval `[t, t]`: every datapoint of that instant's millisecond.
    pub fn instant(t: impl IntoInstant) -> Result<Self> {
        let t = t.into_instant()?;
        Ok(TimeInterval {
            start: t,
            end: t,
            start_exclusive: false,
            end_inclusive: true,
        })
    }

    /// Parses one instant string into `[t, t]` (see the module docs for accepted forms).
    pub fn parse(s: &str) -> Result<Self> {
        Self::instant(parse_instant(s)?)
    }

    /// The empty interval, as the API sends for collections without datapoints (`(epoch, epoch)`).
    pub fn empty() -> Self {
        TimeInterval {
            start: EPOCH,
            end: EPOCH,
            start_exclusive: true,
            end_inclusive: false,
        }
    }

    /// The start of the interval.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The end of the interval.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Whether the start itself is excluded.
    pub fn start_exclusive(&self) -> bool {
        self.start_exclusive
    }

    /// Whether the end itself is included.
    pub fn end_inclusive(&self) -> bool {
        self.end_inclusive
    }

    /// Whether the interval contains no instant at all.
    pub fn is_empty(&self) -> bool {
        let (start, end) = self.to_half_open();
        end <= start
    }

    /// Whether `t` lies inside the interval (at full precision).
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let (start, end) = self.to_half_open();
        start <= t && t < end
    }

    /// The equivalent half-open bounds `[start, end)`, moving an exclusive start and an inclusive end by one
    /// nanosecond (the precision of the wire format).
    pub fn to_half_open(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let tick = TimeDelta::nanoseconds(1);
        let start = if self.start_exclusive {
            self.start + tick
        } else {
            self.start
        };
        let end = if self.end_inclusive {
            self.end + tick
        } else {
            self.end
        };
        (start, end)
    }

    /// The wire form.
    pub fn to_wire(&self) -> wire::TimeInterval {
        wire::TimeInterval {
            start_time: Some(datetime_to_timestamp(&self.start)),
            end_time: Some(datetime_to_timestamp(&self.end)),
            start_exclusive: self.start_exclusive,
            end_inclusive: self.end_inclusive,
        }
    }

    /// Reads the wire form. A missing timestamp means the epoch, so the all-default message (the API's
    /// "empty" sentinel) becomes [`TimeInterval::empty`]. Fails with [`Error::Protocol`] on out-of-range
    /// timestamps.
    pub fn from_wire(interval: &wire::TimeInterval) -> Result<Self> {
        let start = interval
            .start_time
            .as_ref()
            .map(timestamp_to_datetime)
            .transpose()?
            .unwrap_or(EPOCH);
        let end = interval
            .end_time
            .as_ref()
            .map(timestamp_to_datetime)
            .transpose()?
            .unwrap_or(EPOCH);
        if start == EPOCH && end == EPOCH && !interval.end_inclusive {
            return Ok(TimeInterval::empty());
        }
        if end < start {
            return Err(Error::protocol(format!(
                "time interval from the server ends before it starts: {} .. {}",
                format_instant(&start),
                format_instant(&end)
            )));
        }
        Ok(TimeInterval {
            start,
            end,
            start_exclusive: interval.start_exclusive,
            end_inclusive: interval.end_inclusive,
        })
    }
}

impl PartialEq for TimeInterval {
    /// Intervals are equal when they contain the same instants (compared on the half-open normal form).
    fn eq(&self, other: &Self) -> bool {
        if self.is_empty() && other.is_empty() {
            return true;
        }
        self.to_half_open() == other.to_half_open()
    }
}

impl std::hash::Hash for TimeInterval {
    /// Consistent with `PartialEq`: hashes the half-open normal form (all empty intervals alike).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        if self.is_empty() {
            0u8.hash(state);
        } else {
            1u8.hash(state);
            self.to_half_open().hash(state);
        }
    }
}

impl fmt::Display for TimeInterval {
    /// `[2020-01-01 00:00:00 UTC, 2021-01-01 00:00:00 UTC)` (brackets show inclusivity); `<empty>` for an
    /// empty interval.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("<empty>");
        }
        let open = if self.start_exclusive { '(' } else { '[' };
        let close = if self.end_inclusive { ']' } else { ')' };
        write!(
            f,
            "{open}{}, {}{close}",
            format_instant(&self.start),
            format_instant(&self.end)
        )
    }
}

impl TryFrom<&str> for TimeInterval {
    type Error = Error;

    /// A single instant string, `[t, t]`.
    fn try_from(s: &str) -> Result<Self> {
        TimeInterval::parse(s)
    }
}

impl std::str::FromStr for TimeInterval {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        TimeInterval::parse(s)
    }
}

fn format_instant(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_nanos() == 0 {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.f UTC").to_string()
    }
}

/// Converts a date-time to a protobuf `Timestamp` (seconds floor-divided, nanos in `0..1e9`).
pub fn datetime_to_timestamp(t: &DateTime<Utc>) -> prost_types::Timestamp {
    // chrono represents leap seconds with nanos >= 1e9; the wire format cannot.
    let nanos = t.timestamp_subsec_nanos().min(999_999_999);
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: nanos as i32,
    }
}

/// Converts a protobuf `Timestamp` to a UTC date-time; [`Error::Protocol`] if it is out of range.
pub fn timestamp_to_datetime(ts: &prost_types::Timestamp) -> Result<DateTime<Utc>> {
    // Normalise non-canonical timestamps (negative nanos or nanos >= 1e9) first.
    let mut seconds = ts.seconds;
    let mut nanos = i64::from(ts.nanos);
    seconds = seconds.saturating_add(nanos.div_euclid(1_000_000_000));
    nanos = nanos.rem_euclid(1_000_000_000);
    DateTime::from_timestamp(seconds, nanos as u32).ok_or_else(|| {
        Error::protocol(format!(
            "timestamp out of range: {}s {}ns",
            ts.seconds, ts.nanos
        ))
    })
}

const ACCEPTED_FORMS: &str = "expected a date (\"2020-01-01\"), a date and time (\"2020-01-01T02:00\", \
     \"2020-01-01 02:00:00.123456\", optionally followed by \" UTC\") or RFC 3339 with an offset \
     (\"2020-01-01T02:00:00+02:00\", \"2020-01-01T02:00:00Z\")";

const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Parses one instant string (see the module docs for the accepted forms).
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>> {
    let invalid = || Error::invalid_input(format!("invalid time {s:?}: {ACCEPTED_FORMS}"));
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    // Explicit UTC suffixes: " UTC", "UTC", "Z".
    let (body, utc_suffix) = if let Some(b) = trimmed.strip_suffix("UTC") {
        (b.trim_end(), true)
    } else if let Some(b) = trimmed.strip_suffix(['Z', 'z']) {
        (b, true)
    } else {
        (trimmed, false)
    };
    if let Some(t) = parse_naive(body) {
        return Ok(Utc.from_utc_datetime(&t));
    }
    if utc_suffix {
        return Err(invalid());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(body) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%d %H:%M%#z",
    ] {
        if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(body, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(invalid())
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(date.and_time(NaiveTime::MIN));
    }
    NAIVE_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
}

/// Something that denotes one instant: strings (parsed, see the module docs), [`SystemTime`], chrono
/// `DateTime<Tz>` (converted to UTC), `NaiveDateTime` (taken as UTC) and `NaiveDate` (midnight UTC).
pub trait IntoInstant {
    /// The instant in UTC, or [`Error::InvalidInput`].
    fn into_instant(self) -> Result<DateTime<Utc>>;
}

impl IntoInstant for &str {
    fn into_instant(self) -> Result<DateTime<Utc>> {
        parse_instant(self)
    }
}

impl IntoInstant for String {
    fn into_instant(self) -> Result<DateTime<Utc>> {
        parse_instant(&self)
    }
}

impl IntoInstant for &String {
    fn into_instant(self) -> Result<DateTime<Utc>> {
        parse_instant(self)
    }
}

impl IntoInstant for SystemTime {
    fn into_instant(self) -> Result<DateTime<Utc>> {
        Ok(DateTime::<Utc>::from(self))
    }
}

impl<Tz: TimeZone> IntoInstant for DateTime<Tz> {
    fn into_instant(self) -> Result<DateTime<Utc>> {
        Ok(self.with_timezone(&Utc))
    }
}

impl<Tz: TimeZone> IntoInstant for &DateTime<Tz> {
    fn into_instant(self) -> Result<DateTime<Utc>> {
        Ok(self.with_timezone(&Utc))
    }
}

impl IntoInstant for NaiveDateTime {
    fn into_instant(self) -> Result<DateTime<Utc>> {
        Ok(Utc.from_utc_datetime(&self))
    }
}

impl IntoInstant for NaiveDate {
    fn into_instant(self) -> Result<DateTime<Utc>> {
        Ok(Utc.from_utc_datetime(&self.and_time(NaiveTime::MIN)))
    }
}

/// Anything that denotes a time interval (spec §6.5): a [`TimeInterval`], a pair `(start, end)` or a range
/// `start..end` (half-open), an inclusive range `start..=end`, or a single instant (`[t, t]`).
pub trait IntoTimeInterval {
    /// The interval, or [`Error::InvalidInput`] for unparsable bounds or an end before the start.
    fn into_time_interval(self) -> Result<TimeInterval>;
}

impl IntoTimeInterval for TimeInterval {
    fn into_time_interval(self) -> Result<TimeInterval> {
        Ok(self)
    }
}

impl IntoTimeInterval for &TimeInterval {
    fn into_time_interval(self) -> Result<TimeInterval> {
        Ok(*self)
    }
}

impl<A: IntoInstant, B: IntoInstant> IntoTimeInterval for (A, B) {
    fn into_time_interval(self) -> Result<TimeInterval> {
        TimeInterval::new(self.0, self.1)
    }
}

impl<A: IntoInstant> IntoTimeInterval for Range<A> {
    fn into_time_interval(self) -> Result<TimeInterval> {
        TimeInterval::new(self.start, self.end)
    }
}

impl<A: IntoInstant> IntoTimeInterval for RangeInclusive<A> {
    fn into_time_interval(self) -> Result<TimeInterval> {
        let (start, end) = self.into_inner();
        TimeInterval::with_bounds(start.into_instant()?, end.into_instant()?, false, true)
    }
}

impl<T: IntoInstant> IntoTimeInterval for T {
    fn into_time_interval(self) -> Result<TimeInterval> {
        TimeInterval::instant(self)
    }
}

/// An interval over datapoint ids (which sort by time), for queries by id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatapointInterval {
    /// First id of the range.
    pub start_id: Uuid,
    /// Last id of the range.
    pub end_id: Uuid,
    /// Whether `start_id` itself is excluded.
    pub start_exclusive: bool,
    /// Whether `end_id` itself is included.
    pub end_inclusive: bool,
}

impl DatapointInterval {
    /// The closed range `[start_id, end_id]` (both datapoints included). Ids may be [`Uuid`]s or strings;
    /// invalid strings or `end_id < start_id` give [`Error::InvalidInput`].
    pub fn new(start_id: impl IntoDatapointId, end_id: impl IntoDatapointId) -> Result<Self> {
        let (start_id, end_id) = (start_id.into_datapoint_id()?, end_id.into_datapoint_id()?);
        if end_id < start_id {
            return Err(Error::invalid_input(format!(
                "invalid datapoint interval: end id {end_id} is before start id {start_id}"
            )));
        }
        Ok(DatapointInterval {
            start_id,
            end_id,
            start_exclusive: false,
            end_inclusive: true,
        })
    }

    /// The wire form.
    pub fn to_wire(&self) -> wire::IdInterval {
        wire::IdInterval {
            start_id: Some(uuid_to_wire(&self.start_id)),
            end_id: Some(uuid_to_wire(&self.end_id)),
            start_exclusive: self.start_exclusive,
            end_inclusive: self.end_inclusive,
        }
    }

    /// Reads the wire form (missing ids are the nil id).
    pub fn from_wire(interval: &wire::IdInterval) -> Result<Self> {
        Ok(DatapointInterval {
            start_id: interval
                .start_id
                .as_ref()
                .map(uuid_from_wire)
                .transpose()?
                .unwrap_or(Uuid::nil()),
            end_id: interval
                .end_id
                .as_ref()
                .map(uuid_from_wire)
                .transpose()?
                .unwrap_or(Uuid::nil()),
            start_exclusive: interval.start_exclusive,
            end_inclusive: interval.end_inclusive,
        })
    }
}

impl fmt::Display for DatapointInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open = if self.start_exclusive { '(' } else { '[' };
        let close = if self.end_inclusive { ']' } else { ')' };
        write!(f, "{open}{}, {}{close}", self.start_id, self.end_id)
    }
}

/// Something that denotes a datapoint id: a [`Uuid`] or a UUID string (any version bits; Tilebox ids carry
/// none). Strings are parsed client-side, so a malformed id fails with [`Error::InvalidInput`] before any
/// request is sent.
pub trait IntoDatapointId {
    /// The id, or [`Error::InvalidInput`].
    fn into_datapoint_id(self) -> Result<Uuid>;
}

impl IntoDatapointId for Uuid {
    fn into_datapoint_id(self) -> Result<Uuid> {
        Ok(self)
    }
}

impl IntoDatapointId for &Uuid {
    fn into_datapoint_id(self) -> Result<Uuid> {
        Ok(*self)
    }
}

impl IntoDatapointId for &str {
    fn into_datapoint_id(self) -> Result<Uuid> {
        Uuid::parse_str(self.trim()).map_err(|_| {
            Error::invalid_input(format!(
                "invalid datapoint id: {self:?} is not a valid UUID"
            ))
        })
    }
}

impl IntoDatapointId for String {
    fn into_datapoint_id(self) -> Result<Uuid> {
        self.as_str().into_datapoint_id()
    }
}

impl IntoDatapointId for &String {
    fn into_datapoint_id(self) -> Result<Uuid> {
        self.as_str().into_datapoint_id()
    }
}

/// A wire `ID` for a UUID.
pub fn uuid_to_wire(id: &Uuid) -> wire::Id {
    wire::Id {
        uuid: bytes::Bytes::copy_from_slice(id.as_bytes()),
    }
}

/// Reads a wire `ID`: empty bytes are the nil UUID, anything but 16 bytes is an [`Error::Protocol`].
pub fn uuid_from_wire(id: &wire::Id) -> Result<Uuid> {
    if id.uuid.is_empty() {
        return Ok(Uuid::nil());
    }
    Uuid::from_slice(&id.uuid)
        .map_err(|_| Error::protocol(format!("id with {} bytes, expected 16", id.uuid.len())))
}
