//! The run as the report reads it: its record (`run.json`, [`RunMeta`]) and every cell's
//! result file, loaded into a [`Run`]; a file that is missing or unreadable is a cell with
//! its reason, never an error that loses the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::validity::{capacity_invalid_reason, invalid_reason};
use super::{ENDPOINTS, MODES, PythonRun};
pub use crate::upstream::UpstreamTls;
use loadgen::capacity::Capacity;
use loadgen::result::RunResult;

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
    /// The HTTPS upstream of a `./run_all.sh --tls` run, whose every cell ran a second time
    /// against it; `None` (no key) for a run over plain HTTP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsRun>,
    /// Cells not measured (cell name, e.g. `reuse-multiple-rouille`,
    /// `https-reuse-multiple-rouille` or `capacity-reuse-multiple-rouille`) and why.
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

/// How a `./run_all.sh --tls` run's HTTPS upstream was set up (`run.json`'s `tls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsRun {
    /// The TLS stack of the Rust servers' upstream clients and of gosleep (the run's
    /// `bench_tls::STACK`, e.g. "rustls 0.23, ring provider").
    pub stack: String,
}

/// The scheme of the upstream a cell's server called: a cell is of one, given by where it
/// is loaded from, never read back from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Plain HTTP: every run's cells, named as before HTTPS existed.
    Http,
    /// HTTPS (`./run_all.sh --tls`): gosleep behind TLS, the servers verifying it.
    Https,
}

impl Scheme {
    /// What its cells' names start with: nothing for plain HTTP, so that the names of
    /// every run before `--tls` stand.
    pub fn prefix(self) -> &'static str {
        match self {
            Scheme::Http => "",
            Scheme::Https => "https-",
        }
    }

    /// "http", "https".
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl RunMeta {
    /// The schemes the run measured, plain HTTP first.
    pub fn schemes(&self) -> &'static [Scheme] {
        if self.tls.is_some() { &[Scheme::Http, Scheme::Https] } else { &[Scheme::Http] }
    }

    /// Whether `server`'s thread pool caps its requests in flight.
    pub fn is_pooled(&self, server: &str) -> bool {
        self.pooled.iter().any(|p| p == server)
    }

    /// Why the record is inconsistent, if it is: each name in `pooled` and
    /// `server_threads` must be one of `servers`, which must be a non-empty list of
    /// distinct names.
    pub fn check(&self) -> Result<(), String> {
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

/// One table cell, classified once, as [`load`] reads it: a result, a record that is no
/// result (physically impossible, [`super::validity`]), or why there is none. Renderers
/// only render what it says.
#[derive(Debug, Clone)]
pub enum Cell<T = RunResult> {
    /// The record of the cell, a result.
    Valid(Box<T>),
    /// The record of the cell, which is no result: the reason. Its set-up (a bound, an SLO)
    /// may still be shown; its figures never are.
    Invalid(Box<T>, String),
    /// Not measured (skipped, failed, missing or unreadable file): the reason.
    Missing(String),
}

impl<T> Cell<T> {
    /// The record, valid or not.
    pub fn record(&self) -> Option<&T> {
        match self {
            Cell::Valid(record) | Cell::Invalid(record, _) => Some(record),
            Cell::Missing(_) => None,
        }
    }

    /// The record if it is a result.
    pub fn valid(&self) -> Option<&T> {
        match self {
            Cell::Valid(record) => Some(record),
            Cell::Invalid(..) | Cell::Missing(_) => None,
        }
    }

    /// A loaded record judged by `invalid` (why it is no result, if it is not).
    fn judged(self, invalid: impl FnOnce(&T) -> Option<String>) -> Self {
        match self {
            Cell::Valid(record) => match invalid(&record) {
                Some(why) => Cell::Invalid(record, why),
                None => Cell::Valid(record),
            },
            other => other,
        }
    }
}

/// The fixed-load cells, by cell name (`{scheme prefix}{mode}-{endpoint}-{server}`).
pub type Cells = BTreeMap<String, Cell>;

/// The capacity cells, by cell name (`capacity-{scheme prefix}{mode}-{endpoint}-{server}`).
pub type CapacityCells = BTreeMap<String, Cell<Capacity>>;

/// The upstream's TLS counters of the fixed-load HTTPS cells, by the cell's name.
pub type UpstreamTlsCells = BTreeMap<String, Cell<UpstreamTls>>;

/// A loaded results directory: the record and every cell it names.
#[derive(Debug, Clone)]
pub struct Run {
    /// `run.json`.
    pub meta: RunMeta,
    /// The fixed-load cells.
    pub cells: Cells,
    /// The capacity cells (none when the run made no capacity search).
    pub capacity: CapacityCells,
    /// What gosleep counted of TLS over each fixed-load HTTPS cell's window (none for a
    /// plain-HTTP run).
    pub upstream_tls: UpstreamTlsCells,
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
pub fn cell_name(scheme: Scheme, mode: &str, endpoint: &str, server: &str) -> String {
    format!("{}{mode}-{endpoint}-{server}", scheme.prefix())
}

/// The name of a capacity cell and of its record file (without `.json`).
pub fn capacity_cell_name(scheme: Scheme, mode: &str, endpoint: &str, server: &str) -> String {
    format!("capacity-{}", cell_name(scheme, mode, endpoint, server))
}

/// The file beside an HTTPS cell's result that holds gosleep's counters over its window.
pub fn upstream_tls_file(cell: &str) -> String {
    format!("{cell}.upstream.json")
}

/// Every (scheme, mode, endpoint, server) of the run, in table order: every plain-HTTP
/// cell, then every HTTPS one.
pub(super) fn each_cell(meta: &RunMeta) -> impl Iterator<Item = (Scheme, &'static str, &'static str, &str)> {
    meta.schemes().iter().flat_map(move |scheme| {
        MODES.iter().flat_map(move |(mode, _)| {
            ENDPOINTS.iter().flat_map(move |(endpoint, _)| {
                meta.servers.iter().map(move |s| (*scheme, *mode, *endpoint, s.as_str()))
            })
        })
    })
}

/// Reads `DIR/run.json` and every cell it names, and classifies each cell once. Only an
/// unreadable or inconsistent run.json is an error: a missing or unreadable cell becomes
/// [`Cell::Missing`] with the reason, so that one failed cell does not hide the others, and
/// a record that is no result [`Cell::Invalid`] with the reason.
pub fn load(dir: &Path) -> Result<Run, ReportError> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ReportError::ReadMeta { path: path.clone(), source })?;
    let meta: RunMeta =
        serde_json::from_str(&text).map_err(|source| ReportError::ParseMeta { path: path.clone(), source })?;
    meta.check().map_err(|why| ReportError::Inconsistent { path, why })?;
    let mut cells = Cells::new();
    let mut capacity = CapacityCells::new();
    let mut upstream_tls = UpstreamTlsCells::new();
    for (scheme, mode, endpoint, server) in each_cell(&meta) {
        let name = cell_name(scheme, mode, endpoint, server);
        let cell = load_cell(dir, &name, &meta, "a loadgen result").judged(|r| invalid_reason(&meta, server, r));
        cells.insert(name.clone(), cell);
        if scheme == Scheme::Https {
            let file = upstream_tls_file(&name);
            upstream_tls.insert(name.clone(), load_file(dir, &name, &file, &meta, "gosleep's TLS counters"));
        }
        if meta.capacity.is_some() {
            let name = capacity_cell_name(scheme, mode, endpoint, server);
            let cell = load_cell(dir, &name, &meta, "a capacity record").judged(|c| capacity_invalid_reason(&meta, c));
            capacity.insert(name.clone(), cell);
        }
    }
    Ok(Run { meta, cells, capacity, upstream_tls })
}

pub(super) fn load_cell<T: DeserializeOwned>(dir: &Path, name: &str, meta: &RunMeta, what: &str) -> Cell<T> {
    load_file(dir, name, &format!("{name}.json"), meta, what)
}

/// Cell `name`'s record in `file`, as [`load_cell`] reads it.
fn load_file<T: DeserializeOwned>(dir: &Path, name: &str, file: &str, meta: &RunMeta, what: &str) -> Cell<T> {
    // run.json is the authority: a file left over from an earlier run must not be shown
    // as this run's measurement of a cell this run skipped.
    if let Some(reason) = meta.skipped.get(name) {
        return Cell::Missing(format!("skipped: {reason}"));
    }
    if let Some(reason) = meta.failed.get(name) {
        return Cell::Missing(format!("failed: {reason}"));
    }
    let text = match std::fs::read_to_string(dir.join(file)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Cell::Missing(format!("failed: no result file {file}"));
        }
        Err(e) => return Cell::Missing(format!("failed: cannot read {file}: {e}")),
    };
    match serde_json::from_str::<T>(&text) {
        Ok(record) => Cell::Valid(Box::new(record)),
        Err(e) => Cell::Missing(format!("failed: {file} is not {what} ({e})")),
    }
}
