//! The client test suite of issue 4, written once: [`api::Api`] abstracts a client, [`adapters`] implements
//! it for each adapter, [`tests`] holds the tests, [`client_suite!`](crate::client_suite) instantiates them.

pub mod adapters;
pub mod api;
pub mod restart;
pub mod servers;
pub mod tests;
pub mod wrappers;
