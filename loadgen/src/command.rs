//! loadgen's command line: a load run (wrk's flags, [`crate::cli::RunOpts`]) or one of the
//! other tasks. It names every subcommand's options, so it sits above all of them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cli::{CapacityOpts, RunOpts};

/// A wrk-compatible HTTP/1.1 (and HTTPS) load generator that measures honestly: HDR-histogram
/// percentiles, open-loop `--rate` with coordinated-omission correction, errors by kind,
/// and the server's CPU and memory sampled from /proc. A run with no 2xx answer in its
/// window prints its report and writes its `--json`, then exits 1: it measured nothing.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    /// The load run (when no subcommand is given).
    #[command(flatten)]
    pub run: RunOpts,

    /// Other tasks.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Merge result files (`--json`) of runs made at the same time from several machines:
    /// sums counts and errors, merges the latency histograms, prints the merged report.
    /// One run given twice (the same file under two names, or a copy of its record) is
    /// refused (exit 2), and so is a file with an impossible figure, e.g. a negative window.
    Merge {
        /// Result files written by `--json`.
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
        /// Write the merged result here as JSON too.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Find the server's capacity: the highest open-loop rate it answers within a p99
    /// latency SLO (`--slo-p99`, or twice the first, light step's p50), with no errors. Rates
    /// rise geometrically from `--start-rate`, then bisect; each step is an open-loop run
    /// (`-d` recorded after `--warmup`) on connections sized from the rate and the SLO.
    /// Prints one line per step and a verdict naming what bound it (cpu, pool, concurrency,
    /// fd budget, client, max rate); exits 1 when even the first step fails.
    Capacity(Box<CapacityOpts>),
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn wrk_style_command_lines_parse() {
        let cli = Cli::parse_from([
            "loadgen",
            "-c",
            "1000",
            "-t",
            "2",
            "-d",
            "30s",
            "--timeout",
            "30s",
            "--latency",
            "-H",
            "A: b",
            "http://127.0.0.1:8080/single",
        ]);
        let run = cli.run;
        assert_eq!((run.connections, run.threads, run.duration), (1000, 2, Duration::from_secs(30)));
        assert!(run.latency && cli.command.is_none());
        assert_eq!(run.url.as_deref(), Some("http://127.0.0.1:8080/single"));
        let cli = Cli::parse_from(["loadgen", "merge", "a.json", "b.json"]);
        assert!(matches!(cli.command, Some(Command::Merge { .. })));
    }

    #[test]
    fn a_bare_capacity_url_gets_the_documented_defaults() {
        let cli = Cli::parse_from(["loadgen", "capacity", "http://127.0.0.1:8080/single"]);
        let Some(Command::Capacity(o)) = cli.command else { panic!("not capacity: {cli:?}") };
        assert_eq!((o.slo_p99, o.start_rate, o.max_rate, o.factor, o.precision), (None, 100.0, 1e6, 2.0, 0.0905));
        assert_eq!((o.duration, o.warmup, o.threads), (Duration::from_secs(3), Duration::from_secs(1), 1));
        assert_eq!((o.server_pid, o.upstream_pid, o.pool, o.max_connections), (None, None, None, None));
        let cli = Cli::parse_from([
            "loadgen",
            "capacity",
            "--slo-p99",
            "200ms",
            "--pool",
            "64",
            "--upstream-pid",
            "7",
            "-H",
            "A: b",
            "http://127.0.0.1:8080/single",
        ]);
        let Some(Command::Capacity(o)) = cli.command else { panic!("not capacity") };
        assert_eq!((o.slo_p99, o.pool, o.upstream_pid), (Some(Duration::from_millis(200)), Some(64), Some(7)));
        assert_eq!(o.headers, [("A".to_owned(), "b".to_owned())]);
    }
}
