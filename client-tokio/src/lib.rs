//! `tilebox-tokio`: the Tilebox client for tokio programs.
//!
//! A thin adapter over `tilebox-core`: [`ReqwestTransport`] sends the core's HTTP requests with a pooled
//! reqwest client (rustls with ring, HTTP/1.1 and HTTP/2) and [`TokioSleep`] waits between retries. Paging,
//! retries, decoding, concurrent loading and progress all live in the core.

mod sleep;
mod transport;

pub use sleep::TokioSleep;
pub use transport::{ReqwestTransport, ReqwestTransportBuilder};

pub use tilebox_core;
pub use tilebox_core::{AsyncSleep, Transport, TransportError};
