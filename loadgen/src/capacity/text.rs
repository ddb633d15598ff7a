//! The search's lines on stdout: one per step, and the verdict.

use std::time::Duration;

use super::{Bound, Capacity, Phase, Step};

/// The bound's name, as the verdict line and the JSON write it.
pub fn bound_name(bound: Bound) -> &'static str {
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
pub(super) fn step_line(s: &Step, cores: Option<f64>) -> String {
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
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

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
