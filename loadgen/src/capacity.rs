//! `loadgen capacity`: the highest open-loop rate a server answers within its latency SLO,
//! and what bound it there (the original experiment's "raise the load until the server's
//! CPU is at 80-100%", done open loop so that a fast server is not hidden behind the
//! connection count a closed loop would need).
//!
//! The record is JSON first: [`Capacity`] holds every step, and the report renders its
//! tables and chart from it.
//!
//! The search: a light step at `--start-rate` (its p50 x 2 is the SLO unless `--slo-p99`
//! gives one), then rates rising by `--factor` until a step fails, then bisection between
//! the highest passing and the lowest failing rate until they are one `--precision` apart.
//! A step passes when it answers >= 99% of the requests offered in its window, with no
//! socket error, no non-2xx and its (CO-corrected) p99 within the SLO.
//!
//! Three things keep a search repeatable on a shared machine. Every rate is on one grid,
//! `--start-rate x r^k`, so two searches try the same rates and agree exactly where their
//! verdicts do (r is `--precision` adjusted so that a whole number of steps make
//! `--factor`: the default, 2^(1/8), puts 8 in a doubling). Near the knee a single verdict
//! is a coin toss, and a wrong one early in a bisection sends the rest of it to the wrong
//! side, where it can never come back; so both ends of the final bracket run a second time
//! (a confirming step), each rate counts by its latest verdict, and a flip moves the
//! bracket and the search goes on. And no step inherits the one before it: the next starts only once the
//! server's CPU has gone quiet ([`QUIET_CPU_SHARE`]), and with keep-alive its connections
//! are open before its clock starts (see [`crate::engine::run`]).
//!
//! To save steps the rise may start above `--start-rate x --factor`: at the highest rising
//! rate at or under the lower of two predictions from the light step, its CPU one (the
//! server's cores over its CPU seconds per request, `--server-pid`) and, with `--pool N`,
//! half of Little's law (N over the light step's p50). Per-request CPU is highest at light
//! load (no batching, idle wake-ups count too), so the CPU prediction errs low, by 2-4x for
//! the servers here; Little's law is the pool's knee itself, so the rise aims at half of it.
//!
//! Each step is an open-loop run through [`crate::engine::run`], on connections sized so
//! that a request as slow as the SLO never makes the next one on its connection late (see
//! [`CONNECTION_HEADROOM`]). What bound the capacity is decided at the lowest failing
//! step above it: the client side first (loadgen or the upstream near a full core, or both
//! near full on the one core they share), then the server's CPU share of its cores, then
//! the pool (`--pool`) or another concurrency cap. How busy the server's and the client's
//! CPUs were (all processes, /proc/stat; only when the two sets are apart, as when pinned)
//! is recorded and shown: a server under the CPU share on cores other processes filled
//! is named so in the verdict, a figure under contention.
//!
//! Here: the record and the search's constants. The search runs in `search`, on the rates of
//! `grid`, with the sampling around each step in `sampling`; `verdict` judges the steps and
//! `text` prints them.

mod grid;
mod sampling;
mod search;
mod text;
mod verdict;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::result::RunResult;

pub use search::{connections_for, search};
pub use text::verdict;
pub use text::{bound_name, ms};
pub use verdict::{decide_bound, failure};

/// What stopped the capacity from being higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The server used at least [`CPU_BOUND_SHARE`] of the cores it may run on.
    Cpu,
    /// A thread-pool server (its pool size given with `--pool`) broke the SLO with its CPU
    /// under [`CPU_BOUND_SHARE`]: the pool's in-flight cap.
    Pool,
    /// The SLO broke with the server's CPU under [`CPU_BOUND_SHARE`] and no pool given:
    /// some other cap on requests in flight. (Also Pool or Concurrency when the server's
    /// CPU was not sampled, no `--server-pid`: the verdict then says CPU is not ruled out.)
    Concurrency,
    /// The next step's connections would not fit in the fd budget.
    FdBudget,
    /// loadgen or the upstream used more than [`CLIENT_BOUND_SHARE`] of its core at the
    /// failing step: the capacity is a lower bound of the server's, not its figure.
    Client,
    /// The first, light step already had errors or broke the SLO: no capacity.
    FirstStep,
    /// Every step passed up to `--max-rate`.
    MaxRate,
}

/// A server at or over this share of its cores is CPU-bound.
pub const CPU_BOUND_SHARE: f64 = 0.90;

/// A client process (loadgen, the upstream) over this share of its core, or both together
/// over this share of the cores they share, may be what limits the step, so the step
/// cannot be labelled the server's.
pub const CLIENT_BOUND_SHARE: f64 = 0.85;

/// Which part of the search a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The first step, at a light rate: its p50 sets the default SLO.
    Light,
    /// Rates rising geometrically until a step fails.
    Rise,
    /// Bisection between the last passing and the first failing rate.
    Bisect,
    /// A second run at an end of the final bracket: its verdict replaces the first's.
    Confirm,
}

/// CPU of the client side during a step, each in % of one core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientSample {
    /// loadgen itself (all its threads).
    pub loadgen_cpu_percent: f64,
    /// The upstream (`--upstream-pid`, with its descendants), when given.
    pub upstream_cpu_percent: Option<f64>,
    /// How busy the CPUs loadgen and the upstream may run on were (all processes), % of
    /// those CPUs; only when none of them is the server's. Context, not a bound: other
    /// processes there show as busy while loadgen may still get all the CPU it asks for.
    #[serde(default)]
    pub cpus_busy_percent: Option<f64>,
    /// When loadgen and the upstream may run on exactly the same CPUs (both pinned to the
    /// client core, say), how many: their CPU then adds up against those cores.
    #[serde(default)]
    pub shared_cores: Option<f64>,
}

impl ClientSample {
    /// Why the client side may be what limited the step (empty when it is not): loadgen or
    /// the upstream over [`CLIENT_BOUND_SHARE`] of its core, or both together over that
    /// share of the cores they share.
    pub fn bound_words(&self) -> String {
        let over = |percent: f64| percent / 100.0 > CLIENT_BOUND_SHARE;
        let mut words = Vec::new();
        if over(self.loadgen_cpu_percent) {
            words.push(format!("loadgen {:.0}% of its core", self.loadgen_cpu_percent));
        }
        if let Some(u) = self.upstream_cpu_percent.filter(|u| over(*u)) {
            words.push(format!("upstream {u:.0}% of its core"));
        }
        if let (Some(cores), Some(u), true) = (self.shared_cores, self.upstream_cpu_percent, words.is_empty()) {
            let both = self.loadgen_cpu_percent + u;
            if over(both / cores) {
                words.push(format!(
                    "loadgen {:.0}% + upstream {u:.0}% of their shared {cores} core(s)",
                    self.loadgen_cpu_percent
                ));
            }
        }
        words.join(", ")
    }
}

/// One step of the search: a run at one offered rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// Which part of the search.
    pub phase: Phase,
    /// The offered (open-loop) rate, requests per second.
    pub offered_rps: f64,
    /// Connections the step used (sized from the rate and the SLO).
    pub connections: usize,
    /// The run: answers, errors, CO-corrected latency, the server's CPU and memory.
    pub result: RunResult,
    /// The client side's CPU over the same window.
    pub client: ClientSample,
    /// Whether the step passed: >= 99% of the offered requests answered, no socket error,
    /// no non-2xx, p99 within the SLO.
    pub passed: bool,
    /// Why it failed (one line), when it did.
    pub failure: Option<String>,
    /// loadgen or the upstream passed [`CLIENT_BOUND_SHARE`] of its core: what the step
    /// measured may be the client's limit, not the server's.
    #[serde(default)]
    pub client_bound: bool,
    /// How busy the CPUs the server may run on were during the window, all processes
    /// counted, % of those CPUs (with `--server-pid`, and only when loadgen and the
    /// upstream run on other CPUs). Context for the verdict: a server under
    /// [`CPU_BOUND_SHARE`] on CPUs that busy was competing with other processes.
    #[serde(default)]
    pub server_cpus_busy_percent: Option<f64>,
    /// How long the search waited, before this step, for the server to go quiet after the
    /// step before it (see [`QUIET_CPU_SHARE`]), seconds; 0 for the first step.
    #[serde(default)]
    pub settle_s: f64,
}

/// A whole capacity search: JSON first, the text and the report are rendered from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capacity {
    /// The URL searched.
    pub url: String,
    /// The p99 latency SLO, microseconds.
    pub slo_p99_us: u64,
    /// Where the SLO came from: "--slo-p99" or "2 x the light step's p50".
    pub slo_source: String,
    /// Cores the server may use (its CPU affinity, and its cgroup CPU quota when one is
    /// set), when `--server-pid` was given.
    pub server_cores: Option<f64>,
    /// The pool size given with `--pool`, for a thread-pool server.
    pub pool: Option<usize>,
    /// Every step, in the order run.
    pub steps: Vec<Step>,
    /// The highest offered rate that passed (`None` when none did).
    pub capacity_rps: Option<f64>,
    /// Index in `steps` of the step at capacity.
    pub at_capacity: Option<usize>,
    /// Index in `steps` of the step that decided the bound: the latest run at the lowest
    /// failing rate above capacity (`None` when the search stopped without one). Records
    /// from before this field leave it out; see [`Capacity::deciding_step`].
    #[serde(default)]
    pub bound_step: Option<usize>,
    /// What bound it.
    pub bound: Bound,
    /// Peak RSS growth per request in flight between the light step and the highest
    /// passing rising step, KiB (in flight = answered rate x mean latency). The step's
    /// open connections count in it too: the search keeps about [`CONNECTION_HEADROOM`] x
    /// SLO / latency of them per request in flight (4 with the default SLO).
    pub rss_kib_per_in_flight: Option<f64>,
}

impl Capacity {
    /// The step that decided the bound: [`Capacity::bound_step`], or in an older record the
    /// lowest failing step above capacity.
    pub fn deciding_step(&self) -> Option<&Step> {
        if let Some(i) = self.bound_step {
            return self.steps.get(i);
        }
        let floor = self.capacity_rps.unwrap_or(0.0);
        let failing = self.steps.iter().filter(|s| !s.passed && s.offered_rps > floor);
        failing.min_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps))
    }

    /// The latest step at each offered rate, in rate order: the runs the search's verdicts
    /// rest on (a confirming step replaces the first run at its rate).
    pub fn latest_steps(&self) -> Vec<&Step> {
        let rates: Vec<f64> = self.steps.iter().map(|s| s.offered_rps).collect();
        grid::latest_by_rate(&rates).into_iter().map(|i| &self.steps[i]).collect()
    }
}

/// Connections per step are `ceil(rate x latency x CONNECTION_HEADROOM)`: open loop keeps
/// about rate x latency requests in flight, and with twice that each connection's slots
/// are two SLOs apart, so an answer as slow as the SLO leaves its connection free before
/// its next slot (a late slot would be charged to the server as latency).
pub const CONNECTION_HEADROOM: f64 = 2.0;

/// Fewest connections per step: at a light rate x latency is under one, and a few spare
/// connections absorb a stray slow answer at no cost.
pub const MIN_CONNECTIONS: usize = 8;

/// A step must answer at least this share of the requests offered in its window.
pub const ANSWERED_SHARE: f64 = 0.99;

/// Without `--slo-p99` the SLO is this many times the light step's p50.
pub const SLO_TIMES_LIGHT_P50: f64 = 2.0;

/// The derived SLO is never shorter than this: under a millisecond, a p99 on a shared
/// machine is the scheduler's noise, not the server.
pub const MIN_DERIVED_SLO: Duration = Duration::from_millis(1);

/// Before each step after the first, the search waits until the server's CPU stays under
/// this share of one core for [`QUIET_WINDOW`] (or the light step's p50, if longer, so that
/// work still waiting on its upstream shows): an overloaded step leaves work behind (queued
/// connections, requests whose client is gone), and a next step started on top of it would
/// be charged for it.
pub const QUIET_CPU_SHARE: f64 = 0.05;

/// See [`QUIET_CPU_SHARE`].
pub const QUIET_WINDOW: Duration = Duration::from_millis(100);

/// The rise may start at this share of the rate Little's law predicts for a pool (its knee).
pub const POOL_JUMP_SHARE: f64 = 0.5;

/// At most this many confirming runs per search: each end of the bracket once, and once
/// more each should a flipped verdict move the bracket.
pub const MAX_CONFIRMS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_side_is_bound_by_either_process_or_both_on_a_shared_core() {
        let sample = |l: f64, u: f64, busy: Option<f64>| ClientSample {
            loadgen_cpu_percent: l,
            upstream_cpu_percent: Some(u),
            cpus_busy_percent: busy,
            shared_cores: None,
        };
        assert!(sample(91.0, 10.0, None).bound_words().starts_with("loadgen 91%"));
        assert!(sample(10.0, 90.0, None).bound_words().starts_with("upstream 90%"));
        assert_eq!(sample(50.0, 30.0, Some(80.0)).bound_words(), "");
        assert_eq!(
            sample(50.0, 30.0, Some(100.0)).bound_words(),
            "",
            "others' load on the client CPUs is not loadgen's"
        );
        let shared = ClientSample { shared_cores: Some(1.0), ..sample(50.0, 40.0, None) };
        assert!(
            shared.bound_words().starts_with("loadgen 50% + upstream 40% of their shared 1 core(s)"),
            "{}",
            shared.bound_words()
        );
        assert_eq!(ClientSample { shared_cores: Some(2.0), ..sample(50.0, 40.0, None) }.bound_words(), "");
    }
}
