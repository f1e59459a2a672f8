//! Protocol behaviour over raw HTTP: Connect proto/JSON, gzip, gRPC framing and trailers, errors, auth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use prost::Message;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_server::ServerConfig;

const LIST: &str = "datasets.v1.DatasetService/ListDatasets";

#[tokio::test]
async fn non_post_is_405_and_unknown_content_type_is_415() {
    if common::skip() {
        return;
    }
    let url = demo();
    let r = http().get(format!("{url}/{LIST}")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let r = http()
        .post(format!("{url}/{LIST}"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = http()
        .post(format!("{url}/{LIST}"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
}

#[tokio::test]
async fn unknown_rpc_is_unimplemented() {
    if common::skip() {
        return;
    }
    let url = demo();
    let err = call::<_, ds::Dataset>(
        url,
        "datasets.v1.DatasetService/Nope",
        &ds::GetDatasetRequest::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "unimplemented");
    assert_eq!(err.http, 501);
    let g = grpc_raw(url, "nope.v1.Service/Method", frame(&[], false), &[]).await;
    assert_eq!(g.grpc_status.as_deref(), Some("12"));
}

#[tokio::test]
async fn public_prefix_serves_the_same_rpcs() {
    if common::skip() {
        return;
    }
    let url = demo();
    let a: ds::ListDatasetsResponse = call(url, LIST, &ds::ListDatasetsRequest::default())
        .await
        .unwrap();
    let b: ds::ListDatasetsResponse = call(
        url,
        &format!("public/{LIST}"),
        &ds::ListDatasetsRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(a, b);
    assert!(!a.datasets.is_empty());
}

#[tokio::test]
async fn json_codec_round_trip() {
    if common::skip() {
        return;
    }
    let url = demo();
    let (status, v) = call_json(
        url,
        "datasets.v1.DatasetService/GetDataset",
        r#"{"slug":"open_data.copernicus.landsat8_oli_tirs"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["slug"], "open_data.copernicus.landsat8_oli_tirs");
    assert_eq!(v["codeName"], "landsat8_oli_tirs");
    let dataset_id = v["id"]["uuid"].as_str().unwrap().to_owned();
    let body = format!(r#"{{"datasetId":{{"uuid":"{dataset_id}"}},"withCount":true}}"#);
    let (status, v) = call_json(url, "datasets.v1.CollectionService/ListCollections", &body).await;
    assert_eq!(status, 200);
    let counts: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_str().unwrap())
        .collect();
    assert_eq!(counts.len(), 4);
    // Errors are Connect JSON errors.
    let (status, v) = call_json(
        url,
        "datasets.v1.DatasetService/GetDataset",
        r#"{"slug":"open_data.nope"}"#,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["code"], "not_found");
    assert_eq!(v["message"], "no such dataset");
    let (status, v) = call_json(url, "datasets.v1.DatasetService/GetDataset", r#"{"slug": "#).await;
    assert_eq!(status, 400);
    assert_eq!(v["code"], "invalid_argument");
    let (status, v) = call_json(
        url,
        "datasets.v1.DatasetService/GetDataset",
        r#"{"nosuchfield": 1}"#,
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_argument"))
    );
}

#[tokio::test]
async fn gzip_request_and_response_bodies() {
    if common::skip() {
        return;
    }
    let url = demo();
    let body = ds::ListDatasetsRequest::default().encode_to_vec();
    let (status, headers, resp) = connect_raw(
        url,
        LIST,
        gzip(&body),
        &[("content-encoding", "gzip"), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("content-encoding").unwrap(), "gzip");
    let decoded = ds::ListDatasetsResponse::decode(&gunzip(&resp)[..]).unwrap();
    assert_eq!(decoded.datasets.len(), 3); // Landsat-8, Sentinel-1 and the asset demo
    // Without Accept-Encoding the response is plain.
    let (_, headers, resp) = connect_raw(url, LIST, body, &[]).await;
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(ds::ListDatasetsResponse::decode(resp).unwrap(), decoded);
    // Bad gzip → invalid_argument.
    let (status, _, resp) = connect_raw(
        url,
        LIST,
        b"not gzip".to_vec(),
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&resp).contains("invalid_argument"));
    // Unknown encoding → unimplemented.
    let (status, _, _) = connect_raw(url, LIST, vec![], &[("content-encoding", "br")]).await;
    assert_eq!(status, 501);
}

#[tokio::test]
async fn malformed_protobuf_is_invalid_argument() {
    if common::skip() {
        return;
    }
    let url = demo();
    for garbage in [
        vec![0xff, 0xff, 0xff],
        vec![0x0a, 0x50, 0x01],
        vec![0x12, 0x02, 0x0a],
    ] {
        let (status, _, body) =
            connect_raw(url, "datasets.v1.DatasetService/GetDataset", garbage, &[]).await;
        assert_eq!(status, 400);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "invalid_argument");
        assert!(v["message"].as_str().unwrap().contains("malformed"));
    }
}

#[tokio::test]
async fn oversized_bodies_are_rejected() {
    if common::skip() {
        return;
    }
    let server = empty_server(ServerConfig::builder().body_limit(1024));
    let url = server.url();
    let big = vec![b'x'; 4096];
    let (status, _, body) = connect_raw(&url, LIST, big.clone(), &[]).await;
    assert_eq!(status, 429);
    assert!(String::from_utf8_lossy(&body).contains("resource_exhausted"));
    // A small gzip body that inflates past the limit is caught too.
    let (status, _, _) = connect_raw(
        &url,
        LIST,
        gzip(&vec![0u8; 100_000]),
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 429);
    let g = grpc_raw(&url, LIST, frame(&big, false), &[]).await;
    assert_eq!(g.grpc_status.as_deref(), Some("8"));
}

#[tokio::test]
async fn grpc_unary_with_trailers() {
    if common::skip() {
        return;
    }
    let url = demo();
    let req = ds::GetDatasetRequest {
        slug: "open_data.copernicus.landsat8_oli_tirs".into(),
        id: None,
    };
    let g = grpc_raw(
        url,
        "datasets.v1.DatasetService/GetDataset",
        frame(&req.encode_to_vec(), false),
        &[],
    )
    .await;
    assert_eq!(g.http, 200);
    assert_eq!(g.headers.get("content-type").unwrap(), "application/grpc");
    assert!(!g.trailers_only);
    assert_eq!(g.grpc_status.as_deref(), Some("0"));
    let dataset = ds::Dataset::decode(&g.message.unwrap()[..]).unwrap();
    assert_eq!(dataset.code_name, "landsat8_oli_tirs");

    // Compressed request frame.
    let g = grpc_raw(
        url,
        &format!("public/{}", "datasets.v1.DatasetService/GetDataset"),
        frame(&gzip(&req.encode_to_vec()), true),
        &[("grpc-encoding", "gzip")],
    )
    .await;
    assert_eq!(g.grpc_status.as_deref(), Some("0"));
    assert_eq!(
        ds::Dataset::decode(&g.message.unwrap()[..]).unwrap().id,
        dataset.id
    );
}

#[tokio::test]
async fn grpc_errors_are_trailers_only() {
    if common::skip() {
        return;
    }
    let url = demo();
    let req = ds::GetDatasetRequest {
        slug: "open_data.copernicus.nope".into(),
        id: None,
    };
    let g = grpc_raw(
        url,
        "datasets.v1.DatasetService/GetDataset",
        frame(&req.encode_to_vec(), false),
        &[],
    )
    .await;
    assert_eq!(g.http, 200);
    assert!(g.trailers_only);
    assert!(g.message.is_none());
    assert_eq!(g.grpc_status.as_deref(), Some("5"));
    assert_eq!(g.grpc_message.as_deref(), Some("no such dataset"));
    // Bad framing: length prefix does not match.
    let g = grpc_raw(
        url,
        "datasets.v1.DatasetService/GetDataset",
        vec![0, 0, 0, 0, 9, 1],
        &[],
    )
    .await;
    assert_eq!(g.grpc_status.as_deref(), Some("3"));
    // Compressed flag with bad gzip.
    let g = grpc_raw(
        url,
        "datasets.v1.DatasetService/GetDataset",
        frame(b"zzz", true),
        &[("grpc-encoding", "gzip")],
    )
    .await;
    assert_eq!(g.grpc_status.as_deref(), Some("3"));
}

#[tokio::test]
async fn large_grpc_response_is_compressed_when_accepted() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, "open_data.copernicus.landsat8_oli_tirs").await;
    let req = ds::QueryRequest {
        dataset_id: d.id.clone(),
        filters: Some(ds::QueryFilters {
            time_interval: Some(interval(T2020, T2021)),
            ..Default::default()
        }),
        page: Some(tilebox_core::wire::tilebox::v1::Pagination {
            limit: Some(500),
            starting_after: None,
        }),
        ..Default::default()
    };
    let g = grpc_raw(
        url,
        "datasets.v1.DataAccessService/Query",
        frame(&req.encode_to_vec(), false),
        &[],
    )
    .await;
    assert_eq!(g.grpc_status.as_deref(), Some("0"));
    assert_eq!(g.headers.get("grpc-encoding").unwrap(), "gzip");
    let page = ds::QueryResultPage::decode(&g.message.unwrap()[..]).unwrap();
    assert_eq!(page.data.unwrap().value.len(), 500);
}

#[tokio::test]
async fn api_key_is_enforced_when_configured() {
    if common::skip() {
        return;
    }
    let server = empty_server(ServerConfig::builder().api_key("s3cret"));
    let url = server.url();
    let req = ds::ListDatasetsRequest::default();
    let err = call::<_, ds::ListDatasetsResponse>(&url, LIST, &req)
        .await
        .unwrap_err();
    assert_eq!((err.http, err.code.as_str()), (401, "unauthenticated"));
    assert!(!err.message.contains("s3cret"));
    let err = call_with::<_, ds::ListDatasetsResponse>(
        &url,
        LIST,
        &req,
        &[("authorization", "Bearer wrong")],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "unauthenticated");
    let ok: ds::ListDatasetsResponse =
        call_with(&url, LIST, &req, &[("authorization", "Bearer s3cret")])
            .await
            .unwrap();
    assert!(ok.datasets.is_empty());
    let g = grpc_raw(&url, LIST, frame(&req.encode_to_vec(), false), &[]).await;
    assert_eq!(g.grpc_status.as_deref(), Some("16"));
    let g = grpc_raw(
        &url,
        LIST,
        frame(&req.encode_to_vec(), false),
        &[("authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(g.grpc_status.as_deref(), Some("0"));
    // Without a configured key, any or no Authorization header is accepted.
    let open = demo();
    let _: ds::ListDatasetsResponse =
        call_with(open, LIST, &req, &[("authorization", "Bearer anything")])
            .await
            .unwrap();
    let _: ds::ListDatasetsResponse = call(open, LIST, &req).await.unwrap();
}

#[tokio::test]
async fn connect_timeout_header_is_honoured_for_fast_calls() {
    if common::skip() {
        return;
    }
    let url = demo();
    let r: ds::ListDatasetsResponse = call_with(
        url,
        LIST,
        &ds::ListDatasetsRequest::default(),
        &[("connect-timeout-ms", "60000")],
    )
    .await
    .unwrap();
    assert_eq!(r.datasets.len(), 3); // Landsat-8, Sentinel-1 and the asset demo
}

#[tokio::test]
async fn connect_over_h2c_prior_knowledge() {
    if common::skip() {
        return;
    }
    let url = demo();
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = client
        .post(format!("{url}/{LIST}"))
        .header("content-type", "application/proto")
        .body(ds::ListDatasetsRequest::default().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status().as_u16(), 200);
    let r = ds::ListDatasetsResponse::decode(resp.bytes().await.unwrap()).unwrap();
    assert_eq!(r.datasets.len(), 3); // Landsat-8, Sentinel-1 and the asset demo
}

/// The OTLP/HTTP traces endpoint the official Python client exports its spans to: a protobuf export is
/// accepted (also gzipped), anything else gets the HTTP status OTLP/HTTP prescribes, and the API key is
/// checked like for any call.
#[tokio::test]
async fn otlp_trace_exports_are_accepted_and_checked() {
    if common::skip() {
        return;
    }
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    let export = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "task".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let server = empty_server(ServerConfig::builder().api_key("s3cret"));
    let traces = format!("{}/v1/traces", server.url());
    let post = |body: Vec<u8>,
                content_type: &'static str,
                encoding: Option<&'static str>,
                auth: Option<&'static str>| {
        let mut r = http()
            .post(&traces)
            .header("content-type", content_type)
            .body(body);
        if let Some(e) = encoding {
            r = r.header("content-encoding", e);
        }
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let key = Some("Bearer s3cret");

    let ok = post(export.clone(), "application/x-protobuf", None, key)
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        ok.headers()["content-type"].to_str().unwrap(),
        "application/x-protobuf"
    );
    let answer = ExportTraceServiceResponse::decode(ok.bytes().await.unwrap()).unwrap();
    assert!(answer.partial_success.is_none());

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &export).unwrap();
    let gzipped = post(
        gz.finish().unwrap(),
        "application/x-protobuf",
        Some("gzip"),
        key,
    )
    .await
    .unwrap();
    assert_eq!(gzipped.status().as_u16(), 200);

    let unauthenticated = post(export.clone(), "application/x-protobuf", None, None)
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    let garbage = post(vec![0xff; 7], "application/x-protobuf", None, key)
        .await
        .unwrap();
    assert_eq!(garbage.status().as_u16(), 400);
    let json = post(b"{}".to_vec(), "application/json", None, key)
        .await
        .unwrap();
    assert_eq!(json.status().as_u16(), 200);
    let text = post(b"{}".to_vec(), "text/plain", None, key).await.unwrap();
    assert_eq!(text.status().as_u16(), 415);
    let get = http().get(&traces).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
}
