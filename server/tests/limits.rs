//! Bounded error messages and connection limits: long inputs over gRPC and Connect get short messages and
//! the right code; idle connections are closed after the (short, configured) idle timeout while a normal
//! client is still served; connections beyond the limit wait instead of starving established clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use prost::Message;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn long_slug() -> String {
    format!("open_data.{}", "ü".repeat(50_000))
}

#[tokio::test]
async fn long_inputs_get_bounded_messages_over_grpc() {
    if common::skip() {
        return;
    }
    let url = demo();
    let request = ds::GetDatasetRequest {
        slug: long_slug(),
        id: None,
    }
    .encode_to_vec();
    let out = grpc_raw(
        url,
        "datasets.v1.DatasetService/GetDataset",
        frame(&request, false),
        &[],
    )
    .await;
    let status = out.grpc_status.expect("grpc-status");
    assert!(
        status == "3" || status == "5",
        "invalid_argument or not_found, got {status}"
    );
    let message = out.grpc_message.expect("grpc-message");
    // Percent-encoded: at most 3 bytes on the wire per byte of a 256-byte message.
    assert!(message.len() <= 3 * 256, "{} bytes", message.len());
    assert!(message.is_ascii());
    let decoded = percent_decode(&message);
    assert!(decoded.len() <= 256, "{} bytes", decoded.len());
    assert!(decoded.ends_with('…'), "{decoded}");
}

#[tokio::test]
async fn long_inputs_get_bounded_messages_over_connect() {
    if common::skip() {
        return;
    }
    let url = demo();
    let err = call::<_, ds::Dataset>(
        url,
        "datasets.v1.DatasetService/GetDataset",
        &ds::GetDatasetRequest {
            slug: long_slug(),
            id: None,
        },
    )
    .await
    .expect_err("no such dataset");
    assert!(
        err.code == "invalid_argument" || err.code == "not_found",
        "{err:?}"
    );
    assert!(err.message.len() <= 256, "{} bytes", err.message.len());
    assert!(err.message.ends_with('…'));
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 after decoding")
}

/// Reads until the server closes the connection; returns what it sent. (The generous bound only turns a
/// server that never closes into a failure instead of a hang.)
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server never closed the connection");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_are_closed_and_others_served() {
    if common::skip() {
        return;
    }
    let server = empty_server(
        ServerConfig::builder()
            .idle_timeout(Duration::from_millis(300))
            .header_read_timeout(Duration::from_millis(300)),
    );
    let url = server.url();
    let addr = server.addr();
    // Many connections that never send a byte, and some that send half a request head.
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut half = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /datasets.v1.DatasetService/ListDatasets HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        half.push(s);
    }
    // A normal client is served meanwhile.
    let tree: ds::ListDatasetsResponse = call(
        &url,
        "datasets.v1.DatasetService/ListDatasets",
        &ds::ListDatasetsRequest::default(),
    )
    .await
    .expect("served while idle connections are open");
    assert!(tree.datasets.is_empty());
    // Every idle or half-sent connection is closed by the server (read returns EOF or an error) — the test
    // waits for the close itself, not for a time.
    for mut s in silent {
        let bytes = read_to_close(&mut s).await;
        assert!(bytes.is_empty(), "nothing is sent to a silent connection");
    }
    for mut s in half {
        let _ = read_to_close(&mut s).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_wait_for_a_free_slot() {
    if common::skip() {
        return;
    }
    let server = empty_server(
        ServerConfig::builder()
            .max_connections(4)
            .idle_timeout(Duration::from_millis(500)),
    );
    let url = server.url();
    let addr = server.addr();
    // Take every slot with idle connections.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // A new client queues in the backlog and is served once the idle connections time out.
    let served: ds::ListDatasetsResponse = call(
        &url,
        "datasets.v1.DatasetService/ListDatasets",
        &ds::ListDatasetsRequest::default(),
    )
    .await
    .expect("served after a slot frees");
    assert!(served.datasets.is_empty());
    for mut s in idle {
        let _ = read_to_close(&mut s).await;
    }
}

/// With a low file-descriptor limit (`ulimit -n 128`) and more idle connections than it allows, the server
/// closes idle connections as soon as `accept` runs out of descriptors, so a normal client is served
/// without waiting for the (here: 10 minute) idle timeout.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_sheds_idle_connections() {
    use std::io::BufRead;

    if common::skip() {
        return;
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // On PostgreSQL: a fresh database, and a small pool (its connections count against the limit too).
    let database = if on_postgres() {
        format!(
            " --database '{}' --postgres-pool-size 4",
            fresh_postgres_database()
        )
    } else {
        String::new()
    };
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 128 && exec '{}' --listen 127.0.0.1:{port} --idle-timeout-ms 600000{database}",
            env!("CARGO_BIN_EXE_tilebox-server")
        ))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().unwrap();
    let ready = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("listening on"));
    assert!(ready, "server did not start");
    let url = format!("http://127.0.0.1:{port}");
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    let request = ds::ListDatasetsRequest::default();
    let call = call::<_, ds::ListDatasetsResponse>(
        &url,
        "datasets.v1.DatasetService/ListDatasets",
        &request,
    );
    // The bound only turns a server that never answers into a failure instead of a hang.
    let served = tokio::time::timeout(Duration::from_secs(120), call).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        matches!(served, Ok(Ok(_))),
        "a normal client is served: {served:?}"
    );
    drop(idle);
}
