//! The query plan: which `QueryRequest` to send next (spec §6.4 step 4), as a state machine without I/O.
//!
//! The first request carries no cursor (`page` absent, or only a `limit` when a page size was chosen). After
//! each `QueryResultPage` the next request is the same request with `page = next_page` echoed back verbatim;
//! the plan is finished when `next_page` is absent or has no (or an empty) `starting_after` cursor.

use crate::wire::datasets::v1::{QueryRequest, QueryResultPage};
use crate::wire::tilebox::v1::Pagination;

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// The first request has not been handed out yet.
    First,
    /// Waiting for the response to the last request handed out.
    Waiting,
    /// The next request must carry this page.
    Next(Pagination),
    /// No more requests.
    Done,
}

/// Yields the sequence of `QueryRequest`s that pages through one query.
///
/// Use it as: `while let Some(req) = plan.next_request() { let page = send(req).await?; plan.advance(&page); }`.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    base: QueryRequest,
    page_size: Option<u64>,
    state: State,
    requests: u64,
}

impl QueryPlan {
    /// A plan for `base` (its `page` field is ignored). With `page_size`, every request carries that `limit`
    /// (the server echoes it in `next_page`); without, the server's default page size applies.
    pub fn new(base: QueryRequest, page_size: Option<u64>) -> Self {
        QueryPlan {
            base,
            page_size,
            state: State::First,
            requests: 0,
        }
    }

    /// The request to send now, or `None` when the plan is finished or still waits for the response to the
    /// previous request (see [`QueryPlan::advance`]).
    pub fn next_request(&mut self) -> Option<QueryRequest> {
        let page = match std::mem::replace(&mut self.state, State::Waiting) {
            State::First => self.page_size.map(|limit| Pagination {
                limit: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
                starting_after: None,
            }),
            State::Next(page) => Some(page),
            other => {
                self.state = other;
                return None;
            }
        };
        self.requests += 1;
        Some(QueryRequest {
            page,
            ..self.base.clone()
        })
    }

    /// Records the response to the last request; decides whether there is a next one.
    pub fn advance(&mut self, page: &QueryResultPage) {
        self.state = match &page.next_page {
            Some(next)
                if next
                    .starting_after
                    .as_ref()
                    .is_some_and(|id| !id.uuid.is_empty()) =>
            {
                State::Next(next.clone())
            }
            _ => State::Done,
        };
    }

    /// Ends the plan early (after an error); no further requests are handed out.
    pub fn finish(&mut self) {
        self.state = State::Done;
    }

    /// Whether no further request will be handed out.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// How many requests have been handed out so far.
    pub fn requests_sent(&self) -> u64 {
        self.requests
    }

    /// The base request (without paging).
    pub fn base(&self) -> &QueryRequest {
        &self.base
    }
}
