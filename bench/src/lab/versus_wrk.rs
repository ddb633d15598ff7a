//! `bench loadgen`: is loadgen as fast as wrk? Same target (gosleep, `ms=0`, one thread
//! pinned to the server core), same client side (100 connections, one thread pinned to the
//! client core), runs alternated: requests/second and the load generator's own CPU seconds
//! per 1,000 requests, in total and split into user and kernel (the CPU of the child the
//! runner waited for: its cutime and cstime, from /proc), and the target's CPU (gosleep's,
//! in % of its core: near 100% the run is bound by the target, and its requests/s say
//! little about the client). Printed as Markdown: a row per run, then per tool the medians
//! over the rounds, loadgen's medians over wrk's, and which runs the target bound (90% or
//! more). Only 127.0.0.1 is targeted; each run is bounded by `-d`; gosleep is stopped by
//! PID.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bench_report::upstream::STATS_READ_HANDSHAKES;
use bench_sys::procstat;
use clap::Args;
use loadgen::result::RunResult;

use super::wrk::Totals;
use super::{Lab, Upstream, errors, machine_line, median, need, now};
use crate::error::BenchError;
use crate::quota::Quota;
use crate::values::{positive_cores, positive_integer};

/// Connections of either tool.
const CONNECTIONS: u32 = 100;
/// gosleep's CPU, in % of its core, at or above which a run is the target's bound.
const TARGET_BOUND: f64 = 90.0;
/// The loadgen measured when `--loadgen` names none.
const DEFAULT_LOADGEN: &str = "target/release/loadgen";

/// `bench loadgen`'s flags.
// A flag's default in brackets, [5], is its --help text, not an intra-doc link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, Args)]
pub struct VersusWrkArgs {
    /// One round of 3 s per tool, for a smoke test: --rounds 1 --secs 3 (either given beside
    /// it wins) [5 rounds of 10 s]
    #[arg(long)]
    pub quick: bool,
    /// Rounds, each one run of wrk then one of loadgen [5]
    #[arg(long, value_name = "N", value_parser = positive_integer)]
    pub rounds: Option<u64>,
    /// Seconds per run [10]
    #[arg(long, value_name = "N", value_parser = positive_integer)]
    pub secs: Option<u64>,
    /// A new connection per request: wrk with -H "Connection: close" (it reconnects after
    /// each answer), loadgen with --no-keepalive [keep-alive: 100 connections kept open]
    #[arg(long)]
    pub no_keepalive: bool,
    /// The target serves HTTPS (gosleep --tls-self-signed: a CA made for the run, sessions
    /// resumed): wrk over OpenSSL, which verifies no certificate, and loadgen with
    /// --insecure, which verifies none either; each as it resumes sessions by default. Each
    /// row also gives the handshakes gosleep counted in the run, full/resumed [plain HTTP]
    #[arg(long)]
    pub tls: bool,
    /// The client runs under a CPU quota of X cores (e.g. 0.5; a cgroup, needs root): it is
    /// then the bound, not the target, and its requests/s measure the client [no quota]
    #[arg(long, value_name = "X", value_parser = positive_cores)]
    pub client_cores: Option<f64>,
    /// The loadgen binary to measure, e.g. a saved older build to compare before and after
    /// a change [target/release/loadgen]
    #[arg(long, value_name = "PATH")]
    pub loadgen: Option<PathBuf>,
    /// Its name in the tables: letters, digits and ._@+- only, and not wrk [loadgen]
    #[arg(long, value_name = "NAME", default_value = "loadgen", value_parser = label, hide_default_value = true)]
    pub label: String,
}

/// The label is a table cell and tells the tools apart: no spaces, no |, and not wrk's name.
fn label(s: &str) -> Result<String, String> {
    let cell = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
    if cell && s != "wrk" { Ok(s.to_owned()) } else { Err(format!("{s}: letters, digits and ._@+- only, and not wrk")) }
}

/// Which tool a run is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Wrk,
    Loadgen,
}

/// One run's figures.
struct Row {
    tool: Tool,
    rps: f64,
    /// Client CPU seconds per 1,000 requests: in all, user, kernel.
    cpu: f64,
    user: f64,
    kernel: f64,
    /// gosleep's CPU, % of its core.
    target_percent: f64,
    /// "none", or the tool's errors.
    errors: String,
    /// gosleep's full and resumed TLS handshakes over the run (HTTPS only).
    handshakes: Option<(u64, u64)>,
}

/// What a tool's run reported, read from its own output.
struct Report {
    rps: f64,
    requests: u64,
    errors: String,
}

/// The settings every run shares.
struct Setup<'a> {
    lab: &'a Lab,
    target: &'a Upstream,
    url: String,
    loadgen: PathBuf,
    secs: u64,
    keepalive: bool,
    tls: bool,
    quota: Option<Quota>,
}

/// Runs the rounds and prints the tables.
pub fn run(root: &Path, args: &VersusWrkArgs, command: &str) -> Result<(), BenchError> {
    let (quick_rounds, quick_secs) = if args.quick { (1, 3) } else { (5, 10) };
    let (rounds, secs) = (args.rounds.unwrap_or(quick_rounds), args.secs.unwrap_or(quick_secs));
    let label = args.label.as_str();
    // A --loadgen of one's own must exist before the build; the default is what it builds.
    let (loadgen, shown) = match &args.loadgen {
        None => (root.join(DEFAULT_LOADGEN), DEFAULT_LOADGEN.to_owned()),
        Some(path) => {
            let path = std::path::absolute(path)?;
            if !executable(&path) {
                return Err(BenchError::Usage(format!("--loadgen {} is not an executable file", path.display())));
            }
            let shown = path.display().to_string();
            (path, shown)
        }
    };
    need("wrk")?;
    let lab = Lab::new(root, &[])?;
    let (mut mode, mut clients) = if args.no_keepalive {
        (
            "no keep-alive".to_owned(),
            format!(
                "{CONNECTIONS} connections, a new one per request (wrk -H \"Connection: close\", {label} --no-keepalive)"
            ),
        )
    } else {
        ("keep-alive".to_owned(), format!("{CONNECTIONS} keep-alive connections"))
    };
    let quota = match args.client_cores {
        Some(c) => {
            let quota = lab.quota(c).map_err(|why| BenchError::Start(format!("--client-cores: {why}")))?;
            let _ = write!(clients, ", under a CPU quota of {c} cores");
            Some(quota)
        }
        None => None,
    };
    let target = lab.target(args.tls)?;
    if args.tls {
        mode.push_str(", HTTPS");
        clients.push_str(", over HTTPS (gosleep's own CA; neither tool verifies it)");
    }
    let setup = Setup {
        lab: &lab,
        target: &target,
        url: format!("{}/sleep?ms=0", target.target.url()),
        loadgen,
        secs,
        keepalive: !args.no_keepalive,
        tls: args.tls,
        quota,
    };
    let (server_side, client_side) = lab.sides();
    let pin = |side: &'static str| if side == "no pinning" { "unpinned" } else { side };
    let mut out = String::new();
    let _ = writeln!(out, "# {label} vs wrk, {mode}\n\nMachine: {}.", machine_line());
    let _ = writeln!(
        out,
        "Command: `{command}` on {}; target gosleep ms=0 (1 thread, {}), client 1 thread x {clients} ({}), {rounds} round(s) of {secs} s per tool; {label} is `{shown}`.\n",
        now(),
        pin(server_side),
        pin(client_side)
    );
    if args.tls {
        let _ = writeln!(
            out,
            "| round | tool | requests/s | client CPU s per 1,000 requests | user | kernel | target CPU | handshakes full/resumed |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|");
    } else {
        let _ = writeln!(
            out,
            "| round | tool | requests/s | client CPU s per 1,000 requests | user | kernel | target CPU |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|");
    }
    let name = |tool: Tool| if tool == Tool::Wrk { "wrk" } else { label };
    let mut rows = Vec::new();
    for round in 1..=rounds {
        for tool in [Tool::Wrk, Tool::Loadgen] {
            eprintln!("round {round}/{rounds}: {}, {secs} s", name(tool));
            let row = measure(&setup, tool)?;
            if row.errors != "none" {
                eprintln!("round {round}, {}: {}", name(tool), row.errors);
            }
            let shakes = row.handshakes.map(|(f, r)| format!(" {f}/{r} |")).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {round} | {} | {:.2} | {:.4} | {:.4} | {:.4} | {:.0}% |{shakes}",
                name(tool),
                row.rps,
                row.cpu,
                row.user,
                row.kernel,
                row.target_percent
            );
            rows.push(row);
        }
    }
    drop(setup);
    target.stop();
    medians(&mut out, &rows, rounds, label);
    print!("{out}");
    Ok(())
}

/// Whether `path` is a file someone may execute.
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One run of `tool` against the target, waited for here.
fn measure(setup: &Setup, tool: Tool) -> Result<Row, BenchError> {
    let json = setup.lab.logs().join("run.json");
    let _ = std::fs::remove_file(&json);
    let (name, mut command) = match tool {
        Tool::Wrk => {
            let mut c = setup.lab.client("wrk");
            c.args(["-t", "1", "-c", &CONNECTIONS.to_string(), "-d", &format!("{}s", setup.secs)]);
            if !setup.keepalive {
                c.args(["-H", "Connection: close"]);
            }
            ("wrk", c)
        }
        Tool::Loadgen => {
            let mut c = setup.lab.client_at(&setup.loadgen);
            c.args(["-t", "1", "-c", &CONNECTIONS.to_string(), "-d", &format!("{}s", setup.secs)]);
            if !setup.keepalive {
                c.arg("--no-keepalive");
            }
            if setup.tls {
                c.arg("--insecure");
            }
            c.arg("--json").arg(&json);
            ("loadgen", c)
        }
    };
    command.arg(&setup.url);
    let shakes_before = if setup.tls { Some(setup.target.stats()?) } else { None };
    let target_before = procstat::read(setup.target.pid())?.cpu_ticks;
    // The tool is the one child reaped between these two readings: their difference is its CPU.
    let reaped_before = procstat::reaped_by_self()?;
    let mut proc = setup.lab.spawn(name, command)?;
    if let Some(quota) = &setup.quota {
        // Moved in as it starts (taskset has just exec'd the tool, before its first request).
        quota.add(proc.pid())?;
    }
    let status = proc.wait()?;
    let used = procstat::reaped_by_self()?.since(reaped_before);
    let target_after = procstat::read(setup.target.pid())?.cpu_ticks;
    let handshakes = match shakes_before {
        Some(before) => {
            let after = setup.target.stats()?;
            // Less the full handshake of the second /stats read itself.
            Some((
                after.tls_handshakes_full.saturating_sub(before.tls_handshakes_full + STATS_READ_HANDSHAKES),
                after.tls_handshakes_resumed.saturating_sub(before.tls_handshakes_resumed),
            ))
        }
        None => None,
    };
    let said = std::fs::read_to_string(proc.log()).unwrap_or_default();
    let failed = |why: String| BenchError::Io(format!("{name} failed ({status}): {why}\n{}", said.trim_end()));
    if !status.success() {
        return Err(failed("no figures".to_owned()));
    }
    let report = match tool {
        Tool::Wrk => {
            let t = Totals::parse(&said).map_err(failed)?;
            Report { rps: t.rps, requests: t.requests, errors: t.errors() }
        }
        Tool::Loadgen => {
            let text = std::fs::read_to_string(&json).map_err(|e| failed(format!("its --json: {e}")))?;
            let r: RunResult = serde_json::from_str(&text).map_err(|e| failed(format!("its --json: {e}")))?;
            Report { rps: r.rps(), requests: r.requests, errors: errors(&r) }
        }
    };
    let per_1000 = |ticks: u64| {
        if report.requests > 0 { procstat::ticks_to_seconds(ticks) / report.requests as f64 * 1000.0 } else { 0.0 }
    };
    Ok(Row {
        tool,
        rps: report.rps,
        cpu: per_1000(used.total_ticks()),
        user: per_1000(used.user_ticks),
        kernel: per_1000(used.system_ticks),
        target_percent: 100.0 * procstat::ticks_to_seconds(target_after.saturating_sub(target_before))
            / setup.secs as f64,
        errors: report.errors,
        handshakes,
    })
}

/// The medians' table, the ratios of loadgen's medians over wrk's, and the runs the
/// target bound.
fn medians(out: &mut String, rows: &[Row], rounds: u64, label: &str) {
    let _ = writeln!(out, "\n## Medians\n\nOver {rounds} round(s) per tool; the ratios are of the medians.\n");
    let _ = writeln!(out, "| tool | requests/s | client CPU s per 1,000 requests | user | kernel |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    let med = |tool: Tool, f: fn(&Row) -> f64| {
        median(&rows.iter().filter(|r| r.tool == tool).map(f).collect::<Vec<_>>()).map_or(0.0, |m| m.0)
    };
    for (tool, name) in [(Tool::Wrk, "wrk"), (Tool::Loadgen, label)] {
        let _ = writeln!(
            out,
            "| {name} | {:.2} | {:.4} | {:.4} | {:.4} |",
            med(tool, |r| r.rps),
            med(tool, |r| r.cpu),
            med(tool, |r| r.user),
            med(tool, |r| r.kernel)
        );
    }
    let ratio = |f: fn(&Row) -> f64| {
        let (mine, wrk) = (med(Tool::Loadgen, f), med(Tool::Wrk, f));
        if wrk > 0.0 { format!("{:.2}x", mine / wrk) } else { "—".to_owned() }
    };
    let _ = writeln!(out, "\n{label}/wrk: requests/s {}, CPU per request {}\n", ratio(|r| r.rps), ratio(|r| r.cpu));
    // As the table shows it: a whole percent.
    let bound = rows.iter().filter(|r| r.target_percent.round() >= TARGET_BOUND).count();
    if bound > 0 {
        let _ = writeln!(
            out,
            "Bound: the target in {bound} of {} runs (gosleep at {TARGET_BOUND}% of its core or more): their requests/s are mostly the target's, not the client's; --client-cores 0.5 makes the client the bound.",
            rows.len()
        );
    } else {
        let _ = writeln!(out, "Bound: not the target in any run (gosleep below {TARGET_BOUND}% of its core).");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tool: Tool, rps: f64, cpu: f64, target_percent: f64) -> Row {
        Row {
            tool,
            rps,
            cpu,
            user: cpu / 2.0,
            kernel: cpu / 2.0,
            target_percent,
            errors: "none".into(),
            handshakes: None,
        }
    }

    #[test]
    fn the_medians_give_the_ratios_and_the_runs_the_target_bound() {
        let rows = [
            row(Tool::Wrk, 100.0, 0.02, 95.0),
            row(Tool::Loadgen, 50.0, 0.03, 89.6),
            row(Tool::Wrk, 300.0, 0.04, 50.0),
            row(Tool::Loadgen, 150.0, 0.05, 89.4),
        ];
        let mut out = String::new();
        medians(&mut out, &rows, 2, "lg");
        assert!(out.contains("| wrk | 200.00 | 0.0300 | 0.0150 | 0.0150 |"), "{out}");
        assert!(out.contains("| lg | 100.00 | 0.0400 | 0.0200 | 0.0200 |"), "{out}");
        assert!(out.contains("\nlg/wrk: requests/s 0.50x, CPU per request 1.33x\n"), "{out}");
        assert!(out.contains("Bound: the target in 2 of 4 runs (gosleep at 90% of its core or more)"), "{out}");
        let mut out = String::new();
        medians(&mut out, &rows[2..], 1, "lg");
        assert!(out.ends_with("Bound: not the target in any run (gosleep below 90% of its core).\n"), "{out}");
    }

    #[test]
    fn a_label_is_a_plain_cell_and_cores_are_above_0() {
        assert_eq!(label("loadgen-tokio@1.2+x").as_deref(), Ok("loadgen-tokio@1.2+x"));
        for bad in ["wrk", "a b", "a|b", ""] {
            assert!(label(bad).is_err(), "{bad}");
        }
        assert_eq!(positive_cores("0.5"), Ok(0.5));
        assert_eq!(positive_cores(".5"), Ok(0.5));
        for bad in ["0", "0.0", "-1", "1e2", "inf", "x"] {
            assert!(positive_cores(bad).is_err(), "{bad}");
        }
    }
}
