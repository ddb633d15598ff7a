//! `loadgen report DIR`: renders the result files of a `run_all.sh` run (and its
//! `run.json`) into results.md: a summary generated from the run's figures, the four
//! tables of the fixed-load cells with an SVG bar chart of RPS, then the capacity tables,
//! the memory per in-flight request and a latency-vs-load chart from the capacity searches.
//!
//! The servers (columns) come from the run's own record, so a server added to
//! run_all.sh gets its column without a change here. The renderers are pure functions of
//! a loaded [`Run`] so that they can be tested without files; [`write_report`] is the thin
//! file layer around them. A cell that was not measured is shown as "—" with a footnote
//! giving the reason: the report never invents a number. Nor does it show an impossible
//! one as a result: [`validity`] is the one home for "is this cell a result".

mod baseline;
mod capacity;
mod chart;
mod summary;
mod tables;
pub mod validity;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use self::baseline::PythonRun;
pub use self::chart::{render_capacity_svg, render_svg, server_color};
pub use self::tables::ROWS;
pub use self::validity::{invalid_cells, invalid_reason, littles_bound, littles_tolerance};
use crate::capacity::Capacity;
use crate::result::RunResult;

/// The report's file name, in the results directory unless `--output` names another
/// path: a default in the current directory let `loadgen report results/X` overwrite the
/// repository's results.md.
pub const REPORT_FILE: &str = "results.md";

/// Upstream connection modes: (file name part, table title part).
pub const MODES: [(&str, &str); 2] = [("no-reuse", "Not reuse connections"), ("reuse", "Reuse connections")];

/// Endpoints: (file name part, table title part).
pub const ENDPOINTS: [(&str, &str); 2] = [("single", "Single req"), ("multiple", "Multi req")];

/// The run's own record, `DIR/run.json`, written by run_all.sh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The exact command that made the run.
    pub command: String,
    /// When it ran (free text, e.g. "2026-11-26 02:30 UTC").
    pub date: String,
    /// The machine it ran on.
    pub machine: Machine,
    /// `rustc --version`.
    pub rustc: String,
    /// The servers run, in column order. Required: the report has no list of its own.
    pub servers: Vec<String>,
    /// The servers whose fixed thread pool caps the requests in flight (blocking model):
    /// their Little's bound uses min(connections, threads) instead of the connections.
    /// Required (may be empty), so that a record that forgot it cannot loosen a bound.
    pub pooled: Vec<String>,
    /// gosleep's delay per upstream call, ms (the D of Little's law).
    pub delay_ms: u64,
    /// Upstream calls per `/multiple` request.
    pub fanout: u32,
    /// Connections asked of loadgen.
    pub connections: usize,
    /// Recorded duration of each cell, seconds.
    pub duration_s: f64,
    /// Unrecorded warm-up of each cell, seconds.
    pub warmup_s: f64,
    /// How processes were pinned to cores.
    #[serde(default)]
    pub pinning: String,
    /// `--threads` given to each server (a server absent here ran with its default).
    #[serde(default)]
    pub server_threads: BTreeMap<String, usize>,
    /// The capacity searches' settings, or `None` when the run made none.
    #[serde(default)]
    pub capacity: Option<CapacityRun>,
    /// The Python baselines among `servers`, or `None` for a Rust-only run (no key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonRun>,
    /// Cells not measured (cell name, e.g. `reuse-multiple-rouille` or
    /// `capacity-reuse-multiple-rouille`) and why.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
    /// Cells whose measurement failed (loadgen failed, or the server died during the
    /// cell) and why: their result file, if any, is not a result.
    #[serde(default)]
    pub failed: BTreeMap<String, String>,
    /// What the run noticed about a measured cell whose figures stand (e.g. a server still
    /// busy long after its load), shown as a footnote on its column.
    #[serde(default)]
    pub notes: BTreeMap<String, String>,
}

/// How run_all.sh ran the capacity searches (`run.json`'s `capacity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityRun {
    /// gosleep's delay per upstream call during the searches, ms.
    pub delay_ms: u64,
    /// The cgroup CPU quota each server ran under, cores; `None` when none could be set.
    pub server_cpu_quota: Option<f64>,
    /// The p99 SLO given to every search, ms; `None`: each search's default.
    pub slo_p99_ms: Option<f64>,
}

impl RunMeta {
    /// Whether `server`'s thread pool caps its requests in flight.
    pub fn is_pooled(&self, server: &str) -> bool {
        self.pooled.iter().any(|p| p == server)
    }

    /// Why the record is inconsistent, if it is: each name in `pooled` and
    /// `server_threads` must be one of `servers`, which must be a non-empty list of
    /// distinct names.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("\"servers\" is empty: no column to render".into());
        }
        for (i, s) in self.servers.iter().enumerate() {
            if self.servers[..i].contains(s) {
                return Err(format!("server {s:?} is listed twice in \"servers\""));
            }
        }
        let stray = |field: &str, name: &str| format!("\"{field}\" names {name:?}, which is not in \"servers\"");
        if let Some(p) = self.pooled.iter().find(|p| !self.servers.contains(p)) {
            return Err(stray("pooled", p));
        }
        if let Some(t) = self.server_threads.keys().find(|t| !self.servers.contains(t)) {
            return Err(stray("server_threads", t));
        }
        if let Some(p) = self.python.iter().flat_map(|p| &p.servers).find(|p| !self.servers.contains(p)) {
            return Err(stray("python.servers", p));
        }
        Ok(())
    }
}

/// The machine a run was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Cores available.
    pub cores: u32,
    /// Kernel name and version.
    pub kernel: String,
    /// Memory, GiB.
    pub memory_gib: f64,
}

/// One table cell: a measurement (a loadgen result, or a capacity search), or why there
/// is none.
#[derive(Debug, Clone)]
pub enum Cell<T = RunResult> {
    /// The record of the cell.
    Measured(Box<T>),
    /// Not measured (skipped, failed, missing or unreadable file): the reason.
    Missing(String),
}

/// The fixed-load cells, by cell name (`{mode}-{endpoint}-{server}`).
pub type Cells = BTreeMap<String, Cell>;

/// The capacity cells, by cell name (`capacity-{mode}-{endpoint}-{server}`).
pub type CapacityCells = BTreeMap<String, Cell<Capacity>>;

/// A loaded results directory: the record and every cell it names.
#[derive(Debug, Clone)]
pub struct Run {
    /// `run.json`.
    pub meta: RunMeta,
    /// The fixed-load cells.
    pub cells: Cells,
    /// The capacity cells (none when the run made no capacity search).
    pub capacity: CapacityCells,
}

/// Why a report could not be made.
#[derive(Debug, Error)]
pub enum ReportError {
    /// `DIR/run.json` could not be read.
    #[error("{path}: {source}")]
    ReadMeta {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `DIR/run.json` is not a run record (e.g. it lacks `servers`).
    #[error("{path}: not a run record: {source}")]
    ParseMeta {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// `DIR/run.json` contradicts itself.
    #[error("{path}: inconsistent run record: {why}")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// plotters failed to draw a chart.
    #[error("cannot draw the chart: {0}")]
    Chart(String),
}

/// The name of a cell and of its result file (without `.json`).
pub fn cell_name(mode: &str, endpoint: &str, server: &str) -> String {
    format!("{mode}-{endpoint}-{server}")
}

/// The name of a capacity cell and of its record file (without `.json`).
pub fn capacity_cell_name(mode: &str, endpoint: &str, server: &str) -> String {
    format!("capacity-{}", cell_name(mode, endpoint, server))
}

/// Every (mode, endpoint, server) of the run, in table order.
fn each_cell(meta: &RunMeta) -> impl Iterator<Item = (&'static str, &'static str, &str)> {
    MODES.iter().flat_map(move |(mode, _)| {
        ENDPOINTS.iter().flat_map(move |(endpoint, _)| meta.servers.iter().map(move |s| (*mode, *endpoint, s.as_str())))
    })
}

/// Reads `DIR/run.json` and every cell it names. Only an unreadable or inconsistent
/// run.json is an error: a missing or unreadable cell becomes [`Cell::Missing`] with the
/// reason, so that one failed cell does not hide the others.
pub fn load(dir: &Path) -> Result<Run, ReportError> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ReportError::ReadMeta { path: path.clone(), source })?;
    let meta: RunMeta =
        serde_json::from_str(&text).map_err(|source| ReportError::ParseMeta { path: path.clone(), source })?;
    meta.check().map_err(|why| ReportError::Inconsistent { path, why })?;
    let mut cells = Cells::new();
    let mut capacity = CapacityCells::new();
    for (mode, endpoint, server) in each_cell(&meta) {
        let name = cell_name(mode, endpoint, server);
        cells.insert(name.clone(), load_cell(dir, &name, &meta, "a loadgen result"));
        if meta.capacity.is_some() {
            let name = capacity_cell_name(mode, endpoint, server);
            capacity.insert(name.clone(), load_cell(dir, &name, &meta, "a capacity record"));
        }
    }
    Ok(Run { meta, cells, capacity })
}

fn load_cell<T: DeserializeOwned>(dir: &Path, name: &str, meta: &RunMeta, what: &str) -> Cell<T> {
    // run.json is the authority: a file left over from an earlier run must not be shown
    // as this run's measurement of a cell this run skipped.
    if let Some(reason) = meta.skipped.get(name) {
        return Cell::Missing(format!("skipped: {reason}"));
    }
    if let Some(reason) = meta.failed.get(name) {
        return Cell::Missing(format!("failed: {reason}"));
    }
    let file = format!("{name}.json");
    let text = match std::fs::read_to_string(dir.join(&file)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Cell::Missing(format!("failed: no result file {file}"));
        }
        Err(e) => return Cell::Missing(format!("failed: cannot read {file}: {e}")),
    };
    match serde_json::from_str::<T>(&text) {
        Ok(record) => Cell::Measured(Box::new(record)),
        Err(e) => Cell::Missing(format!("failed: {file} is not {what} ({e})")),
    }
}

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

/// Footnotes of one table: numbered reasons, each given once.
#[derive(Default)]
struct Footnotes(Vec<String>);

impl Footnotes {
    /// The marker for a reason, adding it if new.
    fn mark(&mut self, reason: String) -> String {
        let n = match self.0.iter().position(|r| *r == reason) {
            Some(i) => i + 1,
            None => {
                self.0.push(reason);
                self.0.len()
            }
        };
        format!("[{n}]")
    }

    /// The numbered notes under a table, then the blank line that ends it.
    fn render(&self, out: &mut String) {
        if !self.0.is_empty() {
            out.push('\n');
            for (i, reason) in self.0.iter().enumerate() {
                let _ = writeln!(out, "[{}] {}  ", i + 1, esc(reason));
            }
        }
        out.push('\n');
    }
}

const DASH: &str = "—";

/// A measured column's header: the server, marked with the run's note on cell `name` if
/// it has one.
fn measured_header(meta: &RunMeta, name: &str, server: &str, notes: &mut Footnotes) -> String {
    match meta.notes.get(name) {
        Some(note) => format!("{server} {}", notes.mark(format!("{name}: {note}"))),
        None => server.to_owned(),
    }
}

/// Writes one table of the report: its title, a column per server (`header`, marks
/// included), a row per name in `rows` holding that row of every column, then the notes.
fn write_table<const N: usize>(
    out: &mut String,
    title: &str,
    header: &[String],
    rows: &[&str; N],
    columns: &[[String; N]],
    notes: &Footnotes,
) {
    let _ = writeln!(out, "### {title}\n");
    let _ = writeln!(out, "| | {} |", header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(header.len()));
    for (i, row) in rows.iter().enumerate() {
        let values: Vec<String> = columns.iter().map(|c| esc(&c[i])).collect();
        let _ = writeln!(out, "| {row} | {} |", values.join(" | "));
    }
    notes.render(out);
}

/// A count with thousands separators: 16843.4 -> "16,843".
fn grouped(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Markdown table cells must not contain a bare `|`.
fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The whole results.md: header, the summary, the four tables, the chart link, how to read
/// them, then the capacity section (its charts link `capacity_chart_link`).
pub fn render_markdown(run: &Run, chart_link: &str, capacity_chart_link: &str) -> String {
    let meta = &run.meta;
    let mut out = String::new();
    let m = &meta.machine;
    let _ = writeln!(out, "# Slow-upstream benchmark: {}\n", meta.servers.join(", "));
    let _ = writeln!(
        out,
        "Every request a server handles waits on slow upstream HTTP calls (gosleep). Generated by \
         `loadgen report` from the result files of one run; no number here is typed by hand.\n"
    );
    summary::render(&mut out, run);
    let threads: Vec<String> = meta
        .servers
        .iter()
        .map(|s| match meta.server_threads.get(s) {
            Some(t) => format!("{s} {t}"),
            None => format!("{s} (default)"),
        })
        .collect();
    let mut rows = vec![
        ("Machine", format!("{}, {} cores, {}, {} GiB memory", m.cpu, m.cores, m.kernel, m.memory_gib)),
        ("Rust", meta.rustc.clone()),
        ("Date", meta.date.clone()),
        ("Command", format!("`{}`", meta.command)),
        ("Upstream delay", format!("{} ms per upstream call", meta.delay_ms)),
        ("Fan-out", format!("{} concurrent upstream calls per `/multiple` request", meta.fanout)),
        ("Connections", format!("{} (loadgen `-c`)", meta.connections)),
        ("Duration", format!("{} s recorded, after {} s of unrecorded warm-up", meta.duration_s, meta.warmup_s)),
        ("Pinning", if meta.pinning.is_empty() { "none".to_owned() } else { meta.pinning.clone() }),
        ("Server threads (`--threads`)", threads.join(", ")),
    ];
    if let Some(python) = &meta.python {
        rows.push(("Python baselines", python.header()));
    }
    let _ = writeln!(out, "| Run | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {} |", esc(&v));
    }
    out.push_str("\n## Results\n\n");
    for mode in MODES {
        for endpoint in ENDPOINTS {
            tables::render_table(&mut out, meta, &run.cells, mode, endpoint);
        }
    }
    let _ = writeln!(
        out,
        "![Requests per second per server with each cell's Little's bound, over CPU seconds per 1,000 \
         requests; one group per table]({chart_link})\n"
    );
    out.push_str(tables::HOW_TO_READ);
    capacity::render_section(&mut out, meta, &run.capacity, capacity_chart_link);
    out
}

/// "Not reuse — Single req": a cell's short label, for charts and the memory table.
fn short_label(mode: &str, endpoint: &str) -> String {
    let mode = if mode == "reuse" { "Reuse" } else { "Not reuse" };
    let endpoint = ENDPOINTS.iter().find(|e| e.0 == endpoint).map_or(endpoint, |e| e.1);
    format!("{mode} — {endpoint}")
}

#[cfg(test)]
pub(crate) mod tests;
