//! `loadgen report DIR`: renders the 20 result files of a `run_all.sh` run (and its
//! `run.json`) into the Markdown tables of results.md and an SVG bar chart of RPS.
//!
//! The renderers are pure functions of ([`RunMeta`], [`Cells`]) so that they can be tested
//! without files; [`write_report`] is the thin file layer around them. A cell that was not
//! measured is shown as "—" with a footnote giving the reason: the report never invents
//! a number. Nor does it show an impossible one as a result: a cell over its Little's
//! bound, or with a majority of failed requests, is shown as "invalid" with the reason
//! (see [`invalid_reason`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::result::{Errors, RunResult};

/// The servers, in column order.
pub const SERVERS: [&str; 5] = ["rouille", "axum", "actix", "warp", "hyper"];

/// Upstream connection modes: (file name part, table title part).
pub const MODES: [(&str, &str); 2] = [("no-reuse", "Not reuse connections"), ("reuse", "Reuse connections")];

/// Endpoints: (file name part, table title part).
pub const ENDPOINTS: [(&str, &str); 2] = [("single", "Single req"), ("multiple", "Multi req")];

/// The server whose thread pool caps its concurrency (blocking model), so its Little's
/// bound uses min(connections, threads) instead of the connections.
const POOLED_SERVER: &str = "rouille";

/// Bar colours per server (Okabe–Ito, readable by colour-blind readers), in [`SERVERS`] order.
const COLORS: [RGBColor; 5] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x00, 0x72, 0xB2),
];

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
    /// `--threads` given to each server.
    #[serde(default)]
    pub server_threads: BTreeMap<String, usize>,
    /// Cells not measured (cell name, e.g. `reuse-multiple-rouille`) and why.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
    /// Cells whose measurement failed (loadgen failed, or the server died during the
    /// cell) and why: their result file, if any, is not a result.
    #[serde(default)]
    pub failed: BTreeMap<String, String>,
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

/// One table cell: a measurement, or why there is none.
#[derive(Debug, Clone)]
pub enum Cell {
    /// The loadgen result of the cell.
    Measured(Box<RunResult>),
    /// Not measured (skipped, missing or unreadable file): the reason.
    Missing(String),
}

/// All cells, by cell name (`{mode}-{endpoint}-{server}`).
pub type Cells = BTreeMap<String, Cell>;

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
    /// `DIR/run.json` is not a run record.
    #[error("{path}: not a run record: {source}")]
    ParseMeta {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// plotters failed to draw the chart.
    #[error("cannot draw the chart: {0}")]
    Chart(String),
}

/// The name of a cell and of its result file (without `.json`).
pub fn cell_name(mode: &str, endpoint: &str, server: &str) -> String {
    format!("{mode}-{endpoint}-{server}")
}

/// Reads `DIR/run.json` and every cell's result. Only an unreadable run.json is an error:
/// a missing or unreadable cell becomes [`Cell::Missing`] with the reason, so that one
/// failed cell does not hide the other nineteen.
pub fn load(dir: &Path) -> Result<(RunMeta, Cells), ReportError> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ReportError::ReadMeta { path: path.clone(), source })?;
    let meta: RunMeta = serde_json::from_str(&text).map_err(|source| ReportError::ParseMeta { path, source })?;
    let mut cells = Cells::new();
    for (mode, _) in MODES {
        for (endpoint, _) in ENDPOINTS {
            for server in SERVERS {
                let name = cell_name(mode, endpoint, server);
                let cell = load_cell(dir, &name, &meta);
                cells.insert(name, cell);
            }
        }
    }
    Ok((meta, cells))
}

fn load_cell(dir: &Path, name: &str, meta: &RunMeta) -> Cell {
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
    match serde_json::from_str::<RunResult>(&text) {
        Ok(result) => Cell::Measured(Box::new(result)),
        Err(e) => Cell::Missing(format!("failed: {file} is not a loadgen result ({e})")),
    }
}

/// Where [`write_report`] wrote, and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The Markdown file.
    pub markdown: PathBuf,
    /// The SVG chart next to it.
    pub chart: PathBuf,
    /// The cells shown as invalid: "cell: reason", in table order.
    pub invalid: Vec<String>,
}

/// Reads DIR, renders, and writes `output` (Markdown) and the chart next to it (same path
/// with `.svg`), each atomically. The chart is written first so that the Markdown never
/// links to a chart that is not there.
pub fn write_report(dir: &Path, output: &Path) -> Result<Written, ReportError> {
    let (meta, cells) = load(dir)?;
    let chart = output.with_extension("svg");
    let chart_link =
        chart.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "results.svg".into());
    let svg = render_svg(&meta, &cells)?;
    write_atomic(&chart, svg.as_bytes())?;
    let markdown = render_markdown(&meta, &cells, &chart_link);
    write_atomic(output, markdown.as_bytes())?;
    let invalid = invalid_cells(&meta, &cells).into_iter().map(|(name, why)| format!("{name}: {why}")).collect();
    Ok(Written { markdown: output.to_path_buf(), chart, invalid })
}

/// The measured cells that are invalid, with the reason, in table order.
pub fn invalid_cells(meta: &RunMeta, cells: &Cells) -> Vec<(String, String)> {
    let mut invalid = Vec::new();
    for (mode, _) in MODES {
        for (endpoint, _) in ENDPOINTS {
            for server in SERVERS {
                let name = cell_name(mode, endpoint, server);
                if let Some(Cell::Measured(result)) = cells.get(&name)
                    && let Some(why) = invalid_reason(meta, server, result)
                {
                    invalid.push((name, why));
                }
            }
        }
    }
    invalid
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
}

const DASH: &str = "—";

/// Little's bound on RPS for a cell: concurrency / delay. `None` when it cannot be known
/// (zero delay, or rouille without its pool size in run.json).
pub fn littles_bound(meta: &RunMeta, server: &str, connections: usize) -> Option<f64> {
    if meta.delay_ms == 0 {
        return None;
    }
    let delay_s = meta.delay_ms as f64 / 1000.0;
    let concurrency =
        if server == POOLED_SERVER { connections.min(*meta.server_threads.get(server)?) } else { connections };
    Some(concurrency as f64 / delay_s)
}

/// The Little's bound a measured RPS may exceed, as a share of it, before the figure is
/// impossible rather than noise. The recorded window also counts the answers to the
/// requests already in flight when it opened (at most the concurrency, C): that is at
/// most C answers more than C / D x window, a share of D / window; plus
/// [`CLOCK_TOLERANCE`].
pub fn littles_tolerance(delay_s: f64, window_s: f64) -> f64 {
    if window_s > 0.0 { delay_s / window_s + CLOCK_TOLERANCE } else { f64::INFINITY }
}

/// Share of a Little's bound allowed for the clocks: the upstream's sleep and loadgen's
/// window are each timed to a millisecond or so, a fraction of a percent of any delay and
/// window run_all.sh uses; 2% leaves room for that several times over.
const CLOCK_TOLERANCE: f64 = 0.02;

/// Why a measured cell is no result, or `None` if it is one. Over its Little's bound beyond
/// [`littles_tolerance`], the requests did not wait for the upstream (a dead upstream
/// answered at once with errors, or not at all); with a majority of failed requests
/// (non-2xx answers and socket errors), the RPS counts failures, not service.
pub fn invalid_reason(meta: &RunMeta, server: &str, result: &RunResult) -> Option<String> {
    let mut why = Vec::new();
    let rps = result.rps();
    if let Some(bound) = littles_bound(meta, server, result.mode.connections) {
        let tolerance = littles_tolerance(meta.delay_ms as f64 / 1000.0, result.elapsed_s);
        if rps > bound * (1.0 + tolerance) {
            let formula = if server == POOLED_SERVER { "min(C, threads)/D" } else { "C/D" };
            why.push(format!(
                "over Little's bound: {} req/s > {} ({formula}) by more than the {:.0}% a measurement can exceed it",
                grouped(rps),
                grouped(bound),
                100.0 * tolerance
            ));
        }
    }
    let e = &result.errors;
    let failed = e.non_2xx().saturating_add(e.socket());
    let attempts = result.requests.saturating_add(e.socket());
    if failed > attempts / 2 {
        let share = 100.0 * failed as f64 / attempts as f64;
        why.push(format!(
            "majority non-2xx or socket errors: {share:.0}% of {} ({})",
            grouped(attempts as f64),
            error_kinds(e)
        ));
    }
    if why.is_empty() { None } else { Some(why.join("; ")) }
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

/// "connect 10, 502: 2": the errors by kind, the kinds that occurred.
fn error_kinds(e: &Errors) -> String {
    let mut kinds: Vec<String> = [("connect", e.connect), ("write", e.write), ("read", e.read), ("timeout", e.timeout)]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    kinds.extend(e.status.iter().filter(|(_, n)| **n > 0).map(|(c, n)| format!("{c}: {n}")));
    kinds.join(", ")
}

/// "12 (connect 10, 502: 2)", or "0".
fn errors_text(e: &Errors) -> String {
    match e.socket().saturating_add(e.non_2xx()) {
        0 => "0".into(),
        total => format!("{total} ({})", error_kinds(e)),
    }
}

/// Markdown table cells must not contain a bare `|`.
fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Row labels of each table, in order.
pub const ROWS: [&str; 11] = [
    "RPS",
    "Latency (avg)",
    "p99",
    "Connections",
    "Threads (loadgen)",
    "Server threads",
    "Server CPU %",
    "Server CPU per 1k requests",
    "Server peak RSS",
    "Errors",
    "Efficiency (RPS / Little's bound)",
];

/// The rows of one column (one cell), in [`ROWS`] order.
fn column(meta: &RunMeta, server: &str, result: &RunResult, notes: &mut Footnotes) -> [String; ROWS.len()] {
    let l = &result.latency_summary;
    let rps = result.rps();
    let no_sample = "no server sample (loadgen ran without --server-pid)";
    let sampled = |f: &dyn Fn(&crate::result::ServerSample) -> String, notes: &mut Footnotes| match &result.server {
        Some(s) => f(s),
        None => format!("{DASH} {}", notes.mark(no_sample.into())),
    };
    let threads = sampled(&|s| s.max_threads.to_string(), notes);
    let cpu = sampled(&|s| format!("{:.0}%", s.cpu_percent), notes);
    // CPU % alone ranks servers by their load, not their cost: a thread pool capped below
    // the async servers' rate shows a smaller % while each of its answers costs more.
    let cpu_per_1k = match result.requests {
        0 => format!("{DASH} {}", notes.mark("no answers in the window: no CPU per request".into())),
        n => sampled(&|s| format!("{:.3} s", 1000.0 * s.cpu_seconds / n as f64), notes),
    };
    let rss = sampled(&|s| format!("{:.1} MiB", s.peak_rss_kib as f64 / 1024.0), notes);
    let efficiency = match littles_bound(meta, server, result.mode.connections) {
        Some(bound) if bound > 0.0 => format!("{:.1}% of {bound:.0}", 100.0 * rps / bound),
        _ => {
            let why = if meta.delay_ms == 0 {
                "no Little's bound: run.json gives a zero delay".to_owned()
            } else {
                format!("no Little's bound: run.json has no server_threads.{server}")
            };
            format!("{DASH} {}", notes.mark(why))
        }
    };
    [
        format!("{rps:.1}"),
        format!("{:.1} ms", l.mean_us / 1000.0),
        format!("{:.1} ms", l.p99_us as f64 / 1000.0),
        result.mode.connections.to_string(),
        result.mode.threads.to_string(),
        threads,
        cpu,
        cpu_per_1k,
        rss,
        errors_text(&result.errors),
        efficiency,
    ]
}

/// The rows of an invalid cell that are no result: what was measured of its answers.
/// The rest (load, server sample, errors) still says what happened.
const INVALID_ROWS: [&str; 5] =
    ["RPS", "Latency (avg)", "p99", "Server CPU per 1k requests", "Efficiency (RPS / Little's bound)"];

/// One of the four tables: title, then the Markdown table, then its footnotes.
fn render_table(out: &mut String, meta: &RunMeta, cells: &Cells, mode: (&str, &str), endpoint: (&str, &str)) {
    let mut notes = Footnotes::default();
    let mut header = Vec::new();
    let mut columns = Vec::new();
    for server in SERVERS {
        let name = cell_name(mode.0, endpoint.0, server);
        match cells.get(&name) {
            Some(Cell::Measured(result)) => match invalid_reason(meta, server, result) {
                None => {
                    header.push(server.to_owned());
                    columns.push(column(meta, server, result, &mut notes));
                }
                Some(why) => {
                    let mark = notes.mark(format!("{name}: invalid, {why}"));
                    let mut col = column(meta, server, result, &mut notes);
                    for (row, value) in ROWS.iter().zip(col.iter_mut()) {
                        if INVALID_ROWS.contains(row) {
                            *value = format!("invalid {mark}");
                        }
                    }
                    header.push(format!("{server} {mark}"));
                    columns.push(col);
                }
            },
            other => {
                let reason = match other {
                    Some(Cell::Missing(reason)) => reason.clone(),
                    _ => "failed: not loaded".to_owned(),
                };
                header.push(format!("{server} {}", notes.mark(format!("{name}: {reason}"))));
                columns.push(std::array::from_fn(|_| DASH.to_owned()));
            }
        }
    }
    let _ = writeln!(out, "### {} — {}\n", mode.1, endpoint.1);
    let _ = writeln!(out, "| | {} |", header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(SERVERS.len()));
    for (i, row) in ROWS.iter().enumerate() {
        let values: Vec<String> = columns.iter().map(|c| esc(&c[i])).collect();
        let _ = writeln!(out, "| {row} | {} |", values.join(" | "));
    }
    if !notes.0.is_empty() {
        out.push('\n');
        for (i, reason) in notes.0.iter().enumerate() {
            let _ = writeln!(out, "[{}] {}  ", i + 1, esc(reason));
        }
    }
    out.push('\n');
}

/// The whole results.md: header, the four tables, the chart link, how to read them.
pub fn render_markdown(meta: &RunMeta, cells: &Cells, chart_link: &str) -> String {
    let mut out = String::new();
    let m = &meta.machine;
    let _ = writeln!(out, "# Slow-upstream benchmark: {}\n", SERVERS.join(", "));
    let _ = writeln!(
        out,
        "Every request a server handles waits on slow upstream HTTP calls (gosleep). Generated by \
         `loadgen report` from the result files of one run; no number here is typed by hand.\n"
    );
    let threads: Vec<String> = SERVERS
        .iter()
        .map(|s| match meta.server_threads.get(*s) {
            Some(t) => format!("{s} {t}"),
            None => format!("{s} (default)"),
        })
        .collect();
    let rows = [
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
    let _ = writeln!(out, "| Run | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {} |", esc(&v));
    }
    out.push_str("\n## Results\n\n");
    for mode in MODES {
        for endpoint in ENDPOINTS {
            render_table(&mut out, meta, cells, mode, endpoint);
        }
    }
    let _ = writeln!(out, "![Requests per second per server, one group per table]({chart_link})\n");
    out.push_str(HOW_TO_READ);
    out
}

const HOW_TO_READ: &str = "## How to read this

- **RPS**: answered requests per second over the recorded window (any status; see Errors).
- **Latency (avg)** and **p99**: time from sending a request to reading its whole answer,
  mean and 99th percentile. loadgen runs a closed loop (each connection sends its next
  request when the previous answer arrives), so these include time spent queued in the
  server waiting for a worker, not just the upstream delay.
- **Connections** and **Threads (loadgen)**: loadgen's `-c` and `-t` for the cell.
- **Server threads**: the most OS threads the server process had during the window
  (sampled from /proc); **Server CPU %**: its user + system CPU time in % of one core;
  **Server CPU per 1k requests**: those CPU seconds per 1,000 answers in the window, the
  cost of a request where CPU % is the cost of a load (a server held to a lower RPS, like
  rouille's pool, shows a lower % for a higher cost); each server is at its own RPS here,
  and the cost per request moves with the load, so the fair comparison at one equal load
  is `servers/cpu.sh` (docs/benchmarks/servers-cpu.md); **Server peak RSS**: its largest
  resident memory.
- **Errors**: socket errors (connect, write, read, timeout) plus non-2xx answers, by kind.
- **Efficiency**: RPS divided by Little's bound. By Little's law, with C requests in
  flight each waiting D seconds upstream, no server can answer more than C / D requests
  per second (D is the upstream delay; `/multiple` issues its calls concurrently, so it
  waits about D too). 100% means the server adds no waiting of its own.
- **Why rouille's bound differs**: rouille handles each request on a thread of a fixed
  pool, so at most `server_threads.rouille` requests are in flight however many
  connections loadgen opens: its bound is min(C, threads) / D. The async servers hold
  every connection's request at once, so theirs is C / D.
- **—**: not measured; the numbered note under the table gives the reason (skipped by
  run_all.sh, a cell that failed, or a result file that is missing or unreadable).
- **invalid**: measured, but not a result: its RPS is over its Little's bound by more
  than the window's edge can explain (about D / window, plus a little for the clocks), which
  no server waiting on the upstream can do, or most of its requests failed (non-2xx or
  socket errors). Its RPS, latency and efficiency are not shown; the note says why.
";

/// The chart: RPS per server, one group of five bars per table; an absent bar is a cell
/// that was not measured (marked "n/a") or is invalid (marked "invalid": its RPS is no
/// result, and would set the scale). Text is SVG `<text>`, so no font is needed.
pub fn render_svg(meta: &RunMeta, cells: &Cells) -> Result<String, ReportError> {
    const WIDTH: u32 = 1000;
    const HEIGHT: u32 = 560;
    const LEGEND_WIDTH: u32 = 190;
    let chart_err = |e: &dyn std::fmt::Display| ReportError::Chart(e.to_string());
    let groups: Vec<(String, String)> = MODES
        .iter()
        .flat_map(|m| ENDPOINTS.iter().map(move |e| (m.0, e.0, format!("{} — {}", short_mode(m.0), e.1))))
        .map(|(m, e, label)| (format!("{m}-{e}"), label))
        .collect();
    let invalid = invalid_cells(meta, cells);
    let is_invalid = |group: &str, server: &str| invalid.iter().any(|(n, _)| *n == format!("{group}-{server}"));
    let rps = |group: &str, server: &str| match cells.get(&format!("{group}-{server}")) {
        Some(Cell::Measured(r)) if !is_invalid(group, server) => Some(r.rps()),
        _ => None,
    };
    let max = groups.iter().flat_map(|(g, _)| SERVERS.iter().filter_map(|s| rps(g, s))).fold(0.0, f64::max);
    let y_max = if max > 0.0 { max * 1.15 } else { 1.0 };
    let missing: Vec<String> = groups
        .iter()
        .flat_map(|(g, _)| SERVERS.iter().map(move |s| (g, s)))
        .filter(|(g, s)| rps(g, s).is_none() && !is_invalid(g, s))
        .map(|(g, s)| format!("{g}-{s}"))
        .collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_err(&e))?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let title =
            format!("Requests per second by server ({} ms upstream delay, fan-out {})", meta.delay_ms, meta.fanout);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, ("sans-serif", 20))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..4f64, 0f64..y_max)
            .map_err(|e| chart_err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("Upstream connections — endpoint")
            .y_desc("Requests per second")
            // Group names are drawn below by hand: plotters picks its own tick positions.
            .x_labels(0)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(|e| chart_err(&e))?;
        let group_style = TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (g, (_, label)) in groups.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(g as f64 + 0.5, 0.0));
            plot.draw(&Text::new(label.clone(), (x, y + 8), group_style.clone())).map_err(|e| chart_err(&e))?;
        }
        // Each group spans [g + 0.1, g + 0.9]: five bars of 0.16 each.
        let bar_x = |g: usize, s: usize| g as f64 + 0.1 + 0.16 * s as f64;
        let value_style = TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        let na_style = value_style.color(&RGBColor(0x80, 0x80, 0x80));
        for (s, server) in SERVERS.iter().enumerate() {
            let bars = groups.iter().enumerate().filter_map(|(g, (group, _))| {
                let v = rps(group, server)?;
                Some(Rectangle::new([(bar_x(g, s) + 0.01, 0.0), (bar_x(g, s) + 0.15, v)], COLORS[s].filled()))
            });
            chart.draw_series(bars).map_err(|e| chart_err(&e))?;
            let labels = groups.iter().enumerate().map(|(g, (group, _))| {
                let x = bar_x(g, s) + 0.08;
                match rps(group, server) {
                    Some(v) => Text::new(format!("{v:.0}"), (x, v), value_style.clone()),
                    None if is_invalid(group, server) => Text::new("invalid".to_owned(), (x, 0.0), na_style.clone()),
                    None => Text::new("n/a".to_owned(), (x, 0.0), na_style.clone()),
                }
            });
            chart.draw_series(labels).map_err(|e| chart_err(&e))?;
        }

        // The legend is drawn by hand in its own column so it never covers a bar.
        let text = TextStyle::from(("sans-serif", 14).into_font());
        let small = TextStyle::from(("sans-serif", 12).into_font());
        let top = 70;
        legend.draw(&Text::new("Server", (10, top - 26), text.clone())).map_err(|e| chart_err(&e))?;
        for (s, server) in SERVERS.iter().enumerate() {
            let y = top + 24 * s as i32;
            legend.draw(&Rectangle::new([(10, y - 2), (26, y + 12)], COLORS[s].filled())).map_err(|e| chart_err(&e))?;
            legend.draw(&Text::new(server.to_string(), (34, y), text.clone())).map_err(|e| chart_err(&e))?;
        }
        let mut y = top + 24 * SERVERS.len() as i32 + 16;
        let mut note = Vec::new();
        if !missing.is_empty() {
            note.extend(["n/a: not measured".to_owned(), "(see results.md):".to_owned()]);
            note.extend(missing.iter().cloned());
        }
        if !invalid.is_empty() {
            note.extend(["invalid: no result".to_owned(), "(see results.md):".to_owned()]);
            note.extend(invalid.iter().map(|(name, _)| name.clone()));
        }
        if note.is_empty() {
            note.push("All 20 cells measured.".to_owned());
        }
        for line in note {
            legend.draw(&Text::new(line, (10, y), small.clone())).map_err(|e| chart_err(&e))?;
            y += 16;
        }
        root.present().map_err(|e| chart_err(&e))?;
    }
    Ok(svg)
}

fn short_mode(mode: &str) -> &'static str {
    if mode == "reuse" { "Reuse" } else { "Not reuse" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{LatencySummary, Mode, ServerSample, new_histogram};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("loadgen-report-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A run whose every fake cell is within its Little's bound: 100 ms, so 10 x C.
    fn meta() -> RunMeta {
        serde_json::from_str(
            r#"{"command": "./run_all.sh --quick", "date": "2026-11-26 02:30 UTC",
             "machine": {"cpu": "AMD EPYC", "cores": 2, "kernel": "Linux 6.18.44", "memory_gib": 23},
             "rustc": "rustc 1.95.0 (test)", "delay_ms": 100, "fanout": 5, "connections": 1000,
             "duration_s": 10, "warmup_s": 2, "pinning": "server on core 0; loadgen and gosleep on core 1",
             "server_threads": {"rouille": 256, "axum": 1, "actix": 1, "warp": 1, "hyper": 1},
             "skipped": {}}"#,
        )
        .unwrap()
    }

    /// Cell number k (0..20) has its own, recognisable numbers.
    fn fake(k: usize) -> RunResult {
        let mut latency = new_histogram();
        latency.record(1_000_000 + k as u64).unwrap();
        let summary = LatencySummary {
            count: 1,
            mean_us: 1_000_000.0 + 1000.0 * k as f64 + 250.0,
            p99_us: 1_500_000 + 1000 * k as u64,
            ..LatencySummary::default()
        };
        let mut errors = Errors::default();
        if k == 3 {
            errors.connect = 10;
            errors.status.insert(502, 2);
        }
        RunResult {
            mode: Mode {
                loadgen_version: "test".into(),
                url: "http://127.0.0.1:8080/single".into(),
                connections: 1000 + k,
                threads: 2,
                duration_s: 10.0,
                warmup_s: 2.0,
                timeout_s: 30.0,
                keepalive: true,
                rate: None,
                headers: vec![],
            },
            elapsed_s: 10.0,
            requests: 1000 * (k as u64 + 1) + 5,
            bytes: 0,
            errors,
            thread_rps: vec![],
            latency,
            latency_summary: summary,
            server: Some(ServerSample {
                pid: 1,
                cpu_percent: 10.0 + k as f64,
                // The same CPU over the 10 s window.
                cpu_seconds: (10.0 + k as f64) / 10.0,
                peak_rss_kib: 1024 * (k as u64 + 1),
                max_threads: 5 + k as u64,
            }),
        }
    }

    /// All 20 cell names with their index k, in table order.
    fn all_cells() -> Vec<(String, &'static str, usize)> {
        let mut v = Vec::new();
        for (mode, _) in MODES {
            for (endpoint, _) in ENDPOINTS {
                for server in SERVERS {
                    let k = v.len();
                    v.push((cell_name(mode, endpoint, server), server, k));
                }
            }
        }
        v
    }

    fn write_dir(dir: &Path, meta: &RunMeta) {
        std::fs::write(dir.join("run.json"), serde_json::to_string(meta).unwrap()).unwrap();
        for (name, _, k) in all_cells() {
            std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string(&fake(k)).unwrap()).unwrap();
        }
    }

    /// The table under "### {title}" as rows of trimmed cells (header row first).
    fn table(md: &str, title: &str) -> Vec<Vec<String>> {
        let start = md.find(&format!("### {title}\n")).unwrap_or_else(|| panic!("no table {title:?} in\n{md}"));
        md[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter(|l| !l.starts_with("|---"))
            .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().to_owned()).collect())
            .collect()
    }

    fn value<'a>(t: &'a [Vec<String>], row: &str, server: &str) -> &'a str {
        let col = SERVERS.iter().position(|s| *s == server).unwrap() + 1;
        let r = t.iter().find(|r| r[0] == row).unwrap_or_else(|| panic!("no row {row}"));
        &r[col]
    }

    fn title(k: usize) -> String {
        let (m, e) = (MODES[k / 10].1, ENDPOINTS[(k / 5) % 2].1);
        format!("{m} — {e}")
    }

    fn report(dir: &Path) -> String {
        let (meta, cells) = load(dir).unwrap();
        render_markdown(&meta, &cells, "results.svg")
    }

    #[test]
    fn all_twenty_cells_fill_the_four_tables_with_their_numbers() {
        let dir = TempDir::new("full");
        write_dir(&dir.0, &meta());
        let md = report(&dir.0);
        let titles: Vec<usize> = (0..4).map(|t| md.find(&format!("### {}\n", title(t * 5))).unwrap()).collect();
        assert!(titles.windows(2).all(|w| w[0] < w[1]), "tables out of order");
        for (_, server, k) in all_cells() {
            let t = table(&md, &title(k));
            assert_eq!(t[0][1..], SERVERS.map(String::from), "columns");
            assert_eq!(t.iter().skip(1).map(|r| r[0].as_str()).collect::<Vec<_>>(), ROWS);
            let rps = (1000.0 * (k as f64 + 1.0) + 5.0) / 10.0;
            assert_eq!(value(&t, "RPS", server), format!("{rps:.1}"));
            assert_eq!(value(&t, "Latency (avg)", server), format!("{:.1} ms", 1000.0 + k as f64 + 0.25));
            assert_eq!(value(&t, "p99", server), format!("{:.1} ms", 1500.0 + k as f64));
            assert_eq!(value(&t, "Connections", server), (1000 + k).to_string());
            assert_eq!(value(&t, "Threads (loadgen)", server), "2");
            assert_eq!(value(&t, "Server threads", server), (5 + k).to_string());
            assert_eq!(value(&t, "Server CPU %", server), format!("{}%", 10 + k));
            let per_1k = 1000.0 * (10.0 + k as f64) / 10.0 / (1000.0 * (k as f64 + 1.0) + 5.0);
            assert_eq!(value(&t, "Server CPU per 1k requests", server), format!("{per_1k:.3} s"));
            assert_eq!(value(&t, "Server peak RSS", server), format!("{:.1} MiB", k as f64 + 1.0));
            let errors = if k == 3 { "12 (connect 10, 502: 2)" } else { "0" };
            assert_eq!(value(&t, "Errors", server), errors);
            for row in t.iter().skip(1) {
                assert!(!row.iter().any(|c| c.contains(DASH)), "unexpected dash in {row:?}");
            }
        }
        for header in ["AMD EPYC, 2 cores, Linux 6.18.44, 23 GiB", "rustc 1.95.0 (test)", "`./run_all.sh --quick`"] {
            assert!(md.contains(header), "missing {header:?}");
        }
        assert!(md.contains("](results.svg)") && md.contains("## How to read this"));
    }

    #[test]
    fn efficiency_divides_rps_by_connections_over_delay() {
        let dir = TempDir::new("eff");
        write_dir(&dir.0, &meta());
        let md = report(&dir.0);
        for (_, server, k) in all_cells().into_iter().filter(|c| c.1 != "rouille") {
            let rps = (1000.0 * (k as f64 + 1.0) + 5.0) / 10.0;
            let bound = (1000 + k) as f64 / 0.1;
            let t = table(&md, &title(k));
            let want = format!("{:.1}% of {bound:.0}", 100.0 * rps / bound);
            assert_eq!(value(&t, "Efficiency (RPS / Little's bound)", server), want);
        }
    }

    #[test]
    fn rouille_bound_is_capped_by_its_thread_pool() {
        let dir = TempDir::new("rouille");
        let mut m = meta();
        m.delay_ms = 80;
        write_dir(&dir.0, &m);
        let md = report(&dir.0);
        for (_, _, k) in all_cells().into_iter().filter(|c| c.1 == "rouille") {
            let rps = (1000.0 * (k as f64 + 1.0) + 5.0) / 10.0;
            let bound = 256.0 / 0.08; // min(1000 + k, 256) threads over 0.08 s
            let t = table(&md, &title(k));
            let want = format!("{:.1}% of 3200", 100.0 * rps / bound);
            assert_eq!(value(&t, "Efficiency (RPS / Little's bound)", "rouille"), want);
        }
        assert_eq!(littles_bound(&m, "rouille", 100), Some(1250.0), "fewer connections than threads");
        assert_eq!(littles_bound(&m, "axum", 1000), Some(12500.0));
    }

    #[test]
    fn cpu_per_request_ranks_by_cost_where_cpu_percent_ranks_by_load() {
        let dir = TempDir::new("cost");
        write_dir(&dir.0, &meta());
        // rouille's pool held to 256 requests/s at 30% of a core; hyper 1,000/s at 40%.
        let cell = |name: &str, requests: u64, cpu_seconds: f64| {
            let mut r = fake(0);
            r.requests = requests;
            r.server = Some(ServerSample { cpu_percent: 10.0 * cpu_seconds, cpu_seconds, ..r.server.unwrap() });
            std::fs::write(dir.0.join(format!("{name}.json")), serde_json::to_string(&r).unwrap()).unwrap();
        };
        cell("reuse-multiple-rouille", 2_560, 3.0);
        cell("reuse-multiple-hyper", 10_000, 4.0);
        let t = table(&report(&dir.0), "Reuse connections — Multi req");
        assert_eq!(value(&t, "Server CPU %", "rouille"), "30%");
        assert_eq!(value(&t, "Server CPU %", "hyper"), "40%");
        assert_eq!(value(&t, "Server CPU per 1k requests", "rouille"), "1.172 s");
        assert_eq!(value(&t, "Server CPU per 1k requests", "hyper"), "0.400 s");
    }

    #[test]
    fn cpu_per_request_is_a_dash_without_answers_or_without_a_server_sample() {
        let dir = TempDir::new("no-cost");
        write_dir(&dir.0, &meta());
        let mut none_answered = fake(0);
        none_answered.requests = 0;
        let mut unsampled = fake(1);
        unsampled.server = None;
        for (name, r) in [("reuse-single-rouille", &none_answered), ("reuse-single-axum", &unsampled)] {
            std::fs::write(dir.0.join(format!("{name}.json")), serde_json::to_string(r).unwrap()).unwrap();
        }
        let md = report(&dir.0);
        let t = table(&md, "Reuse connections — Single req");
        assert_eq!(value(&t, "Server CPU per 1k requests", "rouille"), format!("{DASH} [1]"));
        assert_eq!(value(&t, "Server CPU per 1k requests", "axum"), format!("{DASH} [2]"));
        assert_eq!(value(&t, "Server CPU %", "axum"), format!("{DASH} [2]"), "one footnote for one reason");
        assert!(md.contains("[1] no answers in the window") && md.contains("[2] no server sample"));
    }

    #[test]
    fn skipped_missing_and_unreadable_cells_show_a_dash_and_a_footnote() {
        let dir = TempDir::new("missing");
        let mut m = meta();
        m.skipped.insert("reuse-multiple-rouille".into(), "needs 12000 fds, limit 20000".into());
        write_dir(&dir.0, &m);
        std::fs::remove_file(dir.0.join("no-reuse-single-warp.json")).unwrap();
        std::fs::write(dir.0.join("reuse-single-hyper.json"), "{\"truncated").unwrap();
        let md = report(&dir.0);
        let cases = [
            ("Reuse connections — Multi req", "rouille", "needs 12000 fds, limit 20000"),
            ("Not reuse connections — Single req", "warp", "no result file no-reuse-single-warp.json"),
            ("Reuse connections — Single req", "hyper", "reuse-single-hyper.json is not a loadgen result"),
        ];
        for (title, server, reason) in cases {
            let t = table(&md, title);
            let col = SERVERS.iter().position(|s| *s == server).unwrap() + 1;
            assert_eq!(t[0][col], format!("{server} [1]"), "header marks the footnote");
            for row in &t[1..] {
                assert_eq!(row[col], DASH, "{title}/{server} row {}: a number for an unmeasured cell", row[0]);
            }
            let section = &md[md.find(&format!("### {title}\n")).unwrap()..];
            let section = &section[..section[4..].find("###").map_or(section.len(), |i| i + 4)];
            let note = section.lines().find(|l| l.starts_with("[1] ")).expect("footnote");
            assert!(note.contains(reason), "{note:?} lacks {reason:?}");
            // The other columns of the same table are still filled.
            let other = SERVERS.iter().find(|s| **s != server).unwrap();
            assert!(!value(&t, "RPS", other).contains(DASH));
        }
    }

    #[test]
    fn skipped_wins_over_a_stale_result_file() {
        let dir = TempDir::new("stale");
        let mut m = meta();
        m.skipped.insert("no-reuse-single-axum".into(), "rerun later".into());
        write_dir(&dir.0, &m);
        let t = table(&report(&dir.0), "Not reuse connections — Single req");
        assert_eq!(value(&t, "RPS", "axum"), DASH);
    }

    #[test]
    fn report_is_written_atomically_without_temp_files() {
        let dir = TempDir::new("atomic");
        write_dir(&dir.0, &meta());
        let out_dir = TempDir::new("atomic-out");
        let output = out_dir.0.join("results.md");
        std::fs::write(&output, "old, half a report").unwrap();
        let written = write_report(&dir.0, &output).unwrap();
        assert_eq!(written.chart, out_dir.0.join("results.svg"));
        let names: Vec<String> =
            std::fs::read_dir(&out_dir.0).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, ["results.md", "results.svg"], "temp file left behind: {names:?}");
        let md = std::fs::read_to_string(&output).unwrap();
        assert_eq!(md, report(&dir.0), "the file is the whole report");
        assert!(md.starts_with("# ") && md.ends_with(HOW_TO_READ), "complete: header to last section");
    }

    #[test]
    fn svg_chart_is_written_and_names_every_server() {
        let dir = TempDir::new("svg");
        let mut m = meta();
        m.skipped.insert("reuse-multiple-rouille".into(), "fds".into());
        write_dir(&dir.0, &m);
        let output = dir.0.join("out.md");
        write_report(&dir.0, &output).unwrap();
        let svg = std::fs::read_to_string(dir.0.join("out.svg")).unwrap();
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for name in SERVERS.iter().chain(&["Requests per second", "n/a", "reuse-multiple-rouille"]) {
            assert!(svg.contains(name), "SVG lacks {name:?}");
        }
        assert!(std::fs::read_to_string(&output).unwrap().contains("](out.svg)"));
    }

    fn put(dir: &Path, name: &str, r: &RunResult) {
        std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string(r).unwrap()).unwrap();
    }

    /// The quick run's figures: C = 100, D = 200 ms, a 2 s window; Little's bound 500/s.
    fn quick_meta() -> RunMeta {
        let mut m = meta();
        m.delay_ms = 200;
        m.connections = 100;
        m.duration_s = 2.0;
        m.server_threads.insert("rouille".into(), 64);
        m
    }

    /// A quick-run cell of `rps` answers per second, `share_502` of them 502s.
    fn quick_cell(rps: f64, share_502: f64) -> RunResult {
        let mut r = fake(0);
        r.mode.connections = 100;
        r.elapsed_s = 2.0;
        r.requests = (rps * 2.0).round() as u64;
        r.errors = Errors::default();
        let n_502 = (r.requests as f64 * share_502).round() as u64;
        if n_502 > 0 {
            r.errors.status.insert(502, n_502);
        }
        r
    }

    /// The section of `md` under "### {title}", up to the next table.
    fn section<'a>(md: &'a str, title: &str) -> &'a str {
        let s = &md[md.find(&format!("### {title}\n")).unwrap()..];
        &s[..s[4..].find("###").map_or(s.len(), |i| i + 4)]
    }

    #[test]
    fn littles_tolerance_is_the_windows_edge_plus_the_clocks() {
        // C answers in flight when the window opens: C / (C / D x window) = D / window.
        assert!((littles_tolerance(0.2, 2.0) - (0.1 + CLOCK_TOLERANCE)).abs() < 1e-12);
        assert!((littles_tolerance(1.0, 10.0) - (0.1 + CLOCK_TOLERANCE)).abs() < 1e-12);
        assert!(littles_tolerance(1.0, 0.0).is_infinite(), "no window: nothing can be judged");
    }

    /// The issue's run: the upstream killed mid-run, hyper answered 502 at once, 16,843/s.
    #[test]
    fn a_cell_over_littles_bound_is_invalid_with_the_reason_not_a_result() {
        let dir = TempDir::new("over-bound");
        write_dir(&dir.0, &quick_meta());
        for (name, ..) in all_cells() {
            put(&dir.0, &name, &quick_cell(300.0, 0.0));
        }
        put(&dir.0, "reuse-single-hyper", &quick_cell(16_843.0, 0.0));
        let md = report(&dir.0);
        let t = table(&md, "Reuse connections — Single req");
        assert_eq!(t[0][5], "hyper [1]", "the header marks the cell");
        for row in INVALID_ROWS {
            assert_eq!(value(&t, row, "hyper"), "invalid [1]", "{row}");
        }
        assert_eq!(value(&t, "Errors", "hyper"), "0", "what happened is still shown");
        let note = section(&md, "Reuse connections — Single req").lines().find(|l| l.starts_with("[1] ")).unwrap();
        assert!(note.contains("reuse-single-hyper: invalid, over Little's bound: 16,843 req/s > 500 (C/D)"), "{note}");
        assert!(note.contains("12%"), "the tolerance is stated: {note}");
        assert!(!md.contains("16843") && !md.contains("3368"), "the impossible figure is not rendered");
        // Its neighbours are results: 300/s is 60% of 500.
        assert_eq!(value(&t, "RPS", "axum"), "300.0");
        assert_eq!(value(&t, "Efficiency (RPS / Little's bound)", "axum"), "60.0% of 500");
    }

    #[test]
    fn a_cell_within_the_measurement_tolerance_of_littles_bound_is_a_result() {
        let m = quick_meta();
        let tolerance = littles_tolerance(0.2, 2.0);
        let just_under = quick_cell(500.0 * (1.0 + tolerance) - 5.0, 0.0);
        let just_over = quick_cell(500.0 * (1.0 + tolerance) + 5.0, 0.0);
        assert_eq!(invalid_reason(&m, "hyper", &just_under), None);
        assert!(invalid_reason(&m, "hyper", &just_over).unwrap().starts_with("over Little's bound"));
    }

    #[test]
    fn the_pooled_servers_bound_is_its_pool_over_the_delay() {
        let m = quick_meta();
        // 64 threads / 0.2 s = 320/s: 450/s is impossible for rouille, not for axum.
        let why = invalid_reason(&m, "rouille", &quick_cell(450.0, 0.0)).expect("invalid");
        assert!(why.contains("450 req/s > 320 (min(C, threads)/D)"), "{why}");
        assert_eq!(invalid_reason(&m, "axum", &quick_cell(450.0, 0.0)), None);
    }

    #[test]
    fn a_majority_of_non_2xx_answers_makes_a_cell_invalid() {
        let dir = TempDir::new("majority");
        write_dir(&dir.0, &quick_meta());
        for (name, ..) in all_cells() {
            put(&dir.0, &name, &quick_cell(300.0, 0.0));
        }
        put(&dir.0, "no-reuse-multiple-axum", &quick_cell(400.0, 0.97));
        put(&dir.0, "no-reuse-multiple-warp", &quick_cell(300.0, 0.4));
        let md = report(&dir.0);
        let t = table(&md, "Not reuse connections — Multi req");
        assert_eq!(value(&t, "RPS", "axum"), "invalid [1]");
        assert_eq!(value(&t, "Errors", "axum"), "776 (502: 776)");
        let note = section(&md, "Not reuse connections — Multi req").lines().find(|l| l.starts_with("[1] ")).unwrap();
        assert!(
            note.contains("no-reuse-multiple-axum: invalid, majority non-2xx or socket errors: 97% of 800 (502: 776)"),
            "{note}"
        );
        // A minority of errors is a result, its errors shown beside it.
        assert_eq!(value(&t, "RPS", "warp"), "300.0");
        // Socket errors count too: 10 answers and 30 timeouts is 75% failed.
        let mut timeouts = quick_cell(5.0, 0.0);
        timeouts.errors.timeout = 30;
        let why = invalid_reason(&quick_meta(), "hyper", &timeouts).expect("invalid");
        assert!(why.contains("75% of 40 (timeout 30)"), "{why}");
    }

    #[test]
    fn invalid_cells_draw_no_bar_and_are_listed_by_write_report() {
        let dir = TempDir::new("invalid-svg");
        write_dir(&dir.0, &quick_meta());
        for (name, ..) in all_cells() {
            put(&dir.0, &name, &quick_cell(300.0, 0.0));
        }
        put(&dir.0, "reuse-single-hyper", &quick_cell(16_843.0, 0.0));
        let written = write_report(&dir.0, &dir.0.join("r.md")).unwrap();
        assert_eq!(written.invalid.len(), 1);
        assert!(written.invalid[0].starts_with("reuse-single-hyper: over Little's bound"), "{:?}", written.invalid);
        let svg = std::fs::read_to_string(dir.0.join("r.svg")).unwrap();
        assert!(!svg.contains("16843"), "the invalid bar's value is drawn");
        // plotters puts each text on a line of its own.
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(texts.contains(&"invalid") && texts.contains(&"reuse-single-hyper"), "no invalid marker");
        // The valid bars are drawn, with their values.
        assert!(texts.contains(&"300"));
    }

    #[test]
    fn failed_cells_show_a_dash_and_the_failure_not_their_result_file() {
        let dir = TempDir::new("failed");
        let mut m = meta();
        m.failed.insert("reuse-single-actix".into(), "server-actix died during the cell (status 134)".into());
        write_dir(&dir.0, &m);
        let md = report(&dir.0);
        let t = table(&md, "Reuse connections — Single req");
        assert_eq!(value(&t, "RPS", "actix"), DASH);
        assert!(md.contains("reuse-single-actix: failed: server-actix died during the cell (status 134)"));
    }

    #[test]
    fn unreadable_run_json_is_an_error() {
        let dir = TempDir::new("nometa");
        assert!(matches!(load(&dir.0), Err(ReportError::ReadMeta { .. })));
        std::fs::write(dir.0.join("run.json"), "{}").unwrap();
        assert!(matches!(load(&dir.0), Err(ReportError::ParseMeta { .. })));
    }
}
