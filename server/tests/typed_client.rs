//! The core's typed `RpcClient` (Connect, gzip requests) against the server, through a minimal reqwest
//! transport defined here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tilebox_core::error::Code;
use tilebox_core::rpc::RpcClient;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_core::{AsyncSleep, BoxFuture, HttpRequest, HttpResponse, Transport, TransportError};

struct Reqwest(reqwest::Client);

impl Transport for Reqwest {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let resp = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| TransportError::Io(e.to_string()))?;
            let mut out = http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                out = out.header(k, v);
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| TransportError::Io(e.to_string()))?;
            Ok(out.body(body).unwrap())
        })
    }
}

struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

fn client(url: &str) -> RpcClient {
    let config = tilebox_core::config::ClientConfig::builder()
        .url(url)
        .api_key("local")
        .build();
    RpcClient::new(
        config,
        Arc::new(Reqwest(reqwest::Client::new())),
        Arc::new(TokioSleep),
    )
}

#[tokio::test]
async fn typed_calls_round_trip() {
    if common::skip() {
        return;
    }
    let url = demo();
    let rpc = client(url);
    let list = rpc
        .list_datasets(ds::ListDatasetsRequest::default())
        .await
        .unwrap();
    assert_eq!(list.datasets.len(), 3); // Landsat-8, Sentinel-1 and the asset demo
    let d = rpc
        .get_dataset(ds::GetDatasetRequest {
            slug: "open_data.copernicus.landsat8_oli_tirs".into(),
            id: None,
        })
        .await
        .unwrap();
    let cols = rpc
        .list_collections(ds::ListCollectionsRequest {
            dataset_id: d.id.clone(),
            with_availability: true,
            with_count: true,
        })
        .await
        .unwrap();
    assert_eq!(cols.data.len(), 4);
    let page = rpc
        .query(ds::QueryRequest {
            dataset_id: d.id.clone(),
            filters: Some(ds::QueryFilters {
                time_interval: Some(interval(T2020, T2021)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.data.unwrap().value.len(), 2000);
    let err = rpc
        .get_dataset(ds::GetDatasetRequest {
            slug: "open_data.copernicus.missing".into(),
            id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::NotFound));
    assert!(err.message().contains("no such dataset"));

    // Writes through the typed client (gzip request bodies).
    let (d, c) = create_test_dataset(url, "typed_client").await;
    let values = (0..20).map(|i| point(T2020 + i, i as f64, "t")).collect();
    let r = rpc
        .ingest(ds::IngestRequest {
            collection_id: Some(c.clone()),
            values,
            allow_existing: true,
        })
        .await
        .unwrap();
    assert_eq!(r.num_created, 20);
    let deleted = rpc
        .delete(ds::DeleteRequest {
            collection_id: Some(c),
            datapoint_ids: r.datapoint_ids[..5].to_vec(),
        })
        .await
        .unwrap();
    assert_eq!(deleted.num_deleted, 5);
    rpc.delete_dataset(ds::DeleteDatasetRequest { id: d.id })
        .await
        .unwrap();
}
