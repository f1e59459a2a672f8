//! The one error type of the SDK, and the Connect status codes.
//!
//! Every fallible call of the core and of the adapters returns [`Result`]. Errors from the server keep the
//! server's message; errors decided by the client (validation, decoding) say what was wrong.

use std::fmt;
use std::str::FromStr;

use crate::transport::TransportError;

/// The result type of the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the SDK.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server has no such entity (Connect `not_found`).
    #[error("not found: {message}")]
    NotFound {
        /// The server's message.
        message: String,
    },
    /// The request was rejected as invalid (Connect `invalid_argument`, or client-side validation of a request).
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// The server's (or the validator's) message.
        message: String,
    },
    /// The API key is missing or invalid (Connect `unauthenticated`).
    #[error("unauthenticated: {message}")]
    Unauthenticated {
        /// The server's message.
        message: String,
    },
    /// The caller may not do this (Connect `permission_denied`).
    #[error("permission denied: {message}")]
    PermissionDenied {
        /// The server's message.
        message: String,
    },
    /// The service stayed unavailable or rate limited (Connect `unavailable` / `resource_exhausted`, or HTTP
    /// 429/502/503/504 without a Connect body) through every attempt of the retry policy.
    #[error("service unavailable after {attempts} attempt(s): {message}")]
    Unavailable {
        /// The message of the last failed attempt.
        message: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// Any other Connect error code (internal, unknown, unimplemented, already_exists, ...).
    #[error("server error ({code}): {message}")]
    Server {
        /// The Connect code.
        code: Code,
        /// The server's message.
        message: String,
    },
    /// The request never produced an HTTP response (connection refused, timeout, broken connection), after
    /// retries where the failure was retryable.
    #[error("transport error after {attempts} attempt(s): {source}")]
    Transport {
        /// What the transport reported for the last attempt.
        source: TransportError,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The server's answer broke the protocol: wrong content type, bad gzip, truncated or undecodable body.
    #[error("protocol error: {message}")]
    Protocol {
        /// What was wrong.
        message: String,
    },
    /// A datapoint or a dataset schema could not be decoded (names the missing type where that is the cause).
    #[error("decode error: {message}")]
    Decode {
        /// What was wrong.
        message: String,
    },
    /// A datapoint's bytes are not a valid message of its dataset type (found by the Arrow decoder).
    #[error("malformed datapoint {index}, field {field}: {message}")]
    MalformedDatapoint {
        /// Position of the datapoint in the page or result being decoded.
        index: usize,
        /// The field (dotted path for nested fields) being read; `?` when the field tag itself is broken.
        field: String,
        /// What was wrong.
        message: String,
    },
    /// Bad input caught before any request was sent (time strings, ids, ...).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What was wrong.
        message: String,
    },
    /// A column of an Arrow record batch does not match the dataset field of the same name (ingest from
    /// Arrow): an unknown name, an Arrow type the field's kind cannot take, or a value it cannot hold.
    #[error("column {column:?} does not match the dataset: {message}")]
    ColumnMismatch {
        /// The name of the first mismatching column (a dotted path for nested columns).
        column: String,
        /// What was wrong.
        message: String,
    },
    /// Writing an output file (Parquet) failed.
    #[error("write error: {message}")]
    Write {
        /// What the writer reported.
        message: String,
    },
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Builds the error for a Connect error `code` with the server's `message` (one attempt).
    ///
    /// `unavailable` and `resource_exhausted` become [`Error::Unavailable`] with `attempts: 1`; the retry loop
    /// replaces the attempt count.
    pub fn from_code(code: Code, message: impl Into<String>) -> Self {
        let message = message.into();
        match code {
            Code::NotFound => Error::NotFound { message },
            Code::InvalidArgument => Error::InvalidArgument { message },
            Code::Unauthenticated => Error::Unauthenticated { message },
            Code::PermissionDenied => Error::PermissionDenied { message },
            Code::Unavailable | Code::ResourceExhausted => Error::Unavailable {
                message,
                attempts: 1,
            },
            Code::Canceled => Error::Cancelled,
            code => Error::Server { code, message },
        }
    }

    /// Shorthand for an [`Error::Protocol`].
    pub fn protocol(message: impl Into<String>) -> Self {
        Error::Protocol {
            message: message.into(),
        }
    }

    /// Shorthand for an [`Error::Decode`].
    pub fn decode(message: impl Into<String>) -> Self {
        Error::Decode {
            message: message.into(),
        }
    }

    /// Shorthand for an [`Error::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
        }
    }

    /// The Connect code this error corresponds to, if it came from (or stands for) a Connect status.
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::NotFound { .. } => Some(Code::NotFound),
            Error::InvalidArgument { .. } => Some(Code::InvalidArgument),
            Error::Unauthenticated { .. } => Some(Code::Unauthenticated),
            Error::PermissionDenied { .. } => Some(Code::PermissionDenied),
            Error::Unavailable { .. } => Some(Code::Unavailable),
            Error::Server { code, .. } => Some(*code),
            Error::Cancelled => Some(Code::Canceled),
            Error::Transport { .. }
            | Error::Protocol { .. }
            | Error::Decode { .. }
            | Error::MalformedDatapoint { .. }
            | Error::InvalidInput { .. }
            | Error::ColumnMismatch { .. }
            | Error::Write { .. } => None,
        }
    }

    /// Whether this is [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// The server's (or the client's) message, without the kind prefix that `Display` adds.
    pub fn message(&self) -> String {
        match self {
            Error::NotFound { message }
            | Error::InvalidArgument { message }
            | Error::Unauthenticated { message }
            | Error::PermissionDenied { message }
            | Error::Unavailable { message, .. }
            | Error::Server { message, .. }
            | Error::Protocol { message }
            | Error::Decode { message }
            | Error::InvalidInput { message }
            | Error::Write { message } => message.clone(),
            Error::ColumnMismatch { column, message } => format!("column {column:?}: {message}"),
            Error::MalformedDatapoint {
                index,
                field,
                message,
            } => format!("datapoint {index}, field {field}: {message}"),
            Error::Transport { source, .. } => source.to_string(),
            Error::Cancelled => "cancelled".to_owned(),
        }
    }
}

/// A Connect (and gRPC) status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// `canceled` (1).
    Canceled,
    /// `unknown` (2).
    Unknown,
    /// `invalid_argument` (3).
    InvalidArgument,
    /// `deadline_exceeded` (4).
    DeadlineExceeded,
    /// `not_found` (5).
    NotFound,
    /// `already_exists` (6).
    AlreadyExists,
    /// `permission_denied` (7).
    PermissionDenied,
    /// `resource_exhausted` (8).
    ResourceExhausted,
    /// `failed_precondition` (9).
    FailedPrecondition,
    /// `aborted` (10).
    Aborted,
    /// `out_of_range` (11).
    OutOfRange,
    /// `unimplemented` (12).
    Unimplemented,
    /// `internal` (13).
    Internal,
    /// `unavailable` (14).
    Unavailable,
    /// `data_loss` (15).
    DataLoss,
    /// `unauthenticated` (16).
    Unauthenticated,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 16] = [
        Code::Canceled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The Connect code string (`"not_found"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Canceled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// Parses a Connect code string; `None` for anything else.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.as_str() == s)
    }

    /// The numeric gRPC code (1..=16).
    pub fn number(self) -> u32 {
        // ALL is in numeric order starting at 1.
        Code::ALL
            .iter()
            .position(|c| *c == self)
            .map_or(2, |i| i as u32 + 1)
    }

    /// The HTTP status a Connect server answers with for this code (current Connect spec).
    pub fn http_status(self) -> u16 {
        match self {
            Code::Canceled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }

    /// The code a client assumes for a non-200 response that carries no Connect error body (spec §1.3).
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown Connect code string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Connect code {0:?}")]
pub struct UnknownCode(pub String);

impl FromStr for Code {
    type Err = UnknownCode;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Code::parse(s).ok_or_else(|| UnknownCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_strings_round_trip() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
            assert_eq!(code.as_str().parse::<Code>().ok(), Some(code));
        }
        assert_eq!(Code::parse("NOT_FOUND"), None);
        assert_eq!(Code::NotFound.number(), 5);
        assert_eq!(Code::Unauthenticated.number(), 16);
    }

    #[test]
    fn display_keeps_server_message() {
        let e = Error::from_code(Code::NotFound, "no such dataset");
        assert!(matches!(e, Error::NotFound { .. }));
        assert_eq!(e.to_string(), "not found: no such dataset");
        assert_eq!(e.message(), "no such dataset");
        let e = Error::from_code(Code::Internal, "boom");
        assert_eq!(e.to_string(), "server error (internal): boom");
        assert_eq!(e.code(), Some(Code::Internal));
        assert_eq!(
            Error::from_code(Code::ResourceExhausted, "x").code(),
            Some(Code::Unavailable)
        );
    }

    #[test]
    fn http_fallback() {
        assert_eq!(Code::from_http_status(400), Code::Internal);
        assert_eq!(Code::from_http_status(404), Code::Unimplemented);
        assert_eq!(Code::from_http_status(502), Code::Unavailable);
        assert_eq!(Code::from_http_status(418), Code::Unknown);
    }
}
