//! [`Client`]: the core's client wired to hyper over async-io and the async-io timer. The builder is the core's
//! [`tilebox_core::ClientBuilder`], parameterised by [`AsyncIo`].

use std::sync::Arc;

use tilebox_core::{AsyncSleep, Runtime, Transport, TransportError, TransportSettings};

use crate::{AsyncIoSleep, HyperTransport};

/// The Tilebox datasets client for async-std and smol programs (futures run on any executor; no tokio
/// runtime is ever started).
/// See [`tilebox_core::AdapterClient`].
pub type Client = tilebox_core::AdapterClient<AsyncIo>;

/// Builder of a [`Client`]: URL, API key, retries, concurrency, timeouts, user agent, custom transport.
pub type ClientBuilder = tilebox_core::ClientBuilder<AsyncIo>;

/// The async-std/smol adapter: hyper over async-net sockets, async-io timer.
#[derive(Debug, Clone, Copy)]
pub struct AsyncIo;

impl Runtime for AsyncIo {
    type Client = Client;

    fn transport(
        settings: &TransportSettings,
    ) -> std::result::Result<Arc<dyn Transport>, TransportError> {
        let mut builder = HyperTransport::builder()
            .timeout(settings.timeout)
            .max_idle_per_host(settings.max_idle_per_host)
            .http2_prior_knowledge(settings.http2_prior_knowledge);
        for pem in &settings.root_certificates {
            builder = builder.add_root_certificate(pem);
        }
        if let Some(timeout) = settings.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        Ok(Arc::new(builder.build()?))
    }

    #[cfg(feature = "arrow")]
    fn offload() -> Option<Arc<dyn tilebox_core::Offload>> {
        Some(Arc::new(crate::offload::BlockingOffload))
    }

    fn sleep() -> Arc<dyn AsyncSleep> {
        Arc::new(AsyncIoSleep)
    }
}
