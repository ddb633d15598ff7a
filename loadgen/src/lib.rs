//! loadgen: a wrk-compatible HTTP/1.1 load generator that measures honestly.
//!
//! wrk's flags and output shape, and `https://` targets over rustls (`--cacert`,
//! `--insecure`; handshakes counted and timed), plus HDR-histogram percentiles, an open-loop `--rate`
//! with coordinated-omission correction, `--no-keepalive`, `--warmup`, errors counted by
//! kind, `--json` results that merge across machines, and `--server-pid` sampling of the
//! server's CPU and memory from /proc (the process and its descendants); `capacity`, an
//! open-loop search for the highest rate a server answers within a latency SLO and what
//! bound it there; and `merge`, which combines the results of runs made at once from
//! several machines. The report of a whole run (results.md, its charts) is the
//! `bench-report` crate's, above this one.
//!
//! Run with: `cargo run --release -p loadgen -- -c 100 -d 10s --latency http://127.0.0.1:8080/single`

pub mod capacity;
pub mod cli;
pub mod command;
pub mod engine;
pub mod figures;
pub mod procstat;
pub mod result;

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write as _};
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use thiserror::Error;

use crate::cli::RunOpts;
use crate::command::{Cli, Command};
use crate::engine::Plan;
use crate::result::{Errors, RunResult};

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
    /// `loadgen capacity` whose first, light step already failed (exit 1; the verdict line
    /// on stdout says why).
    #[error("no capacity: the first step failed")]
    NoCapacity,
    /// A run with no successful (2xx) answer in its recorded window (exit 1): it measured
    /// no service, only failures, so a script must not take it as a result. Its report and
    /// `--json` are written first: they are the evidence of what went wrong.
    #[error("no successful answer in the {window_s} s window: {}", nothing_answered(*.requests, .errors))]
    NoSuccess {
        /// The recorded window asked for (`-d`), seconds.
        window_s: f64,
        /// Answers in the window (any status).
        requests: u64,
        /// The errors by kind.
        errors: Errors,
    },
    /// Reading or writing a file, or the runtime (exit 1).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Result files that do not merge: runs made differently (exit 2), or histograms
    /// that do not add up (exit 1).
    #[error(transparent)]
    Merge(#[from] result::MergeError),
    /// A result file that is not loadgen JSON (exit 1).
    #[error("{0}")]
    Json(String),
}

impl LoadgenError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_)
            | Self::FdLimit { .. }
            | Self::Merge(
                result::MergeError::DifferentUrl(..)
                | result::MergeError::DifferentMode { .. }
                | result::MergeError::SameRecord { .. },
            ) => 2,
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
            eprintln!("loadgen: {} (see loadgen --help)", usage_line(&e));
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

/// A clap error in one line. A rejected value is named by its flag and our parser's
/// message (which quotes it escaped): clap's own text quotes it raw, and a value with a
/// line break in it would split the line.
fn usage_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    if let (Some(ContextValue::String(arg)), Some(why)) = (e.get(ContextKind::InvalidArg), std::error::Error::source(e))
    {
        return format!("invalid value for {arg}: {why}");
    }
    let text = e.to_string();
    text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_owned()
}

fn dispatch(cli: Cli) -> Result<(), LoadgenError> {
    match cli.command {
        Some(Command::Merge { files, json }) => {
            let json = json.as_deref().map(JsonOut::open).transpose()?;
            let merged = merge_files(&files)?;
            print!("{}", merged.render_text(true));
            if let Some(json) = json {
                json.write(&merged)?;
            }
            Ok(())
        }
        Some(Command::Capacity(opts)) => {
            let json = opts.json.as_deref().map(JsonOut::open).transpose()?;
            let found = capacity::search(&opts)?;
            if let Some(json) = json {
                json.write(&found)?;
            }
            match found.bound {
                capacity::Bound::FirstStep => Err(LoadgenError::NoCapacity),
                _ => Ok(()),
            }
        }
        None => {
            let opts = cli.run;
            let plan = plan(&opts)?;
            let json = opts.json.as_deref().map(JsonOut::open).transpose()?;
            let result = engine::run(&plan)?;
            print!("{}", result.render_text(opts.latency));
            if let Some(json) = json {
                json.write(&result)?;
            }
            require_success(&result)
        }
    }
}

/// A run is a measurement only if the server answered it at least once with a 2xx: a
/// run of nothing but connect errors, timeouts or 500s is no result, whatever it printed.
pub fn require_success(result: &RunResult) -> Result<(), LoadgenError> {
    if result.successes() > 0 {
        return Ok(());
    }
    Err(LoadgenError::NoSuccess {
        window_s: result.mode.duration_s,
        requests: result.requests,
        errors: result.errors.clone(),
    })
}

/// "0 requests, 170 errors (connect 170)": what a run without a success got instead.
fn nothing_answered(requests: u64, errors: &Errors) -> String {
    match errors.total() {
        // Neither an answer nor a timeout: --timeout is longer than the window.
        0 => format!("{requests} requests and no error: no request finished, not even by timing out"),
        n => format!("{requests} requests, {n} errors ({})", errors.kinds()),
    }
}

/// Validates the options into a plan: URL, sizes, and the fd limit, before anything is sent.
pub fn plan(opts: &RunOpts) -> Result<Plan, LoadgenError> {
    let usage = |m: String| LoadgenError::Usage(m);
    let url = opts.url.clone().ok_or_else(|| usage("a URL is required".into()))?;
    let cli::Target { uri, host, port, tls } = cli::parse_url(&url).map_err(usage)?;
    let tls = if tls {
        Some(engine::TlsPlan::new(&host, &opts.tls, opts.connections).map_err(usage)?)
    } else {
        tls_flags_for_http(&opts.tls, &url).map_err(usage)?;
        None
    };
    let addr = (host.as_str(), port)
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
    // Checked again here for RunOpts built in code: the engine writes each header into
    // the request as it is, so a CR or LF would split the request.
    for (name, value) in &opts.headers {
        cli::check_header(name, value).map_err(usage)?;
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
        tls,
    })
}

/// A TLS flag with an `http://` target asks for something that cannot happen: refused, not
/// ignored (the run would not be what its command line says).
fn tls_flags_for_http(tls: &cli::TlsOpts, url: &str) -> Result<(), String> {
    let given: Vec<&str> = [
        (tls.cacert.is_some(), "--cacert"),
        (tls.insecure, "--insecure"),
        (tls.no_tls_resumption, "--no-tls-resumption"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(format!("{} only applies to https:// targets, and {url} is http://", given.join(" and ")))
}

/// Connections the fd limit leaves room for (after raising it to the hard limit), and
/// the limit.
pub fn fd_budget() -> Result<(usize, u64), LoadgenError> {
    let limit = bench_sys::raise_fd_limit()?;
    Ok((usize::try_from(limit.saturating_sub(FD_SLACK)).unwrap_or(usize::MAX), limit))
}

/// Raises RLIMIT_NOFILE to the hard limit and checks the connections fit.
fn check_fd_limit(connections: usize) -> Result<(), LoadgenError> {
    let (budget, limit) = fd_budget()?;
    if connections <= budget {
        return Ok(());
    }
    Err(LoadgenError::FdLimit { connections, need: connections as u64 + FD_SLACK, limit })
}

/// `loadgen merge`'s files, merged. One run given twice would be counted twice: the same
/// file under two names (`a.json`, `./a.json`), or the same record in two files (a copy), is
/// refused naming both, as a bad argument.
fn merge_files(files: &[PathBuf]) -> Result<RunResult, LoadgenError> {
    let twice = |first: usize, other: usize, what: &str| {
        let (first, other) = (files[first].display(), files[other].display());
        LoadgenError::Usage(format!("{first} and {other} {what}: one run would be counted twice"))
    };
    let mut real = Vec::with_capacity(files.len());
    for (other, file) in files.iter().enumerate() {
        // A path that does not resolve (missing, or a pipe's /proc name) is compared as
        // given; reading it says what is wrong with it.
        let path = file.canonicalize().unwrap_or_else(|_| file.clone());
        if let Some(first) = real.iter().position(|p| *p == path) {
            return Err(twice(first, other, "are the same file"));
        }
        real.push(path);
    }
    let results = files.iter().map(|f| read_json(f)).collect::<Result<Vec<_>, _>>()?;
    RunResult::merge(&results).map_err(|e| match e {
        result::MergeError::SameRecord { first, other } => twice(first, other, "hold the same record"),
        e => e.into(),
    })
}

fn read_json(path: &Path) -> Result<RunResult, LoadgenError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadgenError::Json(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| LoadgenError::Json(format!("{}: not a loadgen result: {e}", path.display())))
}

/// A `--json` file, opened for writing before any load: a path that cannot be written is a
/// bad flag (exit 2), found before the run rather than after it. A file that exists keeps
/// its content until the result replaces it; one this creates is removed again unless the
/// result is written into it whole (the run failed), so that no empty file is left behind.
struct JsonOut {
    path: PathBuf,
    file: File,
    created: bool,
    written: bool,
}

impl JsonOut {
    fn open(path: &Path) -> Result<Self, LoadgenError> {
        let cannot =
            |e: std::io::Error| LoadgenError::Usage(format!("--json {}: cannot write it ({e})", path.display()));
        let (file, created) = match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                (OpenOptions::new().write(true).open(path).map_err(cannot)?, false)
            }
            Err(e) => return Err(cannot(e)),
        };
        Ok(Self { path: path.to_owned(), file, created, written: false })
    }

    /// Replaces the file's content with `value`, pretty-printed.
    fn write(mut self, value: &impl serde::Serialize) -> Result<(), LoadgenError> {
        let text = serde_json::to_string_pretty(value).map_err(|e| LoadgenError::Json(e.to_string()))? + "\n";
        // Only a regular file is emptied first: a pipe or /dev/stdout cannot be, nor need be.
        let regular = self.file.metadata().is_ok_and(|m| m.is_file());
        (if regular { self.file.set_len(0) } else { Ok(()) })
            .and_then(|()| self.file.write_all(text.as_bytes()))
            .map_err(|e| LoadgenError::Json(format!("{}: {e}", self.path.display())))?;
        self.written = true;
        Ok(())
    }
}

impl Drop for JsonOut {
    fn drop(&mut self) {
        if self.created && !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::tests::result;

    /// A 2 s run of `requests` answers, `status_500` of them 500s, and no other error.
    fn run_of(requests: u64, status_500: u64) -> RunResult {
        let mut run = result(&[1000]);
        run.mode.duration_s = 2.0;
        run.requests = requests;
        run.errors = Errors::default();
        if status_500 > 0 {
            run.errors.status.insert(500, status_500);
        }
        run
    }

    #[test]
    fn a_run_whose_answers_are_all_500_is_no_result_and_exits_1_saying_why() {
        let e = require_success(&run_of(2000, 2000)).expect_err("all 500s");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "no successful answer in the 2 s window: 2000 requests, 2000 errors (500: 2000)");
    }

    /// A flag out of range fails before anything starts, and leaves nothing behind: the
    /// `--json` file is opened before the run, but a run that then fails neither leaves an
    /// empty file nor empties one that was there.
    #[test]
    fn a_json_file_opened_before_a_run_that_failed_is_not_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.json");
        drop(JsonOut::open(&new).unwrap());
        assert!(!new.exists(), "a file created for a failed run is removed");
        let old = dir.path().join("old.json");
        std::fs::write(&old, "{\"kept\": true, \"and longer than what replaces it\": 1}\n").unwrap();
        drop(JsonOut::open(&old).unwrap());
        assert!(std::fs::read_to_string(&old).unwrap().contains("kept"), "a file that was there is untouched");
        JsonOut::open(&old).unwrap().write(&serde_json::json!({"new": 1})).unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "{\n  \"new\": 1\n}\n", "replaced whole");
        JsonOut::open(&new).unwrap().write(&serde_json::json!([])).unwrap();
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "[]\n");
        // A device (`--json /dev/stdout`) is written to as it is.
        JsonOut::open(Path::new("/dev/null")).unwrap().write(&serde_json::json!([])).unwrap();
        let e = JsonOut::open(&dir.path().join("missing").join("x.json")).err().unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("cannot write it"), "{e}");
    }

    #[test]
    fn one_2xx_answer_among_500s_is_a_result() {
        assert!(require_success(&run_of(2000, 1999)).is_ok());
    }

    #[test]
    fn a_run_with_neither_answer_nor_error_says_nothing_came_back() {
        let e = require_success(&run_of(0, 0)).expect_err("nothing");
        assert_eq!(
            e.to_string(),
            "no successful answer in the 2 s window: 0 requests and no error: no request finished, not even by timing out"
        );
    }
}
