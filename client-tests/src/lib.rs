//! `tilebox-client-tests`: the test suite shared by the three client adapters, written once.
//!
//! - [`loopback`]: a tiny std-thread HTTP/1.1 server for transport-level tests.
//! - [`transport_suite`]: transport tests, instantiated per adapter with [`transport_tests!`].
//! - [`suite`]: the client tests of issue 4 against the in-process server, instantiated per adapter with
//!   [`client_suite!`].
//!
//! The test files in `tests/` plug each adapter (tokio; async-std under both smol and async-std; blocking)
//! into these harnesses.

pub mod bench;
pub mod every_kind;
pub mod loopback;
pub mod suite;
pub mod transport_suite;
