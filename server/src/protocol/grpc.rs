//! gRPC over HTTP/2: 5-byte message framing, `grpc-encoding`, status in trailers.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, header};
use http_body_util::{BodyExt, Full};

use super::codec::{gunzip, gzip};
use super::{COMPRESS_MIN, accepts_gzip};
use crate::status::{Code, Status};

/// Extracts the single request message from a gRPC body.
pub fn unframe(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, Status> {
    if body.len() < 5 {
        return Err(Status::invalid_argument(
            "gRPC request body must hold exactly one length-prefixed message",
        ));
    }
    let flag = body[0];
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() - 5 != len {
        return Err(Status::invalid_argument(format!(
            "gRPC frame announces {len} bytes but {} follow (exactly one message expected)",
            body.len() - 5
        )));
    }
    let payload = body.slice(5..);
    let message = match flag {
        0 => payload,
        1 => {
            let encoding = headers
                .get("grpc-encoding")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("identity");
            if encoding.eq_ignore_ascii_case("gzip") {
                gunzip(&payload, limit)?
            } else {
                return Err(Status::unimplemented(format!(
                    "unsupported grpc-encoding {encoding:?}"
                )));
            }
        }
        f => {
            return Err(Status::invalid_argument(format!(
                "invalid gRPC frame flag {f}"
            )));
        }
    };
    if message.len() > limit {
        return Err(Status::resource_exhausted(format!(
            "request message exceeds the limit of {limit} bytes"
        )));
    }
    Ok(message)
}

/// Percent-encodes a `grpc-message` value.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7E).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base_response(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    r.headers_mut().insert(
        "grpc-accept-encoding",
        HeaderValue::from_static("gzip,identity"),
    );
    r
}

/// A gRPC response: one framed message plus `grpc-status: 0` trailers, or a trailers-only error.
pub fn respond(headers: &HeaderMap, result: Result<Bytes, Status>) -> Response {
    match result {
        Ok(message) => {
            let gz = accepts_gzip(headers, "grpc-accept-encoding") && message.len() >= COMPRESS_MIN;
            let (payload, compressed) = match gz.then(|| gzip(&message)) {
                Some(Ok(z)) => (Bytes::from(z), true),
                _ => (message, false),
            };
            let Ok(len) = u32::try_from(payload.len()) else {
                return respond(
                    headers,
                    Err(Status::new(
                        Code::ResourceExhausted,
                        "response message too large",
                    )),
                );
            };
            let mut frame = BytesMut::with_capacity(payload.len() + 5);
            frame.put_u8(u8::from(compressed));
            frame.put_u32(len);
            frame.extend_from_slice(&payload);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let body = Full::new(frame.freeze())
                .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) });
            let mut r = base_response(Body::new(body));
            if compressed {
                r.headers_mut()
                    .insert("grpc-encoding", HeaderValue::from_static("gzip"));
            }
            r
        }
        Err(status) => {
            let mut r = base_response(Body::empty());
            let code = HeaderValue::from(status.code.number());
            r.headers_mut().insert("grpc-status", code);
            if let Ok(v) = HeaderValue::from_str(&percent_encode(&status.wire_message())) {
                r.headers_mut().insert("grpc-message", v);
            }
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn percent() {
        assert_eq!(percent_encode("no such dataset"), "no such dataset");
        assert_eq!(percent_encode("50% ü"), "50%25 %C3%BC");
    }
}
