//! The `datasets` suite on PostgreSQL: `datasets.rs` compiled once more, every server on a fresh database of the
//! test PostgreSQL server (`TILEBOX_TEST_POSTGRES_URL`, or the throw-away cluster `tilebox-test-support` starts
//! for the `cargo test` run; the tests skip, printing `SKIPPED:` lines, only when PostgreSQL is not installed).

#[path = "datasets.rs"]
mod suite;
