//! The error type of the workflows services (a Connect/gRPC code plus a message).

/// Connect/gRPC status codes the workflows services answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WfCode {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Unimplemented,
    Internal,
}

impl WfCode {
    /// The Connect code string (`invalid_argument`, ...).
    pub(crate) fn connect_name(self) -> &'static str {
        match self {
            WfCode::InvalidArgument => "invalid_argument",
            WfCode::NotFound => "not_found",
            WfCode::AlreadyExists => "already_exists",
            WfCode::FailedPrecondition => "failed_precondition",
            WfCode::Unimplemented => "unimplemented",
            WfCode::Internal => "internal",
        }
    }
}

/// An RPC error of the workflows services.
#[derive(Debug, Clone)]
pub(crate) struct WfError {
    pub(crate) code: WfCode,
    pub(crate) message: String,
}

impl WfError {
    pub(crate) fn new(code: WfCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(WfCode::InvalidArgument, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(WfCode::NotFound, message)
    }
}

impl std::fmt::Display for WfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.connect_name(), self.message)
    }
}

impl From<sqlx::Error> for WfError {
    fn from(e: sqlx::Error) -> Self {
        Self::new(WfCode::Internal, format!("workflows store: {e}"))
    }
}

impl From<prost::DecodeError> for WfError {
    fn from(e: prost::DecodeError) -> Self {
        Self::invalid(format!("cannot decode request: {e}"))
    }
}
