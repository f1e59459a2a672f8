//! The in-process servers a test binary shares (started once, on their own threads, so non-tokio clients
//! can use them).

use std::sync::OnceLock;
use std::time::Duration;

use tilebox_server::{BackgroundServer, ServerConfig, spawn_background};

/// The API key of [`secured`].
pub const SECURED_KEY: &str = "suite-secret-key";

fn start(config: ServerConfig) -> BackgroundServer {
    spawn_background(config).expect("the local server starts")
}

/// A server with the demo data, no latency.
pub fn demo() -> String {
    static SERVER: OnceLock<BackgroundServer> = OnceLock::new();
    SERVER
        .get_or_init(|| start(ServerConfig::builder().demo(true).build()))
        .url()
}

/// A server with the demo data and 150 ms emulated latency per request.
pub fn slow() -> String {
    static SERVER: OnceLock<BackgroundServer> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            start(
                ServerConfig::builder()
                    .demo(true)
                    .latency(Duration::from_millis(150))
                    .build(),
            )
        })
        .url()
}

/// A server that requires the API key [`SECURED_KEY`].
pub fn secured() -> String {
    static SERVER: OnceLock<BackgroundServer> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            start(
                ServerConfig::builder()
                    .demo(false)
                    .api_key(SECURED_KEY)
                    .build(),
            )
        })
        .url()
}
