//! `bench flask-bound`: server-flask against its Little's bound. A thread-per-request
//! server with a pool of T threads holds at most min(C, T) requests in flight, so against
//! an upstream of D seconds it can answer at most min(C, T) / D requests/s; this measures
//! how close Flask under gunicorn's gthread worker comes, per pool size T, for /single with
//! upstream connections reused and not.
//!
//! Per T and mode: server-flask `--threads T` on the server core, gosleep (1000 ms, one
//! thread) and loadgen (C connections, one thread, closed loop like wrk) on the client
//! core; a warm-up, then the recorded window, with the server's CPU sampled
//! (`--server-pid`: gunicorn's arbiter and its worker). Prints a Markdown table: RPS, the
//! bound, RPS / bound, p99, errors, server CPU. Only 127.0.0.1 is targeted; every run is
//! bounded; every process is stopped by PID.

use std::fmt::Write as _;
use std::path::Path;

use clap::Args;

use super::{DELAY_MS, Lab, errors, machine_line, median, now};
use crate::error::BenchError;
use crate::roster::Roster;
use crate::values::positive_integer;

/// Connections (C).
const CONNECTIONS: usize = 1000;

/// `bench flask-bound`'s flags.
// A flag's default in brackets, [5], is its --help text, not an intra-doc link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, Args)]
pub struct FlaskBoundArgs {
    /// 3 s windows after 1 s of warm-up, one round [10 s after 2 s, 3 rounds]
    #[arg(long)]
    pub quick: bool,
    /// Comma-separated pool sizes [32,64,128,256]
    #[arg(long, value_name = "LIST", value_parser = pools)]
    pub threads: Option<Pools>,
}

/// The pool sizes T of `--threads`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pools(pub Vec<usize>);

fn pools(s: &str) -> Result<Pools, String> {
    let size = |t: &str| positive_integer(t).ok().and_then(|n| usize::try_from(n).ok());
    s.split(',')
        .map(size)
        .collect::<Option<Vec<_>>>()
        .map(Pools)
        .ok_or_else(|| format!("takes pool sizes like 32,64, not {s}"))
}

/// One run.
struct Row {
    reuse: bool,
    threads: usize,
    rps: f64,
    p99_ms: f64,
    errors: String,
    cpu_percent: Option<f64>,
}

/// Runs every round and prints the table.
pub fn run(root: &Path, roster: &Roster, args: &FlaskBoundArgs, command: &str) -> Result<(), BenchError> {
    let flask = roster
        .get("flask")
        .ok_or_else(|| BenchError::Roster("servers/roster.toml has no server named flask".to_owned()))?
        .clone();
    let pools = args.threads.clone().map_or_else(|| vec![32, 64, 128, 256], |p| p.0);
    let (secs, warmup, rounds) = if args.quick { (3, 1, 1) } else { (10, 2, 3) };
    let lab = Lab::new(root, std::slice::from_ref(&flask))?;
    let upstream = lab.upstream(DELAY_MS, false)?;
    let mut rows = Vec::new();
    for round in 1..=rounds {
        for reuse in [true, false] {
            for &t in &pools {
                eprintln!(
                    "round {round}/{rounds}: flask --threads {t} /single {}: {CONNECTIONS} connections, {warmup} s + {secs} s",
                    mode(reuse)
                );
                // As run_all.sh's "not reuse" cells: no keep-alive on either side.
                let flags: &[&str] = if reuse { &[] } else { &["--no-reuse"] };
                let server = lab.server(&flask, &upstream, t, flags)?;
                let mut load: Vec<String> = [
                    "-c",
                    &CONNECTIONS.to_string(),
                    "-t",
                    "1",
                    "-d",
                    &format!("{secs}s"),
                    "--warmup",
                    &format!("{warmup}s"),
                    "--timeout",
                    "30s",
                    "--server-pid",
                    &server.pid().to_string(),
                ]
                .iter()
                .map(|a| (*a).to_owned())
                .collect();
                if !reuse {
                    load.push("--no-keepalive".to_owned());
                }
                load.push(server.url("single"));
                let result = lab.loadgen(&load);
                if let Some(said) = server.stop() {
                    eprintln!("{said}");
                }
                let r = result?;
                rows.push(Row {
                    reuse,
                    threads: t,
                    rps: r.rps(),
                    p99_ms: r.latency_summary.p99_us as f64 / 1000.0,
                    errors: errors(&r),
                    cpu_percent: r.server.map(|s| s.cpu_percent),
                });
            }
        }
    }
    upstream.stop();
    let (server_side, client_side) = lab.sides();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# server-flask against its Little's bound\n\nMachine: {}; {}.",
        machine_line(),
        lab.python_versions().unwrap_or("Python versions unknown")
    );
    let _ = writeln!(
        out,
        "Command: `{command}` on {}; upstream delay {DELAY_MS} ms, /single, {CONNECTIONS} connections, {warmup} s warm-up then {secs} s recorded, rounds: {rounds}; server on {server_side}, gosleep and loadgen on {client_side}.\n",
        now()
    );
    table(&mut out, &pools, &rows);
    print!("{out}");
    Ok(())
}

fn mode(reuse: bool) -> &'static str {
    if reuse { "reuse" } else { "no-reuse" }
}

/// Little's bound for a pool of `threads`: min(C, T) / D requests/s.
fn bound(threads: usize) -> u64 {
    threads.min(CONNECTIONS) as u64 * 1000 / DELAY_MS
}

/// A row per mode and pool size: the rounds' RPS, and the medians against the bound.
fn table(out: &mut String, pools: &[usize], rows: &[Row]) {
    let _ = writeln!(
        out,
        "| mode | --threads T | bound min(C, T) / D | RPS per round | RPS / bound (median) | p99 (median) | errors | server CPU % (median) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---|---:|---:|---|---:|");
    for reuse in [true, false] {
        for &t in pools {
            let mine: Vec<&Row> = rows.iter().filter(|r| r.reuse == reuse && r.threads == t).collect();
            if mine.is_empty() {
                continue;
            }
            let med = |v: Vec<f64>| median(&v).map(|m| m.0);
            let rps = med(mine.iter().map(|r| r.rps).collect()).unwrap_or(0.0);
            let p99 = med(mine.iter().map(|r| r.p99_ms).collect()).unwrap_or(0.0);
            let cpu = med(mine.iter().filter_map(|r| r.cpu_percent).collect())
                .map_or_else(|| "—".to_owned(), |c| format!("{c:.0}%"));
            let errs: Vec<&str> = mine.iter().map(|r| r.errors.as_str()).filter(|e| *e != "none").collect();
            let _ = writeln!(
                out,
                "| {} | {t} | {} | {} | {:.1}% | {p99:.0} ms | {} | {cpu} |",
                mode(reuse),
                bound(t),
                mine.iter().map(|r| format!("{:.2}", r.rps)).collect::<Vec<_>>().join(" "),
                100.0 * rps / bound(t) as f64,
                if errs.is_empty() { "none".to_owned() } else { errs.join("; ") }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_sizes_are_positive_integers_separated_by_commas() {
        assert_eq!(pools("32,64"), Ok(Pools(vec![32, 64])));
        for bad in ["", "32,", ",32", "0", "032", "32 64", "-1", "+3", "x"] {
            assert!(pools(bad).is_err(), "{bad}");
        }
        assert_eq!((bound(64), bound(2000)), (64, 1000));
    }

    #[test]
    fn a_row_gives_every_rounds_rps_and_the_medians() {
        let row = |threads, rps, p99_ms, errors: &str| Row {
            reuse: true,
            threads,
            rps,
            p99_ms,
            errors: errors.to_owned(),
            cpu_percent: Some(rps / 2.0),
        };
        let rows = [row(64, 60.0, 1100.0, "none"), row(64, 62.5, 1300.0, "timeout 3"), row(64, 61.0, 1200.0, "none")];
        let mut out = String::new();
        table(&mut out, &[64, 128], &rows);
        assert!(
            out.ends_with("| reuse | 64 | 64 | 60.00 62.50 61.00 | 95.3% | 1200 ms | timeout 3 | 30% |\n"),
            "{out}"
        );
    }
}
