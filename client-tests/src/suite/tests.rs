//! The shared client tests, generic over [`Api`]; [`client_suite!`](crate::client_suite) instantiates them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tilebox_core::wire::datasets::v1::SpatioTemporalDatapoint;
use tilebox_core::{
    Datapoints, DatasetKind, DatasetSpec, Error, FieldSpec, FieldType, ProgressEvent, QueryOptions,
    RetryPolicy,
};

use super::api::{Api, Setup};
use super::servers;
use super::wrappers::{Counting, Stats, Unavailable};

/// The demo Landsat dataset.
pub const LANDSAT: &str = "open_data.copernicus.landsat8_oli_tirs";
/// The demo Sentinel-1 dataset.
pub const SENTINEL1: &str = "open_data.copernicus.sentinel1_sar";
/// The seed workload: Landsat collections and their datapoints in 2020.
pub const SEED: [(&str, usize); 4] = [
    ("L1GT", 19624),
    ("L1T", 1281),
    ("L1TP", 65313),
    ("L2SP", 25375),
];

/// Options over the year 2020.
pub fn year_2020() -> QueryOptions {
    QueryOptions::new(("2020-01-01", "2021-01-01"))
}

fn demo<A: Api>() -> A {
    A::build(Setup::new(servers::demo()))
}

fn seed_collections<A: Api>(api: &A) -> Vec<A::Collection> {
    let dataset = api.dataset(LANDSAT).expect("landsat dataset");
    SEED.iter()
        .map(|(name, _)| api.collection(&dataset, name).expect("collection"))
        .collect()
}

fn ids(data: &Datapoints) -> Vec<uuid::Uuid> {
    data.ids().expect("ids decode")
}

/// `datasets()` returns the group tree, navigable by dotted path.
pub fn dataset_tree<A: Api>() {
    let api = demo::<A>();
    let tree = api.datasets().expect("datasets");
    let landsat = tree.get(LANDSAT).expect("landsat in the tree");
    assert_eq!(landsat.slug(), LANDSAT);
    assert_eq!(landsat.code_name(), "landsat8_oli_tirs");
    assert!(tree.get(SENTINEL1).is_some());
    let copernicus = tree
        .group("open_data.copernicus")
        .expect("group open_data.copernicus");
    let mut names: Vec<&str> = copernicus.datasets().map(|d| d.code_name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["landsat8_oli_tirs", "sentinel1_sar"]);
    assert!(tree.get("open_data.copernicus.nope").is_none());
    let dataset = api.dataset(LANDSAT).expect("dataset by slug");
    assert_eq!(A::core_dataset(&dataset).id(), landsat.id());
    assert_eq!(
        A::core_dataset(&dataset).kind(),
        DatasetKind::Spatiotemporal
    );
}

/// `collections()`, `collection(name)` and `info()` (availability and count).
pub fn collections_and_info<A: Api>() {
    let api = demo::<A>();
    let dataset = api.dataset(LANDSAT).expect("dataset");
    let collections = api.collections(&dataset).expect("collections");
    let mut names: Vec<String> = collections
        .iter()
        .map(|c| A::core_collection(c).name().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["L1GT", "L1T", "L1TP", "L2SP"]);
    let start_2020 = Utc
        .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .expect("date");
    let end_2020 = Utc
        .with_ymd_and_hms(2021, 1, 1, 0, 0, 0)
        .single()
        .expect("date");
    for (name, in_2020) in SEED {
        let collection = api.collection(&dataset, name).expect("collection");
        let info = A::info(&collection);
        assert_eq!(info.name, name);
        let count = info.count.expect("count requested");
        assert!(
            count >= in_2020 as u64,
            "{name}: {count} total vs {in_2020} in 2020"
        );
        let availability = info.availability.expect("availability requested");
        assert!(
            availability.start() < start_2020 + chrono::TimeDelta::days(7),
            "{name}: {availability:?}"
        );
        assert!(
            availability.end() > end_2020 - chrono::TimeDelta::days(7),
            "{name}: {availability:?}"
        );
        let refreshed = api.refresh_info(&collection).expect("refresh");
        assert_eq!(refreshed.count, Some(count));
    }
}

/// The seed workload gives the exact counts sequentially (one collection after another, pages one by one)
/// and concurrently (`load_collections` with parallel paging: 4 parts per collection, and the automatic
/// plan sharing 16 requests in flight by collection size), datapoint for datapoint identical.
pub fn seed_workload_sequential_equals_concurrent<A: Api>() {
    let api = demo::<A>();
    let collections = seed_collections(&api);
    let sequential: Vec<Datapoints> = collections
        .iter()
        .map(|c| {
            api.query(c, &year_2020().parallel_pages(1).concurrency(1))
                .expect("sequential query")
        })
        .collect();
    for ((name, count), data) in SEED.iter().zip(&sequential) {
        assert_eq!(data.len(), *count, "{name} sequential");
    }
    for options in [year_2020().parallel_pages(4), year_2020().concurrency(16)] {
        let concurrent = api.load_collections(&collections, &options);
        assert_eq!(concurrent.len(), SEED.len());
        for (((name, count), seq), conc) in SEED.iter().zip(&sequential).zip(concurrent) {
            let conc = conc.expect("concurrent load");
            assert_eq!(conc.len(), *count, "{name} concurrent ({options:?})");
            assert!(
                conc.values() == seq.values(),
                "{name}: concurrent result differs from sequential ({options:?})"
            );
            assert_eq!(conc.type_url(), seq.type_url());
        }
    }
}

/// Parallel paging of one large interval returns the same datapoints in the same order, and so does the
/// page stream/iterator.
pub fn parallel_paging_equals_sequential<A: Api>() {
    let api = demo::<A>();
    let dataset = api.dataset(LANDSAT).expect("dataset");
    let l1tp = api.collection(&dataset, "L1TP").expect("L1TP");
    let options = year_2020().page_size(3000);
    let sequential = api
        .query(&l1tp, &options.clone().parallel_pages(1))
        .expect("sequential");
    assert_eq!(sequential.len(), 65313);
    for parts in [2, 7, 16] {
        let parallel = api
            .query(&l1tp, &options.clone().parallel_pages(parts))
            .expect("parallel");
        assert!(
            parallel.values() == sequential.values(),
            "parallel_pages({parts}) differs from sequential"
        );
    }
    let pages = api.pages(&l1tp, &options, usize::MAX);
    assert_eq!(pages.len(), 65313usize.div_ceil(3000));
    let mut joined: Option<Datapoints> = None;
    for page in pages {
        let page = page.expect("page");
        assert!(page.len() <= 3000);
        match &mut joined {
            Some(all) => all.extend(page),
            None => joined = Some(page),
        }
    }
    assert!(
        joined.expect("pages").values() == sequential.values(),
        "pages differ from the query"
    );
}

/// Typed (`query_into`) and dynamic (`records`) results agree; `skip_data` returns the same datapoints.
pub fn typed_dynamic_and_skip_data<A: Api>() {
    let api = demo::<A>();
    let dataset = api.dataset(LANDSAT).expect("dataset");
    let l1t = api.collection(&dataset, "L1T").expect("L1T");
    let data = api.query(&l1t, &year_2020()).expect("query");
    assert_eq!(data.len(), 1281);
    let metas = data.metas().expect("metas");
    let records = data.records().expect("dynamic records");
    let typed: Vec<SpatioTemporalDatapoint> = api.query_into(&l1t, &year_2020()).expect("typed");
    assert_eq!(typed.len(), 1281);
    let start = Utc
        .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .expect("date");
    let end = Utc
        .with_ymd_and_hms(2021, 1, 1, 0, 0, 0)
        .single()
        .expect("date");
    for ((meta, record), typed) in metas.iter().zip(&records).zip(&typed) {
        assert_eq!(record.id(), Some(meta.id));
        assert_eq!(record.time(), Some(meta.time));
        assert!(meta.time >= start && meta.time < end);
        assert!(record.ingestion_time().is_some());
        let granule = record.get_str("granule_name").expect("granule_name");
        assert!(granule.starts_with("LC08_"), "{granule}");
        let typed_time = typed.time.as_ref().expect("typed time");
        assert_eq!(typed_time.seconds, meta.time.timestamp());
        let typed_id = typed.id.as_ref().expect("typed id");
        assert_eq!(typed_id.uuid.as_ref(), meta.id.as_bytes());
        assert!(typed.geometry.is_some());
    }
    assert!(metas.windows(2).all(|w| w[0].id < w[1].id), "ordered by id");
    let skipped = api
        .query(&l1t, &year_2020().skip_data(true))
        .expect("skip_data");
    assert_eq!(ids(&skipped), ids(&data));
    assert!(skipped.bytes() < data.bytes());
    assert!(
        skipped
            .records()
            .expect("records")
            .iter()
            .all(|r| r.get_str("granule_name").unwrap_or_default().is_empty())
    );
}

/// `dataset.query` across chosen collections (ordered by id) and a different dataset and interval.
pub fn dataset_query<A: Api>() {
    let api = demo::<A>();
    let landsat = api.dataset(LANDSAT).expect("dataset");
    let both = api
        .dataset_query(&landsat, &year_2020().collections(["L1T", "L1GT"]))
        .expect("dataset query");
    assert_eq!(both.len(), 1281 + 19624);
    let both_ids = ids(&both);
    assert!(
        both_ids.windows(2).all(|w| w[0] < w[1]),
        "ordered by id across collections"
    );
    let sentinel = api.dataset(SENTINEL1).expect("sentinel-1");
    let may = api
        .dataset_query(
            &sentinel,
            &QueryOptions::new(("2022-05-01", "2022-06-01")).skip_data(true),
        )
        .expect("sentinel query");
    assert_eq!(may.len(), 4650);
}

/// Server-side filters from the core's builder, at collection and dataset level: the result is the
/// client-side evaluation of the same predicate over the unfiltered query; an invalid filter fails before any
/// request; an empty interval is an empty result.
pub fn filter_expressions<A: Api>() {
    use tilebox_core::filter::{enum_name, field};
    let api = demo::<A>();
    let landsat = api.dataset(LANDSAT).expect("dataset");
    let l1t = api.collection(&landsat, "L1T").expect("L1T");
    let all = api.query(&l1t, &year_2020()).expect("query");
    let records = all.records().expect("records");
    let expected: Vec<uuid::Uuid> = records
        .iter()
        .filter(|r| {
            let cloud = r
                .get("cloud_cover")
                .and_then(|v| v.as_f64())
                .expect("cloud");
            let path = r.get("path").and_then(|v| v.as_i64()).expect("path");
            cloud < 25.0 && path <= 100
        })
        .map(|r| r.id().expect("id"))
        .collect();
    assert!(!expected.is_empty() && expected.len() < records.len());
    let filter = field("cloud_cover").lt(25) & !field("path").gt(100);
    let options = year_2020().filter(filter.clone()).page_size(50);
    assert_eq!(ids(&api.query(&l1t, &options).expect("filtered")), expected);
    let at_dataset = year_2020()
        .collections(["L1T"])
        .filter(filter)
        .filter(field("processing_level").eq(enum_name("PROCESSING_LEVEL_L1")))
        .skip_data(true);
    assert_eq!(
        ids(&api
            .dataset_query(&landsat, &at_dataset)
            .expect("dataset filtered")),
        expected
    );
    let err = api
        .query(&l1t, &year_2020().filter(field("cloud_cover").lt(f64::NAN)))
        .expect_err("NaN is rejected");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let err = api
        .query(&l1t, &year_2020().filter(field("not_a_field").eq(1)))
        .expect_err("unknown field");
    assert!(err.to_string().contains("not_a_field"), "{err}");
    let empty = QueryOptions::new(("2020-06-01", "2020-06-01"));
    assert!(api.query(&l1t, &empty).expect("empty interval").is_empty());
}

/// `find(id)` on a collection and on a dataset, with and without data.
pub fn find_by_id<A: Api>() {
    let api = demo::<A>();
    let dataset = api.dataset(LANDSAT).expect("dataset");
    let l1t = api.collection(&dataset, "L1T").expect("L1T");
    let l1gt = api.collection(&dataset, "L1GT").expect("L1GT");
    let data = api.query(&l1t, &year_2020()).expect("query");
    let id = ids(&data)[100];
    let found = api.find(&l1t, id, false).expect("find");
    assert_eq!(found.value(), &data.values()[100]);
    assert_eq!(found.meta().expect("meta").id, id);
    let light = api.find(&l1t, id, true).expect("find skip_data");
    assert_eq!(light.meta().expect("meta").id, id);
    assert!(light.value().len() < found.value().len());
    let via_dataset = api.dataset_find(&dataset, id, false).expect("dataset find");
    assert_eq!(via_dataset.value(), found.value());
    let err = api.find(&l1gt, id, false).expect_err("not in L1GT");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// A progress callback sees per-collection events ending in `done` with the full count; `show_progress`
/// (hidden when not a terminal) works alongside.
pub fn progress_callback<A: Api>() {
    let api = demo::<A>();
    let collections = seed_collections(&api);
    let events = Arc::new(Mutex::new(Vec::<ProgressEvent>::new()));
    let sink = Arc::clone(&events);
    let options = year_2020()
        .parallel_pages(3)
        .show_progress(true)
        .progress(Arc::new(move |event: &ProgressEvent| {
            sink.lock().expect("events").push(event.clone())
        }));
    let results = api.load_collections(&collections[..2], &options);
    assert!(results.iter().all(Result::is_ok));
    let events = events.lock().expect("events");
    for (name, count) in &SEED[..2] {
        let mine: Vec<&ProgressEvent> = events.iter().filter(|e| e.label == *name).collect();
        assert!(mine.len() >= 2, "{name}: {} events", mine.len());
        let last = mine.last().expect("an event");
        assert!(last.done, "{name}: last event is done");
        assert_eq!(last.datapoints, *count as u64);
        assert!((last.fraction - 1.0).abs() < 1e-9);
        assert!(mine.windows(2).all(|w| w[0].datapoints <= w[1].datapoints));
    }
}

/// A datapoint of the suite's own dataset (`time`=1 as in every temporal dataset, custom fields from 4).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Reading {
    /// Time.
    #[prost(message, optional, tag = "1")]
    pub time: Option<prost_types::Timestamp>,
    /// A label.
    #[prost(string, tag = "4")]
    pub label: String,
    /// A number.
    #[prost(int64, tag = "5")]
    pub number: i64,
}

/// Create/update a dataset, create/get-or-create/delete collections, ingest and delete in chunks.
pub fn create_ingest_delete<A: Api>() {
    let api = demo::<A>();
    let spec = DatasetSpec::new(DatasetKind::Temporal, "suite_readings")
        .name("Suite readings")
        .field(FieldSpec::new("label", FieldType::String))
        .field(FieldSpec::new("number", FieldType::Int64));
    let dataset = api.create_dataset(spec.clone()).expect("create dataset");
    let core = A::core_dataset(&dataset);
    let descriptor = core.schema().expect("schema").message_descriptor();
    assert_eq!(
        descriptor.get_field_by_name("label").map(|f| f.number()),
        Some(4)
    );
    assert_eq!(
        descriptor.get_field_by_name("number").map(|f| f.number()),
        Some(5)
    );
    let renamed = api
        .create_or_update_dataset(spec.name("Renamed readings"))
        .expect("update dataset");
    assert_eq!(A::core_dataset(&renamed).id(), core.id());
    assert_eq!(A::core_dataset(&renamed).name(), "Renamed readings");

    let batch = api
        .create_collection(&dataset, "batch")
        .expect("create collection");
    let again = api
        .get_or_create_collection(&dataset, "batch")
        .expect("get existing");
    assert_eq!(
        A::core_collection(&again).id(),
        A::core_collection(&batch).id()
    );
    let other = api
        .get_or_create_collection(&dataset, "other")
        .expect("create other");
    assert_ne!(
        A::core_collection(&other).id(),
        A::core_collection(&batch).id()
    );

    let start = Utc
        .with_ymd_and_hms(2023, 3, 1, 0, 0, 0)
        .single()
        .expect("date");
    let values: Vec<Reading> = (0..10_000i64)
        .map(|i| Reading {
            time: Some(tilebox_core::time::datetime_to_timestamp(
                &(start + chrono::TimeDelta::seconds(i)),
            )),
            label: format!("reading-{i}"),
            number: i * 3,
        })
        .collect();
    let summary = api
        .ingest(&batch, &values, false)
        .expect("ingest in chunks");
    assert_eq!(summary.num_created, 10_000);
    assert_eq!(summary.datapoint_ids.len(), 10_000);
    assert_eq!(A::info(&batch).count, Some(10_000));

    let all = api
        .query(&batch, &QueryOptions::new(("2023-03-01", "2023-03-02")))
        .expect("query back");
    let decoded: Vec<Reading> = all.decode_into().expect("typed");
    assert_eq!(decoded.len(), 10_000);
    assert!(
        decoded
            .iter()
            .zip(&values)
            .all(|(a, b)| a.label == b.label && a.number == b.number)
    );

    let dup = api
        .ingest(&batch, &values[..10], false)
        .expect_err("duplicates rejected");
    assert!(matches!(dup, Error::InvalidArgument { .. }), "{dup:?}");
    let allowed = api
        .ingest(&batch, &values[..10], true)
        .expect("duplicates allowed");
    assert_eq!((allowed.num_created, allowed.num_existing), (0, 10));

    let doomed = summary.datapoint_ids[..4000].to_vec();
    let deleted = api.delete(&batch, doomed.clone()).expect("delete");
    assert_eq!(deleted, 4000);
    assert_eq!(api.refresh_info(&batch).expect("info").count, Some(6000));
    let gone = api.find(&batch, doomed[0], false).expect_err("deleted");
    assert!(matches!(gone, Error::NotFound { .. }), "{gone:?}");

    api.delete_collection(&dataset, "other")
        .expect("delete collection");
    let missing = api
        .collection(&dataset, "other")
        .expect_err("deleted collection");
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");
    api.delete_dataset(&dataset).expect("delete dataset");
}

/// Not found: a dataset, a collection.
pub fn error_not_found<A: Api>() {
    let api = demo::<A>();
    let err = api
        .dataset("open_data.copernicus.nope")
        .expect_err("no such dataset");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let dataset = api.dataset(LANDSAT).expect("dataset");
    let err = api
        .collection(&dataset, "NOPE")
        .expect_err("no such collection");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// Unauthenticated with a wrong key (or none) on a server that requires one; the right key works.
pub fn error_unauthenticated<A: Api>() {
    for api in [
        A::build(Setup::new(servers::secured()).api_key("wrong-key")),
        A::build(Setup::new(servers::secured())),
    ] {
        let err = api.datasets().expect_err("rejected");
        assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
    }
    let api = A::build(Setup::new(servers::secured()).api_key(servers::SECURED_KEY));
    api.datasets().expect("the right key is accepted");
}

/// Invalid argument from the server (a collection name over its limit).
pub fn error_invalid_argument<A: Api>() {
    let api = demo::<A>();
    let dataset = api
        .create_dataset(
            DatasetSpec::new(DatasetKind::Temporal, "suite_invalid")
                .field(FieldSpec::new("x", FieldType::Int64)),
        )
        .expect("create dataset");
    let err = api
        .create_collection(&dataset, &"x".repeat(300))
        .expect_err("name too long");
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(
        err.to_string().contains("collection name"),
        "server message kept: {err}"
    );
}

/// Dropping a loading future mid-way abandons its in-flight requests and starts no more.
pub fn dropped_future_cancels_requests<A: Api>() {
    let stats = Stats::new();
    let counting = Arc::clone(&stats);
    let api = A::build(
        Setup::new(servers::slow())
            .concurrency(4)
            .wrap(move |t| Counting::wrap(t, counting)),
    );
    let collections = seed_collections(&api);
    let core_collections: Vec<tilebox_core::Collection> =
        collections.iter().map(A::core_collection).collect();
    let client = api.core_client();
    let options = year_2020().parallel_pages(4);
    let before = stats.started();
    let finished = api.run_until(
        client.load_collections(&core_collections, &options),
        &mut || stats.started() >= before + 4,
    );
    assert!(
        !finished,
        "the load cannot finish while its first requests wait on 150 ms latency"
    );
    assert_eq!(
        stats.in_flight(),
        0,
        "dropping the future abandoned every request"
    );
    assert!(stats.abandoned() >= 1);
    let after = stats.started();
    api.collection(&api.dataset(LANDSAT).expect("dataset"), "L1T")
        .expect("later calls work");
    assert_eq!(
        stats.started(),
        after + 2,
        "nothing of the dropped load kept running"
    );
}

/// Dropping a page stream/iterator after the first pages stops the query.
pub fn dropped_pages_stop<A: Api>() {
    let stats = Stats::new();
    let counting = Arc::clone(&stats);
    let api = A::build(Setup::new(servers::demo()).wrap(move |t| Counting::wrap(t, counting)));
    let dataset = api.dataset(LANDSAT).expect("dataset");
    let l1tp = api.collection(&dataset, "L1TP").expect("L1TP");
    let before = stats.started();
    let pages = api.pages(&l1tp, &year_2020().page_size(1000), 2);
    assert_eq!(pages.len(), 2);
    assert_eq!(stats.in_flight(), 0);
    let used = stats.started() - before;
    assert!(
        used <= 3,
        "two pages (plus at most one prefetch) of 66 were requested, got {used}"
    );
}

/// `unavailable` is retried up to the policy's attempt limit, then surfaces as `Error::Unavailable`.
pub fn retries_stop_at_limit<A: Api>() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&attempts);
    let retry = RetryPolicy::builder()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .build();
    let api = A::build(
        Setup::new(servers::demo())
            .retry(retry)
            .wrap(move |t| Unavailable::wrap(t, usize::MAX, counter)),
    );
    let err = api.dataset(LANDSAT).expect_err("always unavailable");
    match err {
        Error::Unavailable {
            attempts: n,
            ref message,
        } => {
            assert_eq!(n, 3);
            assert!(message.contains("busy"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

/// Transient `unavailable` answers are retried until the call succeeds.
pub fn retries_then_success<A: Api>() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&attempts);
    let retry = RetryPolicy::builder()
        .max_attempts(5)
        .initial_backoff(Duration::from_millis(1))
        .build();
    let api = A::build(
        Setup::new(servers::demo())
            .retry(retry)
            .wrap(move |t| Unavailable::wrap(t, 2, counter)),
    );
    let dataset = api.dataset(LANDSAT).expect("succeeds on the third attempt");
    assert_eq!(A::core_dataset(&dataset).slug(), LANDSAT);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

/// Over HTTPS, with the server's self-signed root added through the builder: listing, opening, querying,
/// finding and the concurrent seed load give exactly what plain HTTP gives.
pub fn tls_core_calls<A: Api>() {
    let (url, root) = servers::tls();
    let api = A::build(Setup::new(url).root_certificate(&root));
    let tree = api.datasets().expect("datasets over TLS");
    assert!(tree.get(LANDSAT).is_some());
    let dataset = api.dataset(LANDSAT).expect("dataset over TLS");
    let l1t = api
        .collection(&dataset, "L1T")
        .expect("collection over TLS");
    let data = api.query(&l1t, &year_2020()).expect("query over TLS");
    let plain = demo::<A>();
    let plain_l1t = plain
        .collection(&plain.dataset(LANDSAT).expect("dataset"), "L1T")
        .expect("L1T");
    let plain_data = plain.query(&plain_l1t, &year_2020()).expect("plain query");
    assert_eq!(data.len(), 1281);
    assert!(data.values() == plain_data.values(), "TLS and plain differ");
    let id = ids(&data)[7];
    let found = api.find(&l1t, id, false).expect("find over TLS");
    assert_eq!(found.value(), &data.values()[7]);
    let collections = seed_collections(&api);
    let loaded = api.load_collections(&collections, &year_2020().parallel_pages(4));
    for ((name, count), result) in SEED.iter().zip(loaded) {
        assert_eq!(
            result.expect("concurrent load over TLS").len(),
            *count,
            "{name}"
        );
    }
}

/// Over HTTPS without the server's root, or with another root, every call fails at once with a transport
/// error naming the certificate problem.
pub fn tls_untrusted_root_fails<A: Api>() {
    let (url, _) = servers::tls();
    let (other_root, _) = servers::self_signed();
    let once = || RetryPolicy::builder().max_attempts(1).build();
    for setup in [
        Setup::new(url.clone()).retry(once()),
        Setup::new(url).root_certificate(&other_root).retry(once()),
    ] {
        let api = A::build(setup);
        let err = api
            .datasets()
            .expect_err("an untrusted certificate is refused");
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(
            err.to_string().to_lowercase().contains("certificate"),
            "the error names the certificate problem: {err}"
        );
    }
}

/// Expands to one `#[test]` per suite test for the [`Api`] implementation `$api`, against servers on
/// SQLite; `client_suite!($api, postgres)` expands to the same tests (but the restart test, which restarts a
/// server process on its SQLite file) against servers on PostgreSQL
/// ([`use_postgres`](crate::suite::servers::use_postgres)), skipped, printing `SKIPPED:` lines, only when there
/// is no PostgreSQL server.
#[macro_export]
macro_rules! client_suite {
    ($api:ty) => {
        $crate::client_suite!(@all $api, true);

        #[test]
        fn restart_mid_load() {
            $crate::suite::restart::restart_mid_load::<$api>();
        }
    };
    ($api:ty, postgres) => {
        $crate::client_suite!(@all $api, $crate::suite::servers::use_postgres());
    };
    (@all $api:ty, $ready:expr) => {
        $crate::client_suite!(@tests $api, $ready;
            dataset_tree, collections_and_info, seed_workload_sequential_equals_concurrent,
            parallel_paging_equals_sequential, typed_dynamic_and_skip_data, dataset_query, find_by_id,
            progress_callback, create_ingest_delete, error_not_found, error_unauthenticated,
            error_invalid_argument, dropped_future_cancels_requests, dropped_pages_stop, retries_stop_at_limit,
            retries_then_success, tls_core_calls, tls_untrusted_root_fails, arrow_seed_workload,
            arrow_all_kinds_round_trip, filter_expressions);
    };
    (@tests $api:ty, $ready:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                if !$ready {
                    return;
                }
                $crate::suite::$name::<$api>();
            }
        )*
    };
}
