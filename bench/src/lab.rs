//! The benchmarks beside the run (`bench servers`, `cpu`, `latency`, `recovery`,
//! `capacity-check`, `loadgen`, `flask-bound`): each a Markdown report on stdout, progress
//! on stderr. What they share lives here: the
//! release build, the pinning, gosleep and the servers started and stopped by PID, loadgen
//! and wrk runs read through types, gosleep's counters, medians, and the machine line.

pub mod capacity_check;
pub mod cpu;
pub mod flask_bound;
pub mod gosleep;
pub mod gosleep_tls_cpu;
pub mod latency;
pub mod perf;
pub mod recovery;
pub mod servers;
pub mod tls_profile;
pub mod versus_wrk;
pub mod wrk;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use loadgen::result::RunResult;

use crate::error::BenchError;
use crate::probe::Target;
use crate::process::{Pinning, Proc, Side, Supervisor};
use crate::python::Python;
use crate::roster::{Roster, Server};

/// The upstream delay of the benchmarks beside the run, ms: the original experiment's 1 s.
pub const DELAY_MS: u64 = 1000;
/// Upstream calls per /multiple request: the run's.
pub const FANOUT: u32 = crate::plan::FANOUT;
/// The equal open-loop load of `bench cpu` and `bench tls-profile`: a rate every server
/// holds (a pool of 256 threads at most 256 a second against a 1 s upstream) ...
pub const EQUAL_RATE: u64 = 200;
/// ... over this many connections.
pub const EQUAL_CONNECTIONS: u64 = 256;

/// `--servers LIST`, and the roster it picks from.
#[derive(Debug, Clone, Args)]
pub struct ServerList {
    /// Comma-separated servers of servers/roster.toml [each benchmark's own set, in its help]
    #[arg(long, value_name = "LIST")]
    pub servers: Option<String>,
}

impl ServerList {
    /// The servers named, or `default` (the roster's servers that `default` keeps).
    pub fn pick(&self, roster: &Roster, default: impl Fn(&Server) -> bool) -> Result<Vec<Server>, BenchError> {
        match &self.servers {
            Some(list) => Ok(roster
                .pick(list)
                .map_err(|e| BenchError::Usage(format!("--servers {e}")))?
                .into_iter()
                .cloned()
                .collect()),
            None => Ok(roster.servers().iter().filter(|s| default(s)).cloned().collect()),
        }
    }
}

/// A benchmark's processes and where they run.
pub struct Lab {
    root: PathBuf,
    supervisor: Supervisor,
    pinning: Pinning,
    logs: tempfile::TempDir,
    fd_limit: u64,
    python: Python,
}

/// A gosleep the lab started.
pub struct Upstream {
    proc: Proc,
    /// Where it answers.
    pub target: Target,
    /// Its CA (https only), for the servers' `--upstream-ca`.
    pub ca: Option<PathBuf>,
}

/// A server the lab started.
pub struct Running {
    proc: Proc,
    /// Where it answers.
    pub target: Target,
}

/// The counters of the gosleep at `target`: its `/stats`, as gosleep's own type.
pub fn gosleep_stats(target: &Target) -> Result<::gosleep::Stats, BenchError> {
    let a = target.get("/stats").map_err(|e| BenchError::Io(format!("gosleep /stats: {e}")))?;
    serde_json::from_str(&a.body).map_err(|e| BenchError::Io(format!("gosleep /stats: {e}")))
}

impl Lab {
    /// The fd limit raised, the release build, the Python venv when a server needs it,
    /// the pinning, and a stop signal stopping every process started.
    pub fn new(root: &Path, servers: &[Server]) -> Result<Self, BenchError> {
        build(root)?;
        // Progress on stderr: stdout is the report's.
        let python = Python::prepare(root, servers.iter().any(Server::python), &|line| eprintln!("{line}"))?;
        if let Some(why) = python.unavailable() {
            return Err(BenchError::Python(why.to_owned()));
        }
        Self::open(root, python)
    }

    /// The fd limit raised, the pinning, and a stop signal stopping every process started,
    /// over a build made and a Python venv prepared (or not) already: what `bench run`,
    /// which skips the Python cells where there is no python3, starts from.
    pub fn open(root: &Path, python: Python) -> Result<Self, BenchError> {
        let fd_limit = bench_sys::raise_fd_limit()?;
        let supervisor = Supervisor::default();
        supervisor.on_signals()?;
        let logs = tempfile::Builder::new().prefix("bench-lab-").tempdir()?;
        Ok(Self { root: root.to_owned(), supervisor, pinning: Pinning::detect(), logs, fd_limit, python })
    }

    /// Where the processes run, in the run record's words.
    pub fn pinning(&self) -> String {
        self.pinning.describe()
    }

    /// Whether the Python servers can run, and their versions.
    pub fn python(&self) -> &Python {
        &self.python
    }

    /// The Python interpreter's and frameworks' versions (python/setup.sh --versions), when
    /// a Python server is among the lab's.
    pub fn python_versions(&self) -> Option<&str> {
        self.python.versions()
    }

    /// The soft fd limit, raised to the hard one.
    pub fn fd_limit(&self) -> u64 {
        self.fd_limit
    }

    /// "server on taskset -c 0, gosleep and the load on taskset -c 1", for a report's header.
    pub fn sides(&self) -> (&'static str, &'static str) {
        (self.pin(Side::Server).unwrap_or("no pinning"), self.pin(Side::Client).unwrap_or("no pinning"))
    }

    /// How `side` is pinned ("taskset -c 0"), or `None` where nothing is.
    pub fn pin(&self, side: Side) -> Option<&'static str> {
        match (self.pinning, side) {
            (Pinning::Split, Side::Server) => Some("taskset -c 0"),
            (Pinning::Split, Side::Client) => Some("taskset -c 1"),
            (Pinning::None { .. }, _) => None,
        }
    }

    /// A directory of the lab's for files a benchmark makes (certificates, a build),
    /// removed with the lab.
    pub fn scratch(&self) -> &Path {
        self.logs.path()
    }

    /// gosleep at `delay_ms`, one thread, on the client core; over TLS with a CA of its own
    /// when `tls`.
    pub fn upstream(&self, delay_ms: u64, tls: bool) -> Result<Upstream, BenchError> {
        self.gosleep(Side::Client, Some(delay_ms), tls)
    }

    /// gosleep as the measured target itself: one thread alone on the server core, at its
    /// default delay (a load asks `/sleep?ms=N` for its own); over TLS as [`Lab::upstream`].
    pub fn target(&self, tls: bool) -> Result<Upstream, BenchError> {
        self.gosleep(Side::Server, None, tls)
    }

    fn gosleep(&self, side: Side, delay_ms: Option<u64>, tls: bool) -> Result<Upstream, BenchError> {
        let mut command = self.pinning.command(side, &self.root.join("target/release/gosleep"));
        command.args(["--listen", "127.0.0.1:0", "--threads", "1"]);
        if let Some(delay) = delay_ms {
            command.args(["--delay-ms", &delay.to_string()]);
        }
        let ca = tls.then(|| self.logs.path().join("upstream-ca.pem"));
        if let Some(ca) = &ca {
            command.arg("--tls-self-signed").arg(ca);
        }
        let name = if tls { "gosleep-tls" } else { "gosleep" };
        let log = self.logs.path().join(format!("{name}.out"));
        let (proc, target) = Proc::start(name, command, &log, &self.supervisor, ca.as_deref())?;
        Ok(Upstream { proc, target, ca })
    }

    /// `server` on the server core against `upstream`, with `--threads threads` and `flags`.
    pub fn server(
        &self,
        server: &Server,
        upstream: &Upstream,
        threads: usize,
        flags: &[&str],
    ) -> Result<Running, BenchError> {
        let mut command = self.pinning.command(Side::Server, &server.binary(&self.root));
        command.args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream.target.url(),
            "--threads",
            &threads.to_string(),
        ]);
        command.args(flags);
        if let Some(ca) = &upstream.ca {
            command.arg("--upstream-ca").arg(ca);
        }
        self.listen(&format!("server-{}", server.name), command, None)
    }

    /// Starts `command`, a program that prints "listening on URL" and answers `/health`
    /// (over TLS trusting `trust` for an https:// URL), as a process of the lab's.
    pub fn listen(&self, name: &str, command: Command, trust: Option<&Path>) -> Result<Running, BenchError> {
        let log = self.logs.path().join(format!("{name}.out"));
        let (proc, target) = Proc::start(name, command, &log, &self.supervisor, trust)?;
        Ok(Running { proc, target })
    }

    /// A command on the client core: `program` under target/release, or a tool on PATH.
    pub fn client(&self, program: &str) -> Command {
        self.command(Some(Side::Client), program)
    }

    /// A command on `side`'s core, or on any core for `None` (a run that shares the cores
    /// as a user's would): `program` under target/release, a path, or a tool on PATH.
    pub fn command(&self, side: Option<Side>, program: impl AsRef<Path>) -> Command {
        let built = self.root.join("target/release").join(program.as_ref());
        let program = if built.is_file() { built.as_path() } else { program.as_ref() };
        match side {
            Some(side) => self.pinning.command(side, program),
            None => Command::new(program),
        }
    }

    /// A command running the executable at `path` on the client core.
    pub fn client_at(&self, path: &Path) -> Command {
        self.pinning.command(Side::Client, path)
    }

    /// Its log directory (removed with the lab), for a run's own files.
    pub fn logs(&self) -> &Path {
        self.logs.path()
    }

    /// Runs loadgen with `args` on the client core; its result, also when it exited 1
    /// (a run without a 2xx answer still writes its JSON, whose row shows the errors).
    pub fn loadgen(&self, args: &[String]) -> Result<RunResult, BenchError> {
        let json = self.logs.path().join("loadgen.json");
        let _ = std::fs::remove_file(&json);
        let mut command = self.client("loadgen");
        command.args(args).arg("--json").arg(&json);
        let log = self.logs.path().join("loadgen.out");
        let mut proc = Proc::spawn("loadgen", command, &log, &self.supervisor)?;
        let status = proc.wait()?;
        let text = std::fs::read_to_string(&json).map_err(|_| {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            BenchError::Io(format!("loadgen wrote no result ({status}): {}", said.trim_end()))
        })?;
        serde_json::from_str(&text).map_err(|e| BenchError::Io(format!("loadgen's result: {e}")))
    }

    /// A cgroup with a CPU quota of `cores`, removed with it (and by a stop signal).
    pub fn quota(&self, cores: f64) -> Result<crate::quota::Quota, String> {
        let quota = crate::quota::Quota::new(cores)?;
        self.supervisor.own_cgroup(Some(quota.dir().to_owned()));
        Ok(quota)
    }

    /// Spawns a process the lab owns (stopped with the lab).
    pub fn spawn(&self, name: &str, command: Command) -> Result<Proc, BenchError> {
        self.spawn_into(name, command, &self.logs.path().join(format!("{name}.out")))
    }

    /// Spawns a process the lab owns, its output into `log` (a file the caller keeps).
    pub fn spawn_into(&self, name: &str, command: Command, log: &Path) -> Result<Proc, BenchError> {
        Proc::spawn(name, command, log, &self.supervisor)
    }
}

impl Upstream {
    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Its counters.
    pub fn stats(&self) -> Result<::gosleep::Stats, BenchError> {
        gosleep_stats(&self.target)
    }

    /// Zeroes its counters.
    pub fn reset(&self) -> Result<(), BenchError> {
        match self.target.post("/stats/reset") {
            Ok(a) if a.status == 200 => Ok(()),
            Ok(a) => Err(BenchError::Io(format!("gosleep /stats/reset answered {}", a.status))),
            Err(e) => Err(BenchError::Io(format!("gosleep /stats/reset: {e}"))),
        }
    }

    /// Stops it.
    pub fn stop(self) {
        if let Some(said) = self.proc.stop() {
            eprintln!("{said}");
        }
    }
}

/// loadgen's flags for an open-loop run: `rate` requests/s over `conns` connections, one
/// thread, `warmup` s then `secs` s recorded, against `server`'s `path` with its CPU sampled.
pub fn open_loop(conns: u64, rate: u64, warmup: u64, secs: u64, server: &Running, path: &str) -> Vec<String> {
    let flags = [
        "-c",
        &conns.to_string(),
        "-t",
        "1",
        "--rate",
        &rate.to_string(),
        "--warmup",
        &format!("{warmup}s"),
        "-d",
        &format!("{secs}s"),
        "--timeout",
        "10s",
        "--server-pid",
        &server.pid().to_string(),
    ]
    .map(str::to_owned);
    flags.into_iter().chain(std::iter::once(server.url(path))).collect()
}

impl Running {
    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// `http://HOST:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.target.url())
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        self.proc.alive()
    }

    /// How it ended, if it has.
    pub fn ended(&mut self) -> Option<String> {
        self.proc.ended()
    }

    /// SIGTERM and wait: `None` when it exited 0, else what happened.
    pub fn stop(self) -> Option<String> {
        self.proc.stop()
    }
}

/// The release build of the whole workspace, which every benchmark measures.
pub fn build(root: &Path) -> Result<(), BenchError> {
    let built = Command::new("cargo").args(["build", "--release", "--workspace"]).current_dir(root).status()?;
    if built.success() { Ok(()) } else { Err(BenchError::Build(built.to_string())) }
}

/// "2 cores, AMD EPYC, Linux 6.18, 23 GiB, wrk 4.1.0": the machine and tools, for a header.
pub fn machine_line() -> String {
    let m = crate::machine::this_machine();
    let wrk = Command::new("wrk")
        .arg("-v")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr))
        .and_then(|t| t.lines().next().map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ")))
        .map(|w| format!(", {w}"))
        .unwrap_or_default();
    format!("{} cores, {}, {}, {} GiB{wrk}", m.cores, m.cpu, m.kernel, m.memory_gib)
}

/// "--threads: rouille 256, axum 1", for a header.
pub fn threads_line(servers: &[Server]) -> String {
    let each: Vec<String> = servers.iter().map(|s| format!("{} {}", s.name, s.threads)).collect();
    format!("--threads: {}", each.join(", "))
}

/// The median of `values`, with their smallest and largest; `None` for none.
pub fn median(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mid = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    Some((mid, v[0], v[n - 1]))
}

/// Microseconds as milliseconds with one decimal.
pub fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// "none", or a run's errors by kind, for a table cell.
pub fn errors(result: &RunResult) -> String {
    if result.errors.total() == 0 { "none".to_owned() } else { result.errors.kinds() }
}

/// Installs a missing tool from Debian's package of the same name when root, or says how.
pub fn need(tool: &str) -> Result<(), BenchError> {
    need_package(tool, tool)
}

/// Installs `package` for a missing `tool` (`go` comes in `golang-go`) when root, or says how.
pub fn need_package(tool: &str, package: &str) -> Result<(), BenchError> {
    let there = |t: &str| {
        Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success())
    };
    if there(tool) {
        return Ok(());
    }
    let apt = |args: &[&str]| Command::new("apt-get").args(args).output().is_ok_and(|o| o.status.success());
    if !(apt(&["install", "-y", "-qq", package])
        || (apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", package])))
        || !there(tool)
    {
        return Err(BenchError::Start(format!("{tool} not found (Debian: apt-get install {package}, as root)")));
    }
    Ok(())
}

/// The date line of a report: `2026-12-08 01:23 UTC`.
pub fn now() -> String {
    crate::clock::utc_minute()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN]), None);
    }
}
