//! Bounded error messages and connection limits: long inputs over gRPC and Connect get short messages and
//! the right code; idle connections are closed after the (short, configured) idle timeout while a normal
//! client is still served; at the connection limit, and when the process runs out of file descriptors, idle
//! connections are closed (oldest first) so that new clients are served at once and never reset.
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

/// With every slot held by silent idle connections (and an idle timeout far beyond the test's deadline), a
/// new client is served at once: the server closes the oldest idle connection to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_at_the_limit_make_room_for_a_new_client() {
    if common::skip() {
        return;
    }
    let server = empty_server(
        ServerConfig::builder()
            .max_connections(4)
            .idle_timeout(Duration::from_secs(600)),
    );
    let url = server.url();
    let addr = server.addr();
    // Take every slot with silent connections.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // A new client is served; the deadline only turns a wait for the 10-minute idle timeout into a failure.
    let request = ds::ListDatasetsRequest::default();
    let call = call::<_, ds::ListDatasetsResponse>(
        &url,
        "datasets.v1.DatasetService/ListDatasets",
        &request,
    );
    let served = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("a new client is served without waiting for the idle timeout")
        .expect("served");
    assert!(served.datasets.is_empty());
    // The oldest idle connection was the one closed (the backlog is accepted in order).
    let bytes = read_to_close(&mut idle[0]).await;
    assert!(bytes.is_empty(), "nothing is sent to a silent connection");
}

/// One raw HTTP/1.1 `ListDatasets` on a new connection; the response head, or the I/O error (a reset).
async fn raw_list_datasets(addr: std::net::SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            b"POST /datasets.v1.DatasetService/ListDatasets HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/proto\r\nConnect-Protocol-Version: 1\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Set in the child process of [`out_of_file_descriptors_sheds_idle_connections`]: it runs the server.
#[cfg(unix)]
const FD_CHILD: &str = "TILEBOX_LIMITS_FD_CHILD";

/// With the server process limited to 128 file descriptors (`setrlimit` in a child process: this test binary
/// run again for this one test) and 200 idle connections, more than the limit allows, 20 new clients one
/// after another are all served, none gets a reset: the server closes idle connections, oldest first, as
/// soon as `accept` runs out of descriptors, without waiting for the (here: 10 minute) idle timeout.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_sheds_idle_connections() {
    use std::io::{BufRead, Write};

    if std::env::var_os(FD_CHILD).is_some() {
        let limit = rustix::process::Rlimit {
            current: Some(128),
            maximum: Some(128),
        };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, limit)
            .expect("lower the descriptor limit");
        let mut config = ServerConfig::builder().idle_timeout(Duration::from_secs(600));
        if on_postgres() {
            // Its pooled connections count against the limit too.
            config = config.postgres_pool_size(4);
        }
        let server = empty_server(config);
        println!("\nLISTENING {}", server.addr());
        std::io::stdout().flush().unwrap();
        // Serve until the parent closes our stdin.
        tokio::task::spawn_blocking(|| std::io::stdin().lines().count())
            .await
            .unwrap();
        return;
    }
    if common::skip() {
        return;
    }
    // This test's name within the binary (`limits` or `limits_pg::suite`): the child runs it alone.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = if module.is_empty() {
        "out_of_file_descriptors_sheds_idle_connections".to_owned()
    } else {
        format!("{module}::out_of_file_descriptors_sheds_idle_connections")
    };
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(FD_CHILD, "1")
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: std::net::SocketAddr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let (_, addr) = line.split_once("LISTENING ")?;
            Some(addr.trim().parse().unwrap())
        })
        .expect("the child's server starts");
    // Keep reading the child's output, so that its test harness can finish writing its report.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // One after another; the bound only turns a server that never answers into a failure instead of a hang.
    let clients = async {
        let mut heads = Vec::new();
        for _ in 0..20 {
            heads.push(raw_list_datasets(addr).await);
        }
        heads
    };
    let heads = tokio::time::timeout(Duration::from_secs(120), clients).await;
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let heads = heads.expect("every new client is served in time");
    for head in &heads {
        assert!(
            matches!(head, Ok(h) if h.starts_with("HTTP/1.1 200")),
            "every new client is served, none reset: {heads:?}"
        );
    }
    let rest = rest.join().unwrap();
    assert!(
        status.success(),
        "the child server exited cleanly: {status}: {rest:?}"
    );
    drop(idle);
}
