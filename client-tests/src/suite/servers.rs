//! The in-process servers a test binary shares (started once, on their own threads, so non-tokio clients
//! can use them), on SQLite, or on PostgreSQL once [`use_postgres`] was called.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tilebox_server::{
    BackgroundServer, ServerConfig, ServerConfigBuilder, TlsIdentity, spawn_background,
};

/// The API key of [`secured`].
pub const SECURED_KEY: &str = "suite-secret-key";

/// Whether the servers are started on PostgreSQL ([`use_postgres`]).
static ON_POSTGRES: AtomicBool = AtomicBool::new(false);

/// Puts the servers this test binary starts on PostgreSQL, each on a fresh database of the test PostgreSQL
/// server (`tilebox-test-support`: `TILEBOX_TEST_POSTGRES_URL`, or the throw-away cluster of the `cargo test`
/// run). Every test of a PostgreSQL suite calls it first (`client_suite!(Api, postgres)`), so no server of
/// the binary starts before. Returns false, after printing `SKIPPED: <test>: <reason>`, when there is no
/// PostgreSQL server: the test must return.
pub fn use_postgres() -> bool {
    match tilebox_test_support::postgres_url() {
        Ok(_) => {
            ON_POSTGRES.store(true, Ordering::SeqCst);
            true
        }
        Err(skip) => {
            skip.report();
            false
        }
    }
}

fn start(config: ServerConfigBuilder) -> BackgroundServer {
    let config = if ON_POSTGRES.load(Ordering::SeqCst) {
        config
            .postgres(tilebox_test_support::fresh_database("client_suite"))
            .postgres_pool_size(8)
    } else {
        config
    };
    spawn_background(config.build()).expect("the local server starts")
}

/// A server with the demo data, no latency.
pub fn demo() -> String {
    static SERVER: OnceLock<BackgroundServer> = OnceLock::new();
    SERVER
        .get_or_init(|| start(ServerConfig::builder().demo(true)))
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
                    .latency(Duration::from_millis(150)),
            )
        })
        .url()
}

/// A server that requires the API key [`SECURED_KEY`].
pub fn secured() -> String {
    static SERVER: OnceLock<BackgroundServer> = OnceLock::new();
    SERVER
        .get_or_init(|| start(ServerConfig::builder().demo(false).api_key(SECURED_KEY)))
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
                .tls(TlsIdentity::from_pem(cert.clone(), key)),
        );
        (server, cert)
    });
    (server.url(), cert.clone())
}
