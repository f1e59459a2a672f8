//! The OTLP/HTTP endpoints (`POST /v1/traces`, `POST /v1/logs`; protobuf or JSON bodies, gzip).
//!
//! Runners export the spans and log records of their task executions to the API they talk to: the official
//! Python runner at `{url}/v1/traces` and `{url}/v1/logs`, the Rust runner with its `otel` feature. The server
//! checks the API key like any call, decodes the export (a body that is not one gets 400), and keeps each span
//! and log record with its resource and scope, tied to its job (by the trace its job's trace parent names, or
//! a `job_id` attribute) and task (a `task_id` attribute). `TelemetryQueryService` reads them back; the
//! retention limit of [`WorkflowsConfig`](crate::config::WorkflowsConfig) bounds what is kept.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

use super::connect::decode_body;
use super::{App, authorized, plain, read_body};
use crate::status::{Code, Status};
use crate::store::RawId;
use crate::store::workflows::{NewTelemetry, Retention, TelemetryKind};

/// The path OTLP/HTTP exporters post spans to.
pub(super) const TRACES_PATH: &str = "/v1/traces";
/// The path OTLP/HTTP exporters post log records to.
pub(super) const LOGS_PATH: &str = "/v1/logs";

/// The body encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// Handles `POST /v1/traces`.
pub(super) async fn traces(State(app): State<Arc<App>>, request: Request) -> Response {
    handle(&app, request, TelemetryKind::Spans).await
}

/// Handles `POST /v1/logs`.
pub(super) async fn logs(State(app): State<Arc<App>>, request: Request) -> Response {
    handle(&app, request, TelemetryKind::Logs).await
}

async fn handle(app: &App, request: Request, kind: TelemetryKind) -> Response {
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
    let encoding = if content_type.starts_with("application/x-protobuf") {
        Encoding::Protobuf
    } else if content_type.starts_with("application/json") {
        Encoding::Json
    } else {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {content_type:?}: OTLP/HTTP here takes application/x-protobuf or application/json\n"
            ),
        );
    };
    match export(app, &parts.headers, body, kind, encoding).await {
        Ok(stored) => {
            tracing::debug!(records = stored, ?kind, "OTLP export stored");
            let (body, content_type) = match (encoding, kind) {
                (Encoding::Json, _) => (b"{}".to_vec(), "application/json"),
                (Encoding::Protobuf, TelemetryKind::Spans) => (
                    ExportTraceServiceResponse::default().encode_to_vec(),
                    "application/x-protobuf",
                ),
                (Encoding::Protobuf, TelemetryKind::Logs) => (
                    ExportLogsServiceResponse::default().encode_to_vec(),
                    "application/x-protobuf",
                ),
            };
            let mut r = Response::new(Body::from(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(content_type),
            );
            r
        }
        Err(status) => {
            // The HTTP statuses OTLP/HTTP clients understand, for the body's failures.
            let http = match status.code {
                Code::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
                Code::Unimplemented => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            plain(http, format!("{}\n", status.wire_message()))
        }
    }
}

/// Decodes an export body of type `M` in its encoding.
fn decode<M: Message + Default + serde::de::DeserializeOwned>(
    wire: &Bytes,
    encoding: Encoding,
    what: &str,
) -> Result<M, Status> {
    match encoding {
        Encoding::Protobuf => M::decode(wire.clone())
            .map_err(|e| Status::invalid_argument(format!("not an OTLP {what}: {e}"))),
        Encoding::Json => serde_json::from_slice(wire)
            .map_err(|e| Status::invalid_argument(format!("not an OTLP {what} (JSON): {e}"))),
    }
}

/// Reads, decompresses, decodes and stores an export; returns how many records it kept.
async fn export(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    kind: TelemetryKind,
    encoding: Encoding,
) -> Result<u64, Status> {
    let config = &app.state.config;
    let wire = read_body(body, config.body_limit, config.idle_timeout).await?;
    let wire = decode_body(headers, wire, config.body_limit)?;
    let records = match kind {
        TelemetryKind::Spans => spans(decode(&wire, encoding, "ExportTraceServiceRequest")?),
        TelemetryKind::Logs => log_records(decode(&wire, encoding, "ExportLogsServiceRequest")?),
    };
    if records.is_empty() {
        return Ok(0);
    }
    let retention = Retention {
        max_age_us: i64::try_from(config.workflows.telemetry_max_age.as_micros())
            .unwrap_or(i64::MAX),
        max_rows: config.workflows.telemetry_max_rows,
    };
    app.state
        .workflows
        .store_telemetry(kind, records, retention)
        .await
        .map_err(crate::workflows::status)
}

/// A uuid named by a string attribute (`job_id`, `task_id`).
fn id_attribute(attributes: &[KeyValue], key: &str) -> Option<RawId> {
    let value = attributes.iter().find(|a| a.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(s) => uuid::Uuid::parse_str(s).ok().map(|u| *u.as_bytes()),
        _ => None,
    }
}

/// A trace id as stored: 16 bytes, not all zero.
fn trace_id(id: &[u8]) -> Option<Vec<u8>> {
    (id.len() == 16 && id.iter().any(|b| *b != 0)).then(|| id.to_vec())
}

/// Nanoseconds as the signed column value.
fn ns(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn spans(request: ExportTraceServiceRequest) -> Vec<NewTelemetry> {
    let mut out = Vec::new();
    for rs in request.resource_spans {
        let resource = Bytes::from(rs.resource.unwrap_or_default().encode_to_vec());
        for ss in rs.scope_spans {
            let scope = Bytes::from(ss.scope.unwrap_or_default().encode_to_vec());
            for span in ss.spans {
                out.push(NewTelemetry {
                    time_ns: ns(span.start_time_unix_nano),
                    severity: 0,
                    trace_id: trace_id(&span.trace_id),
                    job_id: id_attribute(&span.attributes, "job_id"),
                    task_id: id_attribute(&span.attributes, "task_id"),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    record: Bytes::from(span.encode_to_vec()),
                });
            }
        }
    }
    out
}

fn log_records(request: ExportLogsServiceRequest) -> Vec<NewTelemetry> {
    let mut out = Vec::new();
    for rl in request.resource_logs {
        let resource = Bytes::from(rl.resource.unwrap_or_default().encode_to_vec());
        for sl in rl.scope_logs {
            let scope = Bytes::from(sl.scope.unwrap_or_default().encode_to_vec());
            for record in sl.log_records {
                let time = if record.time_unix_nano != 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                };
                out.push(NewTelemetry {
                    time_ns: ns(time),
                    severity: record.severity_number,
                    trace_id: trace_id(&record.trace_id),
                    job_id: id_attribute(&record.attributes, "job_id"),
                    task_id: id_attribute(&record.attributes, "task_id"),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    record: Bytes::from(record.encode_to_vec()),
                });
            }
        }
    }
    out
}
