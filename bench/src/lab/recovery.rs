//! `bench recovery`: how long each server takes to serve again after an overload, and how
//! much upstream work it does for clients that have already gone. Per server: a burst of
//! loadgen -c 2000 for 10 s on /multiple?n=64 with loadgen's default 2 s timeout (clients
//! give up, close and send again, as impatient clients do), far past what any server can
//! answer. When loadgen has exited every client is gone; then one GET /health at a time
//! until one answers 200: the recovery time is from loadgen's exit to that answer, at most
//! 120 s (`LIMIT`). Reported: the burst's answers by kind, upstream calls during the burst and
//! after it (work for nobody), the recovery time, peak threads, and whether the server
//! then stopped cleanly on SIGTERM.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;

use super::{Lab, ServerList, machine_line, now, threads_line};
use crate::error::BenchError;
use crate::roster::{Roster, Runs};

/// The upstream's delay during the burst.
const BURST_DELAY_MS: u64 = 200;
/// Upstream calls per request of the burst.
const BURST_FANOUT: u32 = 64;
/// The longest a server may take to answer /health again.
const LIMIT: Duration = Duration::from_secs(120);
/// How often the peak of the server's threads is read during the burst.
const SAMPLE: Duration = Duration::from_millis(200);

/// `bench recovery`'s flags.
#[derive(Debug, Clone, Args)]
pub struct RecoveryArgs {
    /// A 3 s burst of 500 connections [10 s of 2,000]; the servers by default: the roster's
    /// Rust servers
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub list: ServerList,
}

/// Bursts each server and prints the table.
pub fn run(root: &Path, roster: &Roster, args: &RecoveryArgs, command: &str) -> Result<(), BenchError> {
    let servers = args.list.pick(roster, |s| s.runs == Runs::Rust)?;
    let (conns, secs) = if args.quick { (500u64, 3) } else { (2000, 10) };
    let lab = Lab::new(root, &servers)?;
    let upstream = lab.upstream(BURST_DELAY_MS, false)?;
    let (server_side, client_side) = lab.sides();
    let mut out = String::new();
    let _ = writeln!(out, "# Server recovery after an overload\n\nMachine: {}.", machine_line());
    let _ = writeln!(
        out,
        "Command: `{command}` on {}; burst: loadgen -c {conns} -t 1 -d {secs}s (timeout 2 s) on /multiple?n={BURST_FANOUT}, gosleep delay {BURST_DELAY_MS} ms; server on {server_side} ({}), gosleep and loadgen on {client_side}.\n",
        now(),
        threads_line(&servers)
    );
    let _ = writeln!(
        out,
        "| server | burst answers 2xx | non-2xx | socket errors | upstream calls in burst | upstream calls after | peak threads | recovery s | stop |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for s in &servers {
        eprintln!("{}: a burst of {conns} connections for {secs} s", s.name);
        let mut server = lab.server(s, &upstream, s.threads.get(), &[])?;
        upstream.reset()?;
        let json = tempfile::NamedTempFile::new()?;
        let mut load = lab.client("loadgen");
        load.args(["-c", &conns.to_string(), "-t", "1", "-d", &format!("{secs}s"), "--json"]);
        load.arg(json.path()).arg(server.url(&format!("multiple?n={BURST_FANOUT}")));
        let mut loadgen = lab.spawn("loadgen", load)?;
        let threads = |pid| bench_sys::procstat::read(pid).map_or(0, |r| r.threads);
        let mut peak = 0;
        while loadgen.alive() {
            peak = peak.max(threads(server.pid()));
            std::thread::sleep(SAMPLE);
        }
        let gone = Instant::now();
        // Reaped: a burst that ends without a 2xx answer exits 1, and that is its result.
        loadgen.wait()?;
        let calls_burst = upstream.stats()?.requests;
        let recovery = loop {
            peak = peak.max(threads(server.pid()));
            if server.ended().is_some() {
                break "died".to_owned();
            }
            let left = LIMIT.saturating_sub(gone.elapsed());
            if left.is_zero() {
                break format!("> {}", LIMIT.as_secs());
            }
            // One request at a time, each allowed the time left.
            if server.target.get_within("/health", left).is_ok_and(|a| a.status == 200) {
                break format!("{:.1}", gone.elapsed().as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let calls_after = upstream.stats()?.requests.saturating_sub(calls_burst);
        let burst: loadgen::result::RunResult = serde_json::from_str(&std::fs::read_to_string(json.path())?)
            .map_err(|e| BenchError::Io(format!("the burst's result: {e}")))?;
        let non_2xx = burst.errors.non_2xx();
        let codes = if non_2xx > 0 {
            let each: Vec<String> = burst.errors.status.iter().map(|(c, n)| format!("{c}: {n}")).collect();
            format!(" ({})", each.join(", "))
        } else {
            String::new()
        };
        let stop = match server.ended() {
            Some(how) => format!("died ({how})"),
            None => server.stop().unwrap_or_else(|| "exit 0".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {non_2xx}{codes} | {} | {calls_burst} | {calls_after} | {peak} | {recovery} | {stop} |",
            s.name,
            burst.successes(),
            burst.errors.socket()
        );
    }
    upstream.stop();
    print!("{out}");
    Ok(())
}
