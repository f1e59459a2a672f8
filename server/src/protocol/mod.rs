//! HTTP front-ends: Connect unary (proto and JSON) and gRPC, on one axum route.
//!
//! The handler checks method, content type, authentication and body size, undoes compression and framing,
//! and calls [`ServiceRegistry::dispatch`](crate::registry::ServiceRegistry::dispatch). Paths may carry the
//! `/public` prefix of the hosted API. Beside them, `POST /v1/traces` and `POST /v1/logs` take the runners'
//! OTLP/HTTP span and log exports (`otlp`).

mod codec;
mod connect;
mod grpc;
mod otlp;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use subtle::ConstantTimeEq;

use crate::registry::{RpcContext, ServiceRegistry};
use crate::state::ServerState;
use crate::status::{Code, Status};

/// What the HTTP layer needs: the registry and the shared state.
pub struct App {
    /// The RPC table.
    pub registry: ServiceRegistry,
    /// Shared handler state.
    pub state: Arc<ServerState>,
}

/// The protocol a request speaks, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    ConnectProto,
    ConnectJson,
    Grpc,
}

fn protocol_of(headers: &HeaderMap) -> Option<Protocol> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/proto" | "application/x-protobuf" => Some(Protocol::ConnectProto),
        "application/json" => Some(Protocol::ConnectJson),
        "application/grpc" | "application/grpc+proto" => Some(Protocol::Grpc),
        _ => None,
    }
}

/// Builds the axum router serving every registered RPC.
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route(otlp::TRACES_PATH, axum::routing::post(otlp::traces))
        .route(otlp::LOGS_PATH, axum::routing::post(otlp::logs))
        .fallback(handle)
        .with_state(app)
}

fn plain(status: StatusCode, text: impl Into<Body>) -> Response {
    let mut r = Response::new(text.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn authorized(headers: &HeaderMap, key: &str) -> bool {
    let expected = format!("Bearer {key}");
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| v.as_bytes().ct_eq(expected.as_bytes()).into())
}

/// Parses `Connect-Timeout-Ms` / `grpc-timeout`.
fn deadline(headers: &HeaderMap, protocol: Protocol) -> Option<Duration> {
    if protocol == Protocol::Grpc {
        let v = headers.get("grpc-timeout")?.to_str().ok()?;
        let (num, unit) = v.split_at(v.len().checked_sub(1)?);
        let n: u64 = num.parse().ok()?;
        Some(match unit {
            "H" => Duration::from_secs(n.saturating_mul(3600)),
            "M" => Duration::from_secs(n.saturating_mul(60)),
            "S" => Duration::from_secs(n),
            "m" => Duration::from_millis(n),
            "u" => Duration::from_micros(n),
            "n" => Duration::from_nanos(n),
            _ => return None,
        })
    } else {
        let v = headers.get("connect-timeout-ms")?.to_str().ok()?;
        v.parse::<u64>().ok().map(Duration::from_millis)
    }
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use POST\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
        return r;
    }
    let Some(protocol) = protocol_of(&parts.headers) else {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type\n",
        );
    };
    let raw_path = parts.uri.path();
    let path = raw_path
        .strip_prefix("/public")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(raw_path);
    let path = path.trim_start_matches('/').to_owned();
    let headers = parts.headers;
    let config = &app.state.config;
    // The deadline covers the whole call (body, emulated latency, dispatch). When it fires, the call's future
    // is dropped; writes stay consistent because the store runs every write transaction to its end in a task
    // of its own (`store::tx`).
    let deadline = deadline(&headers, protocol);

    let call = async {
        if let Some(key) = &config.api_key
            && !authorized(&headers, key)
        {
            return Err(Status::new(
                Code::Unauthenticated,
                "missing or invalid API key",
            ));
        }
        if !app.registry.contains(&path) {
            return Err(Status::unimplemented(format!("unknown RPC /{path}")));
        }
        let limit = config.body_limit;
        let wire = read_body(body, limit, config.idle_timeout).await?;
        let message = match protocol {
            Protocol::Grpc => grpc::unframe(&headers, wire, limit)?,
            _ => connect::decode_body(&headers, wire, limit)?,
        };
        let message = if protocol == Protocol::ConnectJson {
            let (input, _) = app.registry.message_types(&path).ok_or_else(|| {
                Status::unimplemented(format!("JSON is not available for /{path}"))
            })?;
            codec::json_to_proto(&input, &message)?
        } else {
            message
        };
        if !config.latency.is_zero() {
            tokio::time::sleep(config.latency).await;
        }
        let ctx = RpcContext {
            state: Arc::clone(&app.state),
            headers: headers.clone(),
        };
        let response = app.registry.dispatch(&path, ctx, message).await?;
        if protocol == Protocol::ConnectJson {
            let (_, output) = app.registry.message_types(&path).ok_or_else(|| {
                Status::unimplemented(format!("JSON is not available for /{path}"))
            })?;
            codec::proto_to_json(&output, &response)
        } else {
            Ok(response)
        }
    };
    let result = match deadline {
        Some(d) => tokio::time::timeout(d, call)
            .await
            .unwrap_or_else(|_| Err(Status::new(Code::DeadlineExceeded, "deadline exceeded"))),
        None => call.await,
    };

    if let Err(status) = &result {
        if matches!(status.code, Code::Internal | Code::Unknown | Code::DataLoss) {
            tracing::error!(rpc = %path, code = %status.code, message = %status.wire_message(), "rpc failed");
        } else {
            tracing::debug!(rpc = %path, code = %status.code, message = %status.wire_message(), "rpc error");
        }
    }
    // (A deadline may also fire before the body was read.)
    let body_rejected = matches!(&result, Err(s) if matches!(s.code, Code::ResourceExhausted | Code::Canceled | Code::DeadlineExceeded));
    let mut response = match protocol {
        Protocol::Grpc => grpc::respond(&headers, result),
        Protocol::ConnectProto => connect::respond(&headers, result, "application/proto"),
        Protocol::ConnectJson => connect::respond(&headers, result, "application/json"),
    };
    // An HTTP/1 request body that was not read to its end leaves the connection unusable: close it.
    if body_rejected && parts.version < http::Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    response
}

/// Reads the whole request body: at most `limit` bytes plus framing overhead (the decoded size is checked
/// again later), failing when no data arrives for `stall`.
async fn read_body(body: Body, limit: usize, stall: Duration) -> Result<Bytes, Status> {
    let mut body = Limited::new(body, limit.saturating_add(5));
    let mut chunks: Vec<Bytes> = Vec::new();
    loop {
        let frame = tokio::time::timeout(stall, body.frame())
            .await
            .map_err(|_| {
                Status::new(
                    Code::DeadlineExceeded,
                    format!("the request body stalled for {} ms", stall.as_millis()),
                )
            })?;
        match frame {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    chunks.push(data);
                }
            }
            Some(Err(e)) => {
                return Err(
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        Status::resource_exhausted(format!(
                            "request body exceeds the limit of {limit} bytes"
                        ))
                    } else {
                        Status::new(
                            Code::Canceled,
                            format!("reading the request body failed: {e}"),
                        )
                    },
                );
            }
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

/// Whether an `Accept-Encoding`-style header lists gzip.
fn accepts_gzip(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            e.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("gzip")
        })
}

/// Responses smaller than this are sent uncompressed.
const COMPRESS_MIN: usize = 1024;
