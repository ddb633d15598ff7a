//! `bench servers`: the servers under the slow-upstream load, measured with wrk (the
//! original experiment's tool, independent of ours), as Markdown tables. Upstream delay
//! 1000 ms; per server and case one wrk run: /single and /multiple (fanout 5), with
//! upstream reuse (2,000 connections) and with --no-reuse (1,000 connections, a fresh
//! upstream connection per call). The server runs pinned to core 0 with its roster
//! `threads`; gosleep (one thread) and wrk (one thread) share core 1. Reported: RPS,
//! efficiency against Little's bound min(C, T) / D, p50/p99, wrk's errors, server CPU
//! seconds per 1,000 requests and its ratio to server-hyper, peak RSS, upstream calls and
//! connections, TIME_WAIT sockets left after the run.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use clap::Args;

use super::wrk::Wrk;
use super::{DELAY_MS, FANOUT, Lab, ServerList, machine_line, need, now};
use crate::error::BenchError;
use crate::plan::fds_needed;
use crate::roster::{BASE_SERVER, Roster};

/// `bench servers`' flags.
#[derive(Debug, Clone, Args)]
pub struct ServersArgs {
    /// 5 s per run at 500 (reuse) and 200 (no reuse) connections [60 s at 2,000 and 30 s at 1,000]
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub list: ServerList,
}

/// One wrk run's row.
struct Row {
    server: String,
    path: &'static str,
    reuse: bool,
    conns: u64,
    threads: usize,
    wrk: Wrk,
    bound_rps: f64,
    cpu_per_1k: f64,
    rss_mib: u64,
    time_wait: usize,
    up_calls: u64,
    up_conns: u64,
}

/// Runs every case and prints the report.
pub fn run(root: &Path, roster: &Roster, args: &ServersArgs, command: &str) -> Result<(), BenchError> {
    let servers = args.list.pick(roster, |s| s.default)?;
    let (reuse_secs, noreuse_secs, reuse_conns, noreuse_conns) =
        if args.quick { (5, 5, 500, 200) } else { (60, 30, 2000, 1000) };
    need("wrk")?;
    let lab = Lab::new(root, &servers)?;
    let need_fds = fds_needed(reuse_conns, u64::from(FANOUT));
    if lab.fd_limit() < need_fds {
        return Err(BenchError::Start(format!(
            "/multiple at {reuse_conns} connections needs ulimit -n >= {need_fds}, have {}",
            lab.fd_limit()
        )));
    }
    let upstream = lab.upstream(DELAY_MS, false)?;
    let mut rows = Vec::new();
    for s in &servers {
        let threads = s.threads.get();
        for reuse in [true, false] {
            for path in ["single", "multiple"] {
                let (conns, secs) = if reuse { (reuse_conns, reuse_secs) } else { (noreuse_conns, noreuse_secs) };
                eprintln!("{} /{path} {}: {conns} connections, {secs} s", s.name, mode(reuse));
                let fanout = FANOUT.to_string();
                let mut flags = vec!["--fanout", fanout.as_str()];
                if !reuse {
                    flags.push("--no-reuse");
                }
                let server = lab.server(s, &upstream, threads, &flags)?;
                upstream.reset()?;
                let before = bench_sys::procstat::read(server.pid())?;
                let mut wrk = lab.client("wrk");
                wrk.args([
                    "-t",
                    "1",
                    "-c",
                    &conns.to_string(),
                    "-d",
                    &format!("{secs}s"),
                    "--timeout",
                    "10s",
                    "--latency",
                ]);
                wrk.arg(server.url(path));
                let wrk = lab.wrk(wrk);
                let after = bench_sys::procstat::read(server.pid())?;
                if let Some(said) = server.stop() {
                    eprintln!("{said}");
                }
                let wrk = wrk?;
                let stats = upstream.stats()?;
                // Little's law: at most min(C, T) requests wait upstream at once (T: a pool's size).
                let bound = if s.pooled() { conns.min(threads as u64) } else { conns };
                let cpu_s = bench_sys::procstat::ticks_to_seconds(after.cpu_ticks.saturating_sub(before.cpu_ticks));
                rows.push(Row {
                    server: s.name.clone(),
                    path,
                    reuse,
                    conns,
                    threads,
                    bound_rps: bound as f64 * 1000.0 / DELAY_MS as f64,
                    cpu_per_1k: if wrk.totals.requests > 0 { cpu_s / wrk.totals.requests as f64 * 1000.0 } else { 0.0 },
                    rss_mib: after.hwm_kib / 1024,
                    time_wait: time_wait_sockets(),
                    // The connections it opened upstream (less the /stats read's own), and the
                    // calls it made: reuse shows as few connections for many calls.
                    up_conns: stats.connections_accepted.saturating_sub(1),
                    up_calls: stats.requests,
                    wrk,
                });
                // Let TIME_WAIT and the upstream's closed connections settle between runs.
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
    upstream.stop();
    let (server_side, client_side) = lab.sides();
    let mut out = String::new();
    let _ = writeln!(out, "# Server benchmark\n\nMachine: {}.", machine_line());
    let _ = writeln!(out, "Kernel: {}, ulimit -n {}.", kernel_line(), lab.fd_limit());
    let _ = writeln!(
        out,
        "Command: `{command}` on {}; upstream delay {DELAY_MS} ms, fanout {FANOUT}; server on {server_side}, gosleep (1 thread) and wrk (1 thread) on {client_side}.",
        now()
    );
    let edge = |secs: u64| format!("{:.1}%", (secs - 1) as f64 * 100.0 / secs as f64);
    let _ = writeln!(
        out,
        "Durations: reuse {reuse_secs} s, no-reuse {noreuse_secs} s. A closed loop completes nothing in its first {} s, so a run of d seconds reaches at most (d - 1)/d of the bound: {} (reuse), {} (no-reuse).\n",
        DELAY_MS / 1000,
        edge(reuse_secs),
        edge(noreuse_secs)
    );
    for reuse in [true, false] {
        for path in ["single", "multiple"] {
            let _ = writeln!(out, "## /{path}, {}\n", mode(reuse));
            let _ = writeln!(
                out,
                "| server | C | threads | RPS | bound min(C,T)/D | efficiency | p50 ms | p99 ms | wrk errors | CPU s / 1k req | CPU vs {BASE_SERVER} | peak RSS MiB | upstream calls | upstream conns opened | TIME_WAIT after |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
            let case: Vec<&Row> = rows.iter().filter(|r| r.path == path && r.reuse == reuse).collect();
            let base = case.iter().find(|r| r.server == BASE_SERVER).map(|r| r.cpu_per_1k).filter(|b| *b > 0.0);
            for r in case {
                let eff = if r.bound_rps > 0.0 {
                    format!("{:.1}%", 100.0 * r.wrk.totals.rps / r.bound_rps)
                } else {
                    "—".to_owned()
                };
                let ratio = base.map_or_else(|| "—".to_owned(), |b| format!("{:.2}x", r.cpu_per_1k / b));
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.2} | {:.0} | {eff} | {:.1} | {:.1} | {} | {:.4} | {ratio} | {} | {} | {} | {} |",
                    r.server,
                    r.conns,
                    r.threads,
                    r.wrk.totals.rps,
                    r.bound_rps,
                    r.wrk.p50_ms,
                    r.wrk.p99_ms,
                    r.wrk.errors(),
                    r.cpu_per_1k,
                    r.rss_mib,
                    r.up_calls,
                    r.up_conns,
                    r.time_wait
                );
            }
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(())
}

fn mode(reuse: bool) -> &'static str {
    if reuse { "reuse" } else { "no-reuse" }
}

/// Sockets in TIME_WAIT on this machine now (/proc/net/tcp and tcp6, state 06).
fn time_wait_sockets() -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| t.lines().skip(1).filter(|l| l.split_whitespace().nth(3) == Some("06")).count())
        .sum()
}

/// The kernel's settings that bound connections, for the report's header.
fn kernel_line() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join("-"))
            .unwrap_or_else(|_| "?".to_owned())
    };
    format!(
        "somaxconn {}, tcp_max_syn_backlog {}, tcp_tw_reuse {}, ip_local_port_range {}, tcp_fin_timeout {}",
        read("/proc/sys/net/core/somaxconn"),
        read("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
        read("/proc/sys/net/ipv4/tcp_tw_reuse"),
        read("/proc/sys/net/ipv4/ip_local_port_range"),
        read("/proc/sys/net/ipv4/tcp_fin_timeout")
    )
}
