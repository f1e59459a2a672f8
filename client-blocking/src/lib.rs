//! `tilebox-blocking`: the Tilebox client for synchronous programs.
//!
//! A thin adapter over `tilebox-core`: [`UreqTransport`] sends the core's HTTP requests with a pooled ureq
//! agent, running each blocking call on a bounded set of I/O threads so the core's concurrent loading gets
//! real parallelism under `futures::executor::block_on`; [`ThreadSleep`] waits between retries on a timer
//! thread. No async runtime is involved, so it also works when called from inside one (e.g. tokio).

mod sleep;
mod transport;
mod workers;

pub use sleep::ThreadSleep;
pub use transport::{UreqTransport, UreqTransportBuilder};

pub use tilebox_core;
pub use tilebox_core::{AsyncSleep, Transport, TransportError};
