//! `loadgen record`: writes a run_all.sh run's record (`run.json`) from its flags. The
//! record is the report's own [`RunMeta`], serialized: what run_all.sh writes is what
//! `loadgen report` reads, checked by the same rules, with JSON escaping done by a JSON
//! library rather than by hand.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use crate::LoadgenError;
use crate::report::{CapacityRun, Machine, PythonRun, RunMeta, TlsRun};

/// `loadgen record`.
#[derive(Debug, Clone, Args)]
pub struct RecordOpts {
    /// The command that made the run.
    #[arg(long, value_name = "TEXT")]
    pub command: String,
    /// When it ran (free text, e.g. "2026-11-26 02:30 UTC").
    #[arg(long, value_name = "TEXT")]
    pub date: String,
    /// The machine's CPU model.
    #[arg(long, value_name = "TEXT")]
    pub cpu: String,
    /// The machine's cores.
    #[arg(long, value_name = "N")]
    pub cores: u32,
    /// The kernel's name and version.
    #[arg(long, value_name = "TEXT")]
    pub kernel: String,
    /// The machine's memory, GiB.
    #[arg(long, value_name = "GIB")]
    pub memory_gib: f64,
    /// `rustc --version`.
    #[arg(long, value_name = "TEXT")]
    pub rustc: String,
    /// gosleep's delay for the tables, ms.
    #[arg(long, value_name = "MS")]
    pub delay_ms: u64,
    /// Upstream calls per /multiple request.
    #[arg(long, value_name = "N")]
    pub fanout: u32,
    /// Connections per table cell.
    #[arg(long, value_name = "N")]
    pub connections: usize,
    /// Recorded seconds per table cell.
    #[arg(long, value_name = "S")]
    pub duration_s: f64,
    /// Warm-up seconds per table cell.
    #[arg(long, value_name = "S")]
    pub warmup_s: f64,
    /// How processes were pinned to cores.
    #[arg(long, value_name = "TEXT")]
    pub pinning: String,
    /// A server and its --threads, NAME=THREADS, in column order (repeatable).
    #[arg(long = "server", required = true, value_parser = parse_server, value_name = "NAME=THREADS")]
    pub servers: Vec<(String, usize)>,
    /// A server whose --threads is a pool that caps its requests in flight (repeatable).
    #[arg(long = "pooled", value_name = "NAME")]
    pub pooled: Vec<String>,
    /// A server that is a Python baseline (repeatable).
    #[arg(long = "python-server", value_name = "NAME")]
    pub python_servers: Vec<String>,
    /// The Python servers' interpreter and frameworks' versions, when they ran.
    #[arg(long, value_name = "TEXT", requires = "python_servers")]
    pub python_versions: Option<String>,
    /// Why the Python servers did not run, when they did not.
    #[arg(long, value_name = "TEXT", requires = "python_servers")]
    pub python_unavailable: Option<String>,
    /// gosleep's delay for the capacity searches, ms; without it the run made none.
    #[arg(long, value_name = "MS")]
    pub capacity_delay_ms: Option<u64>,
    /// The CPU quota each server had during its searches, cores; without it, none.
    #[arg(long, value_name = "CORES", requires = "capacity_delay_ms")]
    pub capacity_quota: Option<f64>,
    /// Every cell ran a second time against an HTTPS upstream (`./run_all.sh --tls`); the
    /// record names the TLS stack this build's servers and gosleep use.
    #[arg(long)]
    pub tls: bool,
    /// A cell not measured, CELL=WHY (repeatable).
    #[arg(long = "skipped", value_parser = parse_cell, value_name = "CELL=WHY")]
    pub skipped: Vec<(String, String)>,
    /// A cell whose measurement failed, CELL=WHY (repeatable).
    #[arg(long = "failed", value_parser = parse_cell, value_name = "CELL=WHY")]
    pub failed: Vec<(String, String)>,
    /// A note on a measured cell whose figures stand, CELL=WHAT (repeatable).
    #[arg(long = "note", value_parser = parse_cell, value_name = "CELL=WHAT")]
    pub notes: Vec<(String, String)>,
    /// Write the record here [default: standard output]; nothing is written when the
    /// flags do not make a valid record.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Writes the record (exit 2 when the flags do not make one the report can read).
pub fn run(opts: &RecordOpts) -> Result<(), LoadgenError> {
    let meta = record(opts).map_err(LoadgenError::Usage)?;
    let text = serde_json::to_string_pretty(&meta).map_err(|e| LoadgenError::Json(e.to_string()))? + "\n";
    match &opts.output {
        Some(path) => std::fs::write(path, text).map_err(|e| LoadgenError::Json(format!("{}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The record the flags describe, checked as `loadgen report` checks it.
pub fn record(opts: &RecordOpts) -> Result<RunMeta, String> {
    let meta = RunMeta {
        command: opts.command.clone(),
        date: opts.date.clone(),
        machine: Machine {
            cpu: opts.cpu.clone(),
            cores: opts.cores,
            kernel: opts.kernel.clone(),
            memory_gib: opts.memory_gib,
        },
        rustc: opts.rustc.clone(),
        servers: opts.servers.iter().map(|(s, _)| s.clone()).collect(),
        pooled: opts.pooled.clone(),
        delay_ms: opts.delay_ms,
        fanout: opts.fanout,
        connections: opts.connections,
        duration_s: opts.duration_s,
        warmup_s: opts.warmup_s,
        pinning: opts.pinning.clone(),
        server_threads: opts.servers.iter().cloned().collect(),
        capacity: opts.capacity_delay_ms.map(|delay_ms| CapacityRun {
            delay_ms,
            server_cpu_quota: opts.capacity_quota,
            slo_p99_ms: None,
        }),
        python: (!opts.python_servers.is_empty()).then(|| PythonRun {
            servers: opts.python_servers.clone(),
            versions: opts.python_versions.clone(),
            unavailable: opts.python_unavailable.clone(),
        }),
        tls: opts.tls.then(|| TlsRun { stack: bench_tls::STACK.to_owned() }),
        skipped: cells("--skipped", &opts.skipped)?,
        failed: cells("--failed", &opts.failed)?,
        notes: cells("--note", &opts.notes)?,
    };
    meta.check()?;
    Ok(meta)
}

/// The cells of a repeatable CELL=WHY flag, each named once.
fn cells(flag: &str, given: &[(String, String)]) -> Result<BTreeMap<String, String>, String> {
    let mut cells = BTreeMap::new();
    for (cell, why) in given {
        if cells.insert(cell.clone(), why.clone()).is_some() {
            return Err(format!("{flag} names the cell {cell} twice"));
        }
    }
    Ok(cells)
}

/// `NAME=THREADS`.
fn parse_server(s: &str) -> Result<(String, usize), String> {
    let (name, threads) = s.split_once('=').ok_or_else(|| format!("a server is NAME=THREADS, got {s:?}"))?;
    let threads = threads.parse().map_err(|_| format!("{name}'s threads are a number, got {threads:?}"))?;
    if name.is_empty() {
        return Err(format!("a server is NAME=THREADS, got {s:?}"));
    }
    Ok((name.to_owned(), threads))
}

/// `CELL=WHY`: the cell is what precedes the first `=`; the reason may hold any text.
fn parse_cell(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((cell, why)) if !cell.is_empty() => Ok((cell.to_owned(), why.to_owned())),
        _ => Err(format!("a cell is CELL=WHY, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `loadgen record`'s options alone.
    #[derive(Parser)]
    struct Record {
        #[command(flatten)]
        opts: RecordOpts,
    }

    /// The flags run_all.sh gives for a run of `servers` (NAME=THREADS), plus `extra`.
    fn opts(servers: &[&str], extra: &[&str]) -> Result<RecordOpts, clap::Error> {
        let flags = [
            ("--command", "./run_all.sh --quick"),
            ("--date", "2026-11-29 09:00 UTC"),
            ("--cpu", "AMD EPYC"),
            ("--cores", "2"),
            ("--kernel", "Linux 6.1"),
            ("--memory-gib", "23"),
            ("--rustc", "rustc 1.95.0"),
            ("--delay-ms", "200"),
            ("--fanout", "5"),
            ("--connections", "100"),
            ("--duration-s", "2"),
            ("--warmup-s", "1"),
            ("--pinning", "none"),
        ];
        let mut args = vec!["record"];
        args.extend(flags.iter().flat_map(|(flag, value)| [*flag, *value]));
        for s in servers {
            args.extend(["--server", s]);
        }
        args.extend(extra);
        Ok(Record::try_parse_from(args)?.opts)
    }

    fn written(o: &RecordOpts) -> String {
        serde_json::to_string_pretty(&record(o).unwrap()).unwrap()
    }

    #[test]
    fn the_record_written_is_the_record_the_report_reads() {
        let o = opts(
            &["rouille=64", "hyper=1", "flask=64"],
            &[
                "--pooled",
                "rouille",
                "--pooled",
                "flask",
                "--python-server",
                "flask",
                "--python-versions",
                "Python 3.11",
                "--capacity-delay-ms",
                "100",
                "--capacity-quota",
                "0.5",
                "--failed",
                "reuse-single-hyper=loadgen failed: \"quoted\", a \\ and = sign",
                "--note",
                "reuse-single-rouille=busy",
            ],
        )
        .unwrap();
        let read: RunMeta = serde_json::from_str(&written(&o)).unwrap();
        assert_eq!(read, record(&o).unwrap());
        assert_eq!(read.servers, ["rouille", "hyper", "flask"], "column order as given");
        assert_eq!(read.server_threads["rouille"], 64);
        assert_eq!(read.failed["reuse-single-hyper"], "loadgen failed: \"quoted\", a \\ and = sign");
        assert_eq!(read.capacity.unwrap().server_cpu_quota, Some(0.5));
        assert_eq!(read.python.unwrap().versions.as_deref(), Some("Python 3.11"));
    }

    #[test]
    fn a_rust_only_run_has_no_python_key_and_no_capacity_without_searches() {
        let json: serde_json::Value = serde_json::from_str(&written(&opts(&["hyper=1"], &[]).unwrap())).unwrap();
        assert!(json.get("python").is_none(), "{json}");
        assert_eq!(json["capacity"], serde_json::Value::Null);
        for key in ["skipped", "failed", "notes"] {
            assert_eq!(json[key], serde_json::json!({}), "{key}");
        }
        assert!(json.get("tls").is_none(), "a plain-HTTP run's record is as before --tls: {json}");
    }

    #[test]
    fn a_tls_run_records_the_tls_stack_of_this_build() {
        let meta = record(&opts(&["hyper=1"], &["--tls"]).unwrap()).unwrap();
        assert_eq!(meta.tls.unwrap().stack, bench_tls::STACK);
    }

    #[test]
    fn a_record_the_report_would_refuse_is_not_written() {
        let stray = opts(&["hyper=1"], &["--pooled", "rouille"]).unwrap();
        assert!(record(&stray).unwrap_err().contains("\"pooled\" names \"rouille\""));
        let twice = opts(&["hyper=1", "hyper=1"], &[]).unwrap();
        assert!(record(&twice).unwrap_err().contains("listed twice"));
        let cell_twice = opts(&["hyper=1"], &["--skipped", "a=x", "--skipped", "a=y"]).unwrap();
        assert_eq!(record(&cell_twice).unwrap_err(), "--skipped names the cell a twice");
    }

    #[test]
    fn malformed_flags_are_usage_errors() {
        assert!(opts(&["hyper"], &[]).is_err(), "a server without its threads");
        assert!(opts(&["hyper=x"], &[]).is_err());
        assert!(opts(&["hyper=1"], &["--skipped", "no-reason"]).is_err());
        assert!(opts(&["hyper=1"], &["--python-versions", "3.11"]).is_err(), "versions without Python servers");
        assert!(opts(&[], &[]).is_err(), "no server");
    }
}
