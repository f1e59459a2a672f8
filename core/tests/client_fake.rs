//! The user-facing API end to end against the in-memory fake server (real-server tests live with the
//! clients).
#![allow(clippy::unwrap_used)]

mod fake;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use fake::{Fake, Synthetic};
use futures::StreamExt;
use futures::executor::block_on;
use prost::Message;
use tilebox_core::time::{DatapointInterval, IntoTimeInterval, TimeInterval};
use tilebox_core::wire::datasets::v1 as pb;
use tilebox_core::{
    DatasetKind, DatasetSpec, Error, FieldSpec, FieldType, IngestOptions, ProgressEvent,
    QueryOptions, SpatialExtent,
};

const SIZES: [usize; 4] = [3000, 500, 0, 4100];

fn year() -> TimeInterval {
    ("2020-01-01", "2021-01-01").into_time_interval().unwrap()
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn dataset_tree_and_collections() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    block_on(async {
        let tree = assert_send(client.datasets()).await.unwrap();
        let dataset = tree.get(fake::SLUG).expect("navigable by dotted path");
        assert_eq!(dataset.slug(), fake::SLUG);
        assert_eq!(dataset.type_url(), fake::TYPE_URL);
        assert_eq!(dataset.kind(), DatasetKind::Temporal);
        let group = tree.group("open_data").unwrap();
        assert_eq!(
            group
                .group("test")
                .unwrap()
                .dataset("synthetic")
                .unwrap()
                .id(),
            dataset.id()
        );
        assert!(tree.get("open_data.nope").is_none());
        assert!(tree.dataset("nope").unwrap_err().is_not_found());
        assert_eq!(tree.len(), 1);
        assert!(tree.to_string().contains("open_data/"));

        let dataset = client.dataset(fake::SLUG).await.unwrap();
        let collections = dataset.collections().await.unwrap();
        assert_eq!(
            collections.iter().map(|c| c.name()).collect::<Vec<_>>(),
            ["C0", "C1", "C2", "C3"]
        );
        let c0 = &collections[0];
        assert_eq!(c0.info().count, Some(3002));
        let availability = c0.info().availability.unwrap();
        assert!(availability.end_inclusive());
        assert!(collections[2].info().availability.unwrap().is_empty());
        assert!(collections[2].to_string().contains("<empty>"));

        let c1 = dataset.collection("C1").await.unwrap();
        assert_eq!(c1.id(), collections[1].id());
        let missing = dataset.collection("nope").await.unwrap_err();
        assert!(missing.is_not_found());
        assert!(missing.to_string().contains("nope"));

        assert!(client.dataset("missing").await.unwrap_err().is_not_found());

        let created = dataset.get_or_create_collection("NEW").await.unwrap();
        assert_eq!(created.info().count, Some(0));
        let again = dataset.get_or_create_collection("NEW").await.unwrap();
        assert_eq!(again.id(), created.id());
        dataset.delete_collection("NEW").await.unwrap();
        assert!(dataset.collection("NEW").await.unwrap_err().is_not_found());
    });
}

#[test]
fn query_typed_dynamic_and_meta() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    block_on(async {
        let dataset = client.dataset(fake::SLUG).await.unwrap();
        let c1 = dataset.collection("C1").await.unwrap();
        let options = QueryOptions::new(("2020-01-01", "2021-01-01"));
        let result = assert_send(c1.query(&options)).await.unwrap();
        assert_eq!(result.values(), fake.expected(&["C1"], &year()).as_slice());
        assert_eq!(result.len(), 500);
        assert_eq!(result.type_url(), fake::TYPE_URL);

        let typed: Vec<Synthetic> = result.decode_into().unwrap();
        assert!(typed.iter().all(|t| t.label.starts_with("c1-")));
        let typed2 = c1.query_into::<Synthetic>(&options).await.unwrap();
        assert_eq!(typed, typed2);

        let records = result.records().unwrap();
        let metas = result.metas().unwrap();
        assert_eq!(records.len(), 500);
        for ((record, meta), t) in records.iter().zip(&metas).zip(&typed) {
            assert_eq!(record.id(), Some(meta.id));
            assert_eq!(record.time(), Some(meta.time));
            assert_eq!(record.get_str("label").unwrap(), t.label);
        }
        // times ascending
        assert!(metas.windows(2).all(|w| w[0].id < w[1].id));

        // skip_data: only the common fields
        let skipped = c1
            .query(&QueryOptions::new(year()).skip_data(true))
            .await
            .unwrap();
        assert_eq!(skipped.len(), 500);
        assert!(
            skipped
                .decode_into::<Synthetic>()
                .unwrap()
                .iter()
                .all(|t| t.label.is_empty())
        );
        assert_eq!(skipped.ids().unwrap(), result.ids().unwrap());

        // single instant: exactly that millisecond
        let first = metas[0];
        let instant = c1.query(&QueryOptions::new(first.time)).await.unwrap();
        assert!(
            instant
                .metas()
                .unwrap()
                .iter()
                .all(|m| m.time.timestamp_millis() == first.time.timestamp_millis())
        );
        assert!(!instant.is_empty());

        // datapoint interval
        let ids = result.ids().unwrap();
        let by_id = c1
            .query(&QueryOptions::new(
                DatapointInterval::new(ids[10], ids[19]).unwrap(),
            ))
            .await
            .unwrap();
        assert_eq!(by_id.ids().unwrap(), ids[10..=19].to_vec());

        // invalid extent: InvalidInput before any request
        let before = fake.started.load(Ordering::SeqCst);
        let err = c1
            .query(&QueryOptions::new(("2020-01-01", "garbage")))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        assert!(QueryOptions::try_new(("2021-01-01", "2020-01-01")).is_err());
        assert_eq!(fake.started.load(Ordering::SeqCst), before);
    });
}

#[test]
fn parallel_paging_and_load_collections_equal_sequential() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    block_on(async {
        let dataset = client.dataset(fake::SLUG).await.unwrap();
        let collections = dataset.collections().await.unwrap();
        let sequential = QueryOptions::new(year()).concurrency(1);
        let mut expected = Vec::new();
        for c in &collections {
            expected.push(c.query(&sequential).await.unwrap().into_values());
        }
        let parallel = QueryOptions::new(year()).parallel_pages(8);
        for (c, exp) in collections.iter().zip(&expected) {
            assert_eq!(
                &c.query(&parallel).await.unwrap().into_values(),
                exp,
                "{}",
                c.name()
            );
        }
        fake.max_in_flight.store(0, Ordering::SeqCst);
        let loaded = assert_send(client.load_collections(&collections, &parallel)).await;
        assert_eq!(loaded.len(), collections.len());
        for (r, exp) in loaded.into_iter().zip(&expected) {
            assert_eq!(&r.unwrap().into_values(), exp);
        }
        assert_eq!(
            fake.max_in_flight.load(Ordering::SeqCst),
            4,
            "client concurrency (4) reached, not exceeded"
        );
        let limited = client
            .load_collections(&collections, &parallel.clone().concurrency(2))
            .await;
        assert!(limited.iter().all(Result::is_ok));
    });
}

#[test]
fn dataset_query_across_collections() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    block_on(async {
        let dataset = client.dataset(fake::SLUG).await.unwrap();
        let all = dataset.query(&QueryOptions::new(year())).await.unwrap();
        assert_eq!(
            all.values(),
            fake.expected(&["C0", "C1", "C2", "C3"], &year()).as_slice()
        );
        let chosen = dataset
            .query(
                &QueryOptions::new(year())
                    .collections(["C1", "C3"])
                    .parallel_pages(4),
            )
            .await
            .unwrap();
        assert_eq!(
            chosen.values(),
            fake.expected(&["C1", "C3"], &year()).as_slice()
        );
        let err = dataset
            .query(&QueryOptions::new(year()).collections(["C9"]))
            .await
            .unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().contains("C9"));
    });
}

#[test]
fn pages_stream_in_order() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    let events = Arc::new(Mutex::new(Vec::<ProgressEvent>::new()));
    let sink = events.clone();
    block_on(async {
        let c0 = client
            .dataset(fake::SLUG)
            .await
            .unwrap()
            .collection("C0")
            .await
            .unwrap();
        let options = QueryOptions::new(year()).page_size(250).progress(Arc::new(
            move |e: &ProgressEvent| sink.lock().unwrap().push(e.clone()),
        ));
        let stream = assert_send(c0.pages(&options));
        let pages: Vec<_> = stream.map(Result::unwrap).collect().await;
        assert_eq!(pages.len(), 12);
        assert!(pages.iter().all(|p| p.len() <= 250));
        let all: Vec<_> = pages.into_iter().flat_map(|p| p.into_values()).collect();
        assert_eq!(all, fake.expected(&["C0"], &year()));
        // a stream with an invalid extent yields the error
        let mut bad = c0.pages(&QueryOptions::new("nonsense"));
        assert!(matches!(
            bad.next().await,
            Some(Err(Error::InvalidInput { .. }))
        ));
        assert!(bad.next().await.is_none());
    });
    let events = events.lock().unwrap();
    let last = events.last().unwrap();
    assert!(last.done);
    assert_eq!(last.fraction, 1.0);
    assert_eq!(last.datapoints, 3000);
}

#[test]
fn find_by_id() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    block_on(async {
        let dataset = client.dataset(fake::SLUG).await.unwrap();
        let c1 = dataset.collection("C1").await.unwrap();
        let c0 = dataset.collection("C0").await.unwrap();
        let some = c1.query(&QueryOptions::new(year())).await.unwrap();
        let id = some.ids().unwrap()[7];
        let found = c1.find(id.to_string().as_str(), false).await.unwrap();
        assert_eq!(found.meta().unwrap().id, id);
        assert_eq!(found.record().unwrap().id(), Some(id));
        assert_eq!(
            found.decode_into::<Synthetic>().unwrap().label,
            some.decode_into::<Synthetic>().unwrap()[7].label
        );
        assert_eq!(
            dataset.find(id, false).await.unwrap().value(),
            found.value()
        );
        // in another collection: not found
        assert!(c0.find(id, false).await.unwrap_err().is_not_found());
        // malformed ids fail before any request
        let before = fake.started.load(Ordering::SeqCst);
        let err = c1.find("not-a-uuid", false).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
        assert_eq!(fake.started.load(Ordering::SeqCst), before);
    });
}

#[test]
fn ingest_and_delete_in_chunks() {
    let fake = Fake::new(&[0], 1000);
    let client = fake.client();
    let events = Arc::new(Mutex::new(Vec::<ProgressEvent>::new()));
    let sink = events.clone();
    block_on(async {
        let dataset = client.dataset(fake::SLUG).await.unwrap();
        let c = dataset.collection("C0").await.unwrap();
        let start = Utc.with_ymd_and_hms(2021, 6, 1, 0, 0, 0).unwrap();
        let values: Vec<Synthetic> = (0..20_000)
            .map(|i| Synthetic {
                time: Some(tilebox_core::time::datetime_to_timestamp(
                    &(start + chrono::TimeDelta::seconds(i)),
                )),
                label: format!("x{i}"),
                number: i,
                ..Default::default()
            })
            .collect();
        let options = IngestOptions::new().progress(Arc::new(move |e: &ProgressEvent| {
            sink.lock().unwrap().push(e.clone())
        }));
        let summary = assert_send(c.ingest_with(&values, &options)).await.unwrap();
        assert_eq!(summary.num_created, 20_000);
        assert_eq!(summary.datapoint_ids.len(), 20_000);
        let ingests = fake
            .methods()
            .iter()
            .filter(|m| m.ends_with("/Ingest"))
            .count();
        assert_eq!(ingests, 3, "chunks of 8192");
        assert_eq!(c.info().count, Some(20_000), "info refreshed after ingest");

        // duplicates: error without allow_existing, counted with it
        let err = c.ingest(&values[..10], false).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }));
        let again = c.ingest(&values[..10], true).await.unwrap();
        assert_eq!((again.num_created, again.num_existing), (0, 10));
        assert_eq!(again.datapoint_ids, summary.datapoint_ids[..10].to_vec());

        // delete by query result, in chunks
        let range = (start, start + chrono::TimeDelta::seconds(10_000))
            .into_time_interval()
            .unwrap();
        let loaded = c
            .query(&QueryOptions::new(range).skip_data(true))
            .await
            .unwrap();
        assert_eq!(loaded.len(), 10_000);
        let deleted = c.delete_datapoints(&loaded).await.unwrap();
        assert_eq!(deleted, 10_000);
        assert_eq!(
            fake.methods()
                .iter()
                .filter(|m| m.ends_with("/Delete"))
                .count(),
            2
        );
        assert_eq!(c.info().count, Some(10_000));
        // unknown ids: not found, nothing deleted
        assert!(
            c.delete([uuid::Uuid::from_u128(42)])
                .await
                .unwrap_err()
                .is_not_found()
        );
        // malformed ids: nothing sent
        assert!(matches!(
            c.delete(["bad"]).await,
            Err(Error::InvalidInput { .. })
        ));
    });
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 4, "one per chunk + final");
    assert!(events.last().unwrap().done);
    assert_eq!(events.last().unwrap().datapoints, 20_000);
}

#[test]
fn create_and_update_dataset() {
    let fake = Fake::new(&[1], 100);
    let client = fake.client();
    block_on(async {
        let spec = DatasetSpec::new(DatasetKind::Spatiotemporal, "my_dataset")
            .name("My dataset")
            .field(
                FieldSpec::new("platform", FieldType::String)
                    .description("Satellite")
                    .queryable(true),
            )
            .field(FieldSpec::new("bands", FieldType::Double).repeated());
        let dataset = client.create_or_update_dataset(spec.clone()).await.unwrap();
        assert_eq!(dataset.code_name(), "my_dataset");
        let methods = fake.methods();
        assert!(
            methods.iter().any(|m| m.ends_with("/GetDataset"))
                && methods.iter().any(|m| m.ends_with("/CreateDataset"))
        );
        let (_, body) = fake
            .requests
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(m, _)| m.ends_with("/CreateDataset"))
            .cloned()
            .unwrap();
        let req = pb::CreateDatasetRequest::decode(body).unwrap();
        let ty = req.r#type.unwrap();
        assert_eq!(ty.kind, DatasetKind::Spatiotemporal as i32);
        let names: Vec<_> = ty
            .fields
            .iter()
            .map(|f| f.descriptor.as_ref().unwrap().name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "time",
                "id",
                "ingestion_time",
                "geometry",
                "platform",
                "bands"
            ]
        );
        assert_eq!(
            ty.fields[1].descriptor.as_ref().unwrap().type_name(),
            ".datasets.v1.UUID"
        );
        assert!(ty.fields[4].annotation.as_ref().unwrap().queryable);
        assert_eq!(
            ty.fields[5].descriptor.as_ref().unwrap().label(),
            prost_types::field_descriptor_proto::Label::Repeated
        );
        // schema of the created dataset loads
        assert!(
            dataset
                .schema()
                .unwrap()
                .field_names()
                .contains(&"platform".to_owned())
        );

        // the existing "synthetic" dataset is updated
        let updated = client
            .create_or_update_dataset(
                DatasetSpec::new(DatasetKind::Temporal, "synthetic").name("Renamed"),
            )
            .await
            .unwrap();
        assert_eq!(updated.name(), "Renamed");
        assert!(fake.methods().last().unwrap().ends_with("/UpdateDataset"));

        // client-side validation
        let bad = client
            .create_dataset(DatasetSpec::new(DatasetKind::Temporal, "Bad Name"))
            .await
            .unwrap_err();
        assert!(matches!(bad, Error::InvalidInput { .. }));
        let dup = client
            .create_dataset(
                DatasetSpec::new(DatasetKind::Temporal, "ok")
                    .field(FieldSpec::new("time", FieldType::String)),
            )
            .await
            .unwrap_err();
        assert!(matches!(dup, Error::InvalidInput { .. }));
    });
}

#[test]
fn spatial_filter_is_encoded_as_wkb() {
    let ring = geo_types::LineString::from(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]);
    let polygon = geo_types::Polygon::new(ring, vec![]);
    let extent = SpatialExtent::new(polygon)
        .unwrap()
        .mode(tilebox_core::query::SpatialMode::Contains);
    let wire = extent.to_wire();
    let wkb = wire.geometry.unwrap().wkb;
    assert_eq!(&wkb[..5], &[1, 3, 0, 0, 0], "little-endian WKB polygon");
    assert_eq!(wire.mode, pb::SpatialFilterMode::Contains as i32);
    let filters = QueryOptions::new(year())
        .spatial(SpatialExtent::from_wkb(wkb.clone()))
        .filters()
        .unwrap();
    assert_eq!(filters.spatial_extent.unwrap().geometry.unwrap().wkb, wkb);
}

#[test]
fn errors_and_retries_through_the_client() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    block_on(async {
        let c1 = client
            .dataset(fake::SLUG)
            .await
            .unwrap()
            .collection("C1")
            .await
            .unwrap();
        // 2 failures < 3 attempts: succeeds
        fake.fail_queries.store(2, Ordering::SeqCst);
        assert_eq!(
            c1.query(&QueryOptions::new(year())).await.unwrap().len(),
            500
        );
        // 3 failures = 3 attempts: Unavailable with the attempt count
        fake.fail_queries.store(3, Ordering::SeqCst);
        match c1.query(&QueryOptions::new(year())).await {
            Err(Error::Unavailable { attempts, .. }) => assert_eq!(attempts, 3),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    });
}

#[test]
fn api_futures_run_on_other_threads() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    let handle = std::thread::spawn(move || {
        block_on(async move {
            let dataset = client.dataset(fake::SLUG).await.unwrap();
            let collections = dataset.collections().await.unwrap();
            let loaded = client
                .load_collections(&collections, &QueryOptions::new(year()).parallel_pages(3))
                .await;
            loaded
                .into_iter()
                .map(|r| r.unwrap().len())
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(handle.join().unwrap(), SIZES.to_vec());
}

#[test]
fn automatic_parallel_paging_only_when_worth_it() {
    let fake = Fake::new(&SIZES, 100);
    let client = fake.client();
    block_on(async {
        let dataset = client.dataset(fake::SLUG).await.unwrap();
        // 500 datapoints with 2000 per page: one request, no split
        let c1 = dataset.collection("C1").await.unwrap();
        let before = fake.started.load(Ordering::SeqCst);
        let small = c1
            .query(&QueryOptions::new(year()).page_size(2000))
            .await
            .unwrap();
        assert_eq!(small.len(), 500);
        assert_eq!(fake.started.load(Ordering::SeqCst) - before, 1);
        // 4100 datapoints with 500 per page: split automatically (up to the client's concurrency of 4). Nine
        // pages in at most four parts means chains of three pages; with the plan's 10% room three parts of
        // 1367 might need a fourth page each, so it takes all four slots (1025 each: three pages).
        let c3 = dataset.collection("C3").await.unwrap();
        fake.max_in_flight.store(0, Ordering::SeqCst);
        let big = c3
            .query(&QueryOptions::new(year()).page_size(500))
            .await
            .unwrap();
        assert_eq!(big.values(), fake.expected(&["C3"], &year()).as_slice());
        assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 4);
        // explicitly sequential
        fake.max_in_flight.store(0, Ordering::SeqCst);
        let seq = c3
            .query(&QueryOptions::new(year()).page_size(500).parallel_pages(1))
            .await
            .unwrap();
        assert_eq!(seq.values(), big.values());
        assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 1);
    });
}
