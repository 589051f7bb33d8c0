//! Errors of the graph library.

use std::path::PathBuf;

/// What can go wrong while ingesting, building, storing or loading a graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A row of an input file is malformed (only raised in strict mode or
    /// when every row is bad).
    #[error("{file}:{line}: {reason}")]
    BadRow {
        /// The input file.
        file: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What was wrong.
        reason: String,
    },
    /// An input holds no usable rows.
    #[error("{file}: no usable rows ({reason})")]
    Empty {
        /// The input file.
        file: PathBuf,
        /// Why nothing was usable.
        reason: String,
    },
    /// A configuration value is invalid.
    #[error("invalid config: {0}")]
    Config(String),
    /// A stored graph directory is damaged or of another version.
    #[error("corrupt graph directory {dir}: {reason}")]
    Corrupt {
        /// The graph directory.
        dir: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for the graph library.
pub type Result<T, E = GraphError> = std::result::Result<T, E>;

impl GraphError {
    /// Wraps an I/O error with the file and what was being done.
    pub fn io(context: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| GraphError::Io { context, path, source }
    }
}
