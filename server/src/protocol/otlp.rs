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
use http::{StatusCode, header};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

use super::codec::gunzip;
use super::{App, authorized, read_body};
use crate::status::Status;

/// The path OTLP/HTTP exporters post spans to.
pub(super) const TRACES_PATH: &str = "/v1/traces";

/// Handles `POST /v1/traces`.
pub(super) async fn traces(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let config = &app.state.config;
    if let Some(key) = &config.api_key
        && !authorized(&parts.headers, key)
    {
        return text(
            StatusCode::UNAUTHORIZED,
            "missing or invalid API key".into(),
        );
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-protobuf") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {content_type:?}: OTLP/HTTP here takes application/x-protobuf"
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
        Err((status, message)) => text(status, message),
    }
}

/// What an export carried.
struct Received {
    count: usize,
    services: Vec<String>,
}

async fn export(
    app: &App,
    headers: &http::HeaderMap,
    body: Body,
) -> Result<Received, (StatusCode, String)> {
    let config = &app.state.config;
    let limit = config.body_limit;
    let too_large = |s: Status| (StatusCode::PAYLOAD_TOO_LARGE, s.wire_message().into_owned());
    let wire = read_body(body, limit, config.idle_timeout)
        .await
        .map_err(|s| match s.code {
            crate::status::Code::ResourceExhausted => too_large(s),
            _ => (StatusCode::BAD_REQUEST, s.wire_message().into_owned()),
        })?;
    let wire = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None => wire,
        Some(e) if e.eq_ignore_ascii_case("identity") => wire,
        Some(e) if e.eq_ignore_ascii_case("gzip") => gunzip(&wire, limit).map_err(|s| {
            if s.code == crate::status::Code::ResourceExhausted {
                too_large(s)
            } else {
                (StatusCode::BAD_REQUEST, s.wire_message().into_owned())
            }
        })?,
        Some(e) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content-encoding {e:?}; supported: gzip, identity"),
            ));
        }
    };
    let request = ExportTraceServiceRequest::decode(wire).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("not an OTLP ExportTraceServiceRequest: {e}"),
        )
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

fn text(status: StatusCode, message: String) -> Response {
    let mut r = Response::new(Body::from(message + "\n"));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
