//! Cancelled writes never wedge the store: small writes cancelled by `Connect-Timeout-Ms`, by `grpc-timeout`
//! and by an HTTP/2 stream reset, at many points, while large ingests and the workflows lease reaper hold the
//! write lock; afterwards every kind of write succeeds and no acknowledged write is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, deprecated)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use tilebox_server::{ServerConfig, WorkflowsConfig};

const LARGE: usize = 8_192;
const ROUNDS: u64 = 6;
/// Small cancelled writes per kind per round, each with a different deadline / reset delay.
const POINTS: u64 = 12;

fn ingest_body(collection: &tb::Id, values: Vec<Bytes>) -> Vec<u8> {
    ds::IngestRequest {
        collection_id: Some(collection.clone()),
        values,
        allow_existing: true,
    }
    .encode_to_vec()
}

fn small_points(tag: u64, n: u64) -> Vec<Bytes> {
    (0..n)
        .map(|i| point(T2020 + (tag * 100 + i) as i64, tag as f64, "small"))
        .collect()
}

/// The labels of every datapoint a successful (acknowledged) small ingest wrote.
fn acked_ids(resp: &ds::IngestResponse) -> Vec<Vec<u8>> {
    resp.datapoint_ids.iter().map(|i| i.uuid.to_vec()).collect()
}

/// A gRPC ingest over its own h2c connection; the response future is dropped (RST_STREAM(CANCEL)) after
/// `reset_after`. Returns the ids when the call completed first with status 0.
async fn grpc_ingest_reset(
    url: &str,
    body: Vec<u8>,
    reset_after: Duration,
) -> Option<Vec<Vec<u8>>> {
    let authority = url.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("{url}/datasets.v1.DataIngestionService/Ingest"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(frame(&body, false))))
        .unwrap();
    let call = async {
        let resp = sender.send_request(req).await.ok()?;
        let collected = resp.into_body().collect().await.ok()?;
        let ok = collected
            .trailers()
            .and_then(|t| t.get("grpc-status"))
            .is_some_and(|s| s == "0");
        let bytes = collected.to_bytes();
        (ok && bytes.len() > 5)
            .then(|| ds::IngestResponse::decode(&bytes[5..]).ok())
            .flatten()
    };
    // Dropping the unfinished call resets the stream: that is the cancellation under test.
    tokio::time::timeout(reset_after, call)
        .await
        .ok()
        .flatten()
        .map(|r| acked_ids(&r))
}

/// A gRPC ingest with a `grpc-timeout` deadline; ids when acknowledged, and the status seen.
async fn grpc_ingest_deadline(
    url: &str,
    body: Vec<u8>,
    timeout: &str,
) -> (String, Option<Vec<Vec<u8>>>) {
    let out = grpc_raw(
        url,
        "datasets.v1.DataIngestionService/Ingest",
        frame(&body, false),
        &[("grpc-timeout", timeout)],
    )
    .await;
    let status = out.grpc_status.clone().unwrap_or_default();
    let ids = (status == "0")
        .then(|| acked_ids(&ds::IngestResponse::decode(&out.message.unwrap()[..]).unwrap()));
    (status, ids)
}

async fn default_cluster(url: &str) -> String {
    let clusters: wf::ListClustersResponse = call(
        url,
        "workflows.v1.WorkflowsService/ListClusters",
        &wf::ListClustersRequest {},
    )
    .await
    .unwrap();
    clusters.clusters[0].slug.clone()
}

fn submit_job(name: &str) -> wf::SubmitJobRequest {
    wf::SubmitJobRequest {
        legacy_tasks: vec![wf::SingleTaskSubmission {
            identifier: Some(wf::TaskIdentifier {
                name: "noop".into(),
                version: "v1.0".into(),
            }),
            display: "noop".into(),
            ..Default::default()
        }],
        job_name: name.into(),
        trace_parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        ..Default::default()
    }
}

fn next_task(cluster: &str) -> wf::NextTaskRequest {
    wf::NextTaskRequest {
        computed_task: None,
        next_task_to_run: Some(wf::NextTaskToRun {
            cluster_slug: cluster.into(),
            identifiers: vec![wf::TaskIdentifier {
                name: "noop".into(),
                version: "v1.0".into(),
            }],
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_writes_never_wedge_the_store() {
    if common::skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 5 ms of emulated latency (inside the deadline, before dispatch): the Connect and gRPC ingests with a
    // 1 ms deadline (k = 0) surely end by their deadline, so the test can assert that calls were cancelled.
    let server = empty_server(
        ServerConfig::builder()
            .database(dir.path().join("tilebox.db"))
            .latency(Duration::from_millis(5))
            .workflows(
                WorkflowsConfig::builder()
                    .reaper_interval(Duration::from_millis(1))
                    .build(),
            ),
    );
    let url = server.url();
    let (large_dataset, large_collection) = create_test_dataset(&url, "large").await;
    let (small_dataset, small_collection) = create_test_dataset(&url, "small").await;
    let cluster = default_cluster(&url).await;

    let mut acked: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut large_acked = 0u64;
    let mut deadline_exceeded = 0usize;
    let mut tag = 0u64;
    for round in 0..ROUNDS {
        // A large ingest that holds the write lock while the small writes below queue and get cancelled.
        let large_values: Vec<Bytes> = (0..LARGE)
            .map(|i| {
                point(
                    T2020 + (round * LARGE as u64 + i as u64) as i64,
                    1.0,
                    "large",
                )
            })
            .collect();
        let large = {
            let url = url.clone();
            let c = large_collection.clone();
            tokio::spawn(async move { ingest(&url, &c, large_values, false).await })
        };
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..POINTS {
            for kind in 0..3 {
                tag += 1;
                let url = url.clone();
                let body = ingest_body(&small_collection, small_points(tag, 3));
                tasks.spawn(async move {
                    match kind {
                        0 => {
                            let ms = ((k + 1) * (k + 1)).to_string();
                            let (status, _, bytes) = connect_raw(
                                &url,
                                "datasets.v1.DataIngestionService/Ingest",
                                body,
                                &[("connect-timeout-ms", &ms)],
                            )
                            .await;
                            if status == 200 {
                                (
                                    false,
                                    Some(acked_ids(&ds::IngestResponse::decode(bytes).unwrap())),
                                )
                            } else {
                                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                                assert_eq!(v["code"], "deadline_exceeded", "{v}");
                                (true, None)
                            }
                        }
                        1 => {
                            let (status, ids) = grpc_ingest_deadline(
                                &url,
                                body,
                                &format!("{}m", (k + 1) * (k + 1)),
                            )
                            .await;
                            assert!(status == "0" || status == "4", "grpc-status {status}");
                            (status == "4", ids)
                        }
                        _ => (
                            false,
                            grpc_ingest_reset(
                                &url,
                                body,
                                Duration::from_micros(200 * (k + 1) * (k + 1)),
                            )
                            .await,
                        ),
                    }
                });
            }
            // Workflows writes cancelled by deadline too, while the reaper runs every millisecond.
            let job_url = url.clone();
            let name = format!("cancelled-{round}-{k}");
            tasks.spawn(async move {
                let url = job_url;
                let ms = ((k + 1) * (k + 1)).to_string();
                let (status, _, _) = connect_raw(
                    &url,
                    "workflows.v1.JobService/SubmitJob",
                    submit_job(&name).encode_to_vec(),
                    &[("connect-timeout-ms", &ms)],
                )
                .await;
                (status != 200, None)
            });
            // Task claims (NextTask runs the reaper and claims in one transaction) cancelled by deadline.
            let claim_url = url.clone();
            let claim = next_task(&cluster).encode_to_vec();
            tasks.spawn(async move {
                let url = claim_url;
                let ms = (k + 1).to_string();
                let (status, _, _) = connect_raw(
                    &url,
                    "workflows.v1.TaskService/NextTask",
                    claim,
                    &[("connect-timeout-ms", &ms)],
                )
                .await;
                (status != 200, None)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (exceeded, ids) = done.unwrap();
            deadline_exceeded += usize::from(exceeded);
            acked.extend(ids.into_iter().flatten());
        }
        let large = large.await.unwrap().expect("large ingest succeeds");
        large_acked += large.num_created as u64;
    }
    println!(
        "{} small datapoints acknowledged, {deadline_exceeded} calls ended by their deadline",
        acked.len()
    );
    // At least the Connect and gRPC ingests with a deadline below the emulated latency, every round.
    assert!(
        deadline_exceeded >= 2 * ROUNDS as usize,
        "only {deadline_exceeded} calls ended by their deadline"
    );

    // Every kind of write works right away.
    let (dataset, fresh) = create_test_dataset(&url, "after").await;
    let written = ingest(&url, &fresh, small_points(1_000_000, 5), false)
        .await
        .expect("ingest after cancellations");
    let _: ds::DeleteResponse = call(
        &url,
        "datasets.v1.DataIngestionService/Delete",
        &ds::DeleteRequest {
            collection_id: Some(fresh.clone()),
            datapoint_ids: written.datapoint_ids[..2].to_vec(),
        },
    )
    .await
    .expect("delete after cancellations");
    let _: ds::DeleteCollectionResponse = call(
        &url,
        "datasets.v1.CollectionService/DeleteCollection",
        &ds::DeleteCollectionRequest {
            collection_id: Some(fresh.clone()),
            dataset_id: dataset.id.clone(),
        },
    )
    .await
    .expect("delete collection after cancellations");
    let _: ds::DeleteDatasetResponse = call(
        &url,
        "datasets.v1.DatasetService/DeleteDataset",
        &ds::DeleteDatasetRequest {
            id: dataset.id.clone(),
        },
    )
    .await
    .expect("delete dataset after cancellations");
    let job: wf::Job = call(
        &url,
        "workflows.v1.JobService/SubmitJob",
        &submit_job("after"),
    )
    .await
    .expect("submit job after cancellations");
    assert!(job.id.is_some());
    let next: wf::NextTaskResponse = call(
        &url,
        "workflows.v1.TaskService/NextTask",
        &next_task(&cluster),
    )
    .await
    .expect("next task after cancellations");
    assert!(next.next_task.is_some(), "a queued task is handed out");

    // No acknowledged write is missing.
    let large_dataset = large_dataset.id.unwrap();
    let large_info = collection(&url, &large_dataset, "main").await;
    assert_eq!(large_info.count, Some(large_acked));
    assert_eq!(large_acked, ROUNDS * LARGE as u64);
    let (values, _) = query_all(
        &url,
        ds::QueryRequest {
            collection_ids: vec![small_collection.clone()],
            dataset_id: small_dataset.id.clone(),
            filters: Some(ds::QueryFilters {
                time_interval: Some(interval(T2020, T2021)),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let stored: BTreeSet<Vec<u8>> = values
        .iter()
        .map(|v| {
            TestPoint::decode(v.as_ref())
                .unwrap()
                .id
                .unwrap()
                .uuid
                .to_vec()
        })
        .collect();
    let missing = acked.difference(&stored).count();
    assert_eq!(missing, 0, "{missing} acknowledged datapoints are missing");
    drop(server);
}
