//! `tilebox`: the Rust SDK for the Tilebox satellite-data platform.
//!
//! This facade re-exports the sans-IO core ([`core`]) and the client adapters picked by cargo features:
//! `tokio` (default, [`tokio`]), `async-std` ([`async_std`]: async-std and smol) and `blocking`
//! ([`blocking`]: plain threads). The features are additive: any combination compiles.

pub use tilebox_core as core;

#[cfg(feature = "tokio")]
pub use tilebox_tokio as tokio;

#[cfg(feature = "async-std")]
pub use tilebox_async_std as async_std;

#[cfg(feature = "blocking")]
pub use tilebox_blocking as blocking;

/// Fetching the STAC assets of datapoints (feature `assets`); the asset model itself is
/// [`core::assets`].
#[cfg(feature = "assets")]
pub use tilebox_assets as assets;
