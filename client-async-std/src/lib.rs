//! `tilebox-async-std`: the Tilebox client for async-std and smol programs.
//!
//! A thin adapter over `tilebox-core`: [`HyperTransport`] sends the core's HTTP requests with hyper 1 over
//! async-net sockets (keep-alive connection pool, TLS via futures-rustls with ring) and [`AsyncIoSleep`]
//! waits between retries on async-io's timer. It needs no executor and never starts a tokio runtime. Paging,
//! retries, decoding, concurrent loading and progress all live in the core.

mod io;
mod pool;
mod sleep;
mod stream;
mod transport;

pub use sleep::AsyncIoSleep;
pub use transport::{HyperTransport, HyperTransportBuilder};

pub use tilebox_core;
pub use tilebox_core::{AsyncSleep, Transport, TransportError};
