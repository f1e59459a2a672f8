//! Transport tests for `tilebox-async-std` (hyper over async-io), under smol and under async-std.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tilebox_async_std::{AsyncIoSleep, HyperTransport};
use tilebox_client_tests::transport_suite::TransportHarness;
use tilebox_core::{AsyncSleep, Transport};

fn transport(timeout: Option<Duration>) -> Arc<dyn Transport> {
    Arc::new(HyperTransport::builder().timeout(timeout).build().unwrap())
}

/// Runs everything under `smol::block_on`.
struct Smol;

impl TransportHarness for Smol {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        smol::block_on(future)
    }
    fn transport(&self, timeout: Option<Duration>) -> Arc<dyn Transport> {
        transport(timeout)
    }
    fn sleeper(&self) -> Arc<dyn AsyncSleep> {
        Arc::new(AsyncIoSleep)
    }
}

/// Runs everything under `async_std::task::block_on`.
struct AsyncStd;

impl TransportHarness for AsyncStd {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }
    fn transport(&self, timeout: Option<Duration>) -> Arc<dyn Transport> {
        transport(timeout)
    }
    fn sleeper(&self) -> Arc<dyn AsyncSleep> {
        Arc::new(AsyncIoSleep)
    }
}

mod smol_executor {
    tilebox_client_tests::transport_tests!(super::Smol);
}

mod async_std_executor {
    tilebox_client_tests::transport_tests!(super::AsyncStd);
}
