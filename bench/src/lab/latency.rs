//! `bench latency`: the servers' latency under an open-loop load, measured by loadgen.
//! `bench servers` (wrk, closed loop) starts every connection at once, so requests arrive
//! in waves and p99 measures how fast a wave is cleared. Here loadgen sends at a constant
//! total rate (spread evenly over the connections, latency counted from each request's
//! intended send time), after a warm-up, so p99 is the latency a steady stream of clients
//! sees. /single, reuse, upstream delay 1000 ms, at 95% of Little's bound C / D.

use std::fmt::Write as _;
use std::path::Path;

use clap::Args;

use super::{DELAY_MS, Lab, ServerList, errors, machine_line, ms, now, threads_line};
use crate::error::BenchError;
use crate::roster::{Model, Roster, Runs};

/// `bench latency`'s flags.
#[derive(Debug, Clone, Args)]
pub struct LatencyArgs {
    /// 500 connections, 5 s after 2 s of warm-up [2,000, 20 s after 3 s]; the servers by
    /// default: the roster's async Rust servers
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub list: ServerList,
}

/// Runs each server and prints the table.
pub fn run(root: &Path, roster: &Roster, args: &LatencyArgs, command: &str) -> Result<(), BenchError> {
    let servers = args.list.pick(roster, |s| s.runs == Runs::Rust && s.model == Model::Async)?;
    let (conns, secs, warmup) = if args.quick { (500u64, 5, 2) } else { (2000, 20, 3) };
    let rate = conns * 95 / 100;
    let lab = Lab::new(root, &servers)?;
    let upstream = lab.upstream(DELAY_MS, false)?;
    let (server_side, client_side) = lab.sides();
    let mut out = String::new();
    let _ = writeln!(out, "# Server latency, open loop\n\nMachine: {}.", machine_line());
    let _ = writeln!(
        out,
        "Command: `{command}` on {}; /single, reuse, upstream delay {DELAY_MS} ms, {conns} connections at {rate} requests/s (95% of C/D), {warmup} s warm-up then {secs} s recorded; server ({}) on {server_side}, gosleep and loadgen 1 thread each on {client_side}.\n",
        now(),
        threads_line(&servers)
    );
    let _ =
        writeln!(out, "| server | requests/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU % |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in &servers {
        eprintln!("{}: {rate} requests/s over {conns} connections, {warmup} s + {secs} s", s.name);
        let server = lab.server(s, &upstream, s.threads.get(), &[])?;
        let args = super::open_loop(conns, rate, warmup, secs, &server, "single");
        let result = lab.loadgen(&args);
        if let Some(said) = server.stop() {
            eprintln!("{said}");
        }
        let r = result?;
        let l = &r.latency_summary;
        let cpu = r.server.as_ref().map_or_else(|| "—".to_owned(), |s| format!("{:.0}%", s.cpu_percent));
        let _ = writeln!(
            out,
            "| {} | {:.2} | {} | {} | {} | {} | {} | {} | {cpu} |",
            s.name,
            r.rps(),
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.p99_9_us),
            ms(l.max_us),
            errors(&r)
        );
    }
    upstream.stop();
    print!("{out}");
    Ok(())
}
