//! Record/replay transports for tests.
//!
//! The recording format (shared with the official Go client's test recordings) is a plain concatenation of
//! entries, one per HTTP round trip: an 8-byte little-endian signed status, an 8-byte little-endian unsigned
//! body length `n`, then `n` body bytes exactly as they came off the wire (still content-encoded). Requests,
//! URLs and headers are not stored.
//!
//! [`ReplayTransport`] answers requests in order from such a recording, whatever the request is, and records
//! the requests it saw so a test can check the call sequence. [`RecordingTransport`] wraps a real transport and
//! writes the responses it sees in the same format.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use crate::connect::{CONTENT_TYPE_JSON, CONTENT_TYPE_PROTO};
use crate::error::{Error, Result};
use crate::transport::{BoxFuture, HttpRequest, HttpResponse, Transport, TransportError};

/// One recorded round trip: the HTTP status and the raw (still content-encoded) response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResponse {
    /// HTTP status code.
    pub status: i64,
    /// The body as it came off the wire.
    pub body: Bytes,
}

/// Parses a recording into its entries. A partial header or a body shorter than announced is an
/// [`Error::Protocol`].
pub fn parse_recording(bytes: &[u8]) -> Result<Vec<RecordedResponse>> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (Some(status), Some(len)) = (rest.get(0..8), rest.get(8..16)) else {
            return Err(Error::protocol(format!(
                "recording: truncated header after {} entries",
                entries.len()
            )));
        };
        let status = i64::from_le_bytes(
            status
                .try_into()
                .map_err(|_| Error::protocol("recording: bad header"))?,
        );
        let len = u64::from_le_bytes(
            len.try_into()
                .map_err(|_| Error::protocol("recording: bad header"))?,
        );
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(16))
            .ok_or_else(|| Error::protocol("recording: body length overflows"))?;
        let body = rest.get(16..end).ok_or_else(|| {
            Error::protocol(format!(
                "recording: truncated body of entry {}",
                entries.len()
            ))
        })?;
        entries.push(RecordedResponse {
            status,
            body: Bytes::copy_from_slice(body),
        });
        rest = &rest[end..];
    }
    Ok(entries)
}

/// Serializes entries in the recording format.
pub fn write_recording(entries: &[RecordedResponse]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.body.len() + 16).sum());
    for entry in entries {
        append_entry(&mut out, entry.status, &entry.body);
    }
    out
}

fn append_entry(out: &mut Vec<u8>, status: i64, body: &[u8]) {
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these plain collections inconsistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A request as the replay transport saw it.
#[derive(Debug, Clone)]
pub struct ReplayedRequest {
    /// HTTP method.
    pub method: Method,
    /// Full request URI.
    pub uri: Uri,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body as sent (possibly gzip-compressed, see `Content-Encoding`).
    pub body: Bytes,
}

impl ReplayedRequest {
    /// The URI path (`/datasets.v1.DatasetService/GetDataset`, including a `/public` prefix if any).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The body with any `Content-Encoding` removed.
    pub fn decoded_body(&self) -> Result<Bytes> {
        crate::connect::decode_body(&self.headers, self.body.clone())
    }
}

/// A [`Transport`] answering every request with the next entry of a recording.
///
/// Response headers: `Content-Encoding: gzip` when the body starts with the gzip magic `1f 8b` (a fixture
/// convenience; the codec itself decides by the header), `Content-Type: application/proto` for status 200 and
/// `application/json` otherwise. When the entries run out, the transport answers with
/// `TransportError::Other("replay exhausted after N calls")`.
#[derive(Debug, Default)]
pub struct ReplayTransport {
    queue: Mutex<VecDeque<RecordedResponse>>,
    requests: Mutex<Vec<ReplayedRequest>>,
}

impl ReplayTransport {
    /// A replay of `entries`, answered in order.
    pub fn new(entries: impl IntoIterator<Item = RecordedResponse>) -> Self {
        ReplayTransport {
            queue: Mutex::new(entries.into_iter().collect()),
            requests: Mutex::default(),
        }
    }

    /// A replay of a recording file's contents.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Ok(ReplayTransport::new(parse_recording(bytes)?))
    }

    /// A replay of the recording file at `path`.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::invalid_input(format!("cannot read recording {}: {e}", path.display()))
        })?;
        ReplayTransport::from_bytes(&bytes)
    }

    /// Wraps it in an `Arc`, ready to hand to a client (keep a clone to inspect it afterwards).
    pub fn into_arc(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// How many entries have not been used yet.
    pub fn remaining(&self) -> usize {
        lock(&self.queue).len()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ReplayedRequest> {
        lock(&self.requests).clone()
    }

    /// The paths of every request received so far, in order.
    pub fn request_paths(&self) -> Vec<String> {
        lock(&self.requests)
            .iter()
            .map(|r| r.path().to_owned())
            .collect()
    }

    fn answer(&self, request: HttpRequest) -> std::result::Result<HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let calls = {
            let mut requests = lock(&self.requests);
            requests.push(ReplayedRequest {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
            });
            requests.len()
        };
        let Some(entry) = lock(&self.queue).pop_front() else {
            return Err(TransportError::Other(format!(
                "replay exhausted after {} calls",
                calls - 1
            )));
        };
        let status = u16::try_from(entry.status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .ok_or_else(|| {
                TransportError::Other(format!(
                    "recorded status {} is not an HTTP status",
                    entry.status
                ))
            })?;
        let mut response = http::Response::new(entry.body.clone());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if entry.body.starts_with(&[0x1f, 0x8b]) {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let content_type = if status == StatusCode::OK {
            CONTENT_TYPE_PROTO
        } else {
            CONTENT_TYPE_JSON
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        Ok(response)
    }
}

impl Transport for ReplayTransport {
    fn send(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, std::result::Result<HttpResponse, TransportError>> {
        let result = self.answer(request);
        Box::pin(async move { result })
    }
}

/// A [`Transport`] that forwards to another and records every response (status and raw body) in the
/// recording format. Transport failures are not recorded.
pub struct RecordingTransport {
    inner: Arc<dyn Transport>,
    recorded: Arc<Mutex<Vec<u8>>>,
    entries: Arc<Mutex<usize>>,
}

impl std::fmt::Debug for RecordingTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTransport")
            .field("entries", &*lock(&self.entries))
            .finish_non_exhaustive()
    }
}

impl RecordingTransport {
    /// Records what `inner` answers.
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        RecordingTransport {
            inner,
            recorded: Arc::default(),
            entries: Arc::default(),
        }
    }

    /// The recording so far (the bytes of a `.rpcs.bin` file).
    pub fn recording(&self) -> Vec<u8> {
        lock(&self.recorded).clone()
    }

    /// How many responses were recorded.
    pub fn len(&self) -> usize {
        *lock(&self.entries)
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the recording so far to `path`.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.recording()).map_err(|e| {
            Error::invalid_input(format!("cannot write recording {}: {e}", path.display()))
        })
    }
}

impl Transport for RecordingTransport {
    fn send(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, std::result::Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let response = self.inner.send(request).await?;
            {
                let mut recorded = lock(&self.recorded);
                append_entry(
                    &mut recorded,
                    i64::from(response.status().as_u16()),
                    response.body(),
                );
                *lock(&self.entries) += 1;
            }
            Ok(response)
        })
    }
}
