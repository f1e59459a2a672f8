//! The in-process servers a test binary shares (started once, on their own threads, so non-tokio clients
//! can use them).

use std::sync::OnceLock;
use std::time::Duration;

use tilebox_server::{BackgroundServer, ServerConfig, TlsIdentity, spawn_background};

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

/// A self-signed certificate for `localhost` and `127.0.0.1`: `(certificate PEM, private key PEM)`.
pub fn self_signed() -> (String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("rcgen makes a certificate");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// A demo server speaking HTTPS only (`https://127.0.0.1:PORT`), with the PEM of its self-signed root.
pub fn tls() -> (String, String) {
    static SERVER: OnceLock<(BackgroundServer, String)> = OnceLock::new();
    let (server, cert) = SERVER.get_or_init(|| {
        let (cert, key) = self_signed();
        let server = start(
            ServerConfig::builder()
                .demo(true)
                .tls(TlsIdentity::from_pem(cert.clone(), key))
                .build(),
        );
        (server, cert)
    });
    (server.url(), cert.clone())
}
