//! DataAccessService and DataIngestionService: paging, filters, skip_data, ingest/delete semantics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use bytes::Bytes;
use common::*;
use prost::Message;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_core::wire::tilebox::v1 as tb;

const LANDSAT: &str = "open_data.copernicus.landsat8_oli_tirs";

fn time_query(
    d: &ds::Dataset,
    collections: Vec<tb::Id>,
    start: i64,
    end: i64,
    limit: Option<i64>,
) -> ds::QueryRequest {
    ds::QueryRequest {
        collection_ids: collections,
        filters: Some(ds::QueryFilters {
            time_interval: Some(interval(start, end)),
            ..Default::default()
        }),
        page: limit.map(|l| tb::Pagination {
            limit: Some(l),
            starting_after: None,
        }),
        skip_data: false,
        dataset_id: d.id.clone(),
    }
}

async fn collection_id(url: &str, d: &ds::Dataset, name: &str) -> tb::Id {
    collection(url, d.id.as_ref().unwrap(), name)
        .await
        .collection
        .unwrap()
        .id
        .unwrap()
}

fn assert_strictly_ascending(values: &[Bytes]) {
    let ids: Vec<Vec<u8>> = values
        .iter()
        .map(|v| meta(v).id.unwrap().uuid.to_vec())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids strictly ascending (no duplicates)"
    );
    let unique: HashSet<&Vec<u8>> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
}

#[tokio::test]
async fn demo_counts_in_2020_are_exact() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    for (name, expected) in [
        ("L1GT", 19624usize),
        ("L1T", 1281),
        ("L1TP", 65313),
        ("L2SP", 25375),
    ] {
        let c = collection_id(url, &d, name).await;
        let mut req = time_query(&d, vec![c], T2020, T2021, Some(10_000));
        req.skip_data = true;
        let (values, pages) = query_all(url, req).await;
        assert_eq!(values.len(), expected, "{name}");
        assert_eq!(pages, expected.div_ceil(10_000), "{name}");
        for v in &values {
            let t = meta(v).time.unwrap().seconds;
            assert!((T2020..T2021).contains(&t));
        }
        assert_strictly_ascending(&values);
    }
    let s1 = dataset(url, "open_data.copernicus.sentinel1_sar").await;
    let c = collection(url, s1.id.as_ref().unwrap(), "S1A_IW_RAW__0S").await;
    let may = (1_651_363_200, 1_654_041_600);
    let a = c.availability.unwrap();
    assert!(a.start_time.unwrap().seconds >= may.0 && a.end_time.unwrap().seconds < may.1);
    assert!(c.count.unwrap() > 1000);
}

#[tokio::test]
async fn paging_has_no_duplicates_and_no_gaps() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let l1t = collection_id(url, &d, "L1T").await;
    // Single collection, small pages.
    let (paged, pages) = query_all(
        url,
        time_query(&d, vec![l1t.clone()], T2020, T2021, Some(97)),
    )
    .await;
    assert_eq!(paged.len(), 1281);
    assert_eq!(pages, 1281usize.div_ceil(97));
    let (whole, _) = query_all(
        url,
        time_query(&d, vec![l1t.clone()], T2020, T2021, Some(5000)),
    )
    .await;
    assert_eq!(paged, whole);
    assert_strictly_ascending(&paged);
    // Full data is the stored datapoint: it decodes with the id and geometry set.
    let m = meta(&paged[0]);
    assert!(m.geometry.is_some() && m.ingestion_time.is_some());

    // All collections (empty collection_ids), a month, across collections in id order.
    let month = (T2020 + 86_400 * 31, T2020 + 86_400 * 62);
    let (all, pages) = query_all(url, time_query(&d, vec![], month.0, month.1, Some(1000))).await;
    assert!(pages > 5);
    assert_strictly_ascending(&all);
    let mut total = 0;
    for name in ["L1GT", "L1T", "L1TP", "L2SP"] {
        let c = collection_id(url, &d, name).await;
        total += query_all(url, time_query(&d, vec![c], month.0, month.1, Some(10_000)))
            .await
            .0
            .len();
    }
    assert_eq!(all.len(), total);
}

#[tokio::test]
async fn default_page_size_and_next_page_shape() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let l1tp = collection_id(url, &d, "L1TP").await;
    // No page at all, and an empty page: both use the default of 2000.
    for page in [None, Some(tb::Pagination::default())] {
        let mut req = time_query(&d, vec![l1tp.clone()], T2020, T2021, None);
        req.page = page;
        let r = query(url, &req).await.unwrap();
        assert_eq!(r.data.as_ref().unwrap().value.len(), 2000);
        let next = r.next_page.unwrap();
        assert_eq!(next.limit, Some(2000));
        let last = meta(r.data.unwrap().value.last().unwrap()).id.unwrap().uuid;
        assert_eq!(next.starting_after.unwrap().uuid, last);
    }
    // The last page carries no next_page.
    let l1t = collection_id(url, &d, "L1T").await;
    let r = query(url, &time_query(&d, vec![l1t], T2020, T2021, Some(1281)))
        .await
        .unwrap();
    assert_eq!(r.data.unwrap().value.len(), 1281);
    assert!(r.next_page.is_none());
}

#[tokio::test]
async fn empty_pages_carry_the_type_url() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let r = query(url, &time_query(&d, vec![], 100, 200, None))
        .await
        .unwrap();
    let data = r.data.unwrap();
    assert!(data.value.is_empty());
    assert_eq!(data.type_url, d.r#type.unwrap().type_url);
    assert!(r.next_page.is_none());
}

#[tokio::test]
async fn skip_data_returns_only_the_common_fields() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let l1t = collection_id(url, &d, "L1T").await;
    let full = query(
        url,
        &time_query(&d, vec![l1t.clone()], T2020, T2021, Some(50)),
    )
    .await
    .unwrap();
    let mut req = time_query(&d, vec![l1t], T2020, T2021, Some(50));
    req.skip_data = true;
    let skip = query(url, &req).await.unwrap();
    let (full, skip) = (full.data.unwrap().value, skip.data.unwrap().value);
    assert_eq!(full.len(), skip.len());
    for (f, s) in full.iter().zip(&skip) {
        let (f, s2) = (meta(f), meta(s));
        assert_eq!(f.id, s2.id);
        assert_eq!(f.time, s2.time);
        assert!(s2.geometry.is_none());
        let (fi, si) = (f.ingestion_time.unwrap(), s2.ingestion_time.unwrap());
        assert_eq!(si.seconds, fi.seconds);
        assert_eq!(
            si.nanos,
            fi.nanos / 1_000_000 * 1_000_000,
            "truncated to ms"
        );
        // Nothing beyond fields 1-3.
        let reencoded = ds::TemporalDatapoint::decode(&s[..])
            .unwrap()
            .encode_to_vec();
        assert_eq!(reencoded.len(), s.len());
    }
}

#[tokio::test]
async fn invalid_query_arguments() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let base = time_query(&d, vec![], T2020, T2021, None);
    let check = |req: ds::QueryRequest, code: &'static str| async move {
        let e = query(url, &req).await.unwrap_err();
        assert_eq!(e.code, code, "{req:?}");
        e
    };
    for limit in [0, -5, 10_001] {
        let mut r = base.clone();
        r.page = Some(tb::Pagination {
            limit: Some(limit),
            starting_after: None,
        });
        check(r, "invalid_argument").await;
    }
    // Empty and inverted intervals are valid and select nothing (see tests/filters.rs).
    let mut r = base.clone();
    r.filters = None;
    check(r, "invalid_argument").await;
    let mut r = base.clone();
    r.page = Some(tb::Pagination {
        limit: None,
        starting_after: Some(id(&[1, 2, 3])),
    });
    check(r, "invalid_argument").await;
    let mut r = base.clone();
    r.collection_ids = vec![id(&[0; 16])];
    check(r, "invalid_argument").await;
    let mut r = base.clone();
    r.collection_ids = vec![id(&[5; 16])];
    check(r, "not_found").await;
    let mut r = base.clone();
    r.dataset_id = Some(id(&[5; 16]));
    let e = check(r, "not_found").await;
    assert_eq!(e.message, "no such dataset");
    let mut r = base.clone();
    r.filters.as_mut().unwrap().spatial_extent = Some(ds::SpatialFilter {
        geometry: Some(ds::Geometry {
            wkb: Bytes::from_static(b"junk"),
        }),
        ..Default::default()
    });
    check(r, "invalid_argument").await;
    // A single instant [t, t] is valid (end inclusive).
    let mut r = base.clone();
    r.filters = Some(ds::QueryFilters {
        time_interval: Some(tb::TimeInterval {
            end_inclusive: true,
            ..interval(T2020, T2020)
        }),
        ..Default::default()
    });
    assert!(query(url, &r).await.is_ok());
}

#[tokio::test]
async fn datapoint_interval_and_query_by_id() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let l1t = collection_id(url, &d, "L1T").await;
    let page = query(
        url,
        &time_query(&d, vec![l1t.clone()], T2020, T2021, Some(20)),
    )
    .await
    .unwrap()
    .data
    .unwrap()
    .value;
    let ids: Vec<Bytes> = page.iter().map(|v| meta(v).id.unwrap().uuid).collect();
    let mk = |start_exclusive: bool, end_inclusive: bool| ds::QueryRequest {
        collection_ids: vec![l1t.clone()],
        filters: Some(ds::QueryFilters {
            datapoint_interval: Some(tb::IdInterval {
                start_id: Some(id(&ids[5])),
                end_id: Some(id(&ids[10])),
                start_exclusive,
                end_inclusive,
            }),
            ..Default::default()
        }),
        dataset_id: d.id.clone(),
        ..Default::default()
    };
    let got = |r: ds::QueryResultPage| {
        r.data
            .unwrap()
            .value
            .iter()
            .map(|v| meta(v).id.unwrap().uuid)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        got(query(url, &mk(false, false)).await.unwrap()),
        ids[5..10]
    );
    assert_eq!(got(query(url, &mk(true, true)).await.unwrap()), ids[6..11]);
    let mut inverted = mk(false, false);
    inverted
        .filters
        .as_mut()
        .unwrap()
        .datapoint_interval
        .as_mut()
        .unwrap()
        .start_id = Some(id(&ids[12]));
    // An inverted id interval selects nothing.
    assert!(got(query(url, &inverted).await.unwrap()).is_empty());

    // QueryByID, in the dataset and restricted to a collection.
    let found: ds::Any = call(
        url,
        "datasets.v1.DataAccessService/QueryByID",
        &ds::QueryByIdRequest {
            id: Some(id(&ids[3])),
            dataset_id: d.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(found.value, page[3]);
    assert_eq!(found.type_url, d.r#type.as_ref().unwrap().type_url);
    let skipped: ds::Any = call(
        url,
        "datasets.v1.DataAccessService/QueryByID",
        &ds::QueryByIdRequest {
            id: Some(id(&ids[3])),
            dataset_id: d.id.clone(),
            skip_data: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(meta(&skipped.value).geometry.is_none());
    let other = collection_id(url, &d, "L2SP").await;
    let e = call::<_, ds::Any>(
        url,
        "datasets.v1.DataAccessService/QueryByID",
        &ds::QueryByIdRequest {
            id: Some(id(&ids[3])),
            collection_ids: vec![other],
            dataset_id: d.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("not_found", "no such datapoint")
    );
    for bad in [vec![0u8; 16], vec![1u8; 17]] {
        let e = call::<_, ds::Any>(
            url,
            "datasets.v1.DataAccessService/QueryByID",
            &ds::QueryByIdRequest {
                id: Some(id(&bad)),
                dataset_id: d.id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "invalid_argument");
    }
}

fn ewkb_box(area: [f64; 4]) -> Vec<u8> {
    tilebox_server::geometry::ewkb_polygon(&[
        (area[0], area[1]),
        (area[2], area[1]),
        (area[2], area[3]),
        (area[0], area[3]),
    ])
}

fn bbox_of_polygon(wkb: &[u8]) -> [f64; 4] {
    tilebox_server::geometry::wkb_bbox(wkb).unwrap().unwrap()
}

#[tokio::test]
async fn spatial_filter_selects_intersecting_footprints() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let area = [0.0, 40.0, 20.0, 55.0];
    let query_wkb = tilebox_server::geometry::ewkb_polygon(&[
        (area[0], area[1]),
        (area[2], area[1]),
        (area[2], area[3]),
        (area[0], area[3]),
    ]);
    let mut req = time_query(&d, vec![], T2020, T2020 + 86_400 * 60, Some(10_000));
    req.filters.as_mut().unwrap().spatial_extent = Some(ds::SpatialFilter {
        geometry: Some(ds::Geometry {
            wkb: Bytes::from(query_wkb),
        }),
        ..Default::default()
    });
    let (hits, _) = query_all(url, req).await;
    let (all, _) = query_all(
        url,
        time_query(&d, vec![], T2020, T2020 + 86_400 * 60, Some(10_000)),
    )
    .await;
    // Exact: for an axis-aligned query box, a footprint intersects it iff its polygon does (not merely its
    // bounding box).
    let query_shape = tilebox_server::geometry::read_wkb(&ewkb_box(area)).unwrap();
    let expected: Vec<&Bytes> = all
        .iter()
        .filter(|v| {
            let g = tilebox_server::geometry::read_wkb(&meta(v).geometry.unwrap().wkb).unwrap();
            geo::Intersects::intersects(&query_shape, &g)
        })
        .collect();
    let by_bbox = all
        .iter()
        .filter(|v| {
            let b = bbox_of_polygon(&meta(v).geometry.unwrap().wkb);
            b[2] >= area[0] && b[0] <= area[2] && b[3] >= area[1] && b[1] <= area[3]
        })
        .count();
    assert!(by_bbox >= expected.len());
    assert!(!expected.is_empty() && expected.len() < all.len());
    assert_eq!(hits.iter().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn ingest_query_round_trip_and_idempotence() {
    if common::skip() {
        return;
    }
    let url = demo();
    let (d, c) = create_test_dataset(url, "round_trip").await;
    let values: Vec<Bytes> = (0..50)
        .map(|i| point(T2020 + i * 3600, i as f64, &format!("p{i}")))
        .collect();
    let r = ingest(url, &c, values.clone(), false).await.unwrap();
    assert_eq!(
        (r.num_created, r.num_existing, r.datapoint_ids.len()),
        (50, 0, 50)
    );
    // Ids: time prefix, sorted like the input times.
    for (i, id) in r.datapoint_ids.iter().enumerate() {
        let ms = (T2020 + i as i64 * 3600) * 1000;
        assert_eq!(&id.uuid[..6], &ms.to_be_bytes()[2..]);
    }
    // Query back: same content plus id and ingestion_time.
    let (got, _) = query_all(url, time_query(&d, vec![c.clone()], T2020, T2021, Some(7))).await;
    assert_eq!(got.len(), 50);
    for (i, v) in got.iter().enumerate() {
        let p = TestPoint::decode(&v[..]).unwrap();
        assert_eq!(p.value, Some(i as f64));
        assert_eq!(p.label.as_deref(), Some(format!("p{i}").as_str()));
        assert_eq!(p.id.unwrap().uuid, r.datapoint_ids[i].uuid);
        assert!(p.ingestion_time.is_some());
    }
    // Re-ingest with allow_existing: nothing new, same ids.
    let again = ingest(url, &c, values.clone(), true).await.unwrap();
    assert_eq!((again.num_created, again.num_existing), (0, 50));
    assert_eq!(again.datapoint_ids, r.datapoint_ids);
    // Without allow_existing: refused, with the hosted message.
    let e = ingest(url, &c, values[..2].to_vec(), false)
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_argument");
    assert!(e.message.contains("allow_existing=false"));
    // Mixed batch: one new, one existing.
    let mixed = ingest(
        url,
        &c,
        vec![values[0].clone(), point(T2020 + 7, 0.5, "new")],
        true,
    )
    .await
    .unwrap();
    assert_eq!((mixed.num_created, mixed.num_existing), (1, 1));
    assert_eq!(
        collection(url, d.id.as_ref().unwrap(), "main").await.count,
        Some(51)
    );
}

#[tokio::test]
async fn failed_ingest_leaves_nothing_behind() {
    if common::skip() {
        return;
    }
    let url = demo();
    let (d, c) = create_test_dataset(url, "atomic_ingest").await;
    let bad_batches: Vec<Vec<Bytes>> = vec![
        vec![point(T2020, 1.0, "ok"), Bytes::from_static(&[0xff, 0xff])],
        vec![
            point(T2020, 1.0, "ok"),
            Bytes::from(
                TestPoint {
                    value: Some(1.0),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ],
        vec![point(T2020, 1.0, "ok"), Bytes::new()],
        vec![point(T2020, 1.0, "ok"), point(-10, 1.0, "before 1970")],
    ];
    for batch in bad_batches {
        let e = ingest(url, &c, batch, true).await.unwrap_err();
        assert_eq!(e.code, "invalid_argument");
        assert!(e.message.starts_with("values[1]"), "{}", e.message);
    }
    assert_eq!(
        collection(url, d.id.as_ref().unwrap(), "main").await.count,
        Some(0)
    );
    let e = ingest(url, &id(&[3; 16]), vec![point(T2020, 1.0, "x")], true)
        .await
        .unwrap_err();
    assert_eq!(e.code, "not_found");
    let e = ingest(url, &id(&[0; 16]), vec![point(T2020, 1.0, "x")], true)
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_argument");
    let e = ingest(url, &c, vec![point(T2020, 1.0, "x"); 8193], true)
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_argument");
}

#[tokio::test]
async fn delete_is_all_or_nothing() {
    if common::skip() {
        return;
    }
    let url = demo();
    let (d, c) = create_test_dataset(url, "deletes").await;
    let values: Vec<Bytes> = (0..10).map(|i| point(T2020 + i, i as f64, "d")).collect();
    let ids = ingest(url, &c, values, true).await.unwrap().datapoint_ids;
    let delete = |ids: Vec<tb::Id>| {
        let c = c.clone();
        async move {
            call::<_, ds::DeleteResponse>(
                url,
                "datasets.v1.DataIngestionService/Delete",
                &ds::DeleteRequest {
                    collection_id: Some(c),
                    datapoint_ids: ids,
                },
            )
            .await
        }
    };
    // One unknown id: not_found, nothing deleted.
    let mut with_missing = ids[..3].to_vec();
    with_missing.push(id(&[0x42; 16]));
    assert_eq!(delete(with_missing).await.unwrap_err().code, "not_found");
    assert_eq!(
        collection(url, d.id.as_ref().unwrap(), "main").await.count,
        Some(10)
    );
    assert_eq!(
        delete(vec![id(&[1; 3])]).await.unwrap_err().code,
        "invalid_argument"
    );
    let r = delete(ids[..4].to_vec()).await.unwrap();
    assert_eq!(r.num_deleted, 4);
    assert_eq!(
        collection(url, d.id.as_ref().unwrap(), "main").await.count,
        Some(6)
    );
    assert_eq!(
        delete(ids[..1].to_vec()).await.unwrap_err().code,
        "not_found"
    );
    let (left, _) = query_all(url, time_query(&d, vec![c.clone()], T2020, T2021, None)).await;
    assert_eq!(left.len(), 6);
}

#[tokio::test]
async fn demo_datapoint_reingests_to_the_same_id() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let l1t = collection_id(url, &d, "L1T").await;
    let page = query(
        url,
        &time_query(&d, vec![l1t.clone()], T2020, T2021, Some(3)),
    )
    .await
    .unwrap()
    .data
    .unwrap()
    .value;
    let r = ingest(url, &l1t, page.clone(), true).await.unwrap();
    assert_eq!((r.num_created, r.num_existing), (0, 3));
    let expected: Vec<Bytes> = page.iter().map(|v| meta(v).id.unwrap().uuid).collect();
    assert_eq!(
        r.datapoint_ids
            .iter()
            .map(|i| i.uuid.clone())
            .collect::<Vec<_>>(),
        expected
    );
}
