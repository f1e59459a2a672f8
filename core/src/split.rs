//! The split planner: cuts one time interval into sub-intervals that page independently and, concatenated in
//! order, return exactly the datapoints of the whole interval (for parallel paging within one collection).
//!
//! The server matches datapoint times at millisecond precision (`floor_ms(time)` against the bounds), so
//! every inner cut point is a whole millisecond and inner sub-intervals are half-open `[a, b)`: a datapoint
//! at `t` belongs to exactly one of them whether the server compares `t` or `floor_ms(t)` (for a
//! millisecond-aligned `c`, `t < c` ⇔ `floor_ms(t) < c`). The outer ends keep the original bounds and
//! flags (`start_exclusive`, `end_inclusive`), so the first and last sub-intervals select exactly what the
//! whole interval selects at its ends. Since results are ordered by id (= time) and the sub-intervals are
//! disjoint and ascending, concatenating their results in order equals the unsplit result.

use chrono::{DateTime, TimeDelta, Utc};

use crate::time::TimeInterval;

fn floor_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// Splits `interval` into at most `parts` sub-intervals (fewer when it spans too few milliseconds).
///
/// `density_hint` is the span where datapoints are known to exist (e.g. the collection's availability,
/// inclusive); cut points are spread evenly over its overlap with `interval`, so a query over a mostly empty
/// interval still splits the populated part. It never changes the outer bounds.
///
/// With `parts <= 1`, an empty interval, or no room for a cut, the result is `[interval]`.
pub fn split_interval(
    interval: &TimeInterval,
    parts: usize,
    density_hint: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<TimeInterval> {
    if parts <= 1 || interval.is_empty() {
        return vec![*interval];
    }
    // Cut points c (whole milliseconds) must satisfy floor_ms(start) < c and c < end: every sub-interval then
    // covers at least one millisecond boundary and the cuts are strictly inside the interval.
    let lowest = floor_ms(interval.start()) + 1;
    let end = interval.end();
    let highest = {
        let e = floor_ms(end);
        if from_ms(e).is_some_and(|t| t < end) {
            e
        } else {
            e - 1
        }
    };
    if highest < lowest {
        return vec![*interval];
    }
    // Spread the cuts over the populated span [a, b] when the hint overlaps the interval.
    let (mut a, mut b) = (lowest - 1, highest + 1);
    if let Some((hint_start, hint_end)) = density_hint {
        let (ha, hb) = (floor_ms(hint_start), floor_ms(hint_end) + 1);
        let (oa, ob) = (a.max(ha), b.min(hb));
        if ob > oa {
            (a, b) = (oa, ob);
        }
    }
    let span = i128::from(b - a);
    let mut cuts: Vec<i64> = Vec::with_capacity(parts - 1);
    for k in 1..parts {
        let c = a as i128 + span * k as i128 / parts as i128;
        let c = i64::try_from(c).unwrap_or(a).clamp(lowest, highest);
        if cuts.last().is_none_or(|last| *last < c) {
            cuts.push(c);
        }
    }
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut seg_start = interval.start();
    let mut seg_start_exclusive = interval.start_exclusive();
    for c in cuts {
        let Some(cut) = from_ms(c) else { continue };
        if let Ok(seg) = TimeInterval::with_bounds(seg_start, cut, seg_start_exclusive, false) {
            out.push(seg);
            seg_start = cut;
            seg_start_exclusive = false;
        }
    }
    match TimeInterval::with_bounds(
        seg_start,
        end,
        seg_start_exclusive,
        interval.end_inclusive(),
    ) {
        Ok(last) => out.push(last),
        Err(_) => return vec![*interval],
    }
    out
}

/// How many sub-intervals are worth it: at most `max_parts`, and no more than the pages the estimated number
/// of datapoints needs (`estimated / page_size`, rounded up; unknown estimate → `max_parts`).
///
/// When there are more pages than parts, every part pages sequentially through a chain of pages; the
/// longest chain is at least `pages / max_parts` (rounded up) long. Then only as many parts are made as
/// chains of that length need, each part sized to fill whole pages (with 5% room for an uneven spread), so
/// no part ends in a nearly empty extra page: fewer requests for the same longest chain.
pub fn parts_for(max_parts: usize, estimated_datapoints: Option<u64>, page_size: u64) -> usize {
    let max_parts = max_parts.max(1);
    let page_size = page_size.max(1);
    let Some(n) = estimated_datapoints else {
        return max_parts;
    };
    let pages = n.div_ceil(page_size).max(1);
    let max = u64::try_from(max_parts).unwrap_or(u64::MAX);
    if pages <= max {
        return usize::try_from(pages).unwrap_or(max_parts);
    }
    let mut chain = pages.div_ceil(max);
    loop {
        // Datapoints one part may hold: `chain` pages less 5%.
        let per_part = (chain.saturating_mul(page_size) / 20 * 19).max(1);
        let parts = n.div_ceil(per_part);
        if parts <= max {
            return usize::try_from(parts).unwrap_or(max_parts).max(1);
        }
        chain += 1;
    }
}

/// Estimates how many of `count` datapoints, spread over `availability`, fall into `interval` (assuming a
/// uniform spread in time).
pub fn estimate_datapoints(
    interval: &TimeInterval,
    availability: &TimeInterval,
    count: u64,
) -> u64 {
    if availability.is_empty() || interval.is_empty() {
        return 0;
    }
    let (qs, qe) = interval.to_half_open();
    let (as_, ae) = availability.to_half_open();
    let overlap = (qe.min(ae) - qs.max(as_)).max(TimeDelta::zero());
    let total = ae - as_;
    match (overlap.num_milliseconds(), total.num_milliseconds()) {
        (_, t) if t <= 0 => count,
        (o, t) => ((count as f64) * (o as f64 / t as f64)).ceil() as u64,
    }
}
