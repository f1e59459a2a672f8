//! [`FetchError`]: why an asset could not be read or downloaded.

use std::path::PathBuf;

/// Why an asset could not be read or downloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The href's scheme or form is not one of the supported stores (`s3://`, `gs://`, `az://`,
    /// `abfs(s)://`, `http(s)://`, `file://`).
    #[error("unsupported asset location {href:?}: {reason}")]
    UnsupportedLocation {
        /// The href.
        href: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The asset has no location with the requested alternate key.
    #[error("asset {asset:?} has no alternate {alternate:?}")]
    NoSuchAlternate {
        /// The asset key.
        asset: String,
        /// The alternate key asked for.
        alternate: String,
    },
    /// The store failed (not found, permission denied, connection failure after retries, ...).
    #[error("reading {href}: {source}")]
    Store {
        /// The href read.
        href: String,
        /// object_store's error.
        #[source]
        source: object_store::Error,
    },
    /// Writing the local file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The downloaded bytes do not have the size the asset's `file:size` states.
    #[error("{href}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The href read.
        href: String,
        /// `file:size`.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// The downloaded bytes do not match the asset's `file:checksum`.
    #[error("{href}: checksum mismatch (expected {expected}, got {actual})")]
    ChecksumMismatch {
        /// The href read.
        href: String,
        /// The expected multihash, hex.
        expected: String,
        /// The multihash of the received bytes, hex.
        actual: String,
    },
}

impl FetchError {
    /// Whether trying again may succeed (connection failures and server errors; not missing objects,
    /// denied access, bad locations or corrupt data).
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Store { source, .. } => {
                matches!(source, object_store::Error::Generic { .. })
            }
            _ => false,
        }
    }
}
