//! The split planner: no datapoint lost or duplicated at the cut points.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tilebox_core::split::{estimate_datapoints, parts_for, plan_parts, split_interval};
use tilebox_core::time::TimeInterval;

fn utc(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, 0, 0, 0).unwrap()
}

/// How the local server (and the hosted API, spec §7.1) matches: floor_ms(time) against ms-truncated bounds.
fn server_matches(interval: &TimeInterval, t: DateTime<Utc>) -> bool {
    let ms = t.timestamp_millis();
    let (s, e) = (
        interval.start().timestamp_millis(),
        interval.end().timestamp_millis(),
    );
    let after_start = if interval.start_exclusive() {
        ms > s
    } else {
        ms >= s
    };
    let before_end = if interval.end_inclusive() {
        ms <= e
    } else {
        ms < e
    };
    after_start && before_end
}

/// Exact matching at full precision.
fn exact_matches(interval: &TimeInterval, t: DateTime<Utc>) -> bool {
    interval.contains(t)
}

/// Checks that every time in `times` matches the whole interval iff it matches exactly one part, under both
/// matching rules, and that the parts are ordered and contiguous.
fn check(interval: &TimeInterval, parts: &[TimeInterval], times: &[DateTime<Utc>]) {
    assert!(!parts.is_empty());
    assert_eq!(parts[0].start(), interval.start());
    assert_eq!(parts[0].start_exclusive(), interval.start_exclusive());
    let last = parts.last().unwrap();
    assert_eq!(last.end(), interval.end());
    assert_eq!(last.end_inclusive(), interval.end_inclusive());
    for w in parts.windows(2) {
        assert_eq!(w[0].end(), w[1].start(), "contiguous");
        assert!(
            !w[0].end_inclusive() && !w[1].start_exclusive(),
            "inner cuts are [a, b)"
        );
        assert_eq!(
            w[0].end().timestamp_subsec_nanos() % 1_000_000,
            0,
            "cut on a millisecond boundary"
        );
        assert!(w[0].start() < w[0].end());
    }
    for rule in [
        server_matches as fn(&TimeInterval, DateTime<Utc>) -> bool,
        exact_matches,
    ] {
        for &t in times {
            let whole = rule(interval, t);
            let hits = parts.iter().filter(|p| rule(p, t)).count();
            assert_eq!(
                hits,
                usize::from(whole),
                "t={t:?} interval={interval} parts={parts:?}"
            );
        }
    }
}

fn times_around(points: &[DateTime<Utc>]) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for &p in points {
        for d in [
            -1_000_001i64,
            -1_000_000,
            -999_999,
            -1,
            0,
            1,
            999_999,
            1_000_000,
            1_000_001,
        ] {
            out.push(p + TimeDelta::nanoseconds(d));
        }
    }
    out
}

#[test]
fn splits_a_year_into_parts_without_loss_or_duplicates() {
    let interval = TimeInterval::new(utc(2020, 1, 1), utc(2021, 1, 1)).unwrap();
    for n in [2, 3, 4, 7, 8, 16] {
        let parts = split_interval(&interval, n, None);
        assert_eq!(parts.len(), n);
        let mut points: Vec<_> = parts.iter().map(|p| p.start()).collect();
        points.push(interval.end());
        check(&interval, &parts, &times_around(&points));
    }
}

#[test]
fn keeps_outer_flags() {
    let start = utc(2020, 1, 1) + TimeDelta::microseconds(1500); // sub-millisecond start
    let end = utc(2020, 1, 2) + TimeDelta::microseconds(2700);
    for (se, ei) in [(false, false), (true, false), (false, true), (true, true)] {
        let interval = TimeInterval::with_bounds(start, end, se, ei).unwrap();
        let parts = split_interval(&interval, 5, None);
        assert_eq!(parts.len(), 5);
        let mut points: Vec<_> = parts.iter().map(|p| p.start()).collect();
        points.extend([interval.end(), start, end]);
        check(&interval, &parts, &times_around(&points));
    }
}

#[test]
fn tiny_intervals_split_into_fewer_parts() {
    let t = utc(2020, 1, 1);
    // a single instant [t, t] cannot be cut
    let instant = TimeInterval::instant(t).unwrap();
    assert_eq!(split_interval(&instant, 4, None), vec![instant]);
    // 3 ms half-open: at most 3 parts
    let small = TimeInterval::new(t, t + TimeDelta::milliseconds(3)).unwrap();
    let parts = split_interval(&small, 10, None);
    assert_eq!(parts.len(), 3);
    check(
        &small,
        &parts,
        &times_around(&[
            t,
            t + TimeDelta::milliseconds(1),
            t + TimeDelta::milliseconds(2),
            t + TimeDelta::milliseconds(3),
        ]),
    );
    // sub-millisecond interval: no cut possible
    let sub = TimeInterval::new(t, t + TimeDelta::microseconds(500)).unwrap();
    assert_eq!(split_interval(&sub, 4, None).len(), 1);
    // empty and n <= 1
    let empty = TimeInterval::new(t, t).unwrap();
    assert_eq!(split_interval(&empty, 4, None).len(), 1);
    let year = TimeInterval::new(utc(2020, 1, 1), utc(2021, 1, 1)).unwrap();
    assert_eq!(split_interval(&year, 1, None), vec![year]);
    assert_eq!(split_interval(&year, 0, None), vec![year]);
}

#[test]
fn density_hint_moves_cuts_not_bounds() {
    let interval = TimeInterval::new(utc(2000, 1, 1), utc(2030, 1, 1)).unwrap();
    let hint = (utc(2020, 1, 1), utc(2020, 12, 31));
    let parts = split_interval(&interval, 4, Some(hint));
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[0].start(), interval.start());
    assert_eq!(parts[3].end(), interval.end());
    for p in &parts[1..] {
        assert!(
            p.start() >= hint.0 && p.start() <= hint.1,
            "cut {} inside the populated span",
            p.start()
        );
    }
    let mut points: Vec<_> = parts.iter().map(|p| p.start()).collect();
    points.push(interval.end());
    check(&interval, &parts, &times_around(&points));
    // a hint outside the interval is ignored
    let parts = split_interval(&interval, 4, Some((utc(1990, 1, 1), utc(1991, 1, 1))));
    assert_eq!(parts.len(), 4);
}

/// Simulates datapoints at every 7.3 ms over a day and checks the concatenation of the parts' results equals
/// the whole result, element for element (order included).
#[test]
fn concatenation_equals_whole() {
    let start = utc(2020, 5, 1);
    let interval = TimeInterval::new(start, start + TimeDelta::seconds(3)).unwrap();
    let times: Vec<_> = (0..500)
        .map(|i| start - TimeDelta::milliseconds(50) + TimeDelta::microseconds(i * 7300))
        .collect();
    let whole: Vec<_> = times
        .iter()
        .filter(|t| server_matches(&interval, **t))
        .collect();
    for n in [2, 3, 8, 13] {
        let parts = split_interval(&interval, n, None);
        let concatenated: Vec<_> = parts
            .iter()
            .flat_map(|p| times.iter().filter(move |t| server_matches(p, **t)))
            .collect();
        assert_eq!(concatenated, whole, "n={n}");
    }
}

#[test]
fn parts_and_estimates() {
    assert_eq!(parts_for(8, None, 2000), 8);
    assert_eq!(parts_for(8, Some(0), 2000), 1);
    assert_eq!(parts_for(8, Some(2000), 2000), 1);
    assert_eq!(parts_for(8, Some(2001), 2000), 2);
    assert_eq!(parts_for(8, Some(1_000_000), 2000), 8);
    assert_eq!(parts_for(0, Some(1_000_000), 2000), 1);
    // More pages than parts: as few requests as chains of the shortest possible length need, each part
    // 10% under whole pages (the seed workload's L1TP, L2SP, L1GT).
    assert_eq!(parts_for(8, Some(65_313), 2000), 8);
    assert_eq!(parts_for(8, Some(25_375), 2000), 8);
    assert_eq!(parts_for(8, Some(19_624), 2000), 6);
    for (max, n) in [(8, 16_001), (3, 100_000), (16, 1_000_000), (1, 5000)] {
        let parts = parts_for(max, Some(n), 2000) as u64;
        assert!(parts >= 1 && parts <= max as u64, "{max} {n}: {parts}");
        let shortest_chain = n.div_ceil(2000).div_ceil(max as u64);
        let chain = n.div_ceil(parts).div_ceil(2000);
        assert!(
            chain <= shortest_chain + 1,
            "{max} {n}: chain {chain} vs {shortest_chain}"
        );
    }
    let year = TimeInterval::new(utc(2020, 1, 1), utc(2021, 1, 1)).unwrap();
    let avail = TimeInterval::with_bounds(utc(2019, 1, 1), utc(2021, 1, 1), false, true).unwrap();
    let est = estimate_datapoints(&year, &avail, 1000);
    assert!((495..=505).contains(&est), "{est}");
    assert_eq!(estimate_datapoints(&year, &TimeInterval::empty(), 1000), 0);
}

#[test]
fn plan_shares_the_requests_in_flight_by_size() {
    // The seed workload (L1GT, L1T, L1TP, L2SP) with 16 in flight. With 10% room its pages fill 16 slots
    // for 4 rounds exactly, so the plan takes 5: L1TP in 13 chains of 3 pages, L2SP in 3 of 5, and L1GT's
    // and L1T's 12 one-page parts on the slots L1TP frees. (Per collection, 8 or 16 parts each would take
    // 5 rounds too, with more requests; the demo's availability-based estimates are 4% lower and get 4.)
    let seed = [Some(19_624), Some(1_281), Some(65_313), Some(25_375)];
    assert_eq!(plan_parts(&seed, 16, 2000), vec![11, 1, 13, 3]);
    assert_eq!(
        plan_parts(
            &[Some(18_900), Some(1_234), Some(62_900), Some(24_440)],
            16,
            2000
        ),
        vec![11, 1, 9, 7]
    );
    // 32 in flight: 3 rounds.
    assert_eq!(plan_parts(&seed, 32, 2000), vec![11, 1, 19, 5]);
    // 8 in flight: longer chains, one part per slot, L1T after one of L1GT's parts.
    assert_eq!(plan_parts(&seed, 8, 2000), vec![2, 1, 4, 3]);
    // As many collections as slots: the largest still splits while small ones run one after another.
    let four = plan_parts(&seed, 4, 2000);
    assert!(four[2] >= 2 && four[1] == 1, "{four:?}");
    // More collections than slots: one part each.
    assert_eq!(plan_parts(&seed, 3, 2000), vec![1, 1, 1, 1]);
    // Unknown sizes get every slot and stay out of the plan; empty ones one part.
    let without = plan_parts(&[Some(19_624), Some(0), Some(25_375)], 16, 2000);
    assert_eq!(without[1], 1);
    assert_eq!(
        plan_parts(&[Some(19_624), None, Some(0), Some(25_375)], 16, 2000),
        vec![without[0], 16, 1, without[2]]
    );
    // One collection: the same as parts_for.
    for (slots, n) in [
        (8, 65_313),
        (16, 1_000_000),
        (3, 100_000),
        (1, 5000),
        (8, 0),
    ] {
        assert_eq!(
            plan_parts(&[Some(n)], slots, 2000),
            vec![parts_for(slots, Some(n), 2000)],
            "{slots} {n}"
        );
    }
    // Large loads: the long chains take the slots by size, a tiny load runs after one of them.
    let big = plan_parts(&[Some(2_000_000_000), Some(10), Some(50_000_000)], 64, 2000);
    assert!(
        big[0] + big[2] <= 64 && big[0] > 16 * big[2] && big[1] == 1,
        "{big:?}"
    );
}
