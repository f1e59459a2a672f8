//! The progress tracker (spec §6.7).
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tilebox_core::progress::ProgressTracker;
use tilebox_core::split::split_interval;
use tilebox_core::time::TimeInterval;

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, d, 0, 0, 0).unwrap()
}

#[test]
fn fraction_from_the_last_datapoint_time_within_the_effective_window() {
    let interval = TimeInterval::new(day(1), day(31)).unwrap();
    let now = day(21); // query end in the future: the window ends now
    let mut t = ProgressTracker::new("L1T", &interval, now);
    let e = t.event();
    assert_eq!(
        (e.fraction, e.datapoints, e.bytes, e.done),
        (0.0, 0, 0, false)
    );
    // first datapoint on day 11: window [day 11, day 21]
    let e = t.on_page(0, Some(day(11)), Some(day(13)), 100, 1000);
    assert!((e.fraction - 0.2).abs() < 1e-9, "{}", e.fraction);
    assert_eq!((e.datapoints, e.bytes), (100, 1000));
    assert_eq!(e.label, "L1T");
    let e = t.on_page(0, Some(day(14)), Some(day(16)), 50, 500);
    assert!((e.fraction - 0.5).abs() < 1e-9);
    assert_eq!((e.datapoints, e.bytes), (150, 1500));
    // an empty page changes nothing
    let e = t.on_page(0, None, None, 0, 0);
    assert!((e.fraction - 0.5).abs() < 1e-9);
    // beyond the window: clamped
    let e = t.on_page(0, Some(day(25)), Some(day(30)), 1, 10);
    assert_eq!(e.fraction, 1.0);
    let e = t.finish();
    assert!(e.done);
    assert_eq!(e.fraction, 1.0);
    assert_eq!(e.datapoints, 151);
}

#[test]
fn query_start_after_first_datapoint_uses_query_start() {
    let interval = TimeInterval::new(day(5), day(15)).unwrap();
    let mut t = ProgressTracker::new("x", &interval, day(31));
    // window start = max(query start day 5, first datapoint day 5 + 0) = day 5; end = day 15
    let e = t.on_page(0, Some(day(5)), Some(day(10)), 1, 1);
    assert!((e.fraction - 0.5).abs() < 1e-9);
}

#[test]
fn split_segments_are_weighted_by_length() {
    let interval = TimeInterval::new(day(1), day(31)).unwrap();
    let segments = split_interval(&interval, 3, None);
    assert_eq!(segments.len(), 3);
    let mut t = ProgressTracker::with_segments("x", &segments, day(31) + TimeDelta::days(100));
    // segment 1 completely loaded, nothing else yet: one third
    let e = t.segment_done(1);
    assert!((e.fraction - 1.0 / 3.0).abs() < 1e-6, "{}", e.fraction);
    // segment 0 half way through its window
    let (s0, e0) = (segments[0].start(), segments[0].end());
    let mid = s0 + (e0 - s0) / 2;
    let e = t.on_page(0, Some(s0), Some(mid), 10, 10);
    assert!((e.fraction - 0.5).abs() < 1e-6, "{}", e.fraction);
    let e = t.finish();
    assert_eq!(e.fraction, 1.0);
}

#[test]
fn counting_progress_and_abort() {
    let mut t = ProgressTracker::counting("ingest", 200);
    assert_eq!(t.on_page(0, None, None, 50, 500).fraction, 0.25);
    let e = t.abort();
    assert!(e.done);
    assert_eq!(e.fraction, 0.25);
    let mut empty = ProgressTracker::counting("nothing", 0);
    assert_eq!(empty.event().fraction, 0.0);
    assert_eq!(empty.finish().fraction, 1.0);
}

#[test]
fn display() {
    let mut t = ProgressTracker::counting("C", 4);
    let e = t.on_page(0, None, None, 1, 2_000_000);
    assert_eq!(e.to_string(), "C: 25.0% (1 datapoints, 2.00 MB)");
}
