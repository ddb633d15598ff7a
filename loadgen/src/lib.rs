//! loadgen: a wrk-compatible HTTP/1.1 load generator that measures honestly.
//!
//! wrk's flags and output shape, plus HDR-histogram percentiles, an open-loop `--rate`
//! with coordinated-omission correction, `--no-keepalive`, `--warmup`, errors counted by
//! kind, `--json` results that merge across machines, and `--server-pid` sampling of the
//! server's CPU and memory from /proc, and `sweep`, which finds the connection count that
//! saturates a server, and `report`, which renders a run_all.sh results directory into
//! results.md and an SVG chart.
//!
//! Run with: `cargo run --release -p loadgen -- -c 100 -d 10s --latency http://127.0.0.1:8080/single`

pub mod cli;
pub mod engine;
pub mod procstat;
pub mod report;
pub mod result;
pub mod sweep;

use std::io::IsTerminal;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use hyper::Uri;
use thiserror::Error;

use crate::cli::{Cli, Command, RunOpts};
use crate::engine::Plan;
use crate::result::RunResult;

/// Descriptors a run needs besides its sockets (runtime, stdio, /proc reads).
const FD_SLACK: u64 = 64;

/// Why loadgen stopped before (or instead of) measuring.
#[derive(Debug, Error)]
pub enum LoadgenError {
    /// The command line asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Not enough file descriptors for the connections (exit 2).
    #[error(
        "{connections} connections need about {need} open files, but the limit (already raised to the hard limit) is {limit}: raise it first, e.g. `ulimit -n {need}` as root"
    )]
    FdLimit {
        /// Connections asked for.
        connections: usize,
        /// Descriptors needed.
        need: u64,
        /// The hard limit, which the soft one was raised to.
        limit: u64,
    },
    /// Reading or writing a file, or the runtime (exit 1).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Result files that do not merge (exit 1).
    #[error(transparent)]
    Merge(#[from] result::MergeError),
    /// A result file that is not loadgen JSON (exit 1).
    #[error("{0}")]
    Json(String),
    /// A results directory that cannot be reported, or a report that cannot be written (exit 1).
    #[error(transparent)]
    Report(#[from] report::ReportError),
}

impl LoadgenError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::FdLimit { .. } => 2,
            _ => 1,
        }
    }
}

/// The whole program: parse, run, print; errors as one line on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            eprintln!("loadgen: {first} (see loadgen --help)");
            return ExitCode::from(2);
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), LoadgenError> {
    match cli.command {
        Some(Command::Merge { files, json }) => {
            let results = files.iter().map(|f| read_json(f)).collect::<Result<Vec<_>, _>>()?;
            let merged = RunResult::merge(&results)?;
            print!("{}", merged.render_text(true));
            if let Some(path) = json {
                write_json(&path, &merged)?;
            }
            Ok(())
        }
        Some(Command::Sweep(opts)) => {
            let sweep = sweep::sweep(&opts)?;
            if let Some(path) = &opts.run.json {
                write_json(path, &sweep)?;
            }
            Ok(())
        }
        Some(Command::Report { dir, output }) => {
            let written = report::write_report(&dir, &output)?;
            println!("wrote {} and {}", written.markdown.display(), written.chart.display());
            Ok(())
        }
        None => {
            let opts = cli.run;
            let plan = plan(&opts)?;
            let result = engine::run(&plan)?;
            print!("{}", result.render_text(opts.latency));
            if let Some(path) = &opts.json {
                write_json(path, &result)?;
            }
            Ok(())
        }
    }
}

/// Validates the options into a plan: URL, sizes, and the fd limit, before anything is sent.
pub fn plan(opts: &RunOpts) -> Result<Plan, LoadgenError> {
    let usage = |m: String| LoadgenError::Usage(m);
    let url = opts.url.clone().ok_or_else(|| usage("a URL is required".into()))?;
    let uri: Uri = url.parse().map_err(|e| usage(format!("not a URL: {url:?} ({e})")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(usage(format!("only http:// URLs are supported, got {other}://"))),
        None => return Err(usage(format!("not a URL: {url:?} (expected http://host[:port]/path)"))),
    }
    let host = uri.host().ok_or_else(|| usage(format!("no host in {url:?}")))?;
    let port = uri.port_u16().unwrap_or(80);
    let addr = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| usage(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| usage(format!("{host} has no address")))?;
    if opts.connections == 0 {
        return Err(usage("connections (-c) must be at least 1".into()));
    }
    if opts.threads == 0 || opts.threads > opts.connections {
        return Err(usage(format!(
            "threads (-t {}) must be between 1 and the number of connections ({})",
            opts.threads, opts.connections
        )));
    }
    if opts.duration.is_zero() || opts.timeout.is_zero() {
        return Err(usage("duration and timeout must be longer than zero".into()));
    }
    check_fd_limit(opts.connections)?;
    if let Some(pid) = opts.server_pid {
        procstat::read(pid).map_err(|e| usage(format!("--server-pid {pid}: cannot read /proc/{pid} ({e})")))?;
    }
    Ok(Plan {
        addr,
        uri,
        url,
        connections: opts.connections,
        threads: opts.threads,
        duration: opts.duration,
        warmup: opts.warmup,
        timeout: opts.timeout,
        headers: opts.headers.clone(),
        rate: opts.rate,
        keepalive: !opts.no_keepalive,
        server_pid: opts.server_pid,
        progress: std::io::stdout().is_terminal(),
    })
}

/// Raises RLIMIT_NOFILE to the hard limit and checks the connections fit.
fn check_fd_limit(connections: usize) -> Result<(), LoadgenError> {
    let limit = server_common::sys::raise_fd_limit()?;
    let need = connections as u64 + FD_SLACK;
    if need <= limit {
        return Ok(());
    }
    Err(LoadgenError::FdLimit { connections, need, limit })
}

fn read_json(path: &Path) -> Result<RunResult, LoadgenError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadgenError::Json(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| LoadgenError::Json(format!("{}: not a loadgen result: {e}", path.display())))
}

fn write_json(path: &Path, result: &impl serde::Serialize) -> Result<(), LoadgenError> {
    let text = serde_json::to_string_pretty(result).map_err(|e| LoadgenError::Json(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| LoadgenError::Json(format!("{}: {e}", path.display())))
}
