//! Durability: data written to a database file survives a restart; demo data is seeded only once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use prost::Message;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_server::ServerConfig;

#[tokio::test]
async fn data_survives_a_restart_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tilebox.db");
    let ids = {
        let handle = tilebox_server::serve(ServerConfig::builder().database(&path).build())
            .await
            .unwrap();
        let url = handle.url();
        let (_, c) = create_test_dataset(&url, "durable").await;
        let values = (0..100).map(|i| point(T2020 + i, i as f64, "x")).collect();
        let r = ingest(&url, &c, values, true).await.unwrap();
        handle.shutdown().await;
        r.datapoint_ids
    };
    let handle = tilebox_server::serve(ServerConfig::builder().database(&path).build())
        .await
        .unwrap();
    let url = handle.url();
    let d = dataset(&url, "local.durable").await;
    let info = collection(&url, d.id.as_ref().unwrap(), "main").await;
    assert_eq!(info.count, Some(100));
    let req = ds::QueryRequest {
        filters: Some(ds::QueryFilters {
            time_interval: Some(interval(T2020, T2021)),
            ..Default::default()
        }),
        dataset_id: d.id.clone(),
        ..Default::default()
    };
    let (values, _) = query_all(&url, req).await;
    let got: Vec<_> = values
        .iter()
        .map(|v| TestPoint::decode(&v[..]).unwrap().id.unwrap().uuid)
        .collect();
    assert_eq!(got, ids.iter().map(|i| i.uuid.clone()).collect::<Vec<_>>());
    handle.shutdown().await;
}

#[tokio::test]
async fn demo_is_seeded_once_per_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    let count = |url: String| async move {
        let d = dataset(&url, "open_data.copernicus.landsat8_oli_tirs").await;
        collection(&url, d.id.as_ref().unwrap(), "L1T")
            .await
            .count
            .unwrap()
    };
    let first = tilebox_server::serve(ServerConfig::builder().database(&path).demo(true).build())
        .await
        .unwrap();
    let n1 = count(first.url()).await;
    let d1 = dataset(&first.url(), "open_data.copernicus.landsat8_oli_tirs").await;
    first.shutdown().await;
    let second = tilebox_server::serve(ServerConfig::builder().database(&path).demo(true).build())
        .await
        .unwrap();
    assert_eq!(count(second.url()).await, n1);
    // Deterministic: same ids and schema after the restart.
    assert_eq!(
        dataset(&second.url(), "open_data.copernicus.landsat8_oli_tirs").await,
        d1
    );
    second.shutdown().await;
}

/// Starts the real binary on an ephemeral port with a database file; returns the child and its URL.
fn start_binary(db: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tilebox-server"))
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("binary prints its URL").unwrap();
        if let Some(url) = line.strip_prefix("tilebox-server listening on ") {
            break url.trim().to_owned();
        }
    };
    (child, url)
}

#[cfg(unix)]
#[tokio::test]
async fn acknowledged_writes_survive_sigkill_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("killed.db");
    let (mut child, url) = start_binary(&db);
    let (_, c) = create_test_dataset(&url, "survivor").await;
    let values = (0..500).map(|i| point(T2020 + i, i as f64, "k")).collect();
    let r = ingest(&url, &c, values, true).await.unwrap();
    assert_eq!(r.num_created, 500);
    child.kill().unwrap(); // SIGKILL: no shutdown code runs
    child.wait().unwrap();

    let (child, url) = start_binary(&db);
    let d = dataset(&url, "local.survivor").await;
    assert_eq!(
        collection(&url, d.id.as_ref().unwrap(), "main").await.count,
        Some(500)
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = child;
    assert!(child.wait().unwrap().success(), "graceful exit on SIGTERM");
}
