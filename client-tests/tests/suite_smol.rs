//! The shared client suite for the smol client.

tilebox_client_tests::client_suite!(tilebox_client_tests::suite::adapters::SmolApi);
