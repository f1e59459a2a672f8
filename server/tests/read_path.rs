//! The datasets store's pages (SQLite) are exactly what a plain SQL statement over the same file answers, and
//! a row filter fills pages with matching rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Bound;

use tilebox_server::store::DatapointRecord;
use tilebox_server::store::{RangeQuery, RawId, RowFilter};
use tilebox_server::{DatasetsStore, Store};

async fn seeded() -> (tempfile::TempDir, DatasetsStore, Vec<RawId>) {
    let dir = tempfile::tempdir().unwrap();
    let store = DatasetsStore::open_sqlite(&dir.path().join("tilebox.db"))
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

/// The page `query` asks for (without a row filter), read by a plain statement on its own connection.
fn reference(dir: &tempfile::TempDir, query: &RangeQuery) -> Vec<DatapointRecord> {
    let conn = rusqlite::Connection::open(dir.path().join("tilebox.db")).unwrap();
    let mut sql = String::from(
        "SELECT id, time_ns, ingestion_time_ns, data FROM datapoints WHERE collection_id = ?1",
    );
    let mut blobs: Vec<Vec<u8>> = vec![query.collection_id.to_vec()];
    for (bound, included, excluded) in [(query.lower, ">=", ">"), (query.upper, "<=", "<")] {
        let (op, id) = match bound {
            Bound::Included(id) => (included, id),
            Bound::Excluded(id) => (excluded, id),
            Bound::Unbounded => continue,
        };
        blobs.push(id.to_vec());
        sql.push_str(&format!(" AND id {op} ?{}", blobs.len()));
    }
    if let Some([min_x, min_y, max_x, max_y]) = query.bbox {
        sql.push_str(&if query.bbox_within {
            format!(" AND min_x >= {min_x} AND max_x <= {max_x} AND min_y >= {min_y} AND max_y <= {max_y}")
        } else {
            format!(" AND max_x >= {min_x} AND min_x <= {max_x} AND max_y >= {min_y} AND min_y <= {max_y}")
        });
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", query.limit));
    let mut statement = conn.prepare(&sql).unwrap();
    let rows = statement
        .query_map(rusqlite::params_from_iter(&blobs), |row| {
            let id: Vec<u8> = row.get(0)?;
            let data: Vec<u8> = row.get(3)?;
            Ok(DatapointRecord {
                id: id.try_into().unwrap(),
                time_ns: row.get(1)?,
                ingestion_time_ns: row.get(2)?,
                bbox: None,
                data: if query.with_data {
                    data.into()
                } else {
                    Default::default()
                },
            })
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test]
async fn pages_equal_plain_sql() {
    let (dir, store, collections) = seeded().await;
    let first = store.query_range(query(collections[0], 5)).await.unwrap();
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
        let expected = reference(&dir, &case);
        assert!(!expected.is_empty(), "{case:?}");
        let got = store.query_range(case.clone()).await.unwrap();
        assert_eq!(got, expected, "{case:?}");
    }
    let id = first[2].id;
    assert_eq!(
        store.get_datapoint(collections.clone(), id).await.unwrap(),
        Some(first[2].clone())
    );
    assert!(
        store
            .get_datapoint(collections, [7; 16])
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn row_filter_fills_pages_with_matching_rows() {
    let (_dir, store, collections) = seeded().await;
    let all = store
        .query_range(query(collections[0], 100_000))
        .await
        .unwrap();
    let keep = |data: &[u8]| data.len().is_multiple_of(2);
    let matching: Vec<_> = all.iter().filter(|r| keep(&r.data)).cloned().collect();
    assert!(matching.len() > 300 && matching.len() < all.len());
    {
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
