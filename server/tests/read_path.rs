//! The direct read path (rusqlite) answers exactly what the sqlx path answers, and a row filter fills pages
//! with matching rows on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Bound;

use tilebox_server::store::{RangeQuery, RawId, RowFilter};
use tilebox_server::{SqliteStore, Store};

async fn seeded() -> (tempfile::TempDir, SqliteStore, Vec<RawId>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("tilebox.db"))
        .await
        .unwrap();
    tilebox_server::demo::seed_if_empty(&store).await.unwrap();
    let landsat = store
        .get_dataset_by_slug("open_data.copernicus.landsat8_oli_tirs")
        .await
        .unwrap()
        .expect("demo landsat");
    let collections = store.list_collections(landsat.id).await.unwrap();
    let ids = collections.iter().map(|c| c.id).collect();
    (dir, store, ids)
}

fn query(collection_id: RawId, limit: u64) -> RangeQuery {
    RangeQuery {
        collection_id,
        lower: Bound::Unbounded,
        upper: Bound::Unbounded,
        bbox: None,
        bbox_within: false,
        limit,
        with_data: true,
        filter: None,
    }
}

#[tokio::test]
async fn direct_reads_equal_sqlx_reads() {
    let (_dir, direct, collections) = seeded().await;
    assert!(direct.direct_reads());
    let sqlx = direct.clone().with_sqlx_reads();
    assert!(!sqlx.direct_reads());
    let first = direct.query_range(query(collections[0], 5)).await.unwrap();
    let (a, b) = (first[1].id, first[3].id);
    let mut cases = Vec::new();
    for collection in &collections {
        cases.push(query(*collection, 2000));
        cases.push(RangeQuery {
            with_data: false,
            ..query(*collection, 700)
        });
    }
    for (lower, upper) in [
        (Bound::Included(a), Bound::Excluded(b)),
        (Bound::Excluded(a), Bound::Included(b)),
        (Bound::Excluded(a), Bound::Unbounded),
        (Bound::Unbounded, Bound::Included(b)),
    ] {
        cases.push(RangeQuery {
            lower,
            upper,
            ..query(collections[0], 100)
        });
    }
    cases.push(RangeQuery {
        bbox: Some([-20.0, -20.0, 40.0, 40.0]),
        ..query(collections[1], 300)
    });
    cases.push(RangeQuery {
        bbox: Some([-60.0, -60.0, 60.0, 60.0]),
        bbox_within: true,
        ..query(collections[1], 300)
    });
    for case in cases {
        let expected = sqlx.query_range(case.clone()).await.unwrap();
        let got = direct.query_range(case.clone()).await.unwrap();
        assert_eq!(got, expected, "{case:?}");
    }
    let id = first[2].id;
    assert_eq!(
        direct.get_datapoint(collections.clone(), id).await.unwrap(),
        sqlx.get_datapoint(collections.clone(), id).await.unwrap()
    );
    assert!(
        direct
            .get_datapoint(collections, [7; 16])
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn row_filter_fills_pages_with_matching_rows() {
    let (_dir, direct, collections) = seeded().await;
    let sqlx = direct.clone().with_sqlx_reads();
    let all = direct
        .query_range(query(collections[0], 100_000))
        .await
        .unwrap();
    let keep = |data: &[u8]| data.len().is_multiple_of(2);
    let matching: Vec<_> = all.iter().filter(|r| keep(&r.data)).cloned().collect();
    assert!(matching.len() > 300 && matching.len() < all.len());
    for store in [&direct, &sqlx] {
        let page = store
            .query_range(RangeQuery {
                filter: Some(RowFilter::new(keep)),
                ..query(collections[0], 250)
            })
            .await
            .unwrap();
        assert_eq!(
            page,
            matching[..250],
            "a full page of the first matching rows"
        );
        let light = store
            .query_range(RangeQuery {
                filter: Some(RowFilter::new(keep)),
                with_data: false,
                ..query(collections[0], 250)
            })
            .await
            .unwrap();
        let ids: Vec<RawId> = light.iter().map(|r| r.id).collect();
        let expected: Vec<RawId> = matching[..250].iter().map(|r| r.id).collect();
        assert_eq!(ids, expected, "filtered on the data also without data");
        assert!(light.iter().all(|r| r.data.is_empty()));
    }
}
