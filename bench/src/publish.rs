//! `bench publish [RUN_DIR] [--to DIR]`: make one run the repository's published results.
//! Copies the run's results.md and its charts over the ones at the top of the repository
//! (or `--to DIR`), the files the README shows. Only a complete run is published: one the
//! runner finished with every cell measured and valid (it then writes "complete" into the
//! run's status file); anything else is refused, so a failed or interrupted run never
//! replaces a good table.

use std::path::Path;

use crate::error::BenchError;

/// The file a complete run holds, and what it says.
pub const STATUS_FILE: &str = "status";
/// What [`STATUS_FILE`] says of a run whose every cell was measured and valid.
pub const COMPLETE: &str = "complete";
/// The chart a run without capacity searches does not have.
const CAPACITY_CHART: &str = "results-capacity.svg";

/// Marks `run` complete: what [`publish`] asks of it.
pub fn mark_complete(run: &Path) -> std::io::Result<()> {
    std::fs::write(run.join(STATUS_FILE), format!("{COMPLETE}\n"))
}

/// Copies `run`'s results.md and charts into `to`, or says why not.
pub fn publish(run: &Path, to: &Path) -> Result<(), BenchError> {
    let refuse = |why: String| Err(BenchError::Publish(why));
    if !run.join(bench_report::REPORT_FILE).is_file() {
        return refuse(format!("{} has no results.md: not a run directory", run.display()));
    }
    if !std::fs::read_to_string(run.join(STATUS_FILE)).is_ok_and(|s| s.trim() == COMPLETE) {
        return refuse(format!(
            "{} is not a complete run (a cell failed, was invalid, or the run was cut short); nothing published",
            run.display()
        ));
    }
    let copy = |name: &str| {
        std::fs::copy(run.join(name), to.join(name))
            .map(|_| ())
            .map_err(|e| BenchError::Publish(format!("{name}: {e}")))
    };
    copy(bench_report::REPORT_FILE)?;
    copy("results.svg")?;
    // A run without capacity searches has no capacity chart: the published one would not match.
    if run.join(CAPACITY_CHART).is_file() {
        copy(CAPACITY_CHART)?;
    } else if to.join(CAPACITY_CHART).exists() {
        std::fs::remove_file(to.join(CAPACITY_CHART))?;
    }
    println!("== published {} as {}/results.md (and its charts)", run.display(), to.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_run_is_published_and_a_stale_capacity_chart_goes() {
        let (run, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(run.path().join("results.md"), "# results\n").unwrap();
        std::fs::write(run.path().join("results.svg"), "<svg/>\n").unwrap();
        std::fs::write(to.path().join(CAPACITY_CHART), "stale\n").unwrap();
        let e = publish(run.path(), to.path()).unwrap_err();
        assert!(e.to_string().contains("is not a complete run"), "{e}");
        assert!(!to.path().join("results.md").exists(), "nothing copied");
        mark_complete(run.path()).unwrap();
        publish(run.path(), to.path()).unwrap();
        assert_eq!(std::fs::read_to_string(to.path().join("results.md")).unwrap(), "# results\n");
        assert_eq!(std::fs::read_to_string(to.path().join("results.svg")).unwrap(), "<svg/>\n");
        assert!(!to.path().join(CAPACITY_CHART).exists(), "the run has no capacity chart");
        let empty = tempfile::tempdir().unwrap();
        assert!(publish(empty.path(), to.path()).unwrap_err().to_string().contains("no results.md"));
    }
}
