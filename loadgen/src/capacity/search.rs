//! The search itself: the light step, the rise, the bisection and the confirming steps,
//! each step an open-loop run sized from its rate and the SLO.

use std::time::Duration;

use super::grid::{Grid, bracket};
use super::sampling::{sample_window, settle};
use super::text::{ms, step_line, verdict};
use super::verdict::{decide_bound, failure, rss_kib_per_in_flight};
use super::{
    Bound, CONNECTION_HEADROOM, Capacity, MAX_CONFIRMS, MIN_CONNECTIONS, MIN_DERIVED_SLO, POOL_JUMP_SHARE, Phase,
    QUIET_WINDOW, SLO_TIMES_LIGHT_P50, Step,
};
use crate::LoadgenError;
use crate::cli::{CapacityOpts, RunOpts};
use crate::figures;
use crate::procstat;

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
    // What every step's run would refuse (a TLS flag with an http:// URL, a --cacert file,
    // a --server-pid that is no process), refused once here rather than at the first step.
    crate::plan(&step_opts(opts, opts.start_rate, 1))?;
    Ok(())
}

/// The run of one step: `rate` on `connections`, made as the options say.
fn step_opts(o: &CapacityOpts, rate: f64, connections: usize) -> RunOpts {
    RunOpts {
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
        tls: o.tls.clone(),
        url: Some(o.url.clone()),
    }
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
        let plan = crate::plan(&step_opts(o, rate, connections))?;
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
        // The server's CPU seconds per request at the light step.
        let per_request = figures::cpu_per_1k(&light.result).map(|k| k / 1000.0).filter(|c| *c > 0.0);
        let by_cpu = self.server_cores.zip(per_request).map(|(cores, cpu)| {
            (cores / cpu, format!("{cores} core(s) / {:.0} us of server CPU per request", 1e6 * cpu))
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_rate_times_latency_with_headroom_and_a_floor() {
        assert_eq!(connections_for(1000.0, Duration::from_millis(200)), 400);
        assert_eq!(connections_for(10.0, Duration::from_millis(1)), MIN_CONNECTIONS);
        assert_eq!(connections_for(333.0, Duration::from_millis(100)), 67);
    }
}
