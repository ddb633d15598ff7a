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

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::LoadgenError;
use crate::cli::{CapacityOpts, RunOpts};
use crate::procstat;
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
        latest_by_rate(&rates).into_iter().map(|i| &self.steps[i]).collect()
    }
}

/// The index of the latest run at each rate, in rate order, from the rates in the order run.
/// A rate run again is the same grid rate, computed the same way, so equal rates are equal
/// floats.
fn latest_by_rate(rates: &[f64]) -> Vec<usize> {
    let mut latest: Vec<usize> = Vec::new();
    for (i, rate) in rates.iter().enumerate() {
        match latest.iter_mut().find(|j| rates[**j] == *rate) {
            Some(seen) => *seen = i,
            None => latest.push(i),
        }
    }
    latest.sort_by(|a, b| rates[*a].total_cmp(&rates[*b]));
    latest
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

/// Runs the search, printing one line per step and the verdict (the one stdout line that
/// starts `capacity: `).
pub fn search(opts: &CapacityOpts) -> Result<Capacity, LoadgenError> {
    validate(opts)?;
    let (fd_room, fd_limit) = crate::fd_budget()?;
    let budget = opts.max_connections.map_or(fd_room, |m| m.min(fd_room));
    if let Some(pid) = opts.upstream_pid {
        procstat::read(pid)
            .map_err(|e| LoadgenError::Usage(format!("--upstream-pid {pid}: cannot read /proc/{pid} ({e})")))?;
    }
    let server_cores = opts.server_pid.and_then(procstat::cores);
    let mut search = Search { opts, budget, server_cores, steps: Vec::new() };

    // The light step, before the SLO is known: sized for answers as slow as the SLO given,
    // or else as the timeout (no slower answer counts), within the budget.
    let guess = opts.slo_p99.unwrap_or(opts.timeout);
    let light_c = connections_for(opts.start_rate, guess).min(budget);
    let cores = server_cores.map_or(String::new(), |c| format!("; the server may use {c} core(s)"));
    println!(
        "capacity of {}: connections per step = ceil(rate x SLO x {CONNECTION_HEADROOM}), at least {MIN_CONNECTIONS}, \
         at most the requests it sends (the light step, before the SLO is known, takes {} as its latency); budget {budget} connections ({}){cores}",
        opts.url,
        ms(guess),
        match opts.max_connections {
            Some(m) if m <= fd_room => format!("--max-connections {m}"),
            _ => format!("fd limit {fd_limit} less loadgen's own"),
        }
    );
    search.run(Phase::Light, opts.start_rate, light_c)?;
    let light = &search.steps[0];
    let (slo, slo_source) = match opts.slo_p99 {
        Some(slo) => (slo, "--slo-p99".to_owned()),
        None => {
            let twice = Duration::from_micros(light.result.latency_summary.p50_us).mul_f64(SLO_TIMES_LIGHT_P50);
            if twice >= MIN_DERIVED_SLO {
                (twice, "2 x the light step's p50".to_owned())
            } else {
                (MIN_DERIVED_SLO, "its floor (2 x the light step's p50 was under it)".to_owned())
            }
        }
    };
    search.judge(0, slo);
    println!("SLO: p99 <= {} ({slo_source})", ms(slo));
    if !search.steps[0].passed {
        return Ok(search.finish(slo, slo_source, None, None, Bound::FirstStep, String::new()));
    }

    // Rates rise `--factor` apart on the grid until one fails; then bisection, and each
    // end of the final bracket confirmed by a second run: a verdict that flips moves the
    // bracket (or, at the top, resumes the rise), and the search goes on from there.
    let grid = Grid::new(opts);
    let mut confirms = 0;
    loop {
        let (lo, hi) = search.bracket();
        let Some(hi) = hi else {
            // Every rate so far passed: rise.
            let top = lo.unwrap_or(0);
            let k_top = grid.index(search.steps[top].offered_rps);
            let mut k = if search.steps.len() == 1 { search.first_rise(&grid, slo) } else { k_top + grid.factor_steps };
            if grid.rate(k) > opts.max_rate {
                k = grid.at_or_below(opts.max_rate);
            }
            if k <= k_top {
                let why = format!("every step passed up to --max-rate {:.0}", opts.max_rate);
                return Ok(search.finish(slo, slo_source, Some(top), None, Bound::MaxRate, why));
            }
            let (rate, need) = (grid.rate(k), connections_for(grid.rate(k), slo));
            if need > budget {
                let why = format!("{rate:.0} req/s would need {need} connections, over the budget of {budget}");
                return Ok(search.finish(slo, slo_source, Some(top), None, Bound::FdBudget, why));
            }
            let i = search.run(Phase::Rise, rate, need)?;
            search.judge(i, slo);
            continue;
        };
        let Some(lo) = lo else {
            let why =
                format!("no rate passed when run again ({})", search.steps[hi].failure.clone().unwrap_or_default());
            return Ok(search.finish(slo, slo_source, None, Some(hi), Bound::FirstStep, why));
        };
        let (k_lo, k_hi) = (grid.index(search.steps[lo].offered_rps), grid.index(search.steps[hi].offered_rps));
        let (phase, k) = if k_hi - k_lo > 1 {
            (Phase::Bisect, k_lo + (k_hi - k_lo) / 2)
        } else if confirms < MAX_CONFIRMS && search.runs_at(&grid, k_lo) == 1 {
            (Phase::Confirm, k_lo)
        } else if confirms < MAX_CONFIRMS && search.runs_at(&grid, k_hi) == 1 {
            (Phase::Confirm, k_hi)
        } else {
            let (bound, why) = decide_bound(&search.steps[hi], server_cores, opts.pool);
            return Ok(search.finish(slo, slo_source, Some(lo), Some(hi), bound, why));
        };
        confirms += usize::from(phase == Phase::Confirm);
        let rate = grid.rate(k);
        // Never more connections than a failing step above it, which fitted.
        let i = search.run(phase, rate, connections_for(rate, slo))?;
        search.judge(i, slo);
    }
}

/// The search's rates: `--start-rate` x r^k for whole k, r about 1 + `--precision`, so that
/// two searches of one server try the same rates and, where their verdicts agree, report
/// the same figure.
struct Grid {
    base: f64,
    factor: f64,
    /// Grid steps between one rising rate and the next (`--factor`).
    factor_steps: i64,
}

impl Grid {
    /// The grid whose step is nearest `--precision` with a whole number of steps making
    /// `--factor`, so that rising rates are exact powers of the factor.
    fn new(opts: &CapacityOpts) -> Self {
        let factor_steps = (opts.factor.ln() / opts.precision.ln_1p()).round().max(1.0) as i64;
        Self { base: opts.start_rate, factor: opts.factor, factor_steps }
    }

    /// Grid steps in `rate / base`, fractional.
    fn steps(&self, rate: f64) -> f64 {
        (rate / self.base).ln() / self.factor.ln() * self.factor_steps as f64
    }

    fn rate(&self, k: i64) -> f64 {
        self.base * self.factor.powf(k as f64 / self.factor_steps as f64)
    }

    /// The grid index of a rate the search ran (a grid rate, so rounding only absorbs
    /// floating-point error).
    fn index(&self, rate: f64) -> i64 {
        self.steps(rate).round() as i64
    }

    /// The highest grid index whose rate is at most `rate`.
    fn at_or_below(&self, rate: f64) -> i64 {
        (self.steps(rate) + 1e-9).floor() as i64
    }
}

/// The bracket from the steps' (rate, passed) in the order run, as step indices, each rate
/// judged by its latest run: the highest passing rate under the lowest failing one (`lo`;
/// none when no rate under it passes) and that failing rate (`hi`; none when none failed).
fn bracket(verdicts: &[(f64, bool)]) -> (Option<usize>, Option<usize>) {
    let rates: Vec<f64> = verdicts.iter().map(|(rate, _)| *rate).collect();
    let latest = latest_by_rate(&rates);
    let hi = latest.iter().position(|&i| !verdicts[i].1);
    let lo = match hi {
        Some(h) => h.checked_sub(1).map(|j| latest[j]),
        None => latest.last().copied(),
    };
    (lo, hi.map(|h| latest[h]))
}

/// At most this many confirming runs per search: each end of the bracket once, and once
/// more each should a flipped verdict move the bracket.
pub const MAX_CONFIRMS: usize = 4;

fn validate(opts: &CapacityOpts) -> Result<(), LoadgenError> {
    // Before the search prints its first line: a URL it cannot use is the whole answer.
    crate::cli::parse_url(&opts.url).map_err(LoadgenError::Usage)?;
    let usage = |m: &str| Err(LoadgenError::Usage(m.to_owned()));
    if !(opts.factor.is_finite() && opts.factor > 1.0) {
        return usage("--factor must be greater than 1");
    }
    if !(opts.precision.is_finite() && opts.precision > 0.0) {
        return usage("--precision must be greater than 0");
    }
    if opts.start_rate > opts.max_rate {
        return usage("--start-rate must not be over --max-rate");
    }
    if opts.slo_p99.is_some_and(|slo| slo.is_zero() || slo >= opts.timeout) {
        return usage("--slo-p99 must be longer than zero and shorter than --timeout (a slower answer is a timeout)");
    }
    if opts.pool == Some(0) || opts.max_connections == Some(0) || opts.threads == 0 {
        return usage("--pool, --max-connections and -t must be at least 1");
    }
    Ok(())
}

/// Connections for `rate` when answers take up to `latency` (see [`CONNECTION_HEADROOM`]).
pub fn connections_for(rate: f64, latency: Duration) -> usize {
    let need = (rate * latency.as_secs_f64() * CONNECTION_HEADROOM).ceil();
    // Saturates for absurd products; the budget check then stops the search.
    (need as usize).max(MIN_CONNECTIONS)
}

/// The search in progress.
struct Search<'a> {
    opts: &'a CapacityOpts,
    budget: usize,
    server_cores: Option<f64>,
    steps: Vec<Step>,
}

impl Search<'_> {
    /// Runs one step (not yet judged) and returns its index.
    fn run(&mut self, phase: Phase, rate: f64, connections: usize) -> Result<usize, LoadgenError> {
        let o = self.opts;
        // Never more connections than requests the step sends: one more would sit open
        // unused, and a thread-per-connection server would hold a thread for it.
        let sends = (rate * (o.warmup + o.duration).as_secs_f64()).ceil() as usize;
        let connections = connections.min(sends.max(1));
        let settle_s = match (self.steps.first(), o.server_pid) {
            (Some(light), Some(pid)) => {
                let unloaded = Duration::from_micros(light.result.latency_summary.p50_us);
                settle(pid, QUIET_WINDOW.max(unloaded), o.timeout).as_secs_f64()
            }
            _ => 0.0,
        };
        let run = RunOpts {
            connections,
            threads: o.threads.min(connections),
            duration: o.duration,
            timeout: o.timeout,
            headers: o.headers.clone(),
            latency: false,
            rate: Some(rate),
            no_keepalive: o.no_keepalive,
            warmup: o.warmup,
            json: None,
            server_pid: o.server_pid,
            url: Some(o.url.clone()),
        };
        let plan = crate::plan(&run)?;
        let sampler = sample_window(o.warmup, o.duration, o.server_pid, o.upstream_pid);
        let result = crate::engine::run(&crate::engine::Plan { progress: false, ..plan })?;
        let (client, server_cpus_busy_percent) = sampler.join().unwrap_or_default();
        let client_bound = !client.bound_words().is_empty();
        self.steps.push(Step {
            phase,
            offered_rps: rate,
            connections,
            result,
            client,
            passed: false,
            failure: None,
            client_bound,
            server_cpus_busy_percent,
            settle_s,
        });
        Ok(self.steps.len() - 1)
    }

    /// Judges step `i` against the SLO and prints its line.
    fn judge(&mut self, i: usize, slo: Duration) {
        let cores = self.server_cores;
        let step = &mut self.steps[i];
        step.failure = failure(&step.result, step.offered_rps, slo);
        step.passed = step.failure.is_none();
        println!("{}", step_line(step, cores));
    }

    /// The first rising rate's grid index: `--factor` over the light one, or a later rising
    /// rate when the light step predicts a much higher saturation rate (see the module doc).
    fn first_rise(&self, grid: &Grid, slo: Duration) -> i64 {
        let light = &self.steps[0];
        let next = grid.factor_steps;
        let requests = light.result.requests as f64;
        let by_cpu = match (self.server_cores, light.result.server) {
            (Some(cores), Some(s)) if s.cpu_seconds > 0.0 && requests > 0.0 => Some((
                cores * requests / s.cpu_seconds,
                format!("{cores} core(s) / {:.0} us of server CPU per request", 1e6 * s.cpu_seconds / requests),
            )),
            _ => None,
        };
        let p50 = light.result.latency_summary.p50_us as f64 / 1e6;
        let by_pool = self.opts.pool.filter(|_| p50 > 0.0).map(|n| {
            (POOL_JUMP_SHARE * n as f64 / p50, format!("{POOL_JUMP_SHARE} x a pool of {n} / p50 {:.1} ms", p50 * 1e3))
        });
        let predicted = [by_cpu, by_pool].into_iter().flatten().min_by(|a, b| a.0.total_cmp(&b.0));
        match predicted {
            Some((rate, how)) if grid.at_or_below(rate) >= 2 * next => {
                // The highest rising rate at or under the prediction: it errs low, so that
                // step passes, and the search has a passing step above the light one before
                // any overload (for the memory slope). Rising rates only, so that two
                // searches whose predictions differ a little still rise through the same
                // rates; and not past what the budget allows.
                let fits = self.budget as f64 / (slo.as_secs_f64() * CONNECTION_HEADROOM);
                let k = grid.at_or_below(rate.min(fits)).div_euclid(next).max(1) * next;
                println!(
                    "rising from {:.0} req/s, the rising rate at or under {rate:.0} predicted by {how}",
                    grid.rate(k)
                );
                k
            }
            _ => next,
        }
    }

    /// See [`bracket`].
    fn bracket(&self) -> (Option<usize>, Option<usize>) {
        let verdicts: Vec<(f64, bool)> = self.steps.iter().map(|s| (s.offered_rps, s.passed)).collect();
        bracket(&verdicts)
    }

    /// How many steps ran at grid index `k`.
    fn runs_at(&self, grid: &Grid, k: i64) -> usize {
        self.steps.iter().filter(|s| grid.index(s.offered_rps) == k).count()
    }

    /// The record, its verdict printed.
    fn finish(
        self,
        slo: Duration,
        slo_source: String,
        lo: Option<usize>,
        hi: Option<usize>,
        bound: Bound,
        why: String,
    ) -> Capacity {
        let capacity = Capacity {
            url: self.opts.url.clone(),
            slo_p99_us: slo.as_micros().try_into().unwrap_or(u64::MAX),
            slo_source,
            server_cores: self.server_cores,
            pool: self.opts.pool,
            capacity_rps: lo.map(|i| self.steps[i].offered_rps),
            at_capacity: lo,
            bound_step: hi,
            bound,
            rss_kib_per_in_flight: rss_kib_per_in_flight(&self.steps),
            steps: self.steps,
        };
        if let Some(hi) = hi {
            println!(
                "bound decided at the lowest failing step above capacity: {:.0} req/s",
                capacity.steps[hi].offered_rps
            );
        }
        println!("{}", verdict(&capacity, &why));
        capacity
    }
}

/// Waits until the server's CPU (its process tree's) stays under [`QUIET_CPU_SHARE`] of a
/// core for `quiet`, at most `limit` (then goes on: a server busy at rest is its own
/// baseline); returns the time waited.
fn settle(pid: u32, quiet: Duration, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut tree = procstat::Tree::new(pid);
    let Ok(mut from) = tree.read() else { return Duration::ZERO };
    loop {
        std::thread::sleep(quiet);
        let Ok(now) = tree.read() else { break };
        let used = procstat::ticks_to_seconds(now.cpu_ticks.saturating_sub(from.cpu_ticks));
        if used <= QUIET_CPU_SHARE * quiet.as_secs_f64() || start.elapsed() >= limit {
            break;
        }
        from = now;
    }
    start.elapsed()
}

/// Samples loadgen's own CPU and the upstream's (each a process tree), and how busy the
/// client side's and the server's CPUs were, over the step's recorded window, on a thread
/// of its own timed like the engine's window (the engine samples the server's own CPU).
/// CPU sets that overlap are not sampled: there busy says nothing about which side was
/// short.
fn sample_window(
    warmup: Duration,
    window: Duration,
    server: Option<u32>,
    upstream: Option<u32>,
) -> std::thread::JoinHandle<(ClientSample, Option<f64>)> {
    std::thread::spawn(move || {
        std::thread::sleep(warmup);
        let own = std::process::id();
        let mut client_cpus = procstat::affinity(own).unwrap_or_default();
        client_cpus.extend(upstream.and_then(procstat::affinity).unwrap_or_default());
        client_cpus.sort_unstable();
        client_cpus.dedup();
        let server_cpus = server.and_then(procstat::affinity).unwrap_or_default();
        let apart = !server_cpus.is_empty() && !server_cpus.iter().any(|c| client_cpus.contains(c));
        let busy = |cpus: Vec<usize>| apart.then(|| procstat::BusyWindow::start(cpus).ok()).flatten();
        let (client_busy, server_busy) = (busy(client_cpus), busy(server_cpus));
        let cpu = |pid: Option<u32>| pid.and_then(|p| procstat::Window::start(p).ok());
        let (own_cpu, up_cpu) = (cpu(Some(own)), cpu(upstream));
        let start = Instant::now();
        std::thread::sleep(window);
        let elapsed = start.elapsed().as_secs_f64();
        let client = ClientSample {
            loadgen_cpu_percent: own_cpu.map_or(0.0, |w| w.finish(elapsed).cpu_percent),
            upstream_cpu_percent: up_cpu.map(|w| w.finish(elapsed).cpu_percent),
            cpus_busy_percent: client_busy.and_then(procstat::BusyWindow::finish),
            shared_cores: upstream.and_then(|pid| shared_cores(own, pid)),
        };
        (client, server_busy.and_then(procstat::BusyWindow::finish))
    })
}

/// How many CPUs two processes share, when their affinities are the same.
fn shared_cores(a: u32, b: u32) -> Option<f64> {
    let a = procstat::affinity(a)?;
    (procstat::affinity(b)? == a).then_some(a.len() as f64)
}

/// Why a step at `rate` fails the pass rule, or `None` when it passes.
pub fn failure(result: &RunResult, rate: f64, slo: Duration) -> Option<String> {
    let mut why = Vec::new();
    let e = &result.errors;
    if e.socket() > 0 {
        let kinds = [("connect", e.connect), ("read", e.read), ("write", e.write), ("timeout", e.timeout)];
        let kinds: Vec<String> = kinds.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        why.push(format!("{} socket errors ({})", e.socket(), kinds.join(", ")));
    }
    if e.non_2xx() > 0 {
        let codes: Vec<String> = e.status.iter().map(|(code, n)| format!("{code} x{n}")).collect();
        why.push(format!("{} non-2xx answers ({})", e.non_2xx(), codes.join(", ")));
    }
    let offered = rate * result.mode.duration_s;
    let answered = result.requests.saturating_sub(e.non_2xx()) as f64;
    if answered < ANSWERED_SHARE * offered {
        why.push(format!("answered {:.1}% of {offered:.0} offered", 100.0 * answered / offered.max(1.0)));
    }
    let p99 = Duration::from_micros(result.latency_summary.p99_us);
    if p99 > slo {
        why.push(format!("p99 {} > SLO {}", ms(p99), ms(slo)));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// What bound the capacity, decided at the lowest failing step above it, and the reason
/// in words.
pub fn decide_bound(step: &Step, server_cores: Option<f64>, pool: Option<usize>) -> (Bound, String) {
    if step.client_bound {
        return (Bound::Client, step.client.bound_words());
    }
    let share = server_share(step, server_cores);
    if let Some(share) = share
        && share >= CPU_BOUND_SHARE
    {
        return (Bound::Cpu, format!("server CPU {:.0}% of its cores at {:.0} req/s", 100.0 * share, step.offered_rps));
    }
    let bound = if pool.is_some() { Bound::Pool } else { Bound::Concurrency };
    if let Some(busy) = step.server_cpus_busy_percent.filter(|b| b / 100.0 >= CPU_BOUND_SHARE) {
        let why = format!("but its CPUs were {busy:.0}% busy with other processes: a figure under contention");
        return (bound, why);
    }
    let why = if share.is_none() {
        "server CPU not sampled (no --server-pid), so cpu is not ruled out".into()
    } else {
        String::new()
    };
    (bound, why)
}

/// The server's CPU in the step as a share of the cores it may use.
fn server_share(step: &Step, cores: Option<f64>) -> Option<f64> {
    Some(step.result.server?.cpu_percent / (100.0 * cores?))
}

/// Peak RSS growth per request in flight from the light step to the highest passing rising
/// step (see the field's doc).
fn rss_kib_per_in_flight(steps: &[Step]) -> Option<f64> {
    let light = steps.first()?;
    let top = steps
        .iter()
        .filter(|s| s.passed && s.phase == Phase::Rise)
        .max_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps))?;
    let in_flight = |r: &RunResult| r.rps() * r.latency_summary.mean_us / 1e6;
    let grew = top.result.server?.peak_rss_kib as f64 - light.result.server?.peak_rss_kib as f64;
    let more = in_flight(&top.result) - in_flight(&light.result);
    (more > 0.0).then(|| grew / more)
}

fn bound_name(bound: Bound) -> &'static str {
    match bound {
        Bound::Cpu => "cpu",
        Bound::Pool => "pool",
        Bound::Concurrency => "concurrency",
        Bound::FdBudget => "fd_budget",
        Bound::Client => "client",
        Bound::FirstStep => "first_step",
        Bound::MaxRate => "max_rate",
    }
}

/// The verdict line.
pub fn verdict(c: &Capacity, why: &str) -> String {
    let slo = Duration::from_micros(c.slo_p99_us);
    let name = bound_name(c.bound);
    let Some(at) = c.at_capacity.map(|i| &c.steps[i]) else {
        let reason = c.steps.first().and_then(|s| s.failure.clone()).unwrap_or_else(|| why.to_owned());
        return format!("capacity: none (first step failed: {reason})");
    };
    let rate = at.offered_rps;
    match c.bound {
        Bound::Client | Bound::FdBudget | Bound::MaxRate => {
            format!("capacity: >= {rate:.0} req/s (bound: {name}, {why})")
        }
        _ => {
            let cpu = match (at.result.server, c.server_cores) {
                (Some(s), Some(cores)) => format!(
                    "server CPU {} of {cores} core{}",
                    with_busy(s.cpu_percent / cores, at.server_cpus_busy_percent),
                    if cores == 1.0 { "" } else { "s" }
                ),
                _ => "server CPU not sampled".to_owned(),
            };
            let p99 = Duration::from_micros(at.result.latency_summary.p99_us);
            let note = if why.is_empty() { String::new() } else { format!("; {why}") };
            format!("capacity: {rate:.0} req/s (bound: {name}, {cpu}, p99 {} <= SLO {}{note})", ms(p99), ms(slo))
        }
    }
}

/// One step's line.
fn step_line(s: &Step, cores: Option<f64>) -> String {
    let phase = match s.phase {
        Phase::Light => "light",
        Phase::Rise => "rise",
        Phase::Bisect => "bisect",
        Phase::Confirm => "confirm",
    };
    let r = &s.result;
    let offered = s.offered_rps * r.mode.duration_s;
    let answered = 100.0 * r.requests.saturating_sub(r.errors.non_2xx()) as f64 / offered.max(1.0);
    let server = match (r.server, cores) {
        (Some(srv), Some(c)) => {
            format!("  server CPU {}", with_busy(srv.cpu_percent / c, s.server_cpus_busy_percent))
        }
        (Some(srv), None) => format!("  server CPU {:.0}% of a core", srv.cpu_percent),
        _ => String::new(),
    };
    let c = &s.client;
    let upstream = c.upstream_cpu_percent.map_or(String::new(), |u| format!("  upstream {u:.0}%"));
    let upstream = match c.cpus_busy_percent {
        Some(busy) => format!("{upstream} (client CPUs {busy:.0}% busy)"),
        None => upstream,
    };
    let outcome = match (&s.failure, s.client_bound) {
        (None, false) => "pass".to_owned(),
        (None, true) => "pass (client-bound)".to_owned(),
        (Some(f), cb) => format!("FAIL{}: {f}", if cb { " (client-bound)" } else { "" }),
    };
    let settled = if s.settle_s > 0.0 { format!("  settled {:.1} s", s.settle_s) } else { String::new() };
    format!(
        "  {phase:<6} {:>9.0} req/s  c={:<6} answered {answered:>5.1}%  p50 {:>9}  p99 {:>9}  errors {}{server}  loadgen {}{upstream}{settled}  {outcome}",
        s.offered_rps,
        s.connections,
        ms(Duration::from_micros(r.latency_summary.p50_us)),
        ms(Duration::from_micros(r.latency_summary.p99_us)),
        r.errors.socket() + r.errors.non_2xx(),
        with_busy(c.loadgen_cpu_percent, None),
    )
}

/// "31%", or "31% (its CPUs 95% busy)" when the CPUs it runs on were sampled.
fn with_busy(cpu_percent: f64, busy_percent: Option<f64>) -> String {
    match busy_percent {
        Some(b) => format!("{cpu_percent:.0}% (its CPUs {b:.0}% busy)"),
        None => format!("{cpu_percent:.0}%"),
    }
}

/// "182.3 ms".
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_rate_times_latency_with_headroom_and_a_floor() {
        assert_eq!(connections_for(1000.0, Duration::from_millis(200)), 400);
        assert_eq!(connections_for(10.0, Duration::from_millis(1)), MIN_CONNECTIONS);
        assert_eq!(connections_for(333.0, Duration::from_millis(100)), 67);
    }

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

    fn grid(precision: f64, factor: f64) -> Grid {
        let cli = <crate::cli::Cli as clap::Parser>::parse_from([
            "loadgen",
            "capacity",
            "--precision",
            &precision.to_string(),
            "--factor",
            &factor.to_string(),
            "http://127.0.0.1:1/",
        ]);
        let Some(crate::cli::Command::Capacity(opts)) = cli.command else { panic!("not capacity") };
        Grid::new(&opts)
    }

    #[test]
    fn rates_are_on_a_grid_from_the_start_rate_with_a_whole_number_of_steps_per_factor() {
        let g = grid(0.05, 2.0);
        assert_eq!(g.factor_steps, 14, "1.05^14 = 1.98 is the nearest to 2");
        assert!((g.rate(0) - 100.0).abs() < 1e-9);
        assert!((g.rate(14) - 200.0).abs() < 1e-9, "14 steps of 2^(1/14) make the factor exactly");
        assert!((g.rate(1) / 100.0 - 1.0507).abs() < 1e-4, "{}", g.rate(1));
        for k in [-3, 0, 1, 29, 140] {
            assert_eq!(g.index(g.rate(k)), k);
            assert_eq!(g.at_or_below(g.rate(k)), k, "a grid rate is its own floor");
            assert_eq!(g.at_or_below(g.rate(k) * 1.04), k);
        }
        assert_eq!(grid(0.05, 1.01).factor_steps, 1, "at least one grid step per rise");
        let default = grid(0.0905, 2.0);
        assert_eq!(default.factor_steps, 8, "the default grid: 8 steps per doubling");
        assert!((default.rate(16) - 400.0).abs() < 1e-9, "{}", default.rate(16));
    }

    #[test]
    fn the_bracket_takes_each_rate_by_its_latest_run() {
        let g = grid(0.05, 2.0);
        let r = |k: i64| g.rate(k);
        // Light, rises, bisection: 28 failed, 21 passed, 24 failed, 22 passed, 23 failed.
        let mut v = vec![(r(0), true), (r(14), true), (r(28), false), (r(21), true), (r(24), false)];
        v.extend([(r(22), true), (r(23), false)]);
        assert_eq!(bracket(&v), (Some(5), Some(6)));
        // 22 fails when confirmed: the bracket moves down to 21..22.
        v.push((r(22), false));
        assert_eq!(bracket(&v), (Some(3), Some(7)));
        // 22 passes a third time and 23 passes when confirmed: 24 is the lowest failing.
        v.extend([(r(22), true), (r(23), true)]);
        assert_eq!(bracket(&v), (Some(9), Some(4)));
        // Nothing failed yet: no hi, lo the highest rate.
        assert_eq!(bracket(&v[..2]), (Some(1), None));
        // The lowest rate failed when run again: no lo.
        assert_eq!(bracket(&[(r(0), true), (r(14), false), (r(0), false)]), (None, Some(2)));
    }

    /// A step starts once the server is quiet: at once for an idle process, not before the
    /// limit for one that keeps a core busy.
    #[test]
    fn the_next_step_waits_for_a_busy_server_and_not_for_an_idle_one() {
        let mut idle = std::process::Command::new("sleep").arg("5").spawn().expect("sleep");
        let mut busy = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("sh");
        let quiet = Duration::from_millis(150);
        let waited_idle = settle(idle.id(), quiet, Duration::from_secs(3));
        let waited_busy = settle(busy.id(), quiet, Duration::from_millis(800));
        for child in [&mut idle, &mut busy] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(waited_idle < Duration::from_secs(1), "waited {waited_idle:?} for an idle process");
        assert!(waited_busy >= Duration::from_millis(800), "waited only {waited_busy:?} for a busy one");
    }

    #[test]
    fn bound_names_are_the_json_names() {
        for b in [
            Bound::Cpu,
            Bound::Pool,
            Bound::Concurrency,
            Bound::FdBudget,
            Bound::Client,
            Bound::FirstStep,
            Bound::MaxRate,
        ] {
            assert_eq!(serde_json::to_string(&b).unwrap_or_default(), format!("\"{}\"", bound_name(b)));
        }
    }
}
