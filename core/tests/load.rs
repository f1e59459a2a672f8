//! The concurrent loading logic against an in-memory fake server: order, equality with sequential loading,
//! the concurrency limit, cancellation, errors, retries and progress.
#![allow(clippy::unwrap_used)]

mod fake;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use fake::Fake;
use futures::StreamExt;
use futures::executor::block_on;
use tilebox_core::load::{LoadJob, LoadSettings, PageFetcher, PageStream, load_jobs};
use tilebox_core::paging::QueryPlan;
use tilebox_core::split::split_interval;
use tilebox_core::time::{IntoTimeInterval, TimeInterval, uuid_to_wire};
use tilebox_core::wire::datasets::v1::{QueryFilters, QueryRequest};
use tilebox_core::{ProgressEvent, ProgressListener};
use uuid::Uuid;

fn year() -> TimeInterval {
    ("2020-01-01", "2021-01-01").into_time_interval().unwrap()
}

fn job(fake: &Fake, collection: usize, interval: &TimeInterval, parts: usize) -> LoadJob {
    let request = QueryRequest {
        collection_ids: vec![uuid_to_wire(&Uuid::from_u128(0xC0 + collection as u128))],
        filters: Some(QueryFilters {
            time_interval: Some(interval.to_wire()),
            ..Default::default()
        }),
        page: None,
        skip_data: false,
        dataset_id: Some(uuid_to_wire(&fake.dataset_id)),
    };
    LoadJob {
        label: format!("C{collection}"),
        request,
        segments: split_interval(interval, parts, None),
        page_size: None,
    }
}

fn fetcher(fake: &Arc<Fake>) -> Arc<dyn PageFetcher> {
    Arc::new(fake.rpc())
}

const SIZES: [usize; 4] = [3000, 500, 0, 4100];

#[test]
fn results_in_input_order_and_identical_to_sequential() {
    let fake = Fake::new(&SIZES, 100);
    let interval = year();
    let order = [3usize, 0, 2, 1];
    // sequential: one collection after another, one page at a time
    let sequential: Vec<_> = order
        .iter()
        .map(|&c| {
            block_on(load_jobs(
                fetcher(&fake),
                vec![job(&fake, c, &interval, 1)],
                LoadSettings::new(1),
            ))
            .pop()
            .unwrap()
            .unwrap()
        })
        .collect();
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 1);
    // concurrent: all collections, 8 sub-intervals each, 4 requests in flight
    let jobs = order.iter().map(|&c| job(&fake, c, &interval, 8)).collect();
    let concurrent = block_on(load_jobs(fetcher(&fake), jobs, LoadSettings::new(4)));
    assert_eq!(concurrent.len(), order.len());
    for ((&c, seq), conc) in order.iter().zip(&sequential).zip(concurrent) {
        let conc = conc.unwrap();
        let expected = fake.expected(&[&format!("C{c}")], &interval);
        assert_eq!(seq.values, expected, "sequential C{c}");
        assert_eq!(
            conc.values, expected,
            "concurrent C{c}: same datapoints in the same order"
        );
        if SIZES[c] > 0 {
            assert_eq!(conc.type_url, fake::TYPE_URL);
            // the 2 points outside 2020 are excluded
            assert_eq!(conc.values.len(), SIZES[c]);
        } else {
            assert!(conc.values.is_empty());
        }
    }
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 4);
}

#[test]
fn concurrency_limit_is_respected() {
    for limit in [1usize, 2, 3, 5, 16] {
        let fake = Fake::new(&SIZES, 50);
        let jobs = (0..4).map(|c| job(&fake, c, &year(), 6)).collect();
        let results = block_on(load_jobs(fetcher(&fake), jobs, LoadSettings::new(limit)));
        assert!(results.iter().all(Result::is_ok));
        let max = fake.max_in_flight.load(Ordering::SeqCst);
        // 4 jobs x 6 segments = 24 independent chains: the limit is reached but never exceeded
        assert_eq!(max, limit.min(24), "limit {limit}");
        assert_eq!(fake.in_flight.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn dropping_the_future_cancels_everything() {
    let fake = Fake::new(&SIZES, 50);
    fake.hold.store(true, Ordering::SeqCst);
    let jobs = (0..4).map(|c| job(&fake, c, &year(), 4)).collect();
    let mut load = Box::pin(load_jobs(fetcher(&fake), jobs, LoadSettings::new(3)));
    block_on(async {
        for _ in 0..20 {
            assert!(futures::poll!(load.as_mut()).is_pending());
        }
    });
    assert_eq!(
        fake.in_flight.load(Ordering::SeqCst),
        3,
        "three requests pending"
    );
    let started = fake.started.load(Ordering::SeqCst);
    assert_eq!(started, 3);
    drop(load);
    assert_eq!(
        fake.in_flight.load(Ordering::SeqCst),
        0,
        "pending requests dropped with the future"
    );
    fake.hold.store(false, Ordering::SeqCst);
    assert_eq!(
        fake.started.load(Ordering::SeqCst),
        started,
        "no further requests"
    );
    assert_eq!(fake.completed.load(Ordering::SeqCst), 0);
}

#[test]
fn a_failing_job_does_not_affect_the_others() {
    let fake = Fake::new(&SIZES, 100);
    let mut bad = job(&fake, 0, &year(), 3);
    bad.request.dataset_id = Some(uuid_to_wire(&Uuid::from_u128(0xBAD)));
    let jobs = vec![job(&fake, 0, &year(), 3), bad, job(&fake, 1, &year(), 3)];
    let results = block_on(load_jobs(fetcher(&fake), jobs, LoadSettings::new(4)));
    assert_eq!(results[0].as_ref().unwrap().values.len(), SIZES[0]);
    assert!(
        results[1].as_ref().unwrap_err().is_not_found(),
        "{:?}",
        results[1]
    );
    assert_eq!(results[2].as_ref().unwrap().values.len(), SIZES[1]);
}

#[test]
fn retries_unavailable_pages() {
    let fake = Fake::new(&SIZES, 100);
    fake.fail_queries.store(2, Ordering::SeqCst); // < max_attempts (3) per request
    let result = block_on(load_jobs(
        fetcher(&fake),
        vec![job(&fake, 1, &year(), 1)],
        LoadSettings::new(2),
    ));
    assert_eq!(
        result[0].as_ref().unwrap().values,
        fake.expected(&["C1"], &year())
    );
}

#[derive(Default)]
struct Recorder(Mutex<Vec<ProgressEvent>>);

impl ProgressListener for Recorder {
    fn on_progress(&self, event: &ProgressEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[test]
fn progress_per_collection() {
    let fake = Fake::new(&SIZES, 100);
    let recorder = Arc::new(Recorder::default());
    let jobs = (0..4).map(|c| job(&fake, c, &year(), 4)).collect();
    let mut settings = LoadSettings::new(3).progress(Some(recorder.clone()));
    settings.now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let results = block_on(load_jobs(fetcher(&fake), jobs, settings));
    let events = recorder.0.lock().unwrap();
    for (c, result) in results.iter().enumerate() {
        let values = &result.as_ref().unwrap().values;
        let mine: Vec<&ProgressEvent> = events
            .iter()
            .filter(|e| e.label == format!("C{c}"))
            .collect();
        assert!(mine.len() >= 2, "C{c}: initial and final events");
        for pair in mine.windows(2) {
            assert!(
                pair[1].fraction >= pair[0].fraction - 1e-12,
                "C{c}: fraction never decreases"
            );
            assert!(pair[1].datapoints >= pair[0].datapoints);
        }
        let last = mine.last().unwrap();
        assert!(last.done);
        assert_eq!(last.fraction, 1.0);
        assert_eq!(last.datapoints, values.len() as u64);
        assert_eq!(
            last.bytes,
            values.iter().map(|v| v.len() as u64).sum::<u64>()
        );
        assert_eq!(
            mine.iter().filter(|e| e.done).count(),
            1,
            "exactly one final event"
        );
        assert!(mine.iter().all(|e| (0.0..=1.0).contains(&e.fraction)));
    }
}

#[test]
fn page_stream_prefetches_one_page() {
    let fake = Fake::new(&[1000], 100);
    let request = job(&fake, 0, &year(), 1).request;
    let mut stream = PageStream::new(fetcher(&fake), QueryPlan::new(request, None));
    block_on(async {
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.data.unwrap().value.len(), 100);
        assert_eq!(
            fake.started.load(Ordering::SeqCst),
            2,
            "the second page is already requested"
        );
        let mut count = 100;
        while let Some(page) = stream.next().await {
            count += page.unwrap().data.unwrap().value.len();
        }
        assert_eq!(count, 1000);
    });
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(fake.started.load(Ordering::SeqCst), 10);
}

#[test]
fn runs_on_other_threads_and_executors() {
    fn assert_send<T: Send + 'static>(t: T) -> T {
        t
    }
    let fake = Fake::new(&SIZES, 100);
    let jobs: Vec<LoadJob> = (0..4).map(|c| job(&fake, c, &year(), 2)).collect();
    let fut = assert_send(load_jobs(fetcher(&fake), jobs, LoadSettings::new(4)));
    let results = std::thread::spawn(move || block_on(fut)).join().unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r.as_ref().unwrap().values.len())
            .collect::<Vec<_>>(),
        SIZES.to_vec()
    );
}

/// While a page waits to be retried, the job's progress listener gets an event saying so (progress bars show
/// the wait); the load then completes with the full result.
#[test]
fn retry_waits_are_reported_as_progress() {
    let fake = Fake::new(&SIZES, 100);
    fake.fail_queries.store(2, Ordering::SeqCst);
    let recorder = Arc::new(Recorder::default());
    let settings = LoadSettings::new(1).progress(Some(recorder.clone()));
    let result = block_on(load_jobs(
        fetcher(&fake),
        vec![job(&fake, 1, &year(), 1)],
        settings,
    ));
    assert_eq!(
        result[0].as_ref().unwrap().values,
        fake.expected(&["C1"], &year())
    );
    let events = recorder.0.lock().unwrap();
    let waits: Vec<u32> = events
        .iter()
        .filter_map(|e| e.retrying.as_ref().map(|r| r.attempt))
        .collect();
    assert_eq!(waits, vec![1, 2]);
    assert!(events.iter().all(|e| e.label == "C1"));
    assert!(events.last().unwrap().done && events.last().unwrap().retrying.is_none());
}
