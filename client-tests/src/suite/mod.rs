//! The client test suite of issue 4, written once: [`api::Api`] abstracts a client, [`adapters`] implements
//! it for each adapter, [`tests`] and [`arrow`] hold the tests, [`client_suite!`](crate::client_suite) instantiates them.

pub mod adapters;
pub mod api;
pub mod arrow;
pub mod restart;
pub mod servers;
pub mod tests;
pub mod wrappers;

pub use arrow::{arrow_all_kinds_round_trip, arrow_seed_workload};
pub use tests::{
    collections_and_info, create_ingest_delete, dataset_query, dataset_tree,
    dropped_future_cancels_requests, dropped_pages_stop, error_invalid_argument, error_not_found,
    error_unauthenticated, filter_expressions, find_by_id, parallel_paging_equals_sequential,
    progress_callback, retries_stop_at_limit, retries_then_success,
    seed_workload_sequential_equals_concurrent, tls_core_calls, tls_untrusted_root_fails,
    typed_dynamic_and_skip_data,
};
