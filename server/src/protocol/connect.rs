//! Connect unary: body decoding and responses (success bodies and JSON error bodies).

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::codec::{gunzip, gzip};
use super::{COMPRESS_MIN, accepts_gzip};
use crate::status::Status;

/// Undoes `Content-Encoding` and enforces the size limit.
pub fn decode_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, Status> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim();
    let message = if encoding.eq_ignore_ascii_case("gzip") {
        gunzip(&body, limit)?
    } else if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        body
    } else {
        return Err(Status::unimplemented(format!(
            "unsupported content-encoding {encoding:?}; supported: gzip, identity"
        )));
    };
    if message.len() > limit {
        return Err(Status::resource_exhausted(format!(
            "request message exceeds the limit of {limit} bytes"
        )));
    }
    Ok(message)
}

/// The Connect JSON error body.
pub fn error_body(status: &Status) -> Vec<u8> {
    serde_json::json!({ "code": status.code.as_str(), "message": status.wire_message() })
        .to_string()
        .into_bytes()
}

/// A Connect unary response.
pub fn respond(
    headers: &HeaderMap,
    result: Result<Bytes, Status>,
    content_type: &'static str,
) -> Response {
    match result {
        Ok(body) => {
            let gz = accepts_gzip(headers, "accept-encoding") && body.len() >= COMPRESS_MIN;
            let (body, encoded) = match gz.then(|| gzip(&body)) {
                Some(Ok(z)) => (Bytes::from(z), true),
                _ => (body, false),
            };
            let mut r = Response::new(Body::from(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if encoded {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        Err(status) => {
            let mut r = Response::new(Body::from(error_body(&status)));
            *r.status_mut() = StatusCode::from_u16(status.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if r.status() == StatusCode::OK {
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            }
            r
        }
    }
}
