//! The `data` suite on PostgreSQL: `data.rs` compiled once more, every server on a fresh database of the
//! PostgreSQL server at `TILEBOX_TEST_POSTGRES_URL` (the tests skip, printing why, when it is unset).

#[path = "data.rs"]
mod suite;
