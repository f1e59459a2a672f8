//! Durability: data written to a database survives a restart (also a SIGKILL); demo data is seeded only once;
//! a database with a newer schema is refused. On SQLite here, on PostgreSQL in `persistence_pg`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use prost::Message;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_server::{Database, ServerConfig};

/// Where a test keeps its database: a file in `dir` on SQLite, a fresh PostgreSQL database in `*_pg`.
fn database_location(dir: &tempfile::TempDir, file: &str) -> String {
    if on_postgres() {
        fresh_postgres_database()
    } else {
        dir.path().join(file).display().to_string()
    }
}

/// Serves the database at `location` (with the demo seeded when `demo`).
async fn serve_at(
    location: &str,
    demo: bool,
) -> Result<tilebox_server::ServerHandle, tilebox_server::ServerError> {
    tilebox_server::serve(
        ServerConfig::builder()
            .storage(Database::from_location(location))
            .demo(demo)
            .build(),
    )
    .await
}

#[tokio::test]
async fn data_survives_a_restart_on_the_same_file() {
    if common::skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = database_location(&dir, "tilebox.db");
    let ids = {
        let handle = serve_at(&path, false).await.unwrap();
        let url = handle.url();
        let (_, c) = create_test_dataset(&url, "durable").await;
        let values = (0..100).map(|i| point(T2020 + i, i as f64, "x")).collect();
        let r = ingest(&url, &c, values, true).await.unwrap();
        handle.shutdown().await;
        r.datapoint_ids
    };
    let handle = serve_at(&path, false).await.unwrap();
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
    if common::skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = database_location(&dir, "demo.db");
    let count = |url: String| async move {
        let d = dataset(&url, "open_data.copernicus.landsat8_oli_tirs").await;
        collection(&url, d.id.as_ref().unwrap(), "L1T")
            .await
            .count
            .unwrap()
    };
    let first = serve_at(&path, true).await.unwrap();
    let n1 = count(first.url()).await;
    let d1 = dataset(&first.url(), "open_data.copernicus.landsat8_oli_tirs").await;
    first.shutdown().await;
    let second = serve_at(&path, true).await.unwrap();
    assert_eq!(count(second.url()).await, n1);
    // Deterministic: same ids and schema after the restart.
    assert_eq!(
        dataset(&second.url(), "open_data.copernicus.landsat8_oli_tirs").await,
        d1
    );
    second.shutdown().await;
}

/// Starts the real binary on an ephemeral port with a database; returns the child and its URL.
fn start_binary(db: &str) -> (std::process::Child, String) {
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
    if common::skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = database_location(&dir, "killed.db");
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

#[tokio::test]
async fn a_database_with_a_newer_schema_is_refused() {
    if common::skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = database_location(&dir, "future.db");
    let handle = serve_at(&path, false).await.unwrap();
    handle.shutdown().await;
    // A later server version migrated this database further.
    let future = "INSERT INTO tilebox_schema_migrations (version, description) VALUES (9999, 'from the future')";
    if on_postgres() {
        let url = path.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client.execute(future, &[]).unwrap();
        })
        .await
        .unwrap();
    } else {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(future, []).unwrap();
    }
    let err = serve_at(&path, false).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("9999") && message.contains("newer"),
        "{message}"
    );
}
