//! What stops a bench command, and the one mapping from it to the exit status.

use std::path::PathBuf;

use thiserror::Error;

/// What stops a command, each mapped to its exit status in `BenchError::exit_code`.
#[derive(Debug, Error)]
pub enum BenchError {
    /// A bad flag or value (exit 2).
    #[error("{0} (--help lists the flags)")]
    Usage(String),
    /// servers/roster.toml cannot be read or contradicts itself (exit 2).
    #[error("{0}")]
    Roster(String),
    /// A process did not start (exit 1).
    #[error("{0}")]
    Start(String),
    /// The upstream died: the run stops at once, writes no results.md (exit 1).
    #[error("stopped {when}: the upstream (gosleep) failed: {why}. No results.md written; the raw results so far are in {}/", dir.display())]
    UpstreamDied {
        /// Before or after which cell.
        when: String,
        /// What failed.
        why: String,
        /// The run's directory.
        dir: PathBuf,
    },
    /// No cell was measured (exit 1).
    #[error("no cell was measured ({skipped} skipped, {failed} failed; why is in {}/run.json); no results.md written", dir.display())]
    NothingMeasured {
        /// Cells skipped.
        skipped: usize,
        /// Cells failed.
        failed: usize,
        /// The run's directory.
        dir: PathBuf,
    },
    /// The Python set-up failed (exit 1).
    #[error("python/setup.sh failed ({0}); nothing measured")]
    Python(String),
    /// The build failed (exit 1).
    #[error("the release build failed ({0})")]
    Build(String),
    /// The run's record would not be one the report reads (exit 1: a bug of the runner).
    #[error("run.json: {0}")]
    Record(String),
    /// A run that cannot be published (exit 1).
    #[error("{0}")]
    Publish(String),
    /// The report could not be made (exit 1).
    #[error(transparent)]
    Report(#[from] bench_report::ReportError),
    /// The report was written, but shows cells as invalid (exit 1).
    #[error("wrote {markdown}, but {} cell(s) are invalid, not results: {}", invalid.len(), invalid.join("; "))]
    InvalidCells {
        /// The report written.
        markdown: String,
        /// "cell: reason" of each invalid cell.
        invalid: Vec<String>,
    },
    /// A JSON file without the field asked for, or not JSON (exit 1).
    #[error("{0}")]
    Field(String),
    /// Reading or writing a file, a process (exit 1).
    #[error("{0}")]
    Io(String),
}

impl From<std::io::Error> for BenchError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

impl BenchError {
    /// The exit status: 2 for bad input, 1 for anything else that stopped the command.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Roster(_) => 2,
            _ => 1,
        }
    }
}
