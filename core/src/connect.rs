//! The Connect unary protocol codec, sans-IO: pure functions from messages to `http::Request`s and from
//! `http::Response`s to messages or [`Error`]s.
//!
//! Requests: `POST <base>[/public]/<pkg>.<Service>/<Method>`, `Content-Type: application/proto`,
//! `Connect-Protocol-Version: 1`, `Accept-Encoding: gzip`, `User-Agent`, `Authorization: Bearer <key>` when a
//! key is set, `Connect-Timeout-Ms` when a timeout is set, and optionally a gzip body with
//! `Content-Encoding: gzip`.
//!
//! Responses: the body is decompressed according to the `Content-Encoding` *header*; a `200` must carry
//! `application/proto` and a decodable message; anything else is an error, decoded from the Connect JSON error
//! body by its `code` (never by the HTTP status), or — when the body is not a Connect error — mapped from the
//! HTTP status as the Connect spec prescribes.

use std::io::{Read, Write};

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use prost::Message;

use crate::config::ClientConfig;
use crate::error::{Code, Error, Result};

/// The content type of binary Connect unary messages.
pub const CONTENT_TYPE_PROTO: &str = "application/proto";
/// The content type of Connect error bodies.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// Header announcing the Connect protocol version.
pub const PROTOCOL_VERSION_HEADER: &str = "connect-protocol-version";
/// Header carrying the caller's deadline in milliseconds.
pub const TIMEOUT_HEADER: &str = "connect-timeout-ms";

/// Encodes `message` and builds the Connect request for `service_method` (`"<pkg>.<Service>/<Method>"`).
pub fn encode_request<M: Message>(
    config: &ClientConfig,
    service_method: &str,
    message: &M,
) -> Result<http::Request<Bytes>> {
    build_request(config, service_method, Bytes::from(message.encode_to_vec()))
}

/// Builds the Connect request for `service_method` around an already serialized message `body`.
pub fn build_request(
    config: &ClientConfig,
    service_method: &str,
    body: Bytes,
) -> Result<http::Request<Bytes>> {
    let url = config.rpc_url(service_method);
    let mut builder = http::Request::builder()
        .method(Method::POST)
        .uri(&url)
        .header(CONTENT_TYPE, CONTENT_TYPE_PROTO)
        .header(PROTOCOL_VERSION_HEADER, "1")
        .header(
            ACCEPT_ENCODING,
            if config.accepts_gzip() {
                "gzip"
            } else {
                "identity"
            },
        );
    let user_agent = HeaderValue::from_str(config.user_agent()).map_err(|_| {
        Error::invalid_input(format!("invalid user agent {:?}", config.user_agent()))
    })?;
    builder = builder.header(USER_AGENT, user_agent);
    if let Some(key) = config.api_key() {
        let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            Error::invalid_input("the API key contains characters not allowed in a header")
        })?;
        value.set_sensitive(true);
        builder = builder.header(AUTHORIZATION, value);
    }
    if let Some(timeout) = config.timeout() {
        let ms = timeout.as_millis().clamp(1, 9_999_999_999);
        builder = builder.header(TIMEOUT_HEADER, ms.to_string());
    }
    let body = if config.gzip_requests() {
        builder = builder.header(CONTENT_ENCODING, "gzip");
        gzip(&body)
    } else {
        body
    };
    builder
        .body(body)
        .map_err(|e| Error::invalid_input(format!("cannot build a request for {url:?}: {e}")))
}

/// Decodes a Connect unary response into `M`, or into the [`Error`] it carries.
pub fn decode_response<M: Message + Default>(response: http::Response<Bytes>) -> Result<M> {
    let (parts, body) = response.into_parts();
    if parts.status != StatusCode::OK {
        return Err(decode_error(parts.status, &parts.headers, &body));
    }
    let content_type = header_str(&parts.headers, CONTENT_TYPE.as_str());
    if !is_content_type(content_type, CONTENT_TYPE_PROTO) {
        return Err(Error::protocol(format!(
            "unexpected content type {:?} for a successful response (expected {CONTENT_TYPE_PROTO})",
            content_type.unwrap_or("")
        )));
    }
    let body = decode_body(&parts.headers, body)?;
    M::decode(body).map_err(|e| Error::protocol(format!("cannot decode the response message: {e}")))
}

/// Decompresses `body` according to the `Content-Encoding` header (`gzip`, `identity` or absent).
pub fn decode_body(headers: &HeaderMap, body: Bytes) -> Result<Bytes> {
    match header_str(headers, CONTENT_ENCODING.as_str()).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(body),
        Some(enc) if enc.is_empty() || enc == "identity" => Ok(body),
        Some(enc) if enc == "gzip" => gunzip(&body).map(Bytes::from),
        Some(enc) => Err(Error::protocol(format!(
            "unsupported content encoding {enc:?}"
        ))),
    }
}

/// The [`Error`] for a non-200 response: the Connect JSON error by its `code`, else the HTTP status mapping.
pub fn decode_error(status: StatusCode, headers: &HeaderMap, body: &Bytes) -> Error {
    let decoded = decode_body(headers, body.clone()).ok();
    if let Some((code, message)) = decoded.as_deref().and_then(parse_connect_error) {
        return Error::from_code(code, message);
    }
    let code = Code::from_http_status(status.as_u16());
    let reason = status.canonical_reason().unwrap_or("");
    let text = decoded
        .as_deref()
        .map(|b| {
            String::from_utf8_lossy(b)
                .trim()
                .chars()
                .take(200)
                .collect::<String>()
        })
        .unwrap_or_default();
    let mut message = format!("HTTP {} {reason}", status.as_u16())
        .trim_end()
        .to_owned();
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(&text);
    }
    Error::from_code(code, message)
}

/// Parses a Connect JSON error body `{"code": ..., "message": ..., "details": [...]}` into its code and
/// message. `None` when the body is not a JSON object with a string `code` (not a Connect error). An
/// unrecognised code string means `unknown`, as the Connect spec says.
pub fn parse_connect_error(body: &[u8]) -> Option<(Code, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value.get("code")?.as_str()?;
    let code = Code::parse(code).unwrap_or(Code::Unknown);
    let message = value
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_owned();
    Some((code, message))
}

/// The JSON body a Connect server sends for an error (used by servers and tests).
pub fn error_body(code: Code, message: &str) -> Bytes {
    let value = serde_json::json!({ "code": code.as_str(), "message": message });
    Bytes::from(value.to_string())
}

/// The delay a `Retry-After` header asks for, when it holds a number of seconds (HTTP dates are ignored).
pub fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    header_str(headers, http::header::RETRY_AFTER.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}

/// Gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 2 + 32),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// Decompresses a gzip body (all members); a corrupt or truncated stream is an [`Error::Protocol`].
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4));
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| Error::protocol(format!("cannot decompress the gzip body: {e}")))?;
    Ok(out)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `content_type` (possibly with parameters such as `; charset=utf-8`) is `expected`.
fn is_content_type(content_type: Option<&str>, expected: &str) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected))
}
