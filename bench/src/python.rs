//! The Python baselines' venv: python/setup.sh makes it (or the stand-in that
//! `BENCH_PYTHON_SETUP` names: a test plays a machine without python3). Where no usable
//! python3 exists (status 3) the Python cells are skipped with its reason.

use std::path::Path;
use std::process::Command;

use crate::error::BenchError;

/// Whether the Python servers can run, and their versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Python {
    /// Not asked for.
    NotNeeded,
    /// Ready: the interpreter's and the frameworks' versions.
    Ready(String),
    /// No usable python3 here: why.
    Unavailable(String),
}

/// setup.sh's status for "no usable python3 here".
const UNAVAILABLE: i32 = 3;

impl Python {
    /// Runs the set-up when `needed`, its progress lines to `say` (a run's progress is on
    /// stdout, a benchmark's on stderr beside its report); a set-up that failed otherwise
    /// ends the run.
    pub fn prepare(root: &Path, needed: bool, say: &dyn Fn(&str)) -> Result<Self, BenchError> {
        if !needed {
            return Ok(Self::NotNeeded);
        }
        say("== python: python/setup.sh (python/.venv)");
        let setup = std::env::var_os("BENCH_PYTHON_SETUP").map_or_else(|| root.join("python/setup.sh"), Into::into);
        let out = Command::new(&setup).output().map_err(|e| BenchError::Python(format!("{}: {e}", setup.display())))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr.lines().last().unwrap_or("").trim_start_matches("python: ").to_owned();
        match out.status.code() {
            Some(0) => {
                let versions = Command::new(root.join("python/setup.sh")).arg("--versions").output()?;
                let versions = String::from_utf8_lossy(&versions.stdout).trim().to_owned();
                say(&format!("== python: {versions}"));
                Ok(Self::Ready(versions))
            }
            Some(UNAVAILABLE) => {
                say(&format!("== python: not here ({why}); their cells are skipped"));
                Ok(Self::Unavailable(why))
            }
            _ => {
                eprint!("{stderr}");
                Err(BenchError::Python(why))
            }
        }
    }

    /// Why the Python servers cannot run, if they cannot.
    pub fn unavailable(&self) -> Option<&str> {
        match self {
            Self::Unavailable(why) => Some(why),
            _ => None,
        }
    }

    /// Their versions, when they ran.
    pub fn versions(&self) -> Option<&str> {
        match self {
            Self::Ready(v) => Some(v),
            _ => None,
        }
    }
}
