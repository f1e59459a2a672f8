//! Errors of the workflows crate: [`WorkflowsError`] for API calls and [`TaskError`] for task executions.

use std::fmt;

/// Everything a workflows API call (client, runner, context) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowsError {
    /// The RPC failed (server error, transport error, ...).
    #[error(transparent)]
    Rpc(#[from] tilebox_core::Error),
    /// A task identifier is malformed (name 1..=256 bytes, version `vMAJOR.MINOR`).
    #[error("invalid task identifier: {0}")]
    InvalidIdentifier(String),
    /// An encoded task input is larger than the 2048 bytes the API accepts.
    #[error(
        "task input of {name} is {size} bytes, the limit is {limit} bytes; store large data in the job cache"
    )]
    InputTooLarge {
        /// The task's identifier name.
        name: String,
        /// Encoded size.
        size: usize,
        /// The limit (2048).
        limit: usize,
    },
    /// A submission needs more than 64 dependency groups (for example a chain of more than 64 tasks).
    #[error(
        "the submission needs {groups} dependency groups, at most {limit} are allowed; split long chains across tasks"
    )]
    TooManyGroups {
        /// Groups needed.
        groups: usize,
        /// The limit (64).
        limit: usize,
    },
    /// A dependency refers to a task from another submission or context.
    #[error("invalid dependency: {0}")]
    InvalidDependency(String),
    /// Encoding or decoding a task input failed.
    #[error("task input codec: {0}")]
    Codec(String),
    /// `block_on` cannot run the future here (inside a current-thread tokio runtime), or the future panicked.
    #[error("block_on cannot run here: {0}")]
    BlockOn(String),
    /// Two registered tasks have the same identifier.
    #[error("task {0} is registered twice")]
    DuplicateTask(String),
    /// No job cache is configured on the runner, or the key is missing.
    #[error("job cache: {0}")]
    Cache(String),
    /// `ctx.data::<T>()` found no runner data of that type.
    #[error("no runner data of type {0} was registered (use RunnerBuilder::data)")]
    MissingData(&'static str),
    /// Building a runtime or another I/O step failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Any other invalid use.
    #[error("{0}")]
    Invalid(String),
}

/// The error a task execution returns. Any `std::error::Error` converts into it with `?`; plain messages go
/// through [`TaskError::msg`]. Its `Display` text is what the runner reports to the server.
pub struct TaskError {
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl TaskError {
    /// A task error with a plain message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            inner: message.to_string().into(),
        }
    }

    /// The underlying error.
    pub fn source_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskError {
    fn from(e: E) -> Self {
        Self { inner: Box::new(e) }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)?;
        let mut source = self.inner.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Shorthand result type of the crate.
pub type Result<T, E = WorkflowsError> = std::result::Result<T, E>;
