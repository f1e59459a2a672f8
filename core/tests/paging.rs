//! The query plan: first request, cursor echo, termination.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use tilebox_core::paging::QueryPlan;
use tilebox_core::wire::datasets::v1::{QueryFilters, QueryRequest, QueryResultPage, RepeatedAny};
use tilebox_core::wire::tilebox::v1::{Id, Pagination};

fn id(n: u8) -> Id {
    Id {
        uuid: Bytes::from(vec![n; 16]),
    }
}

fn base() -> QueryRequest {
    QueryRequest {
        collection_ids: vec![id(1)],
        filters: Some(QueryFilters::default()),
        page: Some(Pagination {
            limit: Some(99),
            starting_after: Some(id(9)),
        }), // ignored by the plan
        skip_data: true,
        dataset_id: Some(id(2)),
    }
}

fn page(next: Option<Pagination>) -> QueryResultPage {
    QueryResultPage {
        data: Some(RepeatedAny {
            type_url: "t".into(),
            value: vec![Bytes::from_static(b"x")],
        }),
        next_page: next,
    }
}

#[test]
fn first_request_has_no_cursor() {
    let mut plan = QueryPlan::new(base(), None);
    let first = plan.next_request().unwrap();
    assert_eq!(first.page, None);
    assert_eq!(first.collection_ids, base().collection_ids);
    assert!(first.skip_data);
    assert_eq!(first.dataset_id, base().dataset_id);

    let mut plan = QueryPlan::new(base(), Some(10));
    let first = plan.next_request().unwrap();
    assert_eq!(
        first.page,
        Some(Pagination {
            limit: Some(10),
            starting_after: None
        })
    );
}

#[test]
fn next_page_is_echoed_verbatim() {
    let mut plan = QueryPlan::new(base(), Some(10));
    let first = plan.next_request().unwrap();
    // nothing more until the response arrives
    assert!(plan.next_request().is_none());
    assert!(!plan.is_done());
    let next = Pagination {
        limit: Some(10),
        starting_after: Some(id(7)),
    };
    plan.advance(&page(Some(next.clone())));
    let second = plan.next_request().unwrap();
    assert_eq!(second.page, Some(next));
    // every other field unchanged
    assert_eq!(
        QueryRequest {
            page: None,
            ..second
        },
        QueryRequest {
            page: None,
            ..first
        }
    );
    assert_eq!(plan.requests_sent(), 2);
}

#[test]
fn stops_when_next_page_absent() {
    let mut plan = QueryPlan::new(base(), None);
    plan.next_request().unwrap();
    plan.advance(&page(None));
    assert!(plan.is_done());
    assert!(plan.next_request().is_none());
}

#[test]
fn stops_when_cursor_absent_or_empty() {
    for next in [
        Pagination {
            limit: Some(10),
            starting_after: None,
        },
        Pagination {
            limit: Some(10),
            starting_after: Some(Id { uuid: Bytes::new() }),
        },
        Pagination::default(),
    ] {
        let mut plan = QueryPlan::new(base(), None);
        plan.next_request().unwrap();
        plan.advance(&page(Some(next)));
        assert!(plan.is_done());
        assert!(plan.next_request().is_none());
    }
}

#[test]
fn finish_ends_early() {
    let mut plan = QueryPlan::new(base(), None);
    plan.next_request().unwrap();
    plan.finish();
    assert!(plan.next_request().is_none());
}

/// Pages through a simulated server with `n` items and `limit` per page; the plan terminates after exactly
/// the pages needed (an empty final page only when the server announced one more).
#[test]
fn terminates_over_simulated_server() {
    for (n, limit) in [(0u8, 3u8), (1, 3), (3, 3), (7, 3), (9, 1), (10, 4)] {
        let mut plan = QueryPlan::new(base(), Some(u64::from(limit)));
        let mut seen: Vec<u8> = Vec::new();
        let mut guard = 0;
        while let Some(request) = plan.next_request() {
            guard += 1;
            assert!(guard < 100, "plan does not terminate");
            let after = request
                .page
                .as_ref()
                .and_then(|p| p.starting_after.as_ref())
                .map(|i| i.uuid[0]);
            let start = after.map_or(1, |a| a + 1);
            let items: Vec<u8> = (start..=n).take(usize::from(limit)).collect();
            let more = items.last().is_some_and(|l| *l < n);
            seen.extend(&items);
            plan.advance(&QueryResultPage {
                data: Some(RepeatedAny {
                    type_url: "t".into(),
                    value: items.iter().map(|i| Bytes::from(vec![*i])).collect(),
                }),
                next_page: more.then(|| Pagination {
                    limit: Some(i64::from(limit)),
                    starting_after: items.last().map(|l| id(*l)),
                }),
            });
        }
        assert_eq!(seen, (1..=n).collect::<Vec<_>>());
        let pages = u64::from(n.div_ceil(limit).max(1));
        assert_eq!(plan.requests_sent(), pages, "n={n} limit={limit}");
    }
}
