//! A run's report (`bench report DIR`): renders the result files of a run (and its
//! `run.json`) into results.md: a summary generated from the run's figures, the four
//! tables of the fixed-load cells with an SVG bar chart of RPS, then the capacity tables,
//! the memory per in-flight request and a latency-vs-load chart from the capacity searches.
//!
//! The servers (columns) come from the run's own record, so a server added to
//! run_all.sh gets its column without a change here. The renderers are pure functions of
//! a loaded [`Run`] so that they can be tested without files; [`write_report`] is the thin
//! file layer around them. A cell that was not measured is shown as "—" with a footnote
//! giving the reason: the report never invents a number. Nor does it show an impossible
//! one as a result: [`validity`] is the one home for "is this cell a result", asked once
//! per cell as the run is loaded ([`Cell::Invalid`]); the renderers only render the answer.

mod baseline;
mod capacity;
mod chart;
pub mod field;
mod markdown;
mod run;
mod summary;
mod tables;
pub mod upstream;
pub mod validity;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use self::baseline::PythonRun;
pub use self::chart::{render_capacity_svg, render_svg, server_color};
pub use self::markdown::render_markdown;
use self::markdown::{DASH, Footnotes, chart_label, esc, grouped, measured_header, short_label, write_table};
use self::run::each_cell;
pub use self::run::*;
pub use self::tables::{ROWS, UPSTREAM_TLS_ROWS};
pub use self::validity::{invalid_cells, invalid_reason, littles_bound, littles_tolerance};

/// The report's file name, in the results directory unless `--output` names another
/// path: a default in the current directory let `loadgen report results/X` (as it then was) overwrite the
/// repository's results.md.
pub const REPORT_FILE: &str = "results.md";

/// Upstream connection modes: (file name part, table title part).
pub const MODES: [(&str, &str); 2] = [("no-reuse", "Not reuse connections"), ("reuse", "Reuse connections")];

/// Endpoints: (file name part, table title part).
pub const ENDPOINTS: [(&str, &str); 2] = [("single", "Single req"), ("multiple", "Multi req")];

/// Where [`write_report`] wrote, and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The Markdown file.
    pub markdown: PathBuf,
    /// The SVG chart of RPS next to it.
    pub chart: PathBuf,
    /// The latency-vs-load chart next to it, when the run made capacity searches.
    pub capacity_chart: Option<PathBuf>,
    /// The cells shown as invalid: "cell: reason", in table order.
    pub invalid: Vec<String>,
}

/// The latency-vs-load chart's path for a report written to `output`:
/// `results.md` -> `results-capacity.svg`.
pub fn capacity_chart_path(output: &Path) -> PathBuf {
    let stem = output.file_stem().map_or_else(|| "results".into(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}-capacity.svg"))
}

/// Reads DIR, renders, and writes `output` (Markdown) and its charts next to it (same
/// path with `.svg`, and with `-capacity.svg`), each atomically. The charts are written
/// first so that the Markdown never links to a chart that is not there.
pub fn write_report(dir: &Path, output: &Path) -> Result<Written, ReportError> {
    let run = load(dir)?;
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let chart = output.with_extension("svg");
    write_atomic(&chart, render_svg(&run.meta, &run.cells)?.as_bytes())?;
    let capacity_chart = match run.meta.capacity {
        Some(_) => {
            let path = capacity_chart_path(output);
            write_atomic(&path, render_capacity_svg(&run)?.as_bytes())?;
            Some(path)
        }
        None => None,
    };
    let capacity_link = capacity_chart.as_deref().map(file_name).unwrap_or_default();
    let markdown = render_markdown(&run, &file_name(&chart), &capacity_link);
    write_atomic(output, markdown.as_bytes())?;
    let invalid = invalid_cells(&run).into_iter().map(|(name, why)| format!("{name}: {why}")).collect();
    Ok(Written { markdown: output.to_path_buf(), chart, capacity_chart, invalid })
}

/// Writes a temp file in the target's directory, then renames it over the target: a rename
/// within one file system is atomic, so a reader (or an interrupted run) sees the old file
/// or the whole new one, never half of one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let err = |source| ReportError::Write { path: path.to_path_buf(), source };
    let name = path.file_name().ok_or_else(|| err(std::io::Error::other("not a file name")))?;
    let tmp = path.with_file_name(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
pub(crate) mod tests;
