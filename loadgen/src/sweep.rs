//! `loadgen sweep`: find the smallest connection count that saturates the server, the
//! step the original experiment did by hand ("raise -c until the server's CPU is 80-100%").

use serde::{Deserialize, Serialize};

use crate::LoadgenError;
use crate::cli::SweepOpts;
use crate::result::RunResult;

/// Why a sweep stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StopReason {
    /// The server reached the CPU target.
    CpuTarget,
    /// A step gained less than `--min-gain` RPS over the previous one.
    RpsPlateau,
    /// A step had errors; the chosen step is the last clean one.
    Errors,
    /// The next step would not fit in the fd limit.
    FdLimit,
    /// The next step would pass `--max-connections`.
    MaxConnections,
}

/// A whole sweep: every step's result and the chosen connection count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// One run per step, in order.
    pub steps: Vec<RunResult>,
    /// The connection count to use (`None` if even the first step failed).
    pub chosen: Option<usize>,
    /// Why it stopped.
    pub reason: StopReason,
}

/// Runs the sweep, printing one line per step (and the progress of none: steps are short).
pub fn sweep(opts: &SweepOpts) -> Result<Sweep, LoadgenError> {
    if opts.factor.is_nan() || opts.factor <= 1.0 {
        return Err(LoadgenError::Usage("--factor must be greater than 1".into()));
    }
    let mut steps: Vec<RunResult> = Vec::new();
    let mut chosen = None;
    let mut connections = opts.run.connections;
    let reason = loop {
        if connections > opts.max_connections {
            break StopReason::MaxConnections;
        }
        let mut run = opts.run.clone();
        run.connections = connections;
        run.threads = run.threads.min(connections);
        let plan = match crate::plan(&run) {
            Ok(plan) => plan,
            Err(LoadgenError::FdLimit { .. }) if !steps.is_empty() => break StopReason::FdLimit,
            Err(e) => return Err(e),
        };
        let result = crate::engine::run(&crate::engine::Plan { progress: false, ..plan })?;
        let errors = result.errors.socket() + result.errors.non_2xx();
        let cpu = result.server.map(|s| s.cpu_percent);
        println!(
            "  -c {:>6}  {:>10.1} req/s  p99 {:>9.1} ms  errors {:>6}  server CPU {}",
            connections,
            result.rps(),
            result.latency.value_at_quantile(0.99) as f64 / 1000.0,
            errors,
            cpu.map_or("-".to_owned(), |c| format!("{c:.0}%"))
        );
        let previous_rps = steps.last().map(RunResult::rps);
        if errors > 0 {
            steps.push(result);
            break StopReason::Errors;
        }
        let rps = result.rps();
        steps.push(result);
        if cpu.is_some_and(|c| c >= opts.target_cpu) {
            chosen = Some(connections);
            break StopReason::CpuTarget;
        }
        if previous_rps.is_some_and(|p| rps < p * (1.0 + opts.min_gain)) {
            // More connections bought nothing: the previous step already saturated it.
            break StopReason::RpsPlateau;
        }
        chosen = Some(connections);
        connections = ((connections as f64) * opts.factor).ceil() as usize;
    };
    let chosen_line = chosen.map_or("none".to_owned(), |c| format!("-c {c}"));
    println!("chosen: {chosen_line} ({reason:?})");
    Ok(Sweep { steps, chosen, reason })
}
