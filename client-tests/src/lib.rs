//! `tilebox-client-tests`: the test suite shared by the three client adapters, written once.
//!
//! - [`loopback`]: a tiny std-thread HTTP/1.1 server for transport-level tests.
//! - [`transport_suite`]: transport tests, instantiated per adapter with [`transport_tests!`].
//!
//! The test files in `tests/` plug each adapter (tokio; async-std under both smol and async-std; blocking)
//! into these harnesses.

pub mod loopback;
pub mod transport_suite;
