//! The shared client suite for the tokio client against servers on PostgreSQL: each on a fresh database of the
//! test PostgreSQL server (`TILEBOX_TEST_POSTGRES_URL`, or the throw-away cluster `tilebox-test-support` starts
//! for the `cargo test` run; the tests skip, printing `SKIPPED:` lines, only when PostgreSQL is not installed).

tilebox_client_tests::client_suite!(tilebox_client_tests::suite::adapters::TokioApi, postgres);
