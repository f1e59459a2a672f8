//! HTTP/2 in the async-std adapter: a concurrent load multiplexes over one connection, counted by the server
//! itself, with h2c prior knowledge on `http://` and with ALPN over TLS; without HTTP/2 the same load opens
//! several HTTP/1.1 connections.

use tilebox_async_std::{Client, ClientBuilder, QueryOptions};
use tilebox_client_tests::suite::servers;
use tilebox_client_tests::suite::tests::{LANDSAT, SEED, year_2020};
use tilebox_server::{BackgroundServer, ServerConfig, TlsIdentity, spawn_background};

/// Loads the seed workload concurrently (16 requests in flight) and checks the exact counts.
async fn seed_load(client: &Client) {
    let dataset = client.dataset(LANDSAT).await.expect("dataset");
    let mut collections = Vec::new();
    for (name, _) in SEED {
        collections.push(dataset.collection(name).await.expect("collection"));
    }
    let options: QueryOptions = year_2020().parallel_pages(8);
    let results = client.load_collections(&collections, &options).await;
    for ((name, count), result) in SEED.iter().zip(results) {
        assert_eq!(result.expect("load").len(), *count, "{name}");
    }
}

fn demo_server(config: tilebox_server::ServerConfigBuilder) -> BackgroundServer {
    spawn_background(config.demo(true).build()).expect("server starts")
}

/// Runs `run` with a client of `server` and returns how many connections the server accepted meanwhile.
fn load_with(server: &BackgroundServer, builder: ClientBuilder, run: impl FnOnce(&Client)) -> u64 {
    let before = server.connections_accepted();
    let client = builder
        .url(server.url())
        .anonymous()
        .concurrency(16)
        .build()
        .expect("client");
    run(&client);
    server.connections_accepted() - before
}

#[test]
fn h2c_prior_knowledge_multiplexes_over_one_connection() {
    let server = demo_server(ServerConfig::builder());
    let h2 = Client::builder().http2_prior_knowledge(true);
    let opened = load_with(&server, h2.clone(), |c| smol::block_on(seed_load(c)));
    assert_eq!(
        opened, 1,
        "the whole concurrent load (smol) used one connection"
    );
    let opened = load_with(&server, h2, |c| async_std::task::block_on(seed_load(c)));
    assert_eq!(
        opened, 1,
        "the whole concurrent load (async-std) used one connection"
    );
    let opened = load_with(&server, Client::builder(), |c| smol::block_on(seed_load(c)));
    assert!(
        opened > 1,
        "HTTP/1.1 needs a connection per concurrent request, opened {opened}"
    );
}

#[test]
fn alpn_h2_over_tls_multiplexes_over_one_connection() {
    let (cert, key) = servers::self_signed();
    let server = demo_server(ServerConfig::builder().tls(TlsIdentity::from_pem(cert.clone(), key)));
    let opened = load_with(
        &server,
        Client::builder().add_root_certificate(&cert),
        |c| smol::block_on(seed_load(c)),
    );
    assert_eq!(opened, 1, "TLS negotiated h2: one connection");
}
