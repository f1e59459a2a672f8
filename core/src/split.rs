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
    plan_parts(&[estimated_datapoints], max_parts, page_size)[0]
}

/// How many sub-intervals each of several loads gets when they run together with at most `in_flight`
/// requests at once, planned so the whole load takes as few rounds of requests as it can.
///
/// Every sub-interval pages sequentially (a chain of dependent requests) and holds one of the `in_flight`
/// slots while it does; the loader starts the longest chains first and the next one whenever a slot frees.
/// The plan tries round counts `R` from the least the pages allow upwards: each load takes the split
/// whose chains fit in `R` pages with the fewest requests in total (then the fewest parts), and `R` is
/// accepted when those chains, scheduled longest first, all end within `R` rounds. So a large collection
/// gets many parts, small ones few, and short chains share a slot one after another. Pages per part are
/// estimated with 5% room for an uneven spread. A load with an unknown estimate gets `in_flight` parts and
/// is left out of the plan.
pub fn plan_parts(
    estimated_datapoints: &[Option<u64>],
    in_flight: usize,
    page_size: u64,
) -> Vec<usize> {
    let in_flight = in_flight.max(1);
    let slots = u64::try_from(in_flight).unwrap_or(u64::MAX);
    let page_size = page_size.max(1);
    // Pages a part of `n / parts` datapoints is expected to need, with 10% room for an uneven spread and
    // a rough estimate (a whole load that fits one page is one request however it is spread).
    let chain = |n: u64, parts: u64| {
        if n <= page_size {
            return 1;
        }
        n.div_ceil(parts)
            .saturating_mul(10)
            .div_ceil(page_size.saturating_mul(9))
            .max(1)
    };
    // Parts of `n` datapoints whose chains fit in `rounds` pages: the fewest requests in total (then the
    // fewest parts), or the fewest parts (longer chains, fewer slots: better when slots are scarce).
    let split = |n: u64, rounds: u64, fewest_requests: bool| {
        let max_parts = slots.min(n.max(1));
        let fewest = n
            .div_ceil(rounds.saturating_mul(page_size))
            .clamp(1, max_parts);
        let mut fitting = (fewest..=max_parts).filter(|&p| chain(n, p) <= rounds);
        if fewest_requests {
            fitting.min_by_key(|&p| (p.saturating_mul(chain(n, p)), p))
        } else {
            fitting.next()
        }
    };
    let known: Vec<u64> = estimated_datapoints.iter().flatten().copied().collect();
    // With more loads than slots, one part each.
    let best = if known.len() > in_flight {
        vec![1; known.len()]
    } else {
        let total: u64 = known
            .iter()
            .map(|&n| chain(n, 1))
            .fold(0, u64::saturating_add);
        let longest = known.iter().map(|&n| chain(n, 1)).max().unwrap_or(1);
        // A plan for `rounds`, if its chains end within them. At `longest` rounds one part each fits
        // (fewer loads than slots), so the search ends there at the latest.
        let plan = |rounds: u64, fewest_requests: bool| {
            let plan: Vec<u64> = known
                .iter()
                .map(|&n| split(n, rounds, fewest_requests))
                .collect::<Option<_>>()?;
            let mut chains: Vec<u64> = known
                .iter()
                .zip(&plan)
                .flat_map(|(&n, &p)| std::iter::repeat_n(chain(n, p), p as usize))
                .collect();
            (makespan(&mut chains, in_flight) <= rounds).then_some(plan)
        };
        (total.div_ceil(slots).max(1)..longest)
            .find_map(|rounds| plan(rounds, true).or_else(|| plan(rounds, false)))
            .unwrap_or_else(|| vec![1; known.len()])
    };
    let mut parts = best.into_iter();
    estimated_datapoints
        .iter()
        .map(|estimate| match estimate {
            None => in_flight,
            Some(_) => parts
                .next()
                .and_then(|p| usize::try_from(p).ok())
                .unwrap_or(1),
        })
        .collect()
}

/// When the last of `chains` (lengths in rounds) ends if they run longest first on `slots` slots, each
/// starting on the first slot to free up.
fn makespan(chains: &mut [u64], slots: usize) -> u64 {
    chains.sort_unstable_by(|a, b| b.cmp(a));
    let mut ends: std::collections::BinaryHeap<std::cmp::Reverse<u64>> =
        std::iter::repeat_n(std::cmp::Reverse(0), slots.min(chains.len())).collect();
    let mut last = 0;
    for &length in chains.iter() {
        let std::cmp::Reverse(free) = ends.pop().unwrap_or(std::cmp::Reverse(0));
        let end = free.saturating_add(length);
        last = last.max(end);
        ends.push(std::cmp::Reverse(end));
    }
    last
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
