//! The bundle crate's error: every failure names the file or the field.

use std::path::{Path, PathBuf};

/// Result with [`BundleError`].
pub type Result<T> = std::result::Result<T, BundleError>;

/// What can go wrong writing, reading or searching a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory is not a (complete, intact) bundle.
    #[error("bundle {path}: {reason}")]
    Corrupt {
        /// The bundle or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// What the writer was given is inconsistent (wrong lengths, NaN).
    #[error("bundle content: {0}")]
    Invalid(String),
    /// The HNSW library failed.
    #[error("ann index: {0}")]
    Ann(String),
    /// A user or item id the bundle does not know.
    #[error("unknown {kind} {id}")]
    Unknown {
        /// "user" or "item".
        kind: &'static str,
        /// The raw id asked for.
        id: u64,
    },
    /// A cached layer state the bundle does not hold.
    #[error("the bundle caches no layer {layer} state of {node_type} ({held} states held)")]
    NoState {
        /// The layer asked for.
        layer: usize,
        /// The node type asked for.
        node_type: String,
        /// How many states the bundle holds.
        held: usize,
    },
}

impl BundleError {
    /// A closure mapping an I/O error on `path` during `op`.
    pub fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| Self::Io { op, path, source }
    }

    /// A corrupt bundle at `path`.
    pub fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        Self::Corrupt { path: path.to_owned(), reason: reason.into() }
    }
}
