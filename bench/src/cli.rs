//! bench's command line: `run` (`./run_all.sh`'s flags), `report`, `field` and `roster`.

use std::path::PathBuf;

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::plan::{CAPACITY_DELAY_MS, CAPACITY_QUOTA, CapacitySettings, FANOUT, FULL, QUICK, Settings};
use crate::roster::Roster;
use crate::values::{cores, positive_integer, positive_seconds};

/// The benchmark's runner: `bench run` is `./run_all.sh`.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Builds the workspace (release), measures every server in the four cells of the
    /// original experiment (connections reused or not x /single or /multiple) against
    /// gosleep, then searches each server's capacity, and renders results.md and its
    /// charts. `./run_all.sh FLAGS` runs it.
    #[command(override_usage = "./run_all.sh [FLAG]...   (the same as: bench run [FLAG]...)", after_help = RUN_AFTER_HELP)]
    Run(RunArgs),
    /// Render a run's directory (`DIR/run.json` plus one result file per cell) into the
    /// Markdown tables of DIR/results.md (or `--output`) and SVG charts next to it (same
    /// path, `.svg`). Unmeasured cells show "—" and the reason; impossible ones (over
    /// Little's bound, or mostly errors) show "invalid" and the reason, and make the
    /// command exit 1 after writing.
    Report {
        /// The run's directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The Markdown file to write [default: DIR/results.md]; the charts go next to it,
        /// same stem: `.svg`, and `-capacity.svg` when the run made capacity searches.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print values of a JSON file, one a line, by path (`latency_summary.p99_us`; an
    /// array item by its index: `thread_rps.0`), or a figure derived from a loadgen run's
    /// result (`cpu_per_1k_requests`, `non_2xx`, `socket_errors`); a missing path exits 1.
    /// Strings print as they are, null as `null`, objects and arrays as JSON.
    Field {
        /// A JSON file (a loadgen `--json`, a capacity search's, a run.json); `-` reads
        /// standard input.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// What to print, one line each.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// The servers under the slow-upstream load, measured with wrk, as Markdown tables
    /// (docs/benchmarks/servers.md).
    Servers(crate::lab::servers::ServersArgs),
    /// Server CPU per proxied request, every server under the same open-loop load, in
    /// rounds; with --tls over HTTP and HTTPS back to back.
    Cpu(crate::lab::cpu::CpuArgs),
    /// The servers' latency under an open-loop load at 95% of Little's bound.
    Latency(crate::lab::latency::LatencyArgs),
    /// How long each server takes to serve again after an overload, and the upstream work
    /// it does for clients that have gone.
    Recovery(crate::lab::recovery::RecoveryArgs),
    /// Make a complete run the repository's published results: its results.md and charts
    /// copied over the ones at the top of the repository (a run with a failed or invalid
    /// cell, or cut short, is refused). Then review with `git diff --stat` and commit them.
    Publish {
        /// The run's directory [results/latest]
        #[arg(value_name = "RUN_DIR")]
        run: Option<PathBuf>,
        /// Where to publish [the repository's top directory]
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
    /// Where each server's CPU for a not-reused HTTPS upstream call goes, by perf: crypto,
    /// kernel, allocator, rustls, TLS glue, the rest.
    TlsProfile(crate::lab::tls_profile::TlsProfileArgs),
    /// A CPU-bound capacity of a run against the server's CPU cost per request, measured at
    /// half that capacity in the run's own set-up.
    CapacityCheck(crate::lab::capacity_check::CapacityCheckArgs),
    /// Is gosleep ever the bottleneck? gosleep measured as the server, beside a minimal Go
    /// net/http twin: many 1 s sleepers, raw speed at ms=0; with --tls, HTTPS instead.
    Gosleep(crate::lab::gosleep::GosleepArgs),
    /// gosleep's CPU per request over HTTPS next to plain HTTP, keep-alive and a connection
    /// per request (resumed or full handshakes), at fixed open-loop rates.
    GosleepTlsCpu(crate::lab::gosleep_tls_cpu::GosleepTlsCpuArgs),
    /// Is loadgen as fast as wrk? Both against one target (gosleep, ms=0, alone on the
    /// server core), runs alternated: requests/s, the client's own CPU per request (user and
    /// kernel), and whether the target bound the run.
    Loadgen(crate::lab::versus_wrk::VersusWrkArgs),
    /// server-flask against its Little's bound min(C, T) / D, per pool size T, /single
    /// with upstream connections reused and not (sets up python/.venv).
    FlaskBound(crate::lab::flask_bound::FlaskBoundArgs),
    /// The servers of servers/roster.toml whose columns match every COLUMN=VALUE (e.g.
    /// `runs=python`, `default=yes`), space-separated in roster order.
    Roster {
        /// COLUMN=VALUE filters.
        #[arg(value_name = "COLUMN=VALUE")]
        filters: Vec<String>,
    },
}

/// What `./run_all.sh --help` says after the flags.
const RUN_AFTER_HELP: &str = "\
Output: DIR/run.json (the run's record), DIR/<cell>.json and .txt per cell (loadgen's
result and log; an HTTPS cell's name starts with https-, and its DIR/<cell>.upstream.json
holds gosleep's counters over its window), DIR/results.md and its charts. results/latest
points at the newest run under results/. To publish a run afterwards:
target/release/bench publish [RUN_DIR] (results/latest by default).

Exit status: 0 when every cell was measured and valid; 1 when a cell failed or was not
a valid result, no cell was measured, or the upstream died (the run stops at once);
2 for a bad flag or value.";

/// `./run_all.sh`'s flags.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A smoke run of everything in about 3 minutes: 100 connections, 1 s + 2 s cells, a
    /// 200 ms upstream, pools of 64 threads, capacity steps of 0.2 s + 0.5 s (a flag given
    /// beside it wins)
    #[arg(long)]
    pub quick: bool,
    /// Comma-separated, from the roster (set at run time)
    #[arg(long, value_name = "LIST")]
    pub servers: Option<String>,
    /// Add the Python baselines (python/) to the servers; python/setup.sh makes
    /// python/.venv (PyPI) the first time, and without a usable python3 their cells are
    /// skipped, with the reason in results.md
    #[arg(long)]
    pub python: bool,
    /// Connections per table cell [1000; --quick 100]
    #[arg(long, value_name = "N", value_parser = positive_integer)]
    pub connections: Option<u64>,
    /// Recorded seconds per table cell, after 2 s of warm-up (--quick: 1 s) [5; --quick 2]
    #[arg(long, value_name = "S", value_parser = positive_integer)]
    pub duration: Option<u64>,
    /// gosleep's delay for the tables, ms [1000; --quick 200]
    #[arg(long, value_name = "D", value_parser = positive_integer)]
    pub delay_ms: Option<u64>,
    /// Upstream calls per /multiple request [default: 5]
    #[arg(long, value_name = "N", value_parser = positive_integer)]
    pub fanout: Option<u64>,
    /// Run every table and search a second time against gosleep over HTTPS (rustls; a CA
    /// made for the run, trusted by the servers alone), with the upstream's TLS handshakes
    /// per request: twice the cells and searches
    #[arg(long)]
    pub tls: bool,
    /// Skip the capacity searches
    #[arg(long)]
    pub no_capacity: bool,
    /// gosleep's delay for the capacity searches, ms [default: 100]
    #[arg(long, value_name = "D", value_parser = positive_integer)]
    pub capacity_delay_ms: Option<u64>,
    /// CPU quota per server during its searches; 0 for none [0.5]
    #[arg(long, value_name = "CORES", value_parser = cores, allow_negative_numbers = true)]
    pub capacity_quota: Option<f64>,
    /// Recorded seconds per search step, after 0.25 s of warm-up; longer is firmer near
    /// the knee, about 20 s more per search per added second [1; --quick 0.5]
    #[arg(long, value_name = "S", value_parser = positive_seconds)]
    pub capacity_window: Option<f64>,
    /// Write the run into DIR instead of `results/<UTC date-time>/` (results/latest then
    /// stays where it was)
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// When the run is complete (every cell measured and valid), copy its results.md and
    /// charts over the repository's; without it the repository's files are never touched
    #[arg(long)]
    pub publish: bool,
}

/// A positive integer written plainly (no sign, no leading 0), for a flag's value.
impl RunArgs {
    /// The run's settings: the flags given, over `--quick`'s presets or the defaults.
    pub fn settings(&self, roster: &Roster) -> Result<Settings, String> {
        let preset = if self.quick { QUICK } else { FULL };
        let mut servers: Vec<_> = match &self.servers {
            Some(list) => roster.pick(list).map_err(|e| format!("--servers {e}"))?.into_iter().cloned().collect(),
            None => roster.servers().iter().filter(|s| s.default).cloned().collect(),
        };
        if self.python {
            for s in roster.servers().iter().filter(|s| s.python()) {
                if !servers.iter().any(|t| t.name == s.name) {
                    servers.push(s.clone());
                }
            }
        }
        let narrow = |v: u64, flag: &str| u32::try_from(v).map_err(|_| format!("{flag} {v} is too large"));
        Ok(Settings {
            servers,
            connections: self.connections.unwrap_or(preset.connections),
            duration_s: self.duration.map_or(Ok(preset.duration_s), |d| narrow(d, "--duration"))?,
            warmup_s: preset.warmup_s,
            delay_ms: self.delay_ms.unwrap_or(preset.delay_ms),
            fanout: self.fanout.map_or(Ok(FANOUT), |f| narrow(f, "--fanout"))?,
            tls: self.tls,
            capacity: (!self.no_capacity).then(|| CapacitySettings {
                delay_ms: self.capacity_delay_ms.unwrap_or(CAPACITY_DELAY_MS),
                quota_cores: self.capacity_quota.unwrap_or(CAPACITY_QUOTA),
                warmup_s: preset.capacity_warmup_s,
                window_s: self.capacity_window.unwrap_or(preset.capacity_window_s),
            }),
            pool_override: preset.pool_override,
            output: self.output.clone(),
            publish: self.publish,
        })
    }
}

/// Parses `args` (without the program's name), the roster's servers named in `run`'s help.
pub fn parse(roster: &Roster, args: &[String]) -> Result<Cli, clap::Error> {
    let default: Vec<&str> = roster.servers().iter().filter(|s| s.default).map(|s| s.name.as_str()).collect();
    let help = format!("Comma-separated, from: {} [{}; the others run when named]", roster.names(), default.join(","));
    let command = Cli::command().mut_subcommand("run", |c| c.mut_arg("servers", |a| a.help(help)));
    let matches = command.try_get_matches_from(std::iter::once("bench".to_owned()).chain(args.iter().cloned()))?;
    Cli::from_arg_matches(&matches)
}

/// A clap error as one line: "--duration takes a positive integer, not 0", "--servers
/// needs a value", "unknown argument --bogus".
pub fn usage_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    // "--servers <LIST>" -> "--servers".
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.split(' ').next().unwrap_or(arg).to_owned(),
        _ => String::new(),
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => v.clone(),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::UnknownArgument => format!("unknown argument {flag}"),
        ErrorKind::InvalidValue if value.is_empty() => format!("{flag} needs a value"),
        ErrorKind::ValueValidation => match std::error::Error::source(e) {
            Some(why) => format!("{flag} {why}"),
            None => format!("{flag}: invalid value {value}"),
        },
        _ => e.to_string().lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_owned(),
    }
}

/// A flag written `--flag=value`: the run's flags take their values as the next word, as
/// the shell script's did, so this is an unknown argument, not a value.
pub fn glued(args: &[String]) -> Option<&String> {
    args.iter().find(|a| a.starts_with("--") && a.contains('='))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn roster() -> Roster {
        Roster::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))).unwrap()
    }

    fn run_error(args: &[&str]) -> String {
        let mut all = vec!["run".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        match parse(&roster(), &all) {
            Ok(Cli { command: Command::Run(run) }) => run.settings(&roster()).expect_err("a bad value"),
            Ok(other) => panic!("not run: {other:?}"),
            Err(e) => usage_line(&e),
        }
    }

    #[test]
    fn a_bad_flag_or_value_is_named_in_one_line() {
        assert_eq!(run_error(&["--servers"]), "--servers needs a value");
        assert_eq!(run_error(&["--connections", "--quick"]), "--connections needs a value");
        assert_eq!(run_error(&["--duration", "0"]), "--duration takes a positive integer, not 0");
        assert!(
            run_error(&["--capacity-window", "0"]).starts_with("--capacity-window takes a positive number of seconds")
        );
        assert!(run_error(&["--capacity-quota", "-1"]).contains("--capacity-quota"));
        assert_eq!(run_error(&["--bogus"]), "unknown argument --bogus");
        assert!(run_error(&["--servers", "axum,"]).starts_with("--servers axum, has an empty or malformed name"));
        assert!(run_error(&["--servers", "nginx"]).starts_with("--servers unknown server nginx"));
        assert_eq!(glued(&["--quick".to_owned(), "--tls=1".to_owned()]).map(String::as_str), Some("--tls=1"));
    }

    fn settings(args: &[&str]) -> Settings {
        let mut all = vec!["run".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let Ok(Cli { command: Command::Run(run) }) = parse(&roster(), &all) else { panic!("not run") };
        run.settings(&roster()).unwrap()
    }

    #[test]
    fn quick_sets_its_presets_and_a_flag_given_wins() {
        let s = settings(&["--quick", "--connections", "30"]);
        assert_eq!((s.connections, s.duration_s, s.warmup_s, s.delay_ms), (30, 2, 1, 200));
        assert_eq!(s.capacity.unwrap().window_s, 0.5);
        let s = settings(&[]);
        assert_eq!((s.connections, s.duration_s, s.warmup_s, s.delay_ms, s.fanout), (1000, 5, 2, 1000, 5));
        assert_eq!(
            s.servers.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            ["rouille", "axum", "actix", "warp", "hyper"]
        );
        assert!(settings(&["--no-capacity"]).capacity.is_none());
    }

    #[test]
    fn python_adds_the_baselines_once_after_the_servers_named() {
        let s = settings(&["--servers", "hyper,flask", "--python"]);
        let names: Vec<_> = s.servers.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["hyper", "flask", "starlette", "tornado"]);
    }

    #[test]
    fn the_help_offers_the_rosters_servers() {
        let e = parse(&roster(), &["run".to_owned(), "--help".to_owned()]).unwrap_err();
        let help = e.to_string();
        assert!(help.contains(&format!("from: {}", roster().names())), "{help}");
        assert!(help.contains("--connections <N>"), "{help}");
    }
}
