//! Filter expressions, exact spatial filters and empty intervals through the Query RPC of the demo server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use bytes::Bytes;
use common::*;
use geo::{Contains, Intersects};
use tilebox_core::datapoint::Schema;
use tilebox_core::filter::{Filter, enum_name, field};
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_server::geometry::{ewkb_polygon, read_wkb};

const LANDSAT: &str = "open_data.copernicus.landsat8_oli_tirs";

fn query_req(
    d: &ds::Dataset,
    collections: Vec<tb::Id>,
    filters: ds::QueryFilters,
    limit: i64,
) -> ds::QueryRequest {
    ds::QueryRequest {
        collection_ids: collections,
        filters: Some(filters),
        page: Some(tb::Pagination {
            limit: Some(limit),
            starting_after: None,
        }),
        skip_data: false,
        dataset_id: d.id.clone(),
    }
}

fn time_filters(start: i64, end: i64) -> ds::QueryFilters {
    ds::QueryFilters {
        time_interval: Some(interval(start, end)),
        ..Default::default()
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

fn ids(values: &[Bytes]) -> Vec<Vec<u8>> {
    values
        .iter()
        .map(|v| meta(v).id.unwrap().uuid.to_vec())
        .collect()
}

/// Paging a filtered query in small pages returns exactly the datapoints a client-side evaluation of the
/// same predicate selects from the unfiltered result, in order, with full pages and no duplicates.
#[tokio::test]
async fn filtered_paging_matches_client_side_evaluation() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let schema = Schema::from_annotated_type(d.r#type.as_ref().unwrap()).unwrap();
    let l1gt = collection_id(url, &d, "L1GT").await;
    let window = (T2020, T2020 + 86_400 * 90);

    let (all, _) = query_all(
        url,
        query_req(
            &d,
            vec![l1gt.clone()],
            time_filters(window.0, window.1),
            10_000,
        ),
    )
    .await;
    let decoded: Vec<_> = all.iter().map(|v| schema.decode(v).unwrap()).collect();
    let num = |dp: &tilebox_core::DynamicDatapoint, name: &str| -> f64 {
        let v = dp.get(name).unwrap();
        v.as_f64().or_else(|| v.as_i64().map(|i| i as f64)).unwrap()
    };

    let filter = (field("cloud_cover").lt(20) & field("row").ge(100i64))
        | !(field("path").gt(30) | field("sun_elevation").le(10.5));
    let expected: Vec<Vec<u8>> = all
        .iter()
        .zip(&decoded)
        .filter(|(_, dp)| {
            (num(dp, "cloud_cover") < 20.0 && num(dp, "row") >= 100.0)
                || !(num(dp, "path") > 30.0 || num(dp, "sun_elevation") <= 10.5)
        })
        .map(|(v, _)| meta(v).id.unwrap().uuid.to_vec())
        .collect();
    assert!(expected.len() > 300 && expected.len() < all.len() / 2);

    let mut filters = time_filters(window.0, window.1);
    filters.expressions = vec![filter.to_wire().unwrap()];
    let mut req = query_req(&d, vec![l1gt.clone()], filters.clone(), 37);
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let page = query(url, &req).await.unwrap();
        pages += 1;
        let values = page.data.map(|d| d.value).unwrap_or_default();
        match page.next_page {
            Some(next) => {
                assert_eq!(values.len(), 37, "every page but the last is full");
                got.extend(values);
                req.page = Some(next);
            }
            None => {
                got.extend(values);
                break;
            }
        }
    }
    assert_eq!(pages, expected.len().div_ceil(37).max(1));
    assert_eq!(ids(&got), expected);
    let unique: HashSet<_> = ids(&got).into_iter().collect();
    assert_eq!(unique.len(), got.len());

    // skip_data returns the same ids.
    let mut slim = query_req(&d, vec![l1gt], filters, 10_000);
    slim.skip_data = true;
    let (slim, _) = query_all(url, slim).await;
    assert_eq!(ids(&slim), expected);
}

/// Strings and enums at dataset level (all collections).
#[tokio::test]
async fn string_and_enum_filters_across_collections() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let day = (T2020 + 86_400 * 40, T2020 + 86_400 * 42);
    let (all, _) = query_all(
        url,
        query_req(&d, vec![], time_filters(day.0, day.1), 10_000),
    )
    .await;
    let schema = Schema::from_annotated_type(d.r#type.as_ref().unwrap()).unwrap();
    let l2: Vec<Vec<u8>> = all
        .iter()
        .filter(|v| {
            schema
                .decode(v)
                .unwrap()
                .get_enum_name("processing_level")
                .as_deref()
                == Some("PROCESSING_LEVEL_L2")
        })
        .map(|v| meta(v).id.unwrap().uuid.to_vec())
        .collect();
    assert!(!l2.is_empty() && l2.len() < all.len());
    let run = |f: Filter| {
        let mut filters = time_filters(day.0, day.1);
        filters.expressions = vec![f.to_wire().unwrap()];
        query_req(&d, vec![], filters, 500)
    };
    let (hits, _) = query_all(
        url,
        run(field("processing_level").eq(enum_name("PROCESSING_LEVEL_L2"))),
    )
    .await;
    assert_eq!(ids(&hits), l2);
    let (hits, _) = query_all(url, run(field("platform").eq("LANDSAT_8"))).await;
    assert_eq!(hits.len(), all.len());
    let (hits, _) = query_all(url, run(field("platform").ne("LANDSAT_8"))).await;
    assert!(hits.is_empty());
    let (hits, _) = query_all(url, run(field("platform").is_null())).await;
    assert!(hits.is_empty());
    let (hits, _) = query_all(url, run(field("platform").is_not_null())).await;
    assert_eq!(hits.len(), all.len());
}

#[tokio::test]
async fn invalid_filters_are_invalid_argument_naming_the_field() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let cases: Vec<(ds::FilterExpression, &str)> = vec![
        (
            field("no_such_field").eq(1).to_wire().unwrap(),
            "no_such_field",
        ),
        (field("geometry").is_null().to_wire().unwrap(), "geometry"),
        (
            field("cloud_cover").eq("ten").to_wire().unwrap(),
            "cloud_cover",
        ),
        (field("platform").lt(3).to_wire().unwrap(), "platform"),
        (field("path").eq(true).to_wire().unwrap(), "path"),
        (
            field("processing_level")
                .eq(enum_name("NOPE"))
                .to_wire()
                .unwrap(),
            "processing_level",
        ),
        (
            ds::FilterExpression {
                logical: Some(ds::LogicalExpression {
                    operator: ds::LogicalOperator::And as i32,
                    operands: vec![field("path").eq(1).to_wire().unwrap()],
                }),
                ..Default::default()
            },
            "AND",
        ),
        (ds::FilterExpression::default(), "exactly one"),
    ];
    for (expression, needle) in cases {
        let mut filters = time_filters(T2020, T2020 + 86_400);
        filters.expressions = vec![expression];
        let e = query(url, &query_req(&d, vec![], filters, 10))
            .await
            .unwrap_err();
        assert_eq!(e.code, "invalid_argument", "{needle}");
        assert!(e.message.contains(needle), "{} lacks {needle}", e.message);
    }
    // Depth 9 and more than 256 nodes.
    let mut deep = field("path").eq(1).to_wire().unwrap();
    for _ in 0..8 {
        deep = ds::FilterExpression {
            logical: Some(ds::LogicalExpression {
                operator: ds::LogicalOperator::Not as i32,
                operands: vec![deep],
            }),
            ..Default::default()
        };
    }
    let wide = ds::FilterExpression {
        logical: Some(ds::LogicalExpression {
            operator: ds::LogicalOperator::Or as i32,
            operands: (0..60)
                .map(|i| field("path").eq(i).to_wire().unwrap())
                .collect(),
        }),
        ..Default::default()
    };
    for expressions in [vec![deep], vec![wide; 5]] {
        let mut filters = time_filters(T2020, T2020 + 86_400);
        filters.expressions = expressions;
        let e = query(url, &query_req(&d, vec![], filters, 10))
            .await
            .unwrap_err();
        assert_eq!(e.code, "invalid_argument");
    }
}

#[tokio::test]
async fn empty_and_inverted_intervals_select_nothing() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let l1t = collection_id(url, &d, "L1T").await;
    let (any, _) = query_all(
        url,
        query_req(&d, vec![l1t.clone()], time_filters(T2020, T2021), 10_000),
    )
    .await;
    let first = id(&meta(&any[0]).id.unwrap().uuid);
    let last = id(&meta(any.last().unwrap()).id.unwrap().uuid);
    let id_interval =
        |start: &tb::Id, end: &tb::Id, start_exclusive, end_inclusive| ds::QueryFilters {
            datapoint_interval: Some(tb::IdInterval {
                start_id: Some(start.clone()),
                end_id: Some(end.clone()),
                start_exclusive,
                end_inclusive,
            }),
            ..Default::default()
        };
    let t = T2020 + 86_400 * 100;
    let cases = [
        time_filters(t, t),
        time_filters(T2021, T2020),
        id_interval(&first, &first, false, false),
        id_interval(&first, &first, true, true),
        id_interval(&last, &first, false, true),
    ];
    for filters in cases {
        for skip_data in [false, true] {
            for collections in [vec![], vec![l1t.clone()]] {
                let mut req = query_req(&d, collections, filters.clone(), 100);
                req.skip_data = skip_data;
                let page = query(url, &req).await.unwrap();
                assert!(page.next_page.is_none());
                assert!(page.data.unwrap().value.is_empty(), "{filters:?}");
            }
        }
    }
    // The one-datapoint id interval [first, first] still finds it.
    let page = query(
        url,
        &query_req(&d, vec![l1t], id_interval(&first, &first, false, true), 10),
    )
    .await
    .unwrap();
    assert_eq!(page.data.unwrap().value.len(), 1);
}

fn spatial(wkb: Vec<u8>, mode: i32, system: i32) -> ds::SpatialFilter {
    ds::SpatialFilter {
        geometry: Some(ds::Geometry {
            wkb: Bytes::from(wkb),
        }),
        mode,
        coordinate_system: system,
    }
}

/// Cartesian intersects / contains agree with the `geo` predicates on the unfiltered results, and the
/// exact test excludes footprints whose bounding box merely overlaps.
#[tokio::test]
async fn cartesian_spatial_filters_are_exact() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let window = (T2020, T2020 + 86_400 * 60);
    let (all, _) = query_all(
        url,
        query_req(&d, vec![], time_filters(window.0, window.1), 10_000),
    )
    .await;
    let area = [(0.0, 40.0), (20.0, 44.0), (16.0, 58.0), (-2.0, 52.0)];
    let query_wkb = ewkb_polygon(&area);
    let query_shape = read_wkb(&query_wkb).unwrap();
    for (mode, holds) in [
        (
            1,
            &(|q: &geo::Geometry, g: &geo::Geometry| q.intersects(g)) as &dyn Fn(&_, &_) -> bool,
        ),
        (2, &|q: &geo::Geometry, g: &geo::Geometry| q.contains(g)),
    ] {
        let expected: Vec<Vec<u8>> = all
            .iter()
            .filter(|v| {
                let g = read_wkb(&meta(v).geometry.unwrap().wkb).unwrap();
                holds(&query_shape, &g)
            })
            .map(|v| meta(v).id.unwrap().uuid.to_vec())
            .collect();
        assert!(!expected.is_empty() && expected.len() < all.len());
        let mut filters = time_filters(window.0, window.1);
        filters.spatial_extent = Some(spatial(query_wkb.clone(), mode, 1));
        let (hits, _) = query_all(url, query_req(&d, vec![], filters, 333)).await;
        assert_eq!(ids(&hits), expected, "mode {mode}");
    }
    // Invalid WKB and unknown modes are invalid_argument.
    for sf in [
        spatial(b"junk".to_vec(), 0, 0),
        spatial(query_wkb.clone(), 9, 0),
        spatial(query_wkb, 0, 9),
    ] {
        let mut filters = time_filters(window.0, window.1);
        filters.spatial_extent = Some(sf);
        let e = query(url, &query_req(&d, vec![], filters, 10))
            .await
            .unwrap_err();
        assert_eq!(e.code, "invalid_argument");
    }
}

/// A spherical query across the antimeridian finds footprints on both sides, including those written with
/// longitudes beyond 180°.
#[tokio::test]
async fn spherical_query_across_the_antimeridian() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let window = (T2020, T2020 + 86_400 * 120);
    let (all, _) = query_all(
        url,
        query_req(&d, vec![], time_filters(window.0, window.1), 10_000),
    )
    .await;
    // A band 4° wide around the antimeridian between 30°S and 30°N, as an uncut ring.
    let ring = [
        (178.0, -30.0),
        (-178.0, -30.0),
        (-178.0, 30.0),
        (178.0, 30.0),
    ];
    let mut filters = time_filters(window.0, window.1);
    filters.spatial_extent = Some(spatial(ewkb_polygon(&ring), 1, 2));
    let (hits, _) = query_all(url, query_req(&d, vec![], filters, 10_000)).await;
    // Footprints are ~2° wide: every one whose centre lies within 1° of the antimeridian must match, none
    // whose every vertex is more than 3° away may.
    let lons = |v: &Bytes| -> Vec<(f64, f64)> {
        use geo::CoordsIter;
        read_wkb(&meta(v).geometry.unwrap().wkb)
            .unwrap()
            .coords_iter()
            .map(|c| (c.x, c.y))
            .collect()
    };
    let dist = |lon: f64| (lon.rem_euclid(360.0) - 180.0).abs();
    let hit_ids: HashSet<Vec<u8>> = ids(&hits).into_iter().collect();
    let mut near = 0;
    for v in &all {
        let pts = lons(v);
        let lat_ok = pts.iter().all(|(_, y)| y.abs() < 28.0);
        let centre = pts
            .iter()
            .map(|p| p.0.to_radians().sin())
            .sum::<f64>()
            .atan2(pts.iter().map(|p| p.0.to_radians().cos()).sum::<f64>());
        let id = meta(v).id.unwrap().uuid.to_vec();
        if lat_ok && dist(centre.to_degrees()) < 1.0 {
            near += 1;
            assert!(
                hit_ids.contains(&id),
                "footprint at the antimeridian missed"
            );
        }
        if pts.iter().all(|(x, _)| dist(*x) > 3.0) {
            assert!(!hit_ids.contains(&id), "far footprint matched");
        }
    }
    assert!(near > 0, "the window has footprints at the antimeridian");
    assert!(hits.iter().any(|v| lons(v)[0].0 > 0.0) && hits.iter().any(|v| lons(v)[0].0 < 0.0));
}
