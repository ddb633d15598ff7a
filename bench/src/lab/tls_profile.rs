//! `bench tls-profile`: where each server's CPU for a not-reused HTTPS upstream call goes.
//!
//! `bench cpu --tls` measures what a not-reused HTTPS upstream call adds to each server's
//! CPU per request; this splits it. Each server gets `bench cpu`'s no-reuse load (open
//! loop, 200 requests/s over 256 connections, after a warm-up; upstream delay 1000 ms)
//! twice in a row: against plain gosleep, then against gosleep over HTTPS. For each run
//! the server's CPU per request is loadgen's (`--server-pid`), and over the same window
//! `perf record -F 999 -C 0` (no call graphs: cheap) samples the server's core; `perf
//! report --pid PID` keeps the server's samples, each put in a category by its DSO and
//! symbol (lab/perf.rs). A category's CPU per request is its share of the run's samples
//! times the run's CPU per request; what an upstream call adds to it is (https - http) /
//! calls per request.
//!
//! Why the core and not `perf record -p PID`: -p counts each thread's CPU time toward a
//! sampling period of its own, so a thread that runs less than a period (about 1 ms) in
//! all is never sampled; server-std, which spawns short threads, kept 3% of its CPU in
//! samples that way, where the core's clock keeps 80-100% of every server's.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bench_report::upstream::STATS_READ_HANDSHAKES;
use clap::Args;

use super::perf::{CATEGORIES, Symbol, Totals, parse_report, totals};
use super::{
    DELAY_MS, EQUAL_CONNECTIONS as CONNECTIONS, EQUAL_RATE, FANOUT, Lab, ServerList, errors, machine_line,
    need_package, now, open_loop, threads_line,
};
use crate::error::BenchError;
use crate::roster::{Roster, Runs};

/// perf's sampling frequency, Hz.
const FREQUENCY: u64 = 999;

/// `bench tls-profile`'s flags.
#[derive(Debug, Clone, Args)]
pub struct TlsProfileArgs {
    /// 3 s sampled after 1 s of warm-up [10 s after 3 s]; the servers by default: the
    /// roster's Rust servers
    #[arg(long)]
    pub quick: bool,
    /// N seconds sampled after the warm-up (also beside --quick), 1 to 999
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..1000))]
    pub secs: Option<u64>,
    /// single, or multiple (fanout 5) [default: single]
    #[arg(long, value_name = "E", default_value = "single", value_parser = ["single", "multiple"])]
    pub endpoint: String,
    /// N requests/s, over max(256, 1.25 N) connections, so that the 1 s upstream delay
    /// never runs out of them; a pool of 256 threads holds at most 256 a second [default: 200]
    #[arg(long, value_name = "N", default_value_t = EQUAL_RATE, value_parser = clap::value_parser!(u64).range(1..10000))]
    pub rate: u64,
    #[command(flatten)]
    pub list: ServerList,
}

/// One run under perf.
struct Profiled {
    server: String,
    https: bool,
    cpu_us: Option<f64>,
    requests: u64,
    symbols: Vec<Symbol>,
    totals: Totals,
    handshakes: Option<(f64, f64)>,
    errors: String,
}

/// Profiles each server over both schemes and prints the tables.
pub fn run(root: &Path, roster: &Roster, args: &TlsProfileArgs, command: &str) -> Result<(), BenchError> {
    let servers = args.list.pick(roster, |s| s.runs == Runs::Rust)?;
    if let Some(s) = servers.iter().find(|s| s.python()) {
        return Err(BenchError::Usage(format!(
            "{} is a Python server: this profiles the Rust servers (their symbols are the categories')",
            s.name
        )));
    }
    let (secs, warmup) = (args.secs.unwrap_or(if args.quick { 3 } else { 10 }), if args.quick { 1 } else { 3 });
    let conns = CONNECTIONS.max(args.rate * 5 / 4);
    let calls = if args.endpoint == "multiple" { u64::from(FANOUT) } else { 1 };
    perf_ready()?;
    let lab = Lab::new(root, &servers)?;
    let http = lab.upstream(DELAY_MS, false)?;
    let https = lab.upstream(DELAY_MS, true)?;
    let (server_side, client_side) = lab.sides();
    // perf samples the server's core (every core where the server is not pinned).
    let perf_target: Vec<&str> = if server_side == "no pinning" { vec!["-a"] } else { vec!["-C", "0"] };
    let data_dir = tempfile::Builder::new().prefix("bench-perf-").tempdir()?;
    let mut runs = Vec::new();
    let mut event = None;
    for s in &servers {
        // The two schemes of one server back to back: a slow spell moves both sides of the difference.
        for tls in [false, true] {
            let upstream = if tls { &https } else { &http };
            let scheme = if tls { "https" } else { "http" };
            eprintln!(
                "{} /{} no-reuse {scheme}: {} requests/s over {conns} connections, {warmup} s + {secs} s under perf",
                s.name, args.endpoint, args.rate
            );
            let server = lab.server(s, upstream, s.threads.get(), &["--fanout", &FANOUT.to_string(), "--no-reuse"])?;
            let data = data_dir.path().join(format!("{}-{scheme}.data", s.name));
            let load = open_loop(conns, args.rate, warmup, secs, &server, &args.endpoint);
            // As loadgen's window opens: gosleep's counters reset (over HTTPS), and perf (on
            // the client core) samples the server's core for the window's length.
            let (result, perf) = std::thread::scope(|scope| {
                let perf = scope.spawn(|| -> Result<(), BenchError> {
                    std::thread::sleep(Duration::from_secs(warmup));
                    if tls {
                        upstream.reset()?;
                    }
                    let mut record = lab.client("perf");
                    record.args(["record", "-q", "-F", &FREQUENCY.to_string()]).args(&perf_target).arg("-o").arg(&data);
                    record.args(["--", "sleep", &secs.to_string()]);
                    let out = record.output()?;
                    if !out.status.success() || std::fs::metadata(&data).map_or(true, |m| m.len() == 0) {
                        return Err(BenchError::Start(format!(
                            "perf record on {} ({scheme}) failed ({}): {}",
                            s.name,
                            out.status,
                            String::from_utf8_lossy(&out.stderr).lines().take(3).collect::<Vec<_>>().join(" ")
                        )));
                    }
                    Ok(())
                });
                let result = lab.loadgen(&load);
                (result, perf.join().unwrap_or_else(|_| Err(BenchError::Io("the perf thread panicked".into()))))
            });
            perf?;
            let r = result?;
            let handshakes = if tls {
                let stats = upstream.stats()?;
                let n = r.requests * calls;
                (n > 0).then(|| {
                    let full = stats.tls_handshakes_full.saturating_sub(STATS_READ_HANDSHAKES);
                    (full as f64 / n as f64, stats.tls_handshakes_resumed as f64 / n as f64)
                })
            } else {
                None
            };
            let pid = server.pid();
            if let Some(said) = server.stop() {
                eprintln!("{said}");
            }
            let report = Command::new("perf")
                .arg("report")
                .arg("-i")
                .arg(&data)
                .args(["--pid", &pid.to_string(), "--no-children", "--sort", "dso,symbol", "--stdio", "-n", "-t", "\t"])
                .output()?;
            let symbols = parse_report(&String::from_utf8_lossy(&report.stdout));
            if event.is_none() {
                event = perf_event(&data);
            }
            runs.push(Profiled {
                server: s.name.clone(),
                https: tls,
                cpu_us: loadgen::figures::cpu_per_1k(&r).map(|k| k * 1000.0),
                requests: r.requests,
                totals: totals(&symbols),
                symbols,
                handshakes,
                errors: errors(&r),
            });
        }
    }
    https.stop();
    http.stop();
    let version = Command::new("perf")
        .arg("version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().nth(2).unwrap_or("?").to_owned());
    let mut out = String::new();
    let _ = writeln!(out, "# Where a not-reused HTTPS upstream call's CPU goes\n");
    let _ = writeln!(
        out,
        "Machine: {}; perf {}, event {}.",
        machine_line(),
        version.as_deref().unwrap_or("?"),
        event.as_deref().unwrap_or("?")
    );
    let _ = writeln!(
        out,
        "Command: `{command}` on {}; /{}, --no-reuse, upstream delay {DELAY_MS} ms, fanout {FANOUT} ({calls} upstream call(s) per request); loadgen open loop at {} requests/s over {conns} connections, {warmup} s warm-up then {secs} s recorded, once over http and right after once over https (a second gosleep, --tls-self-signed, called at https://127.0.0.1:PORT with --upstream-ca its CA); server on {server_side} ({}), gosleep and loadgen 1 thread each and perf on {client_side}; `perf record -F {FREQUENCY} {}` (no call graphs) over each recorded window, the server's samples kept (`perf report --pid PID`).\n",
        now(),
        args.endpoint,
        args.rate,
        threads_line(&servers),
        perf_target.join(" ")
    );
    let headings: String = CATEGORIES.iter().map(|(_, h)| format!(" {h} |")).collect();
    let dashes = "---:|".repeat(CATEGORIES.len());
    let _ = writeln!(out, "## What an upstream call adds over HTTPS, by category\n");
    let _ = writeln!(
        out,
        "CPU per request: the server's, over loadgen's recorded window. Added per call: (https - http) / {calls}."
    );
    let _ = writeln!(
        out,
        "Each category's: its share of the run's perf samples times the run's CPU per request, https - http, / {calls};"
    );
    let _ = writeln!(
        out,
        "the categories add up to the added CPU. Handshakes per call: gosleep's over the https window, full / resumed.\n"
    );
    let _ = writeln!(
        out,
        "| server | CPU µs / req, http | CPU µs / req, https | added µs per call |{headings} samples, http / https | handshakes per call (full / resumed) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|{dashes}---:|---|");
    let per_req = |p: &Profiled, i: usize| match (p.cpu_us, p.totals.total) {
        (Some(cpu), t) if t > 0 => cpu * p.totals.by_category[i] as f64 / t as f64,
        _ => 0.0,
    };
    for s in &servers {
        let (Some(h), Some(t)) =
            (runs.iter().find(|r| r.server == s.name && !r.https), runs.iter().find(|r| r.server == s.name && r.https))
        else {
            continue;
        };
        let shown = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
        let mut line = format!("| {} | {} | {} |", s.name, shown(h.cpu_us), shown(t.cpu_us));
        match (h.cpu_us, t.cpu_us) {
            (Some(hc), Some(tc)) => {
                let _ = write!(line, " {:.0} |", (tc - hc) / calls as f64);
                for i in 0..CATEGORIES.len() {
                    let _ = write!(line, " {:.0} |", (per_req(t, i) - per_req(h, i)) / calls as f64);
                }
            }
            _ => line.push_str(&" — |".repeat(CATEGORIES.len() + 1)),
        }
        let hs = t.handshakes.map_or_else(|| "- / -".to_owned(), |(f, r)| format!("{f:.3} / {r:.3}"));
        let _ = writeln!(out, "{line} {} / {} | {hs} |", h.totals.total, t.totals.total);
    }
    let _ = writeln!(out, "\n## Each run's samples by category\n");
    let _ = writeln!(
        out,
        "Shares of the run's perf samples, %. Unresolved: samples perf could not name (counted in their DSO's category)."
    );
    let _ = writeln!(
        out,
        "Sampled: the samples against {FREQUENCY} a second of the server's CPU over the window (its CPU per request x requests).\n"
    );
    let _ = writeln!(out, "| server | scheme | CPU µs / req | samples | sampled |{headings} unresolved | errors |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|{dashes}---:|---|");
    for r in &runs {
        let t = &r.totals;
        let expected = r.cpu_us.map_or(0.0, |c| c * r.requests as f64 / 1e6 * FREQUENCY as f64);
        let sampled =
            if expected > 0.0 { format!("{:.0}%", 100.0 * t.total as f64 / expected) } else { "—".to_owned() };
        let share = |n: u64| if t.total > 0 { 100.0 * n as f64 / t.total as f64 } else { 0.0 };
        let mut line = format!(
            "| {} | {} | {} | {} | {sampled} |",
            r.server,
            if r.https { "https" } else { "http" },
            r.cpu_us.map_or_else(|| "-".to_owned(), |c| format!("{c:.1}")),
            t.total
        );
        for n in t.by_category.iter().chain(std::iter::once(&t.unresolved)) {
            let _ = write!(line, " {:.1} |", share(*n));
        }
        let _ = writeln!(out, "{line} {} |", r.errors);
    }
    let _ = writeln!(out, "\n## The top symbols over HTTPS\n");
    let _ = writeln!(
        out,
        "Each server's 12 symbols with the most samples over https (its http run's samples of the same symbol beside them), with their category.\n"
    );
    for s in &servers {
        let (Some(h), Some(t)) =
            (runs.iter().find(|r| r.server == s.name && !r.https), runs.iter().find(|r| r.server == s.name && r.https))
        else {
            continue;
        };
        let _ = writeln!(out, "### {}\n\n```", s.name);
        let _ = writeln!(out, "{:>6} {:>6}  {:<7} {:<18} symbol", "https", "http", "category", "dso");
        for sym in t.symbols.iter().take(12) {
            let in_http: u64 =
                h.symbols.iter().filter(|x| x.dso == sym.dso && x.name == sym.name).map(|x| x.samples).sum();
            let _ = writeln!(
                out,
                "{:>6} {:>6}  {:<7} {:<18} {}",
                sym.samples,
                in_http,
                sym.category.name(),
                sym.dso,
                sym.name.as_deref().unwrap_or("?")
            );
        }
        let _ = writeln!(out, "```\n");
    }
    print!("{out}");
    Ok(())
}

/// perf is there (installed from Debian's linux-perf when root) and may sample a whole
/// core; otherwise why not.
fn perf_ready() -> Result<(), BenchError> {
    need_package("perf", "linux-perf")?;
    let probe = tempfile::NamedTempFile::new()?;
    let out = Command::new("perf")
        .args(["record", "-q", "-F", "999", "-C", "0", "-o"])
        .arg(probe.path())
        .args(["--", "true"])
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").unwrap_or_default();
            Err(BenchError::Start(format!(
                "perf cannot record here (kernel.perf_event_paranoid {}): {}",
                paranoid.trim(),
                String::from_utf8_lossy(&o.stderr).lines().take(3).collect::<Vec<_>>().join(" ")
            )))
        }
        Err(e) => Err(BenchError::Start(format!(
            "perf not found, and not installed (Debian: apt-get install linux-perf, as root): {e}"
        ))),
    }
}

/// The event a perf.data recorded (its header's first `# event : name = NAME,`).
fn perf_event(data: &Path) -> Option<String> {
    let out =
        Command::new("perf").arg("report").arg("-i").arg(data).args(["--stdio", "--header-only"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("# event : name = ").map(|r| r.split(',').next().unwrap_or(r).to_owned()))
}
