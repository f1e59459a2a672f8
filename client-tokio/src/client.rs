//! [`Client`]: the core's client wired to reqwest and the tokio timer. The builder is the core's
//! [`tilebox_core::ClientBuilder`], parameterised by [`Tokio`].

use std::sync::Arc;

use tilebox_core::{AsyncSleep, Runtime, Transport, TransportError, TransportSettings};

use crate::{ReqwestTransport, TokioSleep};

/// The Tilebox datasets client for tokio programs (futures must be polled inside a tokio runtime).
/// See [`tilebox_core::AdapterClient`].
pub type Client = tilebox_core::AdapterClient<Tokio>;

/// Builder of a [`Client`]: URL, API key, retries, concurrency, timeouts, user agent, custom transport.
pub type ClientBuilder = tilebox_core::ClientBuilder<Tokio>;

/// The tokio adapter: reqwest transport, tokio timer.
#[derive(Debug, Clone, Copy)]
pub struct Tokio;

impl Runtime for Tokio {
    type Client = Client;

    fn transport(
        settings: &TransportSettings,
    ) -> std::result::Result<Arc<dyn Transport>, TransportError> {
        let mut builder = ReqwestTransport::builder()
            .timeout(settings.timeout)
            .pool_max_idle_per_host(settings.max_idle_per_host)
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
        Some(Arc::new(crate::offload::TokioOffload))
    }

    fn sleep() -> Arc<dyn AsyncSleep> {
        Arc::new(TokioSleep)
    }
}
