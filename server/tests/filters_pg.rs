//! The `filters` suite on PostgreSQL: `filters.rs` compiled once more, every server on a fresh database of the
//! PostgreSQL server at `TILEBOX_TEST_POSTGRES_URL` (the tests skip, printing why, when it is unset).

#[path = "filters.rs"]
mod suite;
