//! Shared helpers: a demo server per test binary, and raw Connect / JSON / gRPC calls over loopback.
//!
//! Backends: a suite runs on SQLite; compiled once more as a `*_pg` target (`tests/<suite>_pg.rs`) the same
//! tests run on PostgreSQL, every server on a fresh database of the test PostgreSQL server: the one at
//! `TILEBOX_TEST_POSTGRES_URL`, or else the throw-away cluster `tilebox-test-support` starts for the `cargo test`
//! run. Only without either (PostgreSQL not installed) do the PostgreSQL tests return at once, printing
//! `SKIPPED: <test>: <reason>` ([`skip`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod automations;
pub mod process;

use std::io::{Read, Write};
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_server::{BackgroundServer, ServerConfig, ServerConfigBuilder};

/// Whether this test binary runs its suite on PostgreSQL (the `*_pg` targets).
pub fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME").ends_with("_pg")
}

/// Whether the calling test must not run: true, with a `SKIPPED:` line printed, in a PostgreSQL binary when
/// there is no PostgreSQL server ([`skip_without_postgres`]). Tests of suites that run on both backends start
/// with `if common::skip() { return; }`.
pub fn skip() -> bool {
    on_postgres() && skip_without_postgres()
}

/// Whether a test that needs PostgreSQL must not run: true, with `SKIPPED: <test>: <reason>` printed, when
/// `TILEBOX_TEST_POSTGRES_URL` is unset and PostgreSQL is not installed. Otherwise the fixture of
/// `tilebox-test-support` provides the server (the URL given, or a throw-away cluster of this `cargo test` run).
pub fn skip_without_postgres() -> bool {
    match tilebox_test_support::postgres_url() {
        Ok(_) => false,
        Err(skip) => {
            skip.report();
            true
        }
    }
}

/// Creates a fresh, empty database on the test PostgreSQL server and returns its URL.
pub fn fresh_postgres_database() -> String {
    tilebox_test_support::fresh_database(env!("CARGO_CRATE_NAME"))
}

/// The configuration on this binary's backend: a fresh PostgreSQL database in `*_pg` targets (replacing any
/// SQLite file set), as given otherwise.
pub fn on_backend(config: ServerConfigBuilder) -> ServerConfigBuilder {
    if on_postgres() {
        config
            .postgres(fresh_postgres_database())
            .postgres_pool_size(8)
    } else {
        config
    }
}

/// The demo server shared by all tests of one binary (seeding takes a few seconds).
pub fn demo() -> &'static str {
    static SERVER: OnceLock<BackgroundServer> = OnceLock::new();
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let server = SERVER.get_or_init(|| {
            tilebox_server::spawn_background(on_backend(ServerConfig::builder().demo(true)).build())
                .expect("demo server starts")
        });
        server.url()
    })
}

/// A fresh, empty server on this binary's backend.
pub fn empty_server(config: ServerConfigBuilder) -> BackgroundServer {
    tilebox_server::spawn_background(on_backend(config).build()).expect("server starts")
}

/// A Connect error as seen on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    pub http: u16,
    pub code: String,
    pub message: String,
}

/// A fresh client per call: pooled connections must not outlive the test runtime that opened them.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Sends raw bytes as a Connect proto request; returns status, headers and body.
pub async fn connect_raw(
    url: &str,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Bytes) {
    let mut req = http()
        .post(format!("{url}/{path}"))
        .header("content-type", "application/proto")
        .header("connect-protocol-version", "1")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.expect("body read"))
}

fn parse_error(http: u16, body: &[u8]) -> ConnectError {
    let v: serde_json::Value = serde_json::from_slice(body).expect("Connect error body is JSON");
    ConnectError {
        http,
        code: v["code"].as_str().expect("code").to_owned(),
        message: v["message"].as_str().unwrap_or_default().to_owned(),
    }
}

/// A Connect proto unary call.
pub async fn call<Req: Message, Resp: Message + Default>(
    url: &str,
    path: &str,
    req: &Req,
) -> Result<Resp, ConnectError> {
    call_with(url, path, req, &[]).await
}

/// A Connect proto unary call with extra headers.
pub async fn call_with<Req: Message, Resp: Message + Default>(
    url: &str,
    path: &str,
    req: &Req,
    headers: &[(&str, &str)],
) -> Result<Resp, ConnectError> {
    let (status, h, body) = connect_raw(url, path, req.encode_to_vec(), headers).await;
    if status == 200 {
        assert_eq!(h.get("content-type").unwrap(), "application/proto");
        let body = if h.get("content-encoding").is_some_and(|v| v == "gzip") {
            gunzip(&body)
        } else {
            body.to_vec()
        };
        Ok(Resp::decode(&body[..]).expect("response decodes"))
    } else {
        assert_eq!(h.get("content-type").unwrap(), "application/json");
        Err(parse_error(status, &body))
    }
}

/// A Connect JSON unary call.
pub async fn call_json(url: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let resp = http()
        .post(format!("{url}/{path}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).expect("JSON response"),
    )
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Outcome of a gRPC call: HTTP status, response headers, messages (unframed, decompressed) and the
/// grpc-status / grpc-message (from trailers, or from headers for trailers-only responses).
#[derive(Debug)]
pub struct GrpcOutcome {
    pub http: u16,
    pub headers: http::HeaderMap,
    pub message: Option<Vec<u8>>,
    pub grpc_status: Option<String>,
    pub grpc_message: Option<String>,
    pub trailers_only: bool,
}

/// One gRPC unary call over h2c (prior knowledge) with a raw framed body.
pub async fn grpc_raw(
    url: &str,
    path: &str,
    framed: Vec<u8>,
    headers: &[(&str, &str)],
) -> GrpcOutcome {
    let authority = url.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connects");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{url}/{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-accept-encoding", "gzip");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(framed))).unwrap();
    let resp = sender.send_request(req).await.expect("h2 response");
    let http = resp.status().as_u16();
    let headers = resp.headers().clone();
    let collected = resp.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned();
    let body = collected.to_bytes();
    let compressed = headers.get("grpc-encoding").is_some_and(|v| v == "gzip");
    let message = (body.len() >= 5).then(|| {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert_eq!(body.len(), 5 + len, "exactly one frame");
        let payload = &body[5..];
        if body[0] == 1 {
            assert!(compressed);
            gunzip(payload)
        } else {
            payload.to_vec()
        }
    });
    let trailers_only = trailers.is_none();
    let source = trailers.unwrap_or_else(|| headers.clone());
    GrpcOutcome {
        http,
        message,
        grpc_status: source
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned()),
        grpc_message: source
            .get("grpc-message")
            .map(|v| v.to_str().unwrap().to_owned()),
        headers,
        trailers_only,
    }
}

pub fn frame(message: &[u8], compressed: bool) -> Vec<u8> {
    let mut out = vec![u8::from(compressed)];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

pub fn id(raw: &[u8]) -> tb::Id {
    tb::Id {
        uuid: Bytes::copy_from_slice(raw),
    }
}

pub fn ts(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

pub const T2020: i64 = 1_577_836_800;
pub const T2021: i64 = 1_609_459_200;

pub fn interval(start: i64, end: i64) -> tb::TimeInterval {
    tb::TimeInterval {
        start_time: Some(ts(start)),
        end_time: Some(ts(end)),
        start_exclusive: false,
        end_inclusive: false,
    }
}

pub async fn dataset(url: &str, slug: &str) -> ds::Dataset {
    call(
        url,
        "datasets.v1.DatasetService/GetDataset",
        &ds::GetDatasetRequest {
            slug: slug.into(),
            id: None,
        },
    )
    .await
    .expect("dataset exists")
}

pub async fn collection(url: &str, dataset_id: &tb::Id, name: &str) -> ds::CollectionInfo {
    call(
        url,
        "datasets.v1.CollectionService/GetCollectionByName",
        &ds::GetCollectionByNameRequest {
            collection_name: name.into(),
            with_availability: true,
            with_count: true,
            dataset_id: Some(dataset_id.clone()),
        },
    )
    .await
    .expect("collection exists")
}

pub async fn query(url: &str, req: &ds::QueryRequest) -> Result<ds::QueryResultPage, ConnectError> {
    call(url, "datasets.v1.DataAccessService/Query", req).await
}

/// All pages of a query; returns the concatenated values and the number of pages.
pub async fn query_all(url: &str, mut req: ds::QueryRequest) -> (Vec<Bytes>, usize) {
    let mut values = Vec::new();
    let mut pages = 0;
    loop {
        let page = query(url, &req).await.expect("query page");
        pages += 1;
        values.extend(page.data.map(|d| d.value).unwrap_or_default());
        match page.next_page {
            Some(next) => req.page = Some(next),
            None => return (values, pages),
        }
    }
}

/// Decodes the common datapoint fields.
pub fn meta(value: &[u8]) -> ds::SpatioTemporalDatapoint {
    ds::SpatioTemporalDatapoint::decode(value).expect("datapoint decodes")
}

/// A temporal test dataset: fields time, id, ingestion_time, value (double), label (string).
#[derive(Clone, PartialEq, Message)]
pub struct TestPoint {
    #[prost(message, optional, tag = "1")]
    pub time: Option<prost_types::Timestamp>,
    #[prost(message, optional, tag = "2")]
    pub id: Option<ds::Uuid>,
    #[prost(message, optional, tag = "3")]
    pub ingestion_time: Option<prost_types::Timestamp>,
    #[prost(double, optional, tag = "4")]
    pub value: Option<f64>,
    #[prost(string, optional, tag = "5")]
    pub label: Option<String>,
}

pub fn point(seconds: i64, value: f64, label: &str) -> Bytes {
    Bytes::from(
        TestPoint {
            time: Some(ts(seconds)),
            value: Some(value),
            label: Some(label.into()),
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

fn scalar_field(name: &str, ty: prost_types::field_descriptor_proto::Type) -> ds::Field {
    ds::Field {
        descriptor: Some(prost_types::FieldDescriptorProto {
            name: Some(name.into()),
            r#type: Some(ty as i32),
            label: Some(prost_types::field_descriptor_proto::Label::Optional as i32),
            ..Default::default()
        }),
        annotation: Some(ds::FieldAnnotation {
            description: format!("the {name}"),
            ..Default::default()
        }),
    }
}

/// Creates a temporal dataset with fields `value` (double) and `label` (string) plus a collection.
pub async fn create_test_dataset(url: &str, code_name: &str) -> (ds::Dataset, tb::Id) {
    use prost_types::field_descriptor_proto::Type;
    let dataset: ds::Dataset = call(
        url,
        "datasets.v1.DatasetService/CreateDataset",
        &ds::CreateDatasetRequest {
            name: format!("Test {code_name}"),
            code_name: code_name.into(),
            r#type: Some(ds::DatasetType {
                kind: ds::DatasetKind::Temporal as i32,
                fields: vec![
                    scalar_field("value", Type::Double),
                    scalar_field("label", Type::String),
                ],
            }),
            ..Default::default()
        },
    )
    .await
    .expect("dataset created");
    let info: ds::CollectionInfo = call(
        url,
        "datasets.v1.CollectionService/CreateCollection",
        &ds::CreateCollectionRequest {
            dataset_id: dataset.id.clone(),
            name: "main".into(),
        },
    )
    .await
    .expect("collection created");
    let collection_id = info.collection.and_then(|c| c.id).expect("collection id");
    (dataset, collection_id)
}

pub async fn ingest(
    url: &str,
    collection_id: &tb::Id,
    values: Vec<Bytes>,
    allow_existing: bool,
) -> Result<ds::IngestResponse, ConnectError> {
    call(
        url,
        "datasets.v1.DataIngestionService/Ingest",
        &ds::IngestRequest {
            collection_id: Some(collection_id.clone()),
            values,
            allow_existing,
        },
    )
    .await
}
