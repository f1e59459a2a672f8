//! RPC outcome codes and the error status every handler returns.

use std::borrow::Cow;
use std::fmt;

/// The longest message sent to a client, in bytes (before any percent-encoding). Messages that quote input
/// (a 100,000-character slug, say) are cut here, so an error never becomes an oversized header or body.
pub const MAX_MESSAGE_BYTES: usize = 256;

/// The Connect / gRPC status codes: the core's table (code strings, numbers, HTTP statuses) serves both the
/// client and the server.
pub use tilebox_core::Code;

/// The error outcome of an RPC: a code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The status code.
    pub code: Code,
    /// A readable message for the caller.
    pub message: String,
}

impl Status {
    /// A status with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Status {
            code,
            message: message.into(),
        }
    }

    /// `invalid_argument` with a message.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// `not_found` with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// `internal` with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// `unimplemented` with a message.
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Self::new(Code::Unimplemented, message)
    }

    /// `already_exists` with a message.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(Code::AlreadyExists, message)
    }

    /// `failed_precondition` with a message.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, message)
    }

    /// `resource_exhausted` with a message.
    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceExhausted, message)
    }

    /// The message as sent on the wire: at most [`MAX_MESSAGE_BYTES`] bytes, cut on a UTF-8 character boundary
    /// and marked with `…` when it was longer.
    pub fn wire_message(&self) -> Cow<'_, str> {
        truncate_message(&self.message, MAX_MESSAGE_BYTES)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

/// `message` cut to at most `max` bytes on a character boundary, with `…` (3 bytes, counted) when cut.
fn truncate_message(message: &str, max: usize) -> Cow<'_, str> {
    if message.len() <= max {
        return Cow::Borrowed(message);
    }
    const ELLIPSIS: &str = "…";
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{ELLIPSIS}", &message[..end]))
}

#[cfg(test)]
mod tests {
    use super::truncate_message;

    #[test]
    fn short_messages_are_untouched() {
        assert_eq!(truncate_message("no such dataset", 256), "no such dataset");
        let exact = "x".repeat(256);
        assert_eq!(truncate_message(&exact, 256), exact.as_str());
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = format!("invalid slug {:?}", "ü".repeat(50_000));
        let cut = truncate_message(&long, 256);
        assert!(cut.len() <= 256, "{}", cut.len());
        assert!(cut.len() >= 250);
        assert!(cut.starts_with("invalid slug \"ü"));
        assert!(cut.ends_with('…'));
    }
}
