//! The shared client suite for the async_std client.

tilebox_client_tests::client_suite!(tilebox_client_tests::suite::adapters::AsyncStdApi);
