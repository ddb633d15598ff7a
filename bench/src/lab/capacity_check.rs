//! `bench capacity-check RUN_DIR...`: a CPU-bound capacity against the server's CPU cost
//! per request, measured at half that capacity over windows long enough to average the
//! machine's noise.
//!
//! For each run directory it reads the server's capacity search of one cell (the capacity,
//! the connections of the step at it, the cores the server could use) and the run's set-up
//! (run.json: the capacity phase's upstream delay and CPU quota, the server's threads, the
//! fan-out). Then it runs the server in that set-up at half of each run's capacity, open
//! loop, rounds of `--window` s after 1 s of warm-up, the runs' rates taking turns, on half
//! the connections of the step at capacity. It prints every measurement and, per run, the
//! median CPU per request, the capacity the server's cores over it predict, and capacity /
//! prediction. A search decides from one-second steps whose CPU per request moves with the
//! machine's speed (scripts/cpu-noise.py); this measures the cost apart from the search.

use std::path::{Path, PathBuf};

use bench_report::{RunMeta, Scheme, capacity_cell_name};
use clap::Args;
use loadgen::capacity::Capacity;

use super::{Lab, median};
use crate::error::BenchError;
use crate::roster::{BASE_SERVER, Roster};

/// `bench capacity-check`'s flags.
// A flag's default in brackets, [5], is its --help text, not an intra-doc link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, Args)]
pub struct CapacityCheckArgs {
    /// The server whose capacity is checked [default: hyper]
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// The capacity cell, MODE-ENDPOINT [reuse-single]
    #[arg(long, value_name = "CELL", default_value = "reuse-single", value_parser = ["reuse-single", "reuse-multiple", "no-reuse-single", "no-reuse-multiple"])]
    pub cell: String,
    /// Measurements per run
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Recorded seconds per measurement
    #[arg(long, value_name = "S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,
    /// run_all.sh run directories
    #[arg(value_name = "RUN_DIR", required = true)]
    pub runs: Vec<PathBuf>,
}

/// What one run's search says.
struct Searched {
    capacity: f64,
    cores: f64,
    rate: u64,
    connections: usize,
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::Io(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| BenchError::Io(format!("{}: {e}", path.display())))
}

/// Measures and prints.
pub fn run(root: &Path, roster: &Roster, args: &CapacityCheckArgs) -> Result<(), BenchError> {
    let name = args.server.clone().unwrap_or_else(|| BASE_SERVER.to_owned());
    let server = roster
        .get(&name)
        .ok_or_else(|| BenchError::Usage(format!("--server {name} is not a server of the roster")))?
        .clone();
    let (mode, endpoint) =
        args.cell.rsplit_once('-').ok_or_else(|| BenchError::Usage(format!("--cell {}", args.cell)))?;
    let metas = args.runs.iter().map(|r| read::<RunMeta>(&r.join("run.json"))).collect::<Result<Vec<_>, _>>()?;
    let first = &metas[0];
    let setup = |m: &RunMeta| {
        (
            m.capacity.as_ref().map(|c| (c.delay_ms, c.server_cpu_quota.map(f64::to_bits))),
            m.server_threads.get(&name).copied(),
            m.fanout,
        )
    };
    let Some(capacity) = &first.capacity else {
        return Err(BenchError::Io(format!("{}: the run made no capacity search", args.runs[0].display())));
    };
    let mut searched = Vec::new();
    for (i, (dir, meta)) in args.runs.iter().zip(&metas).enumerate() {
        if setup(meta) != setup(first) {
            return Err(BenchError::Io(format!(
                "{} and {} differ in their set-up: one set-up cannot check both",
                dir.display(),
                args.runs[0].display()
            )));
        }
        let record = dir.join(format!("{}.json", capacity_cell_name(Scheme::Http, mode, endpoint, &name)));
        let found: Capacity = read(&record)?;
        let (Some(cap), Some(cores), Some(at)) =
            (found.capacity_rps, found.server_cores, found.at_capacity.and_then(|i| found.steps.get(i)))
        else {
            return Err(BenchError::Io(format!(
                "{}: the search has no capacity, or the server's cores are unknown",
                dir.display()
            )));
        };
        let s = Searched {
            capacity: cap,
            cores,
            rate: (cap / 2.0).round() as u64,
            connections: at.connections.div_ceil(2),
        };
        println!(
            "run {} ({}): server-{name} {} capacity {:.0} req/s on {cores} core(s); measuring at {} req/s on {} connections",
            i + 1,
            dir.display(),
            args.cell,
            s.capacity.trunc(),
            s.rate,
            s.connections
        );
        searched.push(s);
    }
    let threads = first.server_threads.get(&name).copied().unwrap_or(server.threads.get());
    let lab = Lab::new(root, std::slice::from_ref(&server))?;
    let upstream = lab.upstream(capacity.delay_ms, false)?;
    let mut flags = vec!["--fanout".to_owned(), first.fanout.to_string()];
    let reuse = mode == "reuse";
    if !reuse {
        flags.push("--no-reuse".to_owned());
    }
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let running = lab.server(&server, &upstream, threads, &flag_refs)?;
    let _quota = match capacity.server_cpu_quota {
        Some(cores) => {
            let quota = lab.quota(cores).map_err(|why| {
                BenchError::Start(format!("the runs had a CPU quota of {cores} core(s), and here {why}"))
            })?;
            quota.add(running.pid())?;
            Some(quota)
        }
        None => None,
    };
    let (server_side, client_side) = lab.sides();
    println!(
        "set-up: server-{name} --threads {threads} {} on {server_side}, CPU quota {}; gosleep {} ms and loadgen on {client_side}",
        flags.join(" "),
        capacity.server_cpu_quota.map_or_else(|| "none".to_owned(), |q| q.to_string()),
        capacity.delay_ms
    );
    let mut per_request: Vec<Vec<f64>> = vec![Vec::new(); searched.len()];
    for round in 1..=args.rounds {
        for (i, s) in searched.iter().enumerate() {
            let mut load = vec![
                "-R".to_owned(),
                s.rate.to_string(),
                "-c".to_owned(),
                s.connections.to_string(),
                "-t".to_owned(),
                "1".to_owned(),
                "-d".to_owned(),
                format!("{}s", args.window),
                "--warmup".to_owned(),
                "1s".to_owned(),
                "--timeout".to_owned(),
                "10s".to_owned(),
                "--server-pid".to_owned(),
                running.pid().to_string(),
            ];
            if !reuse {
                load.push("--no-keepalive".to_owned());
            }
            load.push(running.url(endpoint));
            let r = lab.loadgen(&load)?;
            let us = loadgen::figures::cpu_per_1k(&r).map_or(f64::NAN, |k| k * 1000.0);
            let cpu = r.server.as_ref().map_or(0.0, |x| x.cpu_percent);
            let (non_2xx, socket) = (r.errors.non_2xx(), r.errors.socket());
            let errors = if non_2xx + socket > 0 {
                format!("; ERRORS: {non_2xx} non-2xx, {socket} socket errors (not counted)")
            } else {
                String::new()
            };
            println!(
                "round {round}, run {}: {} req/s: {} answers, {us:.1} us of server CPU per request (server CPU {cpu:.1}% of a core){errors}",
                i + 1,
                s.rate,
                r.requests
            );
            if errors.is_empty() {
                per_request[i].push(us);
            }
        }
    }
    if let Some(said) = running.stop() {
        eprintln!("{said}");
    }
    upstream.stop();
    for (i, (s, v)) in searched.iter().zip(&per_request).enumerate() {
        match median(v) {
            None => println!("run {}: no measurement without errors", i + 1),
            Some((m, lo, hi)) => {
                let predict = s.cores / (m / 1e6);
                println!(
                    "run {}: median {m:.1} us of server CPU per request over {} windows of {} s ({lo:.1}-{hi:.1}); {} core(s) predict {predict:.0} req/s; capacity {:.0} / prediction = {:.2}",
                    i + 1,
                    v.len(),
                    args.window,
                    s.cores,
                    s.capacity,
                    s.capacity / predict
                );
            }
        }
    }
    Ok(())
}
