//! The processes a run starts: each spawned under its core (taskset), its output in a log
//! file, up once it has printed its address and answered `GET /health`; stopped by PID
//! with SIGTERM and waited for. Every one is in the [`Supervisor`]'s list while it runs,
//! so that a stop signal to the runner stops them too, and a `Proc` dropped on any path
//! (an error, a panic) stops its process.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::probe::Target;

/// How long a process may take to print its address and answer `/health`.
const START_LIMIT: Duration = Duration::from_secs(10);
/// How often a start, or a settle, looks again.
const START_POLL: Duration = Duration::from_millis(100);
/// How long a stop signal to the runner waits for its processes to end.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Whether `pid` is a process that has not ended (a zombie has).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s != "Z")))
        .unwrap_or(false)
}

/// The PIDs of every process the run has started and not yet reaped, and the cgroup it
/// made: what a stop signal must clean up.
#[derive(Debug, Clone, Default)]
pub struct Supervisor {
    inner: Arc<Mutex<Owned>>,
}

#[derive(Debug, Default)]
struct Owned {
    pids: BTreeSet<u32>,
    cgroup: Option<PathBuf>,
}

impl Supervisor {
    fn owned(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, pid: u32) {
        self.owned().pids.insert(pid);
    }

    fn forget(&self, pid: u32) {
        self.owned().pids.remove(&pid);
    }

    /// Remembers the cgroup to remove when the run is stopped by a signal.
    pub fn own_cgroup(&self, dir: Option<PathBuf>) {
        self.owned().cgroup = dir;
    }

    /// SIGTERM to every process still listed, then the cgroup removed once they are gone:
    /// what a stop signal to the runner does before it exits.
    pub fn stop_all(&self) {
        let owned = self.owned();
        for pid in &owned.pids {
            signal(*pid, rustix::process::Signal::TERM);
        }
        // Each has stopped once it is a zombie (ours to reap, which exiting does) or gone.
        let deadline = Instant::now() + STOP_LIMIT;
        while owned.pids.iter().any(|pid| running(*pid)) && Instant::now() < deadline {
            std::thread::sleep(START_POLL);
        }
        if let Some(dir) = &owned.cgroup {
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// Catches SIGINT and SIGTERM from now on: each stops every process listed and exits
    /// 130 or 143, as a shell script's traps did.
    pub fn on_signals(&self) -> Result<(), BenchError> {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        let (mut int, mut term) = runtime.block_on(async {
            Ok::<_, std::io::Error>((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
        })?;
        let me = self.clone();
        std::thread::spawn(move || {
            let code = runtime.block_on(async {
                tokio::select! {
                    _ = int.recv() => 130,
                    _ = term.recv() => 143,
                }
            });
            me.stop_all();
            std::process::exit(code);
        });
        Ok(())
    }
}

/// Sends `sig` to `pid`, ignoring a process that has gone.
fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// The cores a run puts its processes on: the measured server alone on one, the load and
/// the upstream on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinning {
    /// Server on core 0, loadgen and gosleep on core 1 (taskset).
    Split,
    /// No pinning: one core, or no taskset.
    None {
        /// The machine's cores.
        cores: usize,
        /// Whether taskset is there.
        taskset: bool,
    },
}

/// Which side of the pinning a process is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The measured server.
    Server,
    /// loadgen and gosleep.
    Client,
}

impl Pinning {
    /// This machine's: split where there are two cores and taskset.
    pub fn detect() -> Self {
        let cores = bench_sys::cpus::available_cpus();
        let taskset = Command::new("taskset").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
        if taskset && cores >= 2 { Self::Split } else { Self::None { cores, taskset } }
    }

    /// The run record's words for it.
    pub fn describe(self) -> String {
        match self {
            Self::Split => "server on core 0; loadgen and gosleep on core 1 (taskset)".to_owned(),
            Self::None { cores, taskset } => {
                format!("none ({cores} core(s){})", if taskset { "" } else { ", no taskset" })
            }
        }
    }

    /// `program args` as a command on `side`'s core.
    pub fn command(self, side: Side, program: &Path) -> Command {
        match self {
            Self::Split => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(if side == Side::Server { "0" } else { "1" }).arg(program);
                c
            }
            Self::None { .. } => Command::new(program),
        }
    }
}

/// A process the run started and owns.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
    supervisor: Supervisor,
    log: PathBuf,
}

impl Proc {
    /// Spawns `command`, its stdout and stderr to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path, supervisor: &Supervisor) -> Result<Self, BenchError> {
        let out = File::create(log).map_err(|e| BenchError::Io(format!("{}: {e}", log.display())))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| BenchError::Start(format!("{name}: {e}")))?;
        supervisor.add(child.id());
        Ok(Self { name: name.to_owned(), child: Some(child), supervisor: supervisor.clone(), log: log.to_owned() })
    }

    /// Spawns a listening process and waits for its "listening on URL" line and for `GET
    /// /health` to answer 200 (over TLS trusting `trust` for an https:// address).
    pub fn start(
        name: &str,
        command: Command,
        log: &Path,
        supervisor: &Supervisor,
        trust: Option<&Path>,
    ) -> Result<(Self, Target), BenchError> {
        let mut proc = Self::spawn(name, command, log, supervisor)?;
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(url) = announced(&std::fs::read_to_string(log).unwrap_or_default()) {
                let target = Target::parse(&url, trust)?;
                if target.get("/health").is_ok_and(|r| r.status == 200) {
                    return Ok((proc, target));
                }
            }
            if !proc.alive() || Instant::now() >= deadline {
                let said = std::fs::read_to_string(log).unwrap_or_default();
                return Err(BenchError::Start(format!("{name} did not come up: {}", said.trim_end())));
            }
            std::thread::sleep(START_POLL);
        }
    }

    /// The process's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Whether it still runs (an ended child is reaped here, its status kept).
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for it to end; it is then reaped, and nothing is left to stop.
    pub fn wait(&mut self) -> Result<ExitStatus, BenchError> {
        let mut child = self.child.take().ok_or_else(|| BenchError::Io(format!("{} was already reaped", self.name)))?;
        let status = child.wait()?;
        self.supervisor.forget(child.id());
        Ok(status)
    }

    /// How it ended, if it has: "exit status N", or the signal.
    pub fn ended(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        Some(describe(status))
    }

    /// SIGTERM, then waits for it. Returns a line to print when it did not exit 0 after
    /// the signal, or had already died.
    pub fn stop(mut self) -> Option<String> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> Option<String> {
        let mut child = self.child.take()?;
        let said = match child.try_wait() {
            Ok(Some(status)) => Some(format!("{} had already died ({})", self.name, describe(status))),
            _ => {
                signal(child.id(), rustix::process::Signal::TERM);
                match child.wait() {
                    Ok(s) if s.success() => None,
                    Ok(s) => Some(format!("{} exited with {} after SIGTERM", self.name, describe(s))),
                    Err(e) => Some(format!("{}: {e}", self.name)),
                }
            }
        };
        self.supervisor.forget(child.id());
        said
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(said) = self.stop_now() {
            eprintln!("{said}");
        }
    }
}

/// "exit status 3", or "killed by signal 9".
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// The URL of the first "listening on http://ADDR" (or https://) line of a log.
fn announced(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let at = line.find("listening on ")? + "listening on ".len();
        let url = line[at..].split_whitespace().next()?;
        (url.starts_with("http://") || url.starts_with("https://")).then(|| url.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_taken_from_the_listening_line() {
        let log = "starting\n2026-12-08 INFO gosleep: listening on http://127.0.0.1:4321 (delay 100 ms)\n";
        assert_eq!(announced(log).as_deref(), Some("http://127.0.0.1:4321"));
        assert_eq!(announced("listening on https://127.0.0.1:9\n").as_deref(), Some("https://127.0.0.1:9"));
        assert_eq!(announced("listening on port 9\n"), None);
        assert_eq!(announced(""), None);
    }

    #[test]
    fn a_dropped_process_is_stopped_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let supervisor = Supervisor::default();
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut proc = Proc::spawn("sleep", command, &dir.path().join("sleep.log"), &supervisor).unwrap();
        let pid = proc.pid();
        assert!(proc.alive());
        assert!(supervisor.owned().pids.contains(&pid));
        drop(proc);
        assert!(supervisor.owned().pids.is_empty(), "forgotten once reaped");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || {
                // The PID may be reused at once on a busy machine: then it is not a sleep of ours.
                std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default() != "sleep\u{0}30\u{0}"
            }
        );
    }

    #[test]
    fn a_process_that_died_says_so_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "exit 3"]);
        let mut proc = Proc::spawn("sh", command, &dir.path().join("sh.log"), &Supervisor::default()).unwrap();
        let status = proc.wait().unwrap();
        assert_eq!(status.code(), Some(3));
        let mut command = Command::new("sh");
        command.args(["-c", "exit 4"]);
        let mut proc = Proc::spawn("sh", command, &dir.path().join("sh.log"), &Supervisor::default()).unwrap();
        while proc.alive() {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(proc.stop().as_deref(), Some("sh had already died (exit status 4)"));
    }
}
