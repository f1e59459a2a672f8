//! Transport tests for `tilebox-tokio` (reqwest).
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tilebox_client_tests::transport_suite::TransportHarness;
use tilebox_core::{AsyncSleep, Transport};
use tilebox_tokio::{ReqwestTransport, TokioSleep};

struct Tokio(tokio::runtime::Runtime);

impl TransportHarness for Tokio {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
    fn transport(&self, timeout: Option<Duration>) -> Arc<dyn Transport> {
        Arc::new(
            ReqwestTransport::builder()
                .timeout(timeout)
                .build()
                .unwrap(),
        )
    }
    fn sleeper(&self) -> Arc<dyn AsyncSleep> {
        Arc::new(TokioSleep)
    }
}

fn harness() -> Tokio {
    Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    )
}

tilebox_client_tests::transport_tests!(harness());
