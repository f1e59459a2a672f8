//! The shared client suite for the tokio client.

tilebox_client_tests::client_suite!(tilebox_client_tests::suite::adapters::TokioApi);
