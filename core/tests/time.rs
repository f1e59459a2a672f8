//! Time interval parsing rules (spec §6.5) and wire conversion.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use tilebox_core::time::{
    DatapointInterval, IntoTimeInterval, TimeInterval, datetime_to_timestamp, parse_instant,
    timestamp_to_datetime,
};
use tilebox_core::wire::tilebox::v1 as wire;
use tilebox_core::{Error, IntoDatapointId};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

#[test]
fn pair_is_half_open() {
    let t = ("2020-01-01", "2021-01-01").into_time_interval().unwrap();
    assert_eq!(t.start(), utc(2020, 1, 1, 0, 0, 0));
    assert_eq!(t.end(), utc(2021, 1, 1, 0, 0, 0));
    assert!(!t.start_exclusive());
    assert!(!t.end_inclusive());
    assert!(t.contains(utc(2020, 1, 1, 0, 0, 0)));
    assert!(!t.contains(utc(2021, 1, 1, 0, 0, 0)));
    let w = t.to_wire();
    assert_eq!(w.start_time.unwrap().seconds, 1_577_836_800);
    assert_eq!(w.end_time.unwrap().seconds, 1_609_459_200);
    assert!(!w.start_exclusive && !w.end_inclusive);
}

#[test]
fn single_instant_includes_its_end() {
    let t = "2022-07-13T02:00".into_time_interval().unwrap();
    assert_eq!(t.start(), t.end());
    assert_eq!(t.start(), utc(2022, 7, 13, 2, 0, 0));
    assert!(t.end_inclusive());
    assert!(!t.start_exclusive());
    assert!(!t.is_empty());
    assert_eq!(TimeInterval::parse("2022-07-13T02:00").unwrap(), t);
    let from_dt = utc(2022, 7, 13, 2, 0, 0).into_time_interval().unwrap();
    assert_eq!(from_dt, t);
}

#[test]
fn accepted_string_forms() {
    let base = utc(2022, 7, 13, 2, 0, 0);
    let micro = base + chrono::TimeDelta::microseconds(123_456);
    let cases: &[(&str, DateTime<Utc>)] = &[
        ("2022-07-13", utc(2022, 7, 13, 0, 0, 0)),
        ("2022-07-13T02:00", base),
        ("2022-07-13 02:00", base),
        ("2022-07-13 02:00:00", base),
        ("2022-07-13T02:00:00.123456", micro),
        ("2022-07-13 02:00:00.123456", micro),
        ("2022-07-13 02:00:00.123456 UTC", micro),
        ("2022-07-13 UTC", utc(2022, 7, 13, 0, 0, 0)),
        ("2022-07-13T02:00 UTC", base),
        ("2022-07-13T02:00:00Z", base),
        ("2022-07-13T02:00:00.123456Z", micro),
        ("2022-07-13T02:00Z", base),
        ("2022-07-13T04:00:00+02:00", base),
        ("2022-07-13 04:00:00+02:00", base),
        ("2022-07-12T21:00:00-05:00", base),
        ("2022-07-13T04:00+02:00", base),
        ("2022-07-13T04:00:00+0200", base),
        ("  2022-07-13T02:00  ", base),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_instant(input).unwrap_or_else(|e| panic!("{input}: {e}")),
            *expected,
            "{input}"
        );
    }
}

#[test]
fn invalid_strings_give_a_clear_error() {
    for bad in [
        "",
        "yesterday",
        "2022-13-01",
        "2022-02-30",
        "2022-07-13T25:00",
        "13.07.2022",
        "2022-07-13 02:00 CET",
        "2022-07-13T02:00:00+25:00",
    ] {
        let err = parse_instant(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains("invalid time"), "{msg}");
        assert!(
            msg.contains("2020-01-01"),
            "message lists the accepted forms: {msg}"
        );
        assert!(matches!(
            ("2020-01-01", bad).into_time_interval(),
            Err(Error::InvalidInput { .. })
        ));
    }
}

#[test]
fn end_before_start_is_rejected() {
    let err = ("2021-01-01", "2020-01-01")
        .into_time_interval()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }));
    assert!(err.to_string().contains("before"), "{err}");
    assert!(TimeInterval::new(utc(2020, 1, 2, 0, 0, 0), utc(2020, 1, 1, 0, 0, 0)).is_err());
    // start == end half-open is allowed (and empty)
    let empty = ("2020-01-01", "2020-01-01").into_time_interval().unwrap();
    assert!(empty.is_empty());
}

#[test]
fn other_instant_types() {
    let expected = utc(2020, 1, 1, 0, 0, 0);
    let st = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800);
    assert_eq!(TimeInterval::instant(st).unwrap().start(), expected);
    let naive_date = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    assert_eq!(TimeInterval::instant(naive_date).unwrap().start(), expected);
    let naive_dt = naive_date.and_hms_opt(0, 0, 0).unwrap();
    assert_eq!(TimeInterval::instant(naive_dt).unwrap().start(), expected);
    let zoned: DateTime<FixedOffset> = FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(2020, 1, 1, 1, 0, 0)
        .unwrap();
    assert_eq!(TimeInterval::instant(zoned).unwrap().start(), expected);
    // mixed pair and ranges
    let t = (naive_date, "2020-02-01").into_time_interval().unwrap();
    assert_eq!(t.end(), utc(2020, 2, 1, 0, 0, 0));
    let r = (expected..utc(2020, 2, 1, 0, 0, 0))
        .into_time_interval()
        .unwrap();
    assert_eq!(r, t);
    let ri = ("2020-01-01"..="2020-02-01").into_time_interval().unwrap();
    assert!(ri.end_inclusive());
    assert_ne!(ri, t);
    assert_eq!(
        String::from("2020-01-01")
            .into_time_interval()
            .unwrap()
            .start(),
        expected
    );
}

#[test]
fn wire_round_trip_before_1970() {
    let t = Utc.timestamp_opt(-1, 500_000_000).unwrap(); // 1969-12-31T23:59:59.5
    let ts = datetime_to_timestamp(&t);
    assert_eq!(ts.seconds, -1);
    assert_eq!(ts.nanos, 500_000_000);
    assert_eq!(timestamp_to_datetime(&ts).unwrap(), t);
    let t2 = parse_instant("1969-12-31T23:59:59.999999999Z").unwrap();
    let ts2 = datetime_to_timestamp(&t2);
    assert_eq!((ts2.seconds, ts2.nanos), (-1, 999_999_999));
    // non-canonical negative nanos normalise
    let odd = prost_types::Timestamp {
        seconds: 0,
        nanos: -1,
    };
    assert_eq!(
        datetime_to_timestamp(&timestamp_to_datetime(&odd).unwrap()),
        prost_types::Timestamp {
            seconds: -1,
            nanos: 999_999_999
        }
    );

    let interval = TimeInterval::with_bounds(t, t2, true, true).unwrap();
    assert_eq!(
        TimeInterval::from_wire(&interval.to_wire()).unwrap(),
        interval
    );
}

#[test]
fn empty_availability_sentinel() {
    let sentinel = wire::TimeInterval {
        start_time: Some(prost_types::Timestamp::default()),
        end_time: Some(prost_types::Timestamp::default()),
        start_exclusive: false,
        end_inclusive: false,
    };
    let t = TimeInterval::from_wire(&sentinel).unwrap();
    assert!(t.is_empty());
    assert_eq!(t, TimeInterval::empty());
    assert_eq!(t.to_string(), "<empty>");
    assert!(
        TimeInterval::from_wire(&wire::TimeInterval::default())
            .unwrap()
            .is_empty()
    );
    // an observed availability: [first, last] end inclusive
    let avail = TimeInterval::with_bounds(
        utc(2020, 1, 1, 0, 0, 0),
        utc(2020, 12, 31, 0, 0, 0),
        false,
        true,
    )
    .unwrap();
    assert!(
        !TimeInterval::from_wire(&avail.to_wire())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn display_and_equality() {
    let t = ("2020-01-01", "2021-01-01").into_time_interval().unwrap();
    assert_eq!(
        t.to_string(),
        "[2020-01-01 00:00:00 UTC, 2021-01-01 00:00:00 UTC)"
    );
    let c = TimeInterval::with_bounds(t.start(), t.end(), true, true).unwrap();
    assert_eq!(
        c.to_string(),
        "(2020-01-01 00:00:00 UTC, 2021-01-01 00:00:00 UTC]"
    );
    // half-open normal form: [a, b] == [a, b + 1ns)
    let a = TimeInterval::with_bounds(t.start(), t.end(), false, true).unwrap();
    let b = TimeInterval::with_bounds(
        t.start(),
        t.end() + chrono::TimeDelta::nanoseconds(1),
        false,
        false,
    )
    .unwrap();
    assert_eq!(a, b);
}

#[test]
fn datapoint_intervals_and_ids() {
    let a = "0181f4ef-2040-101a-ab9c-0b1a6f3f0a65";
    let b = "0181f4ef-2041-101a-ab9c-0b1a6f3f0a65";
    let d = DatapointInterval::new(a, b).unwrap();
    assert!(!d.start_exclusive && d.end_inclusive);
    assert_eq!(DatapointInterval::from_wire(&d.to_wire()).unwrap(), d);
    assert!(matches!(
        DatapointInterval::new(b, a),
        Err(Error::InvalidInput { .. })
    ));
    let err = "not-a-uuid".into_datapoint_id().unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }));
    assert!(err.to_string().contains("not a valid UUID"));
    // no version bits required
    assert!(
        "00000000-0000-0000-0000-000000000001"
            .into_datapoint_id()
            .is_ok()
    );
}
