//! The OTLP/HTTP traces endpoint (`POST /v1/traces`, protobuf).
//!
//! The official Python workflows client exports its task spans to the API it talks to, at `{url}/v1/traces`.
//! The local server accepts those exports so that client runs without export errors: it checks the API key
//! like any call, decodes the `ExportTraceServiceRequest` (a body that is not one gets 400), logs what it
//! received at debug level and keeps nothing. To look at the spans, point the client's own
//! `configure_otel_tracing` (or the Rust SDK's `otel` feature) at a real collector.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

use super::connect::decode_body;
use super::{App, authorized, plain, read_body};
use crate::status::{Code, Status};

/// The path OTLP/HTTP exporters post spans to.
pub(super) const TRACES_PATH: &str = "/v1/traces";

/// Handles `POST /v1/traces`.
pub(super) async fn traces(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(key) = &app.state.config.api_key
        && !authorized(&parts.headers, key)
    {
        return plain(StatusCode::UNAUTHORIZED, "missing or invalid API key\n");
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-protobuf") {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {content_type:?}: OTLP/HTTP here takes application/x-protobuf\n"
            ),
        );
    }
    match export(&app, &parts.headers, body).await {
        Ok(spans) => {
            tracing::debug!(
                spans = spans.count,
                services = ?spans.services,
                "OTLP trace export received (not kept)"
            );
            let mut r = Response::new(Body::from(
                ExportTraceServiceResponse::default().encode_to_vec(),
            ));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-protobuf"),
            );
            r
        }
        Err(status) => {
            // The HTTP statuses OTLP/HTTP clients understand, for the body's failures.
            let http = match status.code {
                Code::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
                Code::Unimplemented => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            plain(http, format!("{}\n", status.wire_message()))
        }
    }
}

/// What an export carried.
struct Received {
    count: usize,
    services: Vec<String>,
}

/// Reads, decompresses and decodes an export, as the Connect front-end reads a request body.
async fn export(app: &App, headers: &HeaderMap, body: Body) -> Result<Received, Status> {
    let config = &app.state.config;
    let wire = read_body(body, config.body_limit, config.idle_timeout).await?;
    let wire = decode_body(headers, wire, config.body_limit)?;
    let request = ExportTraceServiceRequest::decode(wire).map_err(|e| {
        Status::invalid_argument(format!("not an OTLP ExportTraceServiceRequest: {e}"))
    })?;
    let mut received = Received {
        count: 0,
        services: Vec::new(),
    };
    for resource_spans in &request.resource_spans {
        received.count += resource_spans
            .scope_spans
            .iter()
            .map(|s| s.spans.len())
            .sum::<usize>();
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref()?.value.as_ref());
        if let Some(Value::StringValue(name)) = service
            && !received.services.contains(name)
        {
            received.services.push(name.clone());
        }
    }
    Ok(received)
}
