//! `bench run` (`./run_all.sh`): the whole benchmark. gosleep, then for each scheme x mode x
//! endpoint x server a table cell (the server started, loaded by loadgen for a warm-up and
//! a recorded window, checked, stopped), then the capacity searches the same way at a
//! shorter upstream delay under a CPU quota; then run.json, written from the types the
//! report reads, and the report.
//!
//! Before and after every cell gosleep must still answer `GET /sleep?ms=0`: a cell against
//! a dead upstream measures errors returned at once, not the servers, so the run stops
//! there (exit 1) and writes no results.md. A server that dies during its cell has its
//! cell failed (exit 1 at the end); one alive but not answering `/health` within
//! `SETTLE` (30 s) after its cell keeps its figures, with a note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bench_report::upstream::UpstreamTls;
use bench_report::{CapacityRun, PythonRun, RunMeta, Scheme, TlsRun, upstream_tls_file};
use loadgen::capacity::Capacity;
use loadgen::result::RunResult;

use crate::error::BenchError;
use crate::lab::{Lab, Running};
use crate::plan::{Cell, Kind, Settings, fds_needed, max_connections};
use crate::process::Side;
use crate::progress::Progress;
use crate::python::Python;
use crate::quota::Quota;

/// How long a live server may take to answer `/health` after its cell: it may still be
/// working off the requests its load left in flight.
const SETTLE: Duration = Duration::from_secs(30);

/// The run's paths: the repository's root, its binaries and the run's directory.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The repository's root.
    pub root: PathBuf,
    /// The run's directory.
    pub dir: PathBuf,
}

/// How the run ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every cell measured and valid.
    Complete,
    /// Written, but a cell failed or is not a valid result.
    Incomplete,
}

/// The upstream of one phase and scheme.
struct Upstream {
    gosleep: Running,
    /// The CA the servers trust (https only).
    ca: Option<PathBuf>,
}

/// The run in progress.
struct Runner<'a> {
    settings: &'a Settings,
    paths: &'a Paths,
    lab: Lab,
    quota: Option<Quota>,
    skipped: BTreeMap<String, String>,
    failed: BTreeMap<String, String>,
    notes: BTreeMap<String, String>,
    measured: usize,
}

/// `./run_all.sh`: the run's directory (`--output`, or `results/<UTC date-time>/` with
/// results/latest pointing at it), the release build, the run; its exit status.
pub fn start(root: &Path, settings: &Settings, command: &str) -> Result<std::process::ExitCode, BenchError> {
    let dir = match &settings.output {
        Some(dir) => dir.clone(),
        None => root.join("results").join(crate::clock::run_dir_name()),
    };
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::Io(format!("{}: {e}", dir.display())))?;
    if settings.output.is_none() {
        // results/latest: the newest run under results/, to read (and publish) without its date.
        let latest = root.join("results/latest");
        let _ = std::fs::remove_file(&latest);
        if let Some(name) = dir.file_name() {
            std::os::unix::fs::symlink(name, &latest)?;
        }
    }
    println!("== this run: {}/", shown(root, &dir).display());
    println!("== building (release)");
    crate::lab::build(root)?;
    let paths = Paths { root: root.to_owned(), dir };
    Ok(match run(settings, &paths, command)? {
        Outcome::Complete => std::process::ExitCode::SUCCESS,
        Outcome::Incomplete => std::process::ExitCode::from(1),
    })
}

/// `path` relative to the repository's root where it is under it, as the script printed it.
fn shown<'a>(root: &Path, path: &'a Path) -> &'a Path {
    path.strip_prefix(root).unwrap_or(path)
}

/// Runs the whole benchmark into `paths.dir`. `command` is the command line as typed.
pub fn run(settings: &Settings, paths: &Paths, command: &str) -> Result<Outcome, BenchError> {
    let python = Python::prepare(&paths.root, !settings.python_servers().is_empty(), &|line| println!("{line}"))?;
    let lab = Lab::open(&paths.root, python)?;
    println!("== pinning: {}", lab.pinning());
    let mut runner = Runner {
        settings,
        paths,
        lab,
        quota: None,
        skipped: BTreeMap::new(),
        failed: BTreeMap::new(),
        notes: BTreeMap::new(),
        measured: 0,
    };
    let cells = settings.cells();
    let mut progress = Progress::new(settings, &cells);
    runner.phase(Kind::Table, &cells, &mut progress)?;
    if settings.capacity.is_some() {
        runner.set_up_quota();
        runner.phase(Kind::Capacity, &cells, &mut progress)?;
    }
    runner.finish(command)
}

impl Runner<'_> {
    /// Every cell of `kind`, one upstream per scheme.
    fn phase(&mut self, kind: Kind, cells: &[Cell], progress: &mut Progress) -> Result<(), BenchError> {
        let delay_ms = match (kind, self.settings.capacity) {
            (Kind::Capacity, Some(c)) => c.delay_ms,
            _ => self.settings.delay_ms,
        };
        for &scheme in self.settings.schemes() {
            let mut upstream = self.start_upstream(delay_ms, scheme)?;
            for cell in cells.iter().filter(|c| c.kind == kind && c.scheme == scheme) {
                let what = match kind {
                    Kind::Table => format!(
                        "{} connections, {} s warm-up + {} s",
                        self.settings.connections, self.settings.warmup_s, self.settings.duration_s
                    ),
                    Kind::Capacity => "search".to_owned(),
                };
                println!("{}", progress.announce(cell, &what));
                if let Some(why) = self.unrunnable(cell) {
                    println!("-- {}: skipped ({why})", cell.name);
                    self.skipped.insert(cell.name.clone(), why);
                    continue;
                }
                let started = Instant::now();
                let said = self.cell(cell, &mut upstream)?;
                progress.done(cell, started.elapsed());
                match self.failed.get(&cell.name) {
                    Some(why) => println!("<- {}: FAILED ({why})", cell.name),
                    None => {
                        self.measured += 1;
                        println!("<- {}: {said}", cell.name);
                    }
                }
            }
            self.stop_upstream(upstream);
        }
        Ok(())
    }

    /// Why `cell` cannot run here, if it cannot: a Python server without python3, or a
    /// table cell whose sockets pass the fd limit.
    fn unrunnable(&self, cell: &Cell) -> Option<String> {
        if let (true, Some(why)) = (cell.server.python(), self.lab.python().unavailable()) {
            return Some(format!("the Python servers did not run: {why}"));
        }
        let need = fds_needed(self.settings.connections, cell.calls(self.settings.fanout));
        let limit = self.lab.fd_limit();
        (cell.kind == Kind::Table && need > limit)
            .then(|| format!("needs {need} file descriptors (C x (1 + calls)), the limit is {limit}"))
    }

    /// (Re)starts gosleep at `delay_ms` on the client core, serving `scheme` (https with a
    /// CA of its own, which the servers and the probes trust).
    fn start_upstream(&self, delay_ms: u64, scheme: Scheme) -> Result<Upstream, BenchError> {
        let mut command = self.lab.command(Some(Side::Client), "gosleep");
        command.args(["--listen", "127.0.0.1:0", "--delay-ms", &delay_ms.to_string()]);
        let ca = (scheme == Scheme::Https).then(|| self.paths.dir.join("upstream-ca.pem"));
        if let Some(ca) = &ca {
            // The CA of an earlier gosleep of this run must not pass for this one's.
            let _ = std::fs::remove_file(ca);
            command.arg("--tls-self-signed").arg(ca);
        }
        let gosleep = self.lab.listen("gosleep", command, ca.as_deref())?;
        std::fs::write(self.paths.dir.join("gosleep.pid"), format!("{}\n", gosleep.pid()))?;
        println!("== gosleep on {}, delay {delay_ms} ms", gosleep.target.url());
        Ok(Upstream { gosleep, ca })
    }

    fn stop_upstream(&self, upstream: Upstream) {
        if let Some(said) = upstream.gosleep.stop() {
            eprintln!("{said}");
        }
        let _ = std::fs::remove_file(self.paths.dir.join("gosleep.pid"));
    }

    /// Makes the capacity phase's cgroup, or says why there is none.
    fn set_up_quota(&mut self) {
        let Some(cores) = self.settings.capacity.map(|c| c.quota_cores).filter(|c| *c > 0.0) else { return };
        match self.lab.quota(cores) {
            Ok(quota) => {
                println!("== capacity: each server under a CPU quota of {cores} core(s) ({})", quota.dir().display());
                self.quota = Some(quota);
            }
            Err(why) => {
                println!("== capacity: no CPU quota ({why}); a fast server's figures may be client-bound (marked so)");
            }
        }
    }

    /// One cell: the server started, loadgen run against it, the server and the upstream
    /// checked after. Returns the line to print for a measured cell; a dead upstream ends
    /// the run.
    fn cell(&mut self, cell: &Cell, upstream: &mut Upstream) -> Result<String, BenchError> {
        let s = self.settings;
        self.upstream_ok(upstream, &format!("before {}", cell.name))?;
        let server_name = format!("server-{}", cell.server.name);
        let mut command = self.lab.command(Some(Side::Server), cell.server.binary(&self.paths.root));
        command.args(["--listen", "127.0.0.1:0", "--upstream", &upstream.gosleep.target.url()]);
        command.args(["--threads", &s.threads(&cell.server).to_string(), "--fanout", &s.fanout.to_string()]);
        if !cell.reuse() {
            command.arg("--no-reuse");
        }
        if let Some(ca) = &upstream.ca {
            command.arg("--upstream-ca").arg(ca);
        }
        let mut server = self.lab.listen(&server_name, command, None)?;
        if cell.kind == Kind::Capacity
            && let Some(quota) = &self.quota
        {
            quota.add(server.pid())?;
        }
        let json = self.paths.dir.join(format!("{}.json", cell.name));
        let mut load = self.lab.client("loadgen");
        load.args(self.loadgen_args(cell, upstream, &json));
        load.arg("--server-pid").arg(server.pid().to_string());
        load.arg(server.url(cell.endpoint));
        let txt = self.paths.dir.join(format!("{}.txt", cell.name));
        let mut loadgen = self.lab.spawn_into("loadgen", load, &txt)?;
        // Over HTTPS a table cell keeps gosleep's counts over its window: reset as the
        // window opens (loadgen opens its connections first, far within the warm-up).
        let counting = cell.kind == Kind::Table && cell.scheme == Scheme::Https && {
            std::thread::sleep(Duration::from_secs(u64::from(s.warmup_s)));
            upstream.gosleep.target.post("/stats/reset").is_ok_and(|a| a.status == 200)
        };
        let status = loadgen.wait()?;
        if counting {
            self.keep_upstream_counts(cell, upstream);
        }
        // The server first: one that died makes a failed cell; one still busy long after
        // its load keeps its figures, noted.
        match settle(&mut server) {
            Ok(()) => report_stop(server),
            Err(why) if server.alive() => {
                let note = format!(
                    "{server_name} was still busy after the cell ({why}); its figures stand, and it was stopped"
                );
                println!("-- {}: {note}", cell.name);
                self.notes.insert(cell.name.clone(), note);
                report_stop(server);
            }
            Err(why) => {
                self.failed.insert(cell.name.clone(), format!("{server_name} failed during the cell: {why}"));
            }
        }
        self.upstream_ok(upstream, &format!("after {}", cell.name))?;
        if self.failed.contains_key(&cell.name) {
            return Ok(String::new());
        }
        let last_line = || std::fs::read_to_string(&txt).unwrap_or_default().lines().last().unwrap_or("").to_owned();
        match cell.kind {
            Kind::Table => match read_json::<RunResult>(&json) {
                Ok(result) if status.success() => Ok(format!(
                    "{:.2} req/s, errors: {}",
                    result.rps(),
                    if result.errors.total() == 0 { "none".to_owned() } else { result.errors.kinds() }
                )),
                _ => {
                    let why = format!("loadgen failed ({}): {}", status_text(status), last_line());
                    self.failed.insert(cell.name.clone(), why);
                    Ok(String::new())
                }
            },
            // A first step that failed still writes its record (exit 1); no record is a failure.
            Kind::Capacity => match read_json::<Capacity>(&json) {
                Ok(found) => Ok(match found.capacity_rps {
                    Some(rps) => {
                        format!("capacity {rps:.0} req/s (bound: {})", loadgen::capacity::bound_name(found.bound))
                    }
                    None => "capacity: none (the first step failed)".to_owned(),
                }),
                Err(_) => {
                    let why = format!("loadgen capacity failed ({}): {}", status_text(status), last_line());
                    self.failed.insert(cell.name.clone(), why);
                    Ok(String::new())
                }
            },
        }
    }

    /// loadgen's flags for `cell`, writing its result to `json`.
    fn loadgen_args(&self, cell: &Cell, upstream: &Upstream, json: &Path) -> Vec<String> {
        let s = self.settings;
        let mut args: Vec<String> = match (cell.kind, s.capacity) {
            (Kind::Capacity, Some(c)) => {
                let mut args =
                    vec!["capacity".to_owned(), "--upstream-pid".to_owned(), upstream.gosleep.pid().to_string()];
                let max_c = max_connections(self.lab.fd_limit(), cell.calls(s.fanout));
                args.extend(["--max-connections".to_owned(), max_c.to_string()]);
                args.extend([
                    "-d".to_owned(),
                    format!("{}s", c.window_s),
                    "--warmup".to_owned(),
                    format!("{}s", c.warmup_s),
                ]);
                args.extend(["--timeout".to_owned(), "10s".to_owned()]);
                if cell.server.pooled() {
                    args.extend(["--pool".to_owned(), s.threads(&cell.server).to_string()]);
                }
                // The light first step must be light for the server (the roster says which need one).
                if let Some(start) = cell.server.start {
                    args.extend(["--start-rate".to_owned(), start.to_string()]);
                }
                args
            }
            _ => vec![
                "-c".to_owned(),
                s.connections.to_string(),
                "-t".to_owned(),
                "1".to_owned(),
                "-d".to_owned(),
                format!("{}s", s.duration_s),
                "--warmup".to_owned(),
                format!("{}s", s.warmup_s),
                "--timeout".to_owned(),
                "30s".to_owned(),
                "--latency".to_owned(),
            ],
        };
        if !cell.reuse() {
            args.push("--no-keepalive".to_owned());
        }
        args.push("--json".to_owned());
        args.push(json.display().to_string());
        args
    }

    /// gosleep's `/stats` as the window closed, in DIR/CELL.upstream.json; no file when the
    /// read failed (the report then says the counts are missing).
    fn keep_upstream_counts(&self, cell: &Cell, upstream: &Upstream) {
        let path = self.paths.dir.join(upstream_tls_file(&cell.name));
        match upstream.gosleep.target.get("/stats") {
            Ok(a) if a.status == 200 && serde_json::from_str::<UpstreamTls>(&a.body).is_ok() => {
                if let Err(e) = std::fs::write(&path, a.body) {
                    eprintln!("{}: {e}", path.display());
                }
            }
            _ => {}
        }
    }

    /// gosleep still runs and answers a real upstream call; otherwise the run stops.
    fn upstream_ok(&self, upstream: &mut Upstream, when: &str) -> Result<(), BenchError> {
        let pid = upstream.gosleep.pid();
        let why = match upstream.gosleep.ended() {
            Some(how) => format!("pid {pid} has exited ({how})"),
            None => match upstream.gosleep.target.get("/sleep?ms=0") {
                Ok(a) if a.status == 200 => return Ok(()),
                Ok(a) => format!("pid {pid} answered GET /sleep?ms=0 with {}", a.status),
                Err(e) => {
                    format!("pid {pid} on {} did not answer GET /sleep?ms=0: {e}", upstream.gosleep.target.addr())
                }
            },
        };
        Err(BenchError::UpstreamDied { when: when.to_owned(), why, dir: self.paths.dir.clone() })
    }

    /// run.json from the types the report reads, then the report; the run's outcome.
    fn finish(self, command: &str) -> Result<Outcome, BenchError> {
        let s = self.settings;
        let meta = RunMeta {
            command: command.to_owned(),
            date: crate::clock::utc_minute(),
            machine: crate::machine::this_machine(),
            rustc: crate::machine::rustc(),
            servers: s.servers.iter().map(|x| x.name.clone()).collect(),
            pooled: s.servers.iter().filter(|x| x.pooled()).map(|x| x.name.clone()).collect(),
            delay_ms: s.delay_ms,
            fanout: s.fanout,
            connections: usize::try_from(s.connections).unwrap_or(usize::MAX),
            duration_s: f64::from(s.duration_s),
            warmup_s: f64::from(s.warmup_s),
            pinning: self.lab.pinning(),
            server_threads: s.servers.iter().map(|x| (x.name.clone(), s.threads(x))).collect(),
            capacity: s.capacity.map(|c| CapacityRun {
                delay_ms: c.delay_ms,
                server_cpu_quota: self.quota.as_ref().map(|_| c.quota_cores),
                slo_p99_ms: None,
            }),
            python: (!s.python_servers().is_empty()).then(|| PythonRun {
                servers: s.python_servers().iter().map(|x| x.name.clone()).collect(),
                versions: self.lab.python().versions().map(str::to_owned),
                unavailable: self.lab.python().unavailable().map(str::to_owned),
            }),
            tls: s.tls.then(|| TlsRun { stack: bench_tls::STACK.to_owned() }),
            skipped: self.skipped.clone(),
            failed: self.failed.clone(),
            notes: self.notes.clone(),
        };
        meta.check().map_err(BenchError::Record)?;
        let dir = &self.paths.dir;
        let text = serde_json::to_string_pretty(&meta).map_err(|e| BenchError::Record(e.to_string()))? + "\n";
        std::fs::write(dir.join("run.json"), text)?;
        drop(self.quota);
        if self.measured == 0 {
            return Err(BenchError::NothingMeasured {
                skipped: self.skipped.len(),
                failed: self.failed.len(),
                dir: dir.clone(),
            });
        }
        let markdown = dir.join(bench_report::REPORT_FILE);
        let written = bench_report::write_report(dir, &markdown)?;
        if !written.invalid.is_empty() {
            eprintln!(
                "run_all.sh: {} cell(s) are invalid, not results: {}",
                written.invalid.len(),
                written.invalid.join("; ")
            );
            eprintln!(
                "run_all.sh: {} shows cells that are not results (see the line above and its notes)",
                markdown.display()
            );
            return Ok(Outcome::Incomplete);
        }
        println!("== results in {} (raw results beside it)", markdown.display());
        if !self.failed.is_empty() {
            let names: Vec<&str> = self.failed.keys().map(String::as_str).collect();
            eprintln!(
                "run_all.sh: {} cell(s) failed, shown as — in {}: {}",
                names.len(),
                markdown.display(),
                names.join(" ")
            );
            return Ok(Outcome::Incomplete);
        }
        crate::publish::mark_complete(dir)?;
        if s.publish {
            crate::publish::publish(dir, &self.paths.root)?;
        } else {
            println!(
                "== the repository's results.md is unchanged; to publish this run: target/release/bench publish {}",
                dir.display()
            );
        }
        Ok(Outcome::Complete)
    }
}

/// The server answers `/health` within [`SETTLE`], or why not.
fn settle(server: &mut Running) -> Result<(), String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(how) = server.ended() {
            return Err(format!("pid {} has exited ({how})", server.pid()));
        }
        match server.target.get("/health") {
            Ok(a) if a.status == 200 => return Ok(()),
            _ if Instant::now() >= deadline => {
                return Err(format!(
                    "pid {} on {}, alive, did not answer GET /health with 200 within {} s",
                    server.pid(),
                    server.target.addr(),
                    SETTLE.as_secs()
                ));
            }
            _ => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

fn report_stop(server: Running) {
    if let Some(said) = server.stop() {
        eprintln!("{said}");
    }
}

fn status_text(status: std::process::ExitStatus) -> String {
    status.code().map_or_else(|| status.to_string(), |c| format!("status {c}"))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
