//! Tasks: identifiers, input codecs and the [`Task`] / [`AsyncTask`] traits.
//!
//! A task is a value of a type with a known [`TaskIdentifier`]. Types only *submitted* from Rust implement
//! [`TaskSpec`]; types Rust *executes* also implement [`Task`] (sync `execute`, run on a blocking thread) or
//! [`AsyncTask`] (async `execute`, awaited on the runner's runtime).
//!
//! Inputs are serde JSON by default: every `Serialize + DeserializeOwned` type gets [`TaskCodec`] for free.
//! Field names stay as written, so a Rust struct interoperates with a Python multi-field dataclass. For a
//! protobuf input, implement [`TaskCodec`] yourself with [`protobuf_encode`] / [`protobuf_decode`].

use std::fmt;
use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{AsyncTaskContext, TaskContext};
use crate::error::{Result, TaskError, WorkflowsError};

/// Largest encoded task input the API accepts, in bytes.
pub const MAX_INPUT_BYTES: usize = 2048;

/// Name plus `vMAJOR.MINOR` version; routes submitted tasks to code.
///
/// A runner that registered `name@vA.B` executes a submitted `name@vC.D` iff `A == C` and `B >= D`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskIdentifier {
    name: String,
    version: String,
}

impl TaskIdentifier {
    /// An identifier; validated when a task is registered or submitted.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
        }
    }

    /// An identifier, validated now.
    pub fn try_new(name: impl Into<String>, version: impl Into<String>) -> Result<Self> {
        let id = Self::new(name, version);
        id.validate()?;
        Ok(id)
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version string (`vMAJOR.MINOR`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The parsed (major, minor) version.
    pub fn major_minor(&self) -> Result<(u64, u64)> {
        parse_version(&self.version).ok_or_else(|| {
            WorkflowsError::InvalidIdentifier(format!(
                "version {:?} of {:?} does not match vMAJOR.MINOR (e.g. v1.0)",
                self.version, self.name
            ))
        })
    }

    /// Check the name length (1..=256 bytes) and the version pattern.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.len() > 256 {
            return Err(WorkflowsError::InvalidIdentifier(format!(
                "name must be 1..=256 bytes, {:?} has {}",
                self.name,
                self.name.len()
            )));
        }
        self.major_minor().map(|_| ())
    }

    /// Whether a runner registered with `self` may execute a task submitted as `submitted`.
    pub fn can_execute(&self, submitted: &TaskIdentifier) -> bool {
        match (self.major_minor(), submitted.major_minor()) {
            (Ok((a, b)), Ok((c, d))) => self.name == submitted.name && a == c && b >= d,
            _ => false,
        }
    }

    pub(crate) fn to_wire(&self) -> tilebox_core::wire::workflows::v1::TaskIdentifier {
        tilebox_core::wire::workflows::v1::TaskIdentifier {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    pub(crate) fn from_wire(id: &tilebox_core::wire::workflows::v1::TaskIdentifier) -> Self {
        Self::new(id.name.clone(), id.version.clone())
    }
}

impl fmt::Display for TaskIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

fn parse_version(v: &str) -> Option<(u64, u64)> {
    let (major, minor) = v.strip_prefix('v')?.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// How a task value becomes input bytes and back. Implemented with serde JSON for every
/// `Serialize + DeserializeOwned` type; implement it by hand for other encodings (e.g. protobuf).
pub trait TaskCodec: Sized {
    /// Encode the task's input.
    fn encode_input(&self) -> Result<Vec<u8>>;
    /// Decode a task from its input.
    fn decode_input(input: &[u8]) -> Result<Self>;
}

impl<T: Serialize + DeserializeOwned> TaskCodec for T {
    fn encode_input(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| WorkflowsError::Codec(format!("JSON encode: {e}")))
    }

    fn decode_input(input: &[u8]) -> Result<Self> {
        // Python sends empty input for field-less tasks.
        let input = if input.is_empty() {
            b"null".as_slice()
        } else {
            input
        };
        serde_json::from_slice(input)
            .map_err(|e| WorkflowsError::Codec(format!("JSON decode: {e}")))
    }
}

/// Encode a protobuf task input (for a hand-written [`TaskCodec`]).
pub fn protobuf_encode<M: prost::Message>(message: &M) -> Result<Vec<u8>> {
    Ok(message.encode_to_vec())
}

/// Decode a protobuf task input (for a hand-written [`TaskCodec`]).
pub fn protobuf_decode<M: prost::Message + Default>(input: &[u8]) -> Result<M> {
    M::decode(input).map_err(|e| WorkflowsError::Codec(format!("protobuf decode: {e}")))
}

/// A task type that can be submitted: an identifier plus an input codec.
pub trait TaskSpec: TaskCodec + Send + Sync + 'static {
    /// The identifier (name + version) of this task type.
    fn identifier() -> TaskIdentifier;

    /// The display name shown in job views; defaults to the identifier's name.
    fn display(&self) -> String {
        Self::identifier().name().to_owned()
    }
}

/// A task executed synchronously on a blocking thread of the runner's runtime.
///
/// Use [`TaskContext::block_on`] to run async code (tokio-, async-std- or smol-based) inside.
pub trait Task: TaskSpec {
    /// Run the task.
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError>;
}

/// A task whose `execute` is async; awaited on the runner's multi-thread runtime.
///
/// Still one task at a time per runner: async only lets a task overlap its own I/O.
pub trait AsyncTask: TaskSpec {
    /// Run the task.
    fn execute(&self, ctx: &AsyncTaskContext)
    -> impl Future<Output = Result<(), TaskError>> + Send;
}

/// Encode `task` and check the input limit.
pub(crate) fn encode_checked<T: TaskSpec>(task: &T) -> Result<(TaskIdentifier, Vec<u8>)> {
    let id = T::identifier();
    let input = check_input(&id, task.encode_input()?)?;
    Ok((id, input))
}

/// Validate `id` and check the size of an encoded input.
pub(crate) fn check_input(id: &TaskIdentifier, input: Vec<u8>) -> Result<Vec<u8>> {
    id.validate()?;
    if input.len() > MAX_INPUT_BYTES {
        return Err(WorkflowsError::InputTooLarge {
            name: id.name().to_owned(),
            size: input.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_compatibility() {
        let runner = TaskIdentifier::new("t", "v1.5");
        assert!(runner.can_execute(&TaskIdentifier::new("t", "v1.3")));
        assert!(runner.can_execute(&TaskIdentifier::new("t", "v1.5")));
        assert!(!runner.can_execute(&TaskIdentifier::new("t", "v1.6")));
        assert!(!runner.can_execute(&TaskIdentifier::new("t", "v2.0")));
        assert!(!runner.can_execute(&TaskIdentifier::new("u", "v1.3")));
    }

    #[test]
    fn validation() {
        assert!(TaskIdentifier::try_new("t", "v1.0").is_ok());
        assert!(TaskIdentifier::try_new("", "v1.0").is_err());
        assert!(TaskIdentifier::try_new("t", "1.0").is_err());
        assert!(TaskIdentifier::try_new("t", "v1").is_err());
        assert!(TaskIdentifier::try_new("x".repeat(257), "v1.0").is_err());
    }
}
