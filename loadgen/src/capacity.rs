//! `loadgen capacity`: the highest open-loop rate a server answers within its latency SLO,
//! and what bound it there (the original experiment's "raise the load until the server's
//! CPU is at 80-100%", done open loop so that a fast server is not hidden behind the
//! connection count a closed loop would need).
//!
//! The record is JSON first: [`Capacity`] holds every step, and the report renders its
//! tables and chart from it.

use serde::{Deserialize, Serialize};

use crate::result::RunResult;

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
    /// some other cap on requests in flight.
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

/// A client process (loadgen, the upstream) over this share of its core may be what
/// limits the step, so the step cannot be labelled the server's.
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
}

/// CPU of the client side during a step, each in % of one core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientSample {
    /// loadgen itself (all its threads).
    pub loadgen_cpu_percent: f64,
    /// The upstream (`--upstream-pid`), when given.
    pub upstream_cpu_percent: Option<f64>,
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
    /// What bound it.
    pub bound: Bound,
    /// Peak RSS growth per request in flight between the light step and the highest
    /// passing rising step, KiB (in flight = answered rate x mean latency).
    pub rss_kib_per_in_flight: Option<f64>,
}
